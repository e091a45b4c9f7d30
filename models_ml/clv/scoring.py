"""The CLV model as the pipeline runs it: fit both models, score every customer, backtest against spend per day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from scipy import stats

from models_ml.clv.bgnbd import BgNbdFit, expected_purchases, fit_bgnbd, probability_alive
from models_ml.clv.gamma_gamma import GammaGammaFit, expected_average_spend, fit_gamma_gamma
from models_ml.clv.transactions import (
    DAYS_PER_MONTH,
    DEFAULT_TIME_UNIT_DAYS,
    MODEL_FAMILY,
    MODEL_NAME,
    SCORE_COLUMNS,
    SUMMARY_COLUMNS,
    naive_utc,
    prepare_transactions,
    rfm_summary,
)
from models_ml.clv.value import customer_lifetime_value


@dataclass(frozen=True)
class ClvModel:
    """The two fits and the settings they were scored with."""

    bgnbd: BgNbdFit
    gamma_gamma: GammaGammaFit
    observation_end: datetime
    time_unit_days: float
    horizon_days: float
    monthly_discount_rate: float
    parameters: dict[str, float] = field(default_factory=dict)

    @property
    def model_version(self) -> str:
        return f"{MODEL_NAME}-{MODEL_FAMILY}-{self.observation_end:%Y%m%d}"

    def predict(self, summary: pl.DataFrame) -> pl.DataFrame:
        """Adds p_alive, expected_purchases, expected_average_spend and clv to an ``rfm_summary`` frame."""
        missing = [name for name in SUMMARY_COLUMNS if name not in summary.columns]
        if missing:
            raise ValueError(f"summary lacks the column(s) {missing}; build it with rfm_summary")
        x, t_x, age, spend = (summary[name].to_numpy() for name in SUMMARY_COLUMNS)
        horizon = self.horizon_days / self.time_unit_days
        return summary.with_columns(
            pl.Series("p_alive", probability_alive(self.bgnbd, x, t_x, age)),
            pl.Series("expected_purchases", expected_purchases(self.bgnbd, horizon, x, t_x, age)),
            pl.Series("expected_average_spend", expected_average_spend(self.gamma_gamma, x, spend)),
            pl.Series(
                "clv",
                customer_lifetime_value(
                    self.bgnbd,
                    self.gamma_gamma,
                    x,
                    t_x,
                    age,
                    spend,
                    horizon_months=self.horizon_days / DAYS_PER_MONTH,
                    monthly_discount_rate=self.monthly_discount_rate,
                    time_unit_days=self.time_unit_days,
                ),
            ),
        )


def _fit_model(
    summary: pl.DataFrame,
    observation_end: datetime,
    time_unit_days: float,
    horizon_days: float,
    monthly_discount_rate: float,
) -> ClvModel:
    bgnbd = fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    # Spend is Gamma distributed, hence positive: repeat buyers whose repeat purchases sum to
    # nothing or less (free orders, refunds) are left out of the spend fit, not of the scoring.
    paying = summary.filter(pl.col("monetary_value") > 0)
    gamma_gamma = fit_gamma_gamma(paying["frequency"], paying["monetary_value"])
    return ClvModel(
        bgnbd=bgnbd,
        gamma_gamma=gamma_gamma,
        observation_end=observation_end,
        time_unit_days=time_unit_days,
        horizon_days=horizon_days,
        monthly_discount_rate=monthly_discount_rate,
        parameters={**bgnbd.as_dict(), **gamma_gamma.as_dict()},
    )


def score_clv(
    transactions: pl.DataFrame,
    observation_end: datetime,
    horizon_days: float = 365,
    monthly_discount_rate: float = 0.01,
    time_unit_days: float = DEFAULT_TIME_UNIT_DAYS,
    customer_column: str = "customer_id",
    time_column: str = "ordered_at",
    value_column: str = "revenue_usd",
) -> tuple[ClvModel, pl.DataFrame]:
    """Fit BG/NBD and Gamma-Gamma on the transactions before ``observation_end`` (exclusive) and score.

    Returns the model and one row per customer with a purchase before the end:
    customer_id (``customer_column``), frequency, recency, T, monetary_value (see
    ``rfm_summary``), p_alive, expected_purchases (in the next ``horizon_days``),
    expected_average_spend and clv (discounted expected spend over the horizon, see
    ``customer_lifetime_value``).

    ``p_alive`` is exactly 1 for customers without a repeat purchase, however long ago they
    bought: the BG/NBD model only lets customers leave right after a repeat purchase. It must
    not be used alone as a churn score; ``expected_purchases`` and ``clv`` do account for them.

    The value is whatever ``value_column`` holds (revenue by default; pass margins for a margin
    CLV). The spend model is fitted on repeat buyers with a positive mean repeat value.
    """
    if not (np.isfinite(horizon_days) and horizon_days > 0):
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    summary = rfm_summary(
        transactions,
        observation_end,
        time_unit_days=time_unit_days,
        customer_column=customer_column,
        time_column=time_column,
        value_column=value_column,
    )
    model = _fit_model(
        summary, naive_utc(observation_end, "observation_end"), time_unit_days, horizon_days, monthly_discount_rate
    )
    return model, model.predict(summary).select(customer_column, *SCORE_COLUMNS)


@dataclass(frozen=True)
class ClvEvaluation:
    """How well CLV fitted before ``calibration_end`` ranks the spend in [calibration_end, holdout_end).

    spearman:                 Spearman correlation, predicted CLV vs actual holdout spend
    baseline_spearman:        the same for spend-per-time-unit-so-far x holdout length
    purchases_mae:            mean absolute error, expected vs actual repeat purchase days in the holdout
    baseline_purchases_mae:   the same for repeat-purchase rate so far (frequency / T) x holdout length
    """

    spearman: float
    baseline_spearman: float
    purchases_mae: float
    baseline_purchases_mae: float
    customers: int
    holdout_days: float
    model: ClvModel
    scores: pl.DataFrame

    @property
    def beats_baseline(self) -> bool:
        return self.spearman >= self.baseline_spearman


def evaluate_clv(
    transactions: pl.DataFrame,
    calibration_end: datetime,
    holdout_end: datetime,
    time_unit_days: float = DEFAULT_TIME_UNIT_DAYS,
    monthly_discount_rate: float = 0.0,
    customer_column: str = "customer_id",
    time_column: str = "ordered_at",
    value_column: str = "revenue_usd",
) -> ClvEvaluation:
    """Temporal backtest: fit on purchases before ``calibration_end``, predict the holdout.

    Customers are those with a purchase before ``calibration_end``; their actual holdout spend
    includes every purchase in [calibration_end, holdout_end). The discount rate defaults to 0
    because the actual spend it is compared with is not discounted. ``scores`` holds the
    per-customer predictions, actuals and baselines.
    """
    calibration_end = naive_utc(calibration_end, "calibration_end")
    holdout_end = naive_utc(holdout_end, "holdout_end")
    if holdout_end <= calibration_end:
        raise ValueError(
            f"holdout_end ({holdout_end:%Y-%m-%d %H:%M}) must be after "
            f"calibration_end ({calibration_end:%Y-%m-%d %H:%M})"
        )
    summary = rfm_summary(
        transactions,
        holdout_end,
        time_unit_days=time_unit_days,
        calibration_end=calibration_end,
        customer_column=customer_column,
        time_column=time_column,
        value_column=value_column,
    )
    holdout_days = (holdout_end - calibration_end) / timedelta(days=1)
    model = _fit_model(summary, calibration_end, time_unit_days, holdout_days, monthly_discount_rate)
    scored = model.predict(summary)

    scored = _with_baselines(
        scored, transactions, calibration_end, holdout_days, time_unit_days, customer_column, time_column, value_column
    )
    actual_spend = scored["holdout_value"].to_numpy()
    actual_purchases = scored["holdout_purchases"].to_numpy().astype(np.float64)
    return ClvEvaluation(
        spearman=float(stats.spearmanr(scored["clv"].to_numpy(), actual_spend).statistic),
        baseline_spearman=float(stats.spearmanr(scored["baseline_spend"].to_numpy(), actual_spend).statistic),
        purchases_mae=float(np.abs(scored["expected_purchases"].to_numpy() - actual_purchases).mean()),
        baseline_purchases_mae=float(np.abs(scored["baseline_purchases"].to_numpy() - actual_purchases).mean()),
        customers=scored.height,
        holdout_days=holdout_days,
        model=model,
        scores=scored.drop("_spent", "_exposure_days"),
    )


def _with_baselines(
    scored: pl.DataFrame,
    transactions: pl.DataFrame,
    calibration_end: datetime,
    holdout_days: float,
    time_unit_days: float,
    customer_column: str,
    time_column: str,
    value_column: str,
) -> pl.DataFrame:
    """The scores with the naive baselines the model must beat: what each customer spent (and
    how often they bought) per time unit since their first purchase, carried on over the holdout."""
    history = (
        prepare_transactions(transactions, customer_column, time_column, value_column)
        .filter(pl.col("_at") < calibration_end)
        .group_by(customer_column)
        .agg(
            pl.col("_value").sum().alias("_spent"),
            ((pl.lit(calibration_end) - pl.col("_at").min()) / pl.duration(days=1)).alias("_exposure_days"),
        )
    )
    holdout_units = holdout_days / time_unit_days
    return scored.join(history, on=customer_column, how="left").with_columns(
        (pl.col("_spent") / pl.col("_exposure_days") * holdout_days).alias("baseline_spend"),
        pl.when(pl.col("T") > 0)
        .then(pl.col("frequency") / pl.col("T") * holdout_units)
        .otherwise(0.0)
        .alias("baseline_purchases"),
    )
