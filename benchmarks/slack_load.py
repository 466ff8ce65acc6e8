"""Bounded load test of the Slack app: N people @mention the advisor at the same moment (default 50), and Slack
retries every one of those events as if the first delivery had not been acknowledged.

The app is `advisor slack` itself, in its own process, in HTTP mode (waitress, Bolt, the real engine on the
configured knowledge base). Slack is the local stand-in from `tests/slack_support.py`, reached through
`ADVISOR_SLACK_API_URL`, which records when each `chat.postMessage` arrives. Checks: every request acknowledged
with 200, every question answered exactly once, in its own thread, with an answer (not an apology). Prints the
median, p95 and maximum time from sending the event to the answer's `chat.postMessage`, and the same for the
acknowledgement (Slack wants it within 3 seconds).

Run: python benchmarks/slack_load.py [--mentions 50] [--no-retries]
Uses ADVISOR_KNOWLEDGE_DIR / ADVISOR_STORE_DIR (and every other setting) like `advisor slack`, indexing first
when needed; the Slack variables, the question log and the channel settings are the benchmark's own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from tests.slack_support import SIGNING_SECRET, TOKEN, FakeSlack, Workspace, button  # noqa: E402 (after sys.path)

ADVISOR = shutil.which("advisor", path=str(Path(sys.executable).parent)) or "advisor"
CHANNEL = "C0LOADTEST"
START_TIMEOUT_S = 600  # the first start may index the knowledge base


def questions(count: int) -> list[str]:
    """In-scope questions of the development set, in file order (repeated when more are asked for)."""
    rows = [json.loads(line) for line in (PROJECT / "eval" / "devset.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    found = [r["question"] for r in rows if not r.get("should_abstain") and not r.get("history")]
    return [found[i % len(found)] for i in range(count)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(values_ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(values_ms)), "p95_ms": round(percentile(values_ms, 0.95)),
            "max_ms": round(max(values_ms))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(fake: FakeSlack, folder: Path, port: int, engine_concurrency: int | None) -> subprocess.Popen:
    """`advisor slack --port PORT` against the stand-in; returns once its health endpoint answers."""
    env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "ADVISOR_SLACK_API_URL": fake.api_url, "ADVISOR_STATE_URL": f"sqlite:///{folder / 'state.db'}",
           "ADVISOR_SLACK_CHANNELS_FILE": str(folder / "channels.yaml"), "ADVISOR_SLACK_RATE_LIMIT": "1000",
           "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    env.pop("SLACK_APP_TOKEN", None)  # HTTP mode
    if engine_concurrency:
        env["ADVISOR_SLACK_ENGINE_CONCURRENCY"] = str(engine_concurrency)
    log = (folder / "app.log").open("w")
    app = subprocess.Popen([ADVISOR, "slack", "--port", str(port)], env=env, cwd=PROJECT, stdout=log, stderr=log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if app.poll() is not None:
            sys.exit(f"`advisor slack` stopped (exit {app.returncode}):\n{(folder / 'app.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return app
        except OSError:
            time.sleep(0.5)
    app.kill()
    sys.exit("`advisor slack` did not start in time.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mentions", type=int, default=50)
    parser.add_argument("--no-retries", action="store_true", help="Send each event once, without Slack's retry.")
    parser.add_argument("--engine-concurrency", type=int, default=None,
                        help="ADVISOR_SLACK_ENGINE_CONCURRENCY for the app (default: the app's setting).")
    args = parser.parse_args()

    fake = FakeSlack().start()
    folder = Path(tempfile.mkdtemp(prefix="slack-load-"))
    port = free_port()
    app = start_app(fake, folder, port, args.engine_concurrency)
    workspace = Workspace(f"http://127.0.0.1:{port}", fake)

    asked = [fake.user_message(CHANNEL, f"U0LOAD{n:05d}", f"<@{fake.bot_user}> {q}")
             for n, q in enumerate(questions(args.mentions))]
    deliveries = [(m, retry) for m in asked for retry in ((None,) if args.no_retries else (None, 1))]
    sent_at: dict[str, float] = {}

    def deliver(item: tuple[dict, int | None]) -> tuple[int, float]:
        message, retry = item
        started = time.perf_counter()
        if retry is None:
            sent_at[message["ts"]] = started
        status, _ = workspace.event({**message, "type": "app_mention", "channel": CHANNEL},
                                    event_id=f"Ev{message['ts']}", retry=retry)
        return status, (time.perf_counter() - started) * 1000

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        acks = list(pool.map(deliver, deliveries))
    try:
        fake.wait_for("chat.postMessage", len(asked), timeout=600, channel=CHANNEL)
    finally:
        wall_s = time.perf_counter() - began
        # Ctrl-C, as an admin stops it: the app finishes every listener (the retries' too) before it exits.
        app.send_signal(signal.SIGINT)
        app.wait(timeout=120)
        fake.stop()

    posts = fake.calls_to("chat.postMessage", channel=CHANNEL)
    per_thread = {m["ts"]: [c for c in posts if c.params.get("thread_ts") == m["ts"]] for m in asked}
    failures = [status for status, _ in acks if status != 200]
    doubled = [ts for ts, found in per_thread.items() if len(found) != 1]
    rejected = [c.reply for c in posts if not c.reply.get("ok")]
    apologies = [c for c in posts if not button(c.params.get("blocks") or [], "advisor_helpful")]
    latencies = [(found[0].at - sent_at[ts]) * 1000 for ts, found in per_thread.items() if found]
    result = {
        "mentions": len(asked), "requests": len(deliveries), "non_200": len(failures), "answers": len(posts),
        "threads_not_answered_exactly_once": len(doubled), "rejected_by_slack": len(rejected),
        "apologies": len(apologies), "event_to_post": summary(latencies),
        "acknowledgement": summary([ms for _, ms in acks]), "wall_s": round(wall_s, 1), "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    if failures or doubled or rejected or apologies:
        sys.exit(f"Failed; the app's log is in {folder / 'app.log'}.")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
