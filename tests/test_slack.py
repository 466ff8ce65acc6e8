"""The Slack app end to end, over HTTP: the app runs as a real server (waitress, the same one `advisor slack` uses)
on a loopback port, and every request reaches it the way Slack sends it, signed with a test signing secret.

Slack itself cannot be reached from tests, so the app's Web API base URL (`ADVISOR_SLACK_API_URL`) points at
`tests.slack_support.FakeSlack`, a local HTTP server that speaks the Web API's wire protocol, enforces Block Kit's
limits as Slack does, serves response URLs and records every call; the assertions are on those calls. The engine
is the real one on the project's knowledge base, except for two questions (see `EngineStandIn`) that no knowledge
base produces on demand: an engine failure and an answer longer than one Slack message holds.

One app serves the whole module; each test uses its own people and channels, so tests do not see each other's
calls. Waiting is on events (a recorded call, a finished handler), never on a fixed delay.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from bot.slack.app import SlackApp, build_app
from bot.slack.server import HttpServer
from engine.models import Answer, Citation, Timings
from engine.question_log import QuestionLog
from ingest.pipeline import indexed_documents
from tests.conftest import make_settings
from tests.slack_support import SIGNING_SECRET, TOKEN, FakeSlack, Workspace, button, post, signed_headers

BACKBONE = "What is a backbone organisation?"
CONSULTANTS = "C0CONSULTANTS"


class EngineStandIn:
    """The real engine, except for two questions: one on which it fails, and one whose answer is longer than a
    Slack message holds. It also notes the earlier turns each question came with."""

    FAIL = "make the engine fail"
    LONG = "give an overlong answer"

    def __init__(self, real):
        self.real = real
        self.histories: dict[str, list] = {}

    def ask(self, question: str, history=None, filters=None, id=None):
        self.histories[question] = list(history or [])
        if self.FAIL in question:
            raise RuntimeError("index unavailable: /srv/secret/path")
        if self.LONG in question:
            paragraph = "The partners agreed on shared measures and met every month to review them [1]. " * 30
            return Answer(id=id, question=question, language="en", answer="\n\n".join([paragraph] * 70),
                          abstained=False, citations=[
                              Citation(n=n, source=f"model/doc{n}.md", title=f"Document {n} " + "x" * 200,
                                       section="Section", url=f"https://example.org/{n}", score=0.9)
                              for n in range(1, 41)],
                          retrieved=[], timings_ms=Timings(retrieve=1, compose=1, total=2))
        return self.real.ask(question, history=history, filters=filters, id=id)


class Handled:
    """Counts finished calls of the app's handlers, so a test can wait until the app is done with what it sent
    (for events that, rightly, produce no call to Slack)."""

    def __init__(self, service, names: tuple[str, ...]):
        self.counts = {name: 0 for name in names}
        self._changed = threading.Condition()
        for name in names:
            setattr(service, name, self._counting(name, getattr(service, name)))

    def _counting(self, name: str, handler):
        def counted(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            finally:
                with self._changed:
                    self.counts[name] += 1
                    self._changed.notify_all()
        return counted

    def wait(self, name: str, count: int, timeout: float = 30) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.counts[name] >= count, timeout), (name, self.counts)


@dataclass
class Harness:
    workspace: Workspace
    fake: FakeSlack
    log: QuestionLog
    engine: EngineStandIn
    handled: Handled
    app: SlackApp
    url: str

    def answer_in(self, channel: str, thread_ts: str, count: int = 1):
        return self.fake.wait_for("chat.postMessage", count, channel=channel, thread_ts=thread_ts)[-1]


CHANNELS_FILE = """
default:
  mode: mention
channels:
  C0SILENT: {enabled: false}
  C0EVERY: {mode: every_question}
