"""Ingest: knowledge files in, the Chroma store out, incrementally and without ever losing indexed knowledge.

Each run reconciles the store with the knowledge files (what the store holds per file path and content hash), not
with a record of earlier runs, so a store left wrong by an interrupted run or an older version repairs itself. The
rules, each so that no ordinary mistake of a consultant loses a document:
- a changed document's new records are written before its old ones are removed, so an interrupted run leaves
  every document searchable;
- a file that fails (validation, a damaged or unreadable file) keeps its previously indexed version, and so does
  a document whose new version fails under another path (a renamed file with a typo): the id the failing file
  claims says which document it is;
- records are keyed and deleted by file path, never by id: an id claimed by two files is reported on both, and
  neither is (re)indexed until it is fixed, while what is indexed stays;
- a rebuild (or a first ingest) writes a collection beside the live one and switches over in one step when it
  is complete (ingest/store.py); the manifest is written after the switch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from advisor.settings import Settings
from ingest.approved import approved_answer_problems
from ingest.changes import DocumentChange, record_run
from ingest.chunking import chunk_document, embedding_text
from ingest.embedding import Embedder
from ingest.lint import conflicting_figures
from ingest.loaders import discover, file_hash, load, peek_id
from ingest.manifest import FORMAT, IndexedDocument, Manifest, read_manifest, write_manifest
from ingest.models import Chunk, LoadedDocument
from ingest.problems import KnowledgeFileError, Problem
from ingest.store import (IngestRunning, Inventory, KnowledgeStore, StoredVersion, StoreError, base_of,
                          collection_name, location)
from ingest.translations import translation_problems

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # errors and warnings
    chunks: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        return sorted({p.path for p in self.problems if p.is_error})

    @property
    def ok(self) -> bool:
        return not any(p.is_error for p in self.problems)


def embedder_for(settings: Settings) -> Embedder:
    return Embedder(settings.embedding_model_path, settings.embedding_batch_size, cache_dir=settings.model_cache_dir,
                    max_tokens=settings.embedding_max_tokens)


def store_for(settings: Settings) -> KnowledgeStore:
    return KnowledgeStore(settings.store_dir, settings.chroma_url, embedder_for(settings).label)


def _rel(path: Path, knowledge_dir: Path) -> str:
    return path.relative_to(knowledge_dir).as_posix()


def check(settings: Settings, only: Path | None = None) -> tuple[list[LoadedDocument], list[Problem]]:
    """Validate knowledge files without writing anything or loading the model (or Chroma). Returns the files
    that would be indexed, and every problem (errors and warnings)."""
    knowledge_dir = settings.knowledge_dir
    if not knowledge_dir.is_dir():
        raise StoreError(f"The knowledge folder {knowledge_dir} does not exist. Set ADVISOR_KNOWLEDGE_DIR.")
    paths, problems = discover(knowledge_dir, only)
    docs = []
    for path in paths:
        try:
            doc = load(path, knowledge_dir)
        except KnowledgeFileError as exc:
            problems.extend(exc.problems)
            continue
        docs.append(doc)
        problems.extend(doc.warnings)
    if only is None:
        clashes, refused = duplicate_ids({d.path: d.meta.id for d in docs}, _indexed_ids(settings))
        problems.extend(clashes)
        docs = [d for d in docs if d.path not in refused]
    problems.extend(finding for doc in docs for finding in doc.findings)
    if only is None:
        problems.extend(translation_problems(docs))
        problems.extend(approved_answer_problems(docs))
        problems.extend(conflicting_figures(docs))
    return docs, problems


def _indexed_ids(settings: Settings) -> dict[str, str]:
    """Which file holds which id in the store, as the manifest says (check opens neither Chroma nor the model)."""
    manifest = read_manifest(settings.store_dir)
    name = collection_name(embedder_for(settings).label)
    if manifest is None or (manifest.location, manifest.collection) != (location(settings.store_dir,
                                                                                    settings.chroma_url), name):
        return {}
    return {rel: d.doc_id for rel, d in manifest.documents.items()}


def duplicate_ids(claims: dict[str, str], indexed: dict[str, str]) -> tuple[list[Problem], set[str]]:
    """Files claiming an id another file claims too, and one problem for each of them, worded the same for all
    (so `check` and `ingest` name the same files). `claims`: path -> id of the files to index; `indexed`: path ->
    id in the store. None of them is (re)indexed; what the store holds for them stays."""
    by_id: dict[str, list[str]] = {}
    for rel, doc_id in sorted(claims.items()):
        by_id.setdefault(doc_id, []).append(rel)
    problems: list[Problem] = []
    refused: set[str] = set()
    for doc_id, paths in by_id.items():
        if len(paths) < 2:
            continue
        holders = [rel for rel in paths if indexed.get(rel) == doc_id]
        stays = f"; the indexed version of {', '.join(holders)} stays searchable" if holders else ""
        for rel in paths:
            problems.append(Problem(path=rel, field="id", message=f"id '{doc_id}' is used by {len(paths)} files: "
                                    f"{', '.join(paths)}", fix=f"give each document its own id; until then none of "
                                    f"these files is (re)indexed{stays}"))
        refused.update(paths)
    return problems, refused


def ingest(settings: Settings, only: Path | None = None, rebuild: bool = False,
           progress: Progress | None = None) -> IngestReport:
    started = time.perf_counter()
    knowledge_dir = settings.knowledge_dir
    if not knowledge_dir.is_dir():
        raise StoreError(f"The knowledge folder {knowledge_dir} does not exist. Set ADVISOR_KNOWLEDGE_DIR.")
    scope = only.resolve() if only is not None else None
    if scope is not None and not scope.is_relative_to(knowledge_dir):
        raise StoreError(f"{only} is not inside the knowledge folder {knowledge_dir}.")
    if scope is not None and rebuild:
        raise StoreError("`advisor ingest --rebuild` rebuilds the whole knowledge base: run it without a path.")

    embedder = embedder_for(settings)
    where = location(settings.store_dir, settings.chroma_url)
    name = collection_name(embedder.label)
    paths, found = discover(knowledge_dir, scope)
    files = {_rel(p, knowledge_dir): p for p in paths}
    hashes = {rel: _hash_or_blank(p) for rel, p in files.items()}

    def in_scope(rel: str) -> bool:
        return scope is None or (knowledge_dir / rel).resolve().is_relative_to(scope)

    manifest = read_manifest(settings.store_dir)
    if not rebuild and manifest is not None and manifest.matches(where, name):
        indexed = {rel: d for rel, d in manifest.documents.items() if in_scope(rel)}
        if all(indexed.get(rel) and indexed[rel].file_hash == h for rel, h in hashes.items()) and set(indexed) <= set(hashes):
            # Nothing to do: answered from the manifest alone, without loading Chroma or the model.
            return IngestReport(unchanged=sorted(hashes), problems=found, seconds=time.perf_counter() - started)

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
        run = _Run(settings, embedder, files, hashes, in_scope, rebuild, progress)
        run.report.problems.extend(found)
        run.execute()
        run.report.seconds = time.perf_counter() - started
        return run.report
    finally:
        lock.release()


def _hash_or_blank(path: Path) -> str:
    """A file that cannot be read gets no hash: it is then loaded, and loading reports why it cannot be read."""
    try:
        return file_hash(path)
    except OSError:
        return ""


class _Run:
    """One ingest under the writer lock: what the target collection holds (`stored`, kept up to date as records
    are written and removed), what readers saw before (`served`), and the report."""

    def __init__(self, settings, embedder, files, hashes, in_scope, rebuild, progress):
        self.settings = settings
        self.embedder = embedder
        self.files: dict[str, Path] = files
        self.hashes: dict[str, str] = hashes
        self.in_scope = in_scope
        self.rebuild = rebuild
        self.progress: Progress = progress or (lambda stage, done, total: None)
        self.store = KnowledgeStore(settings.store_dir, settings.chroma_url, embedder.label)
        self.report = IngestReport()
        self.changes: list[DocumentChange] = []
        previous = read_manifest(settings.store_dir)
        # Titles and summaries the store's metadata does not hold, by (path, file hash).
        self.described = {(rel, d.file_hash): d for rel, d in previous.documents.items()} if previous else {}

    def current(self, rel: str) -> StoredVersion | None:
        """The target's complete version of a file as it is now, if it holds one."""
        version = self.stored.get(rel, {}).get(self.hashes.get(rel, ""))
        return version if version is not None and version.complete else None

    def execute(self) -> None:
        store = self.store
        live = store.live_name()
        self.building = store.begin_write(self.rebuild)
        self.stored: Inventory = store.inventory()
        if self.building:
            self.served: Inventory = store.inventory(live) if live is not None else {}
        else:
            self.served = {rel: dict(versions) for rel, versions in self.stored.items()}
        self.live = live

        docs, failed = self._read([rel for rel in sorted(self.files) if self.current(rel) is None])
        claims = {rel: v.doc_id for rel, versions in self.stored.items() if not self.in_scope(rel)
                  for v in versions.values() if v.complete}
        claims |= {rel: self.current(rel).doc_id for rel in self.files if self.current(rel) is not None}
        claims |= {d.path: d.meta.id for d in docs}
        clashes, refused = duplicate_ids(claims, _ids(self.served))
        self.report.problems.extend(clashes)
        resumed = [rel for rel in sorted(self.files) if self.current(rel) is not None and rel not in refused]
        if self.building and self.rebuild:
            self.report.added.extend(resumed)  # finished by the interrupted rebuild this one resumes
        else:
            self.report.unchanged = resumed

        self._write([d for d in docs if d.path not in refused])
        claimed = {doc_id: rel for rel, doc_id in failed.items() if doc_id}
        for rel in sorted(set(self.stored) | set(self.served)):
            if rel in self.files and rel not in failed and rel not in refused:
                version = self.current(rel)
                if version is not None:
                    self._remove(rel, set(self.stored[rel]) - {self.hashes[rel]})
            elif rel in self.files or not self.in_scope(rel):
                self._keep(rel)
            elif new := next((claimed[v.doc_id] for v in self.served.get(rel, {}).values()
                              if v.complete and v.doc_id in claimed), None):
                self._keep(rel)
                self.report.problems.append(Problem(
                    path=rel, severity="warning", message=f"the file is gone, but {new} has its id and cannot be "
                    "indexed yet: the indexed version stays searchable", fix=f"fix {new}, then run ingest again"))
            else:
                self._remove(rel, None)
        self._finish()

    def _read(self, to_load: list[str]) -> tuple[list[LoadedDocument], dict[str, str | None]]:
        """The files to (re)index, loaded, and the ones that failed with the id each claims."""
        docs: list[LoadedDocument] = []
        failed: dict[str, str | None] = {}
        for i, rel in enumerate(to_load):
            try:
                doc = load(self.files[rel], self.settings.knowledge_dir)
            except KnowledgeFileError as exc:
                self.report.problems.extend(exc.problems)
                failed[rel] = peek_id(self.files[rel])
            else:
                docs.append(doc)
                self.report.problems.extend(doc.warnings)
            self.progress("read", i + 1, len(to_load))
        return docs, failed

    def _write(self, docs: list[LoadedDocument]) -> None:
        """Embed and write one document at a time, so an interrupted run (or rebuild) keeps what it finished and
        the next one resumes there. Embedding per document rather than all at once measured 3-5% slower on five
        documents of the shipped knowledge base (batches sorted by length pad less across more texts)."""
        chunked = [(doc, chunk_document(doc)) for doc in docs]
        total = sum(len(chunks) for _, chunks in chunked)
        done = 0

        def on_batch(n: int) -> None:
            nonlocal done
            done += n
            self.progress("embed", done, total)

        for doc, chunks in chunked:
            if not chunks:
                continue
            self.store.add(chunks, _embed(self.embedder, chunks, on_batch))
            self._remove(doc.path, set(self.stored.get(doc.path, {})) - {doc.file_hash})
            version = StoredVersion(doc_id=doc.meta.id, title=doc.meta.title, doc_type=doc.meta.doc_type,
                                    updated=doc.meta.updated.isoformat(), url=str(doc.meta.sources[0].url),
                                    chunks=len(chunks), complete=True)
            self.stored.setdefault(doc.path, {})[doc.file_hash] = version
            self.described[(doc.path, doc.file_hash)] = _entry(version, doc.file_hash, doc.meta.summary)
            kind = "updated" if doc.path in self.served and not self.rebuild else "added"
            (self.report.updated if kind == "updated" else self.report.added).append(doc.path)
            self.changes.append(_change(kind, doc.path, self.described[(doc.path, doc.file_hash)]))
            self.report.chunks += len(chunks)

    def _keep(self, rel: str) -> None:
        """Leave a file as readers saw it: the target holds exactly the complete versions served before (in a
        build, carried over from the live collection)."""
        served = {h for h, v in self.served.get(rel, {}).items() if v.complete}
        self._remove(rel, set(self.stored.get(rel, {})) - served)
        for file_hash in sorted(served - set(self.stored.get(rel, {}))):
            self._carry(rel, file_hash)

    def _carry(self, rel: str, file_hash: str) -> None:
        """Copy a version from the live collection into the build: with its vectors when they come from the same
        model, else embedded again from its stored text."""
        assert self.live is not None
        rows = self.store.records(self.live, rel, file_hash)
        if base_of(self.live) == self.store.name:
            self.store.add_records(*map(list, zip(*rows)))
        else:
            chunks = [Chunk(**({"page": None, "country": None, "city_size": None, "topics": []} | meta), id=cid,
                            text=text) for cid, text, meta, _ in rows]
            self.store.add(chunks, _embed(self.embedder, chunks, lambda n: None))
        self.stored.setdefault(rel, {})[file_hash] = self.served[rel][file_hash]

    def _remove(self, rel: str, file_hashes: set[str] | None) -> None:
        if file_hashes is not None and not file_hashes or rel not in self.stored:
            return
        self.store.remove(rel, file_hashes)
        if file_hashes is None:
            del self.stored[rel]
        else:
            self.stored[rel] = {h: v for h, v in self.stored[rel].items() if h not in file_hashes}

    def _finish(self) -> None:
        """Switch (a build), then the manifest from what the store now holds, then drop what is superseded."""
        manifest = Manifest(location=location(self.settings.store_dir, self.settings.chroma_url),
                            collection=self.store.name, live=self.store.target or "", format=FORMAT,
                            documents=_documents(self.stored, self.hashes, self.described))
        for rel in sorted(set(_ids(self.served)) - set(manifest.documents)):
            if self.in_scope(rel):
                self.report.removed.append(rel)
                version_hash, version = next((h, v) for h, v in self.served[rel].items() if v.complete)
                self.changes.append(_change("removed", rel, self.described.get((rel, version_hash))
                                            or _entry(version, version_hash, "")))
        for paths in (self.report.added, self.report.updated, self.report.removed):
            paths.sort()
        if self.building:
            self.store.switch()
        write_manifest(self.settings.store_dir, manifest)
        self.store.drop_superseded(everything_else=self.building)
        record_run(self.settings.store_dir, self.changes)


