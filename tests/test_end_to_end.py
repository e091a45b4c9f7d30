"""The whole pipeline through Dagster on a generated export set, in a temporary data folder."""

from __future__ import annotations

import shutil

import duckdb
import polars as pl
import pytest

from dagster_project.orchestration.summary import table_counts
from dagster_project.runner import run_full_pipeline

pytestmark = pytest.mark.e2e


def exported_frame(landing, source: str, entity: str) -> pl.DataFrame:
    files = sorted((landing / source / entity).glob("*.csv"))
    return pl.concat([pl.read_csv(path, infer_schema=False) for path in files])


@pytest.fixture
def built_warehouse(small_export, data_dir_settings):
    shutil.copytree(small_export / "landing", data_dir_settings.landing_dir)
    outcome = run_full_pipeline(data_dir_settings)
    assert outcome.success, outcome.failure_messages
    return data_dir_settings


def test_exports_reconcile_with_the_marts_and_every_customer_is_scored(built_warehouse):
    settings = built_warehouse
    orders = exported_frame(settings.landing_dir, "sales", "orders").unique("order_id", keep="last")
    exported_customers = set(exported_frame(settings.landing_dir, "sales", "customers")["customer_id"]) | set(
        orders["customer_id"]
    )
    exported_revenue = round(orders["total_amount"].cast(pl.Float64).sum(), 2)

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        order_count, revenue = connection.execute(
            "select count(*), cast(sum(total_amount_usd) as double) from marts.fct_orders"
        ).fetchall()[0]
        customers_in_mart = {
            row[0] for row in connection.execute("select customer_id from marts.dim_customers").fetchall()
        }
        ledger = connection.execute(
            "select sum(rows_read), sum(rows_loaded), sum(rows_quarantined) "
            "from raw._file_ledger where status = 'loaded'"
        ).fetchall()[0]
        scored = connection.execute(
            "select count(*), count(distinct customer_id), count(model_version), count(scored_at) from ml.churn_scores"
        ).fetchall()[0]
        customers = connection.execute("select count(*) from marts.dim_customers").fetchall()[0][0]
        runs = dict(connection.execute("select model_name, is_published from ml.model_runs").fetchall())
        clv = connection.execute(
            "select count(*), count(distinct customer_id), min(clv_next_365_days_usd), min(p_alive), max(p_alive) "
            "from ml.clv_scores_current"
        ).fetchall()[0]
        # The published durations are in days, whatever unit the model fits in: worked out here
        # from the orders' UTC days, up to the analysis date the scores are stamped with.
        clv_days_disagree = connection.execute(
            """
            with purchase_days as (
                select customer_id, count(distinct ordered_at::date) as days,
                    min(ordered_at::date) as first_day, max(ordered_at::date) as last_day
                from marts.fct_orders
                where is_revenue_generating
                group by customer_id
            )
            select count(*)
            from ml.clv_scores_current as scores
            join purchase_days using (customer_id)
            where scores.repeat_purchase_day_count != purchase_days.days - 1
                or scores.days_first_to_last_purchase != purchase_days.last_day - purchase_days.first_day
                or scores.days_since_first_purchase != scores.as_of_date - purchase_days.first_day
            """
        ).fetchall()[0][0]
        buyers = connection.execute(
            "select count(distinct customer_id) from marts.fct_orders where is_revenue_generating"
        ).fetchall()[0][0]

    assert order_count == orders.height
    assert round(revenue, 2) == exported_revenue
    assert exported_customers <= customers_in_mart
    assert ledger[0] == ledger[1] + ledger[2]
    assert scored == (customers, customers, customers, customers)
    # Both beat their baselines on the generated data (every model, on a longer history: test_end_to_end_models.py).
    assert runs["churn"] and runs["clv"]
    assert clv[0] == clv[1] == buyers and clv[2] >= 0 and 0 <= clv[3] <= clv[4] <= 1
    assert clv_days_disagree == 0
    assert (settings.models_dir / "churn").is_dir() and (settings.models_dir / "clv").is_dir()


def test_running_twice_gives_the_same_warehouse(built_warehouse):
    settings = built_warehouse
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        first = table_counts(connection)
    outcome = run_full_pipeline(settings)
    assert outcome.success, outcome.failure_messages
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        second = table_counts(connection)
        statuses = dict(connection.execute("select status, count(*) from raw._file_ledger group by 1").fetchall())
    assert first == second
    assert set(statuses) == {"loaded"}


def test_every_dbt_test_passes_on_clean_generated_data(built_warehouse):
    """Warnings included: on the generator's data (whose dirt never breaks the contract) a warning
    means a test and the contract disagree, e.g. a status the contract allows and a test does not."""
    import json

    runs = sorted((built_warehouse.dbt_target_dir / "runs").glob("*-crm_dbt_*"))
    assert len(runs) == 2  # the dbt build of the marts and that of the scored marts
    results = [
        result
        for run in runs
        for result in json.loads((run / "run_results.json").read_text())["results"]
        if result["unique_id"].startswith("test.")
    ]
    # Every data test the project declares ran once, in one of the two builds.
    manifest = json.loads((runs[0] / "manifest.json").read_text())
    declared = sorted(uid for uid, node in manifest["nodes"].items() if node["resource_type"] == "test")
    assert sorted(result["unique_id"] for result in results) == declared
    not_passed = {result["unique_id"]: result["status"] for result in results if result["status"] != "pass"}
    assert not_passed == {}
