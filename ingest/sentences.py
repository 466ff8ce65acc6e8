"""Sentence splitting with pysbd, which knows abbreviations and citations ("et al.", "(2011, p. 36)", "U.S.") in
the six languages we serve. List items and lines stay separate, so bullets are never glued together."""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import pysbd

SUPPORTED = ("en", "nl", "fr", "de", "es", "it")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_local = threading.local()


@lru_cache(maxsize=None)
def _language(lang: str) -> str:
    return lang if lang in SUPPORTED else "en"


def _segmenter(lang: str) -> pysbd.Segmenter:
    # A segmenter is not documented as thread-safe, and front doors answer concurrently: one per thread.
    segmenters = _local.__dict__.setdefault("segmenters", {})
    if lang not in segmenters:
        segmenters[lang] = pysbd.Segmenter(language=_language(lang), clean=False)
    return segmenters[lang]


def split_sentences(text: str, lang: str = "en") -> list[str]:
    """The sentences of a text, in order, stripped; each line (and list item) is split on its own."""
    out: list[str] = []
    for line in text.splitlines():
        line = _LIST_MARK.sub("", line).strip()
        if line:
            out.extend(s.strip() for s in _segmenter(lang).segment(line) if s.strip())
    return out
