"""Shared fixtures: settings pointing at temporary folders, and one real store built from the project's own
knowledge base with the bundled model (built once per test session; building it is the slow part)."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"

from advisor.settings import PROJECT_DIR, Settings  # noqa: E402

random.seed(0)
np.random.seed(0)


def make_settings(knowledge_dir: Path, store_dir: Path, **overrides) -> Settings:
    """Settings from arguments only: a developer's environment or .env file must not leak into tests."""
    return Settings(_env_file=None, knowledge_dir=knowledge_dir, store_dir=store_dir, **overrides)


@pytest.fixture(autouse=True)
def _no_advisor_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("ADVISOR_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def kb_settings(tmp_path_factory) -> Settings:
    """A store built from a copy of `knowledge/`, shared read-only by the tests that need an engine."""
    from ingest.pipeline import ingest

    root = tmp_path_factory.mktemp("kb")
    shutil.copytree(PROJECT_DIR / "knowledge", root / "knowledge")
    settings = make_settings(root / "knowledge", root / "store")
    report = ingest(settings)
    assert report.ok, report.problems
    return settings


@pytest.fixture(scope="session")
def advisor(kb_settings):
    from engine.advisor import Advisor

    return Advisor(kb_settings)


@pytest.fixture
def cli_env(kb_settings, monkeypatch):
    """The command line (`advisor ...`) on the session's store."""
    from advisor.settings import get_settings

    monkeypatch.setenv("ADVISOR_KNOWLEDGE_DIR", str(kb_settings.knowledge_dir))
    monkeypatch.setenv("ADVISOR_STORE_DIR", str(kb_settings.store_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
