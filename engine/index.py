"""The searchable knowledge base in memory: every section from the store, a BM25 index over them (Chroma's local
store has no keyword search), the embeddings of every unit, and the glossary.

The store holds whole sections plus the units that find them (windows of sentences, questions a section answers).
Dense search compares the question with every unit in memory (one matrix product: about 1,600 units for the
shipped knowledge base, 2.5 MB) and scores each section by its best unit of each kind. Built once per process
from the store; `refresh_if_changed` reloads it after an ingest.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi
from threadpoolctl import threadpool_limits

from engine.approved import ApprovedAnswer, ApprovedAnswers
from engine.glossary import Glossary, is_translation_table, parse_rows
from engine.models import Claim, Filters, Passage
from engine.text import tokens
from engine.topics import names_in
from ingest.manifest import manifest_path
from ingest.models import Approval
from ingest.store import KnowledgeStore, StoreError

KINDS = ("section", "window", "question", "translation")


@dataclass(frozen=True)
class SectionMatch:
    """How close in meaning a question came to one section, per kind of unit: its heading and opening
    (`opening`), its best window of sentences, its best listed question. Cosine similarities, and for windows and
    questions also standard scores among all units of that kind (`*_z`): e5 similarities crowd into a narrow band
    whose place depends on the question, so only a unit's standing against the others says how close it is. A
    section without questions has None there."""

    opening: float
    window: float
    question: float | None
    window_z: float
    question_z: float | None
    windows: tuple[float, ...] = ()  # the standing of each window of the section, in reading order


    @property
    def best(self) -> float:
        return max(self.opening, self.window, self.question or 0.0)


def _passage(cid: str, text: str, m: dict) -> Passage:
    return Passage(id=cid, text=text, doc_id=m["doc_id"], source=m["source"], title=m["title"], section=m["section"],
                   page=m.get("page"), url=m["url"], doc_type=m["doc_type"], chunk_index=m["chunk_index"],
                   claims=[Claim.model_validate(c) for c in json.loads(m["claims"])] if m.get("claims") else [])


@dataclass(frozen=True)
class Translation:
    """A section translated; `current`: it translates the English text as it is now (else it may be out of date)."""

    passage: Passage
    current: bool


class KnowledgeIndex:
    def __init__(self, store: KnowledgeStore):
        # The unit matrix product is tiny, and BLAS threads left spinning after it slow the embedding engine's own
        # threads: one BLAS thread took a question from 69 to 29 ms (median of 21 questions, 2 cores).
        threadpool_limits(limits=1, user_api="blas")
        self.store = store
        self._lock = threading.Lock()
        self._loaded_stamp: float | None = None
        self._load()

    def _stamp(self) -> float | None:
        path: Path = manifest_path(self.store.store_dir)
        return path.stat().st_mtime if path.exists() else None

    def _load(self) -> None:
        rows, vectors = self.store.all_with_vectors()
        if not rows:
            raise StoreError("The knowledge base is empty. Add files to the knowledge folder and run `advisor ingest`.")
        order = sorted(range(len(rows)), key=lambda i: (rows[i][2]["source"], rows[i][2]["chunk_index"]))
        rows = [rows[i] for i in order]
        # Approved answers are served whole when a question matches one of their phrasings (engine/approved.py),
        # never quoted as a section among others: they stay out of retrieval.
        approved = {cid: m for cid, _, m in rows if m["kind"] == "section" and m.get("approval")}
        sections = [r for r in rows if r[2]["kind"] == "section" and r[0] not in approved]
        self.ids = [cid for cid, _, _ in sections]
        self.meta = {cid: m for cid, _, m in sections}
        self.section_of = {cid: m["section_id"] for cid, _, m in rows}
        questions: dict[str, list[str]] = {}
        for _, text, m in rows:
            if m["kind"] == "question":
                questions.setdefault(m["section_id"], []).append(text)
        self.passages = {cid: _passage(cid, text, m) for cid, text, m in sections}
        every = self._translations(rows, {**self.meta, **approved})
        self.translations = {cid: t for cid, t in every.items() if cid not in approved}
        # A section's words in every language it is translated into, each stemmed in its language, so a Dutch
        # question also meets the Dutch words: on the tuning half, section hit@1 for questions in Dutch, French and
        # German went from 0.63 to 0.70 (English questions 0.76 to 0.77, all 0.729 to 0.744).
        corpus = [tokens(f"{p.title} {p.section} {p.text} {' '.join(questions.get(cid, []))}")
                  + [t for language, translated in self.translations.get(cid, {}).items()
                     for t in tokens(f"{translated.passage.section} {translated.passage.text}", language)]
                  for cid, p in self.passages.items()]
        self.bm25 = BM25Okapi(corpus)
        self.section_tokens = {cid: set(toks) for cid, toks in zip(self.ids, corpus)}
        self.vocabulary = set().union(*self.section_tokens.values())
        # For the words a question is about (engine/topics.py): the words of the sections' headings, in every
        # language they are translated into, and the tokens the knowledge base uses as names.
        self.heading_tokens = {t for cid, p in self.passages.items() for t in tokens(p.section)} | {
            t for cid in self.passages for language, translated in self.translations.get(cid, {}).items()
            for t in tokens(translated.passage.section, language)}
        self.names = names_in(line for p in self.passages.values() for line in p.text.split("\n"))
        self.glossary = Glossary(parse_rows(p.text for p in self.passages.values() if p.doc_type == "glossary"))
        self.translation_table = {cid for cid, p in self.passages.items()
                                  if p.doc_type == "glossary" and is_translation_table(p.text)}
        position = {cid: i for i, cid in enumerate(self.ids)}
        self._vectors = vectors[order]
        self._unit_section = np.array([position.get(self.section_of[cid], -1) for cid, _, _ in rows])
        self._unit_kind = np.array([KINDS.index(m["kind"]) for _, _, m in rows])
        windows: dict[int, list[int]] = {}
        for unit in np.flatnonzero((self._unit_kind == KINDS.index("window")) & (self._unit_section >= 0)):
            windows.setdefault(int(self._unit_section[unit]), []).append(int(unit))
        self._section_windows = windows  # rows are in reading order, so each list is too
        self.approved = self._approved(rows, approved, every)
        self.documents = sorted({(m["doc_type"], m["title"]) for m in self.meta.values()})
        # Document titles in each translated language, by English title (help texts list what the base holds).
        self.titles_in: dict[str, dict[str, str]] = {}
        for cid, languages in self.translations.items():
            if cid not in self.meta:
                continue  # an approved answer, not a document of the knowledge base's list
            for language, translated in languages.items():
                self.titles_in.setdefault(language, {})[self.meta[cid]["title"]] = translated.passage.title
        self._loaded_stamp = self._stamp()

    def _approved(self, rows, approved: dict[str, dict], translations) -> ApprovedAnswers:
        """The approved answers, their phrasings' vectors and the sections' listed questions they compete with."""
        by_anchor = {f"{m['source']}#{m['anchor']}": cid for cid, m in self.meta.items() if m.get("anchor")}
        answers = {}
        for cid, text, m in rows:
            if cid in approved:
                approval = Approval.model_validate_json(m["approval"])
                answers[cid] = ApprovedAnswer(
                    passage=_passage(cid, text, m), approval=approval, translations=translations.get(cid, {}),
                    sections=tuple(by_anchor[ref] for ref in approval.sections if ref in by_anchor))
        phrasings, questions = [], []
        for (cid, _, m), vector in zip(rows, self._vectors):
            if m["kind"] == "question":
                owner = self.section_of[cid]
                (phrasings if owner in approved else questions).append((owner, vector))
        return ApprovedAnswers(answers, phrasings, questions)

    @staticmethod
    def _translations(rows, meta: dict[str, dict]) -> dict[str, dict[str, Translation]]:
        """Each English section's translations by language, and whether each still translates the current text."""
        english = {f"{m['source']}#{m['anchor']}": cid for cid, _, m in rows if m["kind"] == "section" and m.get("anchor")}
        out: dict[str, dict[str, Translation]] = {}
        for cid, text, m in rows:
            target = english.get(m.get("translates") or "")
            if m["kind"] != "translation" or target is None:
                continue
            current = m.get("translated_from") == meta[target].get("version")
            out.setdefault(target, {})[m["language"]] = Translation(passage=_passage(cid, text, m), current=current)
        return out

    def translation(self, section_id: str, language: str) -> Translation | None:
        """A section (or approved answer) in another language, when the knowledge base has it
        (ingest/translations.py)."""
        approved = self.approved.answers.get(section_id)
        return (approved.translations if approved else self.translations.get(section_id, {})).get(language)

    def refresh_if_changed(self) -> bool:
        """Reload after an ingest (the manifest changes with every write); cheap when nothing changed."""
        if self._stamp() == self._loaded_stamp:
            return False
        with self._lock:
            if self._stamp() != self._loaded_stamp:
                self.store.forget_collection()  # the collection may have been rebuilt
                self._load()
                return True
        return False

    def idf(self, token: str) -> float:
        return float(self.bm25.idf.get(token, 0.0))

    def lexical(self, query_tokens: list[str], filters: Filters) -> dict[str, float]:
        """BM25 score of every section that shares a word with the question."""
        if not query_tokens:
            return {}
        scores = self.bm25.get_scores(query_tokens)
        return {cid: float(s) for cid, s in zip(self.ids, scores) if s > 0 and filters.accepts(self.meta[cid])}

    def dense(self, vector: np.ndarray, filters: Filters) -> dict[str, SectionMatch]:
        """Every section (that the filters accept) with how close its units come to the question."""
        similarities = self._vectors @ vector
        raw = np.full((len(KINDS), len(self.ids)), np.nan)
        standard = np.full((len(KINDS), len(self.ids)), np.nan)
        unit_z = np.zeros(len(similarities))
        for k in range(len(KINDS)):
            mask = (self._unit_kind == k) & (self._unit_section >= 0)
            if not mask.any():
                continue
            values = similarities[mask]
            unit_z[mask] = (values - values.mean()) / (values.std() or 1.0)
            np.fmax.at(raw[k], self._unit_section[mask], values)
            np.fmax.at(standard[k], self._unit_section[mask], unit_z[mask])
        window = np.where(np.isnan(raw[1]), 0, 1)  # a section too short for windows stands for itself
        columns = np.arange(len(self.ids))
        window_raw, window_z = raw[window, columns], standard[window, columns]
        out = {}
        for i in np.flatnonzero(~np.isnan(raw[0])):
            cid = self.ids[i]
            if not filters.accepts(self.meta[cid]):
                continue
            asked = not np.isnan(raw[2, i])
            out[cid] = SectionMatch(
                opening=float(raw[0, i]), window=float(window_raw[i]), question=float(raw[2, i]) if asked else None,
                window_z=float(window_z[i]),
                question_z=float(standard[2, i]) if asked else None,
                windows=tuple(float(z) for z in unit_z[self._section_windows.get(i, [])]))
        return out

    def coverage(self, query_tokens: list[str], section_ids: list[str]) -> float:
        """Share of the question's (idf-weighted) content words found in the given sections."""
        known = list(dict.fromkeys(query_tokens))
        if not known:
            return 0.0
        present = set().union(*(self.section_tokens[c] for c in section_ids)) if section_ids else set()
        weight = {t: max(self.idf(t), 0.1) if t in self.vocabulary else math.log(len(self.ids) + 1) for t in known}
        return sum(w for t, w in weight.items() if t in present) / sum(weight.values())
