"""The six charts, drawn with matplotlib from the serving file, as inline SVG."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import polars as pl

from dagster_project.serve.report.formatting import short_money, shorten
from dagster_project.serve.report.layout import (
    BLUE,
    CHART_HEIGHT_PX,
    CHART_WIDTH_PX,
    GREEN,
    GREY,
    ORANGE,
    PURPLE,
    RED,
    RISK_BAND_COLOURS,
    SVG_HASH_SALT,
)
from dagster_project.serve.report.sections import (
    ChartSection,
    NotAvailable,
)
from models_ml.churn import DEFAULT_HORIZON_DAYS
from models_ml.features import lapsed_after_days


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

    axis.set_major_formatter(FuncFormatter(lambda value, _: short_money(value)))


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
            "select month, forecast_revenue_usd, lower_80_revenue_usd, upper_80_revenue_usd, lower_95_revenue_usd, "
            "upper_95_revenue_usd from ml.sales_forecast_current order by 1",
            "the sales forecast (ml.sales_forecast_current)",
        )
    except NotAvailable as missing:
        axes.set_title(f"forecast not available yet: {missing}", fontsize=9, color=GREY, loc="left")
    else:
        for level, alpha in ((95, 0.15), (80, 0.3)):
            axes.fill_between(
                forecast["month"],
                forecast[f"lower_{level}_revenue_usd"],
                forecast[f"upper_{level}_revenue_usd"],
                color=ORANGE,
                alpha=alpha,
                label=f"{level}% range",
            )
        # The forecast line starts at the last actual month so the two read as one line.
        axes.plot(
            [history["month"][-1], *forecast["month"]],
            [history["revenue"][-1], *forecast["forecast_revenue_usd"]],
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
    names = [shorten(name or "(unnamed)", 48) for name in campaigns["campaign_name"]]
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
