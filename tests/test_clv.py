"""Customer lifetime value: the published CDNOW fits, the lifetimes package's predictions, our own data.

``lifetimes`` is a test-time reference only (a dev dependency). Its ``lifetimes.datasets``
module imports ``pkg_resources``, which the environment does not have, so the CDNOW files are
read from the package folder directly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models_ml.clv import (
    DAYS_PER_MONTH,
    BgNbdFit,
    GammaGammaFit,
    customer_lifetime_value,
    evaluate_clv,
    expected_average_spend,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
    rfm_summary,
    score_clv,
)

# Fader, Hardie and Lee (2005) on the CDNOW sample, 39 weeks of calibration (1997-01-01 to
# 1997-09-30); Gamma-Gamma on its 946 repeat buyers as given in the lifetimes documentation.
CDNOW_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
CDNOW_LOG_LIKELIHOOD = -9582.4
CDNOW_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}
CDNOW_END = datetime(1997, 10, 1)  # exclusive: purchases up to and including 1997-09-30

# Measured on this export (seed 7, 3000 customers): Spearman 0.54 for CLV vs 0.46 for the
# baseline; other seeds and sizes gave 0.53-0.59 vs 0.43-0.51.
SYNTHETIC_EXPORT = {"customers": 3000, "months": 24, "seed": 7, "end_date": date(2026, 6, 30)}
MIN_SPEARMAN = 0.45


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lifetimes_datasets() -> Path:
    lifetimes = pytest.importorskip("lifetimes")
    return Path(lifetimes.__file__).parent / "datasets"


@pytest.fixture(scope="module")
def cdnow_transactions(lifetimes_datasets: Path) -> pl.DataFrame:
    """CDNOW_sample.txt: master customer id, sample id (1..2357), date YYYYMMDD, CDs bought, dollars."""
    fields = np.array((lifetimes_datasets / "CDNOW_sample.txt").read_text().split()).reshape(-1, 5)
    return pl.DataFrame(
        {
            "customer_id": fields[:, 1].astype(np.int64),
            "ordered_at": pl.Series(fields[:, 2]).str.to_date("%Y%m%d"),
            "revenue_usd": fields[:, 4].astype(np.float64),
        }
    )


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_transactions: pl.DataFrame) -> pl.DataFrame:
    return rfm_summary(cdnow_transactions, CDNOW_END, time_unit_days=7.0)


def _read_completed_orders(landing: Path) -> pl.DataFrame:
    """Completed orders of a generated export, one row per order_id (the export repeats some)."""
    return (
        pl.read_csv(landing / "sales" / "orders" / "*.csv", infer_schema=False)
        .filter(pl.col("status") == "completed")
        .unique("order_id", keep="first")
        .select(
            "customer_id",
            pl.col("ordered_at").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC"),
            pl.col("total_amount").cast(pl.Float64).alias("revenue_usd"),
        )
    )


@pytest.fixture(scope="module")
def synthetic_orders(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    from dagster_project.synthetic import generate_exports

    root = tmp_path_factory.mktemp("clv_export")
    generate_exports(out_dir=root / "landing", truth_dir=root / "ground_truth", **SYNTHETIC_EXPORT)
    return _read_completed_orders(root / "landing")


def _simulate_bgnbd(customers: int, seed: int, r: float, alpha: float, a: float, b: float) -> tuple[np.ndarray, ...]:
    """(frequency, recency, T) in weeks from the BG/NBD story: x = min(Poisson(lambda T), Geometric(p)),
    the last purchase the x-th of the always-alive process's uniform purchase times."""
    rng = np.random.default_rng(seed)
    age = rng.integers(7, 365, customers) / 7.0
    purchases = rng.poisson(rng.gamma(r, 1.0 / alpha, customers) * age)
    frequency = np.minimum(purchases, rng.geometric(rng.beta(a, b, customers)))
    recency = np.zeros(customers)
    repeat = frequency > 0
    recency[repeat] = age[repeat] * rng.beta(frequency[repeat], purchases[repeat] - frequency[repeat] + 1)
    return frequency.astype(np.float64), recency, age


# --------------------------------------------------------------------------------------------
# Summary conventions
# --------------------------------------------------------------------------------------------


