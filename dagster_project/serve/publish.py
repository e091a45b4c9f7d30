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
rows at a million customers) is updated in place in an earlier file: the rows written after the
latest ``_processed_at`` that file holds replace their keys, and rows the build no longer has are
removed. Every other table is copied whole. The file is then renamed into place, as before. The
earlier file is the standby, ``crm.duckdb.standby``: the file served before the current one, kept
as a hard link when it is replaced. A reader that opened it while it was served may still hold it;
DuckDB's file lock tells, and then a copy of the served file is updated instead. The serving
folder therefore holds two files of about the same size. The whole file is rewritten instead when
there is no served file to start from, when it has grown by more than a quarter since its last
full write (deleted rows leave free blocks), or per table when its columns or masking differ.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.core.warehouse import quote_identifier
from dagster_project.serve import pii

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
    standby = serving_path.with_name(serving_path.name + ".standby")  # the file served before this one
    size_file = serving_path.with_name(serving_path.name + ".full-size")  # bytes after the last full write
    for leftover in (partial, partial.with_name(partial.name + ".wal")):
        leftover.unlink(missing_ok=True)  # a run killed while publishing left it

    tables = tables_to_serve(connection)
    if masking is not None:
        pii.check_declarations(connection, tables, masking)
        pii.set_key(connection, masking.key)
    incremental_keys = dict(incremental_keys or {})
    in_place = bool(incremental_keys) and _worth_updating(serving_path, size_file)
    if not (in_place and _attach_standby(connection, standby, partial, size_file)):
        if in_place:
            # Readers may hold the served file open: reading it is all a copy does.
            shutil.copyfile(serving_path, partial)
        _attach(connection, partial)
    try:
        kept = _relations_in(connection, SERVING_ALIAS) if in_place else {}
        base_masking = _masked_columns(connection) if in_place else {}
        _clear_the_way(connection, tables, kept, incremental_keys)
        published = [
            _publish_table(connection, schema, name, masking, incremental_keys, kept, base_masking)
            for schema, name in tables
        ]
        connection.execute(f"CHECKPOINT {SERVING_ALIAS}")
    finally:
        connection.execute(f"DETACH {SERVING_ALIAS}")
        if masking is not None:
            pii.forget_key(connection)
    _fsync(partial)
    if not in_place:
        size_file.write_text(str(partial.stat().st_size))
    _keep_as_standby(serving_path, standby)
    os.replace(partial, serving_path)
    _fsync(serving_path.parent)
    return published


def _clear_the_way(
    connection: duckdb.DuckDBPyConnection,
    tables: list[tuple[str, str]],
    kept: dict[tuple[str, str], str],
    incremental_keys: dict[tuple[str, str], str],
) -> None:
    """In the file being written: create the schemas it lacks, and drop what it holds that is not
    updated in place (no longer served, a view, or a table without an incremental key)."""
    for schema in sorted({schema for schema, _ in tables} - {schema for schema, _ in kept}):
        connection.execute(f"CREATE SCHEMA {SERVING_ALIAS}.{quote_identifier(schema)}")
    for (schema, name), kind in kept.items():
        if (schema, name) not in tables or kind != "BASE TABLE" or (schema, name) not in incremental_keys:
            connection.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {SERVING_ALIAS}.{_name(schema, name)}")
    if kept:
        # The dropped tables' blocks are reused by the tables written next only once a
        # checkpoint has freed them; without it the file grows by their size every night.
        connection.execute(f"CHECKPOINT {SERVING_ALIAS}")


def _publish_table(
    connection: duckdb.DuckDBPyConnection,
    schema: str,
    name: str,
    masking: pii.PiiMasking | None,
    incremental_keys: dict[tuple[str, str], str],
    kept: dict[tuple[str, str], str],
    base_masking: dict[tuple[str, str], dict[str, tuple[str, str]]],
) -> PublishedTable:
    """Write one served relation: updated in place when it has a key, the file already holds it
    as a table and its columns are masked as they will be; otherwise copied whole."""
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
    descriptions = _copy_descriptions(connection, schema, name, target)
    masked = pii.comment_masked_columns(connection, target, masking, schema, name, descriptions) if masking else []
    rows = connection.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
    return PublishedTable(schema, name, int(rows), tuple(masked), written)


def _attach(connection: duckdb.DuckDBPyConnection, path: Path) -> None:
    connection.execute(
        f"ATTACH {_literal(str(path))} AS {SERVING_ALIAS} (STORAGE_VERSION '{SERVING_STORAGE_VERSION}', READ_WRITE)"
    )


def _attach_standby(connection: duckdb.DuckDBPyConnection, standby: Path, partial: Path, size_file: Path) -> bool:
    """Start from the standby file, the one served before the current one, when no reader holds it:
    updating it in place saves copying the whole served file (7.5 GB, 9 s at a million customers).

    Readers open the served name only, so the standby can be held only by a reader that opened it
    while it was served and is still connected. DuckDB locks a file it opens (readers share the
    lock), so attaching it for writing fails while such a reader is there; then the served file
    is copied instead, and that reader keeps its rows."""
    if not (standby.exists() and _worth_updating(standby, size_file)):
        return False
    os.replace(standby, partial)
    try:
        _attach(connection, partial)
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        partial.unlink()  # the reader keeps its file: unlinking a name does not touch an open file
        return False
    return True


def _keep_as_standby(serving_path: Path, standby: Path) -> None:
    """Keep the file about to be replaced as the standby that the next publish updates in place."""
    standby.unlink(missing_ok=True)
    if serving_path.exists():
        # Without hard links on this file system there is no standby: the next publish copies.
        with contextlib.suppress(OSError):
            os.link(serving_path, standby)


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


def _copy_descriptions(connection: duckdb.DuckDBPyConnection, schema: str, name: str, target: str) -> dict[str, str]:
    """Carry the build table's description and column descriptions (dbt's persist_docs) over to
    the served copy, where BI tools read them. Returns the column descriptions."""
    table_comment = connection.execute(
        "select comment from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    if table_comment and table_comment[0][0]:
        connection.execute(f"COMMENT ON TABLE {target} IS {pii.sql_text(table_comment[0][0])}")
    columns = dict(
        connection.execute(
            "select column_name, comment from duckdb_columns() where database_name = current_database() "
            "and schema_name = ? and table_name = ? and comment is not null and comment <> ''",
            [schema, name],
        ).fetchall()
    )
    for column, comment in columns.items():
        connection.execute(f"COMMENT ON COLUMN {target}.{quote_identifier(column)} IS {pii.sql_text(comment)}")
    return columns


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
