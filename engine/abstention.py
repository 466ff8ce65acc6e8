"""Whether the knowledge base answers a question: a logistic regression over retrieval features, fitted on the
tuning half of the development set (`advisor eval --fit-abstention` refits it and prints the constants below).

The features are what retrieval already knows: how close in meaning the nearest unit, opening and listed question
came, and how far the best window and question stand above all others; the best section's score and its lead over
the next; the best BM25 score; how many of the question's content words the best sections contain; how many of
the names it uses (places, organisations, years) they never mention, and how many of its years; whether it asks
for contact details; and whether it is in another language. All of them, standardised, with an L2 penalty C=0.1:
chosen by 5-fold cross-validation on the tuning half (200 questions, 71 of them out of scope) over feature subsets
and C in {0.03, 0.1, 0.3, 1}. Without the years and contact details, it declined 0.90 of out-of-scope questions
(0.77 of near misses) at 5% false abstention on questions it had not been fitted on; with them, 0.915 (averaged
over five shuffles of the folds; dropping any one feature moved it by at most 0.025).
A name counts as unknown only when the best sections mention none of the question's names, so an official who
names their own city next to a case ("what can Valencia learn from Memphis?") is not turned away; counting every
unknown name caught one more out-of-scope question in a hundred on the tuning half. A year is different: "homicides
in Ottawa in 2023" is out of scope however well Ottawa is covered, when no best section mentions 2023.
"""

from __future__ import annotations

import math
import re

from engine.retrieval import Query, Retrieval
from engine.text import fold, names, words

FEATURES = ("dense_top", "opening_top", "question_top", "window_z_top", "question_z_top", "score_top", "margin",
            "lexical_top", "coverage", "unknown_names", "unknown_years", "contact_details", "other_language")
# Fitted with `advisor eval --fit-abstention` on the tuning half (scikit-learn, standardised features, L2 with
# C=0.1, balanced classes); the standardisation is folded into the weights.
WEIGHTS = (16.0932, 16.891, 14.1048, 0.0644, -0.0989, 0.1248, 0.2288, 1.0379, 1.1415, -0.7811, -4.8444, -3.3941, 0.136)
INTERCEPT = -44.5683
# The probability of "answerable" below which the advisor declines: the highest that keeps false abstention at or
# under 5% on the tuning half's in-scope questions, judged by out-of-fold probabilities (the same command).
THRESHOLD = 0.5665
_YEAR = re.compile(r"^(1[89]\d\d|20\d\d)$")
# Contact details (an e-mail address, a phone number, opening hours) in the six languages: the knowledge base is
# about a model and its cases, and never holds them, however close the rest of the question comes to a section.
_CONTACT = re.compile(
    r"\b(e-?mail|phone|telephone|contact details|opening hours|e-?mailadres|telefoon\w*|openingsuren|openingstijden|"
    r"contactgegevens|courriel|adresse (?:e-?mail|électronique)|t[ée]l[ée]phone|heures d'ouverture|coordonnées|"
    r"telefon\w*|e-?mail-adresse|öffnungszeiten|kontaktdaten|correo|tel[ée]fono|horario|indirizzo (?:e-?mail|di posta)|"
    r"orari)\b", re.IGNORECASE)


def asks_for_contact_details(question: str) -> bool:
    """Whether a question asks for someone's e-mail address, phone number or opening hours."""
    return bool(_CONTACT.search(question))


def features(query: Query, found: Retrieval) -> dict[str, float]:
    """The model's inputs for one question and what retrieval found for it."""
    question = query.alone
    if not found.passages or not found.matches:
        return dict.fromkeys(FEATURES, 0.0)
    margin = found.scores[0] - (found.scores[1] if len(found.scores) > 1 else 0.0)
    # Names are compared on their first letters, so a demonym meets its country (Belgian, Belgium) and a
    # possessive its name (Ottawa's, Ottawa).
    mentioned = {_name_key(w) for p in found.passages[:3] for w in words(p.text)}
    # German capitalises every noun, so there only years count as names.
    asked = [] if query.language == "de" else [w for name in names(question) for w in words(name) if len(w) > 2]
    asked = list(dict.fromkeys(asked + [w for w in words(question) if _YEAR.match(w)]))
    unknown = sum(_name_key(w) not in mentioned for w in asked)
    # A question that also names something the best sections cover is about that ("what can Valencia learn from
    # Memphis?"): its other names are the asker's own city or colleagues, not a sign it is out of scope.
    unknown = unknown if unknown == len(asked) else 0
    # A year is different: the knowledge base either has something on that year or it does not ("homicides in
    # Ottawa in 2023" is out of scope however well Ottawa is covered).
    years = [w for w in words(question) if _YEAR.match(w)]
    unknown_years = sum(_name_key(w) not in mentioned for w in years)
    return {
        "dense_top": found.dense_top,
        "opening_top": max(m.opening for m in found.matches),
        # A section that lists no questions counts its best window in their place, as retrieval does.
        "question_top": max((m.question if m.question is not None else m.window) for m in found.matches),
        "window_z_top": max(m.window_z for m in found.matches),
        "question_z_top": max((m.question_z if m.question_z is not None else m.window_z) for m in found.matches),
        "score_top": found.scores[0],
        "margin": margin,
        "lexical_top": math.log1p(found.lexical_top),
        "coverage": found.coverage,
        "unknown_names": float(unknown),
        "unknown_years": float(unknown_years),
        "contact_details": float(asks_for_contact_details(question)),
        # A question in another language meets the English sections at lower similarity, however well they answer.
        "other_language": float(query.language != "en"),
    }


def _name_key(word: str) -> str:
    return fold(word)[:5]


def probability(values: dict[str, float], weights=WEIGHTS, intercept=INTERCEPT) -> float:
    """The fitted model's probability that the knowledge base answers the question."""
    z = intercept + sum(w * values[name] for w, name in zip(weights, FEATURES))
    return 1.0 / (1.0 + math.exp(-z))
