"""Noticing new landing files: what the landing sensor compares between two ticks.

A file is new when its path is new or its size or modification time changed since the last
look, and ingestion has not handled it in that state already (a `crm build` run between two
ticks, or before the daemon's first tick, loads files the sensor's cursor has never seen:
ingestion records what it handled, per entity, in ``ingested_files/<entity>.json``). Loading
decides by content hash afterwards, so a touched but unchanged file costs one cheap skip, never
a double load.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dagster_project.core.contracts import ENTITIES
from dagster_project.ingestion.landing_files import discover_files
from dagster_project.ingestion.source_config import EntityMapping, SourceConfig, mappings_for


@dataclass(frozen=True)
class LandingChanges:
    state: dict[str, str]  # relative path -> "size:mtime_ns", for the next comparison
    new_files_by_entity: dict[str, list[str]]

    @property
    def entities(self) -> list[str]:
        return [entity for entity in ENTITIES if self.new_files_by_entity.get(entity)]

    def cursor(self) -> str:
        return json.dumps(self.state, sort_keys=True)


def _signature(path: Path) -> str:
    status = path.stat()
    return f"{status.st_size}:{status.st_mtime_ns}"


def landing_signatures(landing_dir: Path, sources: list[tuple[str, EntityMapping]]) -> dict[str, str]:
    """relative path -> "size:mtime_ns" of the files these mappings find now."""
    signatures: dict[str, str] = {}
    for _, mapping in sources:
        for path in discover_files(landing_dir, mapping).files:
            signatures.setdefault(path.relative_to(landing_dir).as_posix(), _signature(path))
    return signatures


def record_ingested_files(state_dir: Path, entity: str, signatures: dict[str, str]) -> None:
    """Remember the files (as found before loading) that an ingestion of ``entity`` handled.

    Taken before loading, so a file rewritten while it was loaded differs and is looked at again.
    Written to a temporary name and renamed: the sensor never reads half a file.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    target = state_dir / f"{entity}.json"
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(signatures, sort_keys=True))
    temporary.replace(target)


def ingested_files(state_dir: Path) -> dict[str, str]:
    """Every file any entity's last ingestion handled: relative path -> signature."""
    handled: dict[str, str] = {}
    for entity in ENTITIES:
        path = state_dir / f"{entity}.json"
        try:
            handled.update(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # never ingested, or unreadable: its files count as new (a run decides by hash)
    return handled


def detect_landing_changes(
    landing_dir: Path, configs: list[SourceConfig], cursor: str | None, ingested: dict[str, str] | None = None
) -> LandingChanges:
    """``ingested``: files ingestion already handled (:func:`ingested_files`); not new even when the
    cursor has not seen them."""
    previous: dict[str, str] = json.loads(cursor) if cursor else {}
    ingested = ingested or {}
    state: dict[str, str] = {}
    new_files: dict[str, list[str]] = {}
    if not landing_dir.is_dir():
        return LandingChanges(state, new_files)
    for entity in ENTITIES:
        for relative_path, signature in landing_signatures(landing_dir, mappings_for(configs, entity)).items():
            if relative_path in state:
                continue  # matched by an earlier entity's pattern as well
            state[relative_path] = signature
            if previous.get(relative_path) != signature and ingested.get(relative_path) != signature:
                new_files.setdefault(entity, []).append(relative_path)
    return LandingChanges(state, new_files)
