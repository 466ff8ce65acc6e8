"""The `advisor` command: consultants' knowledge tools (check, ingest, sources) and the terminal front door
(ask, chat), plus evaluation and benchmarks. Heavy libraries are imported inside commands so `advisor check`
and a no-change `advisor ingest` start fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from advisor.settings import get_settings

console = Console()
errors = Console(stderr=True)


def _fail(message: str, code: int = 1) -> None:
    errors.print(f"[bold red]Error:[/] {message}", highlight=False)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Collective Impact Advisor: grounded advice on Collective Impact for urban security and social cohesion."""


def _path_arg(path: str | None) -> Path | None:
    if path is None:
        return None
    resolved = Path(path).resolve()
    if not resolved.exists():
        _fail(f"{path} does not exist.")
    return resolved


def _print_problems(problems) -> None:
    for problem in problems:
        errors.print(f"✗ {problem}", markup=False, highlight=False, soft_wrap=True)


@main.command()
@click.argument("path", required=False)
def check(path: str | None) -> None:
    """Validate knowledge files without writing anything (fast; no model load)."""
    from ingest.pipeline import check as run_check
    from ingest.store import StoreError

    try:
        docs, problems = run_check(get_settings(), _path_arg(path))
    except StoreError as exc:
        _fail(str(exc))
    _print_problems(problems)
    failed = {p.path for p in problems}
    console.print(f"{len(docs)} file(s) valid, {len(failed)} with problems.")
    sys.exit(1 if problems else 0)


@main.command()
@click.argument("path", required=False)
@click.option("--rebuild", is_flag=True, help="Re-embed everything into a fresh collection (after a model change).")
def ingest(path: str | None, rebuild: bool) -> None:
    """Index knowledge files into the store: new and changed files are added, deleted ones removed."""
    report = run_ingest(_path_arg(path), rebuild=rebuild, show_progress=True)
    sys.exit(0 if report.ok else 1)


def run_ingest(path: Path | None = None, rebuild: bool = False, show_progress: bool = True):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingest.pipeline import ingest as run
    from ingest.store import StoreError

    settings = get_settings()
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=errors, transient=True, disable=not show_progress)
    tasks: dict[str, int] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task({"read": "Reading files", "embed": "Embedding chunks"}[stage], total=total)
        bar.update(tasks[stage], completed=done, total=total)

    try:
        with bar:
            report = run(settings, only=path, rebuild=rebuild, progress=progress)
    except Exception as exc:  # StoreError and Chroma's own errors: say what to do, no stack trace
        _fail(str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}")
    _print_problems(report.problems)
    table = Table(title="Ingest", show_header=True)
    for column in ("added", "updated", "removed", "unchanged", "failed", "chunks", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(*(str(len(x)) for x in (report.added, report.updated, report.removed, report.unchanged,
                                          report.failed)), str(report.chunks), f"{report.seconds:.2f}")
    console.print(table)
    if report.problems:
        errors.print("[yellow]Files with problems were not (re)indexed; their previous version stays searchable. "
                     "Fix them and run `advisor ingest` again.[/]")
    return report


@main.command()
def sources() -> None:
    """List the indexed documents with type, updated date and chunk count."""
    from ingest.pipeline import indexed_documents

    manifest = indexed_documents(get_settings())
    if manifest is None or not manifest.documents:
        _fail("The knowledge base is empty. Run `advisor ingest` first.")
    table = Table(show_header=True)
    for column in ("id", "title", "type", "updated", "chunks", "file"):
        table.add_column(column)
    for rel, doc in sorted(manifest.documents.items(), key=lambda kv: (kv[1].doc_type, kv[0])):
        table.add_row(doc.doc_id, doc.title, doc.doc_type, doc.updated, str(doc.chunks), rel)
    console.print(table)
    console.print(f"{len(manifest.documents)} documents, {sum(d.chunks for d in manifest.documents.values())} chunks.")


if __name__ == "__main__":
    main()
