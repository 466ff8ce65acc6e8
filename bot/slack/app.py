"""The Bolt app: which Slack request goes to which piece of work, acknowledged first.

Every listener acknowledges at once (Slack wants an answer within 3 seconds) and does its work in a lazy listener
on Bolt's thread pool, so the same app runs behind HTTP, in Socket Mode, or on a FaaS platform. The pool is large
because most of its threads only wait (for Slack, for the database, for an engine slot); the engine itself is
limited separately (`ADVISOR_SLACK_ENGINE_CONCURRENCY`).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from advisor.settings import Settings
from bot.slack import blocks, views
from bot.slack.channels import ChannelDirectory
from bot.slack.ratelimit import RateLimiter
from bot.slack.service import SlackAdvisor, reference
from engine.question_log import QuestionLog

log = logging.getLogger(__name__)

COMMAND = "/advisor"
SHORTCUT = "advisor_ask_about_message"
LISTENER_THREADS = 64


class SetupError(ValueError):
    """The Slack settings cannot start the app; the message names the variable to set and is for the admin."""


def secret(value) -> str | None:
    """The value of an optional secret setting."""
    return value.get_secret_value() if value is not None else None


def check_setup(settings: Settings) -> None:
    """Refuse to start, naming the missing or mistaken variable, before anything slow (loading the engine)."""
    bot_token, app_token = (secret(settings.slack_bot_token), secret(settings.slack_app_token))
    client_id, client_secret = settings.slack_client_id, secret(settings.slack_client_secret)
    if bot_token and not bot_token.startswith("xoxb-"):
        raise SetupError("SLACK_BOT_TOKEN must be the Bot User OAuth Token (xoxb-…), from OAuth & Permissions.")
    if app_token and not app_token.startswith("xapp-"):
        raise SetupError("SLACK_APP_TOKEN must be an app-level token (xapp-…) with connections:write, from "
                         "Basic Information → App-Level Tokens.")
    if bool(client_id) != bool(client_secret):
        missing = "SLACK_CLIENT_SECRET" if client_id else "SLACK_CLIENT_ID"
        raise SetupError(f"{missing} is not set: OAuth installs need both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET.")
    if app_token:
        if not bot_token:
            raise SetupError("SLACK_BOT_TOKEN is not set: Socket Mode (SLACK_APP_TOKEN) needs the Bot User OAuth "
                             "Token (xoxb-…) too.")
        return
    if not settings.slack_signing_secret:
        raise SetupError("SLACK_SIGNING_SECRET is not set: HTTP mode verifies every request with it (Basic "
                         "Information → Signing Secret). For Socket Mode, set SLACK_APP_TOKEN instead.")
    if not bot_token and not client_id:
        raise SetupError("SLACK_BOT_TOKEN is not set (one workspace; or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET "
                         "for OAuth installs into several).")
    try:
        ChannelDirectory(settings.slack_channels_file)
    except ValueError as exc:
        raise SetupError(f"The channel settings file (ADVISOR_SLACK_CHANNELS_FILE) is invalid: {exc}") from exc
    if bot_token:
        _verify_token(bot_token, settings.slack_api_url)


def _verify_token(token: str, api_url: str) -> None:
    """Ask Slack whether it knows the token (`auth.test`), so a mistyped or revoked one is reported at once."""
    try:
        WebClient(token=token, base_url=api_url).auth_test()
    except SlackApiError as exc:
        raise SetupError(f"Slack did not accept SLACK_BOT_TOKEN ({exc.response.get('error')}).") from exc
    except (SlackClientError, OSError) as exc:
        raise SetupError(f"Cannot reach Slack's Web API at {api_url} (ADVISOR_SLACK_API_URL): {exc}") from exc


@dataclass
class SlackApp:
    app: App
    service: SlackAdvisor
    executor: ThreadPoolExecutor

    def close(self) -> None:
        """Wait for the work in progress (answers being written) and stop."""
        self.executor.shutdown(wait=True)


def build_app(settings: Settings, advisor, question_log: QuestionLog) -> SlackApp:
    """The app for one workspace (`SLACK_BOT_TOKEN`) or, with `SLACK_CLIENT_ID`/`SLACK_CLIENT_SECRET`, for every
    workspace that installs it through OAuth."""
    executor = ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="slack")
    common = {"signing_secret": secret(settings.slack_signing_secret) or "", "listener_executor": executor,
              "name": "advisor"}
    if settings.slack_client_id and settings.slack_client_secret:
        from bot.slack.oauth import oauth_settings

        # Bolt gives each request a client with this one's base URL and the installing workspace's token.
        app = App(oauth_settings=oauth_settings(settings, question_log.engine),
                  client=WebClient(base_url=settings.slack_api_url), **common)
        app.enable_token_revocation_listeners()
    else:
        token = secret(settings.slack_bot_token)
        if not token:
            raise SetupError("Set SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (OAuth).")
        # The token goes in the client: Bolt ignores a `token` argument when a client is given.
        app = App(client=WebClient(token=token, base_url=settings.slack_api_url), **common)

        def uninstalled(ack: Ack, event: dict) -> None:
            ack()
            log.warning("Slack reports %s: SLACK_BOT_TOKEN no longer works until the app is installed again.",
                        event.get("type"))

        app.event("app_uninstalled")(uninstalled)
        app.event("tokens_revoked")(uninstalled)
    service = SlackAdvisor(settings, advisor, question_log,
                           ChannelDirectory(settings.slack_channels_file, settings.slack_consultants_channel),
                           RateLimiter(settings.slack_rate_limit, settings.slack_rate_window_s))
    register(app, service)
    return SlackApp(app=app, service=service, executor=executor)


def register(app: App, service: SlackAdvisor) -> None:
    def acknowledge(ack: Ack) -> None:
        ack()

    def who(context: BoltContext):
        return service.who(context.team_id or context.enterprise_id, context.user_id, context.channel_id)

    def answer_message(event: dict, context: BoltContext, client: WebClient) -> None:
        service.on_message(event, team=context.team_id or context.enterprise_id or "",
                           bot_user_id=context.bot_user_id, bot_id=context.bot_id, client=client)

    app.event("app_mention")(ack=acknowledge, lazy=[answer_message])
    app.event("message")(ack=acknowledge, lazy=[answer_message])

    def command_ack(ack: Ack, command: dict, context: BoltContext) -> None:
        reply = service.command_ack(command.get("text") or "", context.channel_id or "", context.bot_user_id)
        ack(text=reply.text, blocks=reply.blocks, response_type="ephemeral")

    def answer_command(command: dict, context: BoltContext, respond) -> None:
        text = command.get("text") or ""
        if not service.wants_help(text):  # the help went with the acknowledgement
            service.answer_privately(text, who(context), respond, context.bot_user_id)

    app.command(COMMAND)(ack=command_ack, lazy=[answer_command])

    def answer_shortcut(body: dict, context: BoltContext, respond) -> None:
        service.answer_privately((body.get("message") or {}).get("text") or "", who(context), respond,
                                 context.bot_user_id)

    app.shortcut(SHORTCUT)(ack=acknowledge, lazy=[answer_shortcut])

    def helpful(action: dict, body: dict, context: BoltContext, client: WebClient, respond) -> None:
        service.feedback(action["value"], True, who(context), body.get("trigger_id"), client, respond)

    def not_helpful(action: dict, body: dict, context: BoltContext, client: WebClient, respond) -> None:
        service.feedback(action["value"], False, who(context), body.get("trigger_id"), client, respond)

    def consultant(action: dict, body: dict, context: BoltContext, respond) -> None:
        service.ask_consultant(action["value"], body, who(context), respond)

    def consultant_send(action: dict, context: BoltContext, client: WebClient, respond) -> None:
        service.send_to_consultants(action["value"], who(context), client, respond)

    def consultant_cancel(action: dict, respond) -> None:
        service.cancel_consultant(action["value"], respond)

    def write_approved(ack: Ack, action: dict, body: dict, context: BoltContext, client: WebClient) -> None:
        ack()
        service.write_approved(action["value"], body, who(context), client)

    def share(action: dict, context: BoltContext, respond) -> None:
        service.share(action["value"], who(context), respond)

    app.action(blocks.HELPFUL)(ack=acknowledge, lazy=[helpful])
    app.action(blocks.NOT_HELPFUL)(ack=acknowledge, lazy=[not_helpful])
    app.action(blocks.CONSULTANT)(ack=acknowledge, lazy=[consultant])
    app.action(blocks.CONSULTANT_SEND)(ack=acknowledge, lazy=[consultant_send])
    app.action(blocks.CONSULTANT_CANCEL)(ack=acknowledge, lazy=[consultant_cancel])
    # The form must open within three seconds of the click (Slack's trigger id), so it is opened at once.
    app.action(blocks.WRITE_APPROVED)(write_approved)
    app.action(blocks.SHARE)(ack=acknowledge, lazy=[share])

    def comment(view: dict, context: BoltContext) -> None:
        service.feedback_comment(view, who(context))

    app.view(views.COMMENT_CALLBACK)(ack=acknowledge, lazy=[comment])

    def check_approved(ack: Ack, view: dict) -> None:
        problems = service.approved_problems(view)
        if problems:
            ack(response_action="errors", errors=problems)
        else:
            ack()

    def publish_approved(view: dict, context: BoltContext, client: WebClient) -> None:
        service.publish_approved(view, who(context), client)

    app.view(views.APPROVED_CALLBACK)(ack=check_approved, lazy=[publish_approved])

    def home(event: dict, context: BoltContext, client: WebClient) -> None:
        if event.get("tab") == "home":
            service.publish_home(event["user"], context.bot_user_id, client)

    app.event("app_home_opened")(ack=acknowledge, lazy=[home])

    @app.error
    def failed(error: Exception) -> None:
        # Reached only by failures outside the service's own handling (e.g. while acknowledging).
        log.error("Unhandled error in a Slack listener (reference %s)", reference(), exc_info=error)
