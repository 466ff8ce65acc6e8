"""Approved answers (`doc_type: approved_answer`, in knowledge/answers/): answers a consultant stands behind,
served whole when an official's question matches one of their phrasings (engine/approved.py). Here: what
`advisor check` says of them across files (a section they name lives in another file), and the file a consultant's
form in chat becomes.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, Field
from slugify import slugify

from advisor.settings import Settings
from ingest.models import LoadedDocument
from ingest.problems import KnowledgeFileError, Problem


def approved_answer_problems(docs: list[LoadedDocument], today: dt.date | None = None) -> list[Problem]:
    """Sections an approved answer names that no file has, and approved answers past their review date (no
    longer served)."""
    today = today or dt.date.today()
    anchors = {f"{doc.path}#{b.anchor}" for doc in docs for b in doc.blocks if b.anchor}
    problems: list[Problem] = []
    for doc in docs:
        meta = doc.meta
        if meta.doc_type != "approved_answer" or doc.translates is not None:
            continue
        for ref in meta.sections:
            if ref not in anchors:
                problems.append(Problem(path=doc.path, field="sections", severity="warning",
                                        message=f"no section {ref} in the knowledge base, so it is not cited",
                                        fix="name the file (from the knowledge folder) and the {#id} after the "
                                            "section's heading, e.g. model/backbone-organisation.md#the-six-"
                                            "backbone-activities"))
        if meta.review_by is not None and meta.review_by < today:
            problems.append(Problem(path=doc.path, field="review_by", severity="warning",
                                    message=f"the review date {meta.review_by} has passed, so the answer is no "
                                            "longer served",
                                    fix="review the answer, then set review_by to the next review date"))
    return problems


# -- writing an approved answer (from a consultant's form in chat) -----------------------------------------------

REVIEW_AFTER = dt.timedelta(days=182)  # the default review date: half a year, the rhythm the shipped answers use
DEFAULT_APPROVER = "Collective Impact Advisor consultants"  # the form's default; a consultant may put a name
_MARKER = re.compile(r"\s*\[(\d{1,2})\]")
_SOURCE_LINE = re.compile(r"^\s*(\d{1,2})[.)]\s*(.+?)\s*$")
_URL = re.compile(r"https?://\S+")


class ApprovedAnswerDraft(BaseModel):
    """What a consultant writes in the chat form: the question, more ways to ask it, the answer with `[n]` markers,
    its sources as numbered lines ("1. Publisher, title, https://…"), who approves it and when it must be reviewed."""

    question: str = Field(min_length=5, max_length=300)
    phrasings: list[str] = Field(default_factory=list)
    answer: str = Field(min_length=20, max_length=4000)
    sources: str = ""
    approved_by: str = Field(min_length=2, max_length=120)
    review_by: dt.date
    language: str = Field("en", pattern=r"^[a-z]{2}$")  # the language the answer is written in


def draft_problems(draft: ApprovedAnswerDraft, today: dt.date) -> dict[str, str]:
    """What keeps a draft from being an approved answer, by field: a message the consultant can act on."""
    problems: dict[str, str] = {}
    if len({p.strip().lower() for p in [draft.question, *draft.phrasings] if p.strip()}) < 2:
        problems["phrasings"] = "Add at least one other way officials ask this question, one per line."
    numbers = set(_MARKER.findall(draft.answer))
    listed = _numbered_sources(draft.sources)
    if not listed or not any(_URL.search(text) for text in listed.values()):
        problems["sources"] = "List the sources, one per line with its number and link: 1. Publisher, title, https://…"
    elif missing := sorted(numbers - set(listed), key=int):
        problems["sources"] = f"The answer cites [{'], ['.join(missing)}], which the list of sources does not have."
    if draft.review_by <= today:
        problems["review_by"] = "Choose a review date in the future."
    return problems


def approved_answer_markdown(draft: ApprovedAnswerDraft, today: dt.date, doc_id: str) -> str:
    """The knowledge file of an approved answer (docs/knowledge-authoring.md, "Approved answers"): `[n]` markers
    become footnotes defined by the numbered sources."""
    listed = _numbered_sources(draft.sources)
    body = _MARKER.sub(lambda m: f" [^s{m.group(1)}]", draft.answer.strip())
    first = next(text for text in listed.values() if _URL.search(text))
    url = _URL.search(first).group(0).rstrip(".,;)")
    title = _URL.sub("", first).strip(" ,;–-") or url
    front = {
        "id": doc_id, "title": draft.question, "doc_type": "approved_answer",
        "summary": f"Approved answer: {draft.question}"[:300], "language": draft.language, "updated": today.isoformat(),
        "sources": [{"title": title, "url": url}],
        "questions": list(dict.fromkeys(q.strip() for q in [draft.question, *draft.phrasings] if q.strip())),
        "approved_by": draft.approved_by, "approved_on": today.isoformat(), "review_by": draft.review_by.isoformat(),
    }
    definitions = "\n".join(f"[^s{n}]: {text}" for n, text in listed.items())
    return (f"---\n{yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=1000)}---\n"
            f"# {draft.question}\n\n{body}\n\n{definitions}\n")


def write_approved_answer(knowledge_dir: Path, draft: ApprovedAnswerDraft, today: dt.date | None = None) -> Path:
    """Write the draft as knowledge/answers/<slug>.md (a new name if one is taken) and return its path; written
    to a temporary name first and renamed, so an ingest never reads half a file."""
    today = today or dt.date.today()
    folder = knowledge_dir / "answers"
    folder.mkdir(parents=True, exist_ok=True)
    slug = slugify(draft.question, max_length=60, word_boundary=True) or "answer"
    path, n = folder / f"{slug}.md", 1
    while path.exists():
        n += 1
        path = folder / f"{slug}-{n}.md"
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(approved_answer_markdown(draft, today, f"approved-{path.stem}"), encoding="utf-8")
    temporary.replace(path)
    return path


def _numbered_sources(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in map(_SOURCE_LINE.match, text.splitlines()) if m}


def publish_approved_answer(settings: Settings, draft: ApprovedAnswerDraft, today: dt.date | None = None) -> Path:
    """Write a consultant's approved answer into the knowledge folder and index it, so the advisor serves it from
    the next question on. A file that does not index is taken away again (it would only fail `advisor check`)."""
    from ingest.pipeline import ingest

    path = write_approved_answer(settings.knowledge_dir, draft, today)
    report = ingest(settings, only=path)
    if not report.ok:
        path.unlink(missing_ok=True)
        raise KnowledgeFileError(report.problems)
    return path
