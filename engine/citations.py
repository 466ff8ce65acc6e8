"""Citations: `[n]` markers placed before a sentence's closing punctuation, and the numbered citations behind them."""

from __future__ import annotations

import re

from engine.models import Citation, Passage
from engine.text import tokens

MARKER = re.compile(r"\s*\[(\d{1,2})\]")


def attach(sentence: str, numbers: list[int]) -> str:
    """`The backbone coordinates.` + [1, 2] -> `The backbone coordinates [1][2].`"""
    body = MARKER.sub("", sentence).rstrip()
    end = body[-1] if body and body[-1] in ".!?" else "."
    body = body[:-1].rstrip() if body and body[-1] in ".!?" else body
    return f"{body} {''.join(f'[{n}]' for n in numbers)}{end}"


def numbers_in(sentence: str) -> list[int]:
    return [int(n) for n in MARKER.findall(sentence)]


def supported(sentence: str, cited_texts: list[str], minimum: float = 0.3) -> bool:
    """Whether the cited passages contain enough of the sentence's content words to back it."""
    words = set(tokens(MARKER.sub("", sentence)))
    if not words:
        return False
    present = set().union(*(set(tokens(t)) for t in cited_texts)) if cited_texts else set()
    return len(words & present) / len(words) >= minimum


def closest_line(sentence: str, passage: Passage) -> int:
    """The line of a passage that shares most content words with a sentence written from it (a language model's
    rewording), whose sources the sentence then carries."""
    words = set(tokens(MARKER.sub("", sentence)))
    lines = passage.text.split("\n")
    return max(range(len(lines)), key=lambda i: (len(words & set(tokens(lines[i]))), -i))


class Numbering:
    """Citation numbers in order of first use, so `[1]` is the first source the answer leans on."""

    def __init__(self, passages: list[Passage], scores: list[float]):
        self.passages = passages
        self.scores = scores
        self.citations: list[Citation] = []
        self._numbers: dict[int, int] = {}

    def of(self, passage_index: int, position: int | None = None) -> int:
        """The number of a passage, recording the sources of its sentence at `position` on the citation."""
        p = self.passages[passage_index]
        if passage_index not in self._numbers:
            self._numbers[passage_index] = len(self.citations) + 1
            self.citations.append(Citation(n=len(self.citations) + 1, source=p.source, title=p.title,
                                           section=p.section, page=p.page, url=None if p.claims else p.url,
                                           score=self.scores[passage_index]))
        citation = self.citations[self._numbers[passage_index] - 1]
        claim = p.claim(position) if position is not None else None
        if claim is not None:
            citation.sources += [s for s in claim.sources if s not in citation.sources]
            citation.reading = citation.reading or claim.reading
            # A section attributed sentence by sentence links to what its quoted sentences cite, and only that.
            citation.url = next((s.url for s in citation.sources if s.url), None)
        return citation.n
