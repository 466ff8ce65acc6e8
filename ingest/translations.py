"""Translations of knowledge files, kept in step with the English: `cases/ottawa.nl.md` beside `cases/ottawa.md`
holds the same sections, each under the English section's id (`## Wie leidde in Ottawa {#who-led-in-ottawa}`) and
with the hash of the English text it translates (`Translated from: 1a2b3c4d`). When the English section changes,
its hash changes, and the translation is stale until someone translates it again and updates the hash.
"""

from __future__ import annotations

import hashlib
import re

from ingest.models import Block

TRANSLATED_LANGUAGES = ("nl", "fr", "de")
_TRANSLATION_NAME = re.compile(r"^(?P<stem>.+)\.(?P<lang>" + "|".join(TRANSLATED_LANGUAGES) + r")\.md$", re.I)


def translation_of(name: str) -> tuple[str, str] | None:
    """(English file name, language) of a translation file name (`ottawa.nl.md` → `ottawa.md`, `nl`), else None."""
    found = _TRANSLATION_NAME.match(name)
    return (f"{found.group('stem')}.md", found.group("lang").lower()) if found else None


def section_hash(block: Block) -> str:
    """The version of an English section's text: what a translation names in its `Translated from:` line."""
    return hashlib.sha256(" ".join(block.text.split()).encode()).hexdigest()[:8]