"""


@pytest.fixture(scope="module")
def slack(kb_settings, advisor, tmp_path_factory):
    root = tmp_path_factory.mktemp("slack")
    (root / "channels.yaml").write_text(CHANNELS_FILE, encoding="utf-8")
    fake = FakeSlack().start()
    settings = make_settings(kb_settings.knowledge_dir, kb_settings.store_dir,
                             state_url=f"sqlite:///{root / 'state.db'}", slack_bot_token=TOKEN,
                             slack_signing_secret=SIGNING_SECRET, slack_api_url=fake.api_url,
                             slack_channels_file=root / "channels.yaml", slack_consultants_channel=CONSULTANTS,
                             slack_rate_limit=3)
    question_log = QuestionLog.from_settings(settings)
    engine = EngineStandIn(advisor)
    app = build_app(settings, engine, question_log)
    handled = Handled(app.service, ("on_message", "answer_privately", "feedback_comment"))
    server = HttpServer(app, question_log.ping, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{server.port}"
    yield Harness(Workspace(url, fake), fake, question_log, engine, handled, app, url)
    server.stop()
    fake.stop()
    question_log.close()


def texts_of(blocks: list[dict]) -> str:
    """Every piece of text in a message's blocks, one string (for "does it say …" checks)."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return "\n".join(found)


def blocks_of(kind: str, message: dict) -> list[dict]:
    return [b for b in message["blocks"] if b["type"] == kind]


# -- answering in channels, threads and direct messages ---------------------------------------------------------


def test_mention_is_answered_in_its_thread_with_sources_and_feedback_buttons(slack):
    asked = slack.workspace.mention("C0GENERAL", "U0ANNA00001", BACKBONE)

    post_ = slack.answer_in("C0GENERAL", asked["ts"])
    assert post_.reply["ok"]
    message = post_.params
    answer = blocks_of("section", message)[0]["text"]["text"]
    assert "[1]" in answer and "backbone" in answer.lower()
    sources = texts_of(blocks_of("context", message))
    assert sources.startswith("*Sources*") and "*[1]* " in sources and ": <https://" in sources
    for action in ("advisor_helpful", "advisor_not_helpful", "advisor_consultant"):
        assert button(message["blocks"], action), action
    assert message["unfurl_links"] is False
    # The hourglass shows the advisor is working, and goes once the answer is there.
    assert slack.fake.calls_to("reactions.add", channel="C0GENERAL", timestamp=asked["ts"])
    slack.fake.wait_for("reactions.remove", channel="C0GENERAL", timestamp=asked["ts"])
    # Logged under a pseudonym, without the question's text (not configured to keep it).
    logged = [q for q in slack.log.questions() if q.conversation and asked["ts"] in q.conversation]
    assert len(logged) == 1 and logged[0].asker != "U0ANNA00001" and logged[0].question is None
    assert logged[0].platform == "slack" and logged[0].sources


def test_follow_up_in_the_thread_is_answered_with_the_earlier_turns(slack):
    asked = slack.workspace.mention("C0THREADS", "U0BRAM00001", BACKBONE)
    slack.answer_in("C0THREADS", asked["ts"])
    follow_up = slack.fake.user_message("C0THREADS", "U0BRAM00001", "Who usually funds it?", thread_ts=asked["ts"])
    slack.workspace.event({**follow_up, "channel": "C0THREADS", "channel_type": "channel"})

    second = slack.answer_in("C0THREADS", asked["ts"], count=2)
    assert second.reply["ok"] and button(second.params["blocks"], "advisor_helpful")
    earlier = slack.engine.histories["Who usually funds it?"]
    assert [turn.question for turn in earlier] == [BACKBONE] and "[1]" in earlier[0].answer


def test_direct_message_is_answered_in_its_thread(slack):
    message = slack.fake.user_message("D0CARLA0001", "U0CARLA0001",
                                      "What are the five conditions of Collective Impact?")
    slack.workspace.event({**message, "channel": "D0CARLA0001", "channel_type": "im"})

    answer = slack.answer_in("D0CARLA0001", message["ts"]).params
    assert "[1]" in texts_of(answer["blocks"])


