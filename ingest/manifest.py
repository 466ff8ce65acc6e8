"""What is indexed, per knowledge file, kept beside the store so a no-change ingest needs neither the model nor
Chroma. It is a cache of the live collection, written after every ingest that changed the store (after the switch,
for a rebuild): when missing, built for another store, or of an older format, ingest reconciles the store with the
knowledge files and writes it again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from ingest.models import IndexedFacts
from ingest.translations import english_path


class IndexedDocument(IndexedFacts):
    file_hash: str
    summary: str = ""


# 2: written from the store itself (earlier manifests could disagree with it, so they are not trusted).
FORMAT = 2


class Manifest(BaseModel):
    location: str
    collection: str  # the configuration's collection name (see ingest/store.py)
    live: str = ""  # the collection it describes
    format: int = 1
    documents: dict[str, IndexedDocument] = Field(default_factory=dict)  # by path relative to the knowledge folder

    def matches(self, location: str, collection: str) -> bool:
        return self.format == FORMAT and self.location == location and self.collection == collection

    def originals(self) -> dict[str, IndexedDocument]:
        """The documents, without their translations (what an official is told the knowledge base holds)."""
        return {rel: doc for rel, doc in self.documents.items() if english_path(rel) == rel}


def manifest_path(store_dir: Path) -> Path:
    return store_dir / "manifest.json"


def read_manifest(store_dir: Path) -> Manifest | None:
    path = manifest_path(store_dir)
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError):
        return None


def write_manifest(store_dir: Path, manifest: Manifest) -> None:
    """Atomic replace, so a crash never leaves half a manifest."""
    store_dir.mkdir(parents=True, exist_ok=True)
    path = manifest_path(store_dir)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.model_dump(), indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
