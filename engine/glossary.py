"""Cross-language query expansion from the glossary in the knowledge base.

The default embedding model and the knowledge base are English. A question in Dutch, French, German, Spanish or
Italian is expanded with the English terms of the glossary entries it mentions, so both retrievers find the
right sources. The glossary is read from the indexed glossary chunks (its six-column table), so consultants
extend it by editing `knowledge/glossary.md` and re-ingesting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine.text import LANGUAGES, fold, words

_ROW = re.compile(r"^\s*\|(.+)\|\s*$")


def parse_rows(texts: Iterable[str]) -> list[dict[str, list[str]]]:
    """Glossary rows (English | Dutch | French | German | Spanish | Italian), each cell split on ` / `."""
    entries: dict[str, dict[str, list[str]]] = {}
    for text in texts:
        for line in text.splitlines():
            match = _ROW.match(line)
            if not match:
                continue
            cells = [c.strip() for c in match.group(1).split("|")]
            if len(cells) != len(LANGUAGES) or cells[0].lower() in {"english", ""} or set(cells[0]) <= set("-: "):
                continue
            entries[cells[0].lower()] = {
                lang: [v.strip() for v in cell.split("/") if v.strip()] for lang, cell in zip(LANGUAGES, cells)
            }
    return list(entries.values())


class Glossary:
    def __init__(self, rows: list[dict[str, list[str]]]):
        self.rows = rows
        # Per language: folded term word tuple -> English terms; longest terms are matched first.
        self._terms: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for lang in LANGUAGES:
            pairs = []
            for row in rows:
                english = row["en"][0] if row.get("en") else None
                if not english:
                    continue
                for term in row.get(lang, []):
                    key = tuple(fold(w) for w in words(term))
                    if key:
                        pairs.append((key, english))
            pairs.sort(key=lambda p: -len(p[0]))
            self._terms[lang] = pairs

    def __len__(self) -> int:
        return len(self.rows)

    def english_terms(self, question: str, lang: str) -> list[str]:
        """English equivalents of the glossary terms found in the question (any of the six languages is tried,
        the question's own first, since officials mix English terms into their own language)."""
        q = [fold(w) for w in words(question)]
        found: list[str] = []
        for code in (lang, *[c for c in LANGUAGES if c not in (lang, "en")]):
            for key, english in self._terms.get(code, []):
                if _contains(q, key) and english not in found:
                    found.append(english)
            if found and code == lang:
                break
        return found


def _contains(seq: list[str], key: tuple[str, ...]) -> bool:
    n = len(key)
    # Allow inflections on the last word (e.g. `bandes de jeunes` vs `bande de jeunes`) by a shared prefix.
    for i in range(len(seq) - n + 1):
        window = seq[i : i + n]
        if window[:-1] == list(key[:-1]) and _same_word(window[-1], key[-1]):
            return True
    return False


def _same_word(a: str, b: str) -> bool:
    if a == b:
        return True
    stem = min(len(a), len(b))
    return stem >= 5 and a[: stem - 1] == b[: stem - 1] and abs(len(a) - len(b)) <= 2
