"""Citation markers in answer text: `[n]` placed before a sentence's closing punctuation."""

from __future__ import annotations

import re

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
    from engine.text import tokens

    words = set(tokens(MARKER.sub("", sentence)))
    if not words:
        return False
    present = set().union(*(set(tokens(t)) for t in cited_texts)) if cited_texts else set()
    return len(words & present) / len(words) >= minimum
