"""Publishing the serving DuckDB file: what analysts, BI tools and the customer lookup open.

Nobody but the pipeline opens the build file (``warehouse/crm.duckdb``): DuckDB lets one
process write a file, and a BI tool holding it open would make the nightly run fail, or the run
would make the BI tool fail. After each successful run the pipeline copies what readers need
into a new file and renames it over ``serving/crm.duckdb``:

- a reader that has the old file open keeps reading it (on POSIX the old file lives on until its
  last reader closes it), and never sees a half-written one: the rename is atomic;
- a fresh connection opens the new file;
- a run that fails never reaches this step, so the previous file stays served.

What is copied: every table and view of ``marts`` (as tables) and the current model scores
(``ml.<table>_current``) with the model runs; no raw, staging or quarantine data. The file is
written in DuckDB's 1.4 storage format (``STORAGE_VERSION``): BI drivers bundle older DuckDB
releases (Evidence's DuckDB source bundles 1.4.2, which refuses a 1.5 file), and 1.4 (the LTS
release), 1.5 and 2.x clients all read a 1.4 file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project import pii
from dagster_project.warehouse import quote_identifier

SERVING_STORAGE_VERSION = "v1.4.0"
SERVING_ALIAS = "serving_copy"
# ml tables that are not scores but that readers need to trust the scores.
ML_TABLES = ("model_runs", "feature_importance")


@dataclass(frozen=True)
class PublishedTable:
    schema: str
    name: str
    rows: int
    masked_columns: tuple[str, ...] = ()  # personal data replaced by keyed tokens (pii.py)


def tables_to_serve(connection: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(schema, name) of every relation the serving file holds, in a stable order."""
    rows = connection.execute(
        """
        select table_schema, table_name from information_schema.tables
        where table_catalog = current_database()
          and (
            table_schema = 'marts'
            or (table_schema = 'ml' and (ends_with(table_name, '_current') or table_name in ?))
          )
        order by table_schema, table_name
        """,
        [list(ML_TABLES)],
    ).fetchall()
    return [(schema, name) for schema, name in rows]


def publish_serving_file(
    connection: duckdb.DuckDBPyConnection, serving_path: Path, masking: pii.PiiMasking | None = None
) -> list[PublishedTable]:
    """Copy the served relations from the build file ``connection`` into a new file and put it
    in place of ``serving_path`` atomically. Returns what was copied.

    ``masking``: replace the declared personal columns by keyed tokens while copying (pii.py)."""
    serving_path = Path(serving_path)
    serving_path.parent.mkdir(parents=True, exist_ok=True)
    partial = serving_path.with_name(serving_path.name + ".partial")
    for leftover in (partial, partial.with_name(partial.name + ".wal")):
        leftover.unlink(missing_ok=True)  # a run killed while publishing left it

    tables = tables_to_serve(connection)
    if masking is not None:
        pii.check_declarations(connection, tables, masking)
        pii.set_key(connection, masking.key)
    published = []
    connection.execute(
        f"ATTACH {_literal(str(partial))} AS {SERVING_ALIAS} (STORAGE_VERSION '{SERVING_STORAGE_VERSION}', READ_WRITE)"
    )
    try:
        for schema in sorted({schema for schema, _ in tables}):
            connection.execute(f"CREATE SCHEMA {SERVING_ALIAS}.{quote_identifier(schema)}")
        for schema, name in tables:
            source = f"{quote_identifier(schema)}.{quote_identifier(name)}"
            target = f"{SERVING_ALIAS}.{source}"
            select_list = pii.masked_select_list(masking, schema, name)
            connection.execute(f"CREATE TABLE {target} AS SELECT {select_list} FROM {source}")
            masked = pii.comment_masked_columns(connection, target, masking, schema, name) if masking else []
            rows = connection.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
            published.append(PublishedTable(schema, name, int(rows), tuple(masked)))
        connection.execute(f"CHECKPOINT {SERVING_ALIAS}")
    finally:
        connection.execute(f"DETACH {SERVING_ALIAS}")
        if masking is not None:
            pii.forget_key(connection)
    _fsync(partial)
    os.replace(partial, serving_path)
    _fsync(serving_path.parent)
    return published


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _fsync(path: Path) -> None:
    # The rename must not reach the disk before the file's content does.
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
