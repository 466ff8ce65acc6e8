"""The attribution lint of `advisor check` (docs/knowledge-authoring.md, "Sources, sentence by sentence"): what a
Markdown knowledge file must get right for every claim an official reads to carry its own source.

Errors: a sentence or list item with no footnote reference; a footnote used but not defined, or defined but not
used; a definition with neither a link nor a page. Warnings: a section whose first sentence leans on text before
it; a note about the knowledge base inside the text officials are quoted; a section longer than answers can use;
a claim made in two files with different figures, where neither section says the sources disagree.
Lines of tables, headings, `Questions:`, `Sources:` and `Editor's note:` lines are not prose.
"""

from __future__ import annotations

import re

from ingest.footnotes import READING, definition, parse_source, references
from ingest.models import LoadedDocument
from ingest.problems import Problem
from ingest.sentence_rules import leans_on_previous, talks_about_knowledge_base
from ingest.sentences import split_sentences

# Answers quote up to about 160 words of a section (engine/compose_extractive.py); past twice that, most of a
# section never reaches an official and is better split. The longest shipped section had 248 words.
LONG_SECTION_WORDS = 320
_NOT_PROSE = re.compile(r"^\s*(?:#|\||\**(?:questions|sources?|editor['’]s note|translated from)\**\s*:|```|<!--)",
                        re.IGNORECASE)
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def _paragraphs(lines: list[str], first_line: int) -> list[tuple[int, str, bool]]:
    """(line, text, starts a section) of each paragraph and list item of the prose."""
    out: list[tuple[int, str, bool]] = []
    heading_seen = True
    joining = False
    for offset, line in enumerate(lines):
        if line.lstrip().startswith("#"):
            heading_seen, joining = True, False
            continue
        if not line.strip() or _NOT_PROSE.match(line) or definition(line):
            joining = False
            continue
        item = _LIST_MARK.match(line) is not None
        if joining and not item:
            number, text, starts = out[-1]
            out[-1] = (number, f"{text} {line.strip()}", starts)
        else:
            out.append((first_line + offset, _LIST_MARK.sub("", line).strip(), heading_seen))
            heading_seen = False
        joining = True
    return out


def lint_markdown(rel: str, lines: list[str], first_line: int = 1, language: str = "en",
                  known: frozenset[str] | None = None) -> list[Problem]:
    """Every attribution problem of a Markdown body (the lines after the front matter, the first numbered
    `first_line`). `known`: for a translation, the footnote keys its English file defines; a translation's
    sections are as long as the English ones (which the length rule checks), plus what the language adds."""
    problems: list[Problem] = []
    defined: dict[str, int] = {}
    for offset, line in enumerate(lines):
        if found := definition(line):
            key, text = found
            defined[key] = first_line + offset
            source = parse_source(text)
            if not source.url and not source.page:
                problems.append(Problem(path=rel, line=first_line + offset,
                                        message=f"footnote [^{key}] has neither a link nor a page",
                                        fix="give the source's web address, or its page (p. 12) for a printed one"))
    used: dict[str, int] = {}
    section_words = 0
    section_line = first_line
    for number, text, starts in _paragraphs(lines, first_line):
        if starts and known is None:
            problems += _long(rel, section_line, section_words)
            section_words, section_line = 0, number
        for index, sentence in enumerate(split_sentences(text, language)):
            plain, keys = references(sentence)
            section_words += len(plain.split())
            for key in keys:
                used.setdefault(key, number)
            if not keys:
                problems.append(Problem(path=rel, line=number, message=f"no source for “{_short(plain)}”",
                                        fix="end the sentence with a footnote reference to its source, e.g. [^key], "
                                            f"or [^{READING}] when it is the knowledge base's own reading"))
            if starts and index == 0 and leans_on_previous(plain):
                problems.append(Problem(path=rel, line=number, severity="warning",
                                        message=f"the section opens with “{_short(plain)}”, which leans on text "
                                                "before it", fix="name the subject, so the sentence stands alone"))
            if talks_about_knowledge_base(plain):
                problems.append(Problem(path=rel, line=number, severity="warning",
                                        message=f"“{_short(plain)}” is a note about the knowledge base",
                                        fix="move it to an `Editor's note:` line at the end of the section"))
    if known is None:
        problems += _long(rel, section_line, section_words)
    for key, number in used.items():
        if key not in defined and key not in (known or ()) and key != READING:
            problems.append(Problem(path=rel, line=number, message=f"footnote [^{key}] is used but not defined",
                                    fix=f"add a line `[^{key}]: Publisher, \"Title\", https://…, p. N` at the end"))
    for key, number in defined.items():
        if key not in used:
            problems.append(Problem(path=rel, line=number, message=f"footnote [^{key}] is defined but never used",
                                    fix="cite it after the sentences it supports, or delete the definition"))
    return sorted(problems, key=lambda p: p.line or 0)


