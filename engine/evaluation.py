"""Evaluation on the development set (`eval/devset.jsonl`): retrieval quality for the hybrid retriever and
each single retriever, answer quality (key facts, citation validity), abstention, latency, and the abstention
threshold the set supports. One run, same questions, so variants are compared fairly.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from pydantic import BaseModel, Field

from engine.advisor import Advisor
from engine.citations import numbers_in, supported
from engine.models import Answer, Turn
from engine.text import sentences

MAX_FALSE_ABSTENTION = 0.05


class DevItem(BaseModel):
    id: str
    question: str
    language: str = "en"
    kind: str = "paraphrase"
    expected_sources: list[str] = Field(default_factory=list)
    key_facts: list[str] = Field(default_factory=list)
    history: list[str] = Field(default_factory=list)
    should_abstain: bool = False


class RetrievalScores(BaseModel):
    hit1: float
    hit5: float
    mrr: float
    hit5_other_languages: float


class Report(BaseModel):
    questions: int
    retrieval: dict[str, RetrievalScores]
    key_fact_coverage: float
    citation_validity: float
    abstention_precision: float
    abstention_recall: float
    false_abstention: float
    latency_p50_ms: float
    latency_p95_ms: float
    threshold: float
    suggested_threshold: float
    failures: list[dict] = Field(default_factory=list)


def load_devset(path: Path) -> list[DevItem]:
    return [DevItem.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _rank_of_expected(sources: list[str], expected: list[str]) -> int | None:
    for rank, source in enumerate(sources, start=1):
        if source in expected:
            return rank
    return None


def _retrieval(advisor: Advisor, items: list[DevItem], mode: str, glossary: bool = True) -> RetrievalScores:
    ranks: list[int | None] = []
    other: list[bool] = []
    for item in items:
        query = advisor.make_query(item.question, [Turn(question=h) for h in item.history])
        if not glossary:
            query.english_terms = []
        found = advisor.search(query, top_k=10, mode=mode)
        rank = _rank_of_expected([p.source for p in found.passages], item.expected_sources)
        ranks.append(rank)
        if item.language != "en":
            other.append(rank is not None and rank <= 5)
    n = len(ranks) or 1
    return RetrievalScores(
        hit1=round(sum(r == 1 for r in ranks) / n, 3),
        hit5=round(sum(r is not None and r <= 5 for r in ranks) / n, 3),
        mrr=round(sum(1 / r for r in ranks if r) / n, 3),
        hit5_other_languages=round(sum(other) / (len(other) or 1), 3),
    )


def citation_valid(advisor: Advisor, answer: Answer) -> bool:
    """Every sentence cites a listed, retrieved passage that contains the sentence's key words."""
    retrieved = {(r.source, r.section) for r in answer.retrieved}
    by_number = {c.n: c for c in answer.citations}
    for sentence in sentences(answer.answer):
        if sentence.startswith(("_", "**")) and not numbers_in(sentence):
            continue  # a label line such as the note that sources are in English
        numbers = numbers_in(sentence)
        if not numbers or any(n not in by_number for n in numbers):
            return False
        cited = [by_number[n] for n in numbers]
        if any((c.source, c.section) not in retrieved for c in cited):
            return False
        texts = [p.text for p in advisor.index.passages.values() if any(
            p.source == c.source and p.section == c.section for c in cited)]
        if answer.language == "en" and not supported(sentence.split(":**")[-1], texts):
            return False
    return True


def evaluate(advisor: Advisor, items: list[DevItem]) -> Report:
    in_scope = [i for i in items if not i.should_abstain and i.expected_sources]
    retrieval = {mode: _retrieval(advisor, in_scope, mode) for mode in ("hybrid", "dense", "lexical")}
    # The cross-language method, measured: the same hybrid retrieval without the glossary's English terms.
    retrieval["hybrid, no glossary"] = _retrieval(advisor, in_scope, "hybrid", glossary=False)

    latencies, facts, valid = [], [], []
    true_abstain = false_abstain = missed = 0
    evidence_in, evidence_out = [], []
    failures = []
    for item in items:
        answer = advisor.ask(item.question, history=[Turn(question=h) for h in item.history])
        latencies.append(answer.timings_ms.total)
        (evidence_out if item.should_abstain else evidence_in).append(answer.evidence)
        if item.should_abstain:
            true_abstain += answer.abstained
            missed += not answer.abstained
        else:
            false_abstain += answer.abstained
        if not answer.abstained:
            valid.append(citation_valid(advisor, answer))
        if item.key_facts and not item.should_abstain:
            text = answer.answer.lower()
            share = sum(f.lower() in text for f in item.key_facts) / len(item.key_facts)
            facts.append(0.0 if answer.abstained else share)
        if answer.abstained != item.should_abstain:
            failures.append({"id": item.id, "question": item.question, "abstained": answer.abstained,
                             "evidence": answer.evidence})

    abstained_total = true_abstain + false_abstain
    should_total = sum(i.should_abstain for i in items)
    latencies.sort()
    return Report(
        questions=len(items),
        retrieval=retrieval,
        key_fact_coverage=round(statistics.fmean(facts), 3) if facts else 0.0,
        citation_validity=round(statistics.fmean(valid), 3) if valid else 0.0,
        abstention_precision=round(true_abstain / abstained_total, 3) if abstained_total else 1.0,
        abstention_recall=round(true_abstain / should_total, 3) if should_total else 1.0,
        false_abstention=round(false_abstain / (len(items) - should_total or 1), 3),
        latency_p50_ms=round(statistics.median(latencies), 1),
        latency_p95_ms=round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 1),
        threshold=advisor.threshold,
        suggested_threshold=suggest_threshold(evidence_in, evidence_out),
        failures=failures,
    )


def suggest_threshold(in_scope: list[float], out_of_scope: list[float]) -> float:
    """The threshold that abstains on the most out-of-scope questions while false abstention stays ≤ 5%."""
    if not in_scope:
        return 0.0
    ordered = sorted(in_scope)
    allowed = int(MAX_FALSE_ABSTENTION * len(ordered))
    # Abstaining below the (allowed+1)-th lowest in-scope score wrongly abstains on at most `allowed` questions.
    return round(ordered[allowed] - 1e-4, 4)


def report_json(report: Report) -> str:
    return json.dumps(report.model_dump(), indent=2)
