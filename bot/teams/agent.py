"""The Teams agent's behaviour: an `AgentApplication` (Microsoft 365 Agents SDK) whose routes turn Teams
activities into engine questions, Adaptive Cards, question-log records and saved conversation references.

- message: in a personal chat every message, in channels and group chats only @mentions, is answered with an
  answer card; follow-ups use the conversation's recent turns (a channel thread is its own conversation).
- conversationUpdate: when the agent is added, a welcome card is posted and, in a team or group chat, the
  conversation reference saved (for the digest); when removed, the reference is forgotten.
- adaptiveCard/action (Action.Execute): helpful / not helpful and "Ask a consultant" are stored in the question
  log, and the card is redrawn with an acknowledgement in place of the buttons used.

What is logged: ids, pseudonyms, timings and outcomes; never tokens, and never question text.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable
from functools import wraps

from microsoft_agents.activity import Activity, AdaptiveCardInvokeResponse
from microsoft_agents.hosting.core import AgentApplication, Connections, MemoryStorage, TurnContext, TurnState
from microsoft_agents.hosting.core.app.adaptive_card import factory

from advisor.settings import Settings
from bot.teams.activities import (PERSONAL, agent_added, agent_removed, base_conversation_id, conversation_type,
                                  locale_language, question_text, should_respond, user_id)
from bot.teams.cards import (CARD_CONTENT_TYPE, CONSULTANT, HELPFUL, NOT_HELPFUL, Card, apology, build_answer_card,
                             build_consultant_card, build_welcome_card, card_activity, card_labels)
from bot.teams.memory import ConversationMemory, Exchange
from bot.teams.references import ReferenceStore, post
from engine.advisor import Advisor
from engine.models import Answer
from engine.question_log import QuestionLog
from ingest.pipeline import indexed_documents

log = logging.getLogger(__name__)

PLATFORM = "teams"
MAX_ID_CHARS = 64  # question ids are 32 hex characters; anything longer in card data was not made here
_CHANNEL_CHARS = 64  # the question log's channel column
MAX_CONVERSATIONS = 2000  # conversations whose recent turns are kept in memory (least recent dropped first)

RouteHandler = Callable[[TurnContext, TurnState], Awaitable[None]]


def new_reference() -> str:
    return uuid.uuid4().hex


class TeamsAgent:
    def __init__(self, settings: Settings, advisor: Advisor, question_log: QuestionLog, references: ReferenceStore):
        self.settings = settings
        self.advisor = advisor
        self.question_log = question_log
        self.references = references
        self.memory = ConversationMemory(settings.teams_history_turns, MAX_CONVERSATIONS)
        # The engine is CPU-bound: questions beyond about one per core wait here (more would only slow each one),
        # while the event loop keeps taking requests and card clicks.
        self._engine_slots = asyncio.Semaphore(settings.teams_engine_concurrency)

    def application(self, connection_manager: Connections) -> AgentApplication[TurnState]:
        app = AgentApplication[TurnState](
            storage=MemoryStorage(), connection_manager=connection_manager,
            # `question_text` strips the agent's mention itself; `should_respond` needs the text as sent.
            remove_recipient_mention=False,
        )
        app.message()(self._guarded(self.on_message))
        app.conversation_update("membersAdded")(self._guarded(self.on_members_added))
        app.conversation_update("membersRemoved")(self._guarded(self.on_members_removed))
        for verb in (HELPFUL, NOT_HELPFUL, CONSULTANT):
            app.adaptive_card.action_execute(verb)(self._card_action(verb))
        app.error(self.apologise)  # the SDK's own steps (sending, invoke responses) can fail outside the routes
        return app

    # -- identities -------------------------------------------------------------------------------------------

    def _asker(self, activity: Activity) -> str:
        tenant = activity.conversation.tenant_id if activity.conversation else None
        return self.question_log.pseudonym(PLATFORM, tenant or "", user_id(activity))

    def _channel(self, activity: Activity) -> str:
        """The question log's `channel`: `personal` for a one-to-one chat (the asker's pseudonym already says who),
        else the channel or group chat id, pseudonymised if longer than the column."""
        if conversation_type(activity) == PERSONAL:
            return PERSONAL
        base = base_conversation_id(activity.conversation.id)
        return base if len(base) <= _CHANNEL_CHARS else self.question_log.pseudonym(PLATFORM, base)

    def _first_delivery(self, activity: Activity) -> bool:
        """Teams re-sends an activity it thinks was not received; with several replicas, answer it once."""
        if not activity.id:
            return True
        return self.question_log.claim(f"{PLATFORM}:" + self.question_log.pseudonym(activity.conversation.id,
                                                                                     activity.id))

    # -- messages ---------------------------------------------------------------------------------------------

    async def on_message(self, context: TurnContext, _state: TurnState) -> None:
        activity = context.activity
        if not should_respond(activity) or not await asyncio.to_thread(self._first_delivery, activity):
            return
        await self._keep_reference(context)
        question = question_text(activity, self.settings.max_question_chars)
        if not question:  # only the mention: say what the advisor does
            await context.send_activity(card_activity(await self.welcome_card(locale_language(activity))))
            return
        conversation = activity.conversation.id
        async with self._engine_slots:
            answer = await asyncio.to_thread(self.advisor.ask, question, history=self.memory.history(conversation),
                                             id=new_reference())
        logged = await asyncio.to_thread(self._record_question, answer, activity)
        self.memory.remember(conversation, Exchange(answer=answer))
        await context.send_activity(card_activity(build_answer_card(answer, card_labels(answer.language),
                                                                    actions=logged)))
        log.info("Answered question %s in a %s (abstained=%s, %.0f ms)", answer.id, conversation_type(activity),
                 answer.abstained, answer.timings_ms.total)

    def _record_question(self, answer: Answer, activity: Activity) -> bool:
        """Log the question; a failing log must not cost the person their answer, only the card's buttons."""
        try:
            self.question_log.record_question(
                answer, platform=PLATFORM, channel=self._channel(activity), asker=self._asker(activity),
                conversation=self.question_log.pseudonym(PLATFORM, activity.conversation.id),
                latency_ms=answer.timings_ms.total)
        except Exception as error:
            self._log_failure(error)
            return False
        return True

    # -- joining and leaving ----------------------------------------------------------------------------------

    async def on_members_added(self, context: TurnContext, _state: TurnState) -> None:
        activity = context.activity
        if not agent_added(activity):  # a colleague joined a team the agent is in: not the agent's business
            return
        log.info("Added to a %s", conversation_type(activity))
        await self._keep_reference(context)
        await context.send_activity(card_activity(await self.welcome_card(locale_language(activity))))

    async def _keep_reference(self, context: TurnContext) -> None:
        """Save where a team channel or group chat is, so the digest can post there; personal chats are not kept."""
        if conversation_type(context.activity) != PERSONAL:
            await asyncio.to_thread(self.references.save, context)

    async def on_members_removed(self, context: TurnContext, _state: TurnState) -> None:
        if agent_removed(context.activity):
            await asyncio.to_thread(self.references.forget, context.activity.conversation.id)
            log.info("Removed from a %s; forgot its conversation reference", conversation_type(context.activity))

    async def welcome_card(self, language: str) -> Card:
        manifest = await asyncio.to_thread(indexed_documents, self.settings)
        documents = manifest.originals().values() if manifest else []
        kinds = list(dict.fromkeys(d.doc_type for d in documents if d.doc_type))
        return build_welcome_card(card_labels(language), self.settings.teams_app_name, len(documents), kinds,
                                  question_text_stored=self.question_log.store_text,
                                  language_model=bool(self.settings.llm_model))

    # -- card actions -----------------------------------------------------------------------------------------

    def _card_action(self, verb: str):
        async def handle(context: TurnContext, _state: TurnState, data: object) -> AdaptiveCardInvokeResponse:
            return await self.on_card_action(context, verb, data)

        handle.__name__ = f"on_{verb}"
        return handle

    async def on_card_action(self, context: TurnContext, verb: str, data: object) -> AdaptiveCardInvokeResponse:
        """Store the click, then answer with the card redrawn (or, for a card the agent no longer remembers, a
        short confirmation). A failure gets an apology with a reference in place of the card."""
        activity = context.activity
        labels = card_labels(locale_language(activity))
        question_id = data.get("question_id") if isinstance(data, dict) else None
        if not isinstance(question_id, str) or not 0 < len(question_id) <= MAX_ID_CHARS:
            return factory.bad_request("This card action carries no question id.")
        stored = factory.message(labels["consultant_asked" if verb == CONSULTANT else "feedback_thanks"])
        try:
            if not await asyncio.to_thread(self._first_delivery, activity):  # a retried click: stored already
                return stored
            await asyncio.to_thread(self._record_action, verb, question_id, activity)
            exchange = self.memory.find(activity.conversation.id, question_id)
            if exchange is None:  # an older card, or the agent restarted: the click is stored, say so
                return stored
            exchange.done.add(verb)
            if verb == CONSULTANT:
                await self._tell_consultants(context, exchange.answer)
            card = build_answer_card(exchange.answer, card_labels(exchange.answer.language), frozenset(exchange.done))
        except Exception as error:
            return factory.message(apology(labels, self._log_failure(error)))
        return AdaptiveCardInvokeResponse(status_code=200, type=CARD_CONTENT_TYPE, value=card)

    def _record_action(self, verb: str, question_id: str, activity: Activity) -> None:
        who = self._asker(activity)
        if verb == CONSULTANT:
            self.question_log.record_escalation(question_id, platform=PLATFORM, channel=self._channel(activity),
                                                asker=who)
        else:
            self.question_log.record_feedback(question_id, rater=who, helpful=verb == HELPFUL)
        log.info("Stored %s for question %s", verb, question_id)

    async def _tell_consultants(self, context: TurnContext, answer: Answer) -> None:
        """Post the question and answer to the consultants' channel, when one is configured and the agent is in
        it. The escalation is in the question log either way, so the weekly report lists it."""
        conversation_id = self.settings.teams_consultants_conversation
        if not conversation_id:
            return
        reference = await asyncio.to_thread(self.references.get, conversation_id)
        if reference is None:
            log.warning("The consultants' conversation is not saved: add the agent to that channel")
            return
        consultant_card = build_consultant_card(answer, card_labels(answer.language))
        await post(context.adapter, reference, card_activity(consultant_card))

    # -- failures ---------------------------------------------------------------------------------------------

    @staticmethod
    def _log_failure(error: BaseException) -> str:
        """Log a failure under a new reference and return it. The exception's message is left out: a database
        error's message quotes the row it failed to write, question text included."""
        reference = new_reference()[:12]
        where = "".join(traceback.format_tb(error.__traceback__))
        log.error("Teams turn failed, reference %s: %s\n%s", reference, type(error).__name__, where)
        return reference

    async def apologise(self, context: TurnContext, error: Exception) -> None:
        """The person gets a short apology with a reference, the log gets the details under that reference."""
        reference = self._log_failure(error)
        await context.send_activity(apology(card_labels(locale_language(context.activity)), reference))

    def _guarded(self, handler: RouteHandler) -> RouteHandler:
        # Caught here rather than by the SDK, whose error log would include the exception's message.
        @wraps(handler)
        async def guarded(context: TurnContext, state: TurnState) -> None:
            try:
                await handler(context, state)
            except Exception as error:
                await self.apologise(context, error)

        return guarded
