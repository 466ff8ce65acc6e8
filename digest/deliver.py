"""Posting digests: once per channel and week, whichever process (scheduler or `advisor digest --post`, on any
replica) gets there first. Each run also enforces the question log's retention period.

The (channel, week) record is claimed in the state store before posting and the platform's message id recorded
after. A claim left by a run that crashed before posting is taken over after a timeout (see
QuestionLog.claim_digest); a failed post gives its claim back so the next run tries again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel

from advisor.settings import DigestChannel, Settings
from digest.build import KnowledgeView, gaps_report, officials_digest, period_ending
from digest.models import Audience, Digest, GapsReport, OfficialsDigest
from digest.render import as_text, slack_blocks
from engine.question_log import QuestionLog, utcnow
from ingest.changes import read_runs

log = logging.getLogger(__name__)

SLACK_FALLBACK_TEXT_CHARS = 3000

Poster = Callable[[DigestChannel, Digest], str]
"""Posts one digest to one channel and returns the platform's message id."""


class Delivery(BaseModel):
    channel: str
    week: str
    status: Literal["posted", "already-posted", "skipped-empty", "failed", "dry-run"]
    message_id: str | None = None
    digest: OfficialsDigest | GapsReport


def build(channel: DigestChannel, settings: Settings, question_log: QuestionLog, knowledge: KnowledgeView,
          now: dt.datetime) -> Digest:
    period = period_ending(now, settings.digest_timezone)
    if channel.audience == "consultants":
        return gaps_report(question_log, knowledge, period, channel.language)
    show = settings.digest_show_questions and question_log.store_text
    return officials_digest(question_log, knowledge, period, channel.language, show_questions=show,
                            min_group=settings.digest_min_group)


def run_digests(settings: Settings, question_log: QuestionLog, knowledge: KnowledgeView, *,
                posters: dict[str, Poster] | None = None, audience: Audience | None = None,
                channels: list[DigestChannel] | None = None, now: dt.datetime | None = None) -> list[Delivery]:
    """Build the digest of every configured channel and post it where `posters` has the channel's platform;
    without posters this is a dry run that posts nothing and claims nothing."""
    now = now or utcnow()
    question_log.sync_knowledge_changes(read_runs(settings.store_dir))
    chosen = [c for c in (channels if channels is not None else settings.digest_channels)
              if audience is None or c.audience == audience]
    deliveries = [_deliver(c, build(c, settings, question_log, knowledge, now), settings, question_log, posters)
                  for c in chosen]
    if posters is not None:
        removed = question_log.purge(dt.timedelta(days=settings.retention_days), now=now)
        log.info("Retention: removed %d question(s) older than %d days.", removed, settings.retention_days)
    return deliveries


def _deliver(channel: DigestChannel, digest: Digest, settings: Settings, question_log: QuestionLog,
             posters: dict[str, Poster] | None) -> Delivery:
    week = digest.period.week
    result = {"channel": channel.key, "week": week, "digest": digest}
    if posters is None:
        return Delivery(status="dry-run", **result)
    if digest.empty and settings.digest_skip_empty:
        return Delivery(status="skipped-empty", **result)
    if not question_log.claim_digest(channel.key, week):
        return Delivery(status="already-posted", message_id=question_log.digest_message(channel.key, week), **result)
    try:
        message_id = posters[channel.platform](channel, digest)
    except Exception:  # one channel failing must not stop the others; the next run retries it
        question_log.release_digest(channel.key, week)
        log.exception("Posting the %s digest to %s failed; it will be retried on the next run.", week, channel.key)
        return Delivery(status="failed", **result)
    question_log.mark_digest_posted(channel.key, week, message_id)
    log.info("Posted the %s digest to %s.", week, channel.key)
    return Delivery(status="posted", message_id=message_id, **result)


def slack_poster(settings: Settings) -> Poster:
    """Posts with chat.postMessage through the configured Web API base URL (GovSlack and proxies use their own)."""
    from slack_sdk import WebClient

    if settings.slack_bot_token is None:
        raise ValueError("SLACK_BOT_TOKEN is not set: the Slack digest needs the app's bot token.")
    client = WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url)

    def post(channel: DigestChannel, digest: Digest) -> str:
        response = client.chat_postMessage(channel=channel.channel, blocks=slack_blocks(digest),
                                           text=as_text(digest)[:SLACK_FALLBACK_TEXT_CHARS], unfurl_links=False)
        return f"{response['channel']}:{response['ts']}"

    return post


def teams_poster(settings: Settings, allow_anonymous: bool = False) -> Poster:
    """Posts an Adaptive Card proactively into a Teams conversation the agent saved when it was added there."""
    import asyncio

    from bot.teams.references import send_proactive
    from digest.render import teams_card

    def post(channel: DigestChannel, digest: Digest) -> str:
        return asyncio.run(send_proactive(settings, channel.channel, teams_card(digest),
                                          allow_anonymous=allow_anonymous))

    return post
