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

import html
import io
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl

from models_ml.churn import DEFAULT_HORIZON_DAYS
from models_ml.features import lapsed_after_days

# ---------------------------------------------------------------------------------------- layout

PAGE_WIDTH_PX = 1200
HEADER_HEIGHT_PX = 300
CHART_SECTION_HEIGHT_PX = 540
CHART_TOP_IN_SECTION_PX = 100  # below the section's title and explanation
CHART_WIDTH_PX = 1152
CHART_HEIGHT_PX = 420
CHART_LEFT_IN_PAGE_PX = (PAGE_WIDTH_PX - CHART_WIDTH_PX) // 2

# Saturated colours: managers tell them apart, and the rendering test finds them in a screenshot.
BLUE, ORANGE, GREEN, RED, PURPLE, GREY = "#2563eb", "#f97316", "#16a34a", "#dc2626", "#7c3aed", "#6b7280"
RISK_BAND_COLOURS = {"low": GREEN, "medium": ORANGE, "high": RED}
SVG_HASH_SALT = "crm-run-report"  # matplotlib's SVG ids are then the same from run to run


class NotAvailable(Exception):
    """The data a chart needs is not there (yet); the message says why, in words."""


@dataclass(frozen=True)
class EntityLoad:
    """What ingestion did with one export in this run (from the ingestion asset's metadata)."""

    entity: str
    files_loaded: int = 0
    files_duplicate: int = 0
    files_rejected: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    in_run: bool = True  # False: the export had no ingestion step in this run (e.g. a sensor run for others)


@dataclass(frozen=True)
class CheckOutcome:
    """One asset check evaluated in this run: a Great Expectations suite, a dbt test, a model check."""

    asset: str  # "raw/orders"
    check: str
    passed: bool
    severity: str = "ERROR"  # ERROR (blocking or failing) | WARN
    detail: str = ""


@dataclass(frozen=True)
class DataQualitySummary:
    loads: Sequence[EntityLoad] = ()
    checks: Sequence[CheckOutcome] = ()

    @property
    def failed_checks(self) -> list[CheckOutcome]:
        return [check for check in self.checks if not check.passed]

    def failed_checks_of(self, asset: str) -> list[CheckOutcome]:
        return [check for check in self.failed_checks if check.asset == asset]


@dataclass(frozen=True)
class ChartSection:
    key: str
    title: str
    explanation: str  # one line a manager understands
    svg: str | None = None
    unavailable_reason: str | None = None

    @property
    def drawn(self) -> bool:
        return self.svg is not None


@dataclass(frozen=True)
class RenderedReport:
    path: Path
    latest_path: Path
    size_bytes: int
    seconds: float
    charts_drawn: list[str] = field(default_factory=list)
    charts_unavailable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChartRegion:
    """Where a chart is drawn on the page, in CSS pixels from the page's top left corner."""

    key: str
    left: int
    top: int
    right: int
    bottom: int


# ----------------------------------------------------------------------------------- the charts


@dataclass(frozen=True)
class ChartSpec:
    key: str
    title: str
    explanation: str
    draw: Callable[[duckdb.DuckDBPyConnection, object], None]  # (connection, matplotlib Figure)


def _frame(connection: duckdb.DuckDBPyConnection, sql: str, what: str) -> pl.DataFrame:
    """The query's rows; NotAvailable when the table is missing or the query returns nothing."""
    try:
        frame = connection.sql(sql).pl()
    except (duckdb.CatalogException, duckdb.BinderException) as error:
        # A table not published yet, or a serving file from an older version without the column.
        raise NotAvailable(f"{what} is not in the serving file yet ({_first_line(error)})") from error
    if frame.is_empty():
        raise NotAvailable(f"{what} has no rows yet")
    return frame


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]


def _money_axis(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _: _short_money(value)))


