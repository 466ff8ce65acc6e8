"""Read knowledge files (Markdown with front matter, PDF and DOCX with a YAML sidecar) into validated documents.

Each loader returns blocks that keep their place (heading path, page, line) so a citation can point at it.
Every problem in a file is collected and raised together, so a consultant fixes a file in one pass; whatever goes
wrong reading one file (a damaged PDF, broken Word XML, a sidecar that is not text) is a problem of that file,
never a stop for the others.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import ValidationError

from ingest.footnotes import definition, parse_source
from ingest.lint import lint_markdown
from ingest.models import Block, ClaimSource, FrontMatter, LoadedDocument, TranslationMeta
from ingest.problems import KnowledgeFileError, Problem
from ingest.translations import translation_of

Meta = TypeVar("Meta", FrontMatter, TranslationMeta)

SUFFIXES = (".md", ".pdf", ".docx")
SIDECAR_SUFFIX = ".yaml"
MAX_FILE_BYTES = 50 * 1024 * 1024

_SOURCES_LINE = re.compile(r"^\s*\**sources?\**\s*:", re.IGNORECASE)
_QUESTIONS_LINE = re.compile(r"^\s*\**questions\**\s*:(.*)$", re.IGNORECASE)
_LINK = re.compile(r"\[[^\]]+\]\((https?://[^)\s]+)\)")
_NOTE_LINE = re.compile(r"^\s*\**editor['’]s note\**\s*:(.*)$", re.IGNORECASE)
# A section's stable id, at the end of its heading: `## Who led in Ottawa {#who-led-in-ottawa}` (the heading
# attribute syntax of Pandoc and kramdown); translations name the English section by it.
_ANCHOR = re.compile(r"\s*\{#([A-Za-z0-9][\w-]*)\}\s*$")
# In a translation, which version of the English section a section translates (see ingest/translations.py).
_TRANSLATED_LINE = re.compile(r"^\s*\**translated from\**\s*:\s*([0-9a-f]{6,64})\s*$", re.IGNORECASE)
_FIELD_LINE = "^{field}\\s*:"
_ID_LINE = re.compile(r"^id\s*:\s*[\"']?([A-Za-z0-9_-]+)", re.MULTILINE)

_log = logging.getLogger(__name__)


class _TextDatesLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: dates reach pydantic as text, so a bad date is reported by field."""


_TextDatesLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def discover(knowledge_dir: Path, only: Path | None = None) -> tuple[list[Path], list[Problem]]:
    """Knowledge files under the folder (or one file or subfolder of it), skipping README, `_` and `.` names,
    and the problems of links among them.

    A link is followed only to a file inside the knowledge folder: a link out of it would serve another folder's
    content as our advice, so it is reported and skipped, and so are broken and looping links. Links to folders
    are not followed (files inside the folder are found where they are)."""
    root = only if only is not None else knowledge_dir
    inside = knowledge_dir.resolve()
    found: list[Path] = []
    problems: list[Problem] = []
    for path in [root] if root.is_file() else _walk(root):
        rel_parts = path.relative_to(knowledge_dir).parts if path.is_relative_to(knowledge_dir) else path.parts
        if any(part.startswith(("_", ".")) for part in rel_parts) or path.name.lower() == "readme.md":
            continue
        if not path.is_symlink():
            if path.is_file() and path.suffix.lower() in SUFFIXES:
                found.append(path)
            elif path.is_file() and not _is_sidecar(path):
                problems.append(Problem(path=_rel(path, knowledge_dir), severity="warning",
                                        message=f"skipped: {path.suffix or 'a file without an extension'} is not a "
                                                "format the advisor reads",
                                        fix="convert it to .md, .pdf or .docx, or move it out of the knowledge folder"))
            continue
        problem = link_problem(path, knowledge_dir, inside)
        if problem is not None:
            if path.suffix.lower() in SUFFIXES or path.is_dir():
                problems.append(problem)
        elif path.is_file() and path.suffix.lower() in SUFFIXES:
            found.append(path)
    return found, problems


def _is_sidecar(path: Path) -> bool:
    """A `NAME.pdf.yaml` / `NAME.docx.yaml` beside its document: read with it, not on its own."""
    stem = path.name[: -len(SIDECAR_SUFFIX)] if path.name.lower().endswith(SIDECAR_SUFFIX) else ""
    return Path(stem).suffix.lower() in SUFFIXES