def _long(rel: str, line: int, words: int) -> list[Problem]:
    if words <= LONG_SECTION_WORDS:
        return []
    return [Problem(path=rel, line=line, severity="warning",
                    message=f"the section has {words} words; answers use about the first 160",
                    fix=f"split it into sections of at most {LONG_SECTION_WORDS} words, one idea each")]


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# Two sentences make the same claim when most of their words (figures aside) are the same: at least this share
# with some figures in common and others not ("fell by 20.2% in Memphis and 23.5% in the county" against "…20.2%
# … 25.7% …"), or at least the higher share with one figure each, different. Both found nothing on the shipped
# knowledge base, where every known discrepancy is written as one.
SAME_CLAIM, SAME_SINGLE_CLAIM = 0.5, 0.7
_FIGURE = re.compile(r"\d[\d.,]*\d%?|\d%?")
_YEAR = re.compile(r"^(1[89]|20)\d\d$")
_DISAGREE = re.compile(r"\b(disagree\w*|differ\w*|discrepanc\w*|contradict\w*|two figures|other figure)\b", re.I)


def _figures(sentence: str) -> set[str]:
    found = {f.rstrip("%").replace(",", "") for f in _FIGURE.findall(sentence)}
    return {f for f in found if len(f) > 1 and not _YEAR.match(f)}


def conflicting_figures(docs: list[LoadedDocument]) -> list[Problem]:
    """Claims made with different figures in two files, where neither section notes that the sources disagree."""
    claims = []  # (document, block, sentence, figures, words)
    for doc in docs:
        if doc.translates is not None:
            continue
        for block in doc.blocks:
            for sentence in split_sentences(block.text, doc.meta.language):
                text, _ = references(sentence)
                figures = _figures(text)
                if figures:
                    words = {w.lower() for w in re.findall(r"[^\W\d_]{4,}", text)}
                    claims.append((doc, block, text, figures, words))
    problems = []
    for i, (doc, block, text, figures, words) in enumerate(claims):
        for other_doc, other_block, other_text, other_figures, other_words in claims[i + 1:]:
            if other_doc.path == doc.path or figures == other_figures or not words or not other_words:
                continue
            alike = len(words & other_words) / len(words | other_words)
            partly = figures & other_figures and not (figures <= other_figures or other_figures <= figures)
            single = len(figures) == len(other_figures) == 1
            if not ((alike >= SAME_CLAIM and partly) or (alike >= SAME_SINGLE_CLAIM and single)):
                continue
            if _DISAGREE.search(block.text) or _DISAGREE.search(other_block.text):
                continue
            problems.append(Problem(
                path=doc.path, line=block.line, severity="warning",
                message=f"“{_short(text)}” gives {', '.join(sorted(figures))} where {other_doc.path} (line "
                        f"{other_block.line}) gives {', '.join(sorted(other_figures))} for what reads as the same claim",
                fix="correct one of them, or say in the section that the sources disagree and give both with their "
                    "sources"))
    return problems
