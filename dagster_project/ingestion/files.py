"""Finding landing files and reading them as text records with their line numbers.

Every value is read as a string: the contract casts them afterwards, so that a value that does
not parse is quarantined with its row instead of failing the file or being guessed from the
first rows. Each record keeps the physical line it starts on, so errors can name it.

CSV goes through the first reader that can vouch for every line:
1. UTF-8 files without carriage returns: numpy finds every record's end and field count on the
   bytes (a quote toggles "inside a value"), ragged records are set aside with their line
   numbers and polars parses the rest;
2. otherwise DuckDB's parser, which reports ragged lines with their numbers; its result is
   accepted only when every physical line is accounted for (header + records + line breaks
   inside values + rejected lines);
3. otherwise (an unterminated quote, another encoding, anything the others cannot vouch for)
   Python's csv module, record by record.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import itertools
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import duckdb
import numpy as np
import orjson
import polars as pl

from dagster_project.ingestion.source_config import EntityMapping

SUPPORTED_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}

MALFORMED_SCHEMA = {"_source_line": pl.Int64, "_quarantine_reason": pl.String, "_raw_record": pl.String}


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


@dataclass(frozen=True)
class TextRows:
    """A file's records as strings, plus the records that could not even be split into fields."""

    frame: pl.DataFrame  # one String column per header, plus _source_line
    malformed: pl.DataFrame  # _source_line, _quarantine_reason, _raw_record
    # False only when the reader has seen that no value starts or ends with whitespace and no
    # value is an empty string, so validation can skip trimming every value.
    may_have_padding: bool = True


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


class CsvScratch:
    """A private in-memory DuckDB for parsing CSV files and listing the keys of JSON lines, reused
    across the files of one load."""

    def __init__(self) -> None:
        self.connection = duckdb.connect()

    def __enter__(self) -> CsvScratch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()


def read_as_text(landing_file: LandingFile, mapping: EntityMapping, scratch: CsvScratch | None = None) -> TextRows:
    """All columns as strings, plus ``_source_line``: the physical line a record starts on
    (CSV counts the header as line 1; JSON lines count from 1), or the row number for Parquet."""
    name = landing_file.relative_path
    if not landing_file.content.strip():
        raise UnreadableFileError(f"{name}: the file is empty")
    if landing_file.format == "parquet":
        return _read_parquet(landing_file)
    if landing_file.format == "csv" and (vectorised := _read_csv_vectorised(landing_file, mapping)) is not None:
        return vectorised
    with contextlib.nullcontext(scratch) if scratch is not None else CsvScratch() as duckdb_scratch:
        if landing_file.format == "csv":
            return _read_csv_fast(landing_file, mapping, duckdb_scratch) or _read_csv_strict(landing_file, mapping)
        return _read_json_lines(landing_file, mapping, duckdb_scratch)


def _undecodable(name: str, content: bytes, encoding: str, error: UnicodeDecodeError) -> UnreadableFileError:
    line = content[: error.start].count(b"\n") + 1
    return UnreadableFileError(
        f"{name}: line {line}: cannot be decoded as {encoding} (byte {error.start}: {error.reason}); "
        "set 'encoding' in the source config"
    )


# --- CSV ---------------------------------------------------------------------------------------


def _physical_line_count(content: bytes) -> int:
    return content.count(b"\n") + (0 if content.endswith(b"\n") else 1)


def _header(text_start: str, mapping: EntityMapping) -> list[str]:
    first_record = next(csv.reader(io.StringIO(text_start, newline=""), delimiter=mapping.delimiter,
                                   quotechar=mapping.quote), [])  # fmt: skip
    return [column.strip() for column in first_record]


# Whitespace that str.strip_chars() removes, as ASCII bytes (besides the line feed).
_ASCII_WHITESPACE = (b" ", b"\t", b"\r", b"\x0b", b"\x0c")


def _has_padding(content: bytes, delimiter: bytes) -> bool:
    """Whether any value of an ASCII, quote-free file may start or end with whitespace."""
    present = [space for space in _ASCII_WHITESPACE if space in content]
    if not present:
        return False
    if content[:1] in present or content[-1:] in present:
        return True
    return any(
        pattern in content
        for space in present
        for pattern in (delimiter + space, space + delimiter, b"\n" + space, space + b"\n")
    )


