"""The headline numbers at the top of the page, read from the serving file."""

from __future__ import annotations

from datetime import date

import duckdb

from dagster_project.serve.report.formatting import short_money
from dagster_project.serve.report.sections import (
    DataQualitySummary,
)
from models_ml.churn import DEFAULT_HORIZON_DAYS
from models_ml.features import lapsed_after_days


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


Tile = tuple[str, str, str]  # label, value, note


def headline_numbers(connection: duckdb.DuckDBPyConnection, quality: DataQualitySummary | None) -> list[Tile]:
    """(label, value, note) tiles; "n/a" where the data is not there yet."""
    return [
        _revenue_tile(connection),
        _forecast_tile(connection),
        _customers_tile(connection),
        _churn_tile(connection),
        _campaign_tile(connection),
        _quality_tile(quality),
    ]


def _revenue_tile(connection: duckdb.DuckDBPyConnection) -> Tile:
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
    return ("Revenue, last 12 months", _money_or_na(last_12), change)


def _forecast_tile(connection: duckdb.DuckDBPyConnection) -> Tile:
    next_6 = _scalar(connection, "select sum(forecast_revenue_usd) from ml.sales_forecast_current")
    forecast_months = _scalar(connection, "select count(*) from ml.sales_forecast_current") or 0
    return ("Forecast revenue", _money_or_na(next_6), f"next {forecast_months} months" if next_6 else "no forecast")


def _customers_tile(connection: duckdb.DuckDBPyConnection) -> Tile:
    customers = _scalar(connection, "select count(*) from marts.customer_360")
    buyers_90 = _scalar(connection, "select count(*) from marts.customer_360 where recency_days <= 90")
    return (
        "Customers",
        f"{customers:,}" if customers is not None else "n/a",
        f"{buyers_90:,} ordered in the last 90 days" if buyers_90 is not None else "",
    )


def _churn_tile(connection: duckdb.DuckDBPyConnection) -> Tile:
    # Over the scored population only: prospects and lapsed customers have a status, not a risk
    # (models_ml.features.churn_status), so they are neither at risk nor safe.
    high_risk = _scalar(connection, "select count(*) from ml.churn_scores_current where churn_risk_band = 'high'")
    scored = _scalar(connection, "select count(*) from ml.churn_scores_current where churn_probability is not null")
    return (
        "High churn risk",
        f"{high_risk:,}" if high_risk is not None else "n/a",
        f"{high_risk / scored:.0%} of {scored:,} active customers "
        f"(ordered in the last {lapsed_after_days(DEFAULT_HORIZON_DAYS)} days)"
        if high_risk is not None and scored
        else "no churn scores",
    )


def _campaign_tile(connection: duckdb.DuckDBPyConnection) -> Tile:
    measured_roi, last_touch_roi = (
        _scalar(
            connection,
            f"select (sum({revenue}) - sum(cost_usd))::double / nullif(sum(cost_usd), 0)::double "
            "from marts.campaign_performance where incremental_revenue_usd is not null",
        )
        for revenue in ("incremental_revenue_usd", "attributed_revenue_usd")
    )
    return (
        "Campaign ROI",
        f"{measured_roi:+.0%}" if measured_roi is not None else "n/a",
        f"measured lift, after cost (last touch: {last_touch_roi:+.0%})"
        if last_touch_roi is not None
        else "no campaign with a measurable lift",
    )


def _quality_tile(quality: DataQualitySummary | None) -> Tile:
    if quality is None:
        return ("Data quality", "n/a", "no run summary")
    quarantined = sum(load.rows_quarantined for load in quality.loads)
    failed = len(quality.failed_checks)
    return (
        "Data quality",
        f"{failed} failed check{'s' if failed != 1 else ''}",
        f"{quarantined:,} rows quarantined this run",
    )


def _money_or_na(value) -> str:
    return "n/a" if value is None else short_money(float(value))
