"""Revenue forecast on generated exports: beats seasonal naive, honest intervals, clear limits."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dagster_project.synthetic import generate_exports
from models_ml.forecast import backtest_forecast, forecast_revenue
from tests.generated import EXPORT_TIMESTAMP, revenue_orders

HISTORIES = {
    "24_months": {"customers": 10_000, "months": 24, "seed": 5, "end_date": date(2026, 10, 31)},
    "36_months": {"customers": 10_000, "months": 36, "seed": 3, "end_date": date(2026, 6, 30)},
}


def monthly_revenue(landing: Path) -> pl.DataFrame:
    """Revenue per calendar month: the amounts of the orders revenue_orders reads, each order once."""
    return (
        revenue_orders(landing)
        .group_by(pl.col("ordered_at").str.to_datetime(EXPORT_TIMESTAMP).dt.truncate("1mo").dt.date().alias("month"))
        .agg(pl.col("total_amount").cast(pl.Float64).sum().alias("revenue_usd"))
        .sort("month")
        .collect()
    )


@pytest.fixture(scope="module")
def histories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    root = tmp_path_factory.mktemp("forecast")
    result = {}
    for name, arguments in HISTORIES.items():
        generate_exports(out_dir=root / name / "landing", truth_dir=root / name / "ground_truth", **arguments)
        result[name] = monthly_revenue(root / name / "landing")
    return result


@pytest.mark.parametrize("history", list(HISTORIES))
def test_forecast_beats_seasonal_naive(histories, history):
    monthly = histories[history]
    assert monthly.height == HISTORIES[history]["months"]  # the generated window ends on a month end
    backtest = backtest_forecast(monthly, horizon_months=6)
    print(history, backtest.metrics)  # the measured numbers, for the record (pytest -s)
    assert backtest.origins == 6
    assert backtest.predictions.height == 6 * 6
    assert backtest.beats_seasonal_naive
    assert backtest.value("model", "mase") < backtest.value("seasonal_naive", "mase")
    assert backtest.value("model", "mape") < backtest.value("seasonal_naive", "mape")
    # The last origin holds out exactly the last six months.
    last = backtest.predictions.filter(pl.col("origin") == pl.col("origin").max())
    assert last["month"].to_list() == monthly["month"].tail(6).to_list()
    assert (last["actual"] == monthly["revenue_usd"].tail(6)).all()


@pytest.mark.parametrize("history", list(HISTORIES))
def test_intervals_contain_the_forecast_and_widen_with_the_horizon(histories, history):
    monthly = histories[history]
    forecast = forecast_revenue(monthly, horizon_months=6)
    assert forecast.columns == ["month", "forecast", "lower_80", "upper_80", "lower_95", "upper_95"]
    last = monthly["month"].max()
    assert forecast["month"].to_list() == [
        date(last.year + (last.month + step - 1) // 12, (last.month + step - 1) % 12 + 1, 1) for step in range(1, 7)
    ]
    assert (forecast["lower_95"] < forecast["lower_80"]).all()
    assert (forecast["lower_80"] < forecast["forecast"]).all()
    assert (forecast["forecast"] < forecast["upper_80"]).all()
    assert (forecast["upper_80"] < forecast["upper_95"]).all()
    assert (forecast["lower_95"] > 0).all()
    # Wider in relative terms each month ahead (in dollars a low month can be narrower than a peak).
    relative_width = (forecast["upper_95"] / forecast["lower_95"]).to_numpy()
    assert (np.diff(relative_width) > 0).all()
    # Same month a year earlier, grown: the forecast stays within a plausible range of history.
    assert forecast["forecast"].sum() == pytest.approx(monthly["revenue_usd"].tail(12).sum() / 2, rel=0.35)


def test_recovers_a_clean_trend_and_season():
    """No noise: 1% growth a month and a December peak, in revenue per day, come back out."""
    index = np.arange(33)  # January 2023 to September 2025; the first 30 are history
    months = [date(2023 + int(i) // 12, int(i) % 12 + 1, 1) for i in index]
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] * 3)[: index.size]
    per_day = 1000.0 * 1.01**index * (1 + 0.3 * np.cos(2 * np.pi * (index - 11) / 12))
    history = pl.DataFrame({"month": months[:30], "revenue_usd": per_day[:30] * days[:30]})
    forecast = forecast_revenue(history, horizon_months=3)
    assert forecast["month"].to_list() == months[30:]
    # Ridge shrinks each month's effect a little toward the average month: within a few percent.
    np.testing.assert_allclose(forecast["forecast"].to_numpy(), per_day[30:] * days[30:], rtol=0.05)


def test_clear_errors_when_history_is_too_short(histories):
    monthly = histories["24_months"]
    with pytest.raises(ValueError, match="at least 13 complete months"):
        forecast_revenue(monthly.head(12))
    assert forecast_revenue(monthly.head(13)).height == 6
    with pytest.raises(ValueError, match="at least 19 complete months"):
        backtest_forecast(monthly.head(18), horizon_months=6)
    assert backtest_forecast(monthly.head(19), horizon_months=6).origins == 1
    with pytest.raises(ValueError, match="consecutive"):
        forecast_revenue(monthly.filter(pl.col("month") != monthly["month"][5]))
    with pytest.raises(ValueError, match="positive"):
        forecast_revenue(
            monthly.with_columns(
                pl.when(pl.int_range(pl.len()) == 3).then(0.0).otherwise("revenue_usd").alias("revenue_usd")
            )
        )
    with pytest.raises(ValueError, match="more than once"):
        forecast_revenue(pl.concat([monthly, monthly.tail(1)]))
