"""Reading what the suites validate from the build DuckDB: the current rows of a raw table.

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
from typing import TYPE_CHECKING

import duckdb

from dagster_project.contracts import contract_for
from dagster_project.quality.suites import DUPLICATE_SHARE_COLUMN, REFERENCES, EntitySuites, Reference
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


def read_current_rows(connection: duckdb.DuckDBPyConnection, suites: EntitySuites) -> CurrentRows:
    """The current rows as a pandas frame (what Great Expectations validates).

    Call only when the raw table exists. DuckDB converts to pandas directly (``.df()``), which is
    faster than going through polars for the string columns of large tables.
    """
    raw_rows = raw_row_count(connection, suites.entity)
    frame = _with_nanosecond_timestamps(connection.sql(current_rows_query(suites)).df())
    rows = CurrentRows(entity=suites.entity, frame=frame, raw_rows=raw_rows)
    if DUPLICATE_SHARE_COLUMN in suites.columns:
        frame[DUPLICATE_SHARE_COLUMN] = rows.duplicate_key_share
    return rows
