"""The Dagster code location: one connected lineage graph, loadable by `dagster definitions validate`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg

from dagster_project.core.contracts import ENTITIES
from dagster_project.definitions import FULL_RUN_JOB_NAME, defs


def test_every_asset_is_in_one_connected_graph():
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    materializable = set(graph.get_all_asset_keys())

    ingestion_keys = {dg.AssetKey(["raw", entity]) for entity in ENTITIES}
    assert ingestion_keys <= materializable
    for key in (
        ["marts", "dim_customers"],
        ["marts", "fct_orders"],
        ["marts", "fct_order_lines"],
        ["marts", "fct_interactions"],
        ["ml", "churn_scores"],
    ):
        assert dg.AssetKey(key) in materializable

    # No dangling upstream keys: dbt sources are exactly the ingestion assets.
    for key in materializable:
        assert graph.get(key).parent_keys <= materializable, key
    assert dg.AssetKey(["raw", "orders"]) in graph.get(dg.AssetKey(["staging", "stg_sales__orders"])).parent_keys
    assert graph.get(dg.AssetKey(["ml", "churn_scores"])).parent_keys >= {dg.AssetKey(["marts", "fct_orders"])}

    # dbt tests and the Great Expectations suites are asset checks on their tables.
    check_keys = {(key.asset_key, key.name) for key in graph.asset_check_keys}
    assert (dg.AssetKey(["marts", "fct_orders"]), "unique_fct_orders_order_id") in check_keys
    # Reconciliations across tables are checks too, on the table they vouch for.
    for model, test in (
        ("dim_customers", "assert_dim_customers_order_counts_match_fct_orders"),
        ("fct_orders", "assert_fct_orders_total_matches_staging"),
        ("sales_monthly", "assert_sales_marts_reconcile_with_fct_orders"),
        ("support_kpis_daily", "assert_support_backlog_matches_open_tickets"),
    ):
        assert (dg.AssetKey(["marts", model]), test) in check_keys
    for entity in ENTITIES:
        assert (dg.AssetKey(["raw", entity]), f"{entity}_severe_expectations") in check_keys
        assert (dg.AssetKey(["raw", entity]), f"{entity}_soft_expectations") in check_keys

    job = definitions.resolve_job_def(FULL_RUN_JOB_NAME)
    assert job is not None
    assert definitions.resolve_schedule_def("crm_nightly").job_name == FULL_RUN_JOB_NAME


def test_dagster_definitions_validate_passes(tmp_path: Path):
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-m",
            "dagster_project.definitions",
        ],
        capture_output=True,
        text=True,
        env={"PATH": str(Path(sys.executable).parent), "CRM_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)},
        timeout=300,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Validation successful" in completed.stdout + completed.stderr


def test_every_step_that_opens_the_build_file_is_in_the_writer_pool():
    """DuckDB takes one writer: ingestion, dbt, checks, models, serving and outbox all share the
    pool limited to 1. Only the run report, which reads the serving file, is outside it."""
    from dagster_project.assets.report import RUN_REPORT_ASSET_KEY
    from dagster_project.orchestration.resources import WAREHOUSE_WRITER_POOL

    job = defs().resolve_job_def(FULL_RUN_JOB_NAME)
    pools = {node.name: node.definition.pool for node in job.graph.node_dict.values()}
    report_step = RUN_REPORT_ASSET_KEY.to_python_identifier()
    assert pools.pop(report_step) is None
    outside = sorted(name for name, pool in pools.items() if pool != WAREHOUSE_WRITER_POOL)
    assert outside == [], f"steps outside the {WAREHOUSE_WRITER_POOL} pool: {outside}"
    # Ingestion, its Great Expectations and freshness checks, two dbt builds, six models and their
    # checks, serving file and outbox.
    assert len(pools) > 30


def test_daemon_launched_runs_execute_their_steps_in_one_process():
    """The writer pool runs one step at a time: a process per step only adds its start-up (~20 s a
    step here). Schedules, the sensor and the UI's ad-hoc runs all use the in-process executor."""
    definitions = defs()
    for job_name in (FULL_RUN_JOB_NAME, "crm_weekly_training", "__ASSET_JOB"):
        assert definitions.resolve_job_def(job_name).executor_def.name == dg.in_process_executor.name, job_name
