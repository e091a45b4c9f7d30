"""Tables between Spark and the local DuckDB file, as Arrow over Spark Connect.

With CRM_ENGINE=spark, dbt builds the marts on Spark. The Python side (the models, the serving
file, the outbox, the run report) works on this machine's DuckDB file as it does with
CRM_ENGINE=duckdb, so two hand-overs connect the engines:

- after each dbt build, the marts it built (and the analysis date) are copied from Spark into the
  DuckDB file: :func:`copy_from_spark`;
- after each model run, the score table dbt reads (``ml.<model>_current``) is written to Spark:
  :func:`copy_to_spark`. The models' run history and score history stay in the DuckDB file.

A table never passes whole through Spark's driver (its results are capped at
spark.driver.maxResultSize, 1 GiB by default, and 100k customers' email events are more): when
the table's files are on a path this machine sees (the local server; a cluster whose warehouse
is on a shared mount), DuckDB reads its Parquet files directly; otherwise it comes over Spark
Connect in slices of at most ARROW_SLICE_ROWS rows. Scores go to Spark in slices as well.

Spark's TIMESTAMP is an instant and reaches Arrow as UTC; the DuckDB side keeps UTC wall-clock
TIMESTAMPs, as dbt builds them there, so instants are converted both ways.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# What the Python side reads of dbt's output, besides the marts: models' "as of" day.
PYTHON_READS_SCHEMAS = ("marts",)
PYTHON_READS_RELATIONS = ("intermediate.int_analysis_date",)
# Rows per Arrow message between Spark and this machine: ~100-300 MB of the widest marts.
ARROW_SLICE_ROWS = 1_000_000


def relations_read_by_python(asset_key_paths: Iterable[Sequence[str]]) -> list[str]:
    """Of the dbt assets given (``["marts", "customer_360"]``...), the relations the Python side reads."""
    names = {".".join(path) for path in asset_key_paths if len(path) == 2}
    return sorted(
        name for name in names if name.split(".")[0] in PYTHON_READS_SCHEMAS or name in PYTHON_READS_RELATIONS
    )


@contextmanager
def spark_session(connect_url: str) -> Iterator[SparkSession]:
    """A Spark Connect session (``sc://host:port``) for one step, released when the step is done:
    a session still open when its server stops makes the client retry at exit for minutes."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(connect_url).getOrCreate()
    try:
        yield session
    finally:
        session.stop()


def _with_timestamps_as(table: pa.Table, timezone: str | None) -> pa.Table:
    """Every timestamp column as UTC instants (``"UTC"``) or as UTC wall-clock times (``None``).
    Arrow stores both as microseconds since the epoch in UTC: only the type's zone changes."""
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz != timezone:
            timestamp_type = pa.timestamp(field.type.unit, tz=timezone)
            table = table.set_column(index, field.name, table.column(index).cast(timestamp_type))
    return table


def copy_from_spark(session: SparkSession, connection: duckdb.DuckDBPyConnection, relations: Sequence[str]) -> dict:
    """Replace each ``schema.table`` of the DuckDB file by Spark's, all in one transaction: a
    reader sees the previous build's tables or this one's, never a mix. Returns rows per table."""
    rows: dict[str, int] = {}
    connection.execute("begin transaction")
    try:
        for relation in relations:
            connection.execute(f"create schema if not exists {relation.split('.')[0]}")
            files = _parquet_files_seen_here(session, relation)
            if files is not None:
                _copy_parquet_files(connection, relation, files)
            else:
                _copy_in_arrow_slices(session, connection, relation)
            rows[relation] = connection.execute(f"select count(*) from {relation}").fetchone()[0]
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise
    return rows


def _parquet_files_seen_here(session: SparkSession, relation: str) -> str | None:
    """The glob of a Parquet table's data files when they are on a path of this machine, else None."""
    details = {row.col_name: row.data_type for row in session.sql(f"describe formatted {relation}").collect()}
    location = details.get("Location") or ""
    if (details.get("Provider") or "").lower() != "parquet" or not location.startswith(("file:", "/")):
        return None
    folder = Path(location.removeprefix("file:"))
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        return None
    return str(folder / "*.parquet")


def _copy_parquet_files(connection: duckdb.DuckDBPyConnection, relation: str, files: str) -> None:
    """Spark's files as they are, instants (TIMESTAMPTZ) as UTC wall-clock times; INT96, Spark's
    default timestamp encoding, already reads as one."""
    described = connection.execute("describe select * from read_parquet(?)", [files]).fetchall()
    columns = ", ".join(
        f'timezone(\'UTC\', "{name}") as "{name}"' if type_name.startswith("TIMESTAMP WITH TIME ZONE") else f'"{name}"'
        for name, type_name, *_ in described
    )
    connection.execute(f"create or replace table {relation} as select {columns} from read_parquet(?)", [files])


def _copy_in_arrow_slices(session: SparkSession, connection: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Over Spark Connect, one slice of rows (by a hash of the whole row) per message."""
    table = session.table(relation)
    slices = max(1, math.ceil(table.count() / ARROW_SLICE_ROWS))
    for number in range(slices):
        part = table if slices == 1 else table.where(f"pmod(xxhash64(*), {slices}) = {number}")
        arriving = _with_timestamps_as(part.toArrow(), timezone=None)
        connection.register("arriving_from_spark", arriving)
        if number == 0:
            connection.execute(f"create or replace table {relation} as select * from arriving_from_spark")
        else:
            connection.execute(f"insert into {relation} select * from arriving_from_spark")
        connection.unregister("arriving_from_spark")


def copy_to_spark(session: SparkSession, connection: duckdb.DuckDBPyConnection, relations: Sequence[str]) -> dict:
    """Replace each ``schema.table`` on Spark by the DuckDB file's (a Parquet table of Spark's
    catalog, created with the schema when missing). Returns rows per table."""
    from pyspark.sql.pandas.types import from_arrow_schema

    rows: dict[str, int] = {}
    for relation in relations:
        session.sql(f"create database if not exists {relation.split('.')[0]}")
        reader = connection.sql(f"select * from {relation}").to_arrow_reader(ARROW_SLICE_ROWS)
        rows[relation] = 0
        mode = "overwrite"
        for batch in reader:
            leaving = _with_timestamps_as(pa.Table.from_batches([batch]), timezone="UTC")
            session.createDataFrame(leaving).write.mode(mode).format("parquet").saveAsTable(relation)
            rows[relation] += leaving.num_rows
            mode = "append"
        if mode == "overwrite":  # no rows: Spark cannot infer a schema from none, so it is given Arrow's
            empty = session.createDataFrame([], schema=from_arrow_schema(reader.schema))
            empty.write.mode("overwrite").format("parquet").saveAsTable(relation)
    return rows
