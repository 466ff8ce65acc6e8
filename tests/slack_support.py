"""A local stand-in for Slack, for the Slack app's tests and its load benchmark.

Slack cannot be reached from tests, CI or the benchmark, and a mocked client would hide what actually crosses the
wire. So `FakeSlack` is a real HTTP server on the loopback interface that answers the Web API methods the app calls
the way Slack does (same paths, bearer-token check, `ok`/`error` bodies, Block Kit limits enforced with Slack's
`invalid_blocks` error), serves the `response_url`s that slash commands, shortcuts and buttons carry, keeps the
threads it is told about, and records every call. The app reaches it through `ADVISOR_SLACK_API_URL`, exactly as it
would reach GovSlack or a proxy.

`Workspace` plays Slack's other half: it sends the app events, slash commands, shortcuts and button clicks over
HTTP, signed with the signing secret the way Slack signs them.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "xoxb-0000-test-token"
SIGNING_SECRET = "test-signing-secret"
TEAM = "T0TESTCITY"
BOT_USER = "U0ADVISORBOT"
BOT_ID = "B0ADVISORBOT"

_JSON_PARAMS = {"blocks", "view", "metadata", "attachments"}
# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks): what it rejects with `invalid_blocks`.
_MAX_BLOCKS = 50
_MAX_TEXT = {"section": 3000, "header": 150}
_MAX_CONTEXT_ELEMENTS = 10
_MAX_BUTTON_VALUE = 2000
_MAX_FALLBACK_TEXT = 40_000


@dataclass(frozen=True)
class Call:
    method: str  # Web API method, or "response_url"
    params: dict
    reply: dict
    at: float = field(default_factory=time.perf_counter)
    path: str = ""


def signed_headers(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signature: `v0=` + HMAC-SHA256 of `v0:{timestamp}:{body}` keyed with the signing secret
    (https://docs.slack.dev/authentication/verifying-requests-from-slack)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def post(url: str, body: str, headers: dict[str, str], content_type: str = "application/json",
         timeout: float = 30) -> tuple[int, str]:
    """POST to the app; (status, body), also for error statuses."""
    request = urllib.request.Request(url, data=body.encode(), method="POST",
                                     headers={"Content-Type": content_type, **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def blocks_problem(blocks: list[dict]) -> str | None:
    """What Slack would reject in these blocks, or None."""
    if len(blocks) > _MAX_BLOCKS:
        return f"{len(blocks)} blocks"
    for block in blocks:
        limit = _MAX_TEXT.get(block.get("type"))
        if limit and len((block.get("text") or {}).get("text", "")) > limit:
            return f"{block['type']} text over {limit}"
        if block.get("type") == "context" and len(block.get("elements", [])) > _MAX_CONTEXT_ELEMENTS:
            return "context elements"
        for element in block.get("elements", []):
            if len(element.get("text", "") if isinstance(element.get("text"), str) else "") > 3000:
                return "context text over 3000"
            if len(element.get("value", "")) > _MAX_BUTTON_VALUE:
                return "button value over 2000"
    return None


class FakeSlack:
    """The Web API and response URLs of one workspace, recording every call."""

    def __init__(self, token: str = TOKEN, team: str = TEAM, bot_user: str = BOT_USER, bot_id: str = BOT_ID):
        self.token, self.team, self.bot_user, self.bot_id = token, team, bot_user, bot_id
        self.calls: list[Call] = []
        self.threads: dict[tuple[str, str], list[dict]] = {}  # (channel, thread ts) → messages
        self._changed = threading.Condition()
        self._ts = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-slack", daemon=True)

    # -- lifecycle and addresses ------------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self) -> str:
        """A fresh response URL, as Slack puts in each command, shortcut and button payload."""
        return f"{self.base}/response/{uuid.uuid4().hex}"

    # -- what the tests look at -------------------------------------------------------------------------------

    def next_ts(self) -> str:
        with self._changed:
            return f"{1_700_000_000 + next(self._ts)}.000100"

    def user_message(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> dict:
        """A person's message, kept in its thread (so conversations.replies sees it); returns the message."""
        ts = self.next_ts()
        message = {"type": "message", "user": user, "text": text, "ts": ts, "team": self.team,
                   **({"thread_ts": thread_ts} if thread_ts else {})}
        with self._changed:
            self.threads.setdefault((channel, thread_ts or ts), []).append(message)
        return message

    def calls_to(self, method: str, **where) -> list[Call]:
        with self._changed:
            return self._matching(method, where)

    def wait_for(self, method: str, count: int = 1, timeout: float = 30, **where) -> list[Call]:
        """The calls to `method` (matching `where`) once there are `count` of them; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := self._matching(method, where)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{count} call(s) to {method} {where} expected, got {len(found)}: "
                                         f"{[c.method for c in self.calls]}")
                self._changed.wait(left)
            return found

    def _matching(self, method: str, where: dict) -> list[Call]:
        return [c for c in self.calls if c.method == method
                and all((c.path if k == "path" else c.params.get(k)) == v for k, v in where.items())]

    # -- the Web API ------------------------------------------------------------------------------------------

    def _answer(self, method: str, params: dict) -> dict:
        problem = blocks_problem(params.get("blocks") or [])
        if problem or len(params.get("text") or "") > _MAX_FALLBACK_TEXT:
            return {"ok": False, "error": "invalid_blocks", "detail": problem or "text too long"}
        if method == "auth.test":
            return {"ok": True, "url": "https://fake.slack/", "team": "Test city", "user": "advisor",
                    "team_id": self.team, "user_id": self.bot_user, "bot_id": self.bot_id,
                    "is_enterprise_install": False}
        if method == "chat.postMessage":
            ts = self.next_ts()
            message = {"type": "message", "user": self.bot_user, "bot_id": self.bot_id, "ts": ts,
                       "text": params.get("text", ""), "blocks": params.get("blocks") or []}
            for key in ("metadata", "thread_ts"):
                if params.get(key):
                    message[key] = params[key]
            self.threads.setdefault((params.get("channel"), params.get("thread_ts") or ts), []).append(message)
            return {"ok": True, "channel": params.get("channel"), "ts": ts, "message": message}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self.next_ts()}
        if method == "chat.getPermalink":
            ts = str(params.get("message_ts", "")).replace(".", "")
            return {"ok": True, "channel": params.get("channel"),
                    "permalink": f"https://fake.slack/archives/{params.get('channel')}/p{ts}"}
        if method == "conversations.replies":
            messages = self.threads.get((params.get("channel"), params.get("ts")), [])
            return {"ok": True, "messages": sorted(messages, key=lambda m: float(m["ts"])), "has_more": False}
        if method in ("reactions.add", "reactions.remove"):
            return {"ok": True}
        if method in ("views.publish", "views.open"):
            return {"ok": True, "view": {"id": "V0VIEW", **(params.get("view") or {})}}
        return {"ok": False, "error": "unknown_method"}

    def _record(self, method: str, params: dict, path: str, authorised: bool) -> dict:
        with self._changed:
            if not authorised:
                reply = {"ok": False, "error": "invalid_auth"}
            elif method == "response_url":
                problem = blocks_problem(params.get("blocks") or [])
                reply = {"ok": False, "error": "invalid_blocks"} if problem else {"ok": True}
            else:
                reply = self._answer(method, params)
            self.calls.append(Call(method, params, reply, path=path))
            self._changed.notify_all()
            return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _params(self) -> dict:
                url = urllib.parse.urlsplit(self.path)
                params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if raw and "json" in (self.headers.get("Content-Type") or ""):
                    params.update(json.loads(raw))
                elif raw:
                    params.update({k: v[-1] for k, v in urllib.parse.parse_qs(raw).items()})
                for key in _JSON_PARAMS & params.keys():
                    if isinstance(params[key], str):  # form-encoded calls send these as JSON strings
                        params[key] = json.loads(params[key])
                return params

            def _serve(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                params = self._params()
                if path.startswith("/response/"):  # response URLs need no token: the URL is the secret
                    reply = fake._record("response_url", params, path, authorised=True)
                else:
                    authorised = self.headers.get("Authorization") == f"Bearer {fake.token}"
                    reply = fake._record(path.removeprefix("/api/"), params, path, authorised)
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        return Handler


class Workspace:
    """Slack's side of the conversation with the app at `url`: signed events, commands, shortcuts and clicks."""

    def __init__(self, url: str, fake: FakeSlack, secret: str = SIGNING_SECRET):
        self.url, self.fake, self.secret = url, fake, secret

    def send(self, body: str, content_type: str = "application/json", headers: dict[str, str] | None = None,
             timestamp: int | None = None) -> tuple[int, str]:
        signed = signed_headers(self.secret, body, timestamp)
        return post(f"{self.url}/slack/events", body, {**signed, **(headers or {})}, content_type)

    def event(self, event: dict, event_id: str | None = None, retry: int | None = None) -> tuple[int, str]:
        """An Events API `event_callback`, as Slack posts it (with its retry headers when `retry` is given)."""
        body = json.dumps({"token": "unused", "team_id": self.fake.team, "api_app_id": "A0ADVISOR", "event": event,
                           "type": "event_callback", "event_id": event_id or f"Ev{uuid.uuid4().hex[:12]}",
                           "event_time": int(time.time()),
                           "authorizations": [{"team_id": self.fake.team, "user_id": self.fake.bot_user,
                                               "is_bot": True}]})
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return self.send(body, headers=headers)

    def mention(self, channel: str, user: str, question: str, thread_ts: str | None = None) -> dict:
        """A person @mentions the advisor: the message is kept in its thread and Slack's `app_mention` sent.
        Returns the message."""
        message = self.fake.user_message(channel, user, f"<@{self.fake.bot_user}> {question}", thread_ts)
        status, _ = self.event({**message, "type": "app_mention", "channel": channel})
        assert status == 200
        return message

    def form(self, fields: dict[str, str]) -> tuple[int, str]:
        return self.send(urllib.parse.urlencode(fields), "application/x-www-form-urlencoded")

    def slash_command(self, text: str, channel: str, user: str) -> tuple[tuple[int, str], str]:
        """`/advisor TEXT`; returns Slack's HTTP exchange (status, immediate reply) and the command's response URL."""
        response_url = self.fake.response_url()
        reply = self.form({"token": "unused", "team_id": self.fake.team, "team_domain": "testcity",
                           "channel_id": channel, "channel_name": "general", "user_id": user, "user_name": "official",
                           "command": "/advisor", "text": text, "api_app_id": "A0ADVISOR",
                           "response_url": response_url, "trigger_id": "1.2.trigger"})
        return reply, response_url

    def interaction(self, payload: dict) -> tuple[tuple[int, str], str]:
        """An interactivity payload (button click, shortcut, modal submission); returns the exchange and the
        payload's response URL."""
        response_url = self.fake.response_url()
        payload = {"token": "unused", "team": {"id": self.fake.team, "domain": "testcity"},
                   "api_app_id": "A0ADVISOR", "trigger_id": "1.2.trigger", "response_url": response_url, **payload}
        return self.form({"payload": json.dumps(payload)}), response_url

    def click(self, action_id: str, user: str, channel: str, message: dict | None = None) -> str:
        """A click on the button `action_id` of `message` (an answer posted in a channel) or, without a message,
        of a private answer, whose buttons are taken from the last response URL reply carrying `action_id`.
        Returns the click's response URL."""
        shown = message or next(c.params for c in reversed(self.fake.calls_to("response_url"))
                                if button(c.params.get("blocks") or [], action_id))
        action = button(shown["blocks"], action_id)
        container = ({"type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": False}
                     if message else {"type": "message", "message_ts": self.fake.next_ts(), "channel_id": channel,
                                      "is_ephemeral": True})
        payload = {"type": "block_actions", "user": {"id": user, "team_id": self.fake.team},
                   "container": container, "channel": {"id": channel, "name": "general"},
                   "actions": [{"type": "button", "action_id": action_id, "block_id": action["block_id"],
                                "value": action["value"], "action_ts": str(time.time())}]}
        if message:
            payload["message"] = message
        (status, _), response_url = self.interaction(payload)
        assert status == 200
        return response_url


def button(blocks: list[dict], action_id: str) -> dict | None:
    """The button `action_id` in a message's blocks (with its block's id), or None."""
    for block in blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return {**element, "block_id": block.get("block_id")}
    return None
