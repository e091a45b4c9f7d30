"""The incremental nightly: next days of exports, loaded and built one night at a time, end with
the same marts as a full refresh of the same exports.

One small export set, a full first build, then three nights, each with the next day of exports
(`crm generate --next-day`: new orders, email events, tickets, new customers, corrections of
earlier records and late events). After the last night every table dbt builds (staging,
intermediate, marts) must equal what `dbt build --full-refresh` makes of the same raw data, row
for row (processing metadata such as ``_processed_at`` aside).
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from dagster_project.synthetic import generate_exports
from dagster_project.synthetic.next_day import generate_next_day
from tests.pipeline import assert_same_rows, full_refresh, read_only, run_dbt, run_pipeline, snapshot_schema

pytestmark = pytest.mark.e2e

NIGHTLY_EXPORT = {"customers": 1500, "months": 6, "seed": 5, "end_date": date(2026, 6, 30)}
NIGHTS = 3


def test_nights_of_next_day_exports_end_where_a_full_refresh_does(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    truth = tmp_path / "ground_truth"
    generate_exports(out_dir=data_dir / "landing", truth_dir=truth, **NIGHTLY_EXPORT)
    settings = run_pipeline(data_dir)

    days = []
    for _ in range(NIGHTS):
        day = generate_next_day(settings.landing_dir, truth)
        days.append(day)
        run_pipeline(data_dir)
        with read_only(settings.warehouse_path) as connection:
            # every file of the day was loaded, and the day's orders reached the facts
            statuses = dict(
                connection.execute(
                    "select source_file, status from raw._file_ledger where source_file like ?",
                    [f"%_day_{day.day:%Y%m%d}.%"],
                ).fetchall()
            )
            assert len(statuses) == len(day.files), statuses
            for entity, path in day.files.items():
                # a quiet day's empty file repeats an earlier empty one: recognised, not loaded twice
                expected = {"loaded"} if day.rows_written[entity] else {"loaded", "duplicate"}
                assert statuses[str(path.relative_to(settings.landing_dir))] in expected, statuses
            newest = connection.execute(
                "select max(cast(ordered_at as date)) from marts.fct_orders where not is_refund"
            ).fetchall()[0][0]
            assert newest == day.day
    assert [day.day for day in days] == [date(2026, 7, 1), date(2026, 7, 2), date(2026, 7, 3)]

    # The full-table audits ran in the first build only; on the nights' warehouse they pass.
    audits = ["assert_fct_email_events_match_their_sources", "assert_fct_interactions_match_their_sources"]
    builds = sorted(
        (settings.dbt_target_dir / "runs").glob("*-crm_dbt_models"),
        key=lambda path: (path / "run_results.json").stat().st_mtime,
    )
    assert [_ran(build, audits) for build in builds] == [True] + [False] * NIGHTS
    audited = run_dbt(settings, "test", "--select", "tag:full_table_audit", name="audits")
    passed = re.findall(r" PASS (assert_\w+) ", audited.stdout)
    expected = [*audits, "assert_fct_order_lines_match_their_sources"]
    assert audited.returncode == 0 and sorted(passed) == sorted(expected), audited.stdout[-3000:]

    # every table dbt builds: the incremental ones and everything built from them
    built_schemas = ("staging", "intermediate", "marts")
    incremental = {schema: snapshot_schema(settings.warehouse_path, schema) for schema in built_schemas}
    # keep the nights' warehouse for a look when the comparison fails
    shutil.copyfile(settings.warehouse_path, tmp_path / "after_the_nights.duckdb")

    result = full_refresh(settings)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    for schema in built_schemas:
        refreshed = snapshot_schema(settings.warehouse_path, schema)
        assert sorted(incremental[schema]) == sorted(refreshed)
        for name, frame in refreshed.items():
            assert_same_rows(f"{schema}.{name}", incremental[schema][name], frame)


def _ran(build: Path, tests: list[str]) -> bool:
    """Whether the dbt build whose target folder is ``build`` ran all of ``tests`` (none: False)."""
    results = json.loads((build / "run_results.json").read_text())["results"]
    ran = {result["unique_id"].split(".")[2] for result in results if result["unique_id"].startswith("test.")}
    assert all(test in ran for test in tests) or not any(test in ran for test in tests), ran
    return all(test in ran for test in tests)
