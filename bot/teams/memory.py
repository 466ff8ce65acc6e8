"""Recent exchanges per Teams conversation, in memory and bounded.

Follow-up questions use the latest turns of their conversation (a personal chat, or one channel thread: Teams
gives each thread its own conversation id), and card actions find the answer they belong to so the card can be
redrawn. Both bounds matter in a long-running process: turns per conversation and conversations kept (the least
recently used is dropped first). Nothing here survives a restart, by design: no question text is written to disk.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from engine.models import Answer, Turn

# Enough for a person to rate or escalate any answer still on their screen.
EXCHANGES_KEPT = 10


@dataclass
class Exchange:
    answer: Answer
    done: set[str] = field(default_factory=set)  # card actions already used


class ConversationMemory:
    def __init__(self, history_turns: int, max_conversations: int):
        self.history_turns = history_turns
        self.max_conversations = max_conversations
        self._conversations: OrderedDict[str, deque[Exchange]] = OrderedDict()

    def history(self, conversation_id: str) -> list[Turn]:
        """The latest turns, oldest first, as the engine takes them."""
        exchanges = list(self._conversations.get(conversation_id, ()))
        recent = exchanges[-self.history_turns:] if self.history_turns else []
        return [Turn(question=e.answer.question, answer=e.answer.answer) for e in recent]

    def remember(self, conversation_id: str, exchange: Exchange) -> None:
        exchanges = self._conversations.pop(conversation_id, None) or deque(maxlen=max(EXCHANGES_KEPT,
                                                                                          self.history_turns))
        exchanges.append(exchange)
        self._conversations[conversation_id] = exchanges
        while len(self._conversations) > self.max_conversations:
            self._conversations.popitem(last=False)

    def find(self, conversation_id: str, answer_id: str | None) -> Exchange | None:
        return next((e for e in self._conversations.get(conversation_id, ()) if e.answer.id == answer_id), None)

    def __len__(self) -> int:
        return len(self._conversations)
