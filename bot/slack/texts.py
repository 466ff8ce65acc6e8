"""The Slack app's words (prompts/front_door.yaml, shared with Teams, and bot/slack/labels.yaml) in the language of the question or of the channel."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from engine.messages import labels
from engine.language import detect_language

_LABELS = Path(__file__).with_name("labels.yaml")


@lru_cache(maxsize=1)
def _table() -> dict[str, dict]:
    return yaml.safe_load(_LABELS.read_text(encoding="utf-8"))


def texts(language: str) -> dict:
    """The word set for a language (the words shared with Teams plus Slack's own), English for a language we do
    not serve."""
    table = _table()
    return {**labels(language, "front_door.yaml"), **table["en"], **table.get(language, {})}


def language_of(question: str, hint: str | None) -> str:
    """The question's language; the channel's language when the question does not tell (short or empty)."""
    return detect_language(question, default=hint or "en")


def help_words() -> set[str]:
    """The words that ask for the help, one per language served (`/advisor help`, `/advisor hilfe`, …)."""
    return {words["help_word"] for words in _table().values()}