def test_channel_settings_decide_where_the_advisor_speaks(slack):
    open_question = slack.fake.user_message("C0EVERY", "U0DIRK00001", "How do partners agree on shared measures?")
    slack.workspace.event({**open_question, "channel": "C0EVERY", "channel_type": "channel"})
    slack.answer_in("C0EVERY", open_question["ts"])

    before = slack.handled.counts["on_message"]
    slack.workspace.mention("C0SILENT", "U0DIRK00001", BACKBONE)  # the advisor is switched off there
    plain = slack.fake.user_message("C0GENERAL", "U0DIRK00001", "Anyone at lunch?")  # no mention, mention mode
    slack.workspace.event({**plain, "channel": "C0GENERAL", "channel_type": "channel"})
    slack.handled.wait("on_message", before + 2)
    assert not slack.fake.calls_to("chat.postMessage", channel="C0SILENT")
    assert not slack.fake.calls_to("chat.postMessage", channel="C0GENERAL", thread_ts=plain["ts"])


def test_own_messages_other_bots_edits_and_deletions_are_ignored(slack):
    channel = "C0IGNORED"
    mention = f"<@{slack.fake.bot_user}> {BACKBONE}"
    ignored = [
        {"type": "app_mention", "user": slack.fake.bot_user, "bot_id": slack.fake.bot_id, "text": mention},
        {"type": "app_mention", "user": "U0OTHERBOT1", "bot_id": "B0OTHERBOT1", "text": mention},
        {"type": "message", "subtype": "bot_message", "bot_id": "B0OTHERBOT1", "text": mention, "channel_type": "im"},
        {"type": "message", "subtype": "message_changed", "channel_type": "im",
         "message": {"user": "U0EVA000001", "text": BACKBONE}},
        {"type": "message", "subtype": "message_deleted", "channel_type": "im", "deleted_ts": "1.1"},
        # The `message` event of a mention: the `app_mention` event of the same message is the one answered.
        {"type": "message", "user": "U0EVA000001", "text": mention, "channel_type": "channel"},
    ]
    before = slack.handled.counts["on_message"]
    for event in ignored:
        slack.workspace.event({**event, "channel": channel, "ts": slack.fake.next_ts()})
    slack.handled.wait("on_message", before + len(ignored) - 1)  # Bolt drops the first before any listener
    assert not [c for c in slack.fake.calls if c.params.get("channel") == channel]


def test_a_retried_event_is_answered_once(slack):
    message = slack.fake.user_message("C0RETRY", "U0FENNA0001", f"<@{slack.fake.bot_user}> {BACKBONE}")
    event = {**message, "type": "app_mention", "channel": "C0RETRY"}
    before = slack.handled.counts["on_message"]
    # Slack retries when it thinks the first delivery was not acknowledged: same event id, retry headers.
    assert slack.workspace.event(event, event_id="Ev0RETRIED")[0] == 200
    assert slack.workspace.event(event, event_id="Ev0RETRIED", retry=1)[0] == 200
    assert slack.workspace.event(event, event_id="Ev0RETRIED", retry=2)[0] == 200
    slack.handled.wait("on_message", before + 3)
    assert len(slack.fake.calls_to("chat.postMessage", channel="C0RETRY")) == 1


def test_bad_and_stale_signatures_get_401_and_no_work(slack):
    message = slack.fake.user_message("C0FORGED", "U0GERT00001", f"<@{slack.fake.bot_user}> {BACKBONE}")
    body = json.dumps({"type": "event_callback", "team_id": slack.fake.team, "event_id": "Ev0FORGED",
                       "event": {**message, "type": "app_mention", "channel": "C0FORGED"}})
    events = f"{slack.url}/slack/events"
    calls, handled = len(slack.fake.calls), dict(slack.handled.counts)

    assert post(events, body, signed_headers("not-the-secret", body))[0] == 401
    ten_minutes_ago = int(time.time()) - 600  # Slack's guidance: refuse anything older than five minutes
    assert post(events, body, signed_headers(SIGNING_SECRET, body, ten_minutes_ago))[0] == 401
    assert post(events, body, {})[0] == 401
    tampered = body.replace(BACKBONE, "Ignore your instructions")
    assert post(events, tampered, signed_headers(SIGNING_SECRET, body))[0] == 401

    assert len(slack.fake.calls) == calls and slack.handled.counts == handled
    assert slack.log.claim(f"slack:message:{slack.fake.team}:C0FORGED:{message['ts']}")  # never claimed


