"""The searchable knowledge base in memory: every chunk from the store, a BM25 index over them (Chroma's local
store has no keyword search), dense search through the store, and the glossary.

Built once per process from the store; `refresh_if_changed` reloads it after an ingest.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi

from engine.glossary import Glossary, is_translation_table, parse_rows
from engine.models import Filters, Passage
from engine.text import tokens
from ingest.manifest import manifest_path
from ingest.store import KnowledgeStore, StoreError


class KnowledgeIndex:
    def __init__(self, store: KnowledgeStore):
        self.store = store
        self._lock = threading.Lock()
        self._loaded_stamp: float | None = None
        self._load()

    def _stamp(self) -> float | None:
        path: Path = manifest_path(self.store.store_dir)
        return path.stat().st_mtime if path.exists() else None

    def _load(self) -> None:
        rows = self.store.all_chunks()
        if not rows:
            raise StoreError("The knowledge base is empty. Add files to the knowledge folder and run `advisor ingest`.")
        rows.sort(key=lambda r: (r[2]["source"], r[2]["chunk_index"]))
        self.ids = [r[0] for r in rows]
        self.meta = {r[0]: r[2] for r in rows}
        self.passages = {
            cid: Passage(ids=[cid], text=text, doc_id=m["doc_id"], source=m["source"], title=m["title"],
                         section=m["section"], page=m.get("page"), url=m["url"], doc_type=m["doc_type"],
                         chunk_index=m["chunk_index"])
            for cid, text, m in rows
        }
        self._by_position = {(m["doc_id"], m["chunk_index"]): cid for cid, m in self.meta.items()}
        corpus = [tokens(f"{p.title} {p.section} {p.text}") for p in self.passages.values()]
        self.bm25 = BM25Okapi(corpus)
        self.chunk_tokens = {cid: set(toks) for cid, toks in zip(self.ids, corpus)}
        self.vocabulary = set().union(*self.chunk_tokens.values())
        self.glossary = Glossary(parse_rows(p.text for p in self.passages.values() if p.doc_type == "glossary"))
        self.translation_table = {cid for cid, p in self.passages.items()
                                  if p.doc_type == "glossary" and is_translation_table(p.text)}
        self.documents = sorted({(m["doc_type"], m["title"]) for m in self.meta.values()})
        # The documents' topics (front matter), as token sets: what the knowledge base is about, in its own words.
        self.topics = {frozenset(tokens(t.replace("-", " "))) for m in self.meta.values() for t in m.get("topics") or []}
        self._loaded_stamp = self._stamp()

    def refresh_if_changed(self) -> bool:
        """Reload after an ingest (the manifest changes with every write); cheap when nothing changed."""
        if self._stamp() == self._loaded_stamp:
            return False
        with self._lock:
            if self._stamp() != self._loaded_stamp:
                self.store._collection = None  # the collection may have been rebuilt
                self._load()
                return True
        return False

    def names_a_topic(self, query_tokens: list[str]) -> bool:
        """Whether the question uses every word of one of the documents' topics ("youth gangs", "backbone")."""
        present = set(query_tokens)
        return any(topic and topic <= present for topic in self.topics)

    def idf(self, token: str) -> float:
        return float(self.bm25.idf.get(token, 0.0))

    def lexical(self, query_tokens: list[str], n: int, filters: Filters) -> list[tuple[str, float]]:
        if not query_tokens:
            return []
        scores = self.bm25.get_scores(query_tokens)
        order = np.argsort(-scores)
        out = []
        for i in order:
            if scores[i] <= 0 or len(out) >= n:
                break
            cid = self.ids[i]
            if filters.accepts(self.meta[cid]):
                out.append((cid, float(scores[i])))
        return out

    def dense(self, vector: np.ndarray, n: int, filters: Filters) -> list[tuple[str, float]]:
        n = min(n, len(self.ids))
        hits = self.store.query(vector, n, filters.chroma_where())
        return [(cid, sim) for cid, sim in hits if cid in self.passages]

    def neighbour(self, cid: str, step: int) -> str | None:
        m = self.meta[cid]
        other = self._by_position.get((m["doc_id"], m["chunk_index"] + step))
        return other if other and self.meta[other]["section"] == m["section"] else None

    def coverage(self, query_tokens: list[str], chunk_ids: list[str]) -> float:
        """Share of the question's (idf-weighted) content words found in the given chunks."""
        known = [t for t in dict.fromkeys(query_tokens)]
        if not known:
            return 0.0
        present = set().union(*(self.chunk_tokens[c] for c in chunk_ids)) if chunk_ids else set()
        weight = {t: max(self.idf(t), 0.1) if t in self.vocabulary else math.log(len(self.ids) + 1) for t in known}
        return sum(w for t, w in weight.items() if t in present) / sum(weight.values())
