"""The default composer, needing no language model: it picks sentences from the retrieved passages that answer
the question, orders them (direct answer, then what to do from guidance, then an example from a case study)
and gives each its `[n]` citation. Deterministic; every sentence it emits comes from a cited passage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.index import KnowledgeIndex
from engine.models import Passage
from engine.text import sentences, tokens

MAX_DIRECT = 3
MIN_CHARS, MAX_CHARS = 30, 600
_NUMERIC_QUESTION = re.compile(
    r"\b(how many|how much|when|what year|which year|number|figure|percent|per ?cent|rate|hoeveel|wanneer|combien|"
    r"quand|wie viele|wann|cuánt|cuando|quant|quando)\b", re.IGNORECASE)
_NOT_PROSE = re.compile(r"^\s*(\||#|sources?\s*:)", re.IGNORECASE)
# A sentence opening with a pronoun leans on the one before it, which the answer may not show.
_DANGLING = re.compile(r"^(they|it|its|this|these|those|such|he|she|his|her|their|that|both|here|there)\b",
                       re.IGNORECASE)
# Sentences about the document itself ("this document", "see below") say little out of context.
_SELF_REFERENCE = re.compile(r"\b(this (document|section|file|page)|below|above)\b", re.IGNORECASE)
DANGLING_FACTOR, SELF_REFERENCE_FACTOR = 0.6, 0.8
# A question word found only in the passage's title or heading counts for part of a word in the sentence: the
# sentences of a section titled "criticisms" answer "what are the criticisms?" without repeating the word.
# 0.75 measured best for key-fact coverage on the development set (0, 0.25, 0.5, 0.75, 1: .588 .600 .600 .611 .588).
CONTEXT_WEIGHT = 0.75
_FIGURE = re.compile(r"\d[\d.,]*\d|\d")


@dataclass
class Candidate:
    text: str
    passage: int  # index into the passages list
    score: float
    tokens: set[str]


@dataclass
class Composed:
    """Sentences in answer order, each with the index of the passage it came from, grouped by role."""

    direct: list[Candidate]
    guidance: Candidate | None
    example: Candidate | None


def _candidates(index: KnowledgeIndex, passages: list[Passage], passage_scores: list[float],
                query_tokens: list[str], numeric: bool) -> list[Candidate]:
    weights = {t: max(index.idf(t), 0.05) for t in query_tokens}
    total = sum(weights.values()) or 1.0
    out = []
    for pi, passage in enumerate(passages):
        prior = passage_scores[pi] if pi < len(passage_scores) else 0.0
        context = set(tokens(f"{passage.title} {passage.section}"))
        for position, sentence in enumerate(sentences(passage.text)):
            if len(sentence) < MIN_CHARS or len(sentence) > MAX_CHARS or _NOT_PROSE.match(sentence):
                continue
            toks = set(tokens(sentence))
            overlap = sum(w if t in toks else CONTEXT_WEIGHT * w for t, w in weights.items()
                          if t in toks or t in context) / total
            score = overlap + 0.35 * prior + (0.05 if position == 0 else 0.0)
            if numeric and re.search(r"\d", sentence):
                score += 0.1
            if _DANGLING.match(sentence):
                score *= DANGLING_FACTOR
            if _SELF_REFERENCE.search(sentence):
                score *= SELF_REFERENCE_FACTOR
            out.append(Candidate(sentence, pi, score, toks))
    return sorted(out, key=lambda c: (-c.score, c.passage, c.text))


def _redundant(candidate: Candidate, chosen: list[Candidate]) -> bool:
    """Mostly the same words, or the same figures (two sources quoting one statistic)."""
    figures = {f for f in _FIGURE.findall(candidate.text) if len(f) > 2}
    for other in chosen:
        union = candidate.tokens | other.tokens
        if union and len(candidate.tokens & other.tokens) / len(union) > 0.5:
            return True
        if len(figures & set(_FIGURE.findall(other.text))) >= 2:
            return True
    return False


def select(index: KnowledgeIndex, question: str, passages: list[Passage], passage_scores: list[float],
           query_tokens: list[str]) -> Composed:
    numeric = bool(_NUMERIC_QUESTION.search(question))
    ranked = _candidates(index, passages, passage_scores, query_tokens, numeric)
    if not ranked:
        return Composed([], None, None)
    best = ranked[0].score
    direct: list[Candidate] = []
    for cand in ranked:
        if len(direct) >= MAX_DIRECT or cand.score < 0.55 * best:
            break
        if not _redundant(cand, direct):
            direct.append(cand)
    # Keep the direct answer in reading order within each passage, best passage first.
    direct.sort(key=lambda c: (c.passage, passages[c.passage].text.find(c.text)))

    def best_of(doc_type: str) -> Candidate | None:
        if any(passages[c.passage].doc_type == doc_type for c in direct):
            return None
        for cand in ranked:
            if passages[cand.passage].doc_type == doc_type and cand.score >= 0.4 * best and not _redundant(cand, direct):
                return cand
        return None

    return Composed(direct, best_of("guidance"), best_of("case_study"))
