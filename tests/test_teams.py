"""The Teams agent over its wire protocol: Bot Framework activities posted over HTTP to the running agent's
`/api/messages`, replies captured where Teams would receive them, cards validated against Adaptive Card 1.5.

The agent is the real aiohttp app of `advisor teams` (Agents SDK adapter, JWT check, real engine on the project's
knowledge base, real question log in SQLite). Microsoft's Bot Connector service cannot be reached from here, so a
local stand-in that speaks its REST protocol receives the agent's replies and records them (tests/teams_support.py).
One agent serves the whole module; each test uses its own conversation ids.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import uuid
import zipfile
from dataclasses import dataclass

import aiohttp
import jsonschema
import pytest
from PIL import Image

from advisor.settings import Settings
from bot.teams.auth import CredentialsMissing, auth_configuration
from bot.teams.cards import build_answer_card, card_labels
from bot.teams.references import UnknownConversation, list_references, send_proactive
from bot.teams.server import MAX_REQUEST_BYTES, create_app
from engine.question_log import QuestionLog
from tests.conftest import make_settings
from tests.teams_support import (AGENT, SCHEMAS, BackgroundLoop, ConnectorStandIn, assert_valid_card, card_action,
                                 card_actions, card_texts, cards_in, members_added, members_removed, message,
                                 post_json)

IN_SCOPE = "What is a backbone organisation?"
OUT_OF_SCOPE = "What will the weather be in Rome tomorrow?"
# The sections that define the backbone: the model document's and the glossary's.
BACKBONE_SOURCES = {"model/backbone-organisation.md", "glossary.md"}
CONSULTANTS = "19:consultants@thread.tacv2"
LABELS = card_labels("en")


class RecordingAdvisor:
    """The real engine, with a record of what each question was asked with; `failure` makes the next call raise
    it, standing in for a broken store or model (the only part of these tests that is not the real thing)."""

    def __init__(self, advisor):
        self.advisor = advisor
        self.calls: list[tuple[str, list]] = []
        self.failure: Exception | None = None

    def ask(self, question, history=None, **kwargs):
        self.calls.append((question, list(history or [])))
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
        return self.advisor.ask(question, history=history, **kwargs)


@dataclass
class Agent:
    url: str
    connector: ConnectorStandIn
    connector_url: str
    settings: Settings
    question_log: QuestionLog
    advisor: RecordingAdvisor
    loop: BackgroundLoop

    def post(self, body: dict, **kwargs) -> tuple[int, object]:
        return post_json(self.url + "/api/messages", body, **kwargs)

    @staticmethod
    def conversation(kind: str = "personal") -> str:
        """A new conversation id, shaped as Teams shapes them."""
        return f"19:{uuid.uuid4().hex}@thread.tacv2" if kind == "channel" else f"a:{uuid.uuid4().hex}"

    def ask(self, text: str, conversation: str, **kwargs) -> dict:
        """Send a question; return the card the agent answered with (the one message sent to that conversation)."""
        before = len(self.connector.messages(conversation))
        status, _ = self.post(message(self.connector_url, conversation, text, **kwargs))
        assert status in (200, 202)
        sent = self.connector.messages(conversation)[before:]
        assert len(sent) == 1, sent
        (card,) = cards_in(sent[0])
        return card


@pytest.fixture(scope="module")
def agent(kb_settings, advisor, tmp_path_factory):
    root = tmp_path_factory.mktemp("teams")
    settings = make_settings(kb_settings.knowledge_dir, kb_settings.store_dir, state_url=f"sqlite:///{root}/state.db",
                             store_question_text=True, teams_consultants_conversation=CONSULTANTS)
    loop = BackgroundLoop()
    connector = ConnectorStandIn()
    connector_url = loop.serve(connector.app)
    question_log = QuestionLog.from_settings(settings)
    recording = RecordingAdvisor(advisor)
    url = loop.serve(create_app(settings, allow_anonymous=True, advisor=recording, question_log=question_log))
    yield Agent(url=url, connector=connector, connector_url=connector_url, settings=settings,
                question_log=question_log, advisor=recording, loop=loop)
    loop.close()
    question_log.close()


def logged(agent: Agent, question_id: str):
    return next(q for q in agent.question_log.questions() if q.id == question_id)


# -- answers ---------------------------------------------------------------------------------------------------


def test_personal_chat_answer_is_a_valid_card_with_numbered_sources_and_actions(agent):
    conversation = agent.conversation()
    card = agent.ask(IN_SCOPE, conversation)

    assert_valid_card(card)
    texts = card_texts(card)
    assert "[1]" in texts[0]  # the answer cites its first source
    sources = texts[texts.index(LABELS["sources"]) + 1:]
    source_lines = [t for t in sources if t.startswith("[")]
    # Numbered, naming the section quoted, then linking the publications behind its quoted sentences.
    assert source_lines and source_lines[0].startswith("[1] ") and "](http" in source_lines[0]
    assert any("](http" in line for line in source_lines)
    actions = card_actions(card)
    assert set(actions) == {"helpful", "not_helpful", "consultant"}
    question_id = actions["helpful"]["data"]["question_id"]

    row = logged(agent, question_id)
    assert (row.platform, row.channel, row.abstained) == ("teams", "personal", False)
    assert row.sources and set(row.sources) <= BACKBONE_SOURCES
    assert row.question == IN_SCOPE  # question text is kept only because this agent is configured to keep it
    assert "official-1" not in row.asker and len(row.asker) == 20  # a pseudonym, not the Teams id


def test_channel_answers_only_when_mentioned_in_the_thread_and_saves_the_channel(agent):
    channel = agent.conversation("channel")
    thread = f"{channel};messageid=1700000000001"
    status, _ = agent.post(message(agent.connector_url, thread, "Colleagues, what is a backbone organisation?",
                                   conversation_type="channel"))
    assert status in (200, 202) and agent.connector.messages(thread) == []  # not addressed to the agent

    asked = message(agent.connector_url, thread, IN_SCOPE, mention=True, conversation_type="channel",
                    colleagues=({"id": "29:colleague", "name": "Piet Jansen"},))
    agent.post(asked)
    (reply,) = agent.connector.messages(thread)
    record = next(r for r in agent.connector.received if r["activity"] is reply)
    assert record["reply_to"] == asked["id"]  # answered in the thread of the question
    card = cards_in(reply)[0]
    assert_valid_card(card)
    assert agent.advisor.calls[-1][0] == IN_SCOPE  # neither the agent's @mention nor a colleague's is part of it
    row = logged(agent, card_actions(card)["helpful"]["data"]["question_id"])
    assert row.channel == channel and row.question == IN_SCOPE  # colleagues' names are not stored

    saved = {r.conversation_id: r for r in list_references(agent.settings, "channel")}
    assert channel in saved  # the channel itself, so the digest can start a new thread there
    assert saved[channel].conversation.conversation_reference.service_url == agent.connector_url


def test_follow_up_questions_use_the_earlier_turns_of_their_conversation(agent):
    conversation, other = agent.conversation(), agent.conversation()
    first = agent.ask(IN_SCOPE, conversation)
    assert_valid_card(agent.ask("Who pays for it?", conversation))
    _question, history = agent.advisor.calls[-1]
    assert [turn.question for turn in history] == [IN_SCOPE]
    assert card_texts(first)[0] in history[0].answer  # the earlier answer travels with it

    agent.ask("Who pays for it?", other)
    assert agent.advisor.calls[-1][1] == []  # another conversation starts fresh


def test_out_of_scope_question_abstains_and_offers_only_a_consultant(agent):
    conversation = agent.conversation()
    card = agent.ask(OUT_OF_SCOPE, conversation)
    assert_valid_card(card)
    assert LABELS["sources"] not in card_texts(card)
    actions = card_actions(card)
    assert set(actions) == {"consultant"}
    assert logged(agent, actions["consultant"]["data"]["question_id"]).abstained


def test_the_same_activity_delivered_twice_is_answered_once(agent):
    conversation = agent.conversation()
    activity = message(agent.connector_url, conversation, IN_SCOPE)
    agent.post(activity)
    agent.post(activity)  # Teams retries when it thinks the first delivery failed
    assert len(agent.connector.messages(conversation)) == 1


def test_engine_failure_gets_an_apology_with_a_reference_and_no_details(agent, caplog):
    conversation = agent.conversation()
    agent.advisor.failure = RuntimeError("secret detail: /srv/store is broken for jane.doe@city.eu")
    with caplog.at_level(logging.ERROR):
        agent.post(message(agent.connector_url, conversation, IN_SCOPE))
    (reply,) = agent.connector.messages(conversation)
    text = reply["text"]
    assert text.startswith(LABELS["apology"].split("{")[0])
    reference = text.rsplit(" ", 1)[-1]
    assert len(reference) == 12
    assert "secret" not in text and "Traceback" not in text and "RuntimeError" not in text
    failure_logs = [r.getMessage() for r in caplog.records if reference in r.getMessage()]
    assert failure_logs and "RuntimeError" in failure_logs[0]
    assert not any("jane.doe" in r.getMessage() for r in caplog.records)  # the message may quote personal data


# -- card actions ----------------------------------------------------------------------------------------------


def _click(agent: Agent, conversation: str, verb: str, question_id: str, user: str = "29:official-1") -> dict:
    status, body = agent.post(card_action(agent.connector_url, conversation, verb, {"question_id": question_id},
                                          user=user))
    assert status == 200
    return body


def test_helpful_and_not_helpful_are_stored_once_per_person_and_the_card_is_redrawn(agent):
    conversation = agent.conversation()
    card = agent.ask(IN_SCOPE, conversation)
    question_id = card_actions(card)["helpful"]["data"]["question_id"]

    response = _click(agent, conversation, "helpful", question_id)
    assert response["statusCode"] == 200 and response["type"] == "application/vnd.microsoft.card.adaptive"
    redrawn = response["value"]
    assert_valid_card(redrawn)
    assert LABELS["feedback_thanks"] in card_texts(redrawn)
    assert set(card_actions(redrawn)) == {"consultant"}  # the rating buttons are gone, the answer stays
    assert card_texts(redrawn)[0] == card_texts(card)[0]
    feedback = [f for f in agent.question_log.feedback() if f.question_id == question_id]
    assert [f.helpful for f in feedback] == [True]
    assert feedback[0].rater == logged(agent, question_id).asker  # same pseudonym for the same person

    _click(agent, conversation, "not_helpful", question_id)  # a change of mind replaces the first opinion
    _click(agent, conversation, "helpful", question_id, user="29:official-2")
    feedback = [f for f in agent.question_log.feedback() if f.question_id == question_id]
    assert sorted(f.helpful for f in feedback) == [False, True] and len({f.rater for f in feedback}) == 2


def test_a_click_on_a_card_the_agent_no_longer_remembers_is_still_stored(agent):
    conversation = agent.conversation()
    question_id = card_actions(agent.ask(IN_SCOPE, conversation))["helpful"]["data"]["question_id"]
    response = _click(agent, agent.conversation(), "helpful", question_id)  # e.g. after a restart
    assert response["value"] == LABELS["feedback_thanks"]
    assert any(f.question_id == question_id for f in agent.question_log.feedback())


def test_a_click_without_a_question_id_is_refused(agent):
    status, body = agent.post(card_action(agent.connector_url, agent.conversation(), "helpful", {"question_id": ""}))
    assert status == 200 and body["statusCode"] == 400


def test_ask_a_consultant_is_stored_and_posted_to_the_consultants_channel(agent):
    # The agent was added to the consultants' channel: Teams sent the install event there.
    agent.post(members_added(agent.connector_url, CONSULTANTS, [AGENT["id"]], conversation_type="channel"))
    conversation = agent.conversation()
    card = agent.ask(OUT_OF_SCOPE, conversation)
    question_id = card_actions(card)["consultant"]["data"]["question_id"]
    before = len(agent.connector.messages(CONSULTANTS))

    click = card_action(agent.connector_url, conversation, "consultant", {"question_id": question_id})
    status, response = agent.post(click)
    assert status == 200
    agent.post(click)  # delivered again: stored and posted once
    redrawn = response["value"]
    assert_valid_card(redrawn)
    assert LABELS["consultant_asked"] in card_texts(redrawn) and not card_actions(redrawn)
    assert [e.question_id for e in agent.question_log.escalations()].count(question_id) == 1

    (copy,) = agent.connector.messages(CONSULTANTS)[before:]
    consultants_card = cards_in(copy)[0]
    assert_valid_card(consultants_card)
    assert any(OUT_OF_SCOPE in text for text in card_texts(consultants_card))
    assert question_id in card_texts(consultants_card)[-1]


# -- joining, leaving, proactive posts --------------------------------------------------------------------------


def test_welcome_card_when_added_and_reference_kept_until_removed(agent):
    team_channel = agent.conversation("channel")
    status, _ = agent.post(members_added(agent.connector_url, team_channel, ["29:colleague"],
                                         conversation_type="channel"))
    assert status in (200, 202) and agent.connector.messages(team_channel) == []  # a colleague joined: silence

    agent.post(members_added(agent.connector_url, team_channel, [AGENT["id"]], conversation_type="channel"))
    (welcome,) = agent.connector.messages(team_channel)
    card = cards_in(welcome)[0]
    assert_valid_card(card)
    texts = " ".join(card_texts(card))
    for key in ("intro", "privacy_title", "privacy_pseudonym", "text_stored"):
        assert LABELS[key] in texts
    assert LABELS["privacy_llm"] not in texts  # no language model is configured here
    (saved,) = [r for r in list_references(agent.settings, "channel") if r.conversation_id == team_channel]
    assert "Jane Doe" not in saved.conversation.conversation_reference.model_dump_json()  # who added it: not kept

    agent.post(members_removed(agent.connector_url, team_channel, [AGENT["id"]], conversation_type="channel"))
    assert team_channel not in {r.conversation_id for r in list_references(agent.settings)}


def test_installed_in_a_personal_chat_it_welcomes_without_keeping_the_chat(agent):
    chat = agent.conversation()
    agent.post(members_added(agent.connector_url, chat, [AGENT["id"]], locale="nl-NL"))
    (welcome,) = agent.connector.messages(chat)
    card = cards_in(welcome)[0]
    assert_valid_card(card)
    assert card_labels("nl")["privacy_title"] in card_texts(card)  # in the language of the Teams client
    assert chat not in {r.conversation_id for r in list_references(agent.settings)}


def test_send_proactive_posts_a_card_into_a_saved_channel(agent):
    channel = agent.conversation("channel")
    agent.post(members_added(agent.connector_url, channel, [AGENT["id"]], conversation_type="channel"))
    digest = build_answer_card(agent.advisor.advisor.ask(IN_SCOPE), LABELS, actions=False)
    before = len(agent.connector.messages(channel))

    message_id = asyncio.run(send_proactive(agent.settings, channel, digest, allow_anonymous=True))
    (posted,) = agent.connector.messages(channel)[before:]
    assert message_id and cards_in(posted) == [digest]
    record = next(r for r in agent.connector.received if r["activity"] is posted)
    assert record["reply_to"] is None  # a new message in the channel, not a reply

    (reference,) = [r for r in list_references(agent.settings, "channel") if r.conversation_id == channel]
    asyncio.run(send_proactive(agent.settings, reference, "Plain text works too.", allow_anonymous=True))
    assert agent.connector.messages(channel)[-1]["text"] == "Plain text works too."

    agent.connector.refuse_with = 403  # e.g. the agent was removed from the team since
    try:
        with pytest.raises(aiohttp.ClientResponseError) as refused:  # the digest must not count it as posted
            asyncio.run(send_proactive(agent.settings, channel, digest, allow_anonymous=True))
        assert refused.value.status == 403
    finally:
        agent.connector.refuse_with = None
    with pytest.raises(UnknownConversation):
        asyncio.run(send_proactive(agent.settings, "19:never-added@thread.tacv2", digest, allow_anonymous=True))
    with pytest.raises(CredentialsMissing):
        asyncio.run(send_proactive(agent.settings, channel, digest))


# -- security and limits ----------------------------------------------------------------------------------------


def test_refuses_to_start_without_credentials_unless_anonymous_is_allowed(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADVISOR_")}
    env["ADVISOR_STORE_DIR"] = str(tmp_path / "store")  # nothing is loaded: the check comes first
    result = subprocess.run([sys.executable, "-m", "advisor.cli", "teams"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "ADVISOR_TEAMS_CLIENT_ID" in result.stderr and "--allow-anonymous" in result.stderr
    assert "Traceback" not in result.stderr

    partial = make_settings(tmp_path, tmp_path, teams_client_id=str(uuid.uuid4()))
    with pytest.raises(CredentialsMissing, match="ADVISOR_TEAMS_CLIENT_SECRET"):
        auth_configuration(partial, allow_anonymous=True)  # half-configured is a mistake, never anonymous


def test_with_credentials_every_request_needs_a_valid_token(agent):
    secured = make_settings(agent.settings.knowledge_dir, agent.settings.store_dir, state_url=agent.settings.state_url,
                            teams_client_id=str(uuid.uuid4()), teams_client_secret="s3cret",
                            teams_tenant_id=str(uuid.uuid4()))
    url = agent.loop.serve(create_app(secured, allow_anonymous=True, advisor=agent.advisor,
                                      question_log=agent.question_log))
    conversation = agent.conversation()
    body = message(agent.connector_url, conversation, IN_SCOPE)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        status, _ = post_json(url + "/api/messages", body, headers=headers)
        assert status == 401
    assert agent.connector.messages(conversation) == []


def test_oversized_requests_are_refused_before_reaching_the_agent(agent):
    conversation = agent.conversation()
    status, _ = agent.post(message(agent.connector_url, conversation, "x" * MAX_REQUEST_BYTES))
    assert status == 413
    assert agent.connector.messages(conversation) == []


def test_long_questions_are_cut_to_the_configured_length(agent):
    conversation = agent.conversation()
    agent.ask(IN_SCOPE + " " + "backbone " * 2000, conversation)
    assert len(agent.advisor.calls[-1][0]) <= agent.settings.max_question_chars


# -- the app package --------------------------------------------------------------------------------------------


def test_package_holds_a_valid_manifest_and_both_icons(tmp_path):
    client_id = str(uuid.uuid4())
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADVISOR_")}
    output = tmp_path / "teams-app.zip"
    command = [sys.executable, "-m", "advisor.cli", "teams", "package", "-o", str(output)]
    refused = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "ADVISOR_TEAMS_CLIENT_ID" in refused.stderr and not output.exists()

    built = subprocess.run(command, cwd=tmp_path, env={**env, "ADVISOR_TEAMS_CLIENT_ID": client_id},
                           capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(output) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        schema = json.loads((SCHEMAS / "teams-manifest-1.20.json").read_text(encoding="utf-8"))
        jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(manifest)
        assert manifest["bots"][0]["botId"] == client_id == manifest["id"]
        assert set(manifest["bots"][0]["scopes"]) == {"personal", "team", "groupChat"}
        with package.open("color.png") as f:
            color = Image.open(f)
            assert color.size == (192, 192)
        with package.open("outline.png") as f:
            outline = Image.open(f).convert("RGBA")
            assert outline.size == (32, 32)
            # Teams wants the outline icon white on transparent.
            assert {pixel for pixel in outline.getdata() if pixel[3]} <= {(255, 255, 255, a) for a in range(256)}
            assert outline.getpixel((0, 0))[3] == 0

