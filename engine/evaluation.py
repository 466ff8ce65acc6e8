"""Evaluation on the development set (`eval/devset.jsonl`), where the gold answer to a question is the section
that answers it, plus the key facts an answer must contain. The set is split once into a tuning half and a test
half: constants are tuned on the first (`--split tune`), figures are reported on the second (`--split test`).

One run measures, for the same questions: section hit@1, hit@5 and MRR for the hybrid retriever and each single
retriever; how often the answer cites a gold section; key-fact coverage; abstention precision, recall (near
misses apart) and false abstention; answers with a sentence that leans on one not shown or talks about the
knowledge base; answer length; latency. These measure the engine itself, so approved answers are not served in
them; they are measured apart: how many questions get an approved answer they should not (a development-set
question gets one only when its `approved` field names it), and how many paraphrases (`eval/approved.jsonl`)
get the one they ask for.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, Field

from engine import abstention
from engine import approved as approved_answers
from engine.advisor import Advisor
from engine.citations import MARKER
from engine.compose_extractive import sentence_key
from engine.language import detect_language
from engine.models import Answer, Turn
from engine.text import sentences
from ingest.sentence_rules import leans_on_previous, talks_about_knowledge_base
from ingest.translations import TRANSLATED_LANGUAGES

MAX_FALSE_ABSTENTION = 0.05
Split = Literal["tune", "test", "all"]
Item = TypeVar("Item", "DevItem", "Paraphrase")


class GoldSection(BaseModel):
    source: str
    section: str


class DevItem(BaseModel):
    id: str
    split: Literal["tune", "test"]
    kind: str
    language: str = "en"
    question: str
    history: list[str] = Field(default_factory=list)
    gold: list[GoldSection] = Field(default_factory=list)
    key_facts: list[str] = Field(default_factory=list)
    should_abstain: bool = False
    approved: str | None = None  # the approved answer (its file) the question may be given, if any

    @property
    def turns(self) -> list[Turn]:
        return [Turn(question=h) for h in self.history]


class Paraphrase(BaseModel):
    """A question worded differently from every phrasing of the approved answer it asks for."""

    split: Literal["tune", "test"]
    language: str
    question: str
    approved: str


class ApprovedScores(BaseModel):
    answers: int  # approved answers served
    questions: int  # development-set questions looked at
    false_matches: list[str]  # ids of questions given an approved answer their `approved` field does not name
    labelled: int  # questions an approved answer may be given
    labelled_matched: int
    paraphrases: int
    paraphrases_matched: int  # given the approved answer they ask for
    floor: float
    margin: float


class RetrievalScores(BaseModel):
    hit1: float
    hit5: float
    mrr: float
    hit5_other_languages: float


class Report(BaseModel):
    split: str
    questions: int
    in_scope: int  # the questions with a gold section: the retrieval figures are over these
    retrieval: dict[str, RetrievalScores]
    cites_gold_section: float
    key_fact_coverage: float
    abstention_precision: float
    abstention_recall: float
    near_miss_recall: float
    false_abstention: float
    leaning_or_meta_answers: float
    # Of the answered questions in Dutch, French and German: the share whose answer body is in that language.
    answers_in_language: float
    words_median: float
    words_in_range: float  # share of answers of 60 to 180 words
    latency_p50_ms: float
    latency_p95_ms: float
    threshold: float
    approved: ApprovedScores | None = None
    failures: list[dict] = Field(default_factory=list)


def load_devset(path: Path, split: Split = "all") -> list[DevItem]:
    return _load_split(path, DevItem, split)


def load_paraphrases(path: Path, split: Split = "all") -> list[Paraphrase]:
    return _load_split(path, Paraphrase, split) if path.exists() else []


def _load_split(path: Path, model: type[Item], split: Split) -> list[Item]:
    """The items of a JSON Lines file in one half (or both)."""
    items = [model.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [i for i in items if split == "all" or i.split == split]


def _is_gold(item: DevItem, source: str, section: str) -> bool:
    return any(g.source == source and g.section == section for g in item.gold)


def _retrieval(advisor: Advisor, items: list[DevItem], mode: str, glossary: bool = True) -> RetrievalScores:
    ranks: list[int | None] = []
    other: list[bool] = []
    for item in items:
        query, _, _ = advisor.understand(item.question, item.turns, advisor.settings.top_k)
        if not glossary:
            query.english_terms = []
        found = advisor.search(query, top_k=10, mode=mode)
        rank = next((r for r, p in enumerate(found.passages, 1) if _is_gold(item, p.source, p.section)), None)
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


def leaning_or_meta(advisor: Advisor, answer: Answer) -> list[str]:
    """Sentences of an answer that lean on a sentence the answer does not show just before them, or that talk
    about the knowledge base."""
    by_number = {c.n: c for c in answer.citations}
    bad = []
    previous = ""
    for paragraph in answer.answer.split("\n\n"):
        previous = ""
        for sentence in sentences(paragraph, answer.language):
            body = MARKER.sub("", sentence.split(":**")[-1]).strip()
            if sentence.startswith("_") and not MARKER.search(sentence):
                continue  # a label line, such as the note that sources are in English
            if talks_about_knowledge_base(body):
                bad.append(sentence)
            elif leans_on_previous(body):
                cited = [by_number[int(n)] for n in MARKER.findall(sentence) if int(n) in by_number]
                lines = [line for p in advisor.index.passages.values() for c in cited
                         if p.source == c.source and p.section == c.section for line in p.text.split("\n")]
                keys = [sentence_key(line) for line in lines]
                here = sentence_key(body)
                before = keys[keys.index(here) - 1] if here in keys and keys.index(here) > 0 else None
                if before is None or before != sentence_key(previous):
                    bad.append(sentence)
            previous = body
    return bad


def evaluate(advisor: Advisor, items: list[DevItem], split: str = "all",
             paraphrases: list[Paraphrase] | None = None) -> Report:
    in_scope = [i for i in items if not i.should_abstain and i.gold]
    retrieval = {mode: _retrieval(advisor, in_scope, mode) for mode in ("hybrid", "dense", "lexical")}
    # The cross-language method, measured: the same hybrid retrieval without the glossary's English terms.
    retrieval["hybrid, no glossary"] = _retrieval(advisor, in_scope, "hybrid", glossary=False)

    latencies, facts, cites, flawed, lengths, in_language = [], [], [], [], [], []
    true_abstain = false_abstain = near_caught = 0
    # A citation of a translated section counts as the English section it translates.
    translated = {(t.passage.source, t.passage.section): (t.passage, advisor.index.passages[cid])
                  for cid, languages in advisor.index.translations.items() for t in languages.values()}
    english_of = {key: (english.source, english.section) for key, (_, english) in translated.items()}
    failures = []
    for item in items:
        answer = advisor.ask(item.question, history=item.turns, approved=False)
        latencies.append(answer.timings_ms.total)
        if item.should_abstain:
            true_abstain += answer.abstained
            near_caught += answer.abstained and item.kind == "near_miss"
        else:
            false_abstain += answer.abstained
        if not answer.abstained:
            flawed.append(bool(leaning_or_meta(advisor, answer)))
            # The italic note that the sources are in English is a label, not part of the answer.
            body = "\n".join(line for line in answer.answer.splitlines() if not line.startswith("_"))
            lengths.append(len(MARKER.sub("", body).split()))
            if answer.language in TRANSLATED_LANGUAGES:
                in_language.append(detect_language(MARKER.sub("", body), default="en") == answer.language)
        if not item.should_abstain:
            cited = [english_of.get((c.source, c.section), (c.source, c.section)) for c in answer.citations]
            cites.append(not answer.abstained and any(_is_gold(item, *where) for where in cited))
            text = (answer.answer + " " + _english_shadow(answer, translated)).lower()
            share = sum(f.lower() in text for f in item.key_facts) / (len(item.key_facts) or 1)
            facts.append(0.0 if answer.abstained else share)
        if answer.abstained != item.should_abstain:
            failures.append({"id": item.id, "question": item.question, "abstained": answer.abstained,
                             "evidence": answer.evidence})

    should_total = sum(i.should_abstain for i in items)
    near_total = sum(i.kind == "near_miss" for i in items)
    abstained_total = true_abstain + false_abstain
    latencies.sort()
    return Report(
        split=split,
        questions=len(items),
        in_scope=len(in_scope),
        retrieval=retrieval,
        cites_gold_section=_share(cites),
        key_fact_coverage=round(statistics.fmean(facts), 3) if facts else 0.0,
        abstention_precision=round(true_abstain / abstained_total, 3) if abstained_total else 1.0,
        abstention_recall=round(true_abstain / should_total, 3) if should_total else 1.0,
        near_miss_recall=round(near_caught / near_total, 3) if near_total else 1.0,
        false_abstention=round(false_abstain / (len(items) - should_total or 1), 3),
        leaning_or_meta_answers=_share(flawed),
        answers_in_language=_share(in_language),
        words_median=statistics.median(lengths) if lengths else 0.0,
        words_in_range=_share([60 <= n <= 180 for n in lengths]),
        latency_p50_ms=round(statistics.median(latencies), 1),
        latency_p95_ms=round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 1),
        threshold=advisor.threshold,
        approved=approved_scores(advisor, items, paraphrases or []) if len(advisor.index.approved) else None,
        failures=failures,
    )


def _english_shadow(answer: Answer, translated: dict) -> str:
    """The English sentences that an answer's translated sentences stand for (a translation keeps the English
    sentence order), so the key facts, written in English, are checked on what the answer says in any language."""
    by_number = {c.n: translated.get((c.source, c.section)) for c in answer.citations}
    out = []
    for sentence in sentences(answer.answer, answer.language):
        for n in MARKER.findall(sentence):
            pair = by_number.get(int(n))
            if pair is None:
                continue
            mine, english = pair
            keys = [sentence_key(line) for line in mine.text.split("\n")]
            here = sentence_key(sentence.split(":**")[-1])
            lines = english.text.split("\n")
            if here in keys and keys.index(here) < len(lines):
                out.append(lines[keys.index(here)])
    return " ".join(out)


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 3) if flags else 0.0


def fit_abstention(advisor: Advisor, items: list[DevItem]) -> dict:
    """Fit engine/abstention.py's logistic regression on the given (tuning) items and choose its threshold from
    out-of-fold probabilities (5-fold cross-validation): the highest that keeps false abstention at or under
    MAX_FALSE_ABSTENTION on questions the model did not see. A threshold read off the fitted items themselves
    is too strict: it declined 13% of in-scope questions on the test half."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows, labels_ = [], []
    for item in items:
        query, found, _ = advisor.understand(item.question, item.turns, advisor.settings.top_k)
        values = abstention.features(query, found)
        rows.append([values[f] for f in abstention.FEATURES])
        labels_.append(0 if item.should_abstain else 1)
    x, y = np.array(rows), np.array(labels_)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    unseen = cross_val_predict(pipeline, x, y, cv=folds, method="predict_proba")[:, 1]
    answerable = np.sort(unseen[y == 1])
    threshold = round(float(answerable[int(MAX_FALSE_ABSTENTION * len(answerable))]) - 1e-4, 4)
    pipeline.fit(x, y)
    scaler, model = pipeline[0], pipeline[1]
    # Fold the standardisation into the weights, so the engine needs no scaler: w/s, b - sum(w*m/s).
    folded = model.coef_[0] / scaler.scale_
    return {"features": abstention.FEATURES,
            "weights": tuple(round(float(w), 4) for w in folded),
            "intercept": round(float(model.intercept_[0] - np.dot(folded, scaler.mean_)), 4),
            "threshold": threshold,
            "out_of_fold_abstention_recall": round(float((unseen[y == 0] < threshold).mean()), 3),
            "out_of_fold_false_abstention": round(float((unseen[y == 1] < threshold).mean()), 3),
            "tuning_questions": len(items)}


