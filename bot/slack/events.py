"""Which Slack events the advisor answers, and the question in them: pure functions over event payloads.

Never answered: the advisor's own messages, other bots' (unless `ADVISOR_SLACK_IGNORE_BOTS=false`), edits,
deletions, joins and other system messages, and a channel message that @mentions the advisor (Slack also sends it
as `app_mention`, which is the one answered). Every message has one key, `message_key`; claiming it in the state
store before answering means a retried event, or the same message arriving as two events, is answered once,
whichever replica gets it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot.slack.channels import ChannelSettings

Kind = Literal["mention", "direct", "thread", "channel"]

# Message subtypes that are still a person writing: a file with a comment, a thread reply also sent to the channel.
_PERSON_SUBTYPES = {None, "file_share", "thread_broadcast"}
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL_MENTION = re.compile(r"<#[CG][A-Z0-9]+(?:\|([^>]*))?>")
_SPECIAL_MENTION = re.compile(r"<!(?:here|channel|everyone|subteam\^[A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


@dataclass(frozen=True)
class Incoming:
    """A person's message the advisor may answer."""

    kind: Kind
    team: str
    channel: str
    user: str
    ts: str
    thread_ts: str  # the thread the answer goes in: the message's thread, or the message itself
    question: str

    @property
    def in_thread(self) -> bool:
        return self.thread_ts != self.ts

    @property
    def key(self) -> str:
        return message_key(self.team, self.channel, self.ts)

    @property
    def conversation(self) -> str:
        return f"{self.team}:{self.channel}:{self.thread_ts}"


def message_key(team: str, channel: str, ts: str) -> str:
    """One key per Slack message: retries share it (same event), and so do the `app_mention` and `message`
    events of one message (different event ids)."""
    return f"slack:message:{team}:{channel}:{ts}"


def question_text(raw: str, max_chars: int) -> str:
    """The question in a message: Slack's markup resolved to plain words, the advisor's mention and people's ids
    removed (they mean nothing to the engine and are personal), cut to `max_chars`."""
    text = _USER_MENTION.sub("", raw)
    text = _CHANNEL_MENTION.sub(lambda m: f"#{m[1]}" if m[1] else "", text)
    text = _SPECIAL_MENTION.sub("", text)
    text = _LINK.sub(lambda m: m[2] or m[1], text)
    return " ".join(html.unescape(text).split())[:max_chars]


def looks_like_question(text: str) -> bool:
    return "?" in text


def incoming(event: dict, *, team: str, bot_user_id: str | None, bot_id: str | None, ignore_bots: bool,
             max_chars: int) -> Incoming | None:
    """The question in an `app_mention` or `message` event, or None when the advisor never answers it."""
    kind = _kind(event, bot_user_id, bot_id, ignore_bots)
    if kind is None:
        return None
    question = question_text(event.get("text") or "", max_chars)
    if not question or not event.get("channel") or not event.get("ts"):
        return None
    return Incoming(kind=kind, team=team, channel=event["channel"], user=_author(event), ts=event["ts"],
                    thread_ts=event.get("thread_ts") or event["ts"], question=question)


def _kind(event: dict, bot_user_id: str | None, bot_id: str | None, ignore_bots: bool) -> Kind | None:
    subtypes = _PERSON_SUBTYPES if ignore_bots else _PERSON_SUBTYPES | {"bot_message"}
    if event.get("subtype") not in subtypes or "edited" in event:
        return None
    own = (bot_user_id and event.get("user") == bot_user_id) or (bot_id and event.get("bot_id") == bot_id)
    if own or (ignore_bots and event.get("bot_id")) or not _author(event):
        return None
    if event.get("type") == "app_mention":
        return "mention"
    if event.get("channel_type") == "im":
        return "direct"
    if bot_user_id and f"<@{bot_user_id}" in (event.get("text") or ""):
        return None  # answered as the app_mention event of the same message
    return "thread" if event.get("thread_ts") not in (None, event.get("ts")) else "channel"


def _author(event: dict) -> str:
    """The person (or, when other bots are answered, the bot) who wrote the message."""
    return event.get("user") or event.get("bot_id") or ""


def wanted(item: Incoming, settings: ChannelSettings, advisor_in_thread: Callable[[], bool]) -> bool:
    """Whether the channel's settings ask for an answer. `advisor_in_thread` is consulted (a database look-up)
    only for a thread reply without a mention."""
    if not settings.enabled:
        return False
    if item.kind in ("mention", "direct"):
        return True
    if settings.mode == "every_question" and looks_like_question(item.question):
        return True
    return item.kind == "thread" and settings.follow_ups and advisor_in_thread()
