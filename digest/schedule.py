"""The weekly digest inside a long-running front door (`advisor slack`, `advisor teams`): an APScheduler job on
the configured cron schedule. Every replica may run it; the claim in the state store lets one post per channel."""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from advisor.settings import Settings

log = logging.getLogger(__name__)

MISFIRE_GRACE_S = 3600  # a process that was down at 09:00 still posts when it is back within the hour


def start_digest_schedule(settings: Settings, job: Callable[[], object]) -> BackgroundScheduler | None:
    """Run `job` on the digest schedule in a background thread; None when no digest channel is configured."""
    if not settings.digest_channels:
        return None
    trigger = CronTrigger.from_crontab(settings.digest_cron, timezone=settings.digest_timezone)
    scheduler = BackgroundScheduler(timezone=settings.digest_timezone)
    scheduler.add_job(_logged(job), trigger, id="weekly-digest", coalesce=True, max_instances=1,
                      misfire_grace_time=MISFIRE_GRACE_S)
    scheduler.start()
    log.info("Weekly digest scheduled (%s, %s) for %d channel(s).", settings.digest_cron, settings.digest_timezone,
             len(settings.digest_channels))
    return scheduler


def _logged(job: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception:  # the front door keeps serving; the next week's run tries again
            log.exception("The weekly digest job failed.")

    return run


def schedule_for_platform(settings: Settings, question_log, knowledge, platform: str,
                          poster) -> BackgroundScheduler | None:
    """The digest job of one front door: it posts to that platform's configured channels only."""
    from digest.deliver import run_digests

    channels = [c for c in settings.digest_channels if c.platform == platform]
    if not channels:
        return None
    return start_digest_schedule(settings, lambda: run_digests(
        settings, question_log, knowledge, posters={platform: poster}, channels=channels))
