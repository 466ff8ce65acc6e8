"""End to end as an official would use the Teams agent: Microsoft's own local Teams client, the Microsoft 365 Agents
Playground (npm `@microsoft/m365agentsplayground`), talks to the running agent, and headless Chromium (Debian's
`chromium`, driven by Playwright) uses the playground's chat like a person: reads the welcome, types a question,
sees the answer card with its sources, clicks "Helpful". The feedback must then be in the question log.

The playground plays Teams and its Bot Connector service (it is the agent's `serviceUrl`), so nothing leaves the
machine. It needs node, the playground and chromium (`.ci/run` installs them); without them the test is skipped
and says which is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bot.teams.cards import card_labels
from bot.teams.server import create_app
from engine.question_log import QuestionLog
from tests.conftest import make_settings
from tests.teams_support import BackgroundLoop, free_port

PLAYGROUND = "agentsplayground"
CHROMIUM = "/usr/bin/chromium"
# As root on a machine without outside network: no sandbox, and none of Chromium's background connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
QUESTION = "Who should coordinate all the partners in our city?"
WAIT_MS = 60_000
LABELS = card_labels("en")


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs npm)"
    if shutil.which(PLAYGROUND) is None:
        return "the Agents Playground is not installed (npm install -g @microsoft/m365agentsplayground@0.2.28)"
    if not Path(CHROMIUM).exists():
        return "Chromium is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"The playground exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    pytest.fail(f"The playground did not listen on {port} within {timeout:.0f} s:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def playground(kb_settings, advisor, tmp_path_factory):
    """The agent on a free port and the playground pointed at it; yields (playground URL, question log)."""
    root = tmp_path_factory.mktemp("playground")
    settings = make_settings(kb_settings.knowledge_dir, kb_settings.store_dir, state_url=f"sqlite:///{root}/state.db")
    question_log = QuestionLog.from_settings(settings)
    loop = BackgroundLoop()
    agent_url = loop.serve(create_app(settings, allow_anonymous=True, advisor=advisor, question_log=question_log))

    # The playground opens a browser with xdg-open at start and exits when that fails: give it one that does nothing.
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "xdg-open").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "xdg-open").chmod(0o755)
    port = free_port()
    log = root / "playground.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [shutil.which(PLAYGROUND), "--app-endpoint", f"{agent_url}/api/messages", "--channel-id", "msteams",
             "--port", str(port), "--disable-telemetry"],
            cwd=root, env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_for_port(port, process, log)
        yield f"http://127.0.0.1:{port}", question_log
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        loop.close()
        question_log.close()


def test_an_official_asks_in_the_playground_and_rates_the_answer(playground, advisor, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, question_log = playground
    cited = {c.url for c in advisor.ask(QUESTION).citations}  # the engine is deterministic: the same sources
    assert cited
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(url)
            # The playground installs the agent in a personal chat: the welcome card says how data is handled.
            expect(page.get_by_text(LABELS["privacy_title"]).first).to_be_visible(timeout=WAIT_MS)

            page.get_by_role("textbox").first.fill(QUESTION)
            page.keyboard.press("Enter")
            expect(page.get_by_text(LABELS["sources"], exact=True).first).to_be_visible(timeout=WAIT_MS)
            for source in cited:  # every source is a link the official can follow
                expect(page.locator(f'a[href="{source}"]').first).to_be_visible()

            page.get_by_role("button", name=LABELS["helpful"], exact=True).click()
            expect(page.get_by_text(LABELS["feedback_thanks"]).first).to_be_visible(timeout=WAIT_MS)
        finally:
            page.screenshot(path=str(tmp_path / "playground.png"))  # kept by pytest for a look after a failure
            browser.close()

    (asked,) = question_log.questions()
    assert not asked.abstained and asked.platform == "teams"
    feedback = question_log.feedback()
    assert [(f.question_id, f.helpful) for f in feedback] == [(asked.id, True)]
