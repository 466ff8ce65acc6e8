"""Structure-aware chunking: sections (or pages) first, then by size with overlap.

CHUNKING_VERSION is recorded in the store; change it whenever the output of this module changes, so a store
built the old way asks for `advisor ingest --rebuild` instead of mixing two kinds of chunks.
"""

from __future__ import annotations

import hashlib

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.models import Block, Chunk, LoadedDocument

CHUNKING_VERSION = "2"
CHUNK_CHARS = 1100
OVERLAP_CHARS = 150

_splitter = RecursiveCharacterTextSplitter(
    chunk_size=CHUNK_CHARS,
    chunk_overlap=OVERLAP_CHARS,
    separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
    keep_separator="end",
)


def section_label(block: Block) -> str:
    if block.heading_path:
        return " > ".join(block.heading_path)
    return f"p. {block.page}" if block.page is not None else "Overview"


def chunk_document(doc: LoadedDocument) -> list[Chunk]:
    meta = doc.meta
    default_url = str(meta.sources[0].url)
    chunks: list[Chunk] = []
    for block in doc.blocks:
        for piece in _splitter.split_text(block.text):
            piece = piece.strip()
            if not piece:
                continue
            index = len(chunks)
            chunks.append(
                Chunk(
                    id=f"{meta.id}:{doc.file_hash[:12]}:{index:04d}",
                    text=piece,
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
                    content_hash=hashlib.sha256(piece.encode()).hexdigest()[:16],
                )
            )
    return chunks


def embedding_text(chunk: Chunk) -> str:
    """What the embedding model sees: the passage with its title and section, which carry its topic."""
    return f"{chunk.title}. {chunk.section}.\n{chunk.text}"