def test_rfm_summary_merges_same_day_purchases_and_counts_only_before_the_end() -> None:
    transactions = pl.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "a", "b", "c"],
            "ordered_at": [
                datetime(2024, 1, 1, 9),
                datetime(2024, 1, 1, 18),  # same day: one purchase of 15
                datetime(2024, 1, 8, 10),
                datetime(2024, 1, 15, 23, 59),
                datetime(2024, 1, 16),  # at the end: not counted
                datetime(2024, 1, 10),
                datetime(2024, 1, 16, 12),  # after the end: customer c is unknown
            ],
            "revenue_usd": [10.0, 5.0, 20.0, 30.0, 1000.0, 7.0, 3.0],
        }
    )
    summary = rfm_summary(transactions, datetime(2024, 1, 16), time_unit_days=1.0)
    assert summary.to_dicts() == [
        # recency == T when the last purchase is on the last observed day (2024-01-15)
        {"customer_id": "a", "frequency": 2, "recency": 14.0, "T": 14.0, "monetary_value": 25.0},
        {"customer_id": "b", "frequency": 0, "recency": 0.0, "T": 5.0, "monetary_value": 0.0},
    ]
    weekly = rfm_summary(transactions, datetime(2024, 1, 16))
    assert weekly["T"].to_list() == pytest.approx([2.0, 5 / 7])

    # An end in the middle of a day: that day is the last observed one.
    midday = rfm_summary(transactions, datetime(2024, 1, 15, 12), time_unit_days=1.0)
    assert midday.row(0, named=True) == {
        "customer_id": "a",
        "frequency": 1,
        "recency": 7.0,
        "T": 14.0,
        "monetary_value": 20.0,
    }

    # Aware times and cutoffs are compared in UTC.
    aware = transactions.with_columns(pl.col("ordered_at").dt.replace_time_zone("UTC"))
    assert rfm_summary(aware, datetime(2024, 1, 16), time_unit_days=1.0).equals(summary)


def test_rfm_summary_with_calibration_end_adds_the_holdout() -> None:
    transactions = pl.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c"],
            "ordered_at": [date(2024, 1, 1), date(2024, 1, 5), date(2024, 1, 12), date(2024, 1, 12), date(2024, 1, 3)]
            + [date(2024, 1, 11)],
            "revenue_usd": [10.0, 20.0, 4.0, 6.0, 7.0, 3.0],
        }
    )
    summary = rfm_summary(
        transactions, datetime(2024, 1, 20), time_unit_days=1.0, calibration_end=datetime(2024, 1, 10)
    )
    assert summary.to_dicts() == [
        {
            "customer_id": "a",
            "frequency": 1,
            "recency": 4.0,
            "T": 8.0,
            "monetary_value": 20.0,
            "holdout_purchases": 1,  # two orders on 2024-01-12
            "holdout_value": 10.0,
            "holdout_duration": 10.0,
        },
        {
            "customer_id": "b",
            "frequency": 0,
            "recency": 0.0,
            "T": 6.0,
            "monetary_value": 0.0,
            "holdout_purchases": 0,
            "holdout_value": 0.0,
            "holdout_duration": 10.0,
        },
    ]


def test_cdnow_summary_matches_the_published_one(cdnow_summary: pl.DataFrame, lifetimes_datasets: Path) -> None:
    published = pl.read_csv(lifetimes_datasets / "cdnow_customers_summary_with_transactions.csv")
    joined = cdnow_summary.join(published, left_on="customer_id", right_on="ID", how="full", coalesce=True)
    assert cdnow_summary.height == published.height == joined.height == 2357
    assert (joined["frequency"] == joined["x"]).all()
    # The published file rounds to two decimals.
    for ours, theirs in (("recency", "t_x"), ("T", "T_right"), ("monetary_value", "zbar")):
        assert (joined[ours] - joined[theirs]).abs().max() <= 0.005 + 1e-9, ours
    assert cdnow_summary.filter(pl.col("frequency") > 0).height == 946


# --------------------------------------------------------------------------------------------
# Published fits and the lifetimes package
# --------------------------------------------------------------------------------------------


