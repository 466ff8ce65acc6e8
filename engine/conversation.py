"""Follow-up questions: deciding when a question leans on the earlier turns, and what to search with then."""

from __future__ import annotations

import re

from engine.models import Turn
from engine.text import tokens, words

# Openers and back-references that mark a question as continuing the conversation, in the six languages.
_OPENERS = re.compile(
    r"^\s*(and|but|also|what about|how about|what if|same|then|en|maar|ook|en wat|et|mais|aussi|et pour|"
    r"und|aber|auch|und wie|y|pero|también|¿y|e|ma|anche|e per)\b",
    re.IGNORECASE,
)
_BACK_REFERENCES = frozenset(
    "it its they them their this that these those there he she his her such "
    "het dit dat die daar zij hun ze ça cela celui ceux leur leurs es dies diese dieser dort ihr ihre "
    "eso esto ese esa ellos su sus esso questo quello quella loro".split()
)


def is_follow_up(question: str) -> bool:
    if _OPENERS.match(question):
        return True
    ws = words(question)
    return len(ws) <= 10 and (any(w in _BACK_REFERENCES for w in ws) or len(tokens(question)) <= 2)


def search_text(question: str, history: list[Turn]) -> str:
    """The question, preceded by the latest earlier question when this one continues it."""
    if history and is_follow_up(question):
        return f"{history[-1].question} {question}"
    return question
