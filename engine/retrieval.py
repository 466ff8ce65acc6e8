"""Section retrieval: each section is scored by how its units stand against all units in meaning (its best
window of sentences, its best listed question) plus a share of its BM25 score, and the sections are ranked. A
section is what the composer answers from, so ranking sections is what officials feel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from engine.index import KnowledgeIndex, SectionMatch
from engine.models import Filters, Passage
from engine.text import names, tokens

# Weights chosen on the tuning half of the development set (section MRR, then hit@1), over a grid of window
# 0-1, question 0-1, opening 0-1 and BM25 0-4, when it held 91 in-scope questions with one gold section each:
# window 1, question 0.5, BM25 2 gave hit@1 0.659, hit@5 0.901, MRR 0.764; the heading-and-opening unit added
# nothing (weight 0), and the plateau around these values is flat (MRR within 0.01 for question 0.4-0.8, BM25
# 2-4). Run again once every answering section counted as gold, the grid kept these values on the plateau (MRR
# 0.845 against the best 0.854).
WINDOW_WEIGHT = 1.0
QUESTION_WEIGHT = 0.5
# On BM25 scaled to the best section's: it catches names and figures the embedding blurs ("Top600", "20.2%").
LEXICAL_WEIGHT = 2.0
Mode = Literal["hybrid", "dense", "lexical"]


@dataclass
class Query:
    """What retrieval searches with: the question, plus English glossary terms for other languages."""

    text: str
    language: str
    english_terms: list[str] = field(default_factory=list)
    about_terms: bool = False  # the question asks about terminology, so the translation table may answer it
    asked: str = ""  # the question without instruction clauses; empty when it was nothing but instructions
    alone: str = ""  # what is asked now, without earlier turns (the question itself when `asked` is empty)

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
    passages: list[Passage]  # whole sections, best first
    scores: list[float]
    matches: list[SectionMatch]  # how close in meaning the ranked sections came, by unit (dense modes only)
    windows: list[tuple[float, ...]]  # per ranked section, its windows' standing in meaning (empty: lexical only)
    dense_top: float  # best cosine similarity of any unit
    lexical_top: float  # best BM25 score of any section
    coverage: float  # share of the question's content words in the best sections


def section_score(match: SectionMatch | None, lexical: float, mode: Mode) -> float:
    """A section's score from its units' standing in meaning and its BM25 score (scaled to the best section's).
    A section that lists no questions counts its window in their place."""
    if mode == "lexical":
        return lexical
    dense = 0.0
    if match is not None:
        asked = match.question_z if match.question_z is not None else match.window_z
        dense = WINDOW_WEIGHT * match.window_z + QUESTION_WEIGHT * asked
    return dense + (LEXICAL_WEIGHT * lexical if mode == "hybrid" else 0.0)


def retrieve(index: KnowledgeIndex, query: Query, vector, top_k: int, filters: Filters | None = None,
             mode: Mode = "hybrid") -> Retrieval:
    filters = filters or Filters()
    dense = index.dense(vector, filters) if mode != "lexical" and vector is not None else {}
    lexical = index.lexical(query.lexical_tokens, filters) if mode != "dense" else {}
    top_lexical = max(lexical.values(), default=0.0) or 1.0
    candidates = set(dense) | set(lexical)
    if not query.about_terms:
        # The table holds every key term in six languages, so it matches any question in any language; it is
        # there to expand queries, not to answer them.
        candidates -= index.translation_table
    scored = {cid: section_score(dense.get(cid), lexical.get(cid, 0.0) / top_lexical, mode) for cid in candidates}
    ordered = sorted(scored, key=lambda cid: (-scored[cid], cid))[:top_k]
    return Retrieval(
        passages=[index.passages[cid] for cid in ordered],
        scores=[round(scored[cid], 4) for cid in ordered],
        matches=[dense[cid] for cid in ordered if cid in dense],
        windows=[dense[cid].windows if cid in dense else () for cid in ordered],
        dense_top=max((m.best for m in dense.values()), default=0.0),
        lexical_top=max(lexical.values(), default=0.0),
        coverage=index.coverage(_coverage_tokens(index, query), ordered[:3]),
    )


def _coverage_tokens(index: KnowledgeIndex, query: Query) -> list[str]:
    """The topic words the best sections should contain. Names (capitalised words after the first) are left out:
    "the weather in Brussels" is not covered because Brussels is. For a question in another language the words
    are its glossary terms in English plus the words the English knowledge base knows; its own words would count
    as missing from every section."""
    if query.language == "en" or not query.english_terms:
        wanted = query.lexical_tokens
    else:
        known = [t for t in query.lexical_tokens if t in index.vocabulary]
        wanted = list(dict.fromkeys(tokens(" ".join(query.english_terms)) + known))
    if query.language == "de":  # German capitalises every noun, so capitals do not mark names there
        return wanted
    named = {t for name in names(query.text) for t in tokens(name)}
    return [t for t in wanted if t not in named] or wanted
