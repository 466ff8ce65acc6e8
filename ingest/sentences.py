"""Sentence splitting with pysbd, which knows abbreviations and citations ("et al.", "(2011, p. 36)", "U.S.") in
the six languages we serve. A paragraph's wrapped lines are read as one text; list items and table rows stay
separate, so bullets are never glued together."""

from __future__ import annotations

import re
import threading

import pysbd

SUPPORTED = ("en", "nl", "fr", "de", "es", "it")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_local = threading.local()


def _segmenter(lang: str) -> pysbd.Segmenter:
    # A segmenter is not documented as thread-safe, and front doors answer concurrently: one per thread.
    segmenters = _local.__dict__.setdefault("segmenters", {})
    if lang not in segmenters:
        segmenters[lang] = pysbd.Segmenter(language=lang if lang in SUPPORTED else "en", clean=False)
    return segmenters[lang]


def _blocks(text: str) -> list[str]:
    """Paragraphs (wrapped lines joined), list items and table rows, in order."""
    blocks: list[str] = []
    joining = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            joining = False
            continue
        item = _LIST_MARK.match(line) is not None or stripped.startswith("|")
        if joining and not item:
            blocks[-1] += " " + stripped
        else:
            blocks.append(_LIST_MARK.sub("", line).strip())
        joining = not stripped.startswith("|")
    return blocks


def split_sentences(text: str, lang: str = "en") -> list[str]:
    """The sentences of a text, in order, stripped."""
    segmenter = _segmenter(lang)
    out: list[str] = []
    for block in _blocks(text):
        # A table row is one record (the glossary's translation table is read row by row), never split.
        out.extend([block] if block.startswith("|") else [s.strip() for s in segmenter.segment(block) if s.strip()])
    return out
