"""Reading JSON lines: one object per line, every value as text.

DuckDB lists the keys and polars reads the file when every line is an object of flat values;
otherwise the lines are read one by one, so a broken line is quarantined with its number and
the others load.
"""

from __future__ import annotations

import io
import itertools
import json

import duckdb
import orjson
import polars as pl

from dagster_project.ingestion.landing_files import LandingFile, UnreadableFileError
from dagster_project.ingestion.reading.shared import (
    MALFORMED_SCHEMA,
    CsvScratch,
    TextRows,
    physical_line_count,
    undecodable_error,
    value_as_text,
)
from dagster_project.ingestion.source_config import EntityMapping


def read_json_lines(landing_file: LandingFile, mapping: EntityMapping, scratch: CsvScratch) -> TextRows:
    name = landing_file.relative_path
    try:
        text = landing_file.content.decode("utf-8-sig" if mapping.encoding == "utf-8" else mapping.encoding)
    except UnicodeDecodeError as error:
        raise undecodable_error(name, landing_file.content, mapping.encoding, error) from error

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
            and frame.height == physical_line_count(landing_file.content)
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
        records.append({str(key).strip(): value_as_text(item) for key, item in value.items()})
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