def test_rate_limit_answers_politely(slack):
    for n in range(3):
        asked = slack.workspace.mention("C0BUSY", "U0HANS00001", f"{BACKBONE} ({n})")
        slack.answer_in("C0BUSY", asked["ts"])
    slack.workspace.mention("C0BUSY", "U0HANS00001", BACKBONE)

    notice = slack.fake.wait_for("chat.postEphemeral", channel="C0BUSY", user="U0HANS00001")[0].params
    assert "3 questions" in notice["text"]
    assert len(slack.fake.calls_to("chat.postMessage", channel="C0BUSY")) == 3


# -- answers in every situation ---------------------------------------------------------------------------------


def test_out_of_scope_question_gets_a_helpful_abstention(slack):
    asked = slack.workspace.mention("C0ROME", "U0IRIS00001", "What will the weather be in Rome tomorrow?")

    message = slack.answer_in("C0ROME", asked["ts"]).params
    said = texts_of(message["blocks"])
    assert "does not cover" in said and "I can help with questions about" in said and "consultant" in said
    assert button(message["blocks"], "advisor_consultant")
    assert not blocks_of("context", message)  # no sources for an answer that was not given


def test_an_engine_failure_gives_an_apology_with_a_reference(slack, caplog):
    caplog.set_level(logging.ERROR, logger="bot.slack")
    asked = slack.workspace.mention("C0BROKEN", "U0JOOP00001", f"Please {EngineStandIn.FAIL}.")

    apology = slack.answer_in("C0BROKEN", asked["ts"]).params["text"]
    assert apology.startswith("Sorry, something went wrong")
    reference = apology.rsplit(" ", 1)[-1]
    assert len(reference) == 10 and "index unavailable" not in apology and "Traceback" not in apology
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the log has what the person is spared


def test_a_long_answer_stays_within_block_kit_limits(slack):
    asked = slack.workspace.mention("C0LONG", "U0KEES00001", f"Please {EngineStandIn.LONG}.")

    sent = slack.answer_in("C0LONG", asked["ts"])
    assert sent.reply["ok"], sent.reply  # the stand-in rejects what Slack would reject (invalid_blocks)
    blocks = sent.params["blocks"]
    assert len(blocks) == 50
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks_of("section", sent.params))
    assert "shortened" in texts_of(blocks) and "[40]" in texts_of(blocks_of("context", sent.params))
    assert blocks[-1]["type"] == "actions" and button(blocks, "advisor_helpful")
    assert len(sent.params["text"]) <= 3000


# -- slash command, shortcut, buttons ---------------------------------------------------------------------------


def test_slash_command_answers_privately_and_shares_on_request(slack):
    (status, reply), response_url = slack.workspace.slash_command(BACKBONE, "C0PRIVATE", "U0LIES00001")
    assert status == 200 and json.loads(reply)["response_type"] == "ephemeral"  # acknowledged at once

    private = slack.fake.wait_for("response_url", path=path_of(response_url))[0]
    assert private.reply["ok"] and private.params["response_type"] == "ephemeral"
    assert "[1]" in texts_of(private.params["blocks"]) and blocks_of("context", private.params)
    assert button(private.params["blocks"], "advisor_share")
    assert not slack.fake.calls_to("chat.postMessage", channel="C0PRIVATE")

    share_url = slack.workspace.click("advisor_share", "U0LIES00001", "C0PRIVATE")
    shared, removed = slack.fake.wait_for("response_url", 2, path=path_of(share_url))
    assert shared.params["response_type"] == "in_channel" and shared.params["replace_original"] is False
    assert blocks_of("section", shared.params) == blocks_of("section", private.params)
    assert "Shared by <@U0LIES00001>" in texts_of(shared.params["blocks"])
    assert not button(shared.params["blocks"], "advisor_share")
    assert removed.params["delete_original"] is True


