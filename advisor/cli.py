"""The `advisor` command: consultants' knowledge tools (check, ingest, sources) and the terminal front door
(ask, chat), plus evaluation and benchmarks. Heavy libraries are imported inside commands so `advisor check`
and a no-change `advisor ingest` start fast.
"""

from __future__ import annotations

import json
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


class _Commands(click.Group):
    """The commands, with a misconfigured state database said in one line rather than a stack trace."""

    def invoke(self, ctx: click.Context):
        from engine.question_log import StateError

        try:
            return super().invoke(ctx)
        except StateError as exc:
            _fail(str(exc))


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
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
    """Errors (the file is not indexed) with ✗, warnings (indexed, with something taken out) with !."""
    for problem in problems:
        mark = "✗" if problem.is_error else "!"
        errors.print(f"{mark} {problem}", markup=False, highlight=False, soft_wrap=True)


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
    except Exception as exc:  # a file's own errors are problems; anything else is said in one line, not a trace
        _fail(f"{type(exc).__name__}: {exc}")
    _print_problems(problems)
    failed = {p.path for p in problems if p.is_error}
    warned = {p.path for p in problems if not p.is_error} - failed
    console.print(f"{len(docs)} file(s) valid, {len(failed)} with problems"
                  + (f", {len(warned)} with warnings." if warned else "."))
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("path", required=False)
@click.option("--rebuild", is_flag=True, help="Re-embed everything into a new collection beside the live one, which "
              "serves until the new one is complete (after a model change). An interrupted rebuild resumes.")
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
    if report.added or report.updated or report.removed:
        _sync_changes(settings)
    table = Table(title="Ingest", show_header=True)
    for column in ("added", "updated", "removed", "unchanged", "failed", "chunks", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(*(str(len(x)) for x in (report.added, report.updated, report.removed, report.unchanged,
                                          report.failed)), str(report.chunks), f"{report.seconds:.2f}")
    console.print(table)
    if not report.ok:
        errors.print("[yellow]Files with problems (✗) were not (re)indexed; their previous version stays searchable. "
                     "Fix them and run `advisor ingest` again.[/]")
    return report


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON array of the documents, for scripts.")
def sources(as_json: bool) -> None:
    """List the indexed documents: id, title, type, updated date, chunk count and file. Piped (not to a
    terminal), one tab-separated line per document, in that order, nothing shortened."""
    from ingest.pipeline import indexed_documents

    manifest = indexed_documents(get_settings())
    if manifest is None or not manifest.documents:
        _fail("The knowledge base is empty. Run `advisor ingest` first.")
    rows = [{"id": doc.doc_id, "title": doc.title, "type": doc.doc_type, "updated": doc.updated,
             "chunks": doc.chunks, "file": rel}
            for rel, doc in sorted(manifest.documents.items(), key=lambda kv: (kv[1].doc_type, kv[0]))]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not console.is_terminal:
        for row in rows:
            click.echo("\t".join(" ".join(str(value).split()) for value in row.values()))
        return
    table = Table(show_header=True)
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    console.print(table)
    console.print(f"{len(rows)} documents, {sum(row['chunks'] for row in rows)} chunks.")


def _sync_changes(settings) -> None:
    """Copy what ingest changed into the question log, where the weekly digest (on any machine) reads it."""
    from engine.question_log import QuestionLog
    from ingest.changes import read_runs

    question_log = QuestionLog.from_settings(settings)
    question_log.sync_knowledge_changes(read_runs(settings.store_dir))
    question_log.close()


def _load_advisor():
    """The engine, after bringing the store up to date with the knowledge folder (a no-op when nothing changed)."""
    from ingest.pipeline import IngestReport
    from ingest.pipeline import ingest as run
    from ingest.store import IngestRunning, StoreError

    settings = get_settings()
    try:
        report = run(settings)
    except IngestRunning:  # a consultant is re-ingesting: answer from what is indexed, it refreshes when done
        errors.print("[yellow]An ingest is running; answering from the knowledge base as indexed so far.[/]")
        report = IngestReport()
    except StoreError as exc:
        _fail(str(exc))
    if report.added or report.updated or report.removed:
        _sync_changes(settings)
        errors.print(f"[dim]Indexed the knowledge base: {len(report.added)} added, {len(report.updated)} updated, "
                     f"{len(report.removed)} removed.[/]")
    if report.problems:  # one line: the asker came for an answer, the details are `advisor check`'s
        files = len({p.path for p in report.problems})
        errors.print(f"[yellow]{files} knowledge file(s) have problems; answering from what is indexed. "
                     "Run `advisor check` for details.[/]", soft_wrap=True)
    from engine.advisor import Advisor

    try:
        return Advisor(settings)
    except StoreError as exc:
        _fail(str(exc))


def _parse_filters(pairs: tuple[str, ...]):
    from engine.models import Filters

    values: dict[str, object] = {"topics": []}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in Filters.model_fields:
            _fail(f"--filter {pair!r}: use KEY=VALUE with KEY one of {', '.join(Filters.model_fields)}.")
        if key == "topics":
            values["topics"].append(value.strip())
        else:
            values[key] = value.strip()
    return Filters(**values)


@main.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON (the stable contract).")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="Only sources with this metadata: doc_type, topics, country, city_size. Repeatable.")
@click.option("--top-k", type=click.IntRange(1, 20), default=None, help="Passages to consider.")
@click.option("--questions", type=click.Path(exists=True, dir_okay=False),
              help='JSON Lines file of {"id": ..., "question": ...}; one answer per line, same order.')
def ask(question: str | None, as_json: bool, filters: tuple[str, ...], top_k: int | None, questions: str | None) -> None:
    """Answer a question (or a file of questions) from the knowledge base, with numbered citations."""
    import json

    from bot.terminal import render
    from engine.advisor import QuestionError

    if (question is None) == (questions is None):
        _fail("Give either a QUESTION or --questions FILE.jsonl.")
    chosen = _parse_filters(filters)
    items: list[tuple[str | None, str]] = []
    if questions:
        for number, line in enumerate(Path(questions).read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                items.append((item.get("id"), str(item["question"])))
            except (ValueError, KeyError, AttributeError):
                _fail(f'{questions}:{number}: expected a JSON object with a "question" field.')
    else:
        items.append((None, question))
    advisor = _load_advisor()
    record = _question_recorder()
    for item_id, text in items:
        try:
            answer = advisor.ask(text, filters=chosen, top_k=top_k, id=item_id)
        except QuestionError as exc:
            _fail(str(exc))
        record(answer)
        if as_json:
            click.echo(answer.model_dump_json())
        else:
            console.print(render(answer))


@main.command()
def chat() -> None:
    """Talk with the advisor in the terminal; follow-up questions use the conversation so far."""
    from bot.terminal import chat as run_chat

    run_chat(_load_advisor(), console, on_answer=_question_recorder())


def _question_recorder():
    """Logs command-line answers to the question log (platform `cli`, the asker pseudonymised) like any front door."""
    import getpass
    import uuid

    from engine.question_log import QuestionLog

    question_log = QuestionLog.from_settings(get_settings())
    asker = question_log.pseudonym("cli", getpass.getuser())

    def record(answer) -> None:
        # Batch ids (`--questions`) repeat across runs; the log keys on a fresh id, the output keeps the caller's.
        logged = answer.model_copy(update={"id": uuid.uuid4().hex})
        question_log.record_question(logged, platform="cli", channel="terminal", asker=asker,
                                     latency_ms=answer.timings_ms.total)

    return record


@main.command()
@click.option("--dry-run", "mode", flag_value="dry-run", default=True, help="Print the digests (the default).")
@click.option("--post", "mode", flag_value="post", help="Post them to the configured channels (for cron).")
@click.option("--audience", type=click.Choice(["officials", "consultants"]), default=None,
              help="Only the officials' digest or the consultants' knowledge-gaps report.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per channel.")
def digest(mode: str, audience: str | None, as_json: bool) -> None:
    """Build the weekly digest of each channel in ADVISOR_DIGEST_CHANNELS; post it once per channel and week."""
    from advisor.settings import DigestChannel
    from digest.deliver import run_digests
    from digest.render import as_text
    from engine.question_log import QuestionLog

    settings = get_settings()
    if mode == "post":
        from bot.slack.redact import configure_logging

        # A failed post is logged with the platform's error body: the same redaction as `advisor slack`.
        configure_logging(settings.log_level)
    channels = settings.digest_channels
    if not channels:
        if mode == "post":
            _fail("No digest channels configured: set ADVISOR_DIGEST_CHANNELS (see README, Weekly digest).")
        channels = [DigestChannel(platform="slack", channel="preview", audience=a) for a in ("officials", "consultants")]
    posters = _digest_posters(settings, channels) if mode == "post" else None
    deliveries = run_digests(settings, QuestionLog.from_settings(settings), _load_advisor(), posters=posters,
                             audience=audience, channels=channels)
    for delivery in deliveries:
        if as_json:
            click.echo(delivery.model_dump_json())
        else:
            console.print(f"[bold]{delivery.channel}[/] ({delivery.week}): {delivery.status}")
            if mode == "dry-run":
                console.print(as_text(delivery.digest), markup=False, highlight=False)
                console.print()
    if any(d.status == "failed" for d in deliveries):
        sys.exit(1)


def _digest_posters(settings, channels) -> dict:
    from digest.deliver import slack_poster, teams_poster

    makers = {"slack": slack_poster, "teams": teams_poster}
    try:
        return {platform: makers[platform](settings) for platform in {c.platform for c in channels}}
    except ValueError as exc:
        _fail(str(exc))


@main.group()
def privacy() -> None:
    """Data-subject requests: what the question log holds about a person, and erasing it.

    USER is the platform identity, `slack:TEAM_ID:USER_ID`, `teams:TENANT_ID:USER_ID` or `cli:LOGIN`, or the
    pseudonym itself as shown in logs."""


def _person(question_log, user: str) -> str:
    parts = user.split(":")
    if len(parts) == 1:
        return user
    if parts[0] not in {"slack", "teams", "cli"}:
        _fail(f"--user {user!r}: use slack:TEAM_ID:USER_ID, teams:TENANT_ID:USER_ID, cli:LOGIN or a pseudonym.")
    return question_log.pseudonym(*parts)


@privacy.command(name="export")
@click.option("--user", required=True, help="slack:TEAM_ID:USER_ID, teams:TENANT_ID:USER_ID, cli:LOGIN or a pseudonym.")
def privacy_export(user: str) -> None:
    """Print, as JSON, everything the question log holds about one person."""
    import json

    from engine.question_log import QuestionLog

    question_log = QuestionLog.from_settings(get_settings())
    person = _person(question_log, user)
    click.echo(json.dumps({"person": person, **question_log.export_person(person)}, default=str, indent=2))


@privacy.command(name="forget")
@click.option("--user", required=True, help="slack:TEAM_ID:USER_ID, teams:TENANT_ID:USER_ID, cli:LOGIN or a pseudonym.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def privacy_forget(user: str, yes: bool) -> None:
    """Erase one person's questions, feedback and escalations from the question log."""
    from engine.question_log import QuestionLog

    question_log = QuestionLog.from_settings(get_settings())
    person = _person(question_log, user)
    if not yes:
        click.confirm(f"Erase everything the question log holds about {person}?", abort=True)
    removed = question_log.forget_person(person)
    console.print("Removed " + ", ".join(f"{n} {kind}" for kind, n in removed.items()) + f" for {person}.")


@main.command(name="eval")
@click.option("--devset", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON Lines development set (default: eval/devset.jsonl).")
@click.option("--split", type=click.Choice(["test", "tune", "all"]), default="test", show_default=True,
              help="Report on the test half; tune constants on the tuning half only.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--show-failures", is_flag=True, help="List questions whose abstention was wrong.")
@click.option("--fit-abstention", is_flag=True,
              help="Fit the abstention model on the tuning half and print its constants (engine/abstention.py).")
@click.option("--fit-approved", is_flag=True,
              help="Choose on the tuning half how closely a question must match an approved answer (engine/approved.py).")
def evaluate(devset: str | None, split: str, as_json: bool, show_failures: bool, fit_abstention: bool,
             fit_approved: bool) -> None:
    """Measure retrieval, answers, abstention and latency on the development set."""
    from engine import evaluation

    from advisor.settings import PROJECT_DIR

    path = Path(devset) if devset else PROJECT_DIR / "eval" / "devset.jsonl"
    paraphrases = path.with_name("approved.jsonl")
    if fit_abstention:
        click.echo(json.dumps(evaluation.fit_abstention(_load_advisor(), evaluation.load_devset(path, "tune")), indent=2))
        return
    if fit_approved:
        click.echo(json.dumps(evaluation.fit_approved(_load_advisor(), evaluation.load_devset(path, "tune"),
                                                      evaluation.load_paraphrases(paraphrases, "tune")), indent=2))
        return
    report = evaluation.evaluate(_load_advisor(), evaluation.load_devset(path, split), split,
                                 evaluation.load_paraphrases(paraphrases, split))
    if as_json:
        click.echo(evaluation.report_json(report))
        return
    table = Table(title=f"Section retrieval, {split} split: the {report.in_scope} of {report.questions} questions "
                        "in scope")
    for column in ("retriever", "hit@1", "hit@5", "MRR", "hit@5 other languages"):
        table.add_column(column, justify="right")
    for mode, r in report.retrieval.items():
        table.add_row(mode, f"{r.hit1:.3f}", f"{r.hit5:.3f}", f"{r.mrr:.3f}", f"{r.hit5_other_languages:.3f}")
    console.print(table)
    answers = Table(title="Answers")
    answers.add_column("measure")
    answers.add_column("value", justify="right")
    for name, value in (("answer cites a gold section", report.cites_gold_section),
                        ("key-fact coverage", report.key_fact_coverage),
                        ("abstention precision", report.abstention_precision),
                        ("abstention recall", report.abstention_recall),
                        ("abstention recall, near misses", report.near_miss_recall),
                        ("false abstention", report.false_abstention),
                        ("answers leaning on an unshown sentence or about the knowledge base",
                         report.leaning_or_meta_answers),
                        ("answers in the question's language (nl, fr, de)", report.answers_in_language),
                        ("answer words, median", report.words_median),
                        ("answers of 60-180 words", report.words_in_range),
                        ("latency p50 (ms)", report.latency_p50_ms), ("latency p95 (ms)", report.latency_p95_ms),
                        ("abstain threshold", report.threshold)):
        answers.add_row(name, f"{value:g}")
    console.print(answers)
    if show_failures:
        for failure in report.failures:
            console.print(failure, markup=False)
    if report.approved is not None:
        a = report.approved
        console.print(f"Approved answers ({a.answers}, floor {a.floor:g}, margin {a.margin:g}): "
                      f"{len(a.false_matches)} false matches among {a.questions} questions"
                      f"{' (' + ', '.join(a.false_matches) + ')' if a.false_matches else ''}; "
                      f"{a.labelled_matched} of {a.labelled} questions that may get one got it; "
                      f"{a.paraphrases_matched} of {a.paraphrases} paraphrases got the one they ask for.")


@main.group(invoke_without_command=True)
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port of /api/messages (default: ADVISOR_TEAMS_PORT or 3978).")
@click.option("--allow-anonymous", is_flag=True,
              help="Serve without verifying requests when no Teams credentials are set (local testing only).")
@click.pass_context
def teams(ctx: click.Context, port: int | None, allow_anonymous: bool) -> None:
    """Serve the Microsoft Teams agent on /api/messages (see docs/teams.md); `teams package` builds the app."""
    if ctx.invoked_subcommand is not None:
        return
    from bot.teams.auth import CredentialsMissing
    from bot.teams.server import run

    try:  # the credentials are checked before the engine loads, so a missing variable is reported at once
        run(get_settings(), port, allow_anonymous, _load_advisor)
    except CredentialsMissing as exc:
        _fail(str(exc))


@teams.command(name="package")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default="build/teams-app.zip", show_default=True,
              help="Where to write the zip.")
def teams_package(output: str) -> None:
    """Build the Teams app package (manifest and icons, zipped) for a tenant admin to upload."""
    from bot.teams.package import PackageError, build_package

    try:
        path = build_package(get_settings(), Path(output))
    except PackageError as exc:
        _fail(str(exc))
    console.print(f"Wrote {path}: upload it in the Teams admin center (docs/teams.md).")


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="HTTP port (default ADVISOR_SLACK_PORT, 3000).")
def slack(port: int | None) -> None:
    """Run the Slack app: Socket Mode with SLACK_APP_TOKEN, else HTTP on /slack/events (see docs/slack.md)."""
    from bot.slack.app import SetupError
    from bot.slack.server import run

    try:  # the settings are checked before the engine loads, so a missing variable is reported at once
        run(get_settings(), _load_advisor, port=port)
    except SetupError as exc:
        _fail(str(exc))


if __name__ == "__main__":
    main()
