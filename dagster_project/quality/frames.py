"""Reading what the suites validate from the build DuckDB: one row of metrics per suite.

Great Expectations validates pandas frames; handing it a raw table (70 million email events at a
million customers) would take the memory of the table. So DuckDB computes, and GX gets one row:

- the *table metrics* (severe suite): rows of the table, empty keys and required values, and
  each source system's latest load from the file ledger and the quarantine (share quarantined,
  share without a key);
- the *load metrics* (soft suite): for every row rule of :class:`~.suites.RowCheck`, the share of
  the latest load's rows that break it (references joined against the parent's keys), the share
  whose key was delivered before, and the rows quarantined; plus a few example values of each
  rule that fails.

The latest load is each source system's most recent load of the entity: the rows the night
brought, not the whole history, so the work follows the size of a night's delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

from dagster_project.core.contracts import contract_for
from dagster_project.core.warehouse import fetch_value, quote_identifier
from dagster_project.quality.suites import (
    DUPLICATE_SHARE_COLUMN,
    REFERENCES,
    ROW_COUNT_METRIC,
    EntitySuites,
    RowCheck,
    empty_key_share_metric,
    empty_rows_metric,
    quarantined_rows_column,
    quarantined_share_metric,
)

if TYPE_CHECKING:
    import pandas as pd

EXAMPLES_PER_RULE = 5


def raw_table_exists(connection: duckdb.DuckDBPyConnection, table_name: str) -> bool:
    """Whether ``raw.<table_name>`` exists: an entity's table, or a bookkeeping one (``_file_ledger``)."""
    count = fetch_value(
        connection,
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = ?",
        [table_name],
    )
    return bool(count)


def raw_row_count(connection: duckdb.DuckDBPyConnection, entity: str) -> int:
    """Rows in ``raw.<entity>``; 0 when the table does not exist (its export never ran)."""
    if not raw_table_exists(connection, entity):
        return 0
    return int(fetch_value(connection, f"SELECT count(*) FROM {contract_for(entity).raw_table}"))


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
    if not raw_table_exists(connection, "_file_ledger"):
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
    """The severe suite's one row: rows of the table, empty key and required values among the
    latest load's rows, and each source system's latest load (share of rows quarantined, share
    without a key). Only the row count reads the whole table, and DuckDB keeps that in its
    metadata: the work follows the load, not the history."""
    import pandas as pd

    contract = contract_for(entity)
    rows = connection.execute(f"SELECT count(*) FROM {contract.raw_table}").fetchall()[0][0]
    columns = list(dict.fromkeys([*contract.key, *contract.required_columns]))
    counts = ", ".join(f"count(*) FILTER (WHERE {quote_identifier(name)} IS NULL)" for name in columns)
    latest, parameters = _latest_rows(contract.raw_table, loads)
    values = connection.execute(f"SELECT {counts} FROM ({latest}) AS latest_rows", parameters).fetchall()[0]
    metrics: dict[str, float | int] = {ROW_COUNT_METRIC: int(rows)}
    for name, empty in zip(columns, values, strict=True):
        metrics[empty_rows_metric(name)] = int(empty)
    for load in loads:
        metrics[quarantined_share_metric(load.system)] = load.quarantined_share
        metrics[empty_key_share_metric(load.system)] = load.empty_key_share
    return pd.DataFrame([metrics])


def available_parents(connection: duckdb.DuckDBPyConnection, entity: str) -> frozenset[str]:
    """The referenced entities of ``entity`` whose raw table exists and has rows."""
    parents = {reference.parent for reference in REFERENCES.get(entity, ())}
    return frozenset(parent for parent in parents if raw_row_count(connection, parent) > 0)


def _latest_rows(contract_table: str, loads: list[LatestLoad]) -> tuple[str, list]:
    """SQL for the rows of the latest loads (the whole table when no load is on record, e.g. a
    warehouse written by an earlier version), and its parameters."""
    files = [(file.source_file, load.loaded_at) for load in loads for file in load.files]
    if not files:
        return f"SELECT * FROM {contract_table}", []
    placeholders = ", ".join("(?, ?)" for _ in files)
    return (
        f"SELECT raw_rows.* FROM {contract_table} AS raw_rows "
        f"JOIN (VALUES {placeholders}) AS latest(source_file, loaded_at) "
        "ON raw_rows._source_file = latest.source_file AND raw_rows._loaded_at = latest.loaded_at",
        [value for pair in files for value in pair],
    )


