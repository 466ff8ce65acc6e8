"""Whether the knowledge base answers a question: a logistic regression over retrieval features, fitted on the
tuning half of the development set (`advisor eval --fit-abstention` refits it and prints the constants below).

The features are what retrieval already knows: how close in meaning the nearest unit, opening and listed question
came, and how far the best window and question stand above all others; the best section's score and its lead over
the next; the best BM25 score; how many of the question's content words the best sections contain; and how many
of the names it uses (places, organisations, years) they never mention. All of them, standardised, with an L2
penalty (C=0.1): chosen by 4-fold cross-validation on the tuning half over subsets of these features and C in
{0.1, 1}, where it caught 0.938 of out-of-scope questions at 0.055 false abstention.
"""

from __future__ import annotations

import math
import re

from engine.retrieval import Retrieval
from engine.text import names, words

FEATURES = ("dense_top", "opening_top", "question_top", "window_z_top", "question_z_top", "score_top", "margin",
            "lexical_top", "coverage", "unknown_names")
# Fitted with `advisor eval --fit-abstention` on the tuning half (scikit-learn, standardised features, L2 with
# C=0.1, balanced classes); the standardisation is folded into the weights.
WEIGHTS = (15.963, 17.8354, 13.7209, -0.1675, 0.0092, 0.1656, -0.1109, 0.96, 0.9354, -0.1074)
INTERCEPT = -44.4253
# The probability of "answerable" below which the advisor declines: the highest that keeps false abstention on the
# tuning half's in-scope questions at or under 5% (printed by the same command).
THRESHOLD = 0.4807
_YEAR = re.compile(r"^(1[89]\d\d|20\d\d)$")


def features(question: str, found: Retrieval) -> dict[str, float]:
    if not found.passages or not found.matches:
        return dict.fromkeys(FEATURES, 0.0)
    margin = found.scores[0] - (found.scores[1] if len(found.scores) > 1 else 0.0)
    best = " ".join(p.text for p in found.passages[:3]).lower()
    asked = [w for name in names(question) for w in words(name) if len(w) > 2]
    asked += [w for w in words(question) if _YEAR.match(w)]
    unknown = sum(w not in best for w in dict.fromkeys(asked))
    return {
        "dense_top": found.dense_top,
        "opening_top": max(m.opening for m in found.matches),
        "question_top": max((m.question or 0.0) for m in found.matches),
        "window_z_top": max(m.window_z for m in found.matches),
        "question_z_top": max((m.question_z if m.question_z is not None else m.window_z) for m in found.matches),
        "score_top": found.scores[0],
        "margin": margin,
        "lexical_top": math.log1p(found.lexical_top),
        "coverage": found.coverage,
        "unknown_names": float(unknown),
    }


def probability(values: dict[str, float], weights=WEIGHTS, intercept=INTERCEPT) -> float:
    """The fitted model's probability that the knowledge base answers the question."""
    z = intercept + sum(w * values[name] for w, name in zip(weights, FEATURES))
    return 1.0 / (1.0 + math.exp(-z))
