"""The `crm` command as a user runs it, in a subprocess with its own data folder."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from tests.generated import digest
from tests.pipeline import run_crm


def test_generate_writes_every_entity_outside_truth_and_is_reproducible(tmp_path: Path):
    first = run_crm(tmp_path / "a", "generate", "--customers", "300", "--months", "6", "--seed", "3")
    second = run_crm(tmp_path / "b", "generate", "--customers", "300", "--months", "6", "--seed", "3")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr

    landing = digest(tmp_path / "a" / "landing")
    assert landing == digest(tmp_path / "b" / "landing")
    entities = {name.split("/")[1] for name in landing}
    assert entities == {
        "orders", "order_lines", "customers", "products", "campaigns", "email_events", "leads", "tickets",
        "satisfaction_surveys",
    }  # fmt: skip
    assert (tmp_path / "a" / "ground_truth" / "summary.json").exists()


def test_generate_refuses_truth_inside_the_landing_folder(tmp_path: Path):
    completed = run_crm(tmp_path, "generate", "--customers", "50", "--out", str(tmp_path / "l"),
                        "--truth-out", str(tmp_path / "l" / "t"))  # fmt: skip
    assert completed.returncode != 0
    assert "must be outside the landing folder" in completed.stderr


@pytest.mark.e2e
def test_build_on_an_empty_data_folder_generates_a_demo_and_prints_where_to_look(tmp_path: Path):
    import duckdb

    data = tmp_path / "data"
    completed = run_crm(data, "build", "--demo-customers", "400", "--demo-months", "12")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    output = " ".join(completed.stdout.split())  # rich wraps long lines
    assert "generating a demo export set" in output
    # Progress: a line per finished step, the long ones included.
    assert "done raw/orders" in output and "done dbt build (staging, star schema, marts, tests)" in output
    assert "done serving/crm_duckdb" in output
    assert "Traceback" not in completed.stdout + completed.stderr

    # The concise summary: its numbers are the serving file's, revenue as every mart counts it.
    with duckdb.connect(str(data / "serving" / "crm.duckdb"), read_only=True) as serving:
        customers = serving.execute("select count(*) from marts.dim_customers").fetchone()[0]
        orders, revenue, monthly_revenue = serving.execute(
            "select count(*) filter (where is_revenue_generating), sum(net_revenue_usd),"
            " (select sum(revenue_usd) from marts.sales_monthly) from marts.fct_orders"
        ).fetchone()
        all_orders = serving.execute("select count(*) filter (where not is_refund) from marts.fct_orders").fetchone()[0]
    assert customers == 400
    assert revenue == monthly_revenue
    assert all_orders > orders  # cancelled and returned orders exist, and are not counted
    # ...and the demo's own: its orders read straight from the files it wrote, each order once.
    # Completed and pending orders are sales; a refund takes its amount off; cancelled and
    # returned orders count for nothing (docs/export_contracts.md).
    exported = pl.read_csv(sorted((data / "landing" / "sales" / "orders").glob("*.csv")), infer_schema=False)
    exported = exported.unique("order_id", keep="last").with_columns(pl.col("total_amount").cast(pl.Decimal(18, 2)))
    assert set(exported["status"]) <= {"completed", "pending", "cancelled", "returned", "refunded"}
    sales = exported.filter(pl.col("status").is_in(["completed", "pending"]))
    refunds = exported.filter(pl.col("status") == "refunded")
    assert orders == sales.height
    assert all_orders == exported.height - refunds.height
    assert revenue == Decimal(sales["total_amount"].sum()) - Decimal(refunds["total_amount"].abs().sum())
    assert f"Warehouse {customers:,} customers, {orders:,} revenue-generating orders, net revenue ${revenue:,.0f}" in (
        output
    )
    log_files = list((data / "logs").glob("build-*.log"))
    assert len(log_files) == 1 and f"Log {log_files[0]}" in output
    assert f"Serving {data / 'serving' / 'crm.duckdb'}" in output
    assert "crm dev" in output and "crm sql" in output and "crm customer" in output
    assert (data / "dagster" / "dagster.yaml").exists()
    data_docs = data / "docs" / "great_expectations" / "index.html"
    assert f"Data docs {data_docs}" in output and data_docs.exists()

    summary = run_crm(data, "sql", "select count(*) as n from marts.dim_customers")
    assert summary.returncode == 0 and "400" in summary.stdout
    rows_per_table = run_crm(data, "summary")
    assert rows_per_table.returncode == 0 and "marts.fct_orders" in rows_per_table.stdout


@pytest.mark.e2e
def test_build_without_orders_fails_and_says_where_to_put_them(tmp_path: Path):
    tickets = tmp_path / "data" / "landing" / "support" / "tickets"
    tickets.mkdir(parents=True)
    (tickets / "tickets.csv").write_text("ticket_id,created_at\nT1,2025-01-01\n")
    completed = run_crm(tmp_path / "data", "build")
    output = " ".join(completed.stdout.split())
    assert completed.returncode == 1
    assert "The run failed" in output
    assert "No orders loaded: the orders export is required." in output
    assert str(tmp_path / "data" / "landing" / "sales" / "orders") in output
    # What failed, what did not run because of it, and where to look; no stack trace.
    assert "- raw/orders:" in output
    assert "Not run because of it: dbt build" in output
    assert "the serving file, outbox and report included still hold the last successful run" in output
    assert f"Full log (Dagster and dbt output): {tmp_path / 'data' / 'logs'}" in output
    assert "http://127.0.0.1:3000/runs/" in output
    assert "Traceback" not in completed.stdout + completed.stderr


@pytest.mark.e2e
def test_a_systemic_break_blocks_and_says_which_rule_rows_files_and_data_docs(tmp_path: Path):
    orders = tmp_path / "data" / "landing" / "sales" / "orders"
    orders.mkdir(parents=True)
    rows = [f"O{n},C{n},2026-05-{n:02d}T10:00:00Z,completed,web,USD,10.00,0" for n in range(1, 5)]
    # The export's date format changed for most rows: systemic, not a few bad rows.
    rows += [f"O{n},C{n},05/{n:02d}/2026 10:00,completed,web,USD,10.00,0" for n in range(5, 11)]
    header = "order_id,customer_id,ordered_at,status,channel,currency,total_amount,discount_amount"
    (orders / "orders_2026-05.csv").write_text("\n".join([header, *rows]) + "\n")

    completed = run_crm(tmp_path / "data", "build")

    output = " ".join(completed.stdout.split())
    assert completed.returncode == 1, completed.stdout
    assert "raw/orders blocked by orders_severe_expectations" in output
    assert "at most 10% of the rows of canonical's latest load are quarantined" in output  # the rule
    assert "6 of 10 rows quarantined (60.0%, limit 10%)" in output  # how many
    assert "sales/orders/orders_2026-05.csv: 6 of 10 rows quarantined" in output  # which files
    assert "orders_2026-05.csv, line 6: ordered_at: cannot parse '05/05/2026 10:00' as timestamp" in output
    assert f"Data Docs: {tmp_path / 'data' / 'docs' / 'great_expectations'}" in output
    assert "Not run because of it: dbt build" in output
    assert "Traceback" not in completed.stdout + completed.stderr
