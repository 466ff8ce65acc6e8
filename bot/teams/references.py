"""Conversation references: where the Teams agent may post without being asked (the weekly digest, consultants'
copies of escalated questions).

Teams lets an agent post proactively only into a conversation it is part of, and only with that conversation's
reference (service URL, conversation and tenant ids) and the claims of the token it arrived with. The agent saves
one when it is added to a team or group chat (`conversationUpdate`) and when it answers in a channel or group chat,
and forgets it when removed. Personal chats are not saved: nothing posts into them unasked. References live in the state database beside the question log
(`ADVISOR_STATE_URL`), so every replica and a separate digest process see the same list.

For other modules (the digest): `list_references(settings, "channel")` and
`await send_proactive(settings, conversation_id_or_reference, card_or_text)`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import ChannelServiceAdapter, TurnContext
from microsoft_agents.hosting.core.app.proactive import Conversation
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, delete, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from advisor.settings import Settings
from bot.teams.activities import PERSONAL, base_conversation_id
from bot.teams.auth import auth_configuration, build_adapter
from bot.teams.cards import Card, message_activity
from engine.question_log import make_engine

_metadata = MetaData()
_references = Table(
    "teams_conversations", _metadata,
    Column("conversation_id", String(512), primary_key=True),
    Column("conversation_type", String(32), nullable=False),  # personal, groupChat or channel
    Column("tenant_id", String(64)),
    Column("saved_at", DateTime(timezone=True), nullable=False),
    Column("conversation", Text, nullable=False),  # the SDK's Conversation: reference and persisted claims
)


class UnknownConversation(LookupError):
    """No reference is saved for this conversation: the agent was never added there, or was removed."""


@dataclass(frozen=True)
class StoredReference:
    conversation_id: str
    conversation_type: str  # personal, groupChat or channel
    tenant_id: str | None
    saved_at: dt.datetime
    conversation: Conversation  # what the SDK needs to post there


class ReferenceStore:
    """Saved conversation references in the state database."""

    def __init__(self, engine: Engine):
        self.engine = engine
        _metadata.create_all(engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> ReferenceStore:
        return cls(make_engine(settings.state_database_url))

    def save(self, context: TurnContext) -> StoredReference:
        """Save (or refresh) the reference of the conversation this turn belongs to. In a channel that is the
        channel itself, not the thread the turn came from, so a proactive post starts a new thread there. The
        person whose activity it was is left out: posting into a conversation does not need them."""
        conversation = Conversation.from_turn_context(context)
        reference = conversation.conversation_reference
        reference.conversation.id = base_conversation_id(reference.conversation.id)
        reference.activity_id = reference.user = None
        conversation.validate()
        account = reference.conversation
        stored = StoredReference(conversation_id=account.id, conversation_type=account.conversation_type or PERSONAL,
                                 tenant_id=account.tenant_id, saved_at=dt.datetime.now(dt.timezone.utc),
                                 conversation=conversation)
        row = {"conversation_id": stored.conversation_id, "conversation_type": stored.conversation_type,
               "tenant_id": stored.tenant_id, "saved_at": stored.saved_at,
               "conversation": json.dumps(conversation.store_item_to_json())}
        with self.engine.begin() as connection:
            connection.execute(delete(_references).where(_references.c.conversation_id == stored.conversation_id))
            try:
                with connection.begin_nested():
                    connection.execute(insert(_references).values(**row))
            except IntegrityError:  # another replica saved the same conversation just now: same reference
                pass
        return stored

    def forget(self, conversation_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(_references).where(
                _references.c.conversation_id == base_conversation_id(conversation_id)))

    def saved(self, conversation_type: str | None = None) -> list[StoredReference]:
        """Every saved conversation, oldest first; `conversation_type="channel"` for team channels only."""
        query = select(_references).order_by(_references.c.saved_at)
        if conversation_type:
            query = query.where(_references.c.conversation_type == conversation_type)
        with self.engine.connect() as connection:
            return [_stored(row) for row in connection.execute(query).mappings()]

    def get(self, conversation_id: str) -> StoredReference | None:
        query = select(_references).where(_references.c.conversation_id == base_conversation_id(conversation_id))
        with self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return _stored(row) if row else None


async def post(adapter: ChannelServiceAdapter, reference: StoredReference, activity: Activity) -> str:
    """Post one activity into a saved conversation; returns the new message's id. Raises what sending raised (the
    adapter would otherwise swallow it into its turn-error handler, and a digest would count a lost post as sent)."""
    sent: list[str] = []
    failures: list[Exception] = []

    async def send(context: TurnContext) -> None:
        try:
            response = await context.send_activity(activity)
            sent.append(response.id if response and response.id else "")
        except Exception as error:
            failures.append(error)

    claims = Conversation.identity_from_claims(reference.conversation.claims)
    continuation = reference.conversation.conversation_reference.get_continuation_activity()
    # Replies go to the turn's activity; a continuation has an id of its own that Teams never saw, and without one
    # the post is a new message in the conversation (a new thread in a channel).
    continuation.id = None
    await adapter.continue_conversation_with_claims(claims, continuation, send)
    if failures:
        raise failures[0]
    return sent[0]


def list_references(settings: Settings, conversation_type: str | None = None) -> list[StoredReference]:
    """The conversations the agent may post into, e.g. `list_references(settings, "channel")` for team channels."""
    store = ReferenceStore.from_settings(settings)
    try:
        return store.saved(conversation_type)
    finally:
        store.engine.dispose()


async def send_proactive(settings: Settings, conversation: str | StoredReference, message: Card | str, *,
                         allow_anonymous: bool = False) -> str:
    """Post an Adaptive Card (a dict, as `bot.teams.cards` builds them) or a plain text into a saved conversation,
    from any process; returns the id Teams gave the new message.

    `conversation` is a conversation id (as `StoredReference.conversation_id`, e.g. a channel's `19:…@thread.tacv2`)
    or a reference from `list_references`. Raises `UnknownConversation` when no reference is saved for that id,
    `CredentialsMissing` without Teams credentials (unless `allow_anonymous`, for tests against a local stand-in),
    and `aiohttp.ClientResponseError` (with the HTTP status) when Teams refuses the post.
    """
    adapter, _ = build_adapter(auth_configuration(settings, allow_anonymous))
    if isinstance(conversation, str):
        store = ReferenceStore.from_settings(settings)
        try:
            reference = store.get(conversation)
        finally:
            store.engine.dispose()
        if reference is None:
            raise UnknownConversation(f"No Teams conversation {conversation!r} is saved: add the agent there first.")
    else:
        reference = conversation
    return await post(adapter, reference, message_activity(message))


def _stored(row) -> StoredReference:
    saved_at = row["saved_at"]
    if saved_at.tzinfo is None:  # SQLite drops the zone; it was written in UTC
        saved_at = saved_at.replace(tzinfo=dt.timezone.utc)
    return StoredReference(conversation_id=row["conversation_id"], conversation_type=row["conversation_type"],
                           tenant_id=row["tenant_id"], saved_at=saved_at,
                           conversation=Conversation.from_json_to_store_item(json.loads(row["conversation"])))
