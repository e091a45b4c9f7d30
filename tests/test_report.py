"""The run report: written by every run, offline, every chart drawn, and drawn for real in a browser.

One full pipeline run on a small generated export set (module scope) feeds every test here.
The browser test opens the page in headless Chromium (Debian's ``chromium`` package, which
``.ci/run`` installs), takes a screenshot and checks each chart's region of it for the chart's
colours: a blank page, a broken SVG or a "not available" note all fail it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest

from dagster_project.core.contracts import CONTRACTS
from dagster_project.serve import report
from models_ml.churn import decile_metrics
from tests.headless_chromium import CHROMIUM, CHROMIUM_FLAGS

WINDOW_WIDTH = 1280
# Any reference that would make the browser fetch something: src=, href=, CSS url(), @import.
EXTERNAL_REFERENCE = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//)|(?:url\(\s*["']?\s*(?:https?:)?//)|@import|@font-face""",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def pipeline_run(published_pipeline):
    """The session's full run on a small generated export set: (settings, run outcome)."""
    return published_pipeline


def _section(page: str, key: str) -> str:
    match = re.search(rf'<section class="chart" id="chart-{key}".*?</section>', page, flags=re.DOTALL)
    assert match, f"no section for chart {key}"
    return match.group(0)


# ------------------------------------------------------------------------------ unit-ish tests


def test_lift_and_calibration_are_recorded_decile_by_decile():
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(size=2000)
    is_churned = (rng.uniform(size=2000) < probabilities).astype(int)  # calibrated by construction

    metrics = decile_metrics(is_churned, probabilities)
    lift = [metrics[f"lift_decile_{decile:02d}"] for decile in range(1, 11)]
    assert lift[0] > 1.7 > 0.3 > lift[-1]  # the riskiest tenth churns far more often than the safest
    assert np.mean(lift) == pytest.approx(1, abs=0.01)
    for decile in range(1, 11):
        predicted = metrics[f"calibration_decile_{decile:02d}_predicted"]
        assert metrics[f"calibration_decile_{decile:02d}_observed"] == pytest.approx(predicted, abs=0.08)

    days_since_order = rng.integers(0, 400, size=2000).astype(float)  # a score, not a probability
    baseline = decile_metrics(is_churned, days_since_order)
    assert len([key for key in baseline if key.startswith("lift_decile_")]) == 10
    assert not any(key.startswith("calibration_") for key in baseline)


def test_charts_without_their_data_say_why_instead_of_failing(tmp_path):
    """A fresh installation: marts without any model published (and a churn run from before
    lift and calibration were recorded)."""
    serving = tmp_path / "serving.duckdb"
    with duckdb.connect(str(serving)) as connection:
        connection.execute(
            """
            create schema marts; create schema ml;
            create table marts.sales_monthly as
                select date '2026-01-01' + to_months(i) as date_month, (1000 + 10 * i)::decimal(18, 2) as revenue_usd
                from range(12) t(i);
            create table marts.customer_rfm as select 'C1' as customer_id, 'loyal' as rfm_segment;
            create table marts.campaign_performance as
                select 'Spring' as campaign_name, 0.5 as roi, 150.0 as attributed_revenue_usd, 100.0 as cost_usd,
                       0.2 as incremental_roi, 120.0 as incremental_revenue_usd,
                       60.0 as incremental_revenue_low_usd, 180.0 as incremental_revenue_high_usd
                where false;
            create table ml.model_runs as
                select 'churn' as model_name, 'churn-v1' as model_version, timestamp '2026-01-01' as trained_at,
                       '{"roc_auc": 0.8}'::json as metrics, '{}'::json as baseline_metrics, true as is_published;
            """
        )
    quality = report.DataQualitySummary(
        loads=[report.EntityLoad("orders", files_loaded=2, rows_loaded=990, rows_quarantined=10)],
        checks=[
            report.CheckOutcome("raw/orders", "orders_severe_expectations", passed=True),
            report.CheckOutcome("raw/orders", "orders_soft_expectations", False, "WARN", "status: 3 unexpected values"),
        ],
    )
    rendered = report.render_run_report(serving, tmp_path / "reports", "0123456789abcdef", datetime.now(UTC), quality)

    assert set(rendered.charts_drawn) == {"revenue", "segments"}  # revenue without forecast, RFM segments only
    reasons = rendered.charts_unavailable
    assert "cohort_retention" in reasons["cohort_retention"]
    assert "ml.churn_scores_current" in reasons["churn_risk"]
    assert "before lift and calibration were recorded" in reasons["model_quality"]
    assert "no rows" in reasons["campaign_roi"]
    page = rendered.latest_path.read_text()
    assert page.count("Not available yet:") == 4
    assert rendered.path.name.startswith("run-") and rendered.path.name.endswith("-01234567.html")
    assert rendered.path.read_text() == page
    assert not list((tmp_path / "reports").glob(".*partial"))
    # The data-quality table flags the export with quarantined rows and names the failed check.
    assert '<tr class=attention><td>orders</td><td class="number">2</td>' in page
    assert "1 of 2 passed" in page and "status: 3 unexpected values" in page


