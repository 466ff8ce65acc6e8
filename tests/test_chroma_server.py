"""Client/server mode: the same ingest and answers against a real `chroma run` server started by the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ingest import pipeline
from tests.conftest import make_settings
from tests.test_ingest import BACKBONE, GANGS

pytestmark = pytest.mark.server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    assert chroma, "the chromadb package installs the `chroma` command"
    port = free_port()
    proc = subprocess.Popen([chroma, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("chroma run did not start")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_ingest_and_answer_through_a_chroma_server(tmp_path, chroma_server):
    from engine.advisor import Advisor

    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    (knowledge / "backbone.md").write_text(BACKBONE)
    (knowledge / "gangs.md").write_text(GANGS)
    settings = make_settings(knowledge, tmp_path / "local-state", chroma_url=chroma_server)
    assert sorted(pipeline.ingest(settings).added) == ["backbone.md", "gangs.md"]
    assert not (tmp_path / "local-state" / "chroma.sqlite3").exists()  # nothing embedded: the server holds it

    # A second machine with no local manifest sees the same knowledge base through the server.
    elsewhere = make_settings(knowledge, tmp_path / "other-machine", chroma_url=chroma_server)
    assert set(pipeline.indexed_documents(elsewhere).documents) == {"backbone.md", "gangs.md"}
    answer = Advisor(elsewhere).ask("What does a backbone organisation do?")
    assert not answer.abstained and answer.citations[0].source == "backbone.md"

    (knowledge / "gangs.md").unlink()
    assert pipeline.ingest(settings).removed == ["gangs.md"]
    assert set(pipeline.indexed_documents(elsewhere).documents) == {"backbone.md"}
