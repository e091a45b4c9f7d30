"""The second CSV reader tried: DuckDB's parser, which reports ragged lines with their numbers.

Its result is accepted only when every physical line is accounted for (header + records + line
breaks inside values + rejected lines); otherwise it returns None and the strict reader
(:mod:`.csv_strict`) takes the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from dagster_project.ingestion.landing_files import LandingFile
from dagster_project.ingestion.reading.shared import (
    MALFORMED_SCHEMA,
    CsvScratch,
    TextRows,
    csv_header,
    physical_line_count,
)
from dagster_project.ingestion.source_config import EntityMapping


def read_csv_duckdb(landing_file: LandingFile, mapping: EntityMapping, scratch: CsvScratch) -> TextRows | None:
    """DuckDB's CSV reader; None when its result cannot be trusted line for line."""
    if mapping.encoding != "utf-8" or landing_file.path.name.lower().endswith(".gz"):
        # DuckDB would need to decompress again; gzip exports are small enough for the strict reader.
        return None
    content = landing_file.content
    try:
        content.decode("utf-8")  # DuckDB would replace bad bytes silently; the strict reader names them
    except UnicodeDecodeError:
        return None
    header = csv_header(content[:65536].decode("utf-8-sig", errors="replace"), mapping)
    if not header or len(set(header)) != len(header) or any(not column for column in header):
        return None  # the strict reader gives the precise error
    parsed = _duckdb_csv(scratch.connection, landing_file.path, mapping)
    if parsed is None:
        return None
    frame, rejects = parsed
    if [column.strip() for column in frame.columns] != header:
        return None
    frame.columns = header
    accounted = _account_for_lines(frame, rejects, physical_line_count(content))
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