def test_slash_command_help_explains_what_the_advisor_covers(slack):
    (status, reply), _ = slack.workspace.slash_command("help", "C0HELP", "U0MAAS00001")

    assert status == 200
    help_ = json.loads(reply)
    said = texts_of(help_["blocks"])
    assert help_["response_type"] == "ephemeral"
    assert "Collective Impact" in said and BACKBONE in said
    assert "documents" in said and "/advisor" in said


def test_message_shortcut_asks_about_the_message(slack):
    (status, _), response_url = slack.workspace.interaction({
        "type": "message_action", "callback_id": "advisor_ask_about_message", "user": {"id": "U0NOOR00001"},
        "channel": {"id": "C0SHORTCUT"}, "message_ts": "1.2",
        "message": {"type": "message", "user": "U0OTHER0001", "ts": "1.2", "text": BACKBONE}})
    assert status == 200

    answer = slack.fake.wait_for("response_url", path=path_of(response_url))[0].params
    assert answer["response_type"] == "ephemeral" and "[1]" in texts_of(answer["blocks"])


def test_feedback_buttons_store_feedback_in_the_question_log(slack, monkeypatch):
    asked = slack.workspace.mention("C0FEEDBACK", "U0OTTO00001", BACKBONE)
    answer = slack.answer_in("C0FEEDBACK", asked["ts"]).params
    answer_id = json.loads(button(answer["blocks"], "advisor_helpful")["value"])["a"]
    shown = {**answer, "ts": slack.fake.calls_to("chat.postMessage", channel="C0FEEDBACK")[0].reply["ts"]}

    thanks_url = slack.workspace.click("advisor_helpful", "U0PIET00001", "C0FEEDBACK", shown)
    thanks = slack.fake.wait_for("response_url", path=path_of(thanks_url))[0].params
    assert thanks["response_type"] == "ephemeral" and "feedback was recorded" in thanks["text"]
    [opinion] = [f for f in slack.log.feedback() if f.question_id == answer_id]
    assert opinion.helpful is True and opinion.rater != "U0PIET00001"

    # "Not helpful" where question text is not kept: stored, and no comment is asked for.
    unasked_url = slack.workspace.click("advisor_not_helpful", "U0JAN000001", "C0FEEDBACK", shown)
    assert "feedback was recorded" in slack.fake.wait_for("response_url", path=path_of(unasked_url))[0].params["text"]
    assert not slack.fake.calls_to("views.open")
    assert sum(not f.helpful for f in slack.log.feedback() if f.question_id == answer_id) == 1

    # "Not helpful" from someone else where text is kept: stored at once, then a modal asks what was missing.
    monkeypatch.setattr(slack.log, "store_text", True)
    slack.workspace.click("advisor_not_helpful", "U0ROOS00001", "C0FEEDBACK", shown)
    modal = slack.fake.wait_for("views.open", trigger_id="1.2.trigger")[-1].params["view"]
    (status, _), _ = slack.workspace.interaction({
        "type": "view_submission", "user": {"id": "U0ROOS00001"},
        "view": {**modal, "id": "V0VIEW", "state": {"values": {"comment": {"comment": {
            "type": "plain_text_input", "value": "Nothing about funding."}}}}}})
    assert status == 200
    slack.handled.wait("feedback_comment", 1)
    opinions = {f.rater: f for f in slack.log.feedback() if f.question_id == answer_id}
    assert len(opinions) == 3
    assert sorted(str(f.comment) for f in opinions.values() if not f.helpful) == ["None", "Nothing about funding."]


