"""Per-channel settings from a YAML file (`ADVISOR_SLACK_CHANNELS_FILE`), so a workspace admin decides where the
advisor speaks and how, without a restart:

```yaml
default:            # every channel and direct message not listed below
  enabled: true
  mode: mention     # mention: answer when @mentioned; every_question: also answer messages that ask something
  follow_ups: true  # in a thread the advisor answered, answer later questions without a new mention
  language: null    # language of the advisor's own words when a question does not tell (en, nl, fr, de, es, it)
  filters: {}       # engine filters: doc_type, topics, country, city_size
  consultants_channel: null   # where "Ask a consultant" posts; default ADVISOR_SLACK_CONSULTANTS_CHANNEL
channels:
  C0123456789: {mode: every_question, language: nl, filters: {doc_type: case_study}}
  C0987654321: {enabled: false}
```

A listed channel's entry overrides the default field by field. The file is read again when it changes; a broken
edit is logged and the last good version stays in force.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.models import Filters

log = logging.getLogger(__name__)


class ChannelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    mode: Literal["mention", "every_question"] = "mention"
    follow_ups: bool = True
    language: str | None = None
    filters: Filters = Field(default_factory=Filters)
    consultants_channel: str | None = None


class ChannelsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: dict = Field(default_factory=dict)
    channels: dict[str, dict] = Field(default_factory=dict)

    def for_channel(self, channel: str) -> ChannelSettings:
        return ChannelSettings(**{**self.default, **self.channels.get(channel, {})})

    def validate_entries(self) -> None:
        """Raise on a bad entry now rather than when someone asks in that channel."""
        for channel in ["", *self.channels]:
            self.for_channel(channel)


def parse_channels_file(text: str) -> ChannelsFile:
    data = yaml.safe_load(text) or {}
    parsed = ChannelsFile.model_validate(data)
    parsed.validate_entries()
    return parsed


class ChannelDirectory:
    """The channel settings in force, re-read when the file's modification time changes."""

    def __init__(self, path: Path, consultants_channel: str | None = None):
        self.path = path
        self.consultants_channel = consultants_channel
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._file = ChannelsFile()
        self._refresh(strict=True)

    def settings(self, channel: str) -> ChannelSettings:
        self._refresh(strict=False)
        found = self._file.for_channel(channel)
        if found.consultants_channel is None and self.consultants_channel:
            return found.model_copy(update={"consultants_channel": self.consultants_channel})
        return found

    def _refresh(self, strict: bool) -> None:
        try:
            stamp = self.path.stat().st_mtime
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            try:
                self._file = parse_channels_file(self.path.read_text(encoding="utf-8")) if stamp else ChannelsFile()
            except (OSError, yaml.YAMLError, ValidationError) as exc:
                if strict:  # at start-up a broken file must stop the app, not silently change its behaviour
                    raise ValueError(f"{self.path}: {exc}") from exc
                log.error("Ignoring the edited channel settings in %s (keeping the previous ones): %s", self.path, exc)
            self._stamp = stamp
