"""The engine's typed contract with every front door: questions in, answers with citations out.

Field names of `Answer` are the JSON contract of `advisor ask --json`; front doors and tools rely on them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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


class CitedSource(BaseModel):
    """A publication behind a claim: what an official opens to check it."""

    model_config = ConfigDict(frozen=True)

    title: str
    url: str | None = None
    page: str | None = None


class Claim(BaseModel):
    """The sources of one sentence of a passage; `reading`: the sentence is the knowledge base's own reading of
    its sources, not something a source says."""

    sources: list[CitedSource] = Field(default_factory=list)
    reading: bool = False


class Passage(BaseModel):
    """A section of the knowledge base (or a PDF page), whole, one sentence a line, with its citation data.
    `claims`: each line's sources, when the knowledge file names them sentence by sentence (else empty)."""

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
    claims: list[Claim] = Field(default_factory=list)

    def claim(self, position: int) -> Claim | None:
        return self.claims[position] if position < len(self.claims) else None


class RetrievedPassage(BaseModel):
    source: str
    title: str
    section: str
    page: int | None = None
    score: float


class Citation(BaseModel):
    """A numbered reference in an answer: the knowledge base section quoted (`source`, `section`, `page` of a
    PDF), and `sources`, the publications behind the sentences quoted from it, in order of use. `url` is the first
    of them (the section's link when its sentences name none). `reading`: a quoted sentence is the knowledge
    base's own reading of its sources."""

    n: int
    source: str
    title: str
    section: str
    page: int | None = None
    url: str | None
    score: float
    sources: list[CitedSource] = Field(default_factory=list)
    reading: bool = False


class Turn(BaseModel):
    """An earlier exchange in the same conversation."""

    question: str
    answer: str = ""


class Timings(BaseModel):
    retrieve: float
    compose: float
    total: float


class ApprovedAnswerRef(BaseModel):
    """The approved answer an answer is (knowledge/answers/*.md): who stands behind it, since when."""

    source: str
    approved_by: str
    approved_on: str  # YYYY-MM-DD


class Answer(BaseModel):
    id: str | None = None
    question: str
    language: str
    answer: str
    abstained: bool
    citations: list[Citation]
    retrieved: list[RetrievedPassage]
    timings_ms: Timings
    composer: str = "extractive"  # extractive, llm, extractive-fallback, approved
    evidence: float = 0.0
    approved_answer: ApprovedAnswerRef | None = None
    # The question's words that the knowledge base uses (engine/topics.py): what it was about, with no name,
    # number or rare word, so the consultants' report can say what a gap is about without the official's words.
    topics: list[str] = Field(default_factory=list)
    # The question's embedding, for grouping knowledge gaps by meaning; kept out of the JSON contract.
    vector: list[float] | None = Field(default=None, exclude=True, repr=False)