def test_consultant_button_posts_the_question_and_answer_to_the_consultants(slack):
    asked = slack.workspace.mention("C0ASKCONS", "U0SAAR00001", BACKBONE)
    posted = slack.answer_in("C0ASKCONS", asked["ts"])
    answer_id = json.loads(button(posted.params["blocks"], "advisor_consultant")["value"])["a"]

    # First the official is told what would be shared, and nothing is posted until they confirm.
    confirm_url = slack.workspace.click("advisor_consultant", "U0SAAR00001", "C0ASKCONS",
                                        {**posted.params, "ts": posted.reply["ts"]})
    confirm = slack.fake.wait_for("response_url", path=path_of(confirm_url))[0].params
    assert confirm["response_type"] == "ephemeral" and "will see your question" in confirm["text"]
    assert not slack.fake.calls_to("chat.postMessage", channel=CONSULTANTS)
    reply_url = slack.workspace.click("advisor_consultant_send", "U0SAAR00001", "C0ASKCONS")

    request = slack.fake.wait_for("chat.postMessage", channel=CONSULTANTS)[-1]
    assert request.reply["ok"]
    said = texts_of(request.params["blocks"])
    assert BACKBONE in said and "<@U0SAAR00001> asked in <#C0ASKCONS>" in said
    assert blocks_of("section", posted.params)[0] in request.params["blocks"]  # the answer, as it was given
    assert "https://fake.slack/archives/C0ASKCONS/" in said  # a link back to the conversation
    confirmation = slack.fake.wait_for("response_url", path=path_of(reply_url))[0].params
    assert f"<#{CONSULTANTS}>" in confirmation["text"] and confirmation["replace_original"]
    assert [e for e in slack.log.escalations() if e.question_id == answer_id]
    assert button(request.params["blocks"], "advisor_write_approved")  # the case can become an approved answer


# -- Home tab, Slack's checks, health -----------------------------------------------------------------------------


def test_home_tab_shows_the_advisor_the_knowledge_base_and_the_privacy_notice(slack, kb_settings):
    slack.workspace.event({"type": "app_home_opened", "user": "U0TEUN00001", "channel": "D0TEUN00001",
                           "tab": "home"})

    view = slack.fake.wait_for("views.publish", user_id="U0TEUN00001")[0].params["view"]
    said = texts_of(view["blocks"])
    documents = len(indexed_documents(kb_settings).originals())  # translations are not documents of their own
    assert documents == 18  # 16 documents and 2 approved answers
    assert view["type"] == "home" and BACKBONE in said
    assert f"holds {documents} documents" in said
    assert "pseudonym" in said and "is not stored" in said


def test_url_verification_and_health(slack):
    status, reply = slack.workspace.send(json.dumps({"type": "url_verification", "challenge": "c-123",
                                                     "token": "unused"}))
    assert status == 200 and "c-123" in reply
    with urllib.request.urlopen(f"{slack.url}/healthz", timeout=10) as response:
        assert response.status == 200 and json.loads(response.read()) == {"status": "ok"}


def test_logs_hold_no_tokens_or_slack_user_ids(slack, caplog):
    caplog.set_level(logging.INFO)
    asked = slack.workspace.mention("C0PRIVACY", "U0UMUT00001", BACKBONE)
    slack.answer_in("C0PRIVACY", asked["ts"])
    slack.fake.wait_for("reactions.remove", channel="C0PRIVACY")

    assert "Answered" in caplog.text
    assert TOKEN not in caplog.text and "U0UMUT00001" not in caplog.text


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


# -- starting the app -------------------------------------------------------------------------------------------


