"""Running the Slack app: Socket Mode when an app-level token is set (no public URL: councils behind a firewall),
otherwise an HTTP server with `/slack/events` (plus `/slack/install` and `/slack/oauth_redirect` for OAuth installs)
and `/healthz` for load balancers.

HTTP mode is stateless apart from the state database, so several replicas can sit behind one load balancer:
event dedupe and the question log live in `ADVISOR_STATE_URL` (use a shared database, e.g. PostgreSQL, then).
The server is waitress (pure Python, production-grade); Bolt verifies every request's signature and timestamp
before any listener runs (bad or stale: 401), and request bodies are bounded.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Iterable

from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress import wasyncore
from waitress.server import create_server

from advisor.settings import Settings
from bot.slack.app import SlackApp, build_app, check_setup
from bot.slack.redact import configure_logging
from digest.deliver import slack_poster
from digest.schedule import schedule_for_platform
from engine.question_log import QuestionLog

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000  # Slack's payloads are a few kilobytes; a larger body is refused unread (413)
HTTP_THREADS = 16


def wsgi_app(slack: SlackApp, health: Callable[[], None]) -> Callable:
    """Bolt's WSGI handler, with `/healthz` answered without touching Slack: 200 when the state database
    answers, 503 when it does not."""
    bolt = SlackRequestHandler(slack.app)

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/healthz":
            return bolt(environ, start_response)
        try:
            health()
            status, body = "200 OK", {"status": "ok"}
        except Exception as exc:  # the probe needs a status, the log the reason
            log.warning("Health check failed: %s", exc)
            status, body = "503 Service Unavailable", {"status": "unavailable"}
        payload = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    return application


class HttpServer:
    """A waitress server for the app, on `host:port` (port 0: any free port, see `.port`)."""

    def __init__(self, slack: SlackApp, health: Callable[[], None], host: str, port: int):
        self.slack = slack
        self._server = create_server(wsgi_app(slack, health), host=host, port=port, threads=HTTP_THREADS,
                                     max_request_body_size=MAX_BODY_BYTES, ident="advisor",
                                     clear_untrusted_proxy_headers=True)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def serve_forever(self) -> None:
        self._server.run()

    def start(self) -> HttpServer:
        """Serve in a background thread (tests, benchmarks)."""
        self._thread = threading.Thread(target=self.serve_forever, name="advisor-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Finish the requests and the answers in progress, close every connection."""
        # What waitress's own multi-socket server does on close; its loop returns once no channel is left.
        self._server.task_dispatcher.shutdown()
        wasyncore.close_all(self._server._map)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.slack.close()


def run(settings: Settings, load_advisor: Callable[[], object], port: int | None = None,
        host: str = "0.0.0.0") -> None:
    """`advisor slack`: check the settings, load the engine, start the app and serve until interrupted."""
    check_setup(settings)
    configure_logging(settings.log_level)
    advisor = load_advisor()
    question_log = QuestionLog.from_settings(settings)
    question_log.forget_claims(dt.timedelta(days=1))
    slack = build_app(settings, advisor, question_log)
    digest = schedule_for_platform(settings, question_log, advisor, "slack", slack_poster(settings)) \
        if settings.slack_bot_token else None
    if settings.slack_app_token:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        log.info("Starting in Socket Mode.")
        SocketModeHandler(slack.app, settings.slack_app_token.get_secret_value()).start()
        return
    server = HttpServer(slack, question_log.ping, host, port or settings.slack_port)
    log.info("Listening on http://%s:%d/slack/events (health: /healthz).", host, server.port)
    try:
        server.serve_forever()
    finally:
        if digest is not None:
            digest.shutdown(wait=False)
        slack.close()