def _walk(root: Path) -> list[Path]:
    """Every file and link under root, without descending into linked folders."""
    out = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        base = Path(folder)
        out.extend(base / d for d in dirs if (base / d).is_symlink())
        out.extend(base / n for n in names)
    return sorted(out)


def link_problem(path: Path, knowledge_dir: Path, inside: Path | None = None) -> Problem | None:
    """Why a link must not be followed (broken, looping, or pointing out of the knowledge folder), or None."""
    rel = _rel(path, knowledge_dir)
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # RuntimeError: Python 3.11 reports a link loop that way
        looping = isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP
        return Problem(path=rel, message="is a link that loops back on itself: skipped" if looping
                       else f"is a broken link (to {os.readlink(path)}): skipped",
                       fix="remove the link, or put the file itself in the knowledge folder")
    if not target.is_relative_to(inside or knowledge_dir.resolve()):
        return Problem(path=rel, message=f"is a link to {target}, outside the knowledge folder: skipped",
                       fix="copy the file into the knowledge folder instead of linking to it")
    return None


def _rel(path: Path, knowledge_dir: Path) -> str:
    return path.relative_to(knowledge_dir).as_posix() if path.is_relative_to(knowledge_dir) else path.as_posix()


def file_hash(path: Path) -> str:
    """Hash of the file and its sidecar: a change to either means the document must be re-indexed."""
    digest = hashlib.sha256(path.read_bytes())
    sidecar = sidecar_path(path)
    if sidecar.exists():
        digest.update(sidecar.read_bytes())
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def peek_id(path: Path) -> str | None:
    """The id a file claims, read leniently from its raw text: for a file that fails validation, it says which
    indexed document the file is a new version of (so that document is kept, whatever its path)."""
    source = path if path.suffix.lower() == ".md" else sidecar_path(path)
    try:
        text = source.read_bytes()[:20000].decode("utf-8", errors="replace")
    except OSError:
        return None
    if source.suffix.lower() == ".md":
        text = text.split("\n---", 1)[0]  # the front matter only
    match = _ID_LINE.search(text)
    return match.group(1) if match else None


def load(path: Path, knowledge_dir: Path) -> LoadedDocument:
    rel = _rel(path, knowledge_dir)
    try:
        return _load(path, knowledge_dir, rel)
    except KnowledgeFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - a library's error on one file must not stop the others
        _log.debug("reading %s failed", rel, exc_info=True)
        raise KnowledgeFileError(
            [Problem(path=rel, message=f"the file cannot be read ({type(exc).__name__}: {exc})",
                     fix="open it in the program that made it and save it again, or replace it")]
        ) from None


def _load(path: Path, knowledge_dir: Path, rel: str) -> LoadedDocument:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise KnowledgeFileError(
            [Problem(path=rel, message=f"the file cannot be opened ({exc.strerror})", fix="check that it exists and "
                     "that its permissions let the advisor read it")]
        ) from None
    if size == 0:
        raise KnowledgeFileError([Problem(path=rel, message="the file is empty", fix="add content or delete the file")])
    if size > MAX_FILE_BYTES:
        raise KnowledgeFileError(
            [Problem(path=rel, message=f"the file is {size // 2**20} MiB", fix="split it into files under 50 MiB")]
        )
    suffix = path.suffix.lower()
    found: list[Problem] = []
    footnotes: dict[str, ClaimSource] = {}
    findings: list[Problem] = []
    if suffix == ".md" and translation_of(path.name):
        return _load_translation(path, knowledge_dir, rel, found)
    if suffix == ".md":
        meta, blocks, footnotes, findings = _load_markdown(path, rel, found)
        if meta.doc_type == "approved_answer":
            blocks = [_approved_block(meta, blocks, rel)]
    else:
        meta = _load_sidecar(path, rel, knowledge_dir, found)
        blocks = _pdf_blocks(path, rel, found) if suffix == ".pdf" else _docx_blocks(path, rel, found)
    return LoadedDocument(path=rel, file_hash=file_hash(path), meta=meta, blocks=blocks, warnings=found,
                          footnotes=footnotes, findings=findings)


