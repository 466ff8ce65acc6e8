"""Read knowledge files (Markdown with front matter, PDF and DOCX with a YAML sidecar) into validated documents.

Each loader returns blocks that keep their place (heading path, page, line) so a citation can point at it.
Every problem in a file is collected and raised together, so a consultant fixes a file in one pass.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import yaml
from pydantic import ValidationError

from ingest.footnotes import definition, parse_source
from ingest.lint import lint_markdown
from ingest.models import Block, ClaimSource, FrontMatter, LoadedDocument
from ingest.problems import KnowledgeFileError, Problem

SUFFIXES = (".md", ".pdf", ".docx")
SIDECAR_SUFFIX = ".yaml"
MAX_FILE_BYTES = 50 * 1024 * 1024

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SOURCES_LINE = re.compile(r"^\s*\**sources?\**\s*:", re.IGNORECASE)
_QUESTIONS_LINE = re.compile(r"^\s*\**questions\**\s*:(.*)$", re.IGNORECASE)
_LINK = re.compile(r"\[[^\]]+\]\((https?://[^)\s]+)\)")
_NOTE_LINE = re.compile(r"^\s*\**editor['’]s note\**\s*:(.*)$", re.IGNORECASE)
_FIELD_LINE = "^{field}\\s*:"


class _TextDatesLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: dates reach pydantic as text, so a bad date is reported by field."""


_TextDatesLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def discover(knowledge_dir: Path, only: Path | None = None) -> list[Path]:
    """Knowledge files under the folder (or one file or subfolder of it), skipping README, `_` and `.` names."""
    root = only if only is not None else knowledge_dir
    candidates = [root] if root.is_file() else sorted(root.rglob("*"))
    found = []
    for path in candidates:
        rel_parts = path.relative_to(knowledge_dir).parts if path.is_relative_to(knowledge_dir) else path.parts
        if any(part.startswith(("_", ".")) for part in rel_parts) or path.name.lower() == "readme.md":
            continue
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            found.append(path)
    return found


def file_hash(path: Path) -> str:
    """Hash of the file and its sidecar: a change to either means the document must be re-indexed."""
    digest = hashlib.sha256(path.read_bytes())
    sidecar = sidecar_path(path)
    if sidecar.exists():
        digest.update(sidecar.read_bytes())
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def load(path: Path, knowledge_dir: Path) -> LoadedDocument:
    rel = path.relative_to(knowledge_dir).as_posix() if path.is_relative_to(knowledge_dir) else path.as_posix()
    size = path.stat().st_size
    if size == 0:
        raise KnowledgeFileError([Problem(path=rel, message="the file is empty", fix="add content or delete the file")])
    if size > MAX_FILE_BYTES:
        raise KnowledgeFileError(
            [Problem(path=rel, message=f"the file is {size // 2**20} MiB", fix="split it into files under 50 MiB")]
        )
    suffix = path.suffix.lower()
    footnotes: dict[str, ClaimSource] = {}
    findings: list[Problem] = []
    if suffix == ".md":
        meta, blocks, footnotes, findings = _load_markdown(path, rel)
    else:
        meta = _load_sidecar(path, rel)
        blocks = _pdf_blocks(path, rel) if suffix == ".pdf" else _docx_blocks(path, rel)
    return LoadedDocument(path=rel, file_hash=file_hash(path), meta=meta, blocks=blocks, footnotes=footnotes,
                          findings=findings)


# -- front matter ---------------------------------------------------------------------------------------------


def _validate_front_matter(raw: object, rel: str, yaml_text: str, first_line: int) -> FrontMatter:
    if not isinstance(raw, dict):
        raise KnowledgeFileError(
            [Problem(path=rel, line=first_line, message="front matter is not a mapping of fields",
                     fix="write `field: value` lines (see docs/knowledge-authoring.md)")]
        )
    try:
        return FrontMatter.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or None
            top = str(err["loc"][0]) if err["loc"] else ""
            match = re.search(_FIELD_LINE.format(field=re.escape(top)), yaml_text, re.MULTILINE) if top else None
            line = first_line + yaml_text[: match.start()].count("\n") if match else first_line
            problems.append(Problem(path=rel, line=line, field=field, message=err["msg"], fix=_fix_for(err)))
        raise KnowledgeFileError(problems) from None


def _fix_for(err: dict) -> str:
    kind = err["type"]
    if kind == "missing":
        return "add this field (see docs/knowledge-authoring.md)"
    if kind == "extra_forbidden":
        return "remove it, or check its spelling against docs/knowledge-authoring.md"
    if kind == "literal_error":
        return "use one of the allowed values"
    if kind.startswith("date"):
        return "write the date as YYYY-MM-DD"
    if kind == "string_pattern_mismatch":
        return "use lowercase letters, digits and single dashes (e.g. case-ottawa, youth-gangs)"
    if kind.startswith("url"):
        return "give a full http(s) URL"
    return "correct the value"


