"""What the readers share: the text records they return, the scratch DuckDB some of them parse
with, and the small rules more than one of them applies (counting physical lines, reading a CSV
header, naming the line that cannot be decoded, writing a nested value as text)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import duckdb
import orjson
import polars as pl

from dagster_project.ingestion.landing_files import UnreadableFileError
from dagster_project.ingestion.source_config import EntityMapping

MALFORMED_SCHEMA = {"_source_line": pl.Int64, "_quarantine_reason": pl.String, "_raw_record": pl.String}


@dataclass(frozen=True)
class TextRows:
    """A file's records as strings, plus the records that could not even be split into fields."""

    frame: pl.DataFrame  # one String column per header, plus _source_line
    malformed: pl.DataFrame  # _source_line, _quarantine_reason, _raw_record
    # False only when the reader has seen that no value starts or ends with whitespace and no
    # value is an empty string, so validation can skip trimming every value.
    may_have_padding: bool = True


class CsvScratch:
    """A private in-memory DuckDB for parsing CSV files and listing the keys of JSON lines, reused
    across the files of one load."""

    def __init__(self) -> None:
        self.connection = duckdb.connect()

    def __enter__(self) -> CsvScratch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()


def undecodable_error(name: str, content: bytes, encoding: str, error: UnicodeDecodeError) -> UnreadableFileError:
    line = content[: error.start].count(b"\n") + 1
    return UnreadableFileError(
        f"{name}: line {line}: cannot be decoded as {encoding} (byte {error.start}: {error.reason}); "
        "set 'encoding' in the source config"
    )


def physical_line_count(content: bytes) -> int:
    return content.count(b"\n") + (0 if content.endswith(b"\n") else 1)


def csv_header(text_start: str, mapping: EntityMapping) -> list[str]:
    first_record = next(csv.reader(io.StringIO(text_start, newline=""), delimiter=mapping.delimiter,
                                   quotechar=mapping.quote), [])  # fmt: skip
    return [column.strip() for column in first_record]


def value_as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
