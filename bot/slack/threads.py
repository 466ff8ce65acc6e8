"""Earlier turns of a Slack thread, so a follow-up question is understood in its conversation.

The thread itself is the memory (read with `conversations.replies`): nothing about the conversation is kept by
the advisor. Its answers are recognised by the message metadata they are posted with, so apologies and other
notices in the thread are not mistaken for answers.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.models import Turn

ANSWER_EVENT = "advisor_answer"
MAX_TURNS = 5


def answer_metadata(answer_id: str) -> dict:
    """Metadata posted with every answer (Slack message metadata)."""
    return {"event_type": ANSWER_EVENT, "event_payload": {"answer_id": answer_id}}


def is_answer(message: dict) -> bool:
    return (message.get("metadata") or {}).get("event_type") == ANSWER_EVENT


def turns_from_replies(messages: list[dict], before_ts: str, clean: Callable[[str], str]) -> list[Turn]:
    """Question-and-answer pairs among a thread's messages older than `before_ts`: each advisor answer paired with
    the latest person's message before it. `clean` turns a message's text into the question (markup removed)."""
    turns: list[Turn] = []
    question: str | None = None
    for message in sorted(messages, key=lambda m: float(m.get("ts", 0))):
        if float(message.get("ts", 0)) >= float(before_ts):
            break
        if is_answer(message):
            if question:
                turns.append(Turn(question=question, answer=message.get("text") or ""))
            question = None
        elif not message.get("bot_id"):
            question = clean(message.get("text") or "") or question
    return turns[-MAX_TURNS:]