def _judged_rows_query(suites: EntitySuites, loads: list[LatestLoad]) -> tuple[str, list]:
    """The latest load's rows with, for each reference, the parent key it names (NULL when unknown)."""
    contract = contract_for(suites.entity)
    latest, parameters = _latest_rows(contract.raw_table, loads)
    joins = []
    flags = []
    for number, reference in enumerate(suites.references):
        parent = contract_for(reference.parent)
        key = quote_identifier(reference.parent_key)
        alias = f"parent_{number}"
        joins.append(
            f"LEFT JOIN (SELECT DISTINCT {key} AS parent_key FROM {parent.raw_table} WHERE {key} IS NOT NULL) "
            f"AS {alias} ON latest_rows.{quote_identifier(reference.column)} = {alias}.parent_key"
        )
        flags.append(f"{alias}.parent_key AS {quote_identifier(reference.flag_column)}")
    selected = ", ".join(["latest_rows.*", *flags])
    return f"SELECT {selected} FROM ({latest}) AS latest_rows {' '.join(joins)}", parameters


def _key_expression(entity: str) -> str:
    key = contract_for(entity).key
    columns = ", ".join(quote_identifier(name) for name in key)
    return quote_identifier(key[0]) if len(key) == 1 else f"row({columns})"


@dataclass(frozen=True)
class LoadMetrics:
    frame: pd.DataFrame  # one row: each rule's share of rows breaking it, the redelivered share, quarantined rows
    rows_judged: int  # rows of the latest load in the table
    examples: dict[str, tuple]  # metric -> a few values of rows breaking it, for the rules that fail


def load_metrics(connection: duckdb.DuckDBPyConnection, suites: EntitySuites, loads: list[LatestLoad]) -> LoadMetrics:
    """The soft suite's one row, computed by DuckDB over the latest load (see the module docstring)."""
    import pandas as pd

    judged_rows, parameters = _judged_rows_query(suites, loads)
    counts = [
        f"count(*) FILTER (WHERE ({check.judged})), count(*) FILTER (WHERE ({check.judged}) AND ({check.unexpected}))"
        for check in suites.row_checks
    ]
    key = _key_expression(suites.entity)
    values = connection.execute(
        f"SELECT count(*), count(DISTINCT {key}) {''.join(', ' + count for count in counts)} "
        f"FROM ({judged_rows}) AS judged_rows",
        parameters,
    ).fetchall()[0]
    rows_judged, distinct_keys = int(values[0]), int(values[1])
    metrics: dict[str, float | int] = {}
    failing: list[RowCheck] = []
    for number, check in enumerate(suites.row_checks):
        judged, unexpected = int(values[2 + 2 * number]), int(values[3 + 2 * number])
        metrics[check.metric] = unexpected / judged if judged else 0.0
        if metrics[check.metric] > check.tolerance:
            failing.append(check)
    metrics[DUPLICATE_SHARE_COLUMN] = _redelivered_share(connection, suites.entity, loads, rows_judged, distinct_keys)
    quarantined = {load.system: load.rows_quarantined for load in loads}
    for system in suites.systems:
        metrics[quarantined_rows_column(system)] = quarantined.get(system, 0)
    examples = {
        check.metric: tuple(
            row[0]
            for row in connection.execute(
                f"SELECT DISTINCT {check.shown} FROM ({judged_rows}) AS judged_rows "
                f"WHERE ({check.judged}) AND ({check.unexpected}) LIMIT {EXAMPLES_PER_RULE}",
                parameters,
            ).fetchall()
        )
        for check in failing
    }
    return LoadMetrics(pd.DataFrame([metrics]), rows_judged, examples)


def _redelivered_share(
    connection: duckdb.DuckDBPyConnection, entity: str, loads: list[LatestLoad], rows: int, distinct_keys: int
) -> float:
    """Share of the latest load's rows whose key was delivered before: earlier in the same load,
    or in an earlier load. Earlier rows are matched against the load's keys (the small side), so
    the work follows the load, not the table."""
    if not rows:
        return 0.0
    repeated_in_load = rows - distinct_keys
    delivered_before = 0
    files = [(file.source_file, load.loaded_at) for load in loads for file in load.files]
    if files:
        contract = contract_for(entity)
        latest, parameters = _latest_rows(contract.raw_table, loads)
        key = _key_expression(entity)
        placeholders = ", ".join("(?, ?)" for _ in files)
        delivered_before = int(
            connection.execute(
                f"SELECT count(DISTINCT {key}) FROM {contract.raw_table} AS earlier "
                f"LEFT JOIN (VALUES {placeholders}) AS latest_files(source_file, loaded_at) "
                "ON earlier._source_file = latest_files.source_file AND earlier._loaded_at = latest_files.loaded_at "
                f"WHERE latest_files.source_file IS NULL AND {key} IN (SELECT {key} FROM ({latest}) AS latest_rows)",
                [*(value for pair in files for value in pair), *parameters],
            ).fetchall()[0][0]
        )
    return (repeated_in_load + delivered_before) / rows
