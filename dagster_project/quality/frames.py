"""Reading what the suites validate from the build DuckDB: a table's metrics and its current rows.

The *metrics* (severe suite) are one row of aggregates DuckDB computes over the whole table and
the latest load of each source system (from the file ledger and the quarantine), so the blocking
suite reads a handful of numbers whatever the size of the table.

The *current rows* (soft suite) are described below.

The current rows are the latest row per key, in the order dbt staging uses
(``deduplicate_latest``: most recently loaded, then the later file, then the later line), so the
checks judge exactly what the warehouse is built from. Only the columns some expectation reads
are read, plus the computed columns:

- ``<column>_is_known`` for each referential check: whether the value is a key of the parent's
  raw table (empty when the value is empty, so it is not judged), computed by DuckDB rather than
  by passing the parent's keys to Great Expectations as a value set;
- ``raw_duplicate_key_share``: the share of raw rows that repeat the key of another raw row
  (the same value on every row; the suite looks at its maximum).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

from dagster_project.contracts import contract_for
from dagster_project.quality.suites import (
    DUPLICATE_SHARE_COLUMN,
    REFERENCES,
    ROW_COUNT_METRIC,
    EntitySuites,
    Reference,
    empty_key_share_metric,
    empty_rows_metric,
    quarantined_rows_column,
    quarantined_share_metric,
)
from dagster_project.warehouse import fetch_value, quote_identifier

if TYPE_CHECKING:
    import pandas as pd

# The order of dbt's deduplicate_latest macro: keep it in step with dbt/macros/deduplicate_latest.sql.
LATEST_FIRST = "_loaded_at DESC NULLS LAST, _source_file DESC NULLS LAST, _source_line DESC NULLS LAST"


def raw_table_exists(connection: duckdb.DuckDBPyConnection, entity: str) -> bool:
    count = fetch_value(
        connection,
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = ?",
        [entity],
    )
    return bool(count)


def raw_row_count(connection: duckdb.DuckDBPyConnection, entity: str) -> int:
    """Rows in ``raw.<entity>``; 0 when the table does not exist (its export never ran)."""
    if not raw_table_exists(connection, entity):
        return 0
    return int(fetch_value(connection, f"SELECT count(*) FROM {contract_for(entity).raw_table}"))


def _ledger_exists(connection: duckdb.DuckDBPyConnection) -> bool:
    count = fetch_value(
        connection,
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = '_file_ledger'",
    )
    return bool(count)


@dataclass(frozen=True)
class LoadedFile:
    source_file: str
    rows_read: int
    rows_quarantined: int


@dataclass(frozen=True)
class LatestLoad:
    """What one source system's latest load of an entity brought: the files loaded at its load
    time, their rows, the rows quarantined and those among them without a key."""

    system: str
    loaded_at: datetime
    files: tuple[LoadedFile, ...]
    rows_without_key: int

    @property
    def rows_read(self) -> int:
        return sum(file.rows_read for file in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(file.rows_quarantined for file in self.files)

    @property
    def quarantined_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    @property
    def empty_key_share(self) -> float:
        return self.rows_without_key / self.rows_read if self.rows_read else 0.0


def latest_loads(connection: duckdb.DuckDBPyConnection, entity: str) -> list[LatestLoad]:
    """The latest load of ``entity`` from each source system that loaded files of it."""
    if not _ledger_exists(connection):
        return []
    contract = contract_for(entity)
    # A reason names every failed column ("order_id: required value is missing; ..."): a row
    # without a key has that reason for one of the key columns.
    missing_key = " OR ".join(f"quarantine.reason LIKE '%{name}: required value is missing%'" for name in contract.key)
    rows = connection.execute(
        f"""
        WITH latest AS (
            SELECT source_system, max(loaded_at) AS loaded_at
            FROM raw._file_ledger WHERE entity = $entity AND status = 'loaded'
            GROUP BY source_system
        ),
        files AS (
            SELECT ledger.source_system, ledger.loaded_at, ledger.source_file,
                   ledger.rows_read, ledger.rows_quarantined
            FROM raw._file_ledger AS ledger JOIN latest USING (source_system, loaded_at)
            WHERE ledger.entity = $entity AND ledger.status = 'loaded'
        ),
        without_key AS (
            SELECT files.source_system, count(*) AS rows_without_key
            FROM raw._quarantine AS quarantine
            JOIN files ON quarantine.source_file = files.source_file AND quarantine.quarantined_at = files.loaded_at
            WHERE quarantine.entity = $entity AND ({missing_key})
            GROUP BY files.source_system
        )
        SELECT files.source_system, files.loaded_at,
               list((files.source_file, files.rows_read, files.rows_quarantined) ORDER BY files.source_file),
               coalesce(any_value(without_key.rows_without_key), 0)
        FROM files LEFT JOIN without_key USING (source_system)
        GROUP BY files.source_system, files.loaded_at
        ORDER BY files.source_system
        """,
        {"entity": entity},
    ).fetchall()
    return [
        LatestLoad(
            system=system,
            loaded_at=loaded_at,
            files=tuple(LoadedFile(str(item[0]), int(item[1] or 0), int(item[2] or 0)) for item in files),
            rows_without_key=int(without_key),
        )
        for system, loaded_at, files, without_key in rows
    ]


@dataclass(frozen=True)
class QuarantinedExample:
    source_file: str
    source_line: int | None
    reason: str


def quarantine_examples(
    connection: duckdb.DuckDBPyConnection, entity: str, loads: list[LatestLoad], limit: int = 5
) -> list[QuarantinedExample]:
    """A few quarantined rows of the latest loads, the earliest lines first (for warnings)."""
    files = [(file.source_file, load.loaded_at) for load in loads for file in load.files if file.rows_quarantined]
    if not files:
        return []
    matches = " OR ".join("(source_file = ? AND quarantined_at = ?)" for _ in files)
    rows = connection.execute(
        f"SELECT source_file, source_line, reason FROM raw._quarantine WHERE entity = ? AND ({matches}) "
        "ORDER BY source_file, source_line LIMIT ?",
        [entity, *(value for pair in files for value in pair), limit],
    ).fetchall()
    return [QuarantinedExample(file, line, reason) for file, line, reason in rows]


def table_metrics(connection: duckdb.DuckDBPyConnection, entity: str, loads: list[LatestLoad]) -> pd.DataFrame:
    """The severe suite's one row: rows of the table, empty key and required values, and each
    source system's latest load (share of rows quarantined, share without a key)."""
    import pandas as pd

    contract = contract_for(entity)
    columns = list(dict.fromkeys([*contract.key, *contract.required_columns]))
    counts = ", ".join(f"count(*) FILTER (WHERE {quote_identifier(name)} IS NULL)" for name in columns)
    values = connection.execute(f"SELECT count(*), {counts} FROM {contract.raw_table}").fetchone()
    metrics: dict[str, float | int] = {ROW_COUNT_METRIC: int(values[0])}
    for name, empty in zip(columns, values[1:], strict=True):
        metrics[empty_rows_metric(name)] = int(empty)
    for load in loads:
        metrics[quarantined_share_metric(load.system)] = load.quarantined_share
        metrics[empty_key_share_metric(load.system)] = load.empty_key_share
    return pd.DataFrame([metrics])


