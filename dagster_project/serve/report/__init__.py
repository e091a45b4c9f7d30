"""The run report: one HTML page a manager opens after each run, under ``$CRM_DATA_DIR/reports/``.

It reads the serving file (what analysts see, never the build file) and draws six charts with
matplotlib as inline SVG: revenue trend and forecast, cohort retention, segment sizes, churn-risk
distribution, churn model lift and calibration, campaign ROI; plus headline numbers and the run's
data-quality summary (rows loaded and quarantined per export, failed checks), which the caller
passes in as plain data.

The page works offline and opened from disk: no JavaScript, no external URL, and text in charts
is drawn as paths (``svg.fonttype = 'path'``) so no font is needed. A chart whose data is not
there yet (a model never published, an export that never arrived) becomes a "not available yet"
note with the reason; the rest of the page is still drawn.

Charts sit in sections of a fixed height so that their place on the page is known
(:func:`chart_regions`): the rendering test checks each region of a browser screenshot.

Nothing here knows about Dagster; ``dagster_project/assets/report.py`` wires it.
"""

from __future__ import annotations

from dagster_project.serve.report.charts import (
    CHARTS,
    MAX_CAMPAIGNS,
    ChartSpec,
    draw_campaign_roi,
    draw_churn_risk,
    draw_cohorts,
    draw_model_quality,
    draw_revenue,
    draw_segments,
    figure_to_inline_svg,
    render_chart,
)
from dagster_project.serve.report.headline import as_of_date, headline_numbers
from dagster_project.serve.report.layout import (
    BLUE,
    CHART_HEIGHT_PX,
    CHART_LEFT_IN_PAGE_PX,
    CHART_SECTION_HEIGHT_PX,
    CHART_TOP_IN_SECTION_PX,
    CHART_WIDTH_PX,
    GREEN,
    GREY,
    HEADER_HEIGHT_PX,
    ORANGE,
    PAGE_WIDTH_PX,
    PURPLE,
    RED,
    RISK_BAND_COLOURS,
    SVG_HASH_SALT,
)
from dagster_project.serve.report.page import (
    STYLE,
    build_report_html,
    chart_regions,
    render_run_report,
    report_file_name,
    write_atomically,
)
from dagster_project.serve.report.sections import (
    ChartRegion,
    ChartSection,
    CheckOutcome,
    DataQualitySummary,
    EntityLoad,
    NotAvailable,
    RenderedReport,
)

__all__ = [
    "BLUE",
    "CHARTS",
    "CHART_HEIGHT_PX",
    "CHART_LEFT_IN_PAGE_PX",
    "CHART_SECTION_HEIGHT_PX",
    "CHART_TOP_IN_SECTION_PX",
    "CHART_WIDTH_PX",
    "ChartRegion",
    "ChartSection",
    "ChartSpec",
    "CheckOutcome",
    "DataQualitySummary",
    "EntityLoad",
    "GREEN",
    "GREY",
    "HEADER_HEIGHT_PX",
    "MAX_CAMPAIGNS",
    "NotAvailable",
    "ORANGE",
    "PAGE_WIDTH_PX",
    "PURPLE",
    "RED",
    "RISK_BAND_COLOURS",
    "RenderedReport",
    "STYLE",
    "SVG_HASH_SALT",
    "as_of_date",
    "build_report_html",
    "chart_regions",
    "draw_campaign_roi",
    "draw_churn_risk",
    "draw_cohorts",
    "draw_model_quality",
    "draw_revenue",
    "draw_segments",
    "figure_to_inline_svg",
    "headline_numbers",
    "render_chart",
    "render_run_report",
    "report_file_name",
    "write_atomically",
]