def _read_csv_vectorised(landing_file: LandingFile, mapping: EntityMapping) -> TextRows | None:
    """The fast path for UTF-8 files: records split on the bytes with numpy, parsed by polars.

    A quote character toggles "inside a value"; a delimiter or line break counts only outside
    one. That gives every record's field count and first physical line without parsing it, so
    ragged records are set aside as malformed with their line numbers and polars parses the
    rest. Returns None (another reader takes the file) when the file needs the slower readers'
    judgement: another encoding, carriage returns, an unterminated quote, a header that is not
    plain, or a polars result that does not match the record count.
    """
    decoded = _plain_utf8(landing_file.content, mapping)
    if decoded is None:
        return None
    content, is_ascii = decoded
    header = _header(content[:65536].decode("utf-8", errors="replace"), mapping)
    if not header or len(set(header)) != len(header) or any(not column for column in header):
        return None
    delimiter, quote = mapping.delimiter.encode(), mapping.quote.encode()
    if len(delimiter) != 1 or len(quote) != 1:
        return None
    has_quotes = quote in content
    line_count = _physical_line_count(content)

    if not has_quotes and content.count(delimiter) == line_count * (len(header) - 1):
        # The common, clean file: polars refuses a line with too many fields, so when it parses
        # the file and the delimiter total is exactly (fields - 1) per line, no line has too few.
        frame = _polars_records(content, mapping, header, has_quotes, line_count - 1)
        if frame is not None:
            source_lines = pl.int_range(2, frame.height + 2, dtype=pl.Int64, eager=True).alias("_source_line")
            return TextRows(
                frame.with_columns(source_lines),
                pl.DataFrame(schema=MALFORMED_SCHEMA),
                may_have_padding=not is_ascii or _has_padding(content, delimiter),
            )

    records = _records(content, delimiter[0], quote[0], has_quotes)
    if records is None:
        return None  # an unterminated quote: the strict reader names its line
    blank = records.ends == records.starts  # an empty line is not a record
    good = (records.fields == len(header)) & ~blank
    if not good[0]:
        return None
    ragged = np.flatnonzero(~good & ~blank)
    if has_quotes and ragged.size and records.span_lines(ragged):
        # A ragged record spanning lines is most likely a quote left open: the strict reader
        # quarantines only its first line and reads the lines it swallowed.
        return None
    malformed = records.ragged_frame(content, ragged, len(header))
    if not good.all():  # polars gets the good records only: the bytes between the others
        content = records.without(content, np.flatnonzero(~good))
    frame = _polars_records(content, mapping, header, has_quotes, int(good.sum()) - 1)
    if frame is None:
        return None
    source_lines = pl.Series("_source_line", records.start_lines[good][1:], dtype=pl.Int64)
    return TextRows(
        frame.with_columns(source_lines),
        malformed,
        may_have_padding=has_quotes or not is_ascii or _has_padding(content, delimiter),
    )


def _plain_utf8(content: bytes, mapping: EntityMapping) -> tuple[bytes, bool] | None:
    """The content without a BOM, and whether it is ASCII; None when it is not UTF-8 without
    carriage returns (another reader judges the encoding and the line ends)."""
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]  # a BOM is not part of the first column's name
    if mapping.encoding != "utf-8" or b"\r" in content:
        return None
    is_ascii = content.isascii()
    if not is_ascii:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return None  # the strict reader names the line that cannot be decoded
    return content, is_ascii


def _polars_records(
    content: bytes, mapping: EntityMapping, header: list[str], has_quotes: bool, expected: int
) -> pl.DataFrame | None:
    """Polars' parse of the records, named as the header; None unless it holds exactly the
    records expected under that header."""
    try:
        frame = pl.read_csv(
            content, separator=mapping.delimiter, quote_char=mapping.quote if has_quotes else None, infer_schema=False
        )
    except pl.exceptions.PolarsError:
        return None
    if frame.height != expected or [column.strip() for column in frame.columns] != header:
        return None
    frame.columns = header
    return frame