def available_parents(connection: duckdb.DuckDBPyConnection, entity: str) -> frozenset[str]:
    """The referenced entities of ``entity`` whose raw table exists and has rows."""
    parents = {reference.parent for reference in REFERENCES.get(entity, ())}
    return frozenset(parent for parent in parents if raw_row_count(connection, parent) > 0)


def _flag_expression(reference: Reference) -> str:
    column = f"current_rows.{quote_identifier(reference.column)}"
    parent_key = quote_identifier(reference.parent_key)
    parent_table = contract_for(reference.parent).raw_table
    return (
        f"CASE WHEN {column} IS NULL THEN NULL "
        f"ELSE {column} IN (SELECT {parent_key} FROM {parent_table} WHERE {parent_key} IS NOT NULL) END "
        f"AS {quote_identifier(reference.flag_column)}"
    )


def current_rows_query(suites: EntitySuites) -> str:
    """SQL for the current rows of the entity, with the columns the suites read."""
    contract = contract_for(suites.entity)
    wanted = set(suites.columns)
    columns = [name for name in contract.column_names if name in wanted]
    partition = ", ".join(quote_identifier(name) for name in contract.key)
    inner_columns = ", ".join(
        quote_identifier(name)
        for name in dict.fromkeys([*columns, *(r.column for r in suites.references), *contract.key])
    )
    selected = [f"current_rows.{quote_identifier(name)}" for name in columns]
    selected += [_flag_expression(reference) for reference in suites.references]
    return (
        f"SELECT {', '.join(selected)} FROM ("
        f"SELECT {inner_columns} FROM {contract.raw_table} "
        f"QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY {LATEST_FIRST}) = 1"
        f") AS current_rows"
    )


def _with_nanosecond_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as ``datetime64[ns]`` where they fit.

    DuckDB hands over microsecond timestamps; GX compares those one Python object at a time
    (seconds per column on the email events) but nanosecond ones in a vectorised way. A column
    with a value outside the nanosecond range (before 1677 or after 2262: broken data) stays as
    it is, and is judged the slow way.
    """
    import pandas as pd

    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_datetime64_dtype(column.dtype) and not pd.api.types.is_datetime64_ns_dtype(column.dtype):
            low, high = column.min(), column.max()
            if pd.isna(low) or (pd.Timestamp.min <= low and high <= pd.Timestamp.max):
                frame[name] = column.astype("datetime64[ns]")
    return frame


@dataclass(frozen=True)
class CurrentRows:
    entity: str
    frame: pd.DataFrame  # current rows: the columns the suites read, plus the computed ones
    raw_rows: int

    @property
    def current_rows(self) -> int:
        return len(self.frame)

    @property
    def duplicate_key_share(self) -> float:
        """Share of raw rows that repeat another raw row's key (and that staging drops)."""
        return (self.raw_rows - self.current_rows) / self.raw_rows if self.raw_rows else 0.0


def read_current_rows(
    connection: duckdb.DuckDBPyConnection, suites: EntitySuites, loads: list[LatestLoad] = ()
) -> CurrentRows:
    """The current rows as a pandas frame (what the soft suite validates), with each source
    system's quarantined rows of its latest load as a constant column.

    Call only when the raw table exists. DuckDB converts to pandas directly (``.df()``), which is
    faster than going through polars for the string columns of large tables.
    """
    raw_rows = raw_row_count(connection, suites.entity)
    frame = _with_nanosecond_timestamps(connection.sql(current_rows_query(suites)).df())
    rows = CurrentRows(entity=suites.entity, frame=frame, raw_rows=raw_rows)
    if DUPLICATE_SHARE_COLUMN in suites.columns:
        frame[DUPLICATE_SHARE_COLUMN] = rows.duplicate_key_share
    quarantined = {load.system: load.rows_quarantined for load in loads}
    for system in suites.systems:
        frame[quarantined_rows_column(system)] = quarantined.get(system, 0)
    return rows
