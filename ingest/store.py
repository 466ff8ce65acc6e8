"""The Chroma store of chunks: embedded on disk by default, or a Chroma server when a URL is configured.

Collections are named per (embedding model, chunking version), so a store built another way is never mixed with
new chunks: opening it with a different model stops with a message that asks for `advisor ingest --rebuild`.

Readers use the live collection, named by a pointer kept in the store itself (the metadata of a small
`advisor-pointer` collection, so it works the same with a Chroma server). A rebuild writes a new collection
beside the live one (`<name>-v<n>`) and moves the pointer in one write when it is complete: an interrupted
rebuild leaves the old collection serving, and the next one resumes where it stopped. Old collections are
dropped only after the switch. A store from before the pointer is read as it is (its collection is the live one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from ingest.chunking import CHUNKING_VERSION
from ingest.models import Chunk, IndexedFacts

COLLECTION_PREFIX = "kb-"
POINTER = "advisor-pointer"
_VERSIONED = re.compile(r"^(?P<base>.+)-v(?P<n>\d+)$")
_READ_ATTEMPTS = 3


class StoreError(Exception):
    """A store problem the user can act on; the message says what to do."""


class IngestRunning(StoreError):
    """Another process holds the writer lock of the store."""


def collection_name(model_label: str) -> str:
    """The configuration's base name; its collections are this name (stores from before versions) or `-v<n>`."""
    slug = re.sub(r"[^a-z0-9]+", "-", model_label.lower()).strip("-")[:60]
    return f"{COLLECTION_PREFIX}{slug}-c{CHUNKING_VERSION}"


def base_of(name: str) -> str:
    match = _VERSIONED.match(name)
    return match["base"] if match else name


def version_of(name: str) -> int:
    match = _VERSIONED.match(name)
    return int(match["n"]) if match else 0


def location(store_dir: Path, chroma_url: str | None) -> str:
    return chroma_url or str(store_dir)


def _not_found(exc: Exception) -> bool:
    # chromadb raises NotFoundError, or ValueError/InvalidCollectionException in older versions.
    return type(exc).__name__ in {"NotFoundError", "InvalidCollectionException"} or isinstance(exc, ValueError)


class StoredVersion(IndexedFacts):
    """One version (file hash) of one source file as the store holds it."""

    complete: bool = False  # its first record is in: written last, so the others are too


Inventory = dict[str, dict[str, StoredVersion]]  # source path -> file hash -> version