@dataclass(frozen=True)
class _Records:
    """Where every record of a CSV file starts and ends, found on the bytes."""

    newlines: np.ndarray  # byte offsets of every line break, inside values too
    starts: np.ndarray  # byte offset of each record's first byte
    ends: np.ndarray  # byte offset of the line break ending each record (the file's length for the last)
    fields: np.ndarray  # fields per record
    start_lines: np.ndarray  # the physical line each record starts on

    def span_lines(self, indexes: np.ndarray) -> bool:
        """Whether any of these records holds a line break."""
        inner_breaks = np.searchsorted(self.newlines, self.ends[indexes]) - np.searchsorted(
            self.newlines, self.starts[indexes]
        )
        return bool((inner_breaks > 0).any())

    def ragged_frame(self, content: bytes, ragged: np.ndarray, header_fields: int) -> pl.DataFrame:
        """The malformed records: their line, why, and their text."""
        return pl.DataFrame(
            [
                (
                    int(self.start_lines[index]),
                    f"line does not match the header (it has {int(self.fields[index])} fields, "
                    f"the header has {header_fields})",
                    json.dumps(content[self.starts[index] : self.ends[index]].decode("utf-8")),
                )
                for index in ragged
            ],
            schema=MALFORMED_SCHEMA,
            orient="row",
        )

    def without(self, content: bytes, dropped: np.ndarray) -> bytes:
        """The content with these records (and their line breaks) cut out."""
        kept_from = np.concatenate(([0], self.ends[dropped] + 1))
        kept_to = np.append(self.starts[dropped], len(content))
        return b"".join(content[start:end] for start, end in zip(kept_from, kept_to, strict=True))


def _records(content: bytes, delimiter: int, quote: int, has_quotes: bool) -> _Records | None:
    """Record boundaries and field counts; None when a quote is left open at the end of the file."""
    data = np.frombuffer(content, dtype=np.uint8)
    newlines = np.flatnonzero(data == ord("\n"))
    delimiters = np.flatnonzero(data == delimiter)
    if has_quotes:
        # Parity of the quotes before each byte: odd means inside a quoted value ("" keeps it).
        inside = np.bitwise_xor.accumulate((data == quote).view(np.uint8))
        if inside[-1]:
            return None
        record_ends = newlines[inside[newlines] == 0]
        delimiters = delimiters[inside[delimiters] == 0]
    else:
        record_ends = newlines
    if not content.endswith(b"\n"):
        record_ends = np.append(record_ends, len(data))
    record_starts = np.concatenate(([0], record_ends[:-1] + 1))
    fields = np.diff(np.searchsorted(delimiters, record_ends), prepend=0) + 1
    # A record's first physical line: one plus the line breaks (inside values too) before it.
    start_lines = np.searchsorted(newlines, record_starts) + 1 if has_quotes else np.arange(1, len(record_starts) + 1)
    return _Records(newlines, record_starts, record_ends, fields, start_lines)


def _read_csv_fast(landing_file: LandingFile, mapping: EntityMapping, scratch: CsvScratch) -> TextRows | None:
    """DuckDB's CSV reader; None when its result cannot be trusted line for line."""
    if mapping.encoding != "utf-8" or landing_file.path.name.lower().endswith(".gz"):
        # DuckDB would need to decompress again; gzip exports are small enough for the strict reader.
        return None
    content = landing_file.content
    try:
        content.decode("utf-8")  # DuckDB would replace bad bytes silently; the strict reader names them
    except UnicodeDecodeError:
        return None
    header = _header(content[:65536].decode("utf-8-sig", errors="replace"), mapping)
    if not header or len(set(header)) != len(header) or any(not column for column in header):
        return None  # the strict reader gives the precise error
    parsed = _duckdb_csv(scratch.connection, landing_file.path, mapping)
    if parsed is None:
        return None
    frame, rejects = parsed
    if [column.strip() for column in frame.columns] != header:
        return None
    frame.columns = header
    accounted = _account_for_lines(frame, rejects, _physical_line_count(content))
    if accounted is None:
        return None
    start_lines, is_rejected, rejected = accounted
    lines = start_lines[~is_rejected]
    reject_lines = {int(start_lines[index - 1]): value for index, value in rejected.items()}
    malformed = pl.DataFrame(
        [
            (line, f"line does not match the header ({_describe_reject(message, len(header))})", json.dumps(text))
            for line, (text, message) in sorted(reject_lines.items())
        ],
        schema=MALFORMED_SCHEMA,
        orient="row",
    )
    return TextRows(frame.with_columns(pl.Series("_source_line", lines, dtype=pl.Int64)), malformed)


