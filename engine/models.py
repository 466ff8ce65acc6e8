"""The engine's typed contract with every front door: questions in, answers with citations out.

Field names of `Answer` are the JSON contract of `advisor ask --json`; front doors and tools rely on them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Filters(BaseModel):
    """Metadata filters; unset fields do not filter."""

    doc_type: str | None = None
    topics: list[str] = Field(default_factory=list)
    country: str | None = None
    city_size: str | None = None

    def chroma_where(self) -> dict | None:
        clauses: list[dict] = [{k: v} for k, v in (("doc_type", self.doc_type), ("country", self.country),
                                                   ("city_size", self.city_size)) if v]
        clauses += [{"topics": {"$contains": t}} for t in self.topics]
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def accepts(self, meta: dict) -> bool:
        return (
            all(not v or meta.get(k) == v for k, v in (("doc_type", self.doc_type), ("country", self.country),
                                                        ("city_size", self.city_size)))
            and all(t in (meta.get("topics") or []) for t in self.topics)
        )


class Passage(BaseModel):
    """A section of the knowledge base (or a PDF page), whole, one sentence a line, with its citation data."""

    id: str
    text: str
    doc_id: str
    source: str
    title: str
    section: str
    page: int | None = None
    url: str
    doc_type: str
    chunk_index: int = 0


class RetrievedPassage(BaseModel):
    source: str
    title: str
    section: str
    page: int | None = None
    score: float


class Citation(BaseModel):
    n: int
    source: str
    title: str
    section: str
    page: int | None = None
    url: str
    score: float


class Turn(BaseModel):
    """An earlier exchange in the same conversation."""

    question: str
    answer: str = ""


class Timings(BaseModel):
    retrieve: float
    compose: float
    total: float


class Answer(BaseModel):
    id: str | None = None
    question: str
    language: str
    answer: str
    abstained: bool
    citations: list[Citation]
    retrieved: list[RetrievedPassage]
    timings_ms: Timings
    composer: str = "extractive"
    evidence: float = 0.0
