"""Finding an entity's files in the landing folder and opening them.

What a source config's glob finds, which of those files are read and which are skipped (with the
reason the file ledger records), and each file opened as bytes (gzip decompressed) with the
format its name or its config gives. Reading those bytes as text records is :mod:`.reading`'s job.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from dagster_project.ingestion.source_config import EntityMapping

SUPPORTED_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class UnreadableFileError(Exception):
    """The file as a whole cannot be read; the message names the file and the cause."""


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative_path: str  # relative to the landing folder: what users see in errors and the ledger
    content: bytes  # decompressed bytes
    format: str  # csv | jsonl | parquet

    @cached_property
    def content_hash(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def format_from_name(path: Path) -> str | None:
    name = path.name.lower().removesuffix(".gz")
    return SUPPORTED_SUFFIXES.get(Path(name).suffix)


@dataclass(frozen=True)
class Discovery:
    """What a mapping's pattern finds: the files to read, in name order (the order they were
    delivered in), and the files it will not read, each with the reason."""

    files: list[Path]
    skipped: list[tuple[Path, str]]


def discover_files(landing_dir: Path, mapping: EntityMapping) -> Discovery:
    """The files matching the mapping's pattern.

    Symlinks and anything resolving outside the landing folder are skipped, with a reason the
    file ledger records: an export folder must not be a way to make the pipeline read other files
    on the machine. Hidden files (partial uploads, editor backups) are passed over silently.
    """
    landing_root = landing_dir.resolve()
    found: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for path in sorted(landing_dir.glob(mapping.files)):
        if path.name.startswith(".") or (path.is_dir() and not path.is_symlink()):
            continue
        relative = path.relative_to(landing_dir)
        if path.is_symlink():
            skipped.append((path, "a symbolic link: not followed (copy the file into the landing folder instead)"))
        elif any((landing_dir / folder).is_symlink() for folder in relative.parents if folder != Path(".")):
            skipped.append((path, "inside a symbolically linked folder: not followed (copy the files instead)"))
        elif not path.resolve().is_relative_to(landing_root):
            skipped.append((path, "resolves outside the landing folder: not read"))
        elif not path.is_file():
            skipped.append((path, "not a regular file"))
        elif mapping.format is None and format_from_name(path) is None:
            skipped.append(
                (path, f"not a supported format ({path.suffix or 'no suffix'}): export CSV, JSON lines or Parquet")
            )
        else:
            found.append(path)
    return Discovery(found, skipped)


def open_landing_file(path: Path, landing_dir: Path, mapping: EntityMapping) -> LandingFile:
    relative_path = path.relative_to(landing_dir).as_posix()
    raw_bytes = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            raw_bytes = gzip.decompress(raw_bytes)
        except (OSError, EOFError) as error:
            raise UnreadableFileError(f"{relative_path}: not a valid gzip file ({error})") from error
    file_format = mapping.format or format_from_name(path) or "csv"
    return LandingFile(path=path, relative_path=relative_path, content=raw_bytes, format=file_format)
