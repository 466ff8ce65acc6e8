"""The record of what each ingest changed (documents added, updated, removed), read by the weekly digest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

ChangeKind = Literal["added", "updated", "removed"]


class DocumentChange(BaseModel):
    kind: ChangeKind
    doc_id: str
    source: str
    title: str
    summary: str = ""
    url: str = ""


class IngestRun(BaseModel):
    at: dt.datetime
    changes: list[DocumentChange]


def changes_path(store_dir: Path) -> Path:
    return store_dir / "changes.jsonl"


def record_run(store_dir: Path, changes: list[DocumentChange], at: dt.datetime | None = None) -> None:
    if not changes:
        return
    run = IngestRun(at=at or dt.datetime.now(dt.timezone.utc), changes=changes)
    store_dir.mkdir(parents=True, exist_ok=True)
    with changes_path(store_dir).open("a", encoding="utf-8") as fh:
        fh.write(run.model_dump_json() + "\n")


def read_runs(store_dir: Path, since: dt.datetime | None = None) -> list[IngestRun]:
    path = changes_path(store_dir)
    if not path.exists():
        return []
    runs = [IngestRun.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in runs if since is None or r.at >= since]
