"""The landing sensor launches ingestion (and what depends on it) for new files only."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from dagster_project.definitions import defs
from dagster_project.ingestion.landing_watch import detect_landing_changes
from dagster_project.ingestion.source_config import active_source_configs
from dagster_project.orchestration.resources import WarehouseResource
from dagster_project.orchestration.sensors import LANDING_SENSOR_NAME

ORDERS = "order_id,customer_id,ordered_at\nO1,C1,2025-01-01\n"


def drop(landing: Path, relative: str, text: str) -> None:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_changes_are_new_paths_and_changed_files(tmp_path: Path):
    landing = tmp_path / "landing"
    configs = active_source_configs(tmp_path / "sources")
    drop(landing, "sales/orders/a.csv", ORDERS)
    drop(landing, "sales/orders/README.txt", "not an export")

    first = detect_landing_changes(landing, configs, None)
    assert first.entities == ["orders"] and first.new_files_by_entity["orders"] == ["sales/orders/a.csv"]
    assert detect_landing_changes(landing, configs, first.cursor()).entities == []

    drop(landing, "support/tickets/t.csv", "ticket_id,created_at\nT1,2025-01-01\n")
    (landing / "sales/orders/a.csv").write_text(ORDERS + "O2,C1,2025-01-02\n")
    os.utime(landing / "sales/orders/a.csv", ns=(1, 2))
    third = detect_landing_changes(landing, configs, first.cursor())
    assert third.entities == ["orders", "tickets"]


def test_sensor_requests_ingestion_and_downstream_of_new_entities_only(tmp_path: Path):
    drop(tmp_path / "landing", "sales/orders/a.csv", ORDERS)
    definitions = defs()
    sensor = definitions.resolve_sensor_def(LANDING_SENSOR_NAME)
    with dg.build_sensor_context(
        cursor=None,
        repository_def=definitions.get_repository_def(),
        resources={"warehouse": WarehouseResource(data_dir=str(tmp_path))},
    ) as context:
        result = sensor.evaluate_tick(context)
        assert len(result.run_requests) == 1
        selected = set(result.run_requests[0].asset_selection)
        assert dg.AssetKey(["raw", "orders"]) in selected
        assert dg.AssetKey(["marts", "fct_orders"]) in selected
        assert dg.AssetKey(["ml", "churn_scores"]) in selected
        assert dg.AssetKey(["raw", "tickets"]) not in selected
        cursor = result.cursor

    with dg.build_sensor_context(
        cursor=cursor,
        repository_def=definitions.get_repository_def(),
        resources={"warehouse": WarehouseResource(data_dir=str(tmp_path))},
    ) as context:
        again = sensor.evaluate_tick(context)
        assert again.run_requests == [] and "No new files" in again.skip_message


def test_files_a_build_already_ingested_launch_nothing(tmp_path: Path, monkeypatch):
    """`crm build` loads files the sensor's cursor never saw (e.g. before the daemon's first tick):
    they must not launch a second run. A file rewritten afterwards still does."""
    from dagster_project.assets.ingestion import ingestion_assets

    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path))
    landing = tmp_path / "landing"
    drop(landing, "sales/orders/a.csv", ORDERS)
    drop(landing, "support/tickets/t.csv", "ticket_id,created_at\nT1,2025-01-01\n")
    warehouse = WarehouseResource(data_dir=str(tmp_path))
    orders_asset = next(asset for asset in ingestion_assets if dg.AssetKey(["raw", "orders"]) in asset.keys)
    assert dg.materialize([orders_asset], resources={"warehouse": warehouse}).success

    definitions = defs()
    sensor = definitions.resolve_sensor_def(LANDING_SENSOR_NAME)

    def tick(cursor: str | None):
        with dg.build_sensor_context(
            cursor=cursor, repository_def=definitions.get_repository_def(), resources={"warehouse": warehouse}
        ) as context:
            return sensor.evaluate_tick(context)

    first = tick(None)  # the daemon's first tick: only the tickets were never ingested
    assert len(first.run_requests) == 1
    selected = set(first.run_requests[0].asset_selection)
    assert dg.AssetKey(["raw", "tickets"]) in selected and dg.AssetKey(["raw", "orders"]) not in selected

    (landing / "sales/orders/a.csv").write_text(ORDERS + "O2,C1,2025-01-02\n")  # a corrected re-export
    again = tick(first.cursor)
    assert len(again.run_requests) == 1
    assert dg.AssetKey(["raw", "orders"]) in set(again.run_requests[0].asset_selection)
