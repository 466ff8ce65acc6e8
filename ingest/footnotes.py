"""Per-claim attribution in knowledge Markdown, in the standard footnote syntax: a sentence ends with references
to its sources (`… fell by 20.2% [^mscc-h].`), each defined once in the file
(`[^mscc-h]: Memphis Shelby Crime Commission, "History", https://memphiscrime.org/history/, p. 3`).
`[^advisor]` marks a sentence that is the knowledge base's own reading of its sources; it needs no definition.
"""

from __future__ import annotations

import re

from ingest.models import ClaimSource

READING = "advisor"
_REFERENCE = re.compile(r"[ \t]*\[\^([A-Za-z0-9][\w-]*)\]")
_DEFINITION = re.compile(r"^\[\^([A-Za-z0-9][\w-]*)\]:[ \t]*(.*?)\s*$")
_URL = re.compile(r"https?://[^\s<>\"]+")
# A place inside the source: "p. 17", "pp. 17-19", "§3.2", "p. iv".
_PAGE = re.compile(r"(?:\bpp?\.|§)\s*[\w.]+(?:\s*[-–]\s*[\w.]+)?")


def definition(line: str) -> tuple[str, str] | None:
    """(key, text) of a footnote definition line, or None for any other line."""
    found = _DEFINITION.match(line.strip())
    return (found.group(1), found.group(2)) if found else None


def parse_source(text: str) -> ClaimSource:
    """A definition's text as a source: its link, its place (page or paragraph) and the rest as its title."""
    url = _URL.search(text)
    rest = _URL.sub(" ", text)
    page = _PAGE.search(rest)
    title = _PAGE.sub(" ", rest) if page else rest
    title = re.sub(r"\s*,(\s*,)+", ",", " ".join(title.split())).strip(" ,;")
    return ClaimSource(title=title or (url.group(0) if url else text), url=url.group(0).rstrip(".,;)") if url else None,
                       page=page.group(0).rstrip(".,;") if page else None)


def references(sentence: str) -> tuple[str, list[str]]:
    """The sentence without its footnote references, and their keys in order."""
    keys = _REFERENCE.findall(sentence)
    text = _REFERENCE.sub("", sentence)
    return re.sub(r"\s+([.,;:!?])", r"\1", text).strip(), list(dict.fromkeys(keys))
