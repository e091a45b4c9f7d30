"""The whole pipeline on exports that are not the generator's: orders alone, another system's
shape loaded through a source config, and corrected re-exports."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from dagster_project.ingestion.source_config import BUILT_IN_CONFIG_DIR
from dagster_project.runner import run_full_pipeline
from tests.pipeline import query

pytestmark = pytest.mark.e2e


def exported(landing: Path, folder: str) -> pl.DataFrame:
    return pl.concat([pl.read_csv(path, infer_schema=False) for path in sorted((landing / folder).glob("*.csv"))])


def warehouse_rows(settings, sql: str) -> list[tuple]:
    return query(settings.warehouse_path, sql)


def test_orders_alone_build_every_mart_and_model_and_corrections_replace_records(small_export, data_dir_settings):
    settings = data_dir_settings
    shutil.copytree(small_export / "landing" / "sales" / "orders", settings.landing_dir / "sales" / "orders")
    assert run_full_pipeline(settings).success

    orders = exported(settings.landing_dir, "sales/orders").unique("order_id", keep="last")
    customers = orders["customer_id"].n_unique()
    assert warehouse_rows(settings, "select count(*), count_if(is_derived_from_orders) from marts.dim_customers") == [
        (customers, customers)
    ]
    assert warehouse_rows(settings, "select count(*) from marts.fct_orders") == [(orders.height,)]
    assert warehouse_rows(settings, "select count(*) from marts.fct_order_lines") == [(0,)]
    assert warehouse_rows(settings, "select count(*) from ml.churn_scores") == [(customers,)]

    # A corrected re-export of one order and the same file delivered again under another name.
    corrected_id = orders["order_id"][0]
    first_file = sorted((settings.landing_dir / "sales" / "orders").glob("*.csv"))[0]
    correction = orders.filter(pl.col("order_id") == corrected_id).with_columns(
        pl.lit("12345.67").alias("total_amount")
    )
    correction.write_csv(settings.landing_dir / "sales" / "orders" / "zz_correction.csv")
    shutil.copy(first_file, settings.landing_dir / "sales" / "orders" / "zz_resent_copy.csv")
    assert run_full_pipeline(settings).success

    assert warehouse_rows(settings, "select count(*) from marts.fct_orders") == [(orders.height,)]
    assert warehouse_rows(
        settings, f"select cast(total_amount_usd as double) from marts.fct_orders where order_id = '{corrected_id}'"
    ) == [(pytest.approx(12345.67),)]
    ledger = dict(warehouse_rows(settings, "select source_file, status from raw._file_ledger"))
    assert ledger["sales/orders/zz_resent_copy.csv"] == "duplicate"
    assert ledger["sales/orders/zz_correction.csv"] == "loaded"


STATUS_TO_SALESFORCE = {"completed": "Activated", "pending": "Draft", "cancelled": "Cancelled", "returned": "Returned"}
SEGMENT_TO_SALESFORCE = {
    "small_business": "Customer - Direct",
    "enterprise": "Customer - Channel",
    "consumer": "Consumer",
}


def _german_time(column: str) -> pl.Expr:
    utc = pl.col(column).str.to_datetime("%Y-%m-%dT%H:%M:%S%#z", time_zone="UTC")
    return utc.dt.convert_time_zone("Europe/Berlin").dt.strftime("%d.%m.%Y %H:%M")


def _german_number(column: str) -> pl.Expr:
    return pl.col(column).str.replace(".", ",", literal=True)


def write_as_salesforce_reports(generated: Path, landing: Path) -> None:
    """The generator's sales exports, reshaped as a German-locale Salesforce org would export them."""
    target = landing / "salesforce"
    target.mkdir(parents=True)

    def write(frame: pl.DataFrame, name: str) -> None:
        (target / name).write_bytes(frame.write_csv(separator=";").encode("cp1252"))

    write(
        exported(generated, "sales/orders").select(
            pl.col("order_id").alias("Order Number"),
            pl.col("customer_id").alias("Account ID"),
            _german_time("ordered_at").alias("Order Start Date"),
            pl.col("status").replace(STATUS_TO_SALESFORCE).alias("Status"),
            _german_number("total_amount").alias("Order Amount"),
            pl.lit("EUR").alias("Order Currency"),
        ),
        "Orders 2026.csv",
    )
    write(
        exported(generated, "sales/order_lines").select(
            pl.col("order_id").alias("Order Number"),
            pl.col("line_number").alias("Line Item"),
            pl.col("product_id").alias("Product ID"),
            pl.col("quantity").alias("Quantity"),
            _german_number("unit_price").alias("Sales Price"),
        ),
        "Order Products 2026.csv",
    )
    write(
        exported(generated, "sales/customers").select(
            pl.col("customer_id").alias("Account ID"),
            pl.col("company_name").alias("Account Name"),
            pl.col("email").alias("Email"),
            pl.col("phone").alias("Phone"),
            pl.col("segment").replace(SEGMENT_TO_SALESFORCE).alias("Type"),
            pl.col("country").alias("Billing Country Code"),
            pl.col("city").alias("Billing City"),
            _german_time("created_at").alias("Created Date"),
        ),
        "Accounts 2026.csv",
    )


def test_another_systems_exports_load_with_a_config_file_alone(small_export, data_dir_settings):
    settings = data_dir_settings
    write_as_salesforce_reports(small_export / "landing", settings.landing_dir)
    settings.sources_dir.mkdir(parents=True)
    shutil.copy(BUILT_IN_CONFIG_DIR / "salesforce_style.yml", settings.sources_dir / "salesforce.yml")

    outcome = run_full_pipeline(settings)
    assert outcome.success, outcome.failure_messages

    orders = exported(small_export / "landing", "sales/orders").unique("order_id", keep="last")
    [(count, revenue)] = warehouse_rows(
        settings, "select count(*), cast(sum(total_amount_usd) as double) from marts.fct_orders"
    )
    assert count == orders.height
    assert revenue == pytest.approx(orders["total_amount"].cast(pl.Float64).sum(), abs=0.01)
    exported_customers = set(exported(small_export / "landing", "sales/customers")["customer_id"])
    in_mart = {row[0] for row in warehouse_rows(settings, "select customer_id from marts.dim_customers")}
    assert exported_customers <= in_mart
    assert warehouse_rows(settings, "select count(*) from raw._quarantine") == [(0,)]
    assert set(dict(warehouse_rows(settings, "select source_system, count(*) from raw._file_ledger group by 1"))) == {
        "salesforce"
    }
