"""Typed records that flow through ingest: front matter, loaded documents and their blocks, and chunks."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from ingest.problems import Problem

DocType = Literal["report", "model", "case_study", "guidance", "evidence", "context", "glossary", "figures",
                  "approved_answer"]
CitySize = Literal["small", "medium", "large", "any"]

_ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


class SourceRef(BaseModel):
    """Where a fact can be checked: the original publication, with pages or section where known."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3)
    url: HttpUrl
    publisher: str | None = None
    year: int | None = Field(None, ge=1900, le=2100)
    pages: str | None = None
    section: str | None = None


class IndexedFacts(BaseModel):
    """What the store says of one version of one knowledge file (ingest/store.py reads it from the records, the
    manifest keeps it per file)."""

    doc_id: str
    title: str = ""
    doc_type: str = ""
    updated: str = ""
    url: str = ""
    chunks: int = 0


class ClaimSource(BaseModel):
    """The source behind one sentence (a footnote of the knowledge file), as answers show it."""

    title: str
    url: str | None = None
    page: str | None = None  # "p. 17", "pp. 17-19", "§3.2"


class FrontMatter(BaseModel):
    """The metadata every knowledge file carries (Markdown front matter, or a `NAME.pdf.yaml` sidecar)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID_PATTERN, max_length=80)
    title: str = Field(min_length=3, max_length=200)
    doc_type: DocType
    summary: str = Field(min_length=10, max_length=300)
    language: str = Field("en", pattern=r"^[a-z]{2}$")
    topics: list[str] = Field(default_factory=list)
    updated: dt.date
    sources: list[SourceRef] = Field(min_length=1)
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    city_size: CitySize | None = None

    # An approved answer (`doc_type: approved_answer`, in knowledge/answers/): the phrasings of the question it
    # answers, who approved it and when, the date it must be reviewed by (it is not served after that), and the
    # knowledge base sections it is built on ("path/to/file.md#anchor"), cited with it.
    questions: list[str] = Field(default_factory=list)
    approved_by: str | None = Field(None, min_length=2, max_length=120)
    approved_on: dt.date | None = None
    review_by: dt.date | None = None
    sections: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _approval_fields_belong_to_approved_answers(self) -> FrontMatter:
        # Messages start with the field they are about: the loader reports them at that field's line.
        approval = {"questions": self.questions, "approved_by": self.approved_by, "approved_on": self.approved_on,
                    "review_by": self.review_by, "sections": self.sections}
        if self.doc_type != "approved_answer":
            given = [name for name, value in approval.items() if value]
            if given:
                raise ValueError(f"{given[0]}: only an approved answer (doc_type: approved_answer) has "
                                 f"{', '.join(given)}")
            return self
        missing = [name for name, value in approval.items() if not value and name != "sections"]
        if missing:
            raise ValueError(f"{missing[0]}: an approved answer needs {', '.join(missing)}")
        if len(self.questions) < 2:
            raise ValueError("questions: give at least two phrasings of the question, so differently worded "
                             "questions find the answer")
        if self.review_by <= self.approved_on:
            raise ValueError(f"review_by: {self.review_by} must come after approved_on ({self.approved_on})")
        bad = [s for s in self.sections if not re.fullmatch(r"[\w./-]+\.md#[A-Za-z0-9][\w-]*", s)]
        if bad:
            raise ValueError(f"sections: write each as path/to/file.md#anchor, got {bad}")
        return self

    @field_validator("topics")
    @classmethod
    def _topics_are_slugs(cls, topics: list[str]) -> list[str]:
        bad = [t for t in topics if not re.match(_ID_PATTERN, t)]
        if bad:
            raise ValueError(f"topics must be lowercase-with-dashes, got {bad}")
        return topics


class Approval(BaseModel):
    """What the engine needs to serve an approved answer, stored with its section record."""

    approved_by: str
    approved_on: dt.date
    review_by: dt.date
    sections: list[str] = Field(default_factory=list)  # "path/to/file.md#anchor" of the sections it is built on


class Block(BaseModel):
    """A run of text with one place in its document: a heading path (Markdown, DOCX) or a page (PDF)."""

    text: str
    heading_path: list[str] = Field(default_factory=list)
    page: int | None = None
    line: int | None = None
    url: str | None = None  # the first source link of the section, when the section names its sources
    questions: list[str] = Field(default_factory=list)  # questions the section answers (a `Questions:` line)
    note: str | None = None  # an `Editor's note:` line: for consultants, never quoted to officials
    anchor: str | None = None  # the section's stable id (`{#id}` after its heading)
    translated_from: str | None = None  # in a translation: the hash of the English section it translates


class TranslationMeta(BaseModel):
    """The front matter of a translation (`NAME.nl.md` beside `NAME.md`): what it translates, its language, and its
    title and summary in that language; everything else is the English file's."""

    model_config = ConfigDict(extra="forbid")

    translation_of: str = Field(min_length=4)
    language: Literal["nl", "fr", "de"]
    title: str = Field(min_length=3, max_length=200)
    summary: str = Field(min_length=10, max_length=300)


class LoadedDocument(BaseModel):
    """A knowledge file read and validated, ready to chunk."""

    path: str  # relative to the knowledge folder, with forward slashes
    file_hash: str
    meta: FrontMatter
    blocks: list[Block]
    warnings: list[Problem] = Field(default_factory=list)  # what ingest changed in it (e.g. raw HTML removed)
    footnotes: dict[str, ClaimSource] = Field(default_factory=dict)  # by key, as defined in the file
    findings: list[Problem] = Field(default_factory=list)  # the attribution lint's (ingest/lint.py): not blocking
    translates: str | None = None  # a translation: the path of the English file


UnitKind = Literal["section", "window", "question", "translation"]


class Chunk(BaseModel):
    """One record of the store, with everything a citation needs. A `section` record holds a whole section (its
    sentences one per line) and is embedded by its heading and opening; `window` records (a few sentences) and
    `question` records (a question the section answers) are embedded to find it, and point at it by `section_id`."""

    id: str
    text: str
    kind: UnitKind = "section"
    section_id: str
    doc_id: str
    source: str
    title: str
    section: str
    page: int | None
    doc_type: str
    topics: list[str]
    language: str
    url: str
    country: str | None
    city_size: str | None
    updated: str
    chunk_index: int
    file_hash: str
    content_hash: str
    # A section record's sentences' sources, one entry a sentence (JSON; Chroma metadata holds scalars only):
    # {"sources": [ClaimSource, ...], "reading": true when the sentence is the knowledge base's own reading}.
    claims: str | None = None
    note: str | None = None
    anchor: str | None = None  # the section's stable id
    version: str | None = None  # an English section: the hash of its text (ingest/translations.py)
    translates: str | None = None  # a translation record: "english/path.md#anchor"
    translated_from: str | None = None  # a translation record: the version of the English section it translates
    approval: str | None = None  # an approved answer's section record: its Approval (JSON)

    def metadata(self) -> dict[str, str | int | list[str]]:
        """Chroma metadata: scalars and string lists only, no None values."""
        data = self.model_dump(exclude={"id", "text"})
        if not data["topics"]:
            data.pop("topics")  # Chroma rejects empty lists
        return {k: v for k, v in data.items() if v is not None}