def test_bgnbd_and_gamma_gamma_reproduce_the_published_cdnow_fits(cdnow_summary: pl.DataFrame) -> None:
    fit = fit_bgnbd(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    assert fit.converged
    assert fit.n_customers == 2357
    for name, published in CDNOW_BGNBD.items():
        assert getattr(fit, name) == pytest.approx(published, abs=0.01), name
    assert fit.log_likelihood == pytest.approx(CDNOW_LOG_LIKELIHOOD, abs=0.1)

    spend = fit_gamma_gamma(cdnow_summary["frequency"], cdnow_summary["monetary_value"])
    assert spend.converged
    assert spend.n_customers == 946
    for name, published in CDNOW_GAMMA_GAMMA.items():
        assert getattr(spend, name) == pytest.approx(published, abs=0.01), name


def test_predictions_match_lifetimes_on_the_same_fit(cdnow_summary: pl.DataFrame) -> None:
    pytest.importorskip("lifetimes")
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    x, t_x, age, spend = (cdnow_summary[name].to_numpy() for name in ("frequency", "recency", "T", "monetary_value"))
    fit = fit_bgnbd(x, t_x, age)
    spend_fit = fit_gamma_gamma(x, spend)

    reference = BetaGeoFitter()
    reference.params_ = pd.Series(fit.as_dict())
    reference.predict = reference.conditional_expected_number_of_purchases_up_to_time  # set by fit() in lifetimes
    reference_spend = GammaGammaFitter()
    reference_spend.params_ = pd.Series(spend_fit.as_dict())

    np.testing.assert_allclose(
        probability_alive(fit, x, t_x, age), reference.conditional_probability_alive(x, t_x, age), rtol=1e-6
    )
    for weeks in (1.0, 13.0, 39.0, 78.0):
        np.testing.assert_allclose(
            expected_purchases(fit, weeks, x, t_x, age),
            reference.conditional_expected_number_of_purchases_up_to_time(weeks, x, t_x, age),
            rtol=1e-6,
        )
    np.testing.assert_allclose(
        expected_average_spend(spend_fit, x, spend),
        reference_spend.conditional_expected_average_profit(pd.Series(x), pd.Series(spend)).to_numpy(),
        rtol=1e-9,
    )
    # lifetimes counts a month as 4.345 weeks: with the same month length the CLVs agree.
    index = pd.RangeIndex(len(x))
    theirs = reference_spend.customer_lifetime_value(
        reference,
        pd.Series(x, index=index),
        pd.Series(t_x, index=index),
        pd.Series(age, index=index),
        pd.Series(spend, index=index),
        time=12,
        discount_rate=0.01,
        freq="W",
    )
    ours = customer_lifetime_value(fit, spend_fit, x, t_x, age, spend, 12, 0.01, time_unit_days=DAYS_PER_MONTH / 4.345)
    np.testing.assert_allclose(ours, theirs.to_numpy(), rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Our own maths
# --------------------------------------------------------------------------------------------


def test_fit_recovers_simulated_parameters() -> None:
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.7, "b": 3.0}
    frequency, recency, age = _simulate_bgnbd(200_000, 3, **truth)
    fit = fit_bgnbd(frequency, recency, age)
    assert fit.converged
    for name, value in truth.items():
        assert getattr(fit, name) == pytest.approx(value, rel=0.1), name


@pytest.mark.parametrize(
    ("parameters", "x", "age", "t_x", "t", "reference"),
    [
        # Reference values: FHL eq. 10 as written, in mpmath at 60 digits.
        ((0.243, 4.414, 0.793, 2.426), 2, 38.86, 30.43, 39, 1.2260281747671444),
        # Frequent buyers: 2F1(r+x, b+x; ...) alone overflows a double.
        ((0.66, 8.44, 0.157, 2.98), 1000, 104, 104, 52, 448.33681568943842),
        ((0.243, 4.414, 0.793, 2.426), 300, 104, 103, 520, 612.14152996093107),
        # Whole-number parameters near z = 1, where scipy's hyp2f1 returns NaN.
        ((2.0, 1.0, 3.0, 10.0), 100, 10, 9, 104, 0.1204359334535452),
        # a next to 1, where the formula is 0/0.
        ((0.5, 20, 1.0000001, 0.5), 10, 10, 9, 4.3, 1.2227167547506947),
        ((1.3, 0.7, 4.2, 0.9), 0, 0.5, 0, 520, 1.280483244979668),
    ],
)
def test_expected_purchases_is_accurate_in_hard_corners(
    parameters: tuple[float, ...], x: int, age: float, t_x: float, t: float, reference: float
) -> None:
    fit = BgNbdFit(*parameters, log_likelihood=0.0, n_customers=0, converged=True)
    assert expected_purchases(fit, t, [x], [t_x], [age])[0] == pytest.approx(reference, rel=1e-7)


def test_clv_formula_telescopes_and_discounts() -> None:
    fit = BgNbdFit(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=0.0, n_customers=0, converged=True)
    spend_fit = GammaGammaFit(p=6.25, q=3.74, v=15.44, log_likelihood=0.0, n_customers=0, converged=True)
    x, t_x, age, spend = (
        np.array([0, 1, 5, 12]),
        np.array([0, 2.0, 20, 30]),
        np.array([10, 30, 30, 31.0]),
        np.array([0, 20, 35.0, 12]),
    )
    # A month is an average Gregorian month, 365.25 / 12 = 30.4375 days; time is counted in weeks.
    weeks_per_month = 30.4375 / 7
    assert DAYS_PER_MONTH == 30.4375
    undiscounted = customer_lifetime_value(fit, spend_fit, x, t_x, age, spend, 6, 0.0)
    expected = expected_purchases(fit, 6 * weeks_per_month, x, t_x, age) * expected_average_spend(spend_fit, x, spend)
    np.testing.assert_allclose(undiscounted, expected, rtol=1e-10)
    # A fractional horizon: the last step is shorter.
    partial = customer_lifetime_value(fit, spend_fit, x, t_x, age, spend, 2.5, 0.0)
    expected = expected_purchases(fit, 2.5 * weeks_per_month, x, t_x, age) * expected_average_spend(spend_fit, x, spend)
    np.testing.assert_allclose(partial, expected, rtol=1e-10)
    discounted = customer_lifetime_value(fit, spend_fit, x, t_x, age, spend, 6, 0.05)
    assert (discounted < undiscounted).all()
    assert (discounted > undiscounted / 1.05**6).all()
    # P(alive) is 1 without repeat purchases, whatever the age.
    assert probability_alive(fit, [0, 0], [0, 0], [1, 500]).tolist() == [1.0, 1.0]
    assert customer_lifetime_value(fit, spend_fit, x, t_x, age, spend, 0).tolist() == [0.0] * 4


def test_score_clv_on_our_generated_orders(synthetic_orders: pl.DataFrame) -> None:
    model, scores = score_clv(synthetic_orders, datetime(2026, 7, 1), horizon_days=365, monthly_discount_rate=0.01)
    assert scores.columns == [
        "customer_id",
        "frequency",
        "recency",
        "T",
        "monetary_value",
        "p_alive",
        "expected_purchases",
        "expected_average_spend",
        "clv",
    ]
    assert scores.height == synthetic_orders["customer_id"].n_unique()
    assert scores["customer_id"].is_unique().all()
    assert model.bgnbd.converged and model.gamma_gamma.converged
    assert scores.null_count().row(0) == (0,) * len(scores.columns)
    assert scores["p_alive"].is_between(0, 1).all()
    assert (scores.filter(pl.col("frequency") == 0)["p_alive"] == 1.0).all()
    assert (scores["clv"] >= 0).all() and (scores["expected_average_spend"] > 0).all()
    # Discounting makes a year's CLV a bit less than undiscounted expected purchases x spend.
    undiscounted = scores["expected_purchases"] * scores["expected_average_spend"]
    assert ((scores["clv"] <= undiscounted * (1 + 1e-9)) & (scores["clv"] >= undiscounted / 1.01**12)).all()
    assert model.model_version == "clv-bgnbd_gamma_gamma_v1-20260701"


def test_clv_ranks_future_spend_better_than_the_baseline(synthetic_orders: pl.DataFrame) -> None:
    evaluation = evaluate_clv(synthetic_orders, datetime(2026, 1, 1), datetime(2026, 7, 1))
    print(
        f"CLV Spearman {evaluation.spearman:.3f}, baseline {evaluation.baseline_spearman:.3f}; "
        f"purchases MAE {evaluation.purchases_mae:.3f}, baseline {evaluation.baseline_purchases_mae:.3f}"
    )
    assert evaluation.customers > 1500
    # The customers of the backtest: everyone with a completed order before the calibration end.
    calibration_end = datetime(2026, 1, 1, tzinfo=UTC)
    buyers = synthetic_orders.filter(pl.col("ordered_at") < calibration_end)["customer_id"].n_unique()
    assert evaluation.customers == buyers
    assert evaluation.holdout_days == 181
    assert evaluation.spearman > MIN_SPEARMAN
    assert evaluation.beats_baseline
    assert evaluation.purchases_mae < evaluation.baseline_purchases_mae
    # Customers who first bought in the holdout are not scored; their spend is not "future".
    first_in_holdout = (
        synthetic_orders.group_by("customer_id")
        .agg(pl.col("ordered_at").min())
        .filter(pl.col("ordered_at") >= datetime(2026, 1, 1, tzinfo=UTC))
    )
    assert not first_in_holdout.is_empty()
    assert evaluation.scores.join(first_in_holdout, on="customer_id", how="semi").is_empty()


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------

ORDERS = pl.DataFrame(
    {
        "customer_id": ["a", "a", "b"],
        "ordered_at": [datetime(2024, 1, 1), datetime(2024, 2, 1), datetime(2024, 1, 15)],
        "revenue_usd": [10.0, 20.0, 5.0],
    }
)
FIT = BgNbdFit(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=0.0, n_customers=0, converged=True)
SPEND_FIT = GammaGammaFit(p=6.25, q=3.74, v=15.44, log_likelihood=0.0, n_customers=0, converged=True)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: rfm_summary(ORDERS, datetime(2024, 1, 1)), "no transactions before 2024-01-01"),
        (lambda: rfm_summary(ORDERS.head(0), datetime(2024, 3, 1)), "no transactions before"),
        (lambda: rfm_summary(ORDERS.drop("revenue_usd"), datetime(2024, 3, 1)), "lack the column"),
        (lambda: rfm_summary(ORDERS, datetime(2024, 3, 1), time_unit_days=0), "time_unit_days must be positive"),
        (lambda: rfm_summary(ORDERS, "2024-03-01"), "must be a datetime"),
        (
            lambda: rfm_summary(ORDERS, datetime(2024, 3, 1), calibration_end=datetime(2024, 3, 1)),
            "calibration_end .* must be before observation_end",
        ),
        (
            lambda: rfm_summary(ORDERS.with_columns(pl.col("ordered_at").cast(pl.String)), datetime(2024, 3, 1)),
            "must be a Datetime or Date",
        ),
        (
            lambda: rfm_summary(ORDERS.with_columns(pl.col("revenue_usd").cast(pl.String)), datetime(2024, 3, 1)),
            "must be numeric",
        ),
        (
            lambda: rfm_summary(
                ORDERS.with_columns(pl.lit(None, pl.Float64).alias("revenue_usd")), datetime(2024, 3, 1)
            ),
            "null values",
        ),
        (lambda: fit_bgnbd([], [], []), "no customers"),
        (lambda: fit_bgnbd([0, 0], [0, 0], [3, 4]), "at least one customer with a repeat purchase"),
        (lambda: fit_bgnbd([1, 0], [2, 0], [1, 4]), "recency must not exceed T"),
        (lambda: fit_bgnbd([1, 0], [1, 2], [3, 4]), "recency must be 0 for customers with frequency 0"),
        (lambda: fit_bgnbd([1.5, 0], [1, 0], [3, 4]), "non-negative whole number"),
        (lambda: fit_bgnbd([1, 0], [1, 0], [3]), "differ in length"),
        (lambda: fit_bgnbd([1, 0], [np.nan, 0], [3, 4]), "NaN or infinite"),
        (lambda: fit_gamma_gamma([1, 2, 0], [5.0, 6.0, 0.0]), "at least 3 customers with repeat purchases"),
        (lambda: fit_gamma_gamma([1, 2, 3], [5.0, 0.0, 1.0]), "monetary_value must be positive"),
        (lambda: expected_purchases(FIT, -1, [1], [1], [2]), "non-negative number of time units"),
        (lambda: probability_alive(FIT, [-1], [0], [2]), "non-negative whole number"),
        (lambda: expected_average_spend(SPEND_FIT, [1, 2], [3.0]), "differ in length"),
        (
            lambda: expected_average_spend(GammaGammaFit(1, 0.9, 1, 0, 0, True), [1], [3.0]),
            "mean spend is infinite",
        ),
        (
            lambda: customer_lifetime_value(FIT, SPEND_FIT, [1], [1], [2], [3.0], horizon_months=-1),
            "horizon_months must be a non-negative",
        ),
        (
            lambda: customer_lifetime_value(FIT, SPEND_FIT, [1], [1], [2], [3.0], monthly_discount_rate=-1),
            "monthly_discount_rate must be above -1",
        ),
        (lambda: score_clv(ORDERS, datetime(2024, 3, 1), horizon_days=0), "horizon_days must be positive"),
        (lambda: score_clv(ORDERS, datetime(2024, 3, 1)), "Gamma-Gamma needs at least 3"),
        (
            lambda: evaluate_clv(ORDERS, datetime(2024, 3, 1), datetime(2024, 2, 1)),
            "holdout_end .* must be after calibration_end",
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises((ValueError, TypeError), match=message):
        call()
