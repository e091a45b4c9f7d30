"""Activation exports: snapshot, delta since the last export, manifest, safe CSV, no half files."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import duckdb
import polars as pl

from dagster_project.serve.outbox import changes, export_outbox


def _warehouse(path, customers: list[tuple], as_of: str):
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema if not exists marts; create schema if not exists ml")
        connection.execute(
            "create or replace table marts.crm_sync_customers "
            "(customer_id varchar, email varchar, churn_risk_band varchar, as_of_date date)"
        )
        connection.executemany(
            "insert into marts.crm_sync_customers values (?, ?, ?, ?)", [(*row, as_of) for row in customers]
        )
        connection.execute(
            "create or replace table ml.next_best_offers_current as select * from (values "
            "('C1', 1, 'P1', 0.5, 'bought with X', 'nbo-v1', date '2026-01-01')) "
            "as t(customer_id, offer_rank, product_id, score, reason, model_version, as_of_date)"
        )


def test_a_second_export_delivers_only_what_changed_and_the_manifest_matches_the_files(tmp_path):
    warehouse, outbox = tmp_path / "w.duckdb", tmp_path / "outbox"
    _warehouse(warehouse, [("C1", "a@x.com", "low"), ("C2", '=HYPERLINK("http://x")', "high")], "2026-01-01")
    with duckdb.connect(str(warehouse)) as connection:
        first = export_outbox(connection, outbox, "run-1", datetime(2026, 1, 2, tzinfo=UTC))
    delta = pl.read_parquet(outbox / "crm_sync_customers" / "delta.parquet")
    assert delta["change"].to_list() == ["upsert", "upsert"]
    assert first["run_id"] == "run-1"

    # Next day: C1's risk changed, C2 is gone, C3 is new; the analysis date moved for everyone.
    _warehouse(warehouse, [("C1", "a@x.com", "high"), ("C3", "-c@x.com", "low")], "2026-01-02")
    with duckdb.connect(str(warehouse)) as connection:
        manifest = export_outbox(connection, outbox, "run-2", datetime(2026, 1, 3, tzinfo=UTC))
    folder = outbox / "crm_sync_customers"
    delta = pl.read_parquet(folder / "delta.parquet").sort("customer_id")
    assert list(zip(delta["customer_id"], delta["change"], strict=True)) == [
        ("C1", "upsert"),
        ("C2", "delete"),
        ("C3", "upsert"),
    ]
    assert pl.read_parquet(folder / "snapshot.parquet")["customer_id"].to_list() == ["C1", "C3"]
    offers_delta = pl.read_parquet(outbox / "next_best_offers" / "delta.parquet")
    assert offers_delta.is_empty()  # nothing changed in the offers

    # CSV: the text a spreadsheet would execute is neutralised; Parquet keeps the value.
    csv = pl.read_csv(folder / "snapshot.csv")
    assert csv.filter(pl.col("customer_id") == "C3")["email"].item() == "'-c@x.com"
    assert pl.read_parquet(folder / "snapshot.parquet").filter(pl.col("customer_id") == "C3")["email"].item() == (
        "-c@x.com"
    )

    on_disk = json.loads((outbox / "manifest.json").read_text())
    assert on_disk == manifest and on_disk["run_id"] == "run-2"
    for name, dataset in on_disk["datasets"].items():
        for entry in dataset["files"]:
            path = outbox / name / entry["file"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
            rows = pl.read_parquet(path).height if path.suffix == ".parquet" else pl.read_csv(path).height
            assert rows == entry["rows"]
    assert not list(outbox.rglob("*.partial"))


def test_a_dataset_not_built_yet_is_skipped_and_said_so(tmp_path):
    warehouse, outbox = tmp_path / "w.duckdb", tmp_path / "outbox"
    _warehouse(warehouse, [("C1", "a@x.com", "low")], "2026-01-01")
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("drop table ml.next_best_offers_current")
        manifest = export_outbox(connection, outbox, "run-1", datetime(2026, 1, 2, tzinfo=UTC))
    assert manifest["datasets"]["next_best_offers"] == {"skipped": "ml.next_best_offers_current does not exist yet"}
    assert not (outbox / "next_best_offers").exists()
    assert (outbox / "crm_sync_customers" / "snapshot.parquet").exists()


def test_a_float_recomputed_with_noise_in_its_last_digits_is_not_a_change():
    previous = pl.DataFrame(
        {"customer_id": ["C1", "C2", "C3", "C4"], "sentiment": [0.1 + 0.2, 0.5, None, float("nan")], "band": "low"}
    )
    # The same means summed in another order, one real change, and missing values that stay missing.
    current = pl.DataFrame(
        {"customer_id": ["C1", "C2", "C3", "C4"], "sentiment": [0.3, 0.5001, None, float("nan")], "band": "low"}
    )
    assert 0.1 + 0.2 != 0.3  # the noise the tolerance has to absorb
    delta = changes(previous, current, ("customer_id",))
    assert delta["customer_id"].to_list() == ["C2"]
    assert delta["change"].to_list() == ["upsert"]

    # A value that appears or disappears is a change; so is a text change beside an unchanged float.
    current = current.with_columns(
        pl.when(pl.col("customer_id") == "C3").then(0.2).otherwise(pl.col("sentiment")).alias("sentiment"),
        pl.when(pl.col("customer_id") == "C1").then(pl.lit("high")).otherwise(pl.col("band")).alias("band"),
    )
    assert sorted(changes(previous, current, ("customer_id",))["customer_id"].to_list()) == ["C1", "C2", "C3"]


def test_a_delta_sends_every_row_again_when_a_column_is_added_or_retyped():
    previous = pl.DataFrame({"customer_id": ["C1", "C2"], "score": [1, 2]})
    added = previous.with_columns(pl.lit("gold").alias("tier"))
    assert changes(previous, added, ("customer_id",))["customer_id"].to_list() == ["C1", "C2"]
    retyped = previous.with_columns(pl.col("score").cast(pl.Float64))
    assert changes(previous, retyped, ("customer_id",))["customer_id"].to_list() == ["C1", "C2"]
    # A column dropped by the new export is not a change of any row's values.
    assert changes(added, previous, ("customer_id",)).is_empty()
