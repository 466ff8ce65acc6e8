"""Problems found in knowledge files, phrased for the consultant who has to fix them.

An error keeps the file out of the index (its previously indexed version stays); a warning says what ingest did
to a file it indexed anyway (such as removing raw HTML). The attribution lint's errors (ingest/lint.py) fail
`advisor check`, not ingest: an unsourced sentence is still better found than lost.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Problem(BaseModel):
    path: str
    message: str
    fix: str
    line: int | None = None
    field: str | None = None
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = self.path + (f":{self.line}" if self.line else "")
        what = f"field '{self.field}': " if self.field else ""
        kind = "warning: " if self.severity == "warning" else ""
        return f"{where}: {kind}{what}{self.message} — {self.fix}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class KnowledgeFileError(Exception):
    """A knowledge file that cannot be indexed; carries every problem found in it, not just the first."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems
