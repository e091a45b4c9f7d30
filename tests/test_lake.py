"""The raw Parquet lake: one file per load with exactly the rows the raw table received, written
once, never a trace of a half-written file."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.contracts import CONTRACTS
from dagster_project.ingestion import load_entity
from dagster_project.ingestion.lake import export_new_loads, load_file, rows_in_lake
from tests.generated import write_export

ORDERS = CONTRACTS["orders"]
FIRST_LOAD = datetime(2026, 12, 6, 2, 0, 0, 123456)
SECOND_LOAD = FIRST_LOAD + timedelta(days=1)
HEADER = "order_id,customer_id,ordered_at,status,channel,currency,total_amount,discount_amount\n"


def _orders(first: int, count: int, bad_every: int = 0) -> str:
    lines = []
    for number in range(first, first + count):
        amount = "not a number" if bad_every and number % bad_every == 0 else f"{number}.25"
        lines.append(f"O{number},C{number % 7},2026-11-{1 + number % 28:02d}T10:00:00Z,completed,web,USD,{amount},0\n")
    return HEADER + "".join(lines)


def _lake_rows(lake: Path, where: str = "") -> list[tuple]:
    with duckdb.connect() as reader:
        return reader.execute(
            f"select * exclude (load_date) from read_parquet('{lake}/raw/orders/*/*.parquet', hive_partitioning = true) "
            f"{where} order by order_id"
        ).fetchall()


def test_each_load_lands_once_with_exactly_the_rows_the_raw_table_received(tmp_path, connection):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    write_export(landing, "orders", "orders_1.csv", _orders(1, 40, bad_every=10))  # 4 rows quarantined
    write_export(landing, "orders", "orders_2.csv", _orders(41, 10))
    first = load_entity(connection, ORDERS, landing, FIRST_LOAD)
    assert (first.rows_read, first.rows_loaded, first.rows_quarantined) == (50, 46, 4)

    exported = export_new_loads(connection, ORDERS, lake)
    assert (exported.files_written, exported.rows_written, exported.rows_in_lake) == (1, 46, 46)
    assert load_file(lake, ORDERS, FIRST_LOAD) == lake / "raw/orders/load_date=2026-12-06/20261206T020000123456.parquet"
    assert load_file(lake, ORDERS, FIRST_LOAD).is_file()
    raw = connection.execute("select * from raw.orders order by order_id").fetchall()
    assert _lake_rows(lake) == raw  # the same rows, columns, types and load metadata

    # Nothing new: nothing written.
    again = export_new_loads(connection, ORDERS, lake)
    assert (again.files_written, again.rows_written, again.rows_in_lake) == (0, 0, 46)

    # A second night's file is a second file, in its own day.
    write_export(landing, "orders", "orders_3.csv", _orders(51, 5))
    load_entity(connection, ORDERS, landing, SECOND_LOAD)
    second = export_new_loads(connection, ORDERS, lake)
    assert (second.files_written, second.rows_written, second.rows_in_lake) == (1, 5, 51)
    assert load_file(lake, ORDERS, SECOND_LOAD).parent.name == "load_date=2026-12-07"
    assert len(_lake_rows(lake, "where load_date = '2026-12-07'")) == 5
    assert connection.execute("select count(*) from raw.orders").fetchall() == [(51,)]


def test_a_crash_mid_write_leaves_a_hidden_file_and_the_next_export_writes_the_load(tmp_path, connection):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    write_export(landing, "orders", "orders_1.csv", _orders(1, 20))
    load_entity(connection, ORDERS, landing, FIRST_LOAD)
    export_new_loads(connection, ORDERS, lake)
    target = load_file(lake, ORDERS, FIRST_LOAD)
    # As if the process died after writing half a file and before the rename.
    partial = target.with_name(f".{target.name}.partial")
    shutil.move(target, partial)
    partial.write_bytes(partial.read_bytes()[:100])

    assert rows_in_lake(connection, ORDERS, lake) == 0  # readers skip hidden files
    redone = export_new_loads(connection, ORDERS, lake)
    assert (redone.files_written, redone.rows_in_lake) == (1, 20)
    assert not partial.exists()
    assert len(_lake_rows(lake)) == 20


def test_an_entity_without_loads_has_no_files(tmp_path, connection):
    from dagster_project.ingestion.ledger import ensure_raw_schema

    ensure_raw_schema(connection, ORDERS)
    exported = export_new_loads(connection, ORDERS, tmp_path / "lake")
    assert (exported.files_written, exported.rows_written, exported.rows_in_lake) == (0, 0, 0)
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize("entity", ["customers", "email_events", "tickets"])
def test_every_entity_exports_with_its_own_columns(tmp_path, connection, small_export, entity):
    contract = CONTRACTS[entity]
    result = load_entity(connection, contract, small_export / "landing", FIRST_LOAD)
    exported = export_new_loads(connection, contract, tmp_path / "lake")
    assert exported.rows_in_lake == exported.rows_written == result.rows_loaded > 0
    with duckdb.connect() as reader:
        columns = reader.execute(
            f"describe select * exclude (load_date) from read_parquet('{tmp_path}/lake/raw/{entity}/*/*.parquet', "
            "hive_partitioning = true)"
        ).fetchall()
    expected = connection.execute(f"describe {contract.raw_table}").fetchall()
    assert [(name, data_type) for name, data_type, *_ in columns] == [
        (name, data_type) for name, data_type, *_ in expected
    ]


def test_the_ingestion_asset_lands_the_lake_and_fails_when_a_file_was_removed(tmp_path, monkeypatch):
    import dagster as dg

    from dagster_project.assets.ingestion import ingestion_assets
    from dagster_project.orchestration.resources import WarehouseResource

    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRM_RAW_PARQUET", "1")
    write_export(tmp_path / "data" / "landing", "orders", "orders_1.csv", _orders(1, 30, bad_every=10))
    (orders_asset,) = [asset for asset in ingestion_assets if asset.key == dg.AssetKey(["raw", "orders"])]

    def ingest() -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [orders_asset],
            resources={"warehouse": WarehouseResource()},
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )

    first = ingest()
    assert first.success
    metadata = first.asset_materializations_for_node("raw__orders")[0].metadata
    assert (metadata["rows_loaded"].value, metadata["lake_files_written"].value, metadata["lake_rows"].value) == (
        27,
        1,
        27,
    )
    lake_files = list((tmp_path / "data" / "lake" / "raw" / "orders").glob("load_date=*/*.parquet"))
    assert len(lake_files) == 1

    lake_files[0].unlink()  # by hand, behind the pipeline's back
    write_export(tmp_path / "data" / "landing", "orders", "orders_2.csv", _orders(31, 3))
    second = ingest()
    assert second.success  # the missing load is written again with the new one
    metadata = second.asset_materializations_for_node("raw__orders")[0].metadata
    assert (metadata["lake_files_written"].value, metadata["lake_rows"].value) == (2, 30)

    extra = next((tmp_path / "data" / "lake" / "raw" / "orders").glob("load_date=*/*.parquet"))
    shutil.copy(extra, extra.with_name("20000101T000000000000.parquet"))  # a stray file
    third = ingest()
    assert not third.success
    failure = third.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "The lake holds" in failure.description and "raw.orders 30" in failure.description
