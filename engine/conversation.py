"""Follow-up questions: whether a question marks itself as continuing the earlier turns."""

from __future__ import annotations

import re

from engine.text import tokens, words

# Openers and back-references that mark a question as continuing the conversation, in the six languages.
_OPENERS = re.compile(
    r"^\s*(and|but|also|what about|how about|what if|same|then|en|maar|ook|en wat|et|mais|aussi|et pour|"
    r"und|aber|auch|und wie|y|pero|también|¿y|e|ma|anche|e per)\b",
    re.IGNORECASE,
)
# Possessives ("its", "their", "hun") are left out: "How did Memphis organise its crime commission?" names its own
# subject. A question that leans on the conversation without a marker is still understood: see Advisor.understand.
_BACK_REFERENCES = frozenset(
    "it they them this that these those there he she such "
    "het dit dat die daar zij ze ça cela celui ceux es dies diese dieser dort "
    "eso esto ese esa ellos esso questo quello quella".split()
)


def is_follow_up(question: str) -> bool:
    """Whether the question marks itself as continuing the conversation: an opener ("and", "what about") or, in a
    short question, a word that points back ("it", "they", "that body"). A short question with a topic of its own
    ("What is the backbone?") is not marked; the engine decides by what it finds."""
    if _OPENERS.match(question):
        return True
    ws = words(question)
    return len(ws) <= 10 and (any(w in _BACK_REFERENCES for w in ws) or not tokens(question))
