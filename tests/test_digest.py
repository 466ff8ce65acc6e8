"""The weekly digest and the question log behind it: built from seeded questions, feedback and knowledge changes
with a frozen clock, on the real engine and a real SQLite state store."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from advisor.settings import DigestChannel
from digest.build import gaps_report, officials_digest, period_ending
from digest.deliver import run_digests
from digest.render import SLACK_MAX_BLOCKS, SLACK_SECTION_CHARS, as_text, slack_blocks, teams_card
from engine.question_log import QuestionLog
from ingest.changes import DocumentChange, IngestRun
from tests.conftest import make_settings

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.timezone.utc)  # Monday 09:00 in Brussels, ISO week 48
PRIVATE = "Can jane.doe@city.example or +32 470 12 34 56 tell @Jan Peeters how a backbone works?"


@pytest.fixture
def question_log(tmp_path):
    return lambda store_text=False: QuestionLog(f"sqlite:///{tmp_path / 'state.db'}", salt="test", store_text=store_text)


def seed(log: QuestionLog, advisor, question: str, days_ago: float, asker: str = "u1", channel: str = "C1") -> str:
    answer = advisor.ask(question, id=uuid.uuid4().hex)
    return log.record_question(answer, platform="slack", channel=channel, asker=log.pseudonym("slack", "T1", asker),
                               at=NOW - dt.timedelta(days=days_ago))


def topic_rows(log: QuestionLog) -> list[str]:
    """The questions whose topic words and embedding the log holds."""
    with log.engine.connect() as connection:
        return [row[0] for row in connection.exec_driver_sql("SELECT question_id FROM question_topics")]


def test_officials_digest_reports_changes_themes_and_a_practice_without_question_text(question_log, advisor):
    log = question_log(store_text=False)
    for question in ("What does a backbone organisation do?", "Which functions does the backbone team perform?",
                     "What do backbone staff do all day?", "How did Memphis reduce violent crime?"):
        seed(log, advisor, question, days_ago=2)
    seed(log, advisor, "What is shared measurement?", days_ago=20)  # before this week
    log.sync_knowledge_changes([IngestRun(at=NOW - dt.timedelta(days=1), changes=[
        DocumentChange(kind="added", doc_id="case-lyon", source="cases/lyon.md", title="Lyon night economy",
                       summary="How Lyon set up a backbone.", url="https://example.org/lyon")])])

    digest = officials_digest(log, advisor, period_ending(NOW, "Europe/Brussels"), "en", show_questions=True,
                              min_group=1)  # every count shown (the privacy floor has a test of its own)

    assert digest.period.week == "2026-W48"
    assert [d.title for d in digest.new_documents] == ["Lyon night economy"]
    assert digest.questions_answered == 4
    assert sum(t.count for t in digest.themes) == 4
    assert digest.themes[0].count >= 2  # the backbone questions land on the same section
    assert all(t.section and t.title == t.section.split(" > ")[-1] for t in digest.themes)  # named by its heading
    assert digest.practice is not None and digest.practice.source.startswith("guidance/")
    assert digest.practice.url.startswith("http")
    text = as_text(digest)
    assert "Lyon night economy" in text and "Practice point of the week" in text
    assert digest.example_questions == [] and "all day" not in text


def test_practice_point_rotates_week_by_week(advisor):
    from digest.build import practice_point

    guidance = advisor.passages_of_type("guidance")
    weeks = [period_ending(NOW + dt.timedelta(weeks=n), "Europe/Brussels") for n in range(4)]
    points = [practice_point(guidance, w).section for w in weeks]
    assert len(set(points)) == 4


def test_gaps_report_groups_similar_questions_and_scrubs_them(question_log, advisor):
    log = question_log(store_text=True)
    for question in ("What is the parking tax rate in Ghent?", "How high are the parking taxes in Ghent?",
                     "Who won the football match last night?"):
        seed(log, advisor, question, days_ago=1)
    unhelpful = seed(log, advisor, PRIVATE, days_ago=1)
    log.record_feedback(unhelpful, rater="r1", helpful=False, comment="Mail me at jane.doe@city.example",
                        at=NOW - dt.timedelta(days=1))
    escalated = seed(log, advisor, "How did Memphis reduce violent crime?", days_ago=1)
    log.record_escalation(escalated, platform="slack", channel="C1", asker="u1", at=NOW - dt.timedelta(days=1))

    report = gaps_report(log, advisor, period_ending(NOW, "Europe/Brussels"), "en")

    assert report.questions_asked == 5
    assert sum(g.count for g in report.gaps) == 5
    parking = next(g for g in report.gaps if any("parking" in e for e in g.examples))
    assert parking.count == 2 and parking.abstained == 2
    assert sum(g.not_helpful for g in report.gaps) == 1 and sum(g.escalated for g in report.gaps) == 1
    text = as_text(report)
    assert "jane.doe" not in text and "470" not in text and "Jan Peeters" not in text
    assert "[email]" in text and "[name]" in text
    assert all(g.closest for g in report.gaps)


def test_gaps_without_stored_text_are_grouped_by_meaning_and_named_by_the_knowledge_bases_words(question_log,
                                                                                                 advisor):
    log = question_log(store_text=False)
    for question in ("What is the GDPR retention period for police data?",
                     "How long may the police keep data on young people under the GDPR?"):
        seed(log, advisor, question, days_ago=1)
    seed(log, advisor, "What does a backbone organisation do?", days_ago=1)  # answered: not a gap

    report = gaps_report(log, advisor, period_ending(NOW, "Europe/Brussels"), "en")

    text = as_text(report)
    # The week's totals come first, then the two declined questions as one gap named by its topic words.
    assert text.splitlines()[3] == ("3 question(s) in the last seven days: 1 answered, 2 declined, 0 marked not "
                                    "helpful, 0 sent to a consultant.")
    [gap] = report.gaps
    assert gap.count == 2 and gap.abstained == 2 and gap.languages == {"en": 2}
    assert "data" in gap.topics and not {"gdpr", "retention"} & set(gap.topics)  # only the knowledge base's words
    assert gap.examples == [] and gap.sections and gap.action == "write_section"
    assert "Topic words: data" in text and "Suggested:** write a section on" in text
    assert "GDPR" not in text and "young people" not in text  # nothing of the officials' own words
    dutch = as_text(gaps_report(log, advisor, period_ending(NOW, "Europe/Brussels"), "nl"))
    assert "Kennislacunes" in dutch and "Onderwerpwoorden: data" in dutch


def test_quiet_week_says_so_in_one_line(question_log, advisor):
    log = question_log()
    period = period_ending(NOW, "Europe/Brussels")
    assert "Rien de nouveau" in as_text(officials_digest(log, advisor, period, "fr")) or \
        "bonne pratique" in as_text(officials_digest(log, advisor, period, "fr"))
    assert "No knowledge gaps this week" in as_text(gaps_report(log, advisor, period, "en"))


def test_renderings_respect_platform_limits(question_log, advisor):
    log = question_log(store_text=True)
    long_question = "How does a backbone organisation coordinate partners? " * 60
    for n in range(8):
        seed(log, advisor, f"{long_question} Variant {n}: what is the tax rate on dogs in Lille?", days_ago=1)
    report = gaps_report(log, advisor, period_ending(NOW, "Europe/Brussels"), "en")
    blocks = slack_blocks(report)
    assert len(blocks) <= SLACK_MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= SLACK_SECTION_CHARS for b in blocks if b["type"] == "section")
    card = teams_card(report)
    assert card["version"] == "1.5" and card["body"][0]["text"].startswith("Knowledge gaps")


def test_posting_is_once_per_channel_and_week_and_a_failed_post_is_retried(question_log, advisor, kb_settings):
    log = question_log()
    settings = kb_settings.model_copy(update={"digest_channels": [
        DigestChannel(platform="slack", channel="C-OFF", audience="officials", language="nl"),
        DigestChannel(platform="slack", channel="C-CONS", audience="consultants")]})
    posted: list[str] = []
    fail = {"C-CONS"}

    def poster(channel, digest):
        if channel.channel in fail:
            raise ConnectionError("Slack is down")
        posted.append(channel.channel)
        return f"{channel.channel}:{len(posted)}"

    first = run_digests(settings, log, advisor, posters={"slack": poster}, now=NOW)
    assert [d.status for d in first] == ["posted", "failed"]
    fail.clear()
    second = run_digests(settings, log, advisor, posters={"slack": poster}, now=NOW + dt.timedelta(hours=1))
    assert [d.status for d in second] == ["already-posted", "posted"]
    assert posted == ["C-OFF", "C-CONS"]
    assert log.digest_message("slack:C-OFF:officials", "2026-W48") == "C-OFF:1"
    next_week = run_digests(settings, log, advisor, posters={"slack": poster}, now=NOW + dt.timedelta(days=7))
    assert [d.status for d in next_week] == ["posted", "posted"]


def test_a_claim_left_by_a_crashed_run_is_taken_over(question_log):
    log = question_log()
    assert log.claim_digest("slack:C1:officials", "2026-W48")
    assert not log.claim_digest("slack:C1:officials", "2026-W48")  # a concurrent run
    assert log.claim_digest("slack:C1:officials", "2026-W48", stale_after=dt.timedelta(0))  # the crashed one
    log.mark_digest_posted("slack:C1:officials", "2026-W48", "ts-1")
    assert not log.claim_digest("slack:C1:officials", "2026-W48", stale_after=dt.timedelta(0))


def test_retention_removes_old_rows_and_keeps_recent_ones(question_log, advisor, kb_settings):
    log = question_log()
    old = seed(log, advisor, "What is shared measurement?", days_ago=200)
    log.record_feedback(old, rater="r1", helpful=True)
    recent = seed(log, advisor, "What is a common agenda?", days_ago=3)
    log.record_feedback(recent, rater="r1", helpful=True)
    run_digests(kb_settings, log, advisor, posters={}, channels=[], now=NOW)
    assert [q.id for q in log.questions()] == [recent]
    assert [f.question_id for f in log.feedback()] == [recent]
    assert topic_rows(log) == [recent]  # what the question was about goes with it


def test_privacy_export_and_forget_by_platform_identity(question_log, advisor, kb_settings, monkeypatch, tmp_path):
    from advisor.cli import main
    from advisor.settings import get_settings

    log = question_log()
    mine = seed(log, advisor, "What is a common agenda?", days_ago=1, asker="U-ME")
    theirs = seed(log, advisor, "What is shared measurement?", days_ago=1, asker="U-OTHER")
    log.record_feedback(theirs, rater=log.pseudonym("slack", "T1", "U-ME"), helpful=False)
    monkeypatch.setenv("ADVISOR_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("ADVISOR_PSEUDONYM_SALT", "test")
    get_settings.cache_clear()
    try:
        exported = CliRunner().invoke(main, ["privacy", "export", "--user", "slack:T1:U-ME"])
        assert exported.exit_code == 0, exported.output
        data = json.loads(exported.output)
        assert [q["id"] for q in data["questions"]] == [mine] and len(data["feedback"]) == 1
        forgot = CliRunner().invoke(main, ["privacy", "forget", "--user", "slack:T1:U-ME", "--yes"])
        assert forgot.exit_code == 0, forgot.output
    finally:
        get_settings.cache_clear()
    assert [q.id for q in log.questions()] == [theirs] and log.feedback() == []
    assert topic_rows(log) == [theirs]


def test_schedule_runs_only_with_channels_and_survives_a_failing_job(kb_settings):
    from digest.schedule import start_digest_schedule

    assert start_digest_schedule(kb_settings, lambda: None) is None
    configured = kb_settings.model_copy(update={"digest_channels": [DigestChannel(platform="slack", channel="C1")]})
    scheduler = start_digest_schedule(configured, lambda: 1 / 0)
    try:
        job = scheduler.get_job("weekly-digest")
        assert str(job.trigger.timezone) == "Europe/Brussels"
        assert job.next_run_time.weekday() == 0 and job.next_run_time.hour == 9
        job.func()  # a failing digest is logged, not raised into the front door
    finally:
        scheduler.shutdown(wait=False)


def test_two_concurrent_digest_posts_send_one_message_per_channel(kb_settings, tmp_path):
    """Two `advisor digest --post` processes (two cron hosts) against the local stand-in for Slack's Web API:
    Slack cannot be reached from tests, so the stand-in records what would have been posted."""
    import os
    import subprocess
    import sys

    from tests.slack_support import TOKEN, FakeSlack

    slack = FakeSlack().start()
    try:
        env = {**os.environ, "ADVISOR_KNOWLEDGE_DIR": str(kb_settings.knowledge_dir),
               "ADVISOR_STORE_DIR": str(kb_settings.store_dir),
               "ADVISOR_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
               "ADVISOR_DIGEST_CHANNELS": json.dumps([
                   {"platform": "slack", "channel": "C0OFFICIALS", "audience": "officials", "language": "fr"},
                   {"platform": "slack", "channel": "C0CONSULT", "audience": "consultants"}]),
               "SLACK_BOT_TOKEN": TOKEN, "ADVISOR_SLACK_API_URL": slack.api_url}
        command = [sys.executable, "-m", "advisor.cli", "digest", "--post", "--json"]
        runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        outputs = [run.communicate(timeout=300) for run in runs]
        assert all(run.returncode == 0 for run in runs), outputs
        posts = slack.calls_to("chat.postMessage")
        assert sorted(call.params["channel"] for call in posts) == ["C0CONSULT", "C0OFFICIALS"]
        officials = next(call for call in posts if call.params["channel"] == "C0OFFICIALS")
        assert officials.params["blocks"][0]["text"]["text"].startswith("Collective Impact Advisor : synthèse")
        statuses = sorted(json.loads(line)["status"] for out, _ in outputs for line in out.splitlines())
        assert statuses == ["already-posted", "already-posted", "posted", "posted"]
    finally:
        slack.stop()


def test_a_translation_is_not_a_new_document_and_a_dutch_channel_reads_the_dutch_title(question_log, advisor):
    log = question_log()
    log.sync_knowledge_changes([IngestRun(at=NOW - dt.timedelta(days=1), changes=[
        DocumentChange(kind="added", doc_id="case-lyon", source="cases/lyon.md", title="Lyon night economy",
                       summary="How Lyon set up a backbone.", url="https://example.org/lyon"),
        DocumentChange(kind="added", doc_id="case-lyon-nl", source="cases/lyon.nl.md", title="Het nachtleven in Lyon",
                       summary="Hoe Lyon een backbone opzette.", url="https://example.org/lyon"),
        DocumentChange(kind="added", doc_id="case-lyon-fr", source="cases/lyon.fr.md", title="La vie nocturne à Lyon",
                       summary="Comment Lyon a mis en place un backbone.", url="https://example.org/lyon")])])
    period = period_ending(NOW, "Europe/Brussels")
    assert [(d.title, d.summary) for d in officials_digest(log, advisor, period, "nl").new_documents] == [
        ("Het nachtleven in Lyon", "Hoe Lyon een backbone opzette.")]
    assert [d.title for d in officials_digest(log, advisor, period, "en").new_documents] == ["Lyon night economy"]
    assert [d.title for d in officials_digest(log, advisor, period, "de").new_documents] == ["Lyon night economy"]


def test_feedback_comments_are_kept_like_question_text_and_forgetting_leaves_nothing_on_disk(question_log, advisor,
                                                                                             tmp_path):
    comment = "Wrong answer, ask Jan at jan.peeters@mechelen.example"
    quiet = question_log(store_text=False)
    rated = seed(quiet, advisor, "How did Memphis reduce violent crime?", days_ago=1, asker="u9")
    quiet.record_feedback(rated, rater="r9", helpful=False, comment=comment)
    assert [f.comment for f in quiet.feedback()] == [None]  # no text kept when question text is not

    kept = QuestionLog(f"sqlite:///{tmp_path / 'kept.db'}", salt="test", store_text=True)
    rated = seed(kept, advisor, "Which words do officials use for a backbone?", days_ago=1, asker="u9")
    kept.record_feedback(rated, rater=kept.pseudonym("slack", "T1", "u9"), helpful=False, comment=comment)
    assert [f.comment for f in kept.feedback()] == ["Wrong answer, ask Jan at [email]"]
    # Erasing the person while the log stays open (as a front door keeps it): the text is in neither the database
    # file nor its write-ahead log.
    kept.forget_person(kept.pseudonym("slack", "T1", "u9"))
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("kept.db*"))
    assert b"Which words do officials use" not in on_disk and b"Wrong answer" not in on_disk


def test_the_first_digest_after_installation_fits_in_one_screen_in_the_channel_language(question_log, advisor,
                                                                                        kb_settings):
    from ingest.pipeline import indexed_documents

    log = question_log()
    documents = indexed_documents(kb_settings).documents  # the first ingest: every file is new
    log.sync_knowledge_changes([IngestRun(at=NOW - dt.timedelta(days=1), changes=[
        DocumentChange(kind="added", doc_id=d.doc_id, source=rel, title=d.title, summary=d.summary, url=d.url)
        for rel, d in documents.items()])])
    for question in ("Wat doet een backbone-organisatie?", "Hoe pakte Ottawa jeugdbendes aan?"):
        seed(log, advisor, question, days_ago=1)

    digest = officials_digest(log, advisor, period_ending(NOW, "Europe/Brussels"), "nl")

    assert digest.new_documents == [] and sum(digest.holdings.values()) == 16  # summarised, not listed
    assert "Wie moet in onze stad de partners coördineren?" in [d.title for d in digest.approved_answers]
    text = as_text(digest)
    assert len(text.splitlines()) <= 22, text  # about 20 lines, the title and its underline included
    assert "16 documenten" in text and "casestudies (3)" in text
    assert "Praktijktip van de week" in text
    # The practice point is quoted from the Dutch translation of the guidance.
    assert digest.practice is not None and digest.practice.source.endswith(".nl.md")
    blocks = slack_blocks(digest)
    slack_lines = sum(b["text"]["text"].count("\n") + 1 for b in blocks if b["type"] == "section")
    assert slack_lines <= 20 and "**" not in json.dumps(blocks)  # Block Kit mrkdwn, not raw Markdown


def test_the_officials_digest_reports_no_small_group_and_no_question_from_a_private_conversation(question_log,
                                                                                                advisor):
    log = question_log(store_text=True)
    seed(log, advisor, "How did Memphis reduce violent crime?", days_ago=1, channel="dm")  # one question: a person
    period = period_ending(NOW, "Europe/Brussels")

    alone = officials_digest(log, advisor, period, "en", show_questions=True)
    assert alone.questions_answered == 0 and alone.themes == [] and alone.example_questions == []
    assert "Memphis" not in as_text(alone).split("Practice point")[0]

    for question in ("What did Memphis do against violent crime?", "Who led Operation: Safe Community in Memphis?"):
        seed(log, advisor, question, days_ago=1)
    grown = officials_digest(log, advisor, period, "en", show_questions=True)
    assert grown.questions_answered == 3
    # Asked in a channel, two questions may be quoted only with a third beside them; the direct message never is.
    assert grown.example_questions == [] and "How did Memphis reduce" not in as_text(grown)
    seed(log, advisor, "Which partners did Memphis bring together?", days_ago=1)
    shown = officials_digest(log, advisor, period, "en", show_questions=True)
    assert len(shown.example_questions) == 3 and "How did Memphis reduce violent crime?" not in shown.example_questions


def test_the_pseudonym_key_is_kept_out_of_the_database_it_protects(tmp_path):
    from engine.question_log import PSEUDONYM_KEY_FILE, pseudonymise

    settings = make_settings(tmp_path / "knowledge", tmp_path / "store")  # SQLite state.db beside the store
    database = tmp_path / "state.db"
    log = QuestionLog.from_settings(settings)
    key_file = tmp_path / PSEUDONYM_KEY_FILE
    assert key_file.exists() and key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text()
    pseudonym = log.pseudonym("slack", "T1", "U1")
    log.close()
    assert key.encode() not in database.read_bytes()
    assert QuestionLog.from_settings(settings).pseudonym("slack", "T1", "U1") == pseudonym  # stable across restarts

    # A log from before: its key sat in the database. It moves to the file, so stored pseudonyms still match.
    key_file.unlink()
    with sqlite3.connect(database) as connection:
        connection.execute("INSERT INTO meta (key, value) VALUES ('pseudonym_salt', ?)", ("k" * 64,))
    moved = QuestionLog.from_settings(settings)
    assert moved.pseudonym("slack", "T1", "U1") == pseudonymise("k" * 64, "slack", "T1", "U1")
    assert key_file.read_text() == "k" * 64
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM meta WHERE key = 'pseudonym_salt'").fetchone() == (0,)


def test_a_shared_state_database_needs_the_pseudonym_key_set(tmp_path, monkeypatch):
    from advisor.cli import main
    from advisor.settings import get_settings

    monkeypatch.setenv("ADVISOR_STATE_URL", "postgresql://advisor@127.0.0.1:1/advisor")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["privacy", "export", "--user", "slack:T1:U1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "Set ADVISOR_PSEUDONYM_SALT" in result.output and "Traceback" not in result.output


def test_a_failed_digest_post_is_logged_without_tokens_or_user_ids(kb_settings, tmp_path):
    """`advisor digest --post` as cron runs it, against a stand-in for Slack's Web API (the real one cannot be
    reached from tests) whose error body carries a token and a user id."""
    import http.server
    import os
    import subprocess
    import sys
    import threading

    class RefusingSlack(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"ok": False, "error": "not_in_channel",
                               "detail": "xoxb-111-222-secret could not post for U0PRIVATE01"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RefusingSlack)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "ADVISOR_KNOWLEDGE_DIR": str(kb_settings.knowledge_dir),
           "ADVISOR_STORE_DIR": str(kb_settings.store_dir), "ADVISOR_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
           "ADVISOR_PSEUDONYM_SALT": "test-key-of-sixteen-chars", "SLACK_BOT_TOKEN": "xoxb-111-222-secret",
           "ADVISOR_SLACK_API_URL": f"http://127.0.0.1:{server.server_port}/api/",
           "ADVISOR_DIGEST_CHANNELS": '[{"platform": "slack", "channel": "C0DIGEST", "audience": "officials"}]'}
    try:
        run = subprocess.run([sys.executable, "-m", "advisor.cli", "digest", "--post"], env=env, capture_output=True,
                             text=True, timeout=300, cwd=Path(__file__).parent.parent)
    finally:
        server.shutdown()
    assert run.returncode == 1 and "failed" in run.stdout
    assert "not_in_channel" in run.stderr  # the reason is there for the administrator
    assert "xoxb-111-222-secret" not in run.stdout + run.stderr and "U0PRIVATE01" not in run.stderr