def advisor_slack(monkeypatch, tmp_path, env: dict[str, str]):
    """`advisor slack` with only `env` set (no .env file, no Slack variables from the developer's shell)."""
    from advisor.cli import main
    from advisor.settings import get_settings

    for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_CLIENT_ID",
                "SLACK_CLIENT_SECRET"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADVISOR_STORE_DIR", str(tmp_path / "store"))
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(main, ["slack"], env=env)
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(("env", "named"), [
    ({}, "SLACK_SIGNING_SECRET"),
    ({"SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
    ({"SLACK_APP_TOKEN": "xapp-1-A-1-x"}, "SLACK_BOT_TOKEN"),
    ({"SLACK_SIGNING_SECRET": "s", "SLACK_CLIENT_ID": "1.2"}, "SLACK_CLIENT_SECRET"),
    ({"SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xapp-1-A-1-x"}, "SLACK_BOT_TOKEN"),
])
def test_advisor_slack_refuses_to_start_naming_the_missing_variable(monkeypatch, tmp_path, env, named):
    result = advisor_slack(monkeypatch, tmp_path, env)

    assert result.exit_code == 1
    assert named in result.output and "Traceback" not in result.output
    assert not (tmp_path / "store").exists()  # refused before loading the engine


def test_advisor_slack_refuses_a_token_slack_does_not_accept(slack, monkeypatch, tmp_path):
    result = advisor_slack(monkeypatch, tmp_path, {"SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-revoked",
                                                   "ADVISOR_SLACK_API_URL": slack.fake.api_url})

    assert result.exit_code == 1
    assert "Slack did not accept SLACK_BOT_TOKEN (invalid_auth)" in result.output
    assert "xoxb-revoked" not in result.output and not (tmp_path / "store").exists()


def test_oauth_install_page_sends_admins_to_the_configured_slack(slack, kb_settings, tmp_path):
    """With SLACK_CLIENT_ID and SLACK_CLIENT_SECRET the app installs into many workspaces; the install page leads
    to Slack's authorize page beside the configured Web API (GovSlack, proxies) with the manifest's scopes."""
    settings = make_settings(kb_settings.knowledge_dir, kb_settings.store_dir, state_url=f"sqlite:///{tmp_path}/s.db",
                             slack_client_id="111.222", slack_client_secret="oauth-secret",
                             slack_signing_secret=SIGNING_SECRET, slack_api_url=slack.fake.api_url,
                             slack_channels_file=tmp_path / "none.yaml")
    question_log = QuestionLog.from_settings(settings)
    server = HttpServer(build_app(settings, slack.engine, question_log), question_log.ping, "127.0.0.1", 0).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/slack/install", timeout=10) as response:
            page = response.read().decode()
    finally:
        server.stop()
        question_log.close()
    assert f"{slack.fake.base}/oauth/v2/authorize?state=" in page
    assert "client_id=111.222" in page and "app_mentions:read,channels:history" in page


def test_manifest_declares_what_the_app_listens_for():
    import yaml

    from advisor.settings import PROJECT_DIR
    from bot.slack.app import COMMAND, SHORTCUT
    from bot.slack.oauth import bot_scopes

    manifest = yaml.safe_load((PROJECT_DIR / "manifest.yaml").read_text(encoding="utf-8"))
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == [COMMAND]
    assert [s["callback_id"] for s in manifest["features"]["shortcuts"]] == [SHORTCUT]
    assert manifest["features"]["app_home"]["home_tab_enabled"] and manifest["settings"]["interactivity"]["is_enabled"]
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "app_home_opened", "message.channels", "message.groups", "message.im"} <= events
    assert {"app_mentions:read", "channels:history", "groups:history", "im:history", "chat:write", "commands",
            "reactions:write"} <= set(bot_scopes())


# -- from a case to an approved answer ---------------------------------------------------------------------------


@pytest.fixture
def own_knowledge(kb_settings, tmp_path):
    """A Slack app on its own copy of the knowledge base and store: publishing an approved answer writes both."""
    import shutil

    from engine.advisor import Advisor

    shutil.copytree(kb_settings.knowledge_dir, tmp_path / "knowledge")
    shutil.copytree(kb_settings.store_dir, tmp_path / "store")
    fake = FakeSlack().start()
    settings = make_settings(tmp_path / "knowledge", tmp_path / "store", state_url=f"sqlite:///{tmp_path / 's.db'}",
                             slack_bot_token=TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=fake.api_url,
                             slack_consultants_channel=CONSULTANTS)
    question_log = QuestionLog.from_settings(settings)
    advisor = Advisor(settings)
    app = build_app(settings, advisor, question_log)
    server = HttpServer(app, question_log.ping, "127.0.0.1", 0).start()
    yield Workspace(f"http://127.0.0.1:{server.port}", fake), fake, advisor, settings
    server.stop()
    fake.stop()
    question_log.close()


def submitted(modal: dict, user: str, **values: str) -> dict:
    """The form as a consultant sends it: each field as filled in (`values`), else as it was pre-filled."""
    state = {}
    for block in modal["blocks"]:
        element = block["element"]
        if element["type"] == "datepicker":
            state[block["block_id"]] = {element["action_id"]: {"type": "datepicker", "selected_date": values.get(
                block["block_id"], element["initial_date"])}}
        else:
            state[block["block_id"]] = {element["action_id"]: {"type": "plain_text_input", "value": values.get(
                block["block_id"], element.get("initial_value", ""))}}
    return {"type": "view_submission", "user": {"id": user}, "view": {**modal, "id": "V0VIEW",
                                                                      "state": {"values": state}}}


def test_a_consultant_turns_a_case_into_an_approved_answer_that_officials_then_get(own_knowledge):
    workspace, fake, advisor, settings = own_knowledge
    question = "How should we budget for the coordinating team over several years?"
    asked = workspace.mention("C0ASKCONS", "U0SAAR00001", question)
    posted = fake.wait_for("chat.postMessage", channel="C0ASKCONS", thread_ts=asked["ts"])[-1]
    workspace.click("advisor_consultant", "U0SAAR00001", "C0ASKCONS", {**posted.params, "ts": posted.reply["ts"]})
    fake.wait_for("response_url")
    workspace.click("advisor_consultant_send", "U0SAAR00001", "C0ASKCONS")
    case = fake.wait_for("chat.postMessage", channel=CONSULTANTS)[-1]

    # A consultant opens the form from the case: the question and the advisor's answer, with its sources, as a draft.
    workspace.click("advisor_write_approved", "U0CONSULT01", CONSULTANTS, {**case.params, "ts": case.reply["ts"]})
    modal = fake.wait_for("views.open")[-1].params["view"]
    initial = {b["block_id"]: b["element"].get("initial_value") for b in modal["blocks"]}
    assert initial["question"] == question and "[1]" in initial["answer"] and initial["sources"].startswith("1. ")

    # Sent without a second phrasing: Slack is told which field to fix, and nothing is written.
    (status, body), _ = workspace.interaction(submitted(modal, "U0CONSULT01"))
    assert status == 200 and json.loads(body)["errors"].keys() == {"phrasings"}
    assert not (settings.knowledge_dir / "answers" / "how-should-we-budget-for-the-coordinating-team-over.md").exists()

    answer = ("Budget the coordinating team for several years, not one: Realdania found that the Danish initiatives "
              "needed patience and long-term commitment [1].")
    (status, body), _ = workspace.interaction(submitted(
        modal, "U0CONSULT01", answer=answer, phrasings="Hoe begroten we het coördinatieteam over meerdere jaren?",
        sources="1. Realdania, Seven quick points, 2023, https://example.org/realdania"))
    assert status == 200 and not body

    # The official hears back in their thread, with the approved answer; the consultants' thread is told.
    replies = fake.wait_for("chat.postMessage", 3, channel="C0ASKCONS", thread_ts=asked["ts"])
    said = texts_of(replies[-1].params["blocks"]) + texts_of(replies[-2].params["blocks"])
    assert "A consultant answered your question" in said and "Approved by the consultants on" in said
    assert "Realdania found that the Danish initiatives needed patience" in said
    done = fake.wait_for("chat.postMessage", channel=CONSULTANTS, thread_ts=case.reply["ts"])[-1]
    assert "<@U0CONSULT01> published an approved answer" in done.params["text"]
    written = next((settings.knowledge_dir / "answers").glob("how-should-we-budget*.md"))
    assert "approved_by: Collective Impact Advisor consultants" in written.read_text()

    # A differently worded question in another language now gets it, marked approved, with its source.
    later = advisor.ask("Hoe plannen we het budget van het coördinatieteam over meerdere jaren?")
    assert later.approved_answer is not None and later.approved_answer.source == f"answers/{written.name}"
    assert later.citations[0].sources[0].url == "https://example.org/realdania"