def _duckdb_csv(
    connection: duckdb.DuckDBPyConnection, path: Path, mapping: EntityMapping
) -> tuple[pl.DataFrame, list[tuple]] | None:
    """(the records DuckDB read, the (record number, text, error) of those it rejected); None when
    DuckDB fails on the file."""
    try:
        connection.execute(
            """
            create or replace table records as
            select * from read_csv(
                $path, header = true, all_varchar = true, delim = $delimiter, quote = $quote, escape = $quote,
                strict_mode = true, store_rejects = true, null_padding = false, auto_detect = true,
                normalize_names = false, sample_size = 1
            )
            """,
            {"path": str(path), "delimiter": mapping.delimiter, "quote": mapping.quote},
        )
        frame = connection.sql("select * from records").pl()
        rejects = connection.execute("select line, csv_line, error_message from reject_errors order by line").fetchall()
        # The rejects tables accumulate across scans on one connection: start clean each file.
        connection.execute("drop table records; drop table if exists reject_errors; drop table if exists reject_scans")
    except duckdb.Error:
        return None
    return frame, rejects


def _account_for_lines(
    frame: pl.DataFrame, rejects: list[tuple], physical_lines: int
) -> tuple[np.ndarray, np.ndarray, dict[int, tuple[str, str]]] | None:
    """(each record's first line, which records were rejected, rejected record number -> (text,
    error)); None unless header, records and their inner line breaks make up every physical line."""
    if physical_lines == 1 + frame.height + len(rejects):
        # No record spans lines: no need to look for line breaks inside values.
        embedded = pl.Series(np.zeros(frame.height, dtype=np.int64))
    elif frame.height and frame.width:
        embedded = frame.select(pl.sum_horizontal(pl.all().str.count_matches("\n").fill_null(0))).to_series()
    else:
        embedded = pl.Series([], dtype=pl.Int64)
    # DuckDB numbers rejected records by record (the header is record 1), and may report one
    # record once per error: keep each once.
    rejected: dict[int, tuple[str, str]] = {}
    for record_number, csv_line, message in rejects:
        if "\n" in (csv_line or "") or "\r" in (csv_line or ""):
            return None  # a rejected record spanning lines: a quote left open, for the strict reader
        rejected.setdefault(int(record_number) - 1, (csv_line or "", message))
    record_count = frame.height + len(rejected)
    embedded_newlines = np.zeros(record_count, dtype=np.int64)
    is_rejected = np.zeros(record_count, dtype=bool)
    for index, (text, _) in rejected.items():
        if not 1 <= index <= record_count:
            return None
        is_rejected[index - 1] = True
        embedded_newlines[index - 1] = text.count("\n")
    embedded_newlines[~is_rejected] = embedded.to_numpy() if frame.height else []
    expected_lines = 1 + record_count + int(embedded_newlines.sum())
    if expected_lines != physical_lines:
        return None  # blank lines or records DuckDB skipped: read record by record instead

    # A record starts on the line after the header, the earlier records and their inner line breaks.
    start_lines = 2 + np.arange(record_count, dtype=np.int64) + np.cumsum(embedded_newlines) - embedded_newlines
    return start_lines, is_rejected, rejected


def _describe_reject(message: str, header_fields: int) -> str:
    found = message.rsplit("Found:", 1)[-1].strip() if "Found:" in message else "?"
    return f"it has {found} fields, the header has {header_fields}" if found.isdigit() else message.splitlines()[0]


