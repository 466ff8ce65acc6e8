"""Localised labels (answers: `prompts/labels.yaml`; digests: `prompts/digest.yaml`) and the prompt templates in `prompts/`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@lru_cache(maxsize=8)
def _labels(file: str) -> dict[str, dict]:
    return yaml.safe_load((PROMPTS_DIR / file).read_text(encoding="utf-8"))


def labels(language: str, file: str = "labels.yaml") -> dict:
    """The label set for a language from a labels file in `prompts/`, falling back to English for a language we
    do not serve."""
    table = _labels(file)
    return table.get(language, table["en"])


@lru_cache(maxsize=16)
def prompt(name: str) -> str:
    return (PROMPTS_DIR / name).read_text(encoding="utf-8")