def _approved_block(meta: FrontMatter, blocks: list[Block], rel: str) -> Block:
    """An approved answer is served whole, so it is one section; the phrasings of its question find it."""
    written = [b for b in blocks if b.text.strip()]
    if len(written) > 1:
        raise KnowledgeFileError([Problem(path=rel, line=written[1].line, message="an approved answer is one section, "
                                          "and this file has more", fix="remove the headings after the first, or "
                                          "split the file into one approved answer per question")])
    block = written[0]
    return block.model_copy(update={"heading_path": block.heading_path or [meta.title],
                                    "anchor": block.anchor or "answer", "questions": [*meta.questions, *block.questions]})


def _load_translation(path: Path, knowledge_dir: Path, rel: str, found: list[Problem]) -> LoadedDocument:
    """A translation (ingest/translations.py): its own title, summary and sections, everything else (type,
    topics, sources, footnote definitions) from the English file it translates."""
    english_name, language = translation_of(path.name)  # type: ignore[misc]
    english_path = path.with_name(english_name)
    try:
        english = load(english_path, knowledge_dir)
    except KnowledgeFileError as exc:
        raise KnowledgeFileError([Problem(path=rel, message=f"its English file {_rel(english_path, knowledge_dir)} "
                                          "cannot be indexed", fix="fix the English file first (see its problems)")]
                                 + exc.problems) from None
    meta, blocks, _, findings = _load_markdown(path, rel, found, TranslationMeta, frozenset(english.footnotes))
    if english.meta.doc_type == "approved_answer":
        blocks = [_approved_block(english.meta.model_copy(update={"title": meta.title, "questions": []}), blocks, rel)]
    sections = {b.anchor for b in english.blocks}
    for block in blocks:
        if block.anchor not in sections:
            findings.append(Problem(path=rel, line=block.line, severity="warning",
                                    message=f"section {{#{block.anchor}}} is not a section of {english.path}",
                                    fix="give it the id of the English section it translates (after its heading)"))
    english_meta = english.meta.model_copy(update={"id": f"{english.meta.id}-{language}", "title": meta.title,
                                                   "summary": meta.summary, "language": language})
    return LoadedDocument(path=rel, file_hash=file_hash(path), meta=english_meta, blocks=blocks, warnings=found,
                          footnotes=english.footnotes, findings=findings, translates=english.path)


# -- front matter ---------------------------------------------------------------------------------------------


def _validate_front_matter(raw: object, rel: str, yaml_text: str, first_line: int,
                           found: list[Problem], model: type[Meta] = FrontMatter) -> Meta:
    if not isinstance(raw, dict):
        raise KnowledgeFileError(
            [Problem(path=rel, line=first_line, message="front matter is not a mapping of fields",
                     fix="write `field: value` lines (see docs/knowledge-authoring.md)")]
        )
    try:
        meta = model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or None
            top = str(err["loc"][0]) if err["loc"] else ""
            message = err["msg"]
            # A rule across fields (ingest/models.py) starts its message with the field it is about.
            about = re.match(r"Value error, (\w+): (.*)", message, re.DOTALL) if not err["loc"] else None
            if about and about.group(1) in model.model_fields:
                field = top = about.group(1)
                message = about.group(2)
            problems.append(Problem(path=rel, line=_field_line(top, yaml_text, first_line), field=field,
                                    message=message, fix=_fix_for(err)))
        raise KnowledgeFileError(problems) from None
    # Titles and summaries are shown with answers: the same cleaning as the body.
    cleaned = {}
    for name in ("title", "summary"):
        text, removed = neutralise(getattr(meta, name))
        if removed:
            cleaned[name] = text
            found.append(_removed_problem(rel, _field_line(name, yaml_text, first_line), removed, field=name))
    return meta.model_copy(update=cleaned) if cleaned else meta


def _field_line(field: str, yaml_text: str, first_line: int) -> int:
    match = re.search(_FIELD_LINE.format(field=re.escape(field)), yaml_text, re.MULTILINE) if field else None
    return first_line + yaml_text[: match.start()].count("\n") if match else first_line


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
        raise KnowledgeFileError([_yaml_problem(exc, rel, first_line)]) from None


_LEFT_OPEN = {"quoted scalar": "a quote", "flow sequence": "a `[` list", "flow mapping": "a `{` mapping"}


