"""CRM_ENGINE=spark: the whole Dagster run on local Spark, and the same marts as on DuckDB.

`crm build` runs as a user runs it, with CRM_ENGINE=spark and no Spark host: it starts a local
Spark server (Thrift for dbt, Spark Connect for the models), ingests into the lake, builds every
dbt model and test on Spark, trains and scores the models on marts read from Spark and writes the
scores back there, and publishes the serving file and the outbox.

The reference is dbt's DuckDB build of the same raw tables (the run's own DuckDB file, whose raw
schema the lake was written from, and whose ml.*_current scores Spark received), so the load
times and scores on both sides are the same rows. Every mart read straight from Spark must then
equal DuckDB's row for row, after ordering: money to the cent, floating-point numbers to 9
significant digits, timestamps as UTC. Only dbt's _processed_at (when a row was written) differs.
"""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from dagster_project.core.settings import load_settings
from dagster_project.spark import transfer
from dagster_project.spark.local_server import local_spark_server
from dagster_project.spark.transfer import spark_session
from dagster_project.synthetic import generate_exports
from tests.pipeline import query, query_frame, run_crm, run_dbt

pytestmark = pytest.mark.e2e

# Small: Spark's time goes to its ~330 dbt nodes (seconds each on local Spark), not to rows.
SPARK_EXPORT = {"customers": 400, "months": 13, "seed": 23, "end_date": date(2026, 6, 30)}
RUN_TIME_COLUMNS = {"_processed_at"}