def _short_money(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"${value / 1e9:.1f}B"
    if magnitude >= 1e6:
        return f"${value / 1e6:.1f}M"
    if magnitude >= 1e3:
        return f"${value / 1e3:.0f}k"
    return f"${value:.0f}"


def _tidy(axes) -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.grid(axis="y", color="#e5e7eb", linewidth=0.8)
    axes.set_axisbelow(True)


def draw_revenue(connection: duckdb.DuckDBPyConnection, figure) -> None:
    history = _frame(
        connection,
        "select date_month as month, revenue_usd::double as revenue from marts.sales_monthly order by 1",
        "monthly sales (marts.sales_monthly)",
    )
    axes = figure.add_subplot()
    axes.plot(
        history["month"], history["revenue"], color=BLUE, linewidth=2.2, marker="o", markersize=3.5, label="revenue"
    )
    axes.fill_between(history["month"], history["revenue"], color=BLUE, alpha=0.12)
    try:
        forecast = _frame(
            connection,
            "select month, forecast, lower_80, upper_80, lower_95, upper_95 from ml.sales_forecast_current order by 1",
            "the sales forecast (ml.sales_forecast_current)",
        )
    except NotAvailable as missing:
        axes.set_title(f"forecast not available yet: {missing}", fontsize=9, color=GREY, loc="left")
    else:
        axes.fill_between(
            forecast["month"], forecast["lower_95"], forecast["upper_95"], color=ORANGE, alpha=0.15, label="95% range"
        )
        axes.fill_between(
            forecast["month"], forecast["lower_80"], forecast["upper_80"], color=ORANGE, alpha=0.3, label="80% range"
        )
        # The forecast line starts at the last actual month so the two read as one line.
        axes.plot(
            [history["month"][-1], *forecast["month"]],
            [history["revenue"][-1], *forecast["forecast"]],
            color=ORANGE,
            linewidth=2.2,
            marker="o",
            markersize=3.5,
            label="forecast",
        )
    axes.legend(loc="upper left", frameon=False, fontsize=9)
    axes.set_ylim(bottom=0)
    _money_axis(axes.yaxis)
    _tidy(axes)


def draw_cohorts(connection: duckdb.DuckDBPyConnection, figure) -> None:
    import numpy as np

    cohorts = _frame(
        connection,
        "select cohort_month, months_since_first_order as month, retention_rate, cohort_size "
        "from marts.cohort_retention order by 1, 2",
        "cohort retention (marts.cohort_retention)",
    )
    cohort_months = sorted(cohorts["cohort_month"].unique())
    width = int(cohorts["month"].max()) + 1
    grid = np.full((len(cohort_months), width), np.nan)
    row_of = {month: row for row, month in enumerate(cohort_months)}
    for cohort_month, month, rate, _ in cohorts.iter_rows():
        grid[row_of[cohort_month], month] = rate
    later = grid[:, 1:]
    # Month 0 is 100% by definition: the colour scale is set by the later months, where the story is.
    top = float(np.nanmax(later)) if later.size and not np.all(np.isnan(later)) else 1.0
    axes = figure.add_subplot()
    mesh = axes.pcolormesh(
        np.ma.masked_invalid(grid), cmap="viridis", vmin=0, vmax=max(top, 0.01), edgecolors="white", linewidth=0.4
    )
    axes.invert_yaxis()
    step = max(1, len(cohort_months) // 12)
    axes.set_yticks(np.arange(len(cohort_months))[::step] + 0.5)
    sizes = dict(zip(cohorts["cohort_month"], cohorts["cohort_size"], strict=False))
    axes.set_yticklabels([f"{month:%Y-%m} ({sizes[month]:,})" for month in cohort_months[::step]], fontsize=8)
    axes.set_xticks(np.arange(width)[:: max(1, width // 12)] + 0.5)
    axes.set_xticklabels([str(month) for month in range(width)][:: max(1, width // 12)], fontsize=8)
    axes.set_xlabel("months since first order")
    axes.set_ylabel("first-order month (customers)")
    colour_bar = figure.colorbar(mesh, ax=axes, fraction=0.03, pad=0.02)
    colour_bar.ax.yaxis.set_major_formatter(_percent_formatter())
    colour_bar.set_label("share still buying")


def _percent_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:.0%}")


def _segment_counts(connection: duckdb.DuckDBPyConnection, sql: str, what: str) -> pl.DataFrame:
    return _frame(connection, sql, what).sort("customers")


def draw_segments(connection: duckdb.DuckDBPyConnection, figure) -> None:
    panels: list[tuple[str, pl.DataFrame | None, str]] = []
    for title, sql, what in (
        (
            "behavioural segments (model)",
            "select segment_name as segment, count(*) as customers from ml.customer_segments_current group by 1",
            "the behavioural segments (ml.customer_segments_current)",
        ),
        (
            "RFM segments (rules)",
            "select rfm_segment as segment, count(*) as customers from marts.customer_rfm group by 1",
            "the RFM segments (marts.customer_rfm)",
        ),
    ):
        try:
            panels.append((title, _segment_counts(connection, sql, what), ""))
        except NotAvailable as missing:
            panels.append((title, None, str(missing)))
    if all(frame is None for _, frame, _ in panels):
        raise NotAvailable("; ".join(reason for _, _, reason in panels))
    for index, (title, frame, reason) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), index)
        axes.set_title(title, fontsize=10, loc="left")
        if frame is None:
            axes.text(0.5, 0.5, f"not available yet:\n{reason}", ha="center", va="center", color=GREY, wrap=True)
            axes.set_axis_off()
            continue
        total = frame["customers"].sum()
        colour = PURPLE if index == 1 else BLUE
        bars = axes.barh(frame["segment"].fill_null("(none)"), frame["customers"], color=colour)
        axes.bar_label(bars, labels=[f"{n:,} ({n / total:.0%})" for n in frame["customers"]], fontsize=8, padding=3)
        axes.tick_params(axis="y", labelsize=8)
        axes.set_xlim(0, frame["customers"].max() * 1.3)
        axes.set_xlabel("customers")
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)


def draw_churn_risk(connection: duckdb.DuckDBPyConnection, figure) -> None:
    import numpy as np

    scores = _frame(
        connection,
        "select churn_probability, churn_risk_band from ml.churn_scores_current where churn_probability is not null",
        "the churn scores (ml.churn_scores_current)",
    )
    axes = figure.add_subplot()
    bins = np.linspace(0, 1, 21)
    total = scores.height
    for band, colour in RISK_BAND_COLOURS.items():
        values = scores.filter(pl.col("churn_risk_band") == band)["churn_probability"].to_numpy()
        if values.size:
            axes.hist(
                values, bins=bins, color=colour, label=f"{band} risk: {values.size:,} ({values.size / total:.0%})"
            )
    axes.set_xlim(0, 1)
    axes.xaxis.set_major_formatter(_percent_formatter())
    axes.set_xlabel("probability of no order in the next 90 days")
    axes.set_ylabel("active customers")
    axes.legend(frameon=False, loc="upper left")
    _tidy(axes)


def _published_churn_run(connection: duckdb.DuckDBPyConnection) -> dict:
    run = _frame(
        connection,
        "select model_version, trained_at, metrics::varchar as metrics, baseline_metrics::varchar as baseline_metrics "
        "from ml.model_runs where model_name = 'churn' and is_published order by trained_at desc limit 1",
        "a published churn model (ml.model_runs)",
    ).row(0, named=True)
    return {
        **run,
        "metrics": json.loads(run["metrics"] or "{}"),
        "baseline_metrics": json.loads(run["baseline_metrics"] or "{}"),
    }


def _deciles(metrics: dict, pattern: str) -> list[float]:
    values = []
    for decile in range(1, 11):
        value = metrics.get(pattern.format(decile=decile))
        if value is None:
            break
        values.append(float(value))
    return values


def draw_model_quality(connection: duckdb.DuckDBPyConnection, figure) -> None:
    run = _published_churn_run(connection)
    metrics, baseline = run["metrics"], run["baseline_metrics"]
    lift = _deciles(metrics, "lift_decile_{decile:02d}")
    predicted = _deciles(metrics, "calibration_decile_{decile:02d}_predicted")
    observed = _deciles(metrics, "calibration_decile_{decile:02d}_observed")
    if not lift or not predicted:
        raise NotAvailable(
            f"the published churn model {run['model_version']} (trained {run['trained_at']:%Y-%m-%d}) was trained "
            "before lift and calibration were recorded; they appear after its next training "
            "(the weekly training run, or `crm build --retrain`)"
        )
    deciles = list(range(1, len(lift) + 1))
    left = figure.add_subplot(1, 2, 1)
    left.bar(deciles, lift, color=BLUE, label="churn model")
    baseline_lift = _deciles(baseline, "lift_decile_{decile:02d}")
    if baseline_lift:
        left.plot(
            range(1, len(baseline_lift) + 1),
            baseline_lift,
            color=ORANGE,
            marker="o",
            linewidth=2,
            label="baseline: days since last order",
        )
    left.axhline(1, color=GREY, linestyle="--", linewidth=1, label="calling customers at random")
    left.set_xticks(deciles)
    left.set_xlabel("customers ranked by risk, in tenths (1 = riskiest)")
    left.set_ylabel("churn rate / average churn rate")
    auc = metrics.get("roc_auc")
    left.set_title("lift by decile" + (f" (ROC AUC {auc:.2f})" if auc is not None else ""), fontsize=10, loc="left")
    left.legend(frameon=False, fontsize=8, loc="upper right")
    _tidy(left)

    right = figure.add_subplot(1, 2, 2)
    right.plot([0, 1], [0, 1], color=GREY, linestyle="--", linewidth=1, label="perfect calibration")
    right.plot(predicted, observed, color=PURPLE, marker="o", linewidth=2.2, label="churn model, per decile")
    right.set_xlim(0, 1)
    right.set_ylim(0, 1)
    right.xaxis.set_major_formatter(_percent_formatter())
    right.yaxis.set_major_formatter(_percent_formatter())
    right.set_xlabel("predicted churn probability")
    right.set_ylabel("share that actually churned")
    right.set_title("calibration on the backtest", fontsize=10, loc="left")
    right.legend(frameon=False, fontsize=8, loc="upper left")
    _tidy(right)


MAX_CAMPAIGNS = 20


def draw_campaign_roi(connection: duckdb.DuckDBPyConnection, figure) -> None:
    campaigns = _frame(
        connection,
        "select campaign_name, roi, incremental_roi, cost_usd::double as cost, "
        "(incremental_revenue_low_usd::double - cost_usd::double) / nullif(cost_usd::double, 0) as low, "
        "(incremental_revenue_high_usd::double - cost_usd::double) / nullif(cost_usd::double, 0) as high "
        "from marts.campaign_performance where roi is not null "
        "order by incremental_roi nulls first, roi",
        "campaign performance with a cost (marts.campaign_performance)",
    )
    note = ""
    if campaigns.height > MAX_CAMPAIGNS:
        # The best and the worst are what a manager acts on; the middle is in the mart.
        half = MAX_CAMPAIGNS // 2
        note = f" ({campaigns.height} campaigns: the {half} worst and the {half} best)"
        campaigns = pl.concat([campaigns.head(half), campaigns.tail(half)])
    axes = figure.add_subplot()
    names = [_shorten(name or "(unnamed)", 48) for name in campaigns["campaign_name"]]
    measured = campaigns["incremental_roi"].fill_null(0.0)
    colours = [GREY if roi is None else GREEN if roi >= 0 else RED for roi in campaigns["incremental_roi"]]
    positions = range(campaigns.height)
    bars = axes.barh(positions, measured, color=colours, label="measured lift (95% interval)")
    with_interval = campaigns.with_row_index("position").drop_nulls(["low", "high", "incremental_roi"])
    axes.errorbar(
        with_interval["incremental_roi"],
        with_interval["position"],
        xerr=[
            with_interval["incremental_roi"] - with_interval["low"],
            with_interval["high"] - with_interval["incremental_roi"],
        ],
        fmt="none",
        ecolor=GREY,
        elinewidth=1,
        capsize=2,
    )
    axes.scatter(
        campaigns["roi"], positions, marker="|", s=90, color="#111827", label="last-touch attribution", zorder=3
    )
    axes.set_yticks(list(positions))
    axes.set_yticklabels(names, fontsize=8)
    labels = ["n/a" if roi is None else f"{roi:+.0%}" for roi in campaigns["incremental_roi"]]
    axes.bar_label(bars, labels=labels, fontsize=7, padding=3)
    axes.axvline(0, color=GREY, linewidth=1)
    axes.xaxis.set_major_formatter(_percent_formatter())
    axes.set_xlabel("return on campaign cost: revenue the campaign added, minus cost, over cost" + note)
    axes.legend(loc="lower right", fontsize=8, frameon=False)
    values = [campaigns["roi"], measured, campaigns["low"].drop_nulls(), campaigns["high"].drop_nulls()]
    low = min(0.0, *(series.min() for series in values if series.len()))
    high = max(0.0, *(series.max() for series in values if series.len()))
    margin = (high - low) * 0.12 or 1.0
    axes.set_xlim(low - (margin if low < 0 else 0), high + margin)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        "revenue",
        "Revenue trend and forecast",
        "Revenue per month so far (blue) and what the forecast model expects next (orange), with the range it is "
        "80% and 95% sure of.",
        draw_revenue,
    ),
    ChartSpec(
        "cohort_retention",
        "Customer retention by first-order month",
        "Each row is the customers who first bought in that month; colour shows the share of them still buying "
        "1, 2, 3 ... months later (brighter is better).",
        draw_cohorts,
    ),
    ChartSpec(
        "segments",
        "Segment sizes",
        "How many customers fall in each behavioural segment (found by the model) and each RFM segment (recency, "
        "frequency and spend rules).",
        draw_segments,
    ),
    ChartSpec(
        "churn_risk",
        "Churn risk across active customers",
        f"How many active customers (ordered within the last {lapsed_after_days(DEFAULT_HORIZON_DAYS)} days) have "
        f"each probability of not ordering in the next {DEFAULT_HORIZON_DAYS} days, coloured by risk band: "
        "the red bars are the customers to call. Prospects (never ordered) "
        "and lapsed customers (no order for longer) are not scored.",
        draw_churn_risk,
    ),
    ChartSpec(
        "model_quality",
        "Can we trust the churn scores?",
        "Left: the riskiest tenth of customers churns this many times more often than average (higher is better). "
        "Right: when the model says 70%, about 70% churned (closer to the dashed line is better).",
        draw_model_quality,
    ),
    ChartSpec(
        "campaign_roi",
        "Campaign return on investment",
        "What each campaign brought back per dollar spent, after its cost, measured as the revenue its customers "
        "added against comparable customers it did not reach (bars, with their 95% interval; green paid for itself, "
        "red did not). The black tick is what last-touch attribution credits it with, orders that would have "
        "happened anyway included.",
        draw_campaign_roi,
    ),
)


def render_chart(spec: ChartSpec, connection: duckdb.DuckDBPyConnection) -> ChartSection:
    """The chart as inline SVG, or the reason it cannot be drawn yet."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(CHART_WIDTH_PX / 96, CHART_HEIGHT_PX / 96), dpi=96, layout="constrained")
    try:
        spec.draw(connection, figure)
    except NotAvailable as missing:
        return ChartSection(spec.key, spec.title, spec.explanation, unavailable_reason=str(missing))
    return ChartSection(spec.key, spec.title, spec.explanation, svg=figure_to_inline_svg(figure, spec.key))


def figure_to_inline_svg(figure, id_prefix: str) -> str:
    """An <svg> element to put straight into HTML: glyphs as paths (no fonts), no XML prologue or
    metadata, ids prefixed so that several charts on one page do not share clip paths or glyphs."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": SVG_HASH_SALT}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\sid="([^"]+)"', rf' id="{id_prefix}-\1"', svg)
    svg = svg.replace('href="#', f'href="#{id_prefix}-').replace("url(#", f"url(#{id_prefix}-")
    # Fixed pixel size (matplotlib writes points); the viewBox keeps the drawing's proportions.
    svg = re.sub(
        r'<svg([^>]*?)\swidth="[^"]+"\s+height="[^"]+"',
        rf'<svg\1 width="{CHART_WIDTH_PX}" height="{CHART_HEIGHT_PX}" role="img"',
        svg,
        count=1,
    )
    return svg.strip()


