"""The last CSV reader: Python's csv module, record by record.

It takes whatever the faster readers cannot vouch for (an unterminated quote, another encoding,
a header with duplicate or empty names, ...) and always gives an answer: the records and the lines
it quarantines with their reason, or an :class:`UnreadableFileError` naming the line and the cause.
"""

from __future__ import annotations

import csv
import io
import itertools
import json

import polars as pl

from dagster_project.ingestion.landing_files import LandingFile, UnreadableFileError
from dagster_project.ingestion.reading.shared import MALFORMED_SCHEMA, TextRows, undecodable_error
from dagster_project.ingestion.source_config import EntityMapping


def read_csv_strict(landing_file: LandingFile, mapping: EntityMapping) -> TextRows:
    name = landing_file.relative_path
    try:
        text = landing_file.content.decode("utf-8-sig" if mapping.encoding == "utf-8" else mapping.encoding)
    except UnicodeDecodeError as error:
        raise undecodable_error(name, landing_file.content, mapping.encoding, error) from error
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
