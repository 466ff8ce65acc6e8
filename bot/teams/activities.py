"""Reading incoming Teams activities: whether the agent should answer, the question text, who is asking.

Pure functions over the SDK's `Activity` model, kept apart from the agent so the rules read in one place.
"""

from __future__ import annotations

import html
import re

from microsoft_agents.activity import Activity, ActivityTypes

PERSONAL = "personal"
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)


def base_conversation_id(conversation_id: str) -> str:
    """A conversation without its thread part: Teams names a channel thread `19:…@thread.tacv2;messageid=…`."""
    return conversation_id.split(";", 1)[0]


def conversation_type(activity: Activity) -> str:
    """`personal`, `groupChat` or `channel`; Teams always sets it, other channels are treated as personal."""
    return (activity.conversation.conversation_type if activity.conversation else None) or PERSONAL


def mentions_recipient(activity: Activity) -> bool:
    recipient = activity.recipient.id if activity.recipient else None
    return bool(recipient) and any(m.mentioned and m.mentioned.id == recipient for m in activity.get_mentions())


def should_respond(activity: Activity) -> bool:
    """A message with text from a person: every one in a personal chat; in a channel or group chat only when it
    @mentions the agent, so the agent does not answer conversations between colleagues."""
    if activity.type != ActivityTypes.message or not (activity.text or "").strip():
        return False
    if activity.from_property is not None and activity.from_property.role == "bot":
        return False
    return conversation_type(activity) == PERSONAL or mentions_recipient(activity)


def question_text(activity: Activity, max_chars: int) -> str:
    """The question without the agent's mention and without people's mentions: names mean nothing to the engine
    (it would look for them in the knowledge base) and are personal, so they are neither searched nor stored
    (as in Slack).

    Cut to `max_chars` here too, so an oversized message costs nothing downstream.
    """
    text = _MENTION.sub(" ", activity.remove_recipient_mention())
    return " ".join(html.unescape(text).split())[:max_chars]


def user_id(activity: Activity) -> str:
    """The asker's stable id: the Entra object id when Teams gives it (same person across chats), else the channel
    account id."""
    sender = activity.from_property
    if sender is None:
        return ""
    return sender.aad_object_id or sender.id or ""


def agent_added(activity: Activity) -> bool:
    """A conversationUpdate saying the agent itself joined (installed in a personal chat, group chat or team)."""
    return _agent_among(activity, activity.members_added)


def agent_removed(activity: Activity) -> bool:
    return _agent_among(activity, activity.members_removed)


def _agent_among(activity: Activity, members) -> bool:
    recipient = activity.recipient.id if activity.recipient else None
    return (activity.type == ActivityTypes.conversation_update and bool(recipient)
            and any(m.id == recipient for m in members or []))


def locale_language(activity: Activity) -> str:
    """Two-letter language of the Teams client (`nl-NL` → `nl`), for messages that have no question to detect
    a language from, such as the welcome."""
    return (activity.locale or "en")[:2].lower()