def _ids(inventory: Inventory) -> dict[str, str]:
    """path -> id of each file with a complete version."""
    return {rel: v.doc_id for rel, versions in inventory.items() for v in versions.values() if v.complete}


def _entry(version: StoredVersion, file_hash: str, summary: str) -> IndexedDocument:
    return IndexedDocument(**version.model_dump(exclude={"complete"}), file_hash=file_hash, summary=summary)


def _documents(inventory: Inventory, hashes: dict[str, str],
               described: dict[tuple[str, str], IndexedDocument]) -> dict[str, IndexedDocument]:
    """The manifest's entries: per path, its complete version (the file's current one where there are two)."""
    out = {}
    for rel, versions in sorted(inventory.items()):
        complete = {h: v for h, v in versions.items() if v.complete}
        if not complete:
            continue
        file_hash = hashes.get(rel) if hashes.get(rel) in complete else sorted(complete)[0]
        known = described.get((rel, file_hash))
        version = complete[file_hash]
        out[rel] = known.model_copy(update={"chunks": version.chunks}) if known else _entry(version, file_hash, "")
    return out


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


def indexed_documents(settings: Settings) -> Manifest | None:
    """What the store holds, for `advisor sources` and front doors' "about" pages (no model load)."""
    manifest = read_manifest(settings.store_dir)
    where = location(settings.store_dir, settings.chroma_url)
    store = store_for(settings)
    if manifest is not None and manifest.matches(where, store.name):
        return manifest
    try:
        documents = _documents(store.inventory(), {}, {})
    except StoreError:
        return None
    return Manifest(location=where, collection=store.name, live=store.live_name() or "", format=FORMAT,
                    documents=documents)
