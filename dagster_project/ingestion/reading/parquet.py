"""Reading Parquet: every column as text, like every other format, numbered by row."""

from __future__ import annotations

import io

import polars as pl

from dagster_project.ingestion.landing_files import LandingFile, UnreadableFileError
from dagster_project.ingestion.reading.shared import MALFORMED_SCHEMA, TextRows, value_as_text


def read_parquet(landing_file: LandingFile) -> TextRows:
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
        return pl.Series(column.name, [value_as_text(value) for value in column.to_list()], dtype=pl.String)
    if column.dtype == pl.Binary:
        return pl.Series(column.name, [_utf8_or_none(value) for value in column.to_list()], dtype=pl.String)
    return column.cast(pl.String)


def _utf8_or_none(value: bytes | None) -> str | None:
    try:
        return value.decode("utf-8") if value is not None else None
    except UnicodeDecodeError:
        return None
