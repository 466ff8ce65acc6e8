"""What a digest says, independent of where it is posted: the officials' digest and the consultants' gaps report."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel

from engine.models import CitedSource

Audience = Literal["officials", "consultants"]


class Period(BaseModel):
    """The week a digest reports on: `week` is its ISO label (e.g. 2026-W48), the key for "once per week"."""

    week: str
    start: dt.datetime
    end: dt.datetime


class NewDocument(BaseModel):
    kind: Literal["added", "updated", "removed"]
    title: str
    summary: str
    url: str
    source: str


class Theme(BaseModel):
    """Questions whose answers came from the same section (or, logged before sections were kept, document)."""

    title: str  # the section's heading in the digest's language, or the document's title
    source: str
    count: int
    section: str = ""


class PracticePoint(BaseModel):
    title: str
    section: str
    text: str
    source: str
    url: str | None
    sources: list[CitedSource] = []  # the publications behind the sentences shown, when the section names them


class OfficialsDigest(BaseModel):
    audience: Literal["officials"] = "officials"
    period: Period
    language: str
    new_documents: list[NewDocument]
    themes: list[Theme]
    questions_answered: int
    example_questions: list[str]
    practice: PracticePoint | None
    # When too many documents changed to name them (the first digest after installation): documents by type.
    holdings: dict[str, int] = {}
    approved_answers: list[NewDocument] = []  # approved answers the consultants added or updated

    @property
    def empty(self) -> bool:
        return not (self.new_documents or self.holdings or self.approved_answers or self.themes
                    or self.questions_answered)


Action = Literal["write_section", "improve_section", "approved_answer", "out_of_scope"]


class Gap(BaseModel):
    """Questions the knowledge base served badly, grouped by meaning: how many, in which languages, what they were
    about in the knowledge base's words, the documents and sections that came closest, and what to do about it."""

    count: int
    abstained: int
    not_helpful: int
    escalated: int
    examples: list[str]
    closest: list[str]  # titles of the closest documents
    languages: dict[str, int] = {}
    topics: list[str] = []  # the knowledge base's words the questions used (engine/topics.py)
    sections: list[str] = []  # "document title — section" of the closest sections
    action: Action = "out_of_scope"


class GapsReport(BaseModel):
    audience: Literal["consultants"] = "consultants"
    period: Period
    language: str
    questions_asked: int
    gaps: list[Gap]
    # The week in figures: questions answered, declined, answers marked not helpful, sent to a consultant.
    totals: dict[str, int] = {}
    comments: list[str]
    stale_translations: list[str] = []  # "file — section": translations of English text that has changed since
    expired_approved_answers: list[str] = []  # "file (review by DATE)": no longer served until reviewed

    @property
    def empty(self) -> bool:
        return not self.gaps and not self.stale_translations and not self.expired_approved_answers


Digest = OfficialsDigest | GapsReport