def _read_csv_strict(landing_file: LandingFile, mapping: EntityMapping) -> TextRows:
    name = landing_file.relative_path
    try:
        text = landing_file.content.decode("utf-8-sig" if mapping.encoding == "utf-8" else mapping.encoding)
    except UnicodeDecodeError as error:
        raise _undecodable(name, landing_file.content, mapping.encoding, error) from error
    physical_lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(iter(physical_lines), delimiter=mapping.delimiter, quotechar=mapping.quote)
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        raise UnreadableFileError(f"{name}: the file is empty") from None
    except csv.Error as error:
        raise UnreadableFileError(f"{name}: line 1: cannot be read as CSV ({error})") from error
    duplicated = sorted({column for column in header if header.count(column) > 1})
    if duplicated:
        raise UnreadableFileError(f"{name}: duplicate column name(s) {', '.join(duplicated)} in the header")
    if any(not column for column in header):
        raise UnreadableFileError(f"{name}: line 1: the header has an empty column name")

    records: list[list[str]] = []
    lines: list[int] = []
    malformed: list[tuple[int, str, str]] = []
    next_line = reader.line_num  # index into physical_lines of the next record's first line
    while next_line is not None:
        next_line = _read_records_from(
            physical_lines, next_line, header, mapping, name, records, lines, malformed
        )  # fmt: skip
    columns = list(zip(*records, strict=True)) if records else [() for _ in header]
    frame = pl.DataFrame(
        {column: list(values) for column, values in zip(header, columns, strict=True)},
        schema=dict.fromkeys(header, pl.String),
    ).with_columns(pl.Series("_source_line", lines, dtype=pl.Int64))
    return TextRows(frame, pl.DataFrame(malformed, schema=MALFORMED_SCHEMA, orient="row"))


def _read_records_from(
    physical_lines: list[str],
    first: int,
    header: list[str],
    mapping: EntityMapping,
    name: str,
    records: list[list[str]],
    lines: list[int],
    malformed: list[tuple[int, str, str]],
) -> int | None:
    """Read records from physical line ``first`` (0-based) on, into the lists given.

    Returns where to start again, or None at the end of the file. A quote that is never closed
    makes a record swallow the lines after it; when that record then does not match the header
    (or runs to the end of the file with the quote still open), the line boundary is clear: only
    its first line is quarantined, and reading starts again on the next line, so the valid lines
    it swallowed still load.
    """
    reader = csv.reader(
        itertools.islice(physical_lines, first, None), delimiter=mapping.delimiter, quotechar=mapping.quote
    )
    consumed = 0
    try:
        for record in reader:
            start, span = first + consumed, reader.line_num - consumed
            consumed = reader.line_num
            if not record:  # a blank line is not a record
                continue
            runs_to_the_end = first + consumed == len(physical_lines)
            quote_left_open = runs_to_the_end and record[-1].endswith(("\n", "\r"))
            if span > 1 and (len(record) != len(header) or quote_left_open):
                malformed.append(
                    (
                        start + 1,
                        "line has a quote that is never closed: it would swallow the lines after it",
                        json.dumps(physical_lines[start].rstrip("\r\n")),
                    )
                )
                return start + 1
            if len(record) == len(header):
                records.append(record)
                lines.append(start + 1)
            else:
                malformed.append(
                    (
                        start + 1,
                        f"line does not match the header (it has {len(record)} fields, the header has {len(header)})",
                        json.dumps(record),
                    )
                )
    except csv.Error as error:
        raise UnreadableFileError(f"{name}: line {first + reader.line_num}: cannot be read as CSV ({error})") from error
    return None


