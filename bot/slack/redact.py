"""A logging filter that keeps Slack tokens and user ids out of every log line, including library logs and
tracebacks (the app's own lines use pseudonyms already; this is the safety net)."""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+")
_USER = re.compile(r"\b[UW][A-Z0-9]{8,}\b")


def redact(text: str) -> str:
    return _USER.sub("[user]", _TOKEN.sub("[token]", text))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def configure_logging(level: str) -> None:
    """Log lines with time and logger, redacted; Slack's libraries at INFO at most, because at DEBUG they log
    whole request bodies (people's messages and ids)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    for name in ("slack_bolt", "slack_sdk"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))
