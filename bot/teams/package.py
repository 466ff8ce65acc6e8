"""The Teams app package a tenant admin uploads: `manifest.json` (schema 1.20) and two icons, zipped.

The icons are drawn here with Pillow, so the package needs nothing but settings: five small circles around a
larger one (partners around a shared agenda), in white on the accent colour (192×192 colour icon) and in white on
transparent (32×32 outline icon, as Teams requires).
"""

from __future__ import annotations

import io
import json
import math
import uuid
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw

from advisor.settings import Settings

MANIFEST_VERSION = "1.20"
MANIFEST_SCHEMA = (f"https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/"
                   "MicrosoftTeams.schema.json")
ACCENT = "#1F4E79"
COLOR_ICON, OUTLINE_ICON = "color.png", "outline.png"
SCOPES = ["personal", "team", "groupChat"]

# Shown as suggestions in Teams' compose box; a click sends the title as a question.
COMMANDS = [
    ("What is Collective Impact?", "The model, its five conditions and how it differs from other partnerships."),
    ("Who coordinates the partners?", "The backbone organisation: what it does and who can play that role."),
    ("How do we measure progress?", "Shared measurement: indicators partners agree on and how they use them."),
]


class PackageError(ValueError):
    """Settings the package cannot be built without; the message says what to set."""


def _guid(value: str | None, name: str) -> str:
    try:
        return str(uuid.UUID(value or ""))
    except ValueError:
        raise PackageError(f"Set {name} to the GUID from the Entra app registration (see docs/teams.md).") from None


def build_manifest(settings: Settings) -> dict:
    bot_id = _guid(settings.teams_client_id, "ADVISOR_TEAMS_CLIENT_ID")
    app_id = _guid(settings.teams_app_id, "ADVISOR_TEAMS_APP_ID") if settings.teams_app_id else bot_id
    return {
        "$schema": MANIFEST_SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": settings.teams_app_version,
        "id": app_id,
        "developer": {"name": settings.teams_developer_name, "websiteUrl": settings.teams_website_url,
                      "privacyUrl": settings.teams_privacy_url, "termsOfUseUrl": settings.teams_terms_url},
        "name": {"short": settings.teams_app_name, "full": settings.teams_app_name},
        "description": {
            "short": "Grounded advice on Collective Impact for urban security and social cohesion.",
            "full": ("Ask about applying the Collective Impact model to urban security and social cohesion in "
                     "European cities: the five conditions, backbone organisations, shared measurement, case "
                     "studies and practical guidance. Every answer cites the passages it relies on; when the "
                     "knowledge base does not cover a question, the advisor says so and offers a consultant. "
                     "User ids are stored only as pseudonyms."),
        },
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": ACCENT,
        "bots": [{
            "botId": bot_id,
            "scopes": SCOPES,
            "supportsFiles": False,
            "isNotificationOnly": False,
            "commandLists": [{"scopes": SCOPES,
                              "commands": [{"title": t, "description": d} for t, d in COMMANDS]}],
        }],
        "validDomains": [],
    }


def _draw_icon(size: int, background: str | None) -> bytes:
    """Five circles around a centre one, in white, on `background` (or transparent)."""
    image = Image.new("RGBA", (size, size), background or (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    centre, ring, small, big = size / 2, size * 0.30, size * 0.09, size * 0.15
    draw.ellipse((centre - big, centre - big, centre + big, centre + big), fill="white")
    for k in range(5):
        angle = -math.pi / 2 + k * 2 * math.pi / 5
        x, y = centre + ring * math.cos(angle), centre + ring * math.sin(angle)
        draw.ellipse((x - small, y - small, x + small, y + small), fill="white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def build_package(settings: Settings, output: Path) -> Path:
    """Write the zip (manifest and icons at its root, as Teams expects) and return its path."""
    manifest = build_manifest(settings)
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        package.writestr(COLOR_ICON, _draw_icon(192, ACCENT))
        package.writestr(OUTLINE_ICON, _draw_icon(32, None))
    return output
