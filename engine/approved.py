"""Approved answers: answers a consultant stands behind (knowledge/answers/*.md, `doc_type: approved_answer`),
served whole, marked as approved, when an official's question matches one of their phrasings closely enough.

"Closely enough" is two conditions, both calibrated on the tuning half of the development set with
`advisor eval --fit-approved`: the question is at least FLOOR similar to a phrasing, and closer to it by at least
MARGIN than to any question the knowledge base's sections list as theirs (other than the sections the approved
answer is built on). Similarity alone cannot tell: multilingual-e5 puts any two questions about the model between
0.85 and 0.95, so an unrelated question ("How long does it take before it shows results?") came as close to an
approved phrasing (0.938) as paraphrases did (0.88-0.96); against the sections' own questions the unrelated one
stands out (0.004 closer), as it is as close to the section that answers it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from engine.models import Passage
from ingest.models import Approval

if TYPE_CHECKING:
    from engine.index import Translation

# Chosen with `advisor eval --fit-approved` on the tuning half (see the module's docstring).
FLOOR = 0.9
MARGIN = 0.005


@dataclass(frozen=True)
class ApprovedAnswer:
    passage: Passage
    approval: Approval
    translations: dict[str, Translation] = field(default_factory=dict)
    sections: tuple[str, ...] = ()  # section ids of the knowledge base sections it names, in its order

    def served_on(self, today: dt.date) -> bool:
        """Past its review date, an answer is no longer one the consultants stand behind."""
        return today <= self.approval.review_by


@dataclass(frozen=True)
class Match:
    answer: ApprovedAnswer
    similarity: float  # to its closest phrasing
    margin: float  # how much closer than to any other section's listed question


class ApprovedAnswers:
    """The approved answers of the knowledge base and the vectors that find them."""

    def __init__(self, answers: dict[str, ApprovedAnswer], phrasings: list[tuple[str, np.ndarray]],
                 questions: list[tuple[str, np.ndarray]]):
        self.answers = answers
        self._owner = [cid for cid, _ in phrasings]
        self._phrasings = _matrix([v for _, v in phrasings])
        self._question_section = np.array([cid for cid, _ in questions], dtype=object)
        self._questions = _matrix([v for _, v in questions])

    def __len__(self) -> int:
        return len(self.answers)

    def match(self, vector: np.ndarray, today: dt.date | None = None, floor: float = FLOOR,
              margin: float = MARGIN) -> Match | None:
        """The approved answer a question (its normalised query vector) asks for, if any is still served."""
        if not self.answers:
            return None
        best = self.closest(vector, today or dt.date.today())
        if best is None or best.similarity < floor or best.margin < margin:
            return None
        return best

    def closest(self, vector: np.ndarray, today: dt.date) -> Match | None:
        """The served approved answer with the phrasing closest to the question, however far."""
        similarities = self._phrasings @ vector
        others = self._questions @ vector if len(self._questions) else np.zeros(0)
        for i in np.argsort(-similarities):
            answer = self.answers[self._owner[i]]
            if answer.served_on(today):
                # Its own sections' questions do not compete with it: it was written from them.
                rivals = others[~np.isin(self._question_section, answer.sections)]
                rival = float(rivals.max()) if len(rivals) else 0.0
                return Match(answer, float(similarities[i]), float(similarities[i]) - rival)
        return None

    def expired(self, today: dt.date | None = None) -> list[ApprovedAnswer]:
        today = today or dt.date.today()
        return sorted((a for a in self.answers.values() if not a.served_on(today)), key=lambda a: a.passage.source)


def _matrix(vectors: list[np.ndarray]) -> np.ndarray:
    if not vectors:
        return np.zeros((0, 0))
    m = np.vstack(vectors).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True).clip(min=1e-9)