def _yaml_problem(exc: yaml.YAMLError, rel: str, first_line: int) -> Problem:
    """Where the consultant must look. An unclosed quote or bracket is only noticed where the text ends, so
    PyYAML's problem mark is then the end of the front matter; the mark of what was left open is the place."""
    context = getattr(exc, "context", None) or ""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    fix = "check indentation and quote values that contain ':'"
    opened = getattr(exc, "context_mark", None)
    left_open = next((what for kind, what in _LEFT_OPEN.items() if kind in context), None)
    if opened is not None and left_open is not None:
        mark = opened
        problem = f"{left_open} opened on this line is never closed"
        fix = "close it (a quote on the same line), or remove it"
    line = first_line + mark.line if mark is not None else first_line
    return Problem(path=rel, line=line, message=f"front matter is not valid YAML ({problem})", fix=fix)


def _load_sidecar(path: Path, rel: str, knowledge_dir: Path, found: list[Problem]) -> FrontMatter:
    sidecar = sidecar_path(path)
    side_rel = rel + SIDECAR_SUFFIX
    if not sidecar.exists() and not sidecar.is_symlink():
        raise KnowledgeFileError(
            [Problem(path=rel, message=f"no metadata file {sidecar.name} beside it",
                     fix=f"create {sidecar.name} with the front matter fields (see docs/knowledge-authoring.md)")]
        )
    if sidecar.is_symlink() and (problem := link_problem(sidecar, knowledge_dir)) is not None:
        raise KnowledgeFileError([problem])
    try:
        text = sidecar.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise KnowledgeFileError(
            [Problem(path=side_rel, message=f"the metadata file is not UTF-8 text (byte {exc.start})",
                     fix=f"write {sidecar.name} again as plain UTF-8 text (see docs/knowledge-authoring.md)")]
        ) from None
    return _validate_front_matter(_parse_yaml(text, side_rel, 1), side_rel, text, 1, found)


# -- Markdown -------------------------------------------------------------------------------------------------


def _load_markdown(path: Path, rel: str, found: list[Problem], model: type[Meta] = FrontMatter,
                   known: frozenset[str] | None = None) -> tuple[Meta, list[Block], dict[str, ClaimSource], list[Problem]]:
    """Front matter (validated as `model`), sections, footnote definitions and the attribution lint's findings.
    `known`: for a translation, the footnote keys its English file defines."""
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
    meta = _validate_front_matter(_parse_yaml(yaml_text, rel, 2), rel, yaml_text, 2, found, model)
    body = lines[end + 1 :]
    footnotes = {key: parse_source(text) for key, text in filter(None, map(definition, body))}
    removed: list[tuple[int | None, list[str]]] = []
    # Definitions leave blank lines, so line numbers stay those of the file.
    blocks = list(markdown_blocks(["" if definition(line) else line for line in body], first_line=end + 2,
                                  removed=removed))
    found.extend(_removed_problem(rel, line, what) for line, what in removed)
    if not any(b.text.strip() for b in blocks):
        raise KnowledgeFileError(
            [Problem(path=rel, line=end + 2, message="no text after the front matter", fix="write the document body")]
        )
    language = getattr(meta, "language", "en")
    return meta, blocks, footnotes, lint_markdown(rel, body, first_line=end + 2, language=language, known=known)


