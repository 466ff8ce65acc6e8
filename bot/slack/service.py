"""What the Slack app does for each kind of request, once Bolt has verified and acknowledged it: answer a message
in its thread, answer privately (slash command, message shortcut), share, take feedback, call a consultant,
publish the Home tab.

Every path that can fail runs inside `_apologising`: the person gets a short apology with a reference, the log
gets the error with the same reference, and no stack trace ever reaches Slack. Slack user ids are turned into
pseudonyms before anything is logged or stored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from advisor.settings import Settings
from bot.slack import blocks, views
from bot.slack.channels import ChannelDirectory, ChannelSettings
from bot.slack.events import Incoming, incoming, question_text, wanted
from bot.slack.ratelimit import RateLimiter
from bot.slack.texts import help_words, language_of, texts
from bot.slack.threads import answer_metadata, turns_from_replies
from engine.models import Answer, Citation, Turn
from engine.question_log import QuestionLog
from ingest.approved import (DEFAULT_APPROVER, REVIEW_AFTER, ApprovedAnswerDraft, draft_problems,
                             publish_approved_answer)

log = logging.getLogger(__name__)

PLATFORM = "slack"
WORKING_REACTION = "hourglass_flowing_sand"
PRIVATE_ANSWERS_KEPT = 500  # recent private answers, for their Share and consultant buttons

Deliver = Callable[[blocks.Message], None]
Respond = Callable[..., object]


@dataclass(frozen=True)
class Who:
    """Who asked, where: Slack's ids for talking back, the pseudonym for everything logged or stored."""

    team: str
    user: str
    channel: str
    asker: str

    @property
    def direct(self) -> bool:
        return self.channel.startswith("D")

    @property
    def logged_channel(self) -> str:
        # A direct-message channel id stands for one person; the pseudonym already says who asked.
        return "dm" if self.direct else self.channel


def is_help(text: str) -> bool:
    return text.strip().lower() in {"", "?"} | help_words()


def reference() -> str:
    """A short id quoted to the user and written to the log, to find one failure among many."""
    return uuid.uuid4().hex[:10]


