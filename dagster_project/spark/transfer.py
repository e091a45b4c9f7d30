"""Tables between Spark and the local DuckDB file, as Arrow over Spark Connect.

With CRM_ENGINE=spark, dbt builds the marts on Spark. The Python side (the models, the serving
file, the outbox, the run report) works on this machine's DuckDB file as it does with
CRM_ENGINE=duckdb, so two hand-overs connect the engines:

- after each dbt build, the marts it built (and the analysis date) are copied from Spark into the
  DuckDB file: :func:`copy_from_spark`;
- after each model run, the score table dbt reads (``ml.<model>_current``) is written to Spark:
  :func:`copy_to_spark`. The models' run history and score history stay in the DuckDB file.

Spark's TIMESTAMP is an instant and reaches Arrow as UTC; the DuckDB side keeps UTC wall-clock
TIMESTAMPs, as dbt builds them there, so instants are converted both ways.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# What the Python side reads of dbt's output, besides the marts: models' "as of" day.
PYTHON_READS_SCHEMAS = ("marts",)
PYTHON_READS_RELATIONS = ("intermediate.int_analysis_date",)


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
            arriving = _with_timestamps_as(session.table(relation).toArrow(), timezone=None)
            connection.execute(f"create schema if not exists {relation.split('.')[0]}")
            connection.register("arriving_from_spark", arriving)
            connection.execute(f"create or replace table {relation} as select * from arriving_from_spark")
            connection.unregister("arriving_from_spark")
            rows[relation] = arriving.num_rows
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise
    return rows


def copy_to_spark(session: SparkSession, connection: duckdb.DuckDBPyConnection, relations: Sequence[str]) -> dict:
    """Replace each ``schema.table`` on Spark by the DuckDB file's (a Parquet table of Spark's
    catalog, created with the schema when missing). Returns rows per table."""
    from pyspark.sql.pandas.types import from_arrow_schema

    rows: dict[str, int] = {}
    for relation in relations:
        leaving = _with_timestamps_as(connection.sql(f"select * from {relation}").to_arrow_table(), timezone="UTC")
        session.sql(f"create database if not exists {relation.split('.')[0]}")
        # Spark cannot infer a schema from no rows: an empty score table is given Arrow's.
        frame = (
            session.createDataFrame(leaving)
            if leaving.num_rows
            else session.createDataFrame([], schema=from_arrow_schema(leaving.schema))
        )
        frame.write.mode("overwrite").format("parquet").saveAsTable(relation)
        rows[relation] = leaving.num_rows
    return rows
