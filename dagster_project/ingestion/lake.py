"""The raw tables as Parquet files that any engine can read: the dbt sources on Spark.

``<lake>/raw/<entity>/load_date=YYYY-MM-DD/<loaded_at>.parquet`` holds exactly the rows that
``raw.<entity>`` received in the load stamped ``<loaded_at>``: the same rows, columns and load
metadata, one file per load, partitioned by the day of the load (Hive-style, so Spark, Trino or
DuckDB read ``load_date`` as a column and can skip old days).

The files are written from the raw table after the load has committed, never during it, so the
lake can only lag the warehouse, never hold a row the warehouse rolled back. A load is written
to a hidden ``.partial`` file first and renamed when complete: a crash leaves a hidden file
that readers skip (Spark and Hive ignore names starting with ``.`` or ``_``) and the next export
writes again. Exporting twice writes nothing the second time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.core.contracts import EntityContract
from dagster_project.core.warehouse import fetch_value
from dagster_project.ingestion.ledger import LEDGER_TABLE

STAMP_FORMAT = "%Y%m%dT%H%M%S%f"  # a load's file name: its _loaded_at to the microsecond


@dataclass(frozen=True)
class LakeExport:
    entity: str
    files_written: int
    rows_written: int
    rows_in_lake: int  # every file of the entity: must equal the rows of raw.<entity>


def entity_lake_dir(lake_dir: Path, contract: EntityContract) -> Path:
    return lake_dir / "raw" / contract.entity


def load_file(lake_dir: Path, contract: EntityContract, loaded_at: datetime) -> Path:
    return (
        entity_lake_dir(lake_dir, contract) / f"load_date={loaded_at:%Y-%m-%d}" / f"{loaded_at:{STAMP_FORMAT}}.parquet"
    )


def export_new_loads(connection: duckdb.DuckDBPyConnection, contract: EntityContract, lake_dir: Path) -> LakeExport:
    """Write the loads of ``raw.<entity>`` that have no file in the lake yet (see the module docstring)."""
    written = {path.stem for path in entity_lake_dir(lake_dir, contract).glob("load_date=*/*.parquet")}
    # The ledger knows every load that brought rows, without scanning the raw table.
    loads = connection.execute(
        f"SELECT DISTINCT loaded_at FROM {LEDGER_TABLE} WHERE entity = ? AND status = 'loaded' AND rows_loaded > 0 "
        "ORDER BY loaded_at",
        [contract.entity],
    ).fetchall()
    files_written = rows_written = 0
    for (loaded_at,) in loads:
        if f"{loaded_at:{STAMP_FORMAT}}" in written:
            continue
        rows_written += _write_load(connection, contract, loaded_at, load_file(lake_dir, contract, loaded_at))
        files_written += 1
    return LakeExport(
        entity=contract.entity,
        files_written=files_written,
        rows_written=rows_written,
        rows_in_lake=rows_in_lake(connection, contract, lake_dir),
    )


def _write_load(
    connection: duckdb.DuckDBPyConnection, contract: EntityContract, loaded_at: datetime, target: Path
) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    rows = fetch_value(connection, f"SELECT count(*) FROM {contract.raw_table} WHERE _loaded_at = ?", [loaded_at])
    # COPY takes no parameters: the stamp is the warehouse's own value, written as a literal.
    connection.execute(
        f"COPY (SELECT * FROM {contract.raw_table} WHERE _loaded_at = TIMESTAMP '{loaded_at.isoformat(sep=' ')}') "
        f"TO {_sql_string(partial)} (FORMAT parquet, COMPRESSION zstd)"
    )
    os.replace(partial, target)
    return rows


def rows_in_lake(connection: duckdb.DuckDBPyConnection, contract: EntityContract, lake_dir: Path) -> int:
    """Rows in the entity's lake files (from the Parquet footers: no data is read)."""
    files = sorted(entity_lake_dir(lake_dir, contract).glob("load_date=*/*.parquet"))
    if not files:
        return 0
    listing = ", ".join(_sql_string(path) for path in files)
    return fetch_value(connection, f"SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata([{listing}])")


def _sql_string(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
