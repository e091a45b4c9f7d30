"""Writing export and ground-truth files safely.

Every file is written under a temporary name in its final folder and then renamed over the
target, so a reader (or a crash) never sees half a file and a re-run replaces the previous
run's files. Files this generator wrote in an earlier run but not in this one (a run with more
chunks, say) are removed at the end, because ingestion reads every file in the folder; files
with other names are left alone.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from dagster_project.core.contracts import CONTRACTS

TEMPORARY_SUFFIX = ".partial"


def temporary_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{TEMPORARY_SUFFIX}")


def replace_atomically(temporary: Path, path: Path) -> None:
    os.replace(temporary, path)


class ExportWriter:
    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.files: dict[str, list[Path]] = {entity: [] for entity in CONTRACTS}

    def folder(self, entity: str) -> Path:
        contract = CONTRACTS[entity]
        return self.out_dir / contract.source / entity

    def write(self, entity: str, frame: pl.DataFrame, number: int | None = None, name_stem: str | None = None) -> Path:
        contract = CONTRACTS[entity]
        if frame.columns != contract.column_names:
            raise ValueError(f"{entity}: columns {frame.columns} differ from the contract {contract.column_names}")
        extension = "jsonl" if contract.file_format == "jsonl" else "csv"
        stem = name_stem or (entity if number is None else f"{entity}_{number:04d}")
        name = f"{stem}.{extension}"
        folder = self.folder(entity)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        temporary = temporary_path(path)
        if extension == "jsonl":
            frame.write_ndjson(temporary)
        else:
            frame.write_csv(temporary)
        replace_atomically(temporary, path)
        self.files[entity].append(path)
        return path

    def write_day(self, entity: str, frame: pl.DataFrame, stamp: str) -> Path:
        """One day's delivery (next_day.py): ``<entity>_day_<YYYYMMDD>.<ext>``."""
        return self.write(entity, frame, name_stem=f"{entity}_day_{stamp}")

    def remove_stale_files(self) -> list[Path]:
        removed = []
        for entity in CONTRACTS:
            folder = self.folder(entity)
            if not folder.is_dir():
                continue
            # next days' files (next_day.py) continue the history this run replaces: stale too
            own = re.compile(
                rf"^\.?{re.escape(entity)}(_\d{{4,}}|_day_\d{{8}})?\.(csv|jsonl)({re.escape(TEMPORARY_SUFFIX)})?$"
            )
            keep = set(self.files[entity])
            for path in sorted(folder.iterdir()):
                if own.match(path.name) and path not in keep:
                    path.unlink()
                    removed.append(path)
        return removed


class CsvAppender:
    """A CSV written chunk by chunk (the customers truth), renamed into place when complete."""

    def __init__(self, path: Path):
        self.path = path
        self.temporary = temporary_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Kept open across chunks on purpose; close() or abandon() ends it.
        self.handle: BinaryIO | None = open(self.temporary, "wb")  # noqa: SIM115
        self.has_header = False

    def append(self, frame: pl.DataFrame) -> None:
        assert self.handle is not None
        frame.write_csv(self.handle, include_header=not self.has_header)
        self.has_header = True

    def close(self) -> Path:
        assert self.handle is not None
        self.handle.close()
        self.handle = None
        replace_atomically(self.temporary, self.path)
        return self.path

    def abandon(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
            self.temporary.unlink(missing_ok=True)


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    frame.write_csv(temporary)
    replace_atomically(temporary, path)
    return path


def write_json(document: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    replace_atomically(temporary, path)
    return path