Closest = tuple[str, float, float] | None  # (approved answer's file, similarity, margin) of a question


def _closest(advisor: Advisor, question: str) -> Closest:
    """The approved answer closest to a question as the engine would weigh it (engine/approved.py)."""
    import datetime as dt

    import numpy as np

    asked = advisor.make_query(question).asked
    if not asked:
        return None
    vector = advisor.question_vector(asked)
    match = advisor.index.approved.closest(vector / np.linalg.norm(vector), dt.date.today())
    return None if match is None else (match.answer.passage.source, match.similarity, match.margin)


def _given(closest: Closest, floor: float, margin: float) -> str | None:
    return closest[0] if closest is not None and closest[1] >= floor and closest[2] >= margin else None


def approved_scores(advisor: Advisor, items: list[DevItem], paraphrases: list[Paraphrase],
                    floor: float = approved_answers.FLOOR, margin: float = approved_answers.MARGIN) -> ApprovedScores:
    near = [(item, _closest(advisor, item.question)) for item in items]
    asked = [(p, _closest(advisor, p.question)) for p in paraphrases]
    return _approved_scores(len(advisor.index.approved), near, asked, floor, margin)


def _approved_scores(answers: int, near: list[tuple[DevItem, Closest]], asked: list[tuple[Paraphrase, Closest]],
                     floor: float, margin: float) -> ApprovedScores:
    given = [(item, _given(c, floor, margin)) for item, c in near]
    return ApprovedScores(
        answers=answers, questions=len(near),
        false_matches=[item.id for item, source in given if source is not None and source != item.approved],
        labelled=sum(item.approved is not None for item, _ in near),
        labelled_matched=sum(item.approved is not None and source == item.approved for item, source in given),
        paraphrases=len(asked), paraphrases_matched=sum(_given(c, floor, margin) == p.approved for p, c in asked),
        floor=floor, margin=margin)


