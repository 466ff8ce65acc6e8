"""Problems found in knowledge files, phrased for the consultant who has to fix them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Problem(BaseModel):
    """`error`: the file (or, for the attribution lint, `advisor check`) fails; `warning`: worth fixing."""

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


class KnowledgeFileError(Exception):
    """A knowledge file that cannot be indexed; carries every problem found in it, not just the first."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems
