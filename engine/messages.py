"""Localised labels for answers (from `prompts/labels.yaml`) and the prompt templates in `prompts/`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@lru_cache(maxsize=1)
def _labels() -> dict[str, dict]:
    return yaml.safe_load((PROMPTS_DIR / "labels.yaml").read_text(encoding="utf-8"))


def labels(language: str) -> dict:
    """The label set for a language, falling back to English for a language we do not serve."""
    table = _labels()
    return table.get(language, table["en"])


@lru_cache(maxsize=16)
def prompt(name: str) -> str:
    return (PROMPTS_DIR / name).read_text(encoding="utf-8")
