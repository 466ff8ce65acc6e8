"""Ingest: knowledge files in, the Chroma store out, incrementally and without ever losing indexed knowledge.

Order of work, chosen so an interrupted run leaves every document searchable: a changed document's new chunks
are written before its old ones are removed, and the manifest is updated after each document. A file that fails
validation is reported and its previously indexed version stays.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from advisor.settings import Settings
from ingest.changes import DocumentChange, record_run
from ingest.chunking import chunk_document, embedding_text
from ingest.embedding import Embedder
from ingest.loaders import discover, file_hash, load
from ingest.manifest import IndexedDocument, Manifest, read_manifest, write_manifest
from ingest.models import Chunk, LoadedDocument
from ingest.problems import KnowledgeFileError, Problem
from ingest.store import IngestRunning, KnowledgeStore, StoreError, collection_name, documents_in, location

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        return sorted({p.path for p in self.problems})

    @property
    def ok(self) -> bool:
        return not self.problems


def embedder_for(settings: Settings) -> Embedder:
    return Embedder(settings.embedding_model_path, settings.embedding_batch_size, cache_dir=settings.model_cache_dir,
                    max_tokens=settings.embedding_max_tokens)


def store_for(settings: Settings) -> KnowledgeStore:
    return KnowledgeStore(settings.store_dir, settings.chroma_url, embedder_for(settings).label)


def _rel(path: Path, knowledge_dir: Path) -> str:
    return path.relative_to(knowledge_dir).as_posix()


def check(settings: Settings, only: Path | None = None) -> tuple[list[LoadedDocument], list[Problem]]:
    """Validate knowledge files without writing anything or loading the model."""
    knowledge_dir = settings.knowledge_dir
    if not knowledge_dir.is_dir():
        raise StoreError(f"The knowledge folder {knowledge_dir} does not exist. Set ADVISOR_KNOWLEDGE_DIR.")
    docs, problems = [], []
    for path in discover(knowledge_dir, only):
        try:
            docs.append(load(path, knowledge_dir))
        except KnowledgeFileError as exc:
            problems.extend(exc.problems)
    if only is None:
        problems.extend(_duplicate_ids(docs))
    problems.extend(finding for doc in docs for finding in doc.findings)
    return docs, problems


def _duplicate_ids(docs: list[LoadedDocument]) -> list[Problem]:
    seen: dict[str, str] = {}
    problems = []
    for doc in docs:
        first = seen.setdefault(doc.meta.id, doc.path)
        if first != doc.path:
            problems.append(
                Problem(path=doc.path, field="id", line=2, message=f"id '{doc.meta.id}' is already used by {first}",
                        fix="give each document its own id")
            )
    return problems


def ingest(settings: Settings, only: Path | None = None, rebuild: bool = False,
           progress: Progress | None = None) -> IngestReport:
    started = time.perf_counter()
    knowledge_dir = settings.knowledge_dir
    if not knowledge_dir.is_dir():
        raise StoreError(f"The knowledge folder {knowledge_dir} does not exist. Set ADVISOR_KNOWLEDGE_DIR.")
    scope = only.resolve() if only is not None else None
    if scope is not None and not scope.is_relative_to(knowledge_dir):
        raise StoreError(f"{only} is not inside the knowledge folder {knowledge_dir}.")

    embedder = embedder_for(settings)
    where = location(settings.store_dir, settings.chroma_url)
    name = collection_name(embedder.label)
    files = {_rel(p, knowledge_dir): p for p in discover(knowledge_dir, scope)}
    hashes = {rel: file_hash(p) for rel, p in files.items()}

    def in_scope(rel: str) -> bool:
        return scope is None or (knowledge_dir / rel).resolve().is_relative_to(scope)

    manifest = read_manifest(settings.store_dir)
    if not rebuild and manifest is not None and manifest.matches(where, name):
        indexed = {rel: d for rel, d in manifest.documents.items() if in_scope(rel)}
        if all(indexed.get(rel) and indexed[rel].file_hash == h for rel, h in hashes.items()) and set(indexed) <= set(hashes):
            # Nothing to do: answered from the manifest alone, without loading Chroma or the model.
            return IngestReport(unchanged=sorted(hashes), seconds=time.perf_counter() - started)

    settings.store_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.store_dir / "ingest.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise IngestRunning(
            f"Another ingest is writing to {where} (lock {settings.store_dir / 'ingest.lock'}). "
            "Wait for it to finish, then run this again."
        ) from None
    try:
        return _ingest_locked(settings, embedder, files, hashes, in_scope, rebuild, progress, started)
    finally:
        lock.release()


def _ingest_locked(settings, embedder, files, hashes, in_scope, rebuild, progress, started) -> IngestReport:
    knowledge_dir = settings.knowledge_dir
    store = KnowledgeStore(settings.store_dir, settings.chroma_url, embedder.label)
    store.open_for_write(rebuild=rebuild)
    where = location(settings.store_dir, settings.chroma_url)
    manifest = read_manifest(settings.store_dir)
    if rebuild or manifest is None or not manifest.matches(where, store.name):
        manifest = Manifest(location=where, collection=store.name, documents=_indexed_from_store(store))

    report = IngestReport()
    to_load = [rel for rel in sorted(files) if rebuild or rel not in manifest.documents
               or manifest.documents[rel].file_hash != hashes[rel]]
    report.unchanged = [rel for rel in sorted(files) if rel not in to_load]
    docs: list[LoadedDocument] = []
    for i, rel in enumerate(to_load):
        try:
            docs.append(load(files[rel], knowledge_dir))
        except KnowledgeFileError as exc:
            report.problems.extend(exc.problems)
        if progress:
            progress("read", i + 1, len(to_load))

    # Ids must stay unique across the whole knowledge base, including documents this run did not reread.
    known_ids = {d.doc_id: rel for rel, d in manifest.documents.items() if rel not in {x.path for x in docs}}
    accepted = []
    for doc in docs:
        other = known_ids.get(doc.meta.id)
        if other is not None and other != doc.path and other in files:
            report.problems.append(Problem(path=doc.path, field="id", line=2,
                                           message=f"id '{doc.meta.id}' is already used by {other}",
                                           fix="give each document its own id"))
            continue
        known_ids[doc.meta.id] = doc.path
        accepted.append(doc)

    chunked = [(doc, chunk_document(doc)) for doc in accepted]
    every = [c for _, chunks in chunked for c in chunks]
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("embed", done, len(every))

    vectors = _embed(embedder, every, on_batch) if every else None
    changes: list[DocumentChange] = []
    offset = 0
    for doc, chunks in chunked:
        store.add(chunks, vectors[offset : offset + len(chunks)])
        offset += len(chunks)
        previous = manifest.documents.get(doc.path)
        if previous is not None and previous.doc_id != doc.meta.id:
            store.remove_document(previous.doc_id)
        store.remove_stale(doc.meta.id, doc.file_hash)
        entry = IndexedDocument(doc_id=doc.meta.id, file_hash=doc.file_hash, title=doc.meta.title,
                                summary=doc.meta.summary, doc_type=doc.meta.doc_type,
                                updated=doc.meta.updated.isoformat(), url=str(doc.meta.sources[0].url),
                                chunks=len(chunks))
        manifest.documents[doc.path] = entry
        write_manifest(settings.store_dir, manifest)
        kind = "updated" if previous is not None and not rebuild else "added"
        (report.updated if kind == "updated" else report.added).append(doc.path)
        changes.append(_change(kind, doc.path, entry))
        report.chunks += len(chunks)

    for rel in sorted(set(manifest.documents) - set(files)):
        if not in_scope(rel):
            continue
        gone = manifest.documents.pop(rel)
        if all(d.doc_id != gone.doc_id for d in manifest.documents.values()):  # not just moved to another path
            store.remove_document(gone.doc_id)
        write_manifest(settings.store_dir, manifest)
        report.removed.append(rel)
        changes.append(_change("removed", rel, gone))

    if rebuild:
        store.drop_other_collections()
    write_manifest(settings.store_dir, manifest)
    record_run(settings.store_dir, changes)
    report.seconds = time.perf_counter() - started
    return report


def _embed(embedder: Embedder, chunks: list[Chunk], on_batch: Callable[[int], None]) -> np.ndarray:
    """Questions a section answers are embedded as questions (e5 models mark questions and passages apart), so a
    question an official asks meets them as one question meets another."""
    asks = [i for i, c in enumerate(chunks) if c.kind == "question"]
    reads = [i for i, c in enumerate(chunks) if c.kind != "question"]
    vectors: np.ndarray | None = None
    for positions, as_query in ((reads, False), (asks, True)):
        if not positions:
            continue
        got = embedder.embed([embedding_text(chunks[i]) for i in positions], progress=on_batch, as_query=as_query)
        if vectors is None:
            vectors = np.zeros((len(chunks), got.shape[1]), dtype=np.float32)
        vectors[positions] = got
    assert vectors is not None
    return vectors


def _change(kind: str, source: str, doc: IndexedDocument) -> DocumentChange:
    return DocumentChange(kind=kind, doc_id=doc.doc_id, source=source, title=doc.title, summary=doc.summary, url=doc.url)


def _indexed_from_store(store: KnowledgeStore) -> dict[str, IndexedDocument]:
    return {
        source: IndexedDocument(doc_id=d["doc_id"], file_hash=d["file_hash"], title=d["title"] or "",
                                doc_type=d["doc_type"] or "", updated=d["updated"] or "", url=d["url"] or "",
                                chunks=d["chunks"])
        for source, d in documents_in(store.all_chunks()).items()
    }


def indexed_documents(settings: Settings) -> Manifest | None:
    """What the store holds, for `advisor sources` and front doors' "about" pages (no model load)."""
    manifest = read_manifest(settings.store_dir)
    where = location(settings.store_dir, settings.chroma_url)
    if manifest is not None and manifest.matches(where, store_for(settings).name):
        return manifest
    store = store_for(settings)
    try:
        return Manifest(location=where, collection=store.name, documents=_indexed_from_store(store))
    except StoreError:
        return None
