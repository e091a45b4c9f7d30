"""Finding landing files and reading them as text.

Every column is read as a string: the contract casts them afterwards, so that a value that does
not parse is quarantined with its row instead of failing or being guessed from the first rows.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dagster_project.contracts import EntityContract

SUPPORTED_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")


class UnreadableFileError(Exception):
    """The file as a whole cannot be read; the message names the file and the cause."""


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative_path: str  # relative to the landing folder: what users see in errors and the ledger
    content: bytes  # decompressed bytes

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def format(self) -> str:
        name = self.path.name.lower().removesuffix(".gz")
        return "ndjson" if name.endswith((".jsonl", ".ndjson")) else name.rsplit(".", 1)[-1]


def entity_folder(landing_dir: Path, contract: EntityContract) -> Path:
    return landing_dir / contract.source / contract.entity


def discover_files(landing_dir: Path, contract: EntityContract) -> list[Path]:
    """Landing files of one entity, in name order (the order they were delivered in).

    Symlinks and anything resolving outside the landing folder are skipped: an export folder
    must not be a way to make the pipeline read other files on the machine.
    """
    folder = entity_folder(landing_dir, contract)
    if not folder.is_dir():
        return []
    landing_root = landing_dir.resolve()
    found = []
    for path in sorted(folder.iterdir()):
        name = path.name.lower().removesuffix(".gz")
        if not name.endswith(SUPPORTED_SUFFIXES) or name.startswith("."):
            continue
        if path.is_symlink() or not path.is_file():
            continue
        if not path.resolve().is_relative_to(landing_root):
            continue
        found.append(path)
    return found


def open_landing_file(path: Path, landing_dir: Path) -> LandingFile:
    relative_path = path.relative_to(landing_dir).as_posix()
    raw_bytes = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            raw_bytes = gzip.decompress(raw_bytes)
        except (OSError, EOFError) as error:
            raise UnreadableFileError(f"{relative_path}: not a valid gzip file ({error})") from error
    return LandingFile(path=path, relative_path=relative_path, content=raw_bytes)


@dataclass(frozen=True)
class TextRows:
    """A file's records as strings, plus the records that could not even be split into fields."""

    frame: pl.DataFrame  # one String column per header, plus _source_line
    malformed: pl.DataFrame  # _source_line, _quarantine_reason, _raw_record


MALFORMED_SCHEMA = {"_source_line": pl.Int64, "_quarantine_reason": pl.String, "_raw_record": pl.String}


def _read_csv(text: str, name: str) -> TextRows:
    # The csv module, not polars, because a stray quote makes polars swallow the following lines
    # silently; here every record keeps its physical line number and a ragged record is caught.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        raise UnreadableFileError(f"{name}: the file is empty") from None
    except csv.Error as error:
        raise UnreadableFileError(f"{name}: line 1: cannot be read as CSV ({error})") from error
    duplicated = sorted({column for column in header if header.count(column) > 1})
    if duplicated:
        raise UnreadableFileError(f"{name}: duplicate column name(s) {', '.join(duplicated)} in the header")

    records: list[list[str]] = []
    lines: list[int] = []
    malformed: list[tuple[int, str, str]] = []
    start_line = reader.line_num + 1
    try:
        for record in reader:
            if not record:  # a blank line is not a record
                start_line = reader.line_num + 1
                continue
            if len(record) == len(header):
                records.append(record)
                lines.append(start_line)
            else:
                malformed.append(
                    (
                        start_line,
                        f"line has {len(record)} fields, the header has {len(header)}",
                        json.dumps(record),
                    )
                )
            start_line = reader.line_num + 1
    except csv.Error as error:
        raise UnreadableFileError(f"{name}: line {reader.line_num}: cannot be read as CSV ({error})") from error

    columns = list(zip(*records, strict=True)) if records else [() for _ in header]
    frame = pl.DataFrame(
        {column: list(values) for column, values in zip(header, columns, strict=True)},
        schema=dict.fromkeys(header, pl.String),
    ).with_columns(pl.Series("_source_line", lines, dtype=pl.Int64))
    return TextRows(frame, pl.DataFrame(malformed, schema=MALFORMED_SCHEMA, orient="row"))


def read_as_text(landing_file: LandingFile) -> TextRows:
    """All columns as strings, plus ``_source_line``: the line (JSON lines, CSV) or row (Parquet)
    number in the file, counted from 1 with the CSV header as line 1."""
    name = landing_file.relative_path
    if not landing_file.content.strip():
        raise UnreadableFileError(f"{name}: the file is empty")
    try:
        if landing_file.format == "csv":
            return _read_csv(landing_file.content.decode("utf-8-sig"), name)
        if landing_file.format == "ndjson":
            frame = pl.read_ndjson(io.BytesIO(landing_file.content), infer_schema_length=None)
        elif landing_file.format == "parquet":
            frame = pl.read_parquet(io.BytesIO(landing_file.content))
        else:
            raise UnreadableFileError(f"{name}: unsupported file type")
    except UnicodeDecodeError as error:
        raise UnreadableFileError(f"{name}: cannot be decoded as UTF-8 (byte {error.start}: {error.reason})") from error
    except (pl.exceptions.PolarsError, OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UnreadableFileError(f"{name}: cannot be read as {landing_file.format} ({first_line})") from error

    frame = frame.rename({column: column.strip() for column in frame.columns})
    frame = frame.with_columns(pl.all().cast(pl.String)).with_row_index("_source_line", offset=1)
    frame = frame.with_columns(pl.col("_source_line").cast(pl.Int64))
    return TextRows(frame, pl.DataFrame(schema=MALFORMED_SCHEMA))