# ------------------------------------------------------------------------------ headline numbers


def _scalar(connection: duckdb.DuckDBPyConnection, sql: str):
    try:
        row = connection.execute(sql).fetchone()
    except (duckdb.CatalogException, duckdb.BinderException):
        return None
    return None if row is None else row[0]


def as_of_date(connection: duckdb.DuckDBPyConnection) -> date | None:
    """The analysis date the marts were built for (never the wall clock)."""
    for sql in (
        "select max(as_of_date) from marts.customer_360",
        "select max(as_of_date) from marts.customer_rfm",
    ):
        value = _scalar(connection, sql)
        if value is not None:
            return value
    return None


def headline_numbers(connection: duckdb.DuckDBPyConnection, quality: DataQualitySummary | None) -> list[tuple]:
    """(label, value, note) tiles; "n/a" where the data is not there yet."""
    tiles: list[tuple[str, str, str]] = []
    last_12, previous_12 = (
        _scalar(
            connection,
            f"""
            select sum(revenue_usd)::double from marts.sales_monthly
            where date_month > (select max(date_month) from marts.sales_monthly) - interval {offset + 12} month
              and date_month <= (select max(date_month) from marts.sales_monthly) - interval {offset} month
            """,
        )
        for offset in (0, 12)
    )
    months = _scalar(connection, "select count(*) from marts.sales_monthly") or 0
    change = (
        f"{last_12 / previous_12 - 1:+.0%} vs the 12 months before"
        if last_12 and previous_12 and months >= 24
        else "12 months to the latest month"
    )
    tiles.append(("Revenue, last 12 months", _money_or_na(last_12), change))
    next_6 = _scalar(connection, "select sum(forecast) from ml.sales_forecast_current")
    forecast_months = _scalar(connection, "select count(*) from ml.sales_forecast_current") or 0
    tiles.append(
        ("Forecast revenue", _money_or_na(next_6), f"next {forecast_months} months" if next_6 else "no forecast")
    )
    customers = _scalar(connection, "select count(*) from marts.customer_360")
    buyers_90 = _scalar(connection, "select count(*) from marts.customer_360 where recency_days <= 90")
    tiles.append(
        (
            "Customers",
            f"{customers:,}" if customers is not None else "n/a",
            f"{buyers_90:,} ordered in the last 90 days" if buyers_90 is not None else "",
        )
    )
    # Over the scored population only: prospects and lapsed customers have a status, not a risk
    # (models_ml.features.churn_status), so they are neither at risk nor safe.
    high_risk = _scalar(connection, "select count(*) from ml.churn_scores_current where churn_risk_band = 'high'")
    scored = _scalar(connection, "select count(*) from ml.churn_scores_current where churn_probability is not null")
    tiles.append(
        (
            "High churn risk",
            f"{high_risk:,}" if high_risk is not None else "n/a",
            f"{high_risk / scored:.0%} of {scored:,} active customers "
            f"(ordered in the last {lapsed_after_days(DEFAULT_HORIZON_DAYS)} days)"
            if high_risk is not None and scored
            else "no churn scores",
        )
    )
    measured_roi, last_touch_roi = (
        _scalar(
            connection,
            f"select (sum({revenue}) - sum(cost_usd))::double / nullif(sum(cost_usd), 0)::double "
            "from marts.campaign_performance where incremental_revenue_usd is not null",
        )
        for revenue in ("incremental_revenue_usd", "attributed_revenue_usd")
    )
    tiles.append(
        (
            "Campaign ROI",
            f"{measured_roi:+.0%}" if measured_roi is not None else "n/a",
            f"measured lift, after cost (last touch: {last_touch_roi:+.0%})"
            if last_touch_roi is not None
            else "no campaign with a measurable lift",
        )
    )
    if quality is None:
        tiles.append(("Data quality", "n/a", "no run summary"))
    else:
        quarantined = sum(load.rows_quarantined for load in quality.loads)
        failed = len(quality.failed_checks)
        tiles.append(
            (
                "Data quality",
                f"{failed} failed check{'s' if failed != 1 else ''}",
                f"{quarantined:,} rows quarantined this run",
            )
        )
    return tiles


def _money_or_na(value) -> str:
    return "n/a" if value is None else _short_money(float(value))


# ------------------------------------------------------------------------------------ the page

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
            f"<td>{_escape(_shorten(check.detail, 400))}</td></tr>"
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
