"""The HTML page: style, sections, the data-quality table, and writing it atomically."""

from __future__ import annotations

import html
import os
import time
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.serve.report.charts import (
    CHARTS,
    render_chart,
)
from dagster_project.serve.report.formatting import shorten
from dagster_project.serve.report.headline import as_of_date, headline_numbers
from dagster_project.serve.report.layout import (
    CHART_HEIGHT_PX,
    CHART_LEFT_IN_PAGE_PX,
    CHART_SECTION_HEIGHT_PX,
    CHART_TOP_IN_SECTION_PX,
    CHART_WIDTH_PX,
    GREEN,
    HEADER_HEIGHT_PX,
    PAGE_WIDTH_PX,
    RED,
)
from dagster_project.serve.report.sections import (
    ChartRegion,
    ChartSection,
    DataQualitySummary,
    RenderedReport,
)

STYLE = f"""
* {{ box-sizing: border-box; }}
html, body {{ margin: 0; background: #ffffff; color: #111827; }}
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; font-size: 14px; }}
main {{ width: {PAGE_WIDTH_PX}px; margin: 0 auto; }}
header {{ height: {HEADER_HEIGHT_PX}px; overflow: hidden; padding: 20px 24px 0; }}
h1 {{ margin: 0 0 4px; font-size: 26px; }}
.meta {{ color: #4b5563; margin: 0 0 18px; }}
.tiles {{ display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; }}
.tile {{ border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 14px; height: 96px; overflow: hidden; }}
.tile .label {{ color: #4b5563; font-size: 13px; }}
.tile .value {{ font-size: 24px; font-weight: 600; margin: 2px 0; }}
.tile .note {{ color: #6b7280; font-size: 12px; }}
section.chart {{ position: relative; height: {CHART_SECTION_HEIGHT_PX}px; overflow: hidden;
  border-top: 1px solid #e5e7eb; }}
section.chart h2 {{ margin: 0; position: absolute; top: 18px; left: 24px; font-size: 19px; }}
section.chart p.explain {{ margin: 0; position: absolute; top: 50px; left: 24px; right: 24px; height: 42px;
  overflow: hidden; color: #374151; }}
section.chart .plot {{ position: absolute; top: {CHART_TOP_IN_SECTION_PX}px; left: {CHART_LEFT_IN_PAGE_PX}px;
  width: {CHART_WIDTH_PX}px; height: {CHART_HEIGHT_PX}px; }}
section.chart .plot svg {{ display: block; width: {CHART_WIDTH_PX}px; height: {CHART_HEIGHT_PX}px; }}
.unavailable {{ height: 100%; display: flex; align-items: center; justify-content: center; text-align: center;
  padding: 0 80px; border: 1px dashed #d1d5db; border-radius: 8px; color: #6b7280; background: #f9fafb; }}
section.quality {{ border-top: 1px solid #e5e7eb; padding: 18px 24px 40px; }}
section.quality h2 {{ margin: 0 0 6px; font-size: 19px; }}
table {{ border-collapse: collapse; margin: 10px 0 18px; width: 100%; }}
th, td {{ border-bottom: 1px solid #e5e7eb; padding: 6px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f3f4f6; font-weight: 600; }}
td.number, th.number {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.attention td {{ background: #fef2f2; }}
.ok {{ color: {GREEN}; }}
.bad {{ color: {RED}; font-weight: 600; }}
footer {{ color: #6b7280; font-size: 12px; padding: 0 24px 30px; }}
"""


