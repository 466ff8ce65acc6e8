"""Running the Teams agent in tests: the real aiohttp server on a free loopback port, in a background event loop,
and a local stand-in for Microsoft's Bot Connector API that records what the agent sends.

Microsoft's cloud (the Bot Connector service behind Teams) cannot be reached from here, so every activity the
tests post names the stand-in as its `serviceUrl`; the agent then sends its replies there exactly as it would to
Teams (`POST /v3/conversations/{id}/activities[/{replyToId}]`), and the tests read them back.

Also here: activities shaped as Teams sends them, and the check that a card is valid Adaptive Card 1.5 (against
the vendored schema in tests/schemas/, so it runs offline).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any

import jsonschema
from aiohttp import web

from advisor.settings import PROJECT_DIR

SCHEMAS = PROJECT_DIR / "tests" / "schemas"
TEAMS_CARD_VERSION = (1, 5)
TENANT = "tenant-0001"
AGENT = {"id": "28:advisor-agent", "name": "Collective Impact Advisor"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BackgroundLoop:
    """An asyncio loop in a daemon thread, so blocking tests (urllib, Playwright) can talk to servers on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._runners: list[web.AppRunner] = []

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def serve(self, app: web.Application) -> str:
        """Start `app` on a free loopback port; returns its base URL."""
        port = free_port()

        async def start() -> None:
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self._runners.append(runner)

        self.run(start())
        return f"http://127.0.0.1:{port}"

    def close(self) -> None:
        async def stop() -> None:
            for runner in reversed(self._runners):
                await runner.cleanup()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class ConnectorStandIn:
    """Records every activity posted to it, per conversation, and answers like the Bot Connector API."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.refuse_with: int | None = None  # an HTTP status to answer with instead of accepting (Teams refusing)
        self.app = web.Application()
        self.app.router.add_route("POST", "/v3/conversations/{conversation}/activities", self._activity)
        self.app.router.add_route("*", "/v3/conversations/{conversation}/activities/{activity}", self._activity)

    async def _activity(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.refuse_with:
            return web.json_response({"error": {"code": "Forbidden", "message": "Refused by the stand-in"}},
                                     status=self.refuse_with)
        self.received.append({"conversation": request.match_info["conversation"],
                              "reply_to": request.match_info.get("activity"), "method": request.method,
                              "authorization": request.headers.get("Authorization"), "activity": body})
        return web.json_response({"id": uuid.uuid4().hex})

    def messages(self, conversation: str | None = None) -> list[dict]:
        """Message activities sent (typing indicators left out), optionally in one conversation."""
        return [r["activity"] for r in self.received
                if r["activity"].get("type") == "message" and conversation in (None, r["conversation"])]

    def clear(self) -> None:
        self.received.clear()


def post_json(url: str, body: dict, headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, Any]:
    """POST JSON with the standard library; returns the status and the decoded body (None when empty)."""
    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


# -- Activities as Teams sends them ------------------------------------------------------------------------------


def activity(kind: str, service_url: str, conversation: str, *, conversation_type: str = "personal",
             user: str = "29:official-1", user_name: str = "Jane Doe", **fields: Any) -> dict:
    """The envelope every Teams activity has: who, where, and the `serviceUrl` to answer at (the stand-in)."""
    return {"type": kind, "id": uuid.uuid4().hex, "channelId": "msteams", "serviceUrl": service_url,
            "timestamp": "2026-11-25T09:00:00.000Z", "locale": "en-US",
            "from": {"id": user, "name": user_name, "aadObjectId": f"aad-{user}"}, "recipient": dict(AGENT),
            "conversation": {"id": conversation, "conversationType": conversation_type, "tenantId": TENANT},
            "channelData": {"tenant": {"id": TENANT}}, **fields}


def message(service_url: str, conversation: str, text: str, *, mention: bool = False,
            colleagues: tuple[dict, ...] = (), **fields: Any) -> dict:
    """A message; with `mention`, it starts by @mentioning the agent the way Teams does (an `<at>` tag plus an
    entity); `colleagues` (`{"id", "name"}`) are @mentioned at its end."""
    entities = []
    for who, before in [(AGENT, True)] * mention + [(c, False) for c in colleagues]:
        tag = f"<at>{who['name']}</at>"
        text = f"{tag} {text}" if before else f"{text} {tag}"
        entities.append({"type": "mention", "mentioned": dict(who), "text": tag})
    return activity("message", service_url, conversation, text=text, entities=entities, **fields)


def card_action(service_url: str, conversation: str, verb: str, data: dict, **fields: Any) -> dict:
    """A click on an `Action.Execute` button: an `adaptiveCard/action` invoke."""
    value = {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
    return activity("invoke", service_url, conversation, name="adaptiveCard/action", value=value, **fields)


def members_added(service_url: str, conversation: str, member_ids: list[str], **fields: Any) -> dict:
    return activity("conversationUpdate", service_url, conversation,
                    membersAdded=[{"id": member} for member in member_ids], **fields)


def members_removed(service_url: str, conversation: str, member_ids: list[str], **fields: Any) -> dict:
    return activity("conversationUpdate", service_url, conversation,
                    membersRemoved=[{"id": member} for member in member_ids], **fields)


# -- Adaptive Cards ----------------------------------------------------------------------------------------------


def cards_in(sent: dict) -> list[dict]:
    return [a["content"] for a in sent.get("attachments") or []
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"]


def card_texts(card: dict) -> list[str]:
    """Every TextBlock's text, in order."""
    return [element["text"] for element in card.get("body", []) if element.get("type") == "TextBlock"]


def card_actions(card: dict) -> dict[str, dict]:
    """The card's `Action.Execute` buttons by verb."""
    return {a["verb"]: a for a in card.get("actions", []) if a.get("type") == "Action.Execute"}


def _card_schema() -> dict:
    return json.loads((SCHEMAS / "adaptive-card-1.5.json").read_text(encoding="utf-8"))


def assert_valid_card(card: dict) -> None:
    """Valid against the Adaptive Card 1.5 schema, and using nothing newer than 1.5 (the schema marks the version
    each element and action type was introduced in)."""
    schema = _card_schema()
    jsonschema.Draft6Validator(schema).validate(card)
    assert _version(card["version"]) <= TEAMS_CARD_VERSION
    for element in _objects(card):
        introduced = schema["definitions"].get(element.get("type"), {}).get("version")
        assert introduced is None or _version(introduced) <= TEAMS_CARD_VERSION, element["type"]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _objects(node: Any) -> Iterator[dict]:
    """Every JSON object in a document, depth first."""
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    if isinstance(node, dict):
        yield node
    for child in children:
        yield from _objects(child)
