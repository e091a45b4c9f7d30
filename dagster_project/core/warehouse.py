"""Opening the build DuckDB file with the project's settings.

DuckDB allows one read-write process at a time, so every writer goes through
:func:`connect_warehouse` and every Dagster asset that writes is in the ``duckdb_writer`` pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from dagster_project.core.settings import Settings


@contextmanager
def connect_warehouse(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    settings.duckdb_temp_dir.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(settings.warehouse_path), read_only=read_only, config=settings.duckdb_config())
    try:
        yield connection
    finally:
        connection.close()


def quote_identifier(name: str) -> str:
    """Quote a column or table name for SQL: names from files are data, never code."""
    return '"' + name.replace('"', '""') + '"'


def fetch_value(connection: duckdb.DuckDBPyConnection, query: str, parameters: list | None = None):
    """The first column of the first row, or None.

    DuckDB 2.0 refuses new work on a connection whose last result was not read to the end, so
    read every result fully (``fetchall``) rather than ``fetchone``.
    """
    rows = connection.execute(query, parameters or []).fetchall()
    return rows[0][0] if rows else None
