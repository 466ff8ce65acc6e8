"""The Chroma store of chunks: embedded on disk by default, or a Chroma server when a URL is configured.

One collection per (embedding model, chunking version), so a store built another way is never mixed with new
chunks: opening it with a different model stops with a message that asks for `advisor ingest --rebuild`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from ingest.chunking import CHUNKING_VERSION
from ingest.models import Chunk

COLLECTION_PREFIX = "kb-"


class StoreError(Exception):
    """A store problem the user can act on; the message says what to do."""


class IngestRunning(StoreError):
    """Another process holds the writer lock of the store."""


def collection_name(model_label: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", model_label.lower()).strip("-")[:60]
    return f"{COLLECTION_PREFIX}{slug}-c{CHUNKING_VERSION}"


def location(store_dir: Path, chroma_url: str | None) -> str:
    return chroma_url or str(store_dir)


class KnowledgeStore:
    """Chunks with their embeddings and metadata, in one Chroma collection."""

    def __init__(self, store_dir: Path, chroma_url: str | None, model_label: str):
        self.store_dir = store_dir
        self.chroma_url = chroma_url
        self.model_label = model_label
        self.name = collection_name(model_label)
        self._client = None
        self._collection = None

    @property
    def client(self):
        if self._client is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            chroma_settings = ChromaSettings(anonymized_telemetry=False)
            if self.chroma_url:
                url = urlparse(self.chroma_url)
                self._client = chromadb.HttpClient(
                    host=url.hostname or "localhost",
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
            else:
                self.store_dir.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(self.store_dir), settings=chroma_settings)
        return self._client

    def _collection_names(self) -> list[str]:
        names = [c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()]
        return [n for n in names if n.startswith(COLLECTION_PREFIX)]

    def _other_collections(self) -> list[str]:
        return [n for n in self._collection_names() if n != self.name]

    def _mismatch(self, others: list[str]) -> StoreError:
        return StoreError(
            f"The knowledge store at {location(self.store_dir, self.chroma_url)} was built with another embedding "
            f"model or chunking version ({', '.join(others)}; this configuration needs {self.name}). "
            "Run `advisor ingest --rebuild` to rebuild it."
        )

    def open_for_read(self):
        if self._collection is None:
            try:
                self._collection = self.client.get_collection(self.name)
            except Exception as exc:  # chromadb raises NotFoundError, or ValueError in older versions
                others = self._other_collections()
                if others:
                    raise self._mismatch(others) from None
                raise StoreError(
                    f"No knowledge base at {location(self.store_dir, self.chroma_url)} yet. "
                    "Run `advisor ingest` first."
                ) from exc
        return self._collection

    def open_for_write(self, rebuild: bool = False):
        """The collection to write; with `rebuild`, an empty one (other models' collections go after success)."""
        names = self._collection_names()
        others = [n for n in names if n != self.name]
        exists = self.name in names
        if others and not exists and not rebuild:
            raise self._mismatch(others)
        if rebuild and exists:
            self.client.delete_collection(self.name)
        self._collection = self.client.get_or_create_collection(
            self.name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedding_model": self.model_label, "chunking_version": CHUNKING_VERSION},
            embedding_function=None,
        )
        return self._collection

    def drop_other_collections(self) -> None:
        for name in self._other_collections():
            self.client.delete_collection(name)

    # -- writing ----------------------------------------------------------------------------------------------

    def add(self, chunks: list[Chunk], embeddings: np.ndarray) -> None:
        """Upsert in batches below Chroma's limit (it depends on SQLite's variable limit)."""
        collection = self.open_for_read()
        step = max(1, min(self.client.get_max_batch_size(), 1000))
        for start in range(0, len(chunks), step):
            batch = chunks[start : start + step]
            collection.upsert(
                ids=[c.id for c in batch],
                documents=[c.text for c in batch],
                embeddings=embeddings[start : start + step].tolist(),
                metadatas=[c.metadata() for c in batch],
            )

    def remove_stale(self, doc_id: str, keep_file_hash: str) -> None:
        """Delete a document's chunks from earlier versions, after its new chunks are in."""
        self.open_for_read().delete(where={"$and": [{"doc_id": doc_id}, {"file_hash": {"$ne": keep_file_hash}}]})

    def remove_document(self, doc_id: str) -> None:
        self.open_for_read().delete(where={"doc_id": doc_id})

    # -- reading ----------------------------------------------------------------------------------------------

    def all_chunks(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Every record as (id, text, metadata), paged so a large store is not fetched in one response."""
        return [(cid, text, meta) for cid, text, meta, _ in self._every(with_vectors=False)]

    def all_with_vectors(self) -> tuple[list[tuple[str, str, dict[str, Any]]], np.ndarray]:
        """Every record and its embedding (rows in the same order), for searching in memory."""
        rows = self._every(with_vectors=True)
        vectors = np.array([v for *_, v in rows], dtype=np.float32) if rows else np.zeros((0, 0), np.float32)
        return [(cid, text, meta) for cid, text, meta, _ in rows], vectors

    def _every(self, with_vectors: bool) -> list[tuple[str, str, dict[str, Any], Any]]:
        collection = self.open_for_read()
        include = ["documents", "metadatas", "embeddings"] if with_vectors else ["documents", "metadatas"]
        out: list[tuple[str, str, dict[str, Any], Any]] = []
        page = 2000
        offset = 0
        while True:
            got = collection.get(include=include, limit=page, offset=offset)
            vectors = got["embeddings"] if with_vectors else [None] * len(got["ids"])
            out.extend(zip(got["ids"], got["documents"], got["metadatas"], vectors))
            if len(got["ids"]) < page:
                return out
            offset += page

    def forget_collection(self) -> None:
        """Open the collection afresh on next use (an ingest may have replaced it)."""
        self._collection = None

    def count(self) -> int:
        return self.open_for_read().count()


def documents_in(chunks: Iterable[tuple[str, str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per source file: the indexed document's id, title, type, date, file hash and chunk count."""
    docs: dict[str, dict[str, Any]] = {}
    for _, _, meta in chunks:
        entry = docs.setdefault(
            meta["source"],
            {k: meta.get(k) for k in ("doc_id", "title", "doc_type", "updated", "file_hash", "url")} | {"chunks": 0},
        )
        entry["chunks"] += 1
    return docs