class KnowledgeStore:
    """Chunks with their embeddings and metadata: readers see the live collection, a writer its target."""

    def __init__(self, store_dir: Path, chroma_url: str | None, model_label: str):
        self.store_dir = store_dir
        self.chroma_url = chroma_url
        self.model_label = model_label
        self.name = collection_name(model_label)
        self.target: str | None = None  # the collection a writer writes (see begin_write)
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

    def _mismatch(self, live: str) -> StoreError:
        return StoreError(
            f"The knowledge store at {location(self.store_dir, self.chroma_url)} was built with another embedding "
            f"model or chunking version ({live}; this configuration needs {self.name}). "
            "Run `advisor ingest --rebuild` to rebuild it."
        )

    def _no_store(self) -> StoreError:
        return StoreError(f"No knowledge base at {location(self.store_dir, self.chroma_url)} yet. "
                          "Run `advisor ingest` first.")

    # -- the pointer ------------------------------------------------------------------------------------------

    def live_name(self) -> str | None:
        """The collection readers use, or None when there is none yet."""
        try:
            pointed = (self.client.get_collection(POINTER, embedding_function=None).metadata or {}).get("live")
        except Exception as exc:
            if not _not_found(exc):
                raise
            pointed = None
        names = self._collection_names()
        if pointed is not None:
            return pointed if pointed in names else None
        if self.name in names:  # a store from before the pointer
            return self.name
        unversioned = sorted(n for n in names if not _VERSIONED.match(n))
        return unversioned[0] if unversioned else None

    def _point_to(self, name: str) -> None:
        """One metadata write: readers opening the store afterwards read `name`."""
        pointer = self.client.get_or_create_collection(POINTER, metadata={"live": name}, embedding_function=None)
        if (pointer.metadata or {}).get("live") != name:
            pointer.modify(metadata={"live": name})

    # -- reading ----------------------------------------------------------------------------------------------

    def open_for_read(self):
        """The live collection (a writer: its target)."""
        if self._collection is None:
            for _ in range(_READ_ATTEMPTS):
                live = self.live_name()
                if live is None:
                    raise self._no_store()
                if base_of(live) != self.name:
                    raise self._mismatch(live)
                try:
                    self._collection = self.client.get_collection(live, embedding_function=None)
                    break
                except Exception as exc:
                    if not _not_found(exc):
                        raise
                    # Switched and dropped between reading the pointer and opening it: read the pointer again.
            else:
                raise self._no_store()
        return self._collection

    def all_chunks(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Every record as (id, text, metadata), paged so a large store is not fetched in one response."""
        return [(cid, text, meta) for cid, text, meta, _ in self._every(with_vectors=False)]

    def all_with_vectors(self) -> tuple[list[tuple[str, str, dict[str, Any]]], np.ndarray]:
        """Every record and its embedding (rows in the same order), for searching in memory."""
        rows = self._every(with_vectors=True)
        vectors = np.array([v for *_, v in rows], dtype=np.float32) if rows else np.zeros((0, 0), np.float32)
        return [(cid, text, meta) for cid, text, meta, _ in rows], vectors

    def _every(self, with_vectors: bool) -> list[tuple[str, str, dict[str, Any], Any]]:
        include = ["documents", "metadatas", "embeddings"] if with_vectors else ["documents", "metadatas"]
        for attempt in range(_READ_ATTEMPTS):
            try:
                return _pages(self.open_for_read(), include)
            except Exception as exc:
                # A rebuild switched collections and dropped the one being read: read the new live one.
                if self.target is not None or not _not_found(exc) or attempt == _READ_ATTEMPTS - 1:
                    raise
                self._collection = None
        raise AssertionError("unreachable")

    def forget_collection(self) -> None:
        """Open the collection afresh on next use (an ingest may have switched it)."""
        self._collection = None

    def count(self) -> int:
        return self.open_for_read().count()

    def inventory(self, name: str | None = None) -> Inventory:
        """What a collection holds per source file and version (default: the one open), from metadata only."""
        collection = self.client.get_collection(name, embedding_function=None) if name else self.open_for_read()
        out: Inventory = {}
        for _, _, meta, _ in _pages(collection, ["metadatas"]):
            version = out.setdefault(meta["source"], {}).setdefault(
                meta["file_hash"], StoredVersion(**{k: meta.get(k) or "" for k in
                                                    ("doc_id", "title", "doc_type", "updated", "url")}))
            version.chunks += 1
            version.complete = version.complete or meta.get("chunk_index") == 0
        return out

    def records(self, name: str, source: str, file_hash: str) -> list[tuple[str, str, dict[str, Any], Any]]:
        """One version of one file with its embeddings, from a collection (to carry it into a rebuild)."""
        got = self.client.get_collection(name, embedding_function=None).get(
            where={"$and": [{"source": source}, {"file_hash": file_hash}]},
            include=["documents", "metadatas", "embeddings"])
        return list(zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"]))

    # -- writing ----------------------------------------------------------------------------------------------

    def begin_write(self, rebuild: bool = False) -> bool:
        """Point writes at the live collection, or (rebuilding, or no knowledge base yet) at a build collection
        beside it: the one an interrupted build left, else a new one. True when building: `switch()` ends it."""
        live = self.live_name()
        if live is not None and not rebuild:
            if base_of(live) != self.name:
                raise self._mismatch(live)
            self._point_to(live)  # a store from before the pointer gets one
            self.target = live
        else:
            ours = [n for n in self._collection_names() if base_of(n) == self.name]
            floor = version_of(live) if live is not None and base_of(live) == self.name else 0
            unfinished = [n for n in ours if n != live and _VERSIONED.match(n) and version_of(n) > floor]
            self.target = max(unfinished, key=version_of, default=None) or \
                f"{self.name}-v{max(map(version_of, ours), default=0) + 1}"
        self._collection = self.client.get_or_create_collection(
            self.target,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedding_model": self.model_label, "chunking_version": CHUNKING_VERSION},
            embedding_function=None,
        )
        return self.target != live

    def switch(self) -> None:
        """Make the finished build the live collection."""
        assert self.target is not None
        self._point_to(self.target)

    def drop_superseded(self, everything_else: bool) -> None:
        """After a switch (`everything_else`), drop every other collection; otherwise only this configuration's
        generations older than the live one (left when a run stopped between a switch and this clean-up). A
        newer unfinished build stays, for `--rebuild` to resume."""
        live = self.live_name()
        for name in self._collection_names():
            if name == live:
                continue
            older = live is not None and base_of(name) == base_of(live) and version_of(name) < version_of(live)
            if everything_else or older:
                self.client.delete_collection(name)

    def add(self, chunks: list[Chunk], embeddings: np.ndarray) -> None:
        """One document version's records. Its first record goes in last, so a version whose first record is
        in is complete (an interrupted run is told apart from a finished one by that record alone)."""
        self.add_records([c.id for c in chunks], [c.text for c in chunks], [c.metadata() for c in chunks],
                         list(embeddings))

    def add_records(self, ids: list[str], texts: list[str], metas: list[dict[str, Any]], vectors: list[Any]) -> None:
        collection = self.open_for_read()
        rest = [i for i, m in enumerate(metas) if m.get("chunk_index") != 0]
        first = [i for i, m in enumerate(metas) if m.get("chunk_index") == 0]
        step = max(1, min(self.client.get_max_batch_size(), 1000))  # Chroma's limit depends on SQLite's
        for batch in [rest[s : s + step] for s in range(0, len(rest), step)] + [first]:
            if batch:
                collection.upsert(ids=[ids[i] for i in batch], documents=[texts[i] for i in batch],
                                  embeddings=[np.asarray(vectors[i], dtype=np.float32).tolist() for i in batch],
                                  metadatas=[metas[i] for i in batch])

    def remove(self, source: str, file_hashes: Iterable[str] | None = None) -> None:
        """Delete a file's records (only those versions, when given). Always by path: a document is never
        deleted because another file claims its id."""
        where: dict[str, Any] = {"source": source}
        if file_hashes is not None:
            hashes = sorted(file_hashes)
            if not hashes:
                return
            where = {"$and": [where, {"file_hash": {"$in": hashes}}]}
        self.open_for_read().delete(where=where)


def _pages(collection, include: list[str]) -> list[tuple[str, str, dict[str, Any], Any]]:
    out: list[tuple[str, str, dict[str, Any], Any]] = []
    page = 2000
    offset = 0
    while True:
        got = collection.get(include=include, limit=page, offset=offset)
        texts = got["documents"] if "documents" in include else [""] * len(got["ids"])
        vectors = got["embeddings"] if "embeddings" in include else [None] * len(got["ids"])
        out.extend(zip(got["ids"], texts, got["metadatas"], vectors))
        if len(got["ids"]) < page:
            return out
        offset += page