def _heading_lines(lines: list[str]) -> dict[int, tuple[int, str]]:
    """{line index: (level, text)} of the `#` headings, found by a CommonMark parser: a heading inside a code
    block, list or quote is not a section, and a long heading line costs linear time (the regular expression
    used before backtracked: 24 s for one 3 KB heading)."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark").disable("inline")  # blocks only: ten times faster on a large file
    tokens = parser.parse("\n".join(lines))
    out = {}
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.level == 0 and token.markup.startswith("#") and token.map:
            text = tokens[i + 1].content.strip()
            if text:
                out[token.map[0]] = (len(token.markup), text)
    return out


def markdown_blocks(lines: list[str], first_line: int = 1,
                    removed: list[tuple[int | None, list[str]]] | None = None) -> Iterator[Block]:
    """One block per heading section; the H1 is the document title, so sections start at H2.

    A section's `Sources:` line is taken out of the text (it is not advice) and its first link becomes the
    section's citation URL; its `Questions:` line (questions it answers, separated by `|`) helps find it; its
    `Editor's note:` line is kept for consultants, out of the text officials are quoted.
    Raw HTML and script links are taken out of every line (see `neutralise`); `removed` gets (line, what) of each.
    """
    lines = [part for line in lines for part in line.splitlines() or [""]]  # a Word paragraph may hold breaks
    headings = _heading_lines(lines)
    cleaner = _Neutraliser()
    path: list[str] = []
    body: list[str] = []
    questions: list[str] = []
    notes: list[str] = []
    url: str | None = None
    anchor: str | None = None
    translated: str | None = None
    start = first_line

    def flush() -> Iterator[Block]:
        content = "\n".join(body).strip()
        if content:
            yield Block(text=content, heading_path=list(path), line=start, url=url, questions=list(questions),
                        note=" ".join(notes) or None, anchor=anchor, translated_from=translated)

    for offset, raw in enumerate(lines):
        line, what = cleaner.clean(raw)
        if what and removed is not None:
            removed.append((first_line + offset, what))
        heading = headings.get(offset)
        if heading:
            yield from flush()
            level, text = heading
            found_anchor = _ANCHOR.search(text)
            text = _ANCHOR.sub("", text)
            if level > 1:
                path[:] = path[: level - 2] + [neutralise(text)[0].strip() or text]
            body, questions, notes, url, start = [], [], [], None, first_line + offset
            anchor, translated = (found_anchor.group(1) if found_anchor else None), None
        elif asked := _QUESTIONS_LINE.match(line):
            questions.extend(q.strip() for q in asked.group(1).split("|") if q.strip())
        elif note := _NOTE_LINE.match(line):
            notes.append(note.group(1).strip())
        elif version := _TRANSLATED_LINE.match(line):
            translated = version.group(1).lower()
        elif _SOURCES_LINE.match(line):
            links = _LINK.findall(line)
            url = url or (links[0] if links else None)
        else:
            body.append(line)
    yield from flush()


# -- raw HTML and script links ----------------------------------------------------------------------------------
# Answers quote knowledge text, and Slack, Teams and a web page render links (and a web page HTML): a `javascript:`
# link or a <script> in a knowledge file would reach an official's screen. Ingest takes them out and says where.

_UNSAFE_SCHEME = r"(?:javascript|vbscript|data|file)\s*:"
_UNSAFE_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\(\s*<?\s*" + _UNSAFE_SCHEME + r"(?:[^()\n]|\([^()\n]*\))*\)", re.I)
_UNSAFE_REFERENCE = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*<?\s*" + _UNSAFE_SCHEME + r".*$", re.I)
_UNSAFE_AUTOLINK = re.compile(r"<\s*" + _UNSAFE_SCHEME + r"[^>\n]*>", re.I)
_BARE_SCRIPT = re.compile(r"\b(?:javascript|vbscript)\s*:", re.I)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_COMMENT = re.compile(r"<!--.*?-->")
_RAW_ELEMENT = re.compile(r"<(script|style|iframe|object|embed|template)\b", re.I)


class _Neutraliser:
    """Line by line, remembering an HTML comment or script element that runs over several lines."""

    def __init__(self) -> None:
        self._until: str | None = None  # the closing text of what is open ("-->", "</script")

    def clean(self, line: str) -> tuple[str, list[str]]:
        what: list[str] = []
        kept: list[str] = []
        rest = line
        while rest:
            if self._until is not None:  # inside a comment or element: drop up to its end
                end = rest.lower().find(self._until)
                if end < 0:
                    break
                rest = rest[end + len(self._until):]
                if self._until != "-->":  # the rest of the closing tag
                    rest = rest[rest.find(">") + 1:] if ">" in rest else ""
                self._until = None
                continue
            opened = _open_construct(rest)
            if opened is None:
                kept.append(rest)
                break
            at, until, kind = opened
            kept.append(rest[:at])
            what.append(kind)
            self._until = until
            rest = rest[at + 4:] if until == "-->" else rest[at + 1:]
        text, more = neutralise("".join(kept))
        return text, what + more


def _open_construct(text: str) -> tuple[int, str, str] | None:
    """The first HTML comment or script-like element in text: (where, its closing text, what it is)."""
    comment = text.find("<!--")
    element = _RAW_ELEMENT.search(text)
    if comment < 0 and element is None:
        return None
    if element is None or (0 <= comment < element.start()):
        return comment, "-->", "an HTML comment"
    return element.start(), f"</{element.group(1).lower()}", f"<{element.group(1).lower()}>"


def neutralise(text: str) -> tuple[str, list[str]]:
    """Text without HTML tags, comments or links to `javascript:`/`data:`-like addresses (a link keeps its text),
    and what was taken out."""
    what: list[str] = []

    def drop(kind: str, replacement: str = ""):
        def replace(match: re.Match) -> str:
            what.append(kind if kind != "tag" else f"<{match.group(0).strip('</>').split()[0].lower()}>")
            return replacement if replacement != "text" else match.group(2)
        return replace

    text = _UNSAFE_REFERENCE.sub(drop("a script link"), text)
    text = _UNSAFE_LINK.sub(drop("a script link", "text"), text)
    text = _UNSAFE_AUTOLINK.sub(drop("a script link"), text)
    text = _COMMENT.sub(drop("an HTML comment"), text)
    text = _TAG.sub(drop("tag"), text)
    text = _BARE_SCRIPT.sub(drop("a script address"), text)
    return text, list(dict.fromkeys(what))


def _removed_problem(rel: str, line: int | None, what: list[str], field: str | None = None) -> Problem:
    return Problem(path=rel, line=line, field=field, severity="warning",
                   message=f"removed {', '.join(dict.fromkeys(what))}: raw HTML and script links never reach answers",
                   fix="write plain Markdown text and http(s) links")


# -- PDF and DOCX ---------------------------------------------------------------------------------------------


@contextmanager
def _quiet_pypdf() -> Iterator[list[str]]:
    """pypdf logs a warning for every damaged object it works around (40 lines for one bad file): keep them off
    the consultant's screen and hand them back, so a failure becomes one problem line."""
    logger = logging.getLogger("pypdf")
    heard: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            heard.append(record.getMessage())

    handler = Collect(level=logging.DEBUG)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield heard
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _pdf_blocks(path: Path, rel: str, found: list[Problem]) -> list[Block]:
    from pypdf import PdfReader

    with _quiet_pypdf() as heard:
        try:
            reader = PdfReader(path)
            if reader.is_encrypted:
                raise KnowledgeFileError(
                    [Problem(path=rel, message="the PDF is password-protected", fix="save an unprotected copy")]
                )
            pages = [page.extract_text() or "" for page in reader.pages]
        except KnowledgeFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds of error for a damaged file
            raise KnowledgeFileError(
                [Problem(path=rel, message=f"the PDF is damaged and cannot be read ({exc})"
                         + (f"; pypdf also reported {len(heard)} repair(s), the first: {heard[0]}" if heard else ""),
                         fix="re-export it from the original, or replace it")]
            ) from None
    for message in heard:
        _log.debug("%s: pypdf: %s", rel, message)
    blocks = []
    for number, text in enumerate(pages, start=1):
        text, what = neutralise(_clean_pdf_text(text))
        if what:
            found.append(_removed_problem(rel, None, [f"{w} (page {number})" for w in what]))
        if text.strip():
            blocks.append(Block(text=text, page=number))
    if not blocks:
        raise KnowledgeFileError(
            [Problem(path=rel, message="the PDF has no extractable text (a scan?)", fix="run OCR on it first")]
        )
    return blocks


