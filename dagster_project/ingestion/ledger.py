"""The raw schema's bookkeeping tables: the file ledger and the quarantine.

``raw._file_ledger`` has one row per landing file (per content, if a file was replaced): what
was read, loaded and quarantined, which earlier file a duplicate repeats, and why a file was
rejected. Seeing the same file again adds nothing.
``raw._quarantine`` keeps every row that failed its contract, with its raw text and reason.
``raw._file_signatures`` remembers each file's size and modification time with the content hash
they had, so a night does not read the whole history again to hash it (70 GB... at 1M customers,
10 GB of email events alone): a file whose size and modification time are unchanged is taken to
hold the content recorded for them, the rule rsync and make use.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

from dagster_project.core.contracts import DUCKDB_TYPES, EntityContract
from dagster_project.core.warehouse import fetch_value, quote_identifier

LEDGER_TABLE = "raw._file_ledger"
QUARANTINE_TABLE = "raw._quarantine"
SIGNATURE_TABLE = "raw._file_signatures"

METADATA_COLUMNS = (
    ("_extra_columns", "JSON"),
    ("_source_file", "VARCHAR"),
    ("_source_line", "BIGINT"),
    ("_loaded_at", "TIMESTAMP"),
)


def ensure_raw_schema(connection: duckdb.DuckDBPyConnection, contract: EntityContract) -> None:
    """Create the raw table of an entity (empty if it never had a file) and the bookkeeping tables.

    Optional exports that never arrive still get their table, so dbt builds on orders alone.
    """
    connection.execute("CREATE SCHEMA IF NOT EXISTS raw")
    columns = [f"{quote_identifier(column.name)} {DUCKDB_TYPES[column.type]}" for column in contract.columns] + [
        f"{name} {type_}" for name, type_ in METADATA_COLUMNS
    ]
    connection.execute(f"CREATE TABLE IF NOT EXISTS {contract.raw_table} ({', '.join(columns)})")
    # Warehouses created by an earlier version gain the columns added since.
    for name, type_ in METADATA_COLUMNS:
        connection.execute(f"ALTER TABLE {contract.raw_table} ADD COLUMN IF NOT EXISTS {name} {type_}")
    connection.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
            entity VARCHAR NOT NULL,
            source_system VARCHAR NOT NULL,
            source_file VARCHAR NOT NULL,
            content_hash VARCHAR NOT NULL,
            size_bytes BIGINT NOT NULL,
            rows_read BIGINT,
            rows_loaded BIGINT,
            rows_quarantined BIGINT,
            status VARCHAR NOT NULL,   -- loaded | duplicate | rejected | skipped
            error VARCHAR,
            extra_columns VARCHAR[],
            loaded_at TIMESTAMP NOT NULL
        )
        """
    )
    connection.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} (
            entity VARCHAR NOT NULL,
            source_file VARCHAR NOT NULL,
            source_line BIGINT,
            reason VARCHAR NOT NULL,
            raw_record VARCHAR,
            content_hash VARCHAR NOT NULL,
            quarantined_at TIMESTAMP NOT NULL
        )
        """
    )
    connection.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {SIGNATURE_TABLE} (
            entity VARCHAR NOT NULL,
            source_file VARCHAR NOT NULL,
            size_bytes BIGINT NOT NULL,      -- on disk (compressed, for .gz)
            modified_ns BIGINT NOT NULL,     -- st_mtime_ns
            content_hash VARCHAR NOT NULL
        )
        """
    )


def loaded_under(connection: duckdb.DuckDBPyConnection, entity: str, content_hash: str) -> str | None:
    """The file name under which this exact content was loaded, if it was."""
    return fetch_value(
        connection,
        f"SELECT min(source_file) FROM {LEDGER_TABLE} WHERE entity = ? AND content_hash = ? AND status = 'loaded'",
        [entity, content_hash],
    )


def is_recorded(connection: duckdb.DuckDBPyConnection, entity: str, source_file: str, content_hash: str) -> bool:
    """Whether this file, with this content, was already loaded or recorded as a duplicate."""
    return bool(
        fetch_value(
            connection,
            f"SELECT count(*) FROM {LEDGER_TABLE} WHERE entity = ? AND source_file = ? AND content_hash = ? "
            "AND status IN ('loaded', 'duplicate')",
            [entity, source_file, content_hash],
        )
    )


def next_load_time(connection: duckdb.DuckDBPyConnection, now: datetime) -> datetime:
    """The ``_loaded_at`` stamp of a new load: ``now``, or just after the latest load the ledger
    holds if the clock says otherwise.

    Incremental dbt models take the rows loaded after the latest ``_loaded_at`` they hold, so
    loads must be stamped in the order they commit. Loads run one at a time (the writer pool);
    this guards against a clock set back (NTP, a restored VM).
    """
    exists = fetch_value(
        connection,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = '_file_ledger'",
    )
    latest = fetch_value(connection, f"SELECT max(loaded_at) FROM {LEDGER_TABLE}") if exists else None
    if latest is not None and latest >= now:
        return latest + timedelta(microseconds=1)
    return now


def known_content_hash(
    connection: duckdb.DuckDBPyConnection, entity: str, source_file: str, size_bytes: int, modified_ns: int
) -> str | None:
    """The content hash recorded for this file when it had this size and modification time."""
    return fetch_value(
        connection,
        f"SELECT max(content_hash) FROM {SIGNATURE_TABLE} "
        "WHERE entity = ? AND source_file = ? AND size_bytes = ? AND modified_ns = ?",
        [entity, source_file, size_bytes, modified_ns],
    )


def remember_signature(
    connection: duckdb.DuckDBPyConnection,
    entity: str,
    source_file: str,
    size_bytes: int,
    modified_ns: int,
    content_hash: str,
) -> None:
    """Record that the file, at this size and modification time, held this content (one row per file)."""
    connection.execute(f"DELETE FROM {SIGNATURE_TABLE} WHERE entity = ? AND source_file = ?", [entity, source_file])
    connection.execute(
        f"INSERT INTO {SIGNATURE_TABLE} VALUES (?, ?, ?, ?, ?)",
        [entity, source_file, size_bytes, modified_ns, content_hash],
    )
