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

Large facts are not copied whole every night. A table that an incremental dbt model writes with a
unique key and a ``_processed_at`` stamp (the email events, the interactions: tens of millions of
rows at a million customers) is updated in a copy of the file already served: the rows written
after the latest ``_processed_at`` the copy holds replace their keys, and rows the build no longer
has are removed. Every other table is copied whole. The copy is then renamed into place, as
before. The whole file is rewritten instead when there is no served file to start from, when it
has grown by more than a quarter since its last full write (deleted rows leave free blocks), or
per table when its columns or masking differ.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project import pii
from dagster_project.warehouse import quote_identifier

SERVING_STORAGE_VERSION = "v1.4.0"
SERVING_ALIAS = "serving_copy"
# ml tables that are not scores but that readers need to trust the scores.
ML_TABLES = ("model_runs", "feature_importance")
PROCESSED_AT = "_processed_at"
# Rewrite the whole file when in-place updates have grown it by more than this since the last
# full write: DuckDB reuses the blocks of deleted rows only partly.
MAX_GROWTH = 1.25


@dataclass(frozen=True)
class PublishedTable:
    schema: str
    name: str
    rows: int
    masked_columns: tuple[str, ...] = ()  # personal data replaced by keyed tokens (pii.py)
    rows_written: int | None = None  # None: copied whole; else rows replaced or added in place


def incremental_keys_from_manifest(manifest_path: Path) -> dict[tuple[str, str], str]:
    """(schema, table) -> unique key of every incremental dbt model that stamps its rows with
    _processed_at: the tables the serving file can update in place."""
    manifest = json.loads(Path(manifest_path).read_text())
    keys = {}
    for node in manifest["nodes"].values():
        config = node.get("config", {})
        if (
            node.get("resource_type") == "model"
            and config.get("materialized") == "incremental"
            and isinstance(config.get("unique_key"), str)
            and PROCESSED_AT in node.get("columns", {})
        ):
            keys[(node["schema"], node["alias"])] = config["unique_key"]
    return keys


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
    connection: duckdb.DuckDBPyConnection,
    serving_path: Path,
    masking: pii.PiiMasking | None = None,
    incremental_keys: Mapping[tuple[str, str], str] | None = None,
) -> list[PublishedTable]:
    """Copy the served relations from the build file ``connection`` into a new file and put it
    in place of ``serving_path`` atomically. Returns what was copied.

    ``masking``: replace the declared personal columns by keyed tokens while copying (pii.py).
    ``incremental_keys``: tables updated in place in a copy of the served file, with their key
    (incremental_keys_from_manifest); without it every table is copied whole."""
    serving_path = Path(serving_path)
    serving_path.parent.mkdir(parents=True, exist_ok=True)
    partial = serving_path.with_name(serving_path.name + ".partial")
    size_file = serving_path.with_name(serving_path.name + ".full-size")  # bytes after the last full write
    for leftover in (partial, partial.with_name(partial.name + ".wal")):
        leftover.unlink(missing_ok=True)  # a run killed while publishing left it

    tables = tables_to_serve(connection)
    if masking is not None:
        pii.check_declarations(connection, tables, masking)
        pii.set_key(connection, masking.key)
    incremental_keys = dict(incremental_keys or {})
    in_place = bool(incremental_keys) and _worth_updating(serving_path, size_file)
    if in_place:
        # Readers may hold the served file open: reading it is all a copy does.
        shutil.copyfile(serving_path, partial)
    published = []
    connection.execute(
        f"ATTACH {_literal(str(partial))} AS {SERVING_ALIAS} (STORAGE_VERSION '{SERVING_STORAGE_VERSION}', READ_WRITE)"
    )
    try:
        kept = _relations_in(connection, SERVING_ALIAS) if in_place else {}
        base_masking = _masked_columns(connection) if in_place else {}
        for schema in sorted({schema for schema, _ in tables} - {schema for schema, _ in kept}):
            connection.execute(f"CREATE SCHEMA {SERVING_ALIAS}.{quote_identifier(schema)}")
        for (schema, name), kind in kept.items():
            if (schema, name) not in tables or kind != "BASE TABLE" or (schema, name) not in incremental_keys:
                connection.execute(
                    f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {SERVING_ALIAS}.{_name(schema, name)}"
                )
        if kept:
            # The dropped tables' blocks are reused by the tables written next only once a
            # checkpoint has freed them; without it the file grows by their size every night.
            connection.execute(f"CHECKPOINT {SERVING_ALIAS}")
        for schema, name in tables:
            source = _name(schema, name)
            target = f"{SERVING_ALIAS}.{source}"
            select_list = pii.masked_select_list(masking, schema, name)
            key = incremental_keys.get((schema, name))
            written = None
            if key is not None and (schema, name) in kept and kept[(schema, name)] == "BASE TABLE":
                wanted = {
                    column: (kind, masking.key_id)
                    for column, kind in (masking.columns_of(schema, name) if masking else {}).items()
                }
                if base_masking.get((schema, name), {}) == wanted:
                    written = _update_in_place(connection, source, target, select_list, key)
                if written is None:
                    connection.execute(f"DROP TABLE {target}")
            if written is None:
                connection.execute(f"CREATE TABLE {target} AS SELECT {select_list} FROM {source}")
            masked = pii.comment_masked_columns(connection, target, masking, schema, name) if masking else []
            rows = connection.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
            published.append(PublishedTable(schema, name, int(rows), tuple(masked), written))
        connection.execute(f"CHECKPOINT {SERVING_ALIAS}")
    finally:
        connection.execute(f"DETACH {SERVING_ALIAS}")
        if masking is not None:
            pii.forget_key(connection)
    _fsync(partial)
    if not in_place:
        size_file.write_text(str(partial.stat().st_size))
    os.replace(partial, serving_path)
    _fsync(serving_path.parent)
    return published