# A PDF heading is a short line without closing punctuation followed by a line that starts a sentence; it stays
# apart from that sentence (the page's first sentence must not begin "2.2 Key concepts and terms The backbone…").
_PDF_HEADING_WORDS = 8


def _clean_pdf_text(text: str) -> str:
    # PDF extraction breaks lines mid-sentence and hyphenates words; rejoin them so sentences stay whole.
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    out: list[str] = []
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        heading = (0 < len(line.split()) <= _PDF_HEADING_WORDS and not line.endswith((".", "!", "?", ":", ",", ";"))
                   and following[:1].isupper())
        out.append(line + ("\n\n" if heading or not line else "\n" if line.endswith((".", "!", "?", ":")) else " "))
    return re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()


def _docx_blocks(path: Path, rel: str, found: list[Problem]) -> list[Block]:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(str(path))
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
    except Exception as exc:  # noqa: BLE001 - not a zip, broken XML (lxml), missing parts: all one problem
        raise KnowledgeFileError(
            [Problem(path=rel, message=f"the Word file is damaged and cannot be read ({type(exc).__name__}: {exc})",
                     fix="open it in Word, save it again as .docx, and check its content")]
        ) from None
    removed: list[tuple[int | None, list[str]]] = []
    blocks = [b.model_copy(update={"line": None}) for b in markdown_blocks(lines, removed=removed)]
    if removed:
        found.append(_removed_problem(rel, None, [w for _, what in removed for w in what]))
    if not blocks:
        raise KnowledgeFileError([Problem(path=rel, message="the Word file has no text", fix="add content")])
    return blocks
