"""Broken export files landed beside clean ones: the night completes and publishes.

Every kind in tests/broken_exports.py is landed beside the small generated export set, and one
full run must: succeed and publish the serving file; hold in fct_orders exactly the good rows,
once each, with the latest delivery of each; put every bad row in quarantine with its reason and
line; record every file in the ledger with its status (loaded, duplicate, rejected, skipped) and
why; and account for every row: rows read = rows loaded + rows quarantined, file by file.
"""

from __future__ import annotations

import shutil

import duckdb
import polars as pl
import pytest

from dagster_project.runner import run_full_pipeline
from tests.broken_exports import BROKEN_FILES, land_broken_files


@pytest.fixture(scope="module")
def broken_night(small_export, tmp_path_factory):
    from dagster_project.core.settings import load_settings

    data_dir = tmp_path_factory.mktemp("broken_exports") / "data"
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("CRM_DATA_DIR", str(data_dir))
        environment.setenv("DAGSTER_HOME", str(data_dir / "dagster"))
        for name in ("CRM_ANALYSIS_DATE", "CRM_SERVING_MASK_PII", "CRM_PII_KEY"):
            environment.delenv(name, raising=False)
        settings = load_settings()
        shutil.copytree(small_export / "landing", settings.landing_dir)
        clean_orders = pl.concat(
            [
                pl.read_csv(path, infer_schema=False)
                for path in sorted((settings.landing_dir / "sales/orders").iterdir())
            ]
        )
        land_broken_files(settings.landing_dir)
        outcome = run_full_pipeline(settings)
    return settings, outcome, set(clean_orders["order_id"])


@pytest.mark.e2e
def test_the_night_with_broken_files_completes_and_accounts_for_every_row(broken_night):
    settings, outcome, clean_order_ids = broken_night
    assert outcome.success, outcome.failure_messages
    assert len(BROKEN_FILES) >= 25

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        ledger = {
            row[0]: row[1:]
            for row in connection.execute(
                "select source_file, status, rows_read, rows_loaded, rows_quarantined, error from raw._file_ledger"
            ).fetchall()
        }
        quarantine = connection.execute("select source_file, source_line, reason from raw._quarantine").fetchall()
        orders = {
            order_id: (status, float(net) if net is not None else None)
            for order_id, status, net in connection.execute(
                "select order_id, status, net_revenue_usd from marts.fct_orders"
            ).fetchall()
        }
        fct_rows = connection.execute("select count(*) from marts.fct_orders").fetchall()[0][0]
        loaded_by_entity = dict(
            connection.execute(
                "select split_part(_source_file, '/', 2), count(*) from raw.satisfaction_surveys "
                "where _source_file like '%broken_%' group by 1 union all "
                "select split_part(_source_file, '/', 2), count(*) from raw.order_lines "
                "where _source_file like '%broken_%' group by 1"
            ).fetchall()
        )

    outcomes = []
    for broken in BROKEN_FILES:
        status, read, loaded, quarantined, error = ledger[broken.path]
        outcomes.append(
            f"{broken.kind}: {status}" + (f" ({error})" if error else f", {loaded} loaded, {quarantined} quarantined")
        )
        assert status == broken.status, (broken.kind, status, error)
        assert broken.error in (error or ""), (broken.kind, error)
        if status == "loaded":
            bad_lines = {line: reason for file, line, reason in quarantine if file == broken.path}
            assert set(bad_lines) == set(broken.quarantined), (broken.kind, bad_lines)
            for line, fragment in broken.quarantined.items():
                assert fragment in bad_lines[line], (broken.kind, line, bad_lines[line])
            assert quarantined == len(broken.quarantined) and read == loaded + quarantined, broken.kind
            if broken.rows_loaded is not None:
                assert loaded == broken.rows_loaded == loaded_by_entity.get(broken.entity), broken.kind
    print("\n" + "\n".join(outcomes))

    # Every file, clean or broken: rows read = rows loaded + rows quarantined.
    for source_file, (status, read, loaded, quarantined, _) in ledger.items():
        if status == "loaded":
            assert read == loaded + quarantined, source_file
    # Only the broken files have bad rows: the clean export set loads whole.
    assert {file for file, _, _ in quarantine} <= {broken.path for broken in BROKEN_FILES}

    # fct_orders: exactly the good rows, once each, as their latest delivery says.
    expected = {}
    for broken in BROKEN_FILES:
        expected.update(broken.good_orders)  # later kinds (the corrected re-export) override earlier ones
    assert fct_rows == len(orders) == len(clean_order_ids) + len(expected)
    assert set(orders) == clean_order_ids | set(expected)
    for order_id, (status, net_revenue) in expected.items():
        assert orders[order_id] == (status, net_revenue), order_id

    # Published: the serving file holds the same orders.
    with duckdb.connect(str(settings.serving_path), read_only=True) as serving:
        assert serving.execute("select count(*) from marts.fct_orders").fetchall()[0][0] == fct_rows
