"""Translations of knowledge files, kept in step with the English: `cases/ottawa.nl.md` beside `cases/ottawa.md`
holds the same sections, each under the English section's id (`## Wie leidde in Ottawa {#who-led-in-ottawa}`) and
with the hash of the English text it translates (`Translated from: 1a2b3c4d`). When the English section changes,
its hash changes, and the translation is stale until someone translates it again and updates the hash.
"""

from __future__ import annotations

import hashlib
import re

from ingest.models import Block, LoadedDocument
from ingest.problems import Problem

TRANSLATED_LANGUAGES = ("nl", "fr", "de")
_TRANSLATION_NAME = re.compile(r"^(?P<stem>.+)\.(?P<lang>" + "|".join(TRANSLATED_LANGUAGES) + r")\.md$", re.I)


def translation_of(name: str) -> tuple[str, str] | None:
    """(English file name, language) of a translation file name (`ottawa.nl.md` → `ottawa.md`, `nl`), else None."""
    found = _TRANSLATION_NAME.match(name)
    return (f"{found.group('stem')}.md", found.group("lang").lower()) if found else None


def english_path(path: str) -> str:
    """The English file a path belongs to: itself, or for a translation the file it translates."""
    folder, _, name = path.rpartition("/")
    found = translation_of(name)
    return f"{folder}/{found[0]}" if found and folder else found[0] if found else path


def section_hash(block: Block) -> str:
    """The version of an English section's text: what a translation names in its `Translated from:` line."""
    return hashlib.sha256(" ".join(block.text.split()).encode()).hexdigest()[:8]


LANGUAGE_NAMES = {"nl": "Dutch", "fr": "French", "de": "German"}


def translation_problems(docs: list[LoadedDocument]) -> list[Problem]:
    """What a consultant must do to keep the translations in step: per language, the English files without a
    translation (one line), and in each translation the sections missing or translating an older English text."""
    by_path = {doc.path: doc for doc in docs}
    translated = {(doc.translates, doc.meta.language): doc for doc in docs if doc.translates}
    english = [doc for doc in docs if doc.translates is None and any(b.anchor for b in doc.blocks)]
    problems: list[Problem] = []
    for language in TRANSLATED_LANGUAGES:
        missing = [doc.path for doc in english if (doc.path, language) not in translated]
        if missing:
            problems.append(Problem(
                path=missing[0], severity="warning",
                message=f"{len(missing)} file(s) have no {LANGUAGE_NAMES[language]} translation: {', '.join(missing)}",
                fix=f"translate them into NAME.{language}.md files (docs/knowledge-authoring.md, \"Translations\")"))
    for (source, language), doc in sorted(translated.items()):
        original = by_path.get(source)
        if original is None:
            continue
        done = {b.anchor: b for b in doc.blocks}
        for block in original.blocks:
            version = section_hash(block)
            mine = done.get(block.anchor)
            where = " > ".join(block.heading_path)
            if mine is None:
                problems.append(Problem(path=doc.path, severity="warning",
                                        message=f"the section “{where}” ({{#{block.anchor}}}) is not translated",
                                        fix=f"add it, with `Translated from: {version}` under its heading"))
            elif mine.translated_from != version:
                problems.append(Problem(
                    path=doc.path, line=mine.line, severity="warning",
                    message=f"the English section “{where}” ({source}, line {block.line}) changed after it was "
                            f"translated (translated from {mine.translated_from or 'an unnamed version'}, now {version})",
                    fix=f"translate the English changes, then set `Translated from: {version}`"))
    return problems
