"""Sections are the unit an official needs, so the store holds each section whole, plus the small units that find
it: windows of a few sentences (so a fact deep in a long section is found) and the questions the section answers.

CHUNKING_VERSION is recorded in the store; change it whenever the output of this module changes, so a store
built the old way asks for `advisor ingest --rebuild` instead of mixing two kinds of records.
"""

from __future__ import annotations

import hashlib
import json

from ingest.footnotes import READING, references
from ingest.models import Approval, Block, Chunk, ClaimSource, FrontMatter, LoadedDocument, UnitKind
from ingest.sentences import split_sentences
from ingest.translations import section_hash

CHUNKING_VERSION = "5"
# Windows of three sentences, one after another: each fact is found whatever its place in the section (against
# heading and opening alone, multilingual-e5-small put the right section in the top five for 0.81 of the tuning
# half's questions instead of 0.75). Starting a window every third sentence rather than every second measured the
# same on the tuning half (section hit@1 0.736 against 0.744, hit@5 0.953 both, answers citing a gold section 0.822
# against 0.806) and embeds a third fewer windows: 79 s instead of 92 s for the shipped knowledge base, more for
# long PDFs.
WINDOW_SENTENCES = 3
WINDOW_STEP = 3
OPENING_SENTENCES = 2


def section_label(block: Block) -> str:
    if block.heading_path:
        return " > ".join(block.heading_path)
    return f"p. {block.page}" if block.page is not None else "Overview"


def _units(block: Block, sentences: list[str], translation: bool = False) -> list[tuple[UnitKind, str]]:
    """(kind, text) of every record of one section, the section itself first. A translated section is one record:
    the English section's units find it, and answers in its language quote it."""
    if translation:
        return [("translation", "\n".join(sentences))]
    units: list[tuple[UnitKind, str]] = [("section", "\n".join(sentences))]
    if len(sentences) > OPENING_SENTENCES:
        for start in range(0, len(sentences), WINDOW_STEP):
            units.append(("window", " ".join(sentences[start : start + WINDOW_SENTENCES])))
    units += [("question", q) for q in block.questions]
    return units


def record_key(path: str, file_hash: str) -> str:
    """The part of a record id that says which file, in which version, it comes from. Keyed by path as well as
    content, so two files never write the same records, even when one is a copy of the other. (Records of stores
    built before keyed by content alone; ingest finds records by their source and file hash, so those stay valid
    and CHUNKING_VERSION did not change.)"""
    return hashlib.sha256(f"{path}\n{file_hash}".encode()).hexdigest()[:12]


def _claims(keys: list[list[str]], footnotes: dict[str, ClaimSource]) -> str | None:
    """The sources of each sentence, as stored with the section; None when no sentence names one (a PDF page, a
    Markdown file without footnotes), so citations fall back to the section's link or page."""
    if not any(keys):
        return None
    return json.dumps([{"sources": [footnotes[k].model_dump() for k in ks if k in footnotes], "reading": READING in ks}
                       for ks in keys], ensure_ascii=False)


def _approval(meta: FrontMatter) -> str | None:
    if meta.doc_type != "approved_answer":
        return None
    return Approval(approved_by=meta.approved_by, approved_on=meta.approved_on, review_by=meta.review_by,
                    sections=meta.sections).model_dump_json()


def chunk_document(doc: LoadedDocument) -> list[Chunk]:
    meta = doc.meta
    default_url = str(meta.sources[0].url)
    key = record_key(doc.path, doc.file_hash)
    chunks: list[Chunk] = []
    for block in doc.blocks:
        # Sentences are split with their footnote references attached, so each keeps its own sources.
        marked = [references(s) for s in split_sentences(block.text, meta.language)]
        sentences = [text for text, _ in marked if text]
        keys = [ks for text, ks in marked if text]
        if not sentences:
            continue
        section_id = f"{meta.id}:{key}:{len(chunks):04d}"
        translation = doc.translates is not None
        for kind, text in _units(block, sentences, translation):
            index = len(chunks)
            chunks.append(
                Chunk(
                    id=f"{meta.id}:{key}:{index:04d}",
                    text=text,
                    kind=kind,
                    section_id=section_id,
                    doc_id=meta.id,
                    source=doc.path,
                    title=meta.title,
                    section=section_label(block),
                    page=block.page,
                    doc_type=meta.doc_type,
                    topics=meta.topics,
                    language=meta.language,
                    url=block.url or default_url,
                    country=meta.country,
                    city_size=meta.city_size,
                    updated=meta.updated.isoformat(),
                    chunk_index=index,
                    file_hash=doc.file_hash,
                    content_hash=hashlib.sha256(text.encode()).hexdigest()[:16],
                    claims=_claims(keys, doc.footnotes) if kind in ("section", "translation") else None,
                    note=block.note if kind in ("section", "translation") else None,
                    anchor=block.anchor,
                    version=section_hash(block) if kind == "section" else None,
                    translates=f"{doc.translates}#{block.anchor}" if translation else None,
                    translated_from=block.translated_from if translation else None,
                    approval=_approval(meta) if kind == "section" and not translation else None,
                )
            )
    return chunks


def embedding_text(chunk: Chunk) -> str:
    """What the embedding model sees. A section: its document title, heading and opening sentences (what it is
    about); a window: the heading and its sentences; a question: itself."""
    heading = chunk.section.split(" > ")[-1]
    if chunk.kind == "section":
        opening = " ".join(chunk.text.split("\n")[:OPENING_SENTENCES])
        return f"{chunk.title}. {heading}. {opening}"
    if chunk.kind == "window":
        return f"{heading}: {chunk.text}"
    if chunk.kind == "translation":  # kept out of meaning search (engine/index.py): the heading is enough
        return heading
    return chunk.text
