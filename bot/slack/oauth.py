"""OAuth installs into many workspaces (a consultancy serving several cities): Bolt's install and redirect
pages, with installations and OAuth states kept in the state database, and the bot scopes read from the
repository's `manifest.yaml` so the app never asks for more or less than the manifest declares."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy.engine import Engine

from advisor.settings import PROJECT_DIR, Settings

MANIFEST = PROJECT_DIR / "manifest.yaml"
STATE_EXPIRY_S = 600


def bot_scopes(manifest: Path = MANIFEST) -> list[str]:
    return list(yaml.safe_load(manifest.read_text(encoding="utf-8"))["oauth_config"]["scopes"]["bot"])


def authorization_url(api_url: str) -> str:
    """Slack's authorize page beside its Web API (https://slack.com/api/ → https://slack.com/oauth/v2/authorize),
    so GovSlack and proxies need one setting, not two."""
    return re.sub(r"/api$", "", api_url.rstrip("/")) + "/oauth/v2/authorize"


def oauth_settings(settings: Settings, engine: Engine) -> OAuthSettings:
    installations = SQLAlchemyInstallationStore(client_id=settings.slack_client_id, engine=engine)
    installations.create_tables()
    states = SQLAlchemyOAuthStateStore(expiration_seconds=STATE_EXPIRY_S, engine=engine)
    states.create_tables()
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=bot_scopes(),
        installation_store=installations,
        state_store=states,
        authorization_url=authorization_url(settings.slack_api_url),
    )