# --- JSON lines and Parquet --------------------------------------------------------------------


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _read_json_lines(landing_file: LandingFile, mapping: EntityMapping, scratch: CsvScratch) -> TextRows:
    name = landing_file.relative_path
    try:
        text = landing_file.content.decode("utf-8-sig" if mapping.encoding == "utf-8" else mapping.encoding)
    except UnicodeDecodeError as error:
        raise _undecodable(name, landing_file.content, mapping.encoding, error) from error

    # Fast path, when every line is one JSON object: DuckDB lists the keys of all of them, and
    # polars reads every key as text. Declaring the columns saves polars inferring types over the
    # whole file (3.1 against 0.8 s for 1.8M lines; listing the keys takes 1.1 s), and a number
    # keeps its text ("2", not the "2.0" of a column inferred as float).
    utf8 = text.encode("utf-8")
    keys = _json_keys(utf8, scratch)
    if keys is not None:
        try:
            frame = pl.read_ndjson(io.BytesIO(utf8), schema=dict.fromkeys(keys, pl.String))
        except pl.exceptions.PolarsError:
            frame = None
        if (
            frame is not None
            and frame.height == _physical_line_count(landing_file.content)
            and not _has_nested_values(frame)
        ):
            frame = frame.rename({column: column.strip() for column in frame.columns})
            frame = frame.with_row_index("_source_line", offset=1).with_columns(pl.col("_source_line").cast(pl.Int64))
            return TextRows(frame, pl.DataFrame(schema=MALFORMED_SCHEMA))

    # Record by record: a broken line is quarantined with its number, the others load.
    records: list[dict[str, str | None]] = []
    lines: list[int] = []
    malformed: list[tuple[int, str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            malformed.append((number, f"line is not valid JSON ({error})", json.dumps(line)))
            continue
        if not isinstance(value, dict):
            malformed.append((number, "line is not a JSON object", json.dumps(line)))
            continue
        records.append({str(key).strip(): _as_text(item) for key, item in value.items()})
        lines.append(number)
    if not records and not malformed:
        raise UnreadableFileError(f"{name}: the file is empty")
    columns = sorted({key for record in records for key in record})
    frame = pl.DataFrame(
        {column: [record.get(column) for record in records] for column in columns},
        schema=dict.fromkeys(columns, pl.String),
    ).with_columns(pl.Series("_source_line", lines, dtype=pl.Int64))
    return TextRows(frame, pl.DataFrame(malformed, schema=MALFORMED_SCHEMA, orient="row"))


def _json_keys(utf8: bytes, scratch: CsvScratch) -> list[str] | None:
    """Every key of the file's objects: those of its first lines in their order, then the others
    by name. None when DuckDB cannot read every line as JSON (then the lines are read one by one,
    and a broken one is quarantined with its number)."""
    try:
        lines = scratch.connection.read_json(
            io.BytesIO(utf8), format="newline_delimited", records="false", columns={"json": "JSON"}
        )
        listed = lines.query("lines", "select distinct unnest(json_keys(json)) from lines").fetchall()
        found = {key for (key,) in listed}
    except duckdb.Error:
        return None
    first_lines = itertools.islice((line for line in io.BytesIO(utf8) if line.strip()), 100)
    ordered: dict[str, None] = {}
    for line in first_lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        if isinstance(value, dict):
            ordered.update(dict.fromkeys(key for key in value if key in found))
    return [*ordered, *sorted(found - ordered.keys())]


def _has_nested_values(frame: pl.DataFrame) -> bool:
    """Whether a value is an object or a list: polars writes those as JSON of its own layout, while
    the line-by-line reader writes compact JSON; such files keep going through that reader so a
    nested value always reads the same."""
    if not frame.width:
        return False
    starts_nested = [
        (pl.col(column).str.starts_with("{") | pl.col(column).str.starts_with("[")).any() for column in frame.columns
    ]
    return bool(frame.select(pl.any_horizontal(starts_nested)).item())


def _read_parquet(landing_file: LandingFile) -> TextRows:
    try:
        frame = pl.read_parquet(io.BytesIO(landing_file.content))
    except (pl.exceptions.PolarsError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UnreadableFileError(f"{landing_file.relative_path}: cannot be read as parquet ({first_line})") from error
    frame = frame.with_columns(_parquet_column_as_text(frame.get_column(name)) for name in frame.columns)
    frame = frame.rename({c: c.strip() for c in frame.columns})
    frame = frame.with_row_index("_source_line", offset=1).with_columns(pl.col("_source_line").cast(pl.Int64))
    return TextRows(frame, pl.DataFrame(schema=MALFORMED_SCHEMA))


def _parquet_column_as_text(column: pl.Series) -> pl.Series:
    """A Parquet column as text, like every other value: lists and structs as JSON (as in JSON
    lines), bytes as UTF-8 where they are UTF-8. A value that has no text form becomes empty and,
    if the contract needs it, fails that row's contract rather than the file."""
    if column.dtype.is_nested() or column.dtype == pl.Object:
        return pl.Series(column.name, [_as_text(value) for value in column.to_list()], dtype=pl.String)
    if column.dtype == pl.Binary:
        return pl.Series(column.name, [_utf8_or_none(value) for value in column.to_list()], dtype=pl.String)
    return column.cast(pl.String)


def _utf8_or_none(value: bytes | None) -> str | None:
    try:
        return value.decode("utf-8") if value is not None else None
    except UnicodeDecodeError:
        return None