def _worth_updating(serving_path: Path, size_file: Path) -> bool:
    """A served file to start from, not grown too much by earlier in-place updates."""
    if not serving_path.exists():
        return False
    try:
        full_size = int(size_file.read_text())
    except (OSError, ValueError):
        return False
    return serving_path.stat().st_size <= MAX_GROWTH * full_size


def _update_in_place(
    connection: duckdb.DuckDBPyConnection, source: str, target: str, select_list: str, key: str
) -> int | None:
    """Bring ``target`` (the served copy) up to ``source`` (the build) through the rows written
    since the copy's latest _processed_at. Returns the rows written, or None when the table has to
    be copied whole (its columns changed, or most of its rows did)."""
    if _column_types(connection, f"SELECT {select_list} FROM {source}") != _column_types(
        connection, f"SELECT * FROM {target}"
    ):
        return None
    stamp, key_sql = quote_identifier(PROCESSED_AT), quote_identifier(key)
    watermark = connection.execute(f"SELECT max({stamp}) FROM {target}").fetchall()[0][0]
    if watermark is None:
        return None
    changed, total, latest = connection.execute(
        f"SELECT count(*) FILTER (WHERE {stamp} > ?), count(*), max({stamp}) FROM {source}", [watermark]
    ).fetchall()[0]
    if changed > total / 2 or latest is None or latest < watermark:
        # rebuilt (a full refresh: writing it whole is cheaper), or older than what is served
        # (a warehouse restored from a backup): copied whole
        return None
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE serving_changed_rows AS SELECT {select_list} FROM {source} WHERE {stamp} > ?",
        [watermark],
    )
    try:
        connection.execute(f"DELETE FROM {target} WHERE {key_sql} IN (SELECT {key_sql} FROM serving_changed_rows)")
        connection.execute(f"INSERT INTO {target} BY NAME SELECT * FROM serving_changed_rows")
    finally:
        connection.execute("DROP TABLE IF EXISTS serving_changed_rows")
    # Rows the build deleted (an interaction no longer linked to a customer) are still here.
    served = connection.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
    if served != total:
        connection.execute(
            f"DELETE FROM {target} WHERE {key_sql} IN ("
            f"SELECT stale.{key_sql} FROM {target} AS stale ANTI JOIN {source} AS built "
            f"ON stale.{key_sql} = built.{key_sql})"
        )
    return int(changed)


def _column_types(connection: duckdb.DuckDBPyConnection, query: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in connection.execute(f"DESCRIBE {query}").fetchall()]


def _relations_in(connection: duckdb.DuckDBPyConnection, database: str) -> dict[tuple[str, str], str]:
    rows = connection.execute(
        "select table_schema, table_name, table_type from information_schema.tables where table_catalog = ?",
        [database],
    ).fetchall()
    return {(schema, name): kind for schema, name, kind in rows}


def _masked_columns(connection: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], dict[str, tuple[str, str]]]:
    """Masked columns of the served copy: (schema, table) -> column -> (kind, key id)."""
    found: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
    for column in pii.masked_columns_in(connection, SERVING_ALIAS):
        found.setdefault((column.schema, column.relation), {})[column.column] = (column.kind, column.key_id)
    return found


def _name(schema: str, name: str) -> str:
    return f"{quote_identifier(schema)}.{quote_identifier(name)}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _fsync(path: Path) -> None:
    # The rename must not reach the disk before the file's content does.
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
