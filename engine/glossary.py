"""Cross-language query expansion from the glossary in the knowledge base.

The default embedding model and the knowledge base are English. A question in Dutch, French, German, Spanish or
Italian is expanded with the English terms of the glossary entries it mentions, so both retrievers find the
right sources. The glossary is read from the indexed glossary chunks (its six-column table), so consultants
extend it by editing `knowledge/glossary.md` and re-ingesting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine.text import LANGUAGES, STOPWORDS, fold, words

_ROW = re.compile(r"^\s*\|(.+)\|\s*$")
# Words that show a question is about terminology itself ("how do you say common agenda in Dutch?"); only then is
# the glossary's translation table an answer rather than a tool for expanding the query.
_ABOUT_TERMS = re.compile(
    r"\b(translat\w*|glossar\w*|woordenlijst|vertal\w*|tradu\w*|ubersetz\w*|terminolog\w*|equivalen\w*|"
    r"dutch|french|german|spanish|italian|nederlands|frans|duits|spaans|italiaans|neerlandais|francais|allemand|"
    r"espagnol|italien|niederlandisch|franzosisch|spanisch|italienisch|neerlandes|frances|aleman|olandese|"
    r"francese|tedesco|spagnolo|lingue|langues|talen|sprachen|idiomas)\b")
MIN_TABLE_ROWS = 3
MAX_GAP = 1
MIN_COMPOUND_PART = 5


def asks_about_terms(question: str) -> bool:
    return _ABOUT_TERMS.search(fold(question)) is not None


def is_translation_table(text: str) -> bool:
    return len(parse_rows([text])) >= MIN_TABLE_ROWS


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
                    key = _content_words(term, lang)
                    if key:
                        pairs.append((key, english))
            pairs.sort(key=lambda p: -len(p[0]))
            self._terms[lang] = pairs

    def __len__(self) -> int:
        return len(self.rows)

    def english_terms(self, question: str, lang: str) -> list[str]:
        """English equivalents of the glossary terms found in the question (any of the six languages is tried,
        the question's own first, since officials mix English terms into their own language)."""
        found: list[str] = []
        for code in (lang, *[c for c in LANGUAGES if c not in (lang, "en")]):
            q = _content_words(question, code)
            for key, english in self._terms.get(code, []):
                if (_contains(q, key) or code == "de" and _in_compound(q, key)) and english not in found:
                    found.append(english)
            if found and code == lang:
                break
        return found


def _content_words(text: str, lang: str) -> tuple[str, ...]:
    """Folded words without the language's function words (`les progrès` and `progrès` are the same term)."""
    all_words = [fold(w) for w in words(text)]
    stop = {fold(w) for w in STOPWORDS.get(lang, frozenset())}
    content = tuple(w for w in all_words if w not in stop)
    return content or tuple(all_words)


def _contains(seq: tuple[str, ...], key: tuple[str, ...]) -> bool:
    """The key's words in order, each allowing an inflection (`bandes de jeunes` for `bande de jeunes`), with at
    most MAX_GAP other words between them (`mesurer concrètement les progrès`)."""
    for start, word in enumerate(seq):
        if not _same_word(word, key[0]):
            continue
        position, matched = start, 1
        while matched < len(key):
            window = seq[position + 1 : position + 2 + MAX_GAP]
            step = next((i for i, w in enumerate(window) if _same_word(w, key[matched])), None)
            if step is None:
                break
            position, matched = position + 1 + step, matched + 1
        if matched == len(key):
            return True
    return False


def _in_compound(seq: tuple[str, ...], key: tuple[str, ...]) -> bool:
    """German joins nouns (`Bandenstrategie`): a one-word term at the end or start of a longer word counts."""
    if len(key) != 1 or len(key[0]) < MIN_COMPOUND_PART:
        return False
    part = key[0]
    return any(len(w) > len(part) + 2 and (w.endswith(part) or w.startswith(part)) for w in seq)


def _same_word(a: str, b: str) -> bool:
    if a == b:
        return True
    stem = min(len(a), len(b))
    return stem >= 5 and a[: stem - 1] == b[: stem - 1] and abs(len(a) - len(b)) <= 2