def chart_regions(window_width_px: int) -> list[ChartRegion]:
    """Where each chart of :data:`CHARTS` is drawn in a browser window this wide (the page is centred)."""
    page_left = max(0, (window_width_px - PAGE_WIDTH_PX) // 2)
    regions = []
    for index, spec in enumerate(CHARTS):
        top = HEADER_HEIGHT_PX + index * CHART_SECTION_HEIGHT_PX + CHART_TOP_IN_SECTION_PX
        left = page_left + CHART_LEFT_IN_PAGE_PX
        regions.append(ChartRegion(spec.key, left, top, left + CHART_WIDTH_PX, top + CHART_HEIGHT_PX))
    return regions


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def _chart_html(section: ChartSection) -> str:
    body = (
        section.svg
        if section.svg is not None
        else f'<div class="unavailable">Not available yet: {_escape(section.unavailable_reason)}</div>'
    )
    return (
        f'<section class="chart" id="chart-{_escape(section.key)}" data-drawn="{str(section.drawn).lower()}">'
        f"<h2>{_escape(section.title)}</h2>"
        f'<p class="explain">{_escape(section.explanation)}</p>'
        f'<div class="plot">{body}</div></section>'
    )


def _quality_html(quality: DataQualitySummary | None) -> str:
    if quality is None:
        return (
            '<section class="quality" id="data-quality"><h2>Data quality</h2>'
            "<p>Not available: the report was made outside a pipeline run.</p></section>"
        )
    rows = []
    for load in sorted(quality.loads, key=lambda load: load.entity):
        failed = quality.failed_checks_of(f"raw/{load.entity}")
        attention = load.rows_quarantined > 0 or load.files_rejected > 0 or failed
        failed_cell = (
            "<br>".join(f'<span class="bad">{_escape(check.check)}</span>' for check in failed)
            if failed
            else '<span class="ok">none</span>'
        )
        numbers = (
            [load.files_loaded, load.files_duplicate, load.files_rejected, load.rows_loaded, load.rows_quarantined]
            if load.in_run
            else None
        )
        number_cells = (
            "".join(f'<td class="number">{value:,}</td>' for value in numbers)
            if numbers is not None
            else '<td colspan="5">not loaded in this run</td>'
        )
        rows.append(
            f"<tr{' class=attention' if attention else ''}><td>{_escape(load.entity)}</td>{number_cells}"
            f"<td>{failed_cell}</td></tr>"
        )
    loads_table = (
        "<table><thead><tr><th>export</th><th class=number>files loaded</th><th class=number>duplicate files</th>"
        "<th class=number>rejected files</th><th class=number>rows loaded</th><th class=number>rows quarantined</th>"
        "<th>failed checks</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        if rows
        else "<p>No export was loaded in this run.</p>"
    )
    failed = quality.failed_checks
    passed = len(quality.checks) - len(failed)
    if failed:
        failed_rows = "".join(
            f"<tr><td>{_escape(check.asset)}</td><td>{_escape(check.check)}</td>"
            f'<td class="{"bad" if check.severity == "ERROR" else ""}">'
            f"{'blocking / error' if check.severity == 'ERROR' else 'warning'}</td>"
            f"<td>{_escape(shorten(check.detail, 400))}</td></tr>"
            for check in sorted(failed, key=lambda check: (check.severity != "ERROR", check.asset, check.check))
        )
        failed_table = (
            "<table><thead><tr><th>table</th><th>check</th><th>severity</th><th>what failed</th></tr></thead>"
            f"<tbody>{failed_rows}</tbody></table>"
        )
    else:
        failed_table = '<p class="ok">Every check passed.</p>' if quality.checks else "<p>No checks ran.</p>"
    return (
        '<section class="quality" id="data-quality"><h2>Data quality of this run</h2>'
        "<p>Rows that broke an export's contract are kept aside (quarantined) with the reason, not loaded. "
        "Checks are the Great Expectations suites on each export, the dbt tests on the marts and the models' "
        f"baseline checks: {passed} of {len(quality.checks)} passed.</p>"
        f"{loads_table}<h3>Failed checks</h3>{failed_table}</section>"
    )


def build_report_html(
    connection: duckdb.DuckDBPyConnection,
    run_id: str,
    generated_at: datetime,
    quality: DataQualitySummary | None,
) -> tuple[str, list[ChartSection]]:
    """The whole page, and the chart sections (drawn or not, and why)."""
    sections = [render_chart(spec, connection) for spec in CHARTS]
    analysed = as_of_date(connection)
    tiles = "".join(
        f'<div class="tile"><div class="label">{_escape(label)}</div><div class="value">{_escape(value)}</div>'
        f'<div class="note">{_escape(note)}</div></div>'
        for label, value, note in headline_numbers(connection, quality)
    )
    title = f"CRM run report: {generated_at:%Y-%m-%d %H:%M} UTC"
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_escape(title)}</title><style>{STYLE}</style></head><body><main>"
        f"<header><h1>CRM run report</h1>"
        f'<p class="meta">Run <code>{_escape(run_id)}</code> · finished {generated_at:%Y-%m-%d %H:%M} UTC · '
        f"data as of {_escape(analysed.isoformat() if analysed else 'unknown')}</p>"
        f'<div class="tiles">{tiles}</div></header>'
        + "".join(_chart_html(section) for section in sections)
        + _quality_html(quality)
        + "<footer>Made from the serving file (serving/crm.duckdb) at the end of the run. The numbers behind every "
        "chart are in the marts and ml schemas of that file.</footer>"
        "</main></body></html>\n"
    )
    return page, sections


def report_file_name(run_id: str, generated_at: datetime) -> str:
    return f"run-{generated_at:%Y%m%dT%H%M%SZ}-{run_id[:8]}.html"


def write_atomically(path: Path, text: str) -> None:
    """Readers (a browser, a file share) see the old page or the new one, never half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def render_run_report(
    serving_path: Path,
    reports_dir: Path,
    run_id: str,
    generated_at: datetime,
    quality: DataQualitySummary | None,
) -> RenderedReport:
    """Read the serving file, write ``run-<UTC time>-<run id prefix>.html`` and ``latest.html``."""
    started = time.perf_counter()
    with duckdb.connect(str(serving_path), read_only=True) as connection:
        page, sections = build_report_html(connection, run_id, generated_at, quality)
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / report_file_name(run_id, generated_at)
    write_atomically(path, page)
    latest = reports_dir / "latest.html"
    write_atomically(latest, page)
    return RenderedReport(
        path=path,
        latest_path=latest,
        size_bytes=len(page.encode("utf-8")),
        seconds=time.perf_counter() - started,
        charts_drawn=[section.key for section in sections if section.drawn],
        charts_unavailable={section.key: section.unavailable_reason or "" for section in sections if not section.drawn},
    )
