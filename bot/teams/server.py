"""Hosting the Teams agent: the Agents SDK's aiohttp `CloudAdapter` behind the SDK's JWT check on `/api/messages`.

Every request to `/api/messages` must carry a Bot Framework token issued for our Entra app (client id, secret and
tenant from `ADVISOR_TEAMS_*`). Without those settings the server refuses to start unless anonymous mode is asked
for explicitly (`bot.teams.auth`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_decorator, start_agent_process
from microsoft_agents.hosting.core import AgentApplication, AgentAuthConfiguration

from advisor.settings import Settings
from bot.teams.agent import TeamsAgent
from bot.teams.auth import auth_configuration, build_adapter
from bot.teams.references import ReferenceStore
from digest.deliver import teams_poster
from digest.schedule import schedule_for_platform
from engine.advisor import Advisor
from engine.question_log import QuestionLog

log = logging.getLogger(__name__)

# Teams activities are a few kilobytes; anything far larger is not from Teams and is refused before parsing.
MAX_REQUEST_BYTES = 256_000


def build_web_app(agent_app: AgentApplication, adapter: CloudAdapter, auth: AgentAuthConfiguration) -> web.Application:
    """`/api/messages` behind the SDK's JWT check (applied to this route only, so `/health` can answer a load
    balancer), with request bodies bounded."""

    @jwt_authorization_decorator
    async def messages(request: web.Request) -> web.StreamResponse:
        if (request.content_length or 0) > MAX_REQUEST_BYTES:  # a chunked body is cut by `client_max_size` instead
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_REQUEST_BYTES, actual_size=request.content_length)
        return await start_agent_process(request, agent_app, adapter)

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app["agent_configuration"] = auth  # read by the SDK's JWT check, under this string key
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/health", health)
    return app


def create_app(settings: Settings, allow_anonymous: bool, advisor: Advisor,
               question_log: QuestionLog | None = None) -> web.Application:
    """The whole agent as an aiohttp application; raises `CredentialsMissing` before building anything."""
    auth = auth_configuration(settings, allow_anonymous)
    question_log = question_log or QuestionLog.from_settings(settings)
    adapter, connections = build_adapter(auth)
    agent = TeamsAgent(settings, advisor, question_log, ReferenceStore(question_log.engine))
    return build_web_app(agent.application(connections), adapter, auth)


def run(settings: Settings, port: int | None, allow_anonymous: bool, load_advisor: Callable[[], Advisor]) -> None:
    """`advisor teams`: check the credentials before the slow model load, then serve until interrupted."""
    auth = auth_configuration(settings, allow_anonymous)
    port = port or settings.teams_port
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The SDK logs every activity it handles at INFO; keep only its warnings and errors unless debugging.
    level = logging.getLevelName(settings.log_level)
    logging.getLogger("microsoft_agents").setLevel(level if level == logging.DEBUG else max(level, logging.WARNING))
    if auth.ANONYMOUS_ALLOWED:
        log.warning("Anonymous mode: requests to /api/messages are not verified. For local testing only.")
    else:
        log.info("Verifying Bot Framework tokens for client id %s", settings.teams_client_id)
    advisor = load_advisor()
    app = create_app(settings, allow_anonymous, advisor)
    digest = schedule_for_platform(settings, QuestionLog.from_settings(settings), advisor, "teams",
                                   teams_poster(settings, allow_anonymous))
    log.info("Teams agent listening on http://%s:%d/api/messages", settings.teams_host, port)
    try:
        web.run_app(app, host=settings.teams_host, port=port, print=None)
    finally:
        if digest is not None:
            digest.shutdown(wait=False)