@pytest.mark.e2e
def test_every_run_writes_the_report_with_every_chart(pipeline_run):
    settings, outcome = pipeline_run
    latest = settings.reports_dir / "latest.html"
    runs = list(settings.reports_dir.glob(f"run-*-{outcome.run_id[:8]}.html"))
    assert latest.is_file() and len(runs) == 1
    page = latest.read_text()
    assert runs[0].read_text() == page
    assert outcome.run_id in page

    for spec in report.CHARTS:
        section = _section(page, spec.key)
        assert 'data-drawn="true"' in section, section[:2000]
        assert "<svg" in section and spec.title in section

    # The run's data quality: one row per export, with what was loaded and quarantined.
    # The run's data quality: one row per export, with what the ledger says was loaded and
    # quarantined, and the checks evaluated in the run.
    quality = page[page.index('id="data-quality"') :]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        ledger = connection.execute(
            "select entity, sum(rows_loaded), sum(rows_quarantined) from raw._file_ledger group by entity"
        ).fetchall()
    for entity in CONTRACTS:
        assert f"<td>{entity}</td>" in quality
    for entity, loaded, quarantined in ledger:
        row = re.search(rf"<td>{entity}</td>(.*?)</tr>", quality).group(1)
        numbers = re.findall(r'<td class="number">([\d,]+)</td>', row)
        assert numbers[3:5] == [f"{loaded:,}", f"{quarantined:,}"], (entity, row)
    checks = re.search(r"(\d+) of (\d+) passed", quality)
    # Great Expectations suites, dbt tests, model checks: every check the run evaluated before the
    # report's step started (the job runs its steps one at a time), counted from the event log.
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        records = instance.all_logs(
            outcome.run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.ASSET_CHECK_EVALUATION}
        )
    report_started = next(
        record.timestamp
        for record in records
        if record.dagster_event.event_type == dg.DagsterEventType.STEP_START and "report" in record.step_key
    )
    evaluated = [
        record.dagster_event.event_specific_data.passed
        for record in records
        if record.dagster_event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and record.timestamp < report_started
    ]
    assert len(evaluated) > 100
    assert checks and (int(checks.group(1)), int(checks.group(2))) == (sum(evaluated), len(evaluated))


@pytest.mark.e2e
def test_the_report_works_offline(pipeline_run):
    settings, _ = pipeline_run
    page = (settings.reports_dir / "latest.html").read_text()
    assert not EXTERNAL_REFERENCE.search(page), EXTERNAL_REFERENCE.search(page).group(0)
    assert "<script" not in page.lower()
    assert "<!DOCTYPE html>" in page and "<?xml" not in page
    # Several SVGs on one page: their ids must not collide (a clip path of one chart on another).
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


# ------------------------------------------------------------------------------ in a browser


def _chromium() -> Path:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make test` installs it (Debian's chromium package)"
    return CHROMIUM


def _screenshot(page: Path, out_dir: Path, height: int) -> Path:
    shot = out_dir / "shot.png"
    command = [
        str(_chromium()),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={out_dir / 'profile'}",
        f"--screenshot={shot}",
        f"--window-size={WINDOW_WIDTH},{height}",
        page.resolve().as_uri(),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0 and shot.is_file(), completed.stderr[-3000:]
    return shot


def _near(pixels: np.ndarray, colour: str, tolerance: int = 40) -> int:
    rgb = np.array([int(colour[index : index + 2], 16) for index in (1, 3, 5)])
    return int((np.abs(pixels.astype(int) - rgb).sum(axis=-1) <= tolerance).sum())


# Colours each chart draws with (see report.py); a chart drawn at all shows enough of at least
# the first of each group. Campaigns may all have paid off (all green) or none.
EXPECTED_COLOURS = {
    "revenue": [(report.BLUE,), (report.ORANGE,)],
    "cohort_retention": [],  # viridis: checked through the share of coloured pixels
    "segments": [(report.PURPLE,), (report.BLUE,)],
    "churn_risk": [(report.RED, report.ORANGE, report.GREEN)],
    "model_quality": [(report.BLUE,), (report.PURPLE,)],
    "campaign_roi": [(report.GREEN, report.RED)],
}


@pytest.mark.e2e
def test_chromium_draws_every_chart(pipeline_run, tmp_path):
    from PIL import Image

    settings, _ = pipeline_run
    regions = report.chart_regions(WINDOW_WIDTH)
    # Tall enough for the whole page: the fixed-height charts plus the data-quality tables.
    height = regions[-1].bottom + 2500
    started = time.perf_counter()
    shot = _screenshot(settings.reports_dir / "latest.html", tmp_path, height)
    seconds = time.perf_counter() - started

    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[:2] == (height, WINDOW_WIDTH)
    non_white = (image.min(axis=-1) < 235).mean()
    assert non_white > 0.05, f"the page looks blank ({non_white:.1%} non-white pixels)"

    for region in regions:
        pixels = image[region.top : region.bottom, region.left : region.right]
        # Saturated pixels: chart ink, not the grey text of a "not available" note. A line chart
        # has ~1% of them, bars and the heat map far more.
        coloured = (pixels.max(axis=-1).astype(int) - pixels.min(axis=-1)) > 60
        assert coloured.mean() > 0.004, f"{region.key}: only {coloured.mean():.2%} coloured pixels"
        for alternatives in EXPECTED_COLOURS[region.key]:
            found = {colour: _near(pixels, colour) for colour in alternatives}
            assert max(found.values()) > 300, f"{region.key}: too few pixels of {found}"
    if os.environ.get("CRM_KEEP_REPORT_SCREENSHOT"):  # to look at it: the path to copy it to
        shutil.copy(shot, os.environ["CRM_KEEP_REPORT_SCREENSHOT"])
    print(f"screenshot of {shot.stat().st_size:,} bytes in {seconds:.1f} s")
