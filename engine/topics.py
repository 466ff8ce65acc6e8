"""What a question is about, in the knowledge base's own words: the question's words that the knowledge base
uses in its section headings (its topics, in every language it is translated into), never a name or a number.
The consultants' report shows these for questions the advisor served badly, so they see what a knowledge gap is
about without the official's words: nothing in them identifies a person, a place or a case. Pure functions;
string in, words out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Container, Iterable

from engine.text import names, tokens, words

# Headings rather than all of the text: read on the development set's questions, words used anywhere in three or
# more sections still let through "actually", "something", "keep", "whole" (a question about a rental deposit);
# heading words are the topics the knowledge base is organised by.
MAX_WORDS = 6
# Heading words that say nothing of a topic on their own ("What critics say", "Keep a backbone alive", "Start
# small"): read off the headings of the shipped knowledge base and its translations.
GENERIC = frozenset("""make makes made say says said get gets keep kept sort sorts thing things two three four five
    six seven each number small big start starts started seen see take took put main new old first last next other
    many much more most well good way ways what who how why when where which
    alle nieuw nieuwe goed goede twee drie maken zeggen zie eerste
    bonne bon nouveau nouvelle deux trois faire dire premier première
    neue neuer neues gut gute zwei drei machen sagen erste""".split())
# A word the knowledge base writes with a capital inside a sentence at least this often is a name ("Ottawa",
# "Realdania"); "impact" in "Collective Impact Forum" is not, since the text mostly writes it in lower case.
NAME_SHARE = 0.8
_DIGIT = re.compile(r"\d")


def names_in(texts: Iterable[str], language: str = "en") -> set[str]:
    """The tokens the texts use as names: capitalised inside a sentence at least NAME_SHARE of the time."""
    capitalised: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for text in texts:
        seen.update(words(text))
        capitalised.update(w for name in names(text) for w in words(name))
    return {token for word, n in capitalised.items() if n >= NAME_SHARE * seen[word]
            for token in tokens(word, language)}


def topic_words(question: str, language: str, topics: Container[str], known_names: set[str]) -> list[str]:
    """The question's words (lower case, in its order, at most MAX_WORDS) whose token is one of `topics` (the
    headings' tokens), leaving out numbers, the knowledge base's names and, except in German (which capitalises
    every noun), the words the question capitalises inside a sentence."""
    own_names = set() if language == "de" else {t for name in names(question) for t in tokens(name, language)}
    found: list[str] = []
    for word in words(question):
        if _DIGIT.search(word) or word in GENERIC:
            continue
        token = tokens(word, language)
        if not token or token[0] in own_names or token[0] in known_names:
            continue
        if token[0] in topics and word not in found:
            found.append(word)
    return found[:MAX_WORDS]
