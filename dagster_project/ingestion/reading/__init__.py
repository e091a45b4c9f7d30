"""Reading a landing file as text records with their line numbers.

Every value is read as a string: the contract casts them afterwards, so that a value that does
not parse is quarantined with its row instead of failing the file or being guessed from the
first rows. Each record keeps the physical line it starts on, so errors can name it.

:func:`read_as_text` picks the reader by format. CSV goes through the first reader that can
vouch for every line:
1. UTF-8 files without carriage returns: numpy finds every record's end and field count on the
   bytes (a quote toggles "inside a value"), ragged records are set aside with their line
   numbers and polars parses the rest (:mod:`.csv_vectorised`);
2. otherwise DuckDB's parser, which reports ragged lines with their numbers; its result is
   accepted only when every physical line is accounted for (header + records + line breaks
   inside values + rejected lines) (:mod:`.csv_duckdb`);
3. otherwise (an unterminated quote, another encoding, anything the others cannot vouch for)
   Python's csv module, record by record (:mod:`.csv_strict`).

JSON lines are read by :mod:`.json_lines`, Parquet by :mod:`.parquet`.
"""

from __future__ import annotations

import contextlib

from dagster_project.ingestion.landing_files import LandingFile, UnreadableFileError
from dagster_project.ingestion.reading.csv_duckdb import read_csv_duckdb
from dagster_project.ingestion.reading.csv_strict import read_csv_strict
from dagster_project.ingestion.reading.csv_vectorised import read_csv_vectorised
from dagster_project.ingestion.reading.json_lines import read_json_lines
from dagster_project.ingestion.reading.parquet import read_parquet
from dagster_project.ingestion.reading.shared import CsvScratch, TextRows
from dagster_project.ingestion.source_config import EntityMapping

__all__ = ["CsvScratch", "TextRows", "read_as_text"]  # TextRows and CsvScratch live in .shared


def read_as_text(landing_file: LandingFile, mapping: EntityMapping, scratch: CsvScratch | None = None) -> TextRows:
    """All columns as strings, plus ``_source_line``: the physical line a record starts on
    (CSV counts the header as line 1; JSON lines count from 1), or the row number for Parquet."""
    name = landing_file.relative_path
    if not landing_file.content.strip():
        raise UnreadableFileError(f"{name}: the file is empty")
    if landing_file.format == "parquet":
        return read_parquet(landing_file)
    if landing_file.format == "csv" and (vectorised := read_csv_vectorised(landing_file, mapping)) is not None:
        return vectorised
    with contextlib.nullcontext(scratch) if scratch is not None else CsvScratch() as duckdb_scratch:
        if landing_file.format == "csv":
            return read_csv_duckdb(landing_file, mapping, duckdb_scratch) or read_csv_strict(landing_file, mapping)
        return read_json_lines(landing_file, mapping, duckdb_scratch)
