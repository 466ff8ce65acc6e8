"""Hybrid retrieval: dense search and BM25 fused by reciprocal rank fusion, then near-duplicates merged and
neighbouring chunks of one section joined, so each passage the composer sees is whole and distinct.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from engine.index import KnowledgeIndex
from engine.models import Filters, Passage
from engine.text import names, tokens

RRF_K = 60
CANDIDATES = 30
Mode = Literal["hybrid", "dense", "lexical"]


@dataclass
class Query:
    """What retrieval searches with: the question, plus English glossary terms for other languages."""

    text: str
    language: str
    english_terms: list[str] = field(default_factory=list)
    about_terms: bool = False  # the question asks about terminology, so the translation table may answer it
    asked: str = ""  # the question itself, without instruction clauses or earlier turns

    @property
    def dense_text(self) -> str:
        return " ".join([self.text, *self.english_terms])

    @property
    def lexical_tokens(self) -> list[str]:
        toks = tokens(self.text, self.language)
        if self.language != "en":
            toks += tokens(self.text, "en") + tokens(" ".join(self.english_terms), "en")
        return list(dict.fromkeys(toks))


@dataclass
class Retrieval:
    passages: list[Passage]
    scores: list[float]
    dense_top: float  # best cosine similarity among dense hits
    coverage: float  # share of the question's content words in the best passages


def rrf(rankings: list[list[str]]) -> dict[str, float]:
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, cid in enumerate(ranking):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
    return fused


def retrieve(index: KnowledgeIndex, query: Query, vector, top_k: int, filters: Filters | None = None,
             mode: Mode = "hybrid") -> Retrieval:
    filters = filters or Filters()
    lexical_tokens = query.lexical_tokens
    dense_hits = index.dense(vector, CANDIDATES, filters) if mode != "lexical" and vector is not None else []
    lexical_hits = index.lexical(lexical_tokens, CANDIDATES, filters) if mode != "dense" else []
    if not query.about_terms:
        # The table holds every key term in six languages, so it matches any question in any language; it is
        # there to expand queries, not to answer them.
        dense_hits = [h for h in dense_hits if h[0] not in index.translation_table]
        lexical_hits = [h for h in lexical_hits if h[0] not in index.translation_table]
    rankings = [[cid for cid, _ in hits] for hits in (dense_hits, lexical_hits) if hits]
    fused = rrf(rankings)
    best_possible = len(rankings) / (RRF_K + 1) if rankings else 1.0
    ordered = sorted(fused, key=lambda cid: (-fused[cid], cid))

    passages: list[Passage] = []
    scores: list[float] = []
    used: set[str] = set()
    for cid in ordered:
        if cid in used:
            continue
        merged = _join_with_neighbours(index, cid, fused, used)
        if any(_near_duplicate(index, merged.ids, p.ids) for p in passages):
            used.update(merged.ids)
            continue
        used.update(merged.ids)
        passages.append(merged)
        scores.append(round(fused[cid] / best_possible, 4))
        if len(passages) >= top_k:
            break

    dense_top = max((sim for _, sim in dense_hits), default=0.0)
    top_ids = [i for p in passages[:3] for i in p.ids]
    return Retrieval(passages, scores, dense_top, index.coverage(_coverage_tokens(index, query), top_ids))


def _coverage_tokens(index: KnowledgeIndex, query: Query) -> list[str]:
    """The topic words the best passages should contain. Names (capitalised words after the first) are left out:
    "the weather in Brussels" is not covered because Brussels is. For a question in another language the words
    are its glossary terms in English plus the words the English knowledge base knows; its own words would count
    as missing from every passage."""
    if query.language == "en" or not query.english_terms:
        wanted = query.lexical_tokens
    else:
        known = [t for t in query.lexical_tokens if t in index.vocabulary]
        wanted = list(dict.fromkeys(tokens(" ".join(query.english_terms)) + known))
    if query.language == "de":  # German capitalises every noun, so capitals do not mark names there
        return wanted
    named = {t for name in names(query.text) for t in tokens(name)}
    return [t for t in wanted if t not in named] or wanted


def _join_with_neighbours(index: KnowledgeIndex, cid: str, fused: dict[str, float], used: set[str]) -> Passage:
    """Join the chunk with adjacent chunks of the same section that also ranked, so a passage reads whole."""
    ids = [cid]
    for step in (-1, 1):
        other = index.neighbour(cid, step)
        if other and other in fused and other not in used:
            ids.insert(0 if step < 0 else len(ids), other)
    if len(ids) == 1:
        return index.passages[cid]
    parts = [index.passages[i] for i in ids]
    text = parts[0].text
    for part in parts[1:]:
        text = _append_without_overlap(text, part.text)
    return parts[0].model_copy(update={"ids": ids, "text": text})


def _append_without_overlap(left: str, right: str) -> str:
    # The splitter repeats up to OVERLAP_CHARS of the previous chunk; drop that repeat when joining.
    for size in range(min(len(left), len(right), 300), 20, -1):
        if left.endswith(right[:size]):
            return left + right[size:]
    return left + "\n" + right


def _near_duplicate(index: KnowledgeIndex, a: list[str], b: list[str]) -> bool:
    ta = set().union(*(index.chunk_tokens[i] for i in a))
    tb = set().union(*(index.chunk_tokens[i] for i in b))
    if not ta or not tb:
        return False
    return len(ta & tb) / len(ta | tb) >= 0.85
