"""Noticing new landing files: what the landing sensor compares between two ticks.

A file is new when its path is new or its size or modification time changed since the last
look. Loading decides by content hash afterwards, so a touched but unchanged file costs one
cheap skip, never a double load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dagster_project.contracts import ENTITIES
from dagster_project.ingestion.files import discover_files
from dagster_project.ingestion.source_config import SourceConfig, mappings_for


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


def detect_landing_changes(landing_dir: Path, configs: list[SourceConfig], cursor: str | None) -> LandingChanges:
    previous: dict[str, str] = json.loads(cursor) if cursor else {}
    state: dict[str, str] = {}
    new_files: dict[str, list[str]] = {}
    if not landing_dir.is_dir():
        return LandingChanges(state, new_files)
    for entity in ENTITIES:
        for _, mapping in mappings_for(configs, entity):
            for path in discover_files(landing_dir, mapping):
                relative_path = path.relative_to(landing_dir).as_posix()
                if relative_path in state:
                    continue
                state[relative_path] = _signature(path)
                if previous.get(relative_path) != state[relative_path]:
                    new_files.setdefault(entity, []).append(relative_path)
    return LandingChanges(state, new_files)
