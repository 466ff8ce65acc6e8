"""Approved answers (`doc_type: approved_answer`, in knowledge/answers/): answers a consultant stands behind,
served whole when an official's question matches one of their phrasings (engine/approved.py). Here: what
`advisor check` says of them across files, since a section they name lives in another file.
"""

from __future__ import annotations

import datetime as dt

from ingest.models import LoadedDocument
from ingest.problems import Problem


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
