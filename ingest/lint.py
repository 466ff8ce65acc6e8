"""The attribution lint of `advisor check` (docs/knowledge-authoring.md, "Sources, sentence by sentence"): what a
Markdown knowledge file must get right for every claim an official reads to carry its own source.

Errors: a sentence or list item with no footnote reference; a footnote used but not defined, or defined but not
used; a definition with neither a link nor a page. Warnings: a section whose first sentence leans on text before
it; a note about the knowledge base inside the text officials are quoted; a section longer than answers can use.
Lines of tables, headings, `Questions:`, `Sources:` and `Editor's note:` lines are not prose.
"""

from __future__ import annotations

import re

from ingest.footnotes import READING, definition, parse_source, references
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
                  known: frozenset[str] = frozenset()) -> list[Problem]:
    """Every attribution problem of a Markdown body (the lines after the front matter, the first numbered
    `first_line`). `known`: footnote keys defined in another file (a translation's English file)."""
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
        if starts:
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
    problems += _long(rel, section_line, section_words)
    for key, number in used.items():
        if key not in defined and key not in known and key != READING:
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