def _parse_yaml(text: str, rel: str, first_line: int) -> object:
    try:
        return yaml.load(text, Loader=_TextDatesLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + mark.line if mark is not None else first_line
        problem = getattr(exc, "problem", None) or str(exc)
        raise KnowledgeFileError(
            [Problem(path=rel, line=line, message=f"front matter is not valid YAML ({problem})",
                     fix="check indentation and quote values that contain ':'")]
        ) from None


def _load_sidecar(path: Path, rel: str) -> FrontMatter:
    sidecar = sidecar_path(path)
    side_rel = rel + SIDECAR_SUFFIX
    if not sidecar.exists():
        raise KnowledgeFileError(
            [Problem(path=rel, message=f"no metadata file {sidecar.name} beside it",
                     fix=f"create {sidecar.name} with the front matter fields (see docs/knowledge-authoring.md)")]
        )
    text = sidecar.read_text(encoding="utf-8")
    return _validate_front_matter(_parse_yaml(text, side_rel, 1), side_rel, text, 1)


# -- Markdown -------------------------------------------------------------------------------------------------


def _load_markdown(path: Path, rel: str) -> tuple[FrontMatter, list[Block], dict[str, ClaimSource], list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise KnowledgeFileError(
            [Problem(path=rel, message=f"not UTF-8 text (byte {exc.start})", fix="save the file as UTF-8")]
        ) from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise KnowledgeFileError(
            [Problem(path=rel, line=1, message="no front matter",
                     fix="start the file with a `---` line, the fields, and a closing `---` line")]
        )
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise KnowledgeFileError(
            [Problem(path=rel, line=1, message="front matter is never closed", fix="add a `---` line after the fields")]
        ) from None
    yaml_text = "\n".join(lines[1:end])
    meta = _validate_front_matter(_parse_yaml(yaml_text, rel, 2), rel, yaml_text, 2)
    body = lines[end + 1 :]
    footnotes = {key: parse_source(text) for key, text in filter(None, map(definition, body))}
    # Definitions leave blank lines, so line numbers stay those of the file.
    blocks = list(markdown_blocks(["" if definition(line) else line for line in body], first_line=end + 2))
    if not any(b.text.strip() for b in blocks):
        raise KnowledgeFileError(
            [Problem(path=rel, line=end + 2, message="no text after the front matter", fix="write the document body")]
        )
    return meta, blocks, footnotes, lint_markdown(rel, body, first_line=end + 2)


def markdown_blocks(lines: list[str], first_line: int = 1) -> Iterator[Block]:
    """One block per heading section; the H1 is the document title, so sections start at H2.

    A section's `Sources:` line is taken out of the text (it is not advice) and its first link becomes the
    section's citation URL; its `Questions:` line (questions it answers, separated by `|`) helps find it; its
    `Editor's note:` line is kept for consultants, out of the text officials are quoted.
    """
    path: list[str] = []
    body: list[str] = []
    questions: list[str] = []
    notes: list[str] = []
    url: str | None = None
    start = first_line

    def flush() -> Iterator[Block]:
        content = "\n".join(body).strip()
        if content:
            yield Block(text=content, heading_path=list(path), line=start, url=url, questions=list(questions),
                        note=" ".join(notes) or None)

    for offset, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading:
            yield from flush()
            level = len(heading.group(1))
            if level > 1:
                path[:] = path[: level - 2] + [heading.group(2).strip()]
            body, questions, notes, url, start = [], [], [], None, first_line + offset
        elif asked := _QUESTIONS_LINE.match(line):
            questions.extend(q.strip() for q in asked.group(1).split("|") if q.strip())
        elif note := _NOTE_LINE.match(line):
            notes.append(note.group(1).strip())
        elif _SOURCES_LINE.match(line):
            links = _LINK.findall(line)
            url = url or (links[0] if links else None)
        else:
            body.append(line)
    yield from flush()


# -- PDF and DOCX ---------------------------------------------------------------------------------------------


def _pdf_blocks(path: Path, rel: str) -> list[Block]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise KnowledgeFileError(
                [Problem(path=rel, message="the PDF is password-protected", fix="save an unprotected copy")]
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, OSError, ValueError) as exc:
        raise KnowledgeFileError(
            [Problem(path=rel, message=f"the PDF cannot be read ({exc})", fix="re-export it from the original, or replace it")]
        ) from None
    blocks = [Block(text=_clean_pdf_text(t), page=i) for i, t in enumerate(pages, start=1) if t.strip()]
    if not blocks:
        raise KnowledgeFileError(
            [Problem(path=rel, message="the PDF has no extractable text (a scan?)", fix="run OCR on it first")]
        )
    return blocks


def _clean_pdf_text(text: str) -> str:
    # PDF extraction breaks lines mid-sentence and hyphenates words; rejoin them so sentences stay whole.
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)
    text = re.sub(r"(?<![.!?:])\n(?!\n)", " ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def _docx_blocks(path: Path, rel: str) -> list[Block]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise KnowledgeFileError(
            [Problem(path=rel, message=f"the Word file cannot be read ({exc})", fix="save it again as .docx")]
        ) from None
    lines: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            lines.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in item.rows)
            continue
        style = (item.style.name if item.style is not None else "") or ""
        level = re.match(r"Heading (\d)", style)
        if style == "Title":
            lines.append(f"# {item.text}")
        elif level:
            lines.append(f"{'#' * (int(level.group(1)) + 1)} {item.text}")
        else:
            lines.append(item.text)
    blocks = [b.model_copy(update={"line": None}) for b in markdown_blocks(lines)]
    if not blocks:
        raise KnowledgeFileError([Problem(path=rel, message="the Word file has no text", fix="add content")])
    return blocks