def _comparable(frame: pl.DataFrame) -> list[tuple]:
    """Rows as sorted tuples of text: money (decimals) to the cent, floats to 9 significant
    digits, timestamps as UTC wall-clock text; the same rules on both sides."""

    def text(value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            return str(value.quantize(Decimal("0.01")))
        if isinstance(value, float):
            return "nan" if value != value else f"{value:.9g}"
        return str(value)

    columns = [name for name in frame.columns if name not in RUN_TIME_COLUMNS]
    return sorted(
        (tuple(text(value) for value in row) for row in frame.select(columns).iter_rows()),
        key=lambda row: tuple((value is None, value or "") for value in row),
    )


def _utc_wall_clock(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )


@pytest.fixture(scope="module")
def spark_run(tmp_path_factory: pytest.TempPathFactory):
    """`CRM_ENGINE=spark crm build` on a fresh export set; then, on a copy of the DuckDB file it
    left, dbt's DuckDB build; then Spark's marts, read with the run's catalog on a new local server."""
    root = tmp_path_factory.mktemp("spark_engine")
    data_dir = root / "spark_run"
    generate_exports(out_dir=data_dir / "landing", truth_dir=root / "ground_truth", **SPARK_EXPORT)
    built = run_crm(data_dir, "build", environment={"CRM_ENGINE": "spark"})
    assert built.returncode == 0, built.stdout + built.stderr
    settings = load_settings({"CRM_DATA_DIR": str(data_dir)})

    duckdb_dir = root / "duckdb_build"
    (duckdb_dir / "warehouse").mkdir(parents=True)
    shutil.copyfile(settings.warehouse_path, duckdb_dir / "warehouse" / "crm.duckdb")
    duckdb_settings = load_settings({"CRM_DATA_DIR": str(duckdb_dir)})
    duckdb_settings.ensure_directories()
    for step in (("seed",), ("build", "--full-refresh")):
        result = run_dbt(duckdb_settings, *step, name="duckdb_build")
        assert result.returncode == 0, result.stdout[-3000:]

    with local_spark_server(settings.spark_dir) as endpoints, spark_session(endpoints.connect_url) as session:
        names = sorted(row.tableName for row in session.sql("show tables in marts").collect())
        spark_marts = {name: _utc_wall_clock(pl.from_arrow(session.table(f"marts.{name}").toArrow())) for name in names}
        sliced = _round_trip_in_small_slices(session, settings.warehouse_path)
    return settings, duckdb_settings, spark_marts, built.stdout, sliced


def _round_trip_in_small_slices(session, warehouse_path) -> dict[str, pl.DataFrame]:
    """The paths a cluster takes, where this machine cannot read Spark's files: fct_orders from
    Spark in Arrow slices of 500 rows, and back to Spark in slices of 500 rows."""
    with pytest.MonkeyPatch.context() as patch, duckdb.connect() as scratch:
        patch.setattr(transfer, "ARROW_SLICE_ROWS", 500)
        scratch.execute("create schema marts; create schema crm_test")
        transfer._copy_in_arrow_slices(session, scratch, "marts.fct_orders")
        from_spark = scratch.sql("select * from marts.fct_orders").pl()
        scratch.execute("create table crm_test.orders_back as select * from marts.fct_orders")
        transfer.copy_to_spark(session, scratch, ["crm_test.orders_back"])
    back = _utc_wall_clock(pl.from_arrow(session.table("crm_test.orders_back").toArrow()))
    session.sql("drop database crm_test cascade")
    return {"from_spark": from_spark, "back_on_spark": back}


def test_the_dagster_run_on_spark_loads_builds_scores_and_publishes(spark_run):
    settings, _, spark_marts, output, _ = spark_run
    landed_orders = sum(
        pl.read_csv(path, infer_schema=False).height
        for path in (settings.landing_dir / "sales" / "orders").glob("*.csv")
    )
    loaded, quarantined = query(
        settings.warehouse_path,
        "select (select count(*) from raw.orders), (select count(*) from raw._quarantine where entity = 'orders')",
    )[0]
    assert loaded + quarantined == landed_orders
    # The lake holds exactly the rows loaded: Spark's raw tables are its files.
    assert (
        pl.scan_parquet(settings.lake_dir / "raw" / "orders" / "**" / "*.parquet").select(pl.len()).collect().item()
        == loaded
    )
    # The churn scores the model wrote reached Spark: customer_360 there carries every one of them.
    scored = query(
        settings.warehouse_path,
        "select count(*) from ml.churn_scores_current where churn_probability is not null "
        "and customer_id in (select customer_id from marts.dim_customers)",
    )[0][0]
    on_spark = spark_marts["customer_360"]
    assert on_spark.height - on_spark["churn_probability"].null_count() == scored > 0
    # The serving file and the outbox were published from the marts Spark built.
    served = query(settings.serving_path, "select count(*) from marts.customer_360")[0][0]
    assert served == spark_marts["customer_360"].height
    assert (settings.outbox_dir / "manifest.json").exists()
    assert "Serving" in output


def test_every_mart_on_spark_equals_the_duckdb_build_row_for_row(spark_run):
    _, duckdb_settings, spark_marts, _, _ = spark_run
    duckdb_marts = {
        name
        for (name,) in query(
            duckdb_settings.warehouse_path,
            "select table_name from information_schema.tables where table_schema = 'marts' and table_type = 'BASE TABLE'",
        )
    }
    assert set(spark_marts) == duckdb_marts
    assert len(duckdb_marts) >= 20
    differing = {}
    for name in sorted(duckdb_marts):
        on_duckdb = _comparable(query_frame(duckdb_settings.warehouse_path, f"select * from marts.{name}"))
        on_spark = _comparable(spark_marts[name])
        assert on_duckdb, f"marts.{name} is empty: the comparison would prove nothing"
        if on_duckdb != on_spark:
            only_duckdb = [row for row in on_duckdb if row not in set(on_spark)][:2]
            only_spark = [row for row in on_spark if row not in set(on_duckdb)][:2]
            differing[name] = (len(on_duckdb), len(on_spark), only_duckdb, only_spark)
    assert not differing, differing


def test_the_marts_the_run_copied_from_spark_are_spark_s(spark_run):
    """The DuckDB file the models, the serving file and BI tools read holds Spark's marts as built."""
    settings, _, spark_marts, _, _ = spark_run
    for name, on_spark in spark_marts.items():
        copied = query_frame(settings.warehouse_path, f"select * from marts.{name}")
        assert _comparable(copied) == _comparable(on_spark), name


def test_a_table_crosses_in_arrow_slices_unchanged(spark_run):
    """Where Spark's files are out of this machine's reach, tables cross in slices (here of 500
    rows, so fct_orders takes several): the same rows and types arrive both ways."""
    _, _, spark_marts, _, sliced = spark_run
    orders = spark_marts["fct_orders"]
    assert orders.height > 1_000
    assert sliced["from_spark"].schema == orders.schema
    assert _comparable(sliced["from_spark"]) == _comparable(orders)
    assert _comparable(sliced["back_on_spark"]) == _comparable(orders)