def fit_approved(advisor: Advisor, items: list[DevItem], paraphrases: list[Paraphrase]) -> dict:
    """The floor and margin of engine/approved.py, from the tuning half: for each floor, the smallest margin that
    gives no question an approved answer it should not get; then the floor whose margin serves the most of the
    questions that should get one (development-set questions labelled so, and paraphrases), the highest of equals."""
    near = [(item, _closest(advisor, item.question)) for item in items]
    asked = [(p, _closest(advisor, p.question)) for p in paraphrases]
    best: tuple[int, float, float] | None = None
    for floor in [round(0.80 + 0.005 * i, 3) for i in range(31)]:
        wrong = [c[2] for item, c in near if c is not None and c[1] >= floor and c[0] != item.approved]
        margin = round(max(wrong) + 0.001, 3) if wrong else 0.0
        scores = _approved_scores(len(advisor.index.approved), near, asked, floor, margin)
        served = scores.labelled_matched + scores.paraphrases_matched
        if best is None or served >= best[0]:
            best = (served, floor, margin)
    assert best is not None
    scores = _approved_scores(len(advisor.index.approved), near, asked, best[1], best[2])
    return {"floor": best[1], "margin": best[2], **scores.model_dump(exclude={"floor", "margin"})}


def report_json(report: Report) -> str:
    return json.dumps(report.model_dump(), indent=2)