class SlackAdvisor:
    def __init__(self, settings: Settings, advisor, question_log: QuestionLog, channels: ChannelDirectory,
                 limiter: RateLimiter):
        self.settings = settings
        self.advisor = advisor
        self.log = question_log
        self.channels = channels
        self.limiter = limiter
        # The engine is CPU-bound: a few questions at once use the cores; more would only make each one slower.
        self._engine_slots = threading.BoundedSemaphore(settings.slack_engine_concurrency)
        self._lock = threading.Lock()
        self._private_answers: OrderedDict[str, Answer] = OrderedDict()
        self._shown_answers: OrderedDict[str, list[dict]] = OrderedDict()  # answers on their way to consultants

    def who(self, team: str | None, user: str | None, channel: str | None) -> Who:
        team, user = team or "", user or ""
        return Who(team=team, user=user, channel=channel or "", asker=self.log.pseudonym(PLATFORM, team, user))

    # -- conversations in channels, threads and direct messages -------------------------------------------------

    def on_message(self, event: dict, *, team: str, bot_user_id: str | None, bot_id: str | None,
                   client: WebClient) -> None:
        """An `app_mention` or `message` event: answered in its thread when the channel's settings want it, once."""
        item = incoming(event, team=team, bot_user_id=bot_user_id, bot_id=bot_id,
                        ignore_bots=self.settings.slack_ignore_bots, max_chars=self.settings.max_question_chars)
        if item is None:
            return
        settings = self.channels.settings(item.channel)
        if not wanted(item, settings, lambda: self.log.in_conversation(PLATFORM, item.conversation)):
            return
        if not self.log.claim(item.key):
            log.info("Skipping a message already handled (%s event retried or delivered twice).", event.get("type"))
            return
        who = self.who(item.team, item.user, item.channel)
        language = language_of(item.question, settings.language)

        def post(message: blocks.Message, metadata: dict | None = None) -> None:
            client.chat_postMessage(channel=item.channel, thread_ts=item.thread_ts, text=message.text,
                                    blocks=message.blocks, metadata=metadata, unfurl_links=False, unfurl_media=False)

        if not self.limiter.allow(who.asker):
            log.info("Rate limit reached for %s.", who.asker)
            notice = self._notice("rate_limited", language, limit=self.settings.slack_rate_limit)
            client.chat_postEphemeral(channel=item.channel, user=item.user, thread_ts=item.thread_ts,
                                      text=notice.text, blocks=notice.blocks)
            return
        with self._apologising(post, language), self._working(client, item):
            started = time.perf_counter()
            history = self._history(client, item) if item.in_thread else []
            answer = self._ask(item.question, history, settings)
            # Logged before it is posted: a feedback click can only refer to an answer the log already holds.
            self._record(answer, who, conversation=None if who.direct else item.conversation, started=started)
            post(blocks.answer_message(answer, consultant=bool(settings.consultants_channel), share=False),
                 answer_metadata(answer.id))

    def _history(self, client: WebClient, item: Incoming) -> list[Turn]:
        replies = client.conversations_replies(channel=item.channel, ts=item.thread_ts, limit=200,
                                               include_all_metadata=True)
        return turns_from_replies(replies.get("messages") or [], item.ts,
                                  lambda text: question_text(text, self.settings.max_question_chars))

    @contextlib.contextmanager
    def _working(self, client: WebClient, item: Incoming) -> Iterator[None]:
        """An hourglass on the question while the advisor works on it."""
        self._quietly(client.reactions_add, channel=item.channel, timestamp=item.ts, name=WORKING_REACTION)
        try:
            yield
        finally:
            self._quietly(client.reactions_remove, channel=item.channel, timestamp=item.ts, name=WORKING_REACTION)

    @staticmethod
    def _quietly(call: Callable[..., object], **kwargs) -> None:
        # The reaction is a courtesy: without reactions:write, or in a channel that forbids it, answer anyway.
        try:
            call(**kwargs)
        except SlackApiError as exc:
            log.debug("%s failed: %s", getattr(call, "__name__", "call"), exc.response.get("error"))

    # -- private answers: slash command and message shortcut ---------------------------------------------------

    def wants_help(self, raw_text: str) -> bool:
        """`/advisor`, `/advisor help` (in any of the languages served) or a message without words."""
        return is_help(question_text(raw_text, self.settings.max_question_chars))

    def command_ack(self, text: str, channel: str, bot_user_id: str | None) -> blocks.Message:
        """The immediate reply to `/advisor …`: the help, or a sign that the advisor is on it."""
        language = language_of(text, self.channels.settings(channel).language)
        if self.wants_help(text):
            return views.help_message(views.knowledge_summary(self.settings), bot_user_id, language)
        return blocks.notice(texts(language)["working"])

    def answer_privately(self, raw_question: str, who: Who, respond: Respond, bot_user_id: str | None) -> None:
        """`/advisor QUESTION` or the message shortcut: an answer only the asker sees, with "Share in channel".
        A message without words (the shortcut on an image, say) gets the help instead."""
        question = question_text(raw_question, self.settings.max_question_chars)
        settings = self.channels.settings(who.channel)
        language = language_of(question, settings.language)
        reply = self._private_reply(respond)
        if self.wants_help(question):
            reply(views.help_message(views.knowledge_summary(self.settings), bot_user_id, language))
            return
        if not self.limiter.allow(who.asker):
            reply(self._notice("rate_limited", language, limit=self.settings.slack_rate_limit))
            return
        with self._apologising(reply, language):
            started = time.perf_counter()
            answer = self._ask(question, [], settings)
            self._record(answer, who, conversation=None, started=started)
            self._remember(self._private_answers, answer.id, answer)
            reply(blocks.answer_message(answer, consultant=bool(settings.consultants_channel), share=True))

    def _private_answer(self, ref: blocks.AnswerRef, settings: ChannelSettings) -> Answer:
        """The answer behind a button on a private (ephemeral) message. Slack sends no copy of an ephemeral message
        with its button clicks, so this process keeps the recent ones; on another replica, or after a restart, the
        question is asked again (a private answer has no earlier turns, so with the same knowledge base the answer
        is the same)."""
        with self._lock:
            kept = self._private_answers.get(ref.answer_id)
        return kept or self._ask(ref.question, [], settings, answer_id=ref.answer_id)

    def share(self, value: str, who: Who, respond: Respond) -> None:
        """"Share in channel": the private answer posted for everyone, and the private copy removed."""
        ref = blocks.parse_action_value(value)
        settings = self.channels.settings(who.channel)
        with self._apologising(self._private_reply(respond), ref.language):
            answer = self._private_answer(ref, settings)
            message = blocks.answer_message(answer, consultant=bool(settings.consultants_channel), share=False,
                                            shared_by=who.user)
            respond(text=message.text, blocks=message.blocks, response_type="in_channel", replace_original=False)
            respond(delete_original=True)

    # -- feedback and consultants -------------------------------------------------------------------------------

    def feedback(self, value: str, helpful: bool, who: Who, trigger_id: str | None, client: WebClient,
                 respond: Respond) -> None:
        """Helpful / Not helpful: stored at once; "Not helpful" also offers a modal for an optional comment, where
        the log keeps officials' own words (a comment is treated like question text: not asked for when not kept)."""
        ref = blocks.parse_action_value(value)
        with self._apologising(self._private_reply(respond), ref.language):
            if helpful or not trigger_id or not self.log.store_text:
                self.log.record_feedback(ref.answer_id, rater=who.asker, helpful=helpful)
                self._private_reply(respond)(self._notice("feedback_thanks", ref.language))
                return
            # The modal first: Slack's trigger id is valid for three seconds from the click.
            client.views_open(trigger_id=trigger_id, view=views.comment_modal(ref.answer_id, ref.language))
            self.log.record_feedback(ref.answer_id, rater=who.asker, helpful=False)

    def feedback_comment(self, view: dict, who: Who) -> None:
        answer_id, _language, comment = views.comment_from_submission(view)
        try:
            self.log.record_feedback(answer_id, rater=who.asker, helpful=False, comment=comment)
        except Exception:  # the modal has closed: there is no one to apologise to, only the log
            log.exception("Could not store a feedback comment (reference %s)", reference())

    def ask_consultant(self, value: str, body: dict, who: Who, respond: Respond) -> None:
        """"Ask a consultant": first what would be shared, to confirm. The answer as shown is kept for the
        request (an ephemeral answer is not sent back with a click on another message)."""
        ref = blocks.parse_action_value(value)
        with self._apologising(self._private_reply(respond), ref.language):
            shown = body.get("message") or {}
            if shown.get("blocks"):
                self._remember(self._shown_answers, ref.answer_id, blocks.answer_content(shown["blocks"]))
            where = blocks.AnswerRef(ref.answer_id, ref.language, ref.question, channel=who.channel,
                                     ts=shown.get("ts") or "", thread=shown.get("thread_ts") or shown.get("ts") or "")
            self._private_reply(respond)(blocks.consultant_confirmation(where))

    def cancel_consultant(self, value: str, respond: Respond) -> None:
        ref = blocks.parse_action_value(value)
        respond(text=texts(ref.language)["consultant_cancelled"], replace_original=True, response_type="ephemeral")

    def send_to_consultants(self, value: str, who: Who, client: WebClient, respond: Respond) -> None:
        """Confirmed: the question and the advisor's answer posted to the consultants' channel, with the button
        that turns the case into an approved answer."""
        ref = blocks.parse_action_value(value)
        settings = self.channels.settings(who.channel)
        with self._apologising(self._private_reply(respond), ref.language):
            consultants = settings.consultants_channel
            if not consultants:
                raise RuntimeError("The consultant button was used but no consultants' channel is configured.")
            with self._lock:
                content = self._shown_answers.pop(ref.answer_id, None)
            if content is None:
                answer = self._private_answer(ref, settings)
                content = blocks.answer_content(blocks.answer_message(answer, consultant=False, share=False).blocks)
            permalink = self._permalink(client, who.channel, ref.ts) if ref.ts else None
            language = self.channels.settings(consultants).language or ref.language
            request = blocks.consultant_message(question=ref.question, content=content, user=who.user,
                                                channel=who.channel, direct=who.direct, permalink=permalink,
                                                group=self.settings.slack_consultants_group, language=language,
                                                case=ref)
            client.chat_postMessage(channel=consultants, text=request.text, blocks=request.blocks,
                                    unfurl_links=False, unfurl_media=False)
            self.log.record_escalation(ref.answer_id, platform=PLATFORM, channel=who.logged_channel, asker=who.asker)
            message = self._notice("consultant_asked", ref.language, channel=f"<#{consultants}>")
            respond(text=message.text, blocks=message.blocks, replace_original=True, response_type="ephemeral")

    # -- approved answers, written by a consultant from a case -----------------------------------------------------

    def write_approved(self, value: str, body: dict, who: Who, client: WebClient) -> None:
        """"Write the approved answer" on a case: the form, filled in with the question and the advisor's answer
        as a draft (its `[n]` markers and numbered sources)."""
        ref = blocks.parse_action_value(value)
        language = self.channels.settings(who.channel).language or "en"
        trigger = body.get("trigger_id")
        try:
            answer = self._ask(ref.question, [], self.channels.settings(ref.channel))
            # The answer's paragraphs without its italic notes ("the sources are in English").
            text = "\n\n".join(p for p in answer.answer.split("\n\n") if not p.startswith("_"))
            draft = ApprovedAnswerDraft.model_construct(
                question=ref.question, phrasings=[], answer=text,
                sources="\n".join(f"{c.n}. {_source_line(c)}" for c in answer.citations),
                approved_by=DEFAULT_APPROVER, review_by=dt.date.today() + REVIEW_AFTER)
            metadata = {**json.loads(value), "cc": who.channel, "ct": (body.get("message") or {}).get("ts", "")}
            client.views_open(trigger_id=trigger, view=views.approved_modal(draft, metadata, language))
        except Exception:
            ticket = reference()
            log.exception("Could not open the approved-answer form (reference %s)", ticket)
            client.chat_postEphemeral(channel=who.channel, user=who.user,
                                      text=texts(language)["apology"].format(reference=ticket))

    @staticmethod
    def approved_problems(view: dict) -> dict[str, str]:
        """What keeps the form from being published, by field (Slack shows each under its field)."""
        draft, problems, _ = views.approved_from_submission(view)
        return problems or draft_problems(draft, dt.date.today())

    def publish_approved(self, view: dict, who: Who, client: WebClient) -> None:
        """The form submitted: the approved answer written into the knowledge folder and indexed, the official
        answered in their thread with it, and the consultants told in the case's thread."""
        draft, problems, meta = views.approved_from_submission(view)
        if problems or draft_problems(draft, dt.date.today()):
            return  # Slack keeps the form open with the problems shown (see `approved_problems`)
        case = blocks.parse_action_value(json.dumps(meta))
        consultants = texts(self.channels.settings(meta.get("cc", "")).language or "en")
        try:
            path = publish_approved_answer(self.settings, draft)
            answer = self._ask(case.question, [], self.channels.settings(case.channel))
            words = texts(case.language)
            message = blocks.answer_message(answer, consultant=False, share=False)
            reply = blocks.notice(words["approved_reply"])
            for posted in (reply, message):
                client.chat_postMessage(channel=case.channel, thread_ts=case.thread or None, text=posted.text,
                                        blocks=posted.blocks, unfurl_links=False, unfurl_media=False)
            relative = path.relative_to(self.settings.knowledge_dir).as_posix()
            done = blocks.notice(consultants["approved_written"], user=f"<@{who.user}>", path=f"`{relative}`")
            client.chat_postMessage(channel=meta.get("cc"), thread_ts=meta.get("ct") or None, text=done.text,
                                    blocks=done.blocks)
        except Exception:  # the form has closed: the consultants' thread hears of it
            ticket = reference()
            log.exception("Could not publish an approved answer (reference %s)", ticket)
            client.chat_postMessage(channel=meta.get("cc"), thread_ts=meta.get("ct") or None,
                                    text=consultants["apology"].format(reference=ticket))

    def _remember(self, kept: OrderedDict, key: str, value: object) -> None:
        """Keep a recent item in one of the process's bounded caches (the oldest goes first)."""
        with self._lock:
            kept[key] = value
            while len(kept) > PRIVATE_ANSWERS_KEPT:
                kept.popitem(last=False)

    @staticmethod
    def _permalink(client: WebClient, channel: str, ts: str) -> str | None:
        try:
            return client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
        except SlackApiError:
            return None

    # -- App Home -----------------------------------------------------------------------------------------------

    def publish_home(self, user: str, bot_user_id: str | None, client: WebClient) -> None:
        language = self.channels.settings("").language or "en"
        view = views.home_view(views.knowledge_summary(self.settings), bot_user_id, self.settings, language)
        client.views_publish(user_id=user, view=view)

    # -- shared -------------------------------------------------------------------------------------------------

    def _ask(self, question: str, history: list[Turn], settings: ChannelSettings,
             answer_id: str | None = None) -> Answer:
        filters = settings.filters if settings.filters.chroma_where() else None
        with self._engine_slots:
            return self.advisor.ask(question, history=history, filters=filters, id=answer_id or uuid.uuid4().hex)

    def _record(self, answer: Answer, who: Who, conversation: str | None, started: float) -> None:
        latency_ms = (time.perf_counter() - started) * 1000
        self.log.record_question(answer, platform=PLATFORM, channel=who.logged_channel, asker=who.asker,
                                 conversation=conversation, latency_ms=latency_ms)
        log.info("Answered %s for %s in %s (%s, %.0f ms).", answer.id, who.asker, who.logged_channel,
                 "abstained" if answer.abstained else f"{len(answer.citations)} citations", latency_ms)

    @staticmethod
    def _private_reply(respond: Respond) -> Deliver:
        return lambda message: respond(text=message.text, blocks=message.blocks, response_type="ephemeral",
                                       replace_original=False)

    @staticmethod
    def _notice(key: str, language: str, **values: object) -> blocks.Message:
        return blocks.notice(texts(language)[key], **values)

    @contextlib.contextmanager
    def _apologising(self, deliver: Deliver, language: str) -> Iterator[None]:
        try:
            yield
        except Exception:
            ref = reference()
            log.exception("Request failed (reference %s)", ref)
            try:
                deliver(self._notice("apology", language, reference=ref))
            except Exception:
                log.exception("Could not deliver the apology (reference %s)", ref)


def _source_line(citation: Citation) -> str:
    """A citation as one line of the form's sources: its first publication, else the section it quotes."""
    if citation.sources:
        first = citation.sources[0]
        return ", ".join(part for part in (first.title, first.url, first.page) if part)
    return ", ".join(part for part in (f"{citation.title} — {citation.section}", citation.url) if part)
