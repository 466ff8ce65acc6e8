"""Who the Teams agent is to Microsoft: the Agents SDK's authentication settings from `ADVISOR_TEAMS_*`, and the
`CloudAdapter` that verifies incoming tokens and signs outgoing calls to the Bot Connector with them.

Without credentials nothing can be verified, so they are required unless anonymous mode is asked for explicitly
(local development, the Agents Playground, tests). A partial set is always an error, never a reason to fall back.
"""

from __future__ import annotations

import logging

from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import AgentAuthConfiguration, TurnContext

from advisor.settings import Settings

log = logging.getLogger(__name__)

CREDENTIALS = {"ADVISOR_TEAMS_CLIENT_ID": "teams_client_id", "ADVISOR_TEAMS_CLIENT_SECRET": "teams_client_secret",
               "ADVISOR_TEAMS_TENANT_ID": "teams_tenant_id"}


class CredentialsMissing(RuntimeError):
    """The agent cannot verify Microsoft's tokens and anonymous mode was not asked for; the message says what to set."""


def auth_configuration(settings: Settings, allow_anonymous: bool) -> AgentAuthConfiguration:
    """The SDK's authentication settings. With credentials, tokens are always verified, even if anonymous mode was
    asked for."""
    missing = [name for name, field in CREDENTIALS.items() if not getattr(settings, field)]
    if not missing:
        return AgentAuthConfiguration(client_id=settings.teams_client_id, tenant_id=settings.teams_tenant_id,
                                      client_secret=settings.teams_client_secret.get_secret_value(),
                                      anonymous_allowed=False)
    if len(missing) < len(CREDENTIALS):
        raise CredentialsMissing(f"Set {', '.join(missing)} as well: the Teams credentials are incomplete.")
    if not allow_anonymous:
        raise CredentialsMissing(
            "Set ADVISOR_TEAMS_CLIENT_ID, ADVISOR_TEAMS_CLIENT_SECRET and ADVISOR_TEAMS_TENANT_ID (see docs/teams.md), "
            "or pass --allow-anonymous for local testing: requests are then not verified.")
    return AgentAuthConfiguration(anonymous_allowed=True)


async def _log_turn_error(_context: TurnContext, error: Exception) -> None:
    # Replaces the SDK's default, which sends the exception's text into the chat. Only the type is logged here:
    # the agent's own handlers log failures under a reference; this catches what happens outside them.
    log.error("Unhandled %s in a Teams turn", type(error).__name__)


def build_adapter(auth: AgentAuthConfiguration) -> tuple[CloudAdapter, MsalConnectionManager]:
    connections = MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": auth})
    adapter = CloudAdapter(connection_manager=connections)
    adapter.on_turn_error = _log_turn_error
    return adapter, connections
