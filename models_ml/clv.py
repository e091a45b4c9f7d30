"""Customer lifetime value: BG/NBD for how often a customer buys, Gamma-Gamma for how much.

The classic "buy till you die" pair of models (Fader, Hardie and Lee):

- BG/NBD (2005, "Counting your customers the easy way"): while alive, a customer buys as a
  Poisson process with rate lambda ~ Gamma(r, alpha); after each repeat purchase they leave for
  good with probability p ~ Beta(a, b). It needs only three numbers per customer: frequency x
  (repeat purchases), recency t_x (time of the last purchase, from the first) and age T.
- Gamma-Gamma (2005, "RFM and CLV: using iso-value curves"; note "The Gamma-Gamma model of
  monetary value", 2013): each purchase of a customer is Gamma(p, nu) with nu ~ Gamma(q, v), so
  a customer's mean spend is pulled from their own average towards the population's, the more
  so the fewer purchases we have seen. It assumes spend does not depend on frequency.

Everything is written from the papers' formulas and vectorised with numpy/scipy; the fits
group identical customers and use analytic gradients, so a million customers fit in seconds.
Why these models rather than a regression: they need no labelled future, extrapolate to any
horizon, and give a per-customer probability of still being a customer. Their limit: they
see only purchase timing and value, none of the CRM signals the churn model uses.

Conventions (those of the BG/NBD literature and of the CDNOW data the papers use): purchases
on the same day count once (their values summed), times are measured in whole days and
expressed in ``time_unit_days`` units (weeks by default), ``frequency`` excludes the first
purchase and ``monetary_value`` is the mean of the repeat purchases only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from scipy import optimize, special, stats

DAYS_PER_MONTH = 365.25 / 12
DEFAULT_TIME_UNIT_DAYS = 7.0
MODEL_NAME = "clv"
MODEL_FAMILY = "bgnbd_gamma_gamma_v1"
# Log-parameters are kept in a box so a flat likelihood cannot send them to overflow.
_LOG_PARAMETER_BOUNDS = (-18.0, 18.0)
_MIN_REPEAT_BUYERS_GAMMA_GAMMA = 3
_NEAR_ONE = 1e-4  # |a - 1| below which the BG/NBD expectation is interpolated (see _purchases_if_alive)

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
SCORE_COLUMNS = (
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "p_alive",
    "expected_purchases",
    "expected_average_spend",
    "clv",
)


# --------------------------------------------------------------------------------------------
# Transactions to frequency / recency / T / monetary value
# --------------------------------------------------------------------------------------------


def _naive_utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _prepare_transactions(
    transactions: pl.DataFrame, customer_column: str, time_column: str, value_column: str
) -> pl.DataFrame:
    """customer, ``_at`` (naive UTC datetime) and ``_value`` (float), checked for nulls."""
    if not isinstance(transactions, pl.DataFrame):
        raise TypeError(f"transactions must be a polars DataFrame, got {type(transactions).__name__}")
    missing = [name for name in (customer_column, time_column, value_column) if name not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack the column(s) {missing}; it has {transactions.columns}")
    time_type = transactions.schema[time_column]
    if isinstance(time_type, pl.Datetime):
        at = pl.col(time_column)
        # An aware column is compared in UTC, as are aware cutoffs (see _naive_utc).
        if time_type.time_zone is not None:
            at = at.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    elif time_type == pl.Date:
        at = pl.col(time_column).cast(pl.Datetime("us"))
    else:
        raise ValueError(f"column {time_column!r} must be a Datetime or Date, got {time_type}")
    if not transactions.schema[value_column].is_numeric():
        raise ValueError(f"column {value_column!r} must be numeric, got {transactions.schema[value_column]}")
    frame = transactions.select(
        pl.col(customer_column), at.cast(pl.Datetime("us")).alias("_at"), pl.col(value_column).cast(pl.Float64)
    ).rename({value_column: "_value"})
    nulls = {name: count for name, count in zip(frame.columns, frame.null_count().row(0), strict=True) if count}
    if nulls:
        raise ValueError(f"transactions have null values: {nulls} (customer, time and value must all be set)")
    if not frame.filter(~pl.col("_value").is_finite()).is_empty():
        raise ValueError(f"column {value_column!r} has infinite or NaN values")
    return frame


def _last_observed_day(end: datetime) -> datetime:
    """The calendar day holding the last instant before the exclusive ``end``."""
    last = end - timedelta(microseconds=1)
    return datetime(last.year, last.month, last.day)


def _purchase_days(frame: pl.DataFrame, customer_column: str) -> pl.DataFrame:
    # Same-day purchases are one purchase occasion, with their values summed.
    return frame.group_by(customer_column, pl.col("_at").dt.truncate("1d").alias("_day")).agg(pl.col("_value").sum())


def rfm_summary(
    transactions: pl.DataFrame,
    observation_end: datetime,
    time_unit_days: float = DEFAULT_TIME_UNIT_DAYS,
    calibration_end: datetime | None = None,
    customer_column: str = "customer_id",
    time_column: str = "ordered_at",
    value_column: str = "revenue_usd",
) -> pl.DataFrame:
    """One row per customer with a purchase strictly before the end: frequency, recency, T, monetary_value.

    The end is ``calibration_end`` when given, otherwise ``observation_end``; both are exclusive
    cutoffs (a purchase at the end instant does not count). Purchases are grouped by UTC day:

    - ``frequency``: purchase days minus one (the repeat purchases);
    - ``recency``: days from the first to the last purchase day, in time units (0 without repeats);
    - ``T``: days from the first purchase day to the last observed day, the day of the last
      instant before the end, in time units. With an end at midnight this is the convention of
      the BG/NBD papers and of ``lifetimes.utils.summary_data_from_transaction_data`` with
      ``observation_period_end`` = the day before: a customer who bought on the last day has
      recency == T. (CDNOW: end 1997-10-01 gives T = 38.86 weeks for a first purchase on 1997-01-01.)
    - ``monetary_value``: mean value of the repeat purchase days (first purchase excluded), 0
      when frequency is 0.

    With ``calibration_end``, purchases in [calibration_end, observation_end) are summarised in
    ``holdout_purchases`` (purchase days), ``holdout_value`` (total value) and
    ``holdout_duration`` (observation_end - calibration_end, in time units), 0 when none.
    Customers whose first purchase is in the holdout are not included.
    """
    if not time_unit_days > 0:
        raise ValueError(f"time_unit_days must be positive, got {time_unit_days}")
    observation_end = _naive_utc(observation_end, "observation_end")
    end = observation_end
    if calibration_end is not None:
        end = _naive_utc(calibration_end, "calibration_end")
        if end >= observation_end:
            raise ValueError(
                f"calibration_end ({end:%Y-%m-%d %H:%M}) must be before "
                f"observation_end ({observation_end:%Y-%m-%d %H:%M})"
            )
    frame = _prepare_transactions(transactions, customer_column, time_column, value_column)
    before = frame.filter(pl.col("_at") < end)
    if before.is_empty():
        raise ValueError(f"no transactions before {end:%Y-%m-%d %H:%M} (of {frame.height} given)")

    last_day = _last_observed_day(end)
    days = pl.duration(days=1)
    summary = (
        _purchase_days(before, customer_column)
        .group_by(customer_column)
        .agg(
            (pl.len() - 1).cast(pl.Int64).alias("frequency"),
            ((pl.col("_day").max() - pl.col("_day").min()) / days).alias("_recency_days"),
            ((pl.lit(last_day) - pl.col("_day").min()) / days).alias("_age_days"),
            (pl.col("_value").sum() - pl.col("_value").sort_by("_day").first()).alias("_repeat_value"),
        )
        .select(
            customer_column,
            "frequency",
            (pl.col("_recency_days") / time_unit_days).alias("recency"),
            (pl.col("_age_days") / time_unit_days).alias("T"),
            pl.when(pl.col("frequency") > 0)
            .then(pl.col("_repeat_value") / pl.col("frequency"))
            .otherwise(0.0)
            .alias("monetary_value"),
        )
        .sort(customer_column)
    )
    if calibration_end is None:
        return summary

    holdout = (
        _purchase_days(frame.filter((pl.col("_at") >= end) & (pl.col("_at") < observation_end)), customer_column)
        .group_by(customer_column)
        .agg(pl.len().cast(pl.Int64).alias("holdout_purchases"), pl.col("_value").sum().alias("holdout_value"))
    )
    holdout_duration = (observation_end - end) / timedelta(days=time_unit_days)
    return summary.join(holdout, on=customer_column, how="left").with_columns(
        pl.col("holdout_purchases").fill_null(0),
        pl.col("holdout_value").fill_null(0.0),
        pl.lit(holdout_duration, dtype=pl.Float64).alias("holdout_duration"),
    )


# --------------------------------------------------------------------------------------------
# Input checks shared by the fits and the predictions
# --------------------------------------------------------------------------------------------


def _as_array(values: object, name: str) -> np.ndarray:
    if isinstance(values, pl.Series):
        values = values.to_numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return array


def _customer_arrays(frequency: object, recency: object, T: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, age = _as_array(frequency, "frequency"), _as_array(recency, "recency"), _as_array(T, "T")
    if not len(x) == len(t_x) == len(age):
        raise ValueError(f"frequency, recency and T differ in length: {len(x)}, {len(t_x)}, {len(age)}")
    if len(x) == 0:
        raise ValueError("no customers given")
    if (x < 0).any() or (x != np.round(x)).any():
        raise ValueError("frequency must be a non-negative whole number (repeat purchases)")
    if (t_x < 0).any() or (age < 0).any():
        raise ValueError("recency and T must be non-negative")
    tolerance = 1e-9 * np.maximum(age, 1.0)
    if (t_x > age + tolerance).any():
        raise ValueError("recency must not exceed T (the last purchase is within the customer's age)")
    if (t_x[x == 0] != 0).any():
        raise ValueError("recency must be 0 for customers with frequency 0")
    return x, t_x, np.maximum(age, t_x)


# --------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BgNbdFit:
    """Maximum likelihood BG/NBD parameters; alpha is in the time unit of the data it was fitted on."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int
    converged: bool
    iterations: int = 0

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


def _dot(left: np.ndarray, right: np.ndarray) -> float:
    """Sum of products without BLAS: a multithreaded BLAS dot leaves its threads spinning between
    calls, which on a small or busy machine slowed the whole fit three-fold."""
    return float(np.einsum("i,i->", left, right))


@dataclass(frozen=True)
class _GroupedCustomers:
    """The customers as distinct rows with counts (``weight``), in the pieces the likelihood needs.

    Terms that depend on x only are computed once per distinct frequency; customers without a
    repeat purchase only need their T; the rest are distinct (x, t_x, T) rows with x > 0.
    """

    x_values: np.ndarray  # distinct frequencies, 0 included when present
    x_weight: np.ndarray  # customers per distinct frequency
    zero_age: np.ndarray  # distinct T of the customers with x = 0
    zero_weight: np.ndarray
    x: np.ndarray  # distinct (x, t_x, T) rows with x > 0
    t_x: np.ndarray
    age: np.ndarray
    weight: np.ndarray
    repeat_values: np.ndarray  # distinct frequencies > 0
    repeat_index: np.ndarray  # row -> position in repeat_values


def _group_customers(x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> _GroupedCustomers:
    # Data measured in whole days repeat the same triple a lot (everyone with no repeat purchase
    # and the same first day is one row), so the likelihood works on far fewer rows.
    grouped = (
        pl.DataFrame({"x": x, "t_x": t_x, "age": age})
        # First-seen order: the same input gives the same sums, hence the same fit, every time.
        .group_by("x", "t_x", "age", maintain_order=True)
        .agg(pl.len().cast(pl.Float64).alias("weight"))
    )
    zero = grouped.filter(pl.col("x") == 0)
    repeat = grouped.filter(pl.col("x") > 0)
    per_x = grouped.group_by("x").agg(pl.col("weight").sum()).sort("x")
    repeat_x = repeat["x"].to_numpy()
    repeat_values, repeat_index = np.unique(repeat_x, return_inverse=True)
    return _GroupedCustomers(
        x_values=per_x["x"].to_numpy(),
        x_weight=per_x["weight"].to_numpy(),
        zero_age=zero["age"].to_numpy(),
        zero_weight=zero["weight"].to_numpy(),
        x=repeat_x,
        t_x=repeat["t_x"].to_numpy(),
        age=repeat["age"].to_numpy(),
        weight=repeat["weight"].to_numpy(),
        repeat_values=repeat_values,
        repeat_index=repeat_index,
    )


def _bgnbd_terms(params: np.ndarray, data: _GroupedCustomers, gradient: bool) -> tuple[float, np.ndarray | None]:
    """Total log-likelihood and its gradient with respect to (r, alpha, a, b).

    Per customer (Fader, Hardie and Lee 2005, eq. 6):

        L = B(a, b+x)/B(a, b) * Gamma(r+x) alpha^r / Gamma(r)
            * [ (alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x) ]

    With A3, A4 the logs of the bracket's two terms, log(e^A3 + e^A4) = A3 + softplus(A4 - A3);
    without a repeat purchase the bracket is its first term alone.
    """
    r, alpha, a, b = params
    xv, nx = data.x_values, data.x_weight
    # Terms that depend on x only: one evaluation per distinct frequency.
    per_x = special.gammaln(r + xv) - special.gammaln(r) + special.betaln(a, b + xv) - special.betaln(a, b)
    total = nx.sum()
    log_likelihood = _dot(nx, per_x) + total * r * math.log(alpha)

    # x = 0: the bracket is (alpha+T)^-r.
    zero_log_age = np.log(alpha + data.zero_age)
    log_likelihood -= r * _dot(data.zero_weight, zero_log_age)

    # x > 0: d = A4 - A3 = log(a / (b+x-1)) + (r+x) (log(alpha+T) - log(alpha+t_x)).
    w = data.weight
    c = r + data.x
    log_age = np.log(alpha + data.age)
    log_gap = log_age - np.log(alpha + data.t_x)
    log_odds = math.log(a) - np.log(b + data.repeat_values - 1.0)
    d = log_odds[data.repeat_index] + c * log_gap
    # softplus(d) = max(d, 0) + log1p(e^-|d|), and its derivative expit(d) from the same e^-|d|
    # (np.logaddexp and special.expit cost several times more).
    small = np.exp(-np.abs(d))
    log_likelihood += _dot(w, np.maximum(d, 0.0) + np.log1p(small) - c * log_age)
    if not gradient:
        return float(log_likelihood), None

    inverse = 1.0 / (1.0 + small)
    share = np.where(d >= 0.0, inverse, small * inverse)  # weight of the "dropped out right after t_x" term
    weighted_share = w * share
    psi_abx = special.digamma(a + b + xv)
    grad_r = (
        _dot(nx, special.digamma(r + xv) - special.digamma(r))
        + total * math.log(alpha)
        - _dot(data.zero_weight, zero_log_age)
        + _dot(w, share * log_gap - log_age)
    )
    grad_alpha = (
        total * r / alpha
        - r * _dot(data.zero_weight, 1.0 / (alpha + data.zero_age))
        - _dot(w, c * ((1.0 - share) / (alpha + data.age) + share / (alpha + data.t_x)))
    )
    grad_a = _dot(nx, special.digamma(a + b) - psi_abx) + weighted_share.sum() / a
    share_per_x = np.bincount(data.repeat_index, weights=weighted_share, minlength=len(data.repeat_values))
    grad_b = _dot(nx, special.digamma(b + xv) - psi_abx - special.digamma(b) + special.digamma(a + b)) - _dot(
        share_per_x, 1.0 / (b + data.repeat_values - 1.0)
    )
    return float(log_likelihood), np.array([grad_r, grad_alpha, grad_a, grad_b])


def _maximise(
    objective: object, data: object, initial: np.ndarray, total_weight: float
) -> tuple[np.ndarray, float, bool, int]:
    """L-BFGS-B on log-parameters; the objective is the mean negative log-likelihood (well scaled)."""

    def negative(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        value, grad = objective(params, data, True)
        # d/d log(theta) = theta * d/d theta
        return -value / total_weight, -(grad * params) / total_weight

    result = optimize.minimize(
        negative,
        np.log(initial),
        jac=True,
        method="L-BFGS-B",
        bounds=[_LOG_PARAMETER_BOUNDS] * len(initial),
        options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-8},
    )
    params = np.exp(result.x)
    value, grad = objective(params, data, True)
    # L-BFGS-B may stop on a line search that cannot improve the last digits; that is still the
    # optimum when the gradient (per customer, on the log scale) is negligible.
    converged = bool(result.success) or bool(np.max(np.abs(grad * params)) / total_weight < 1e-5)
    return params, value, converged, int(result.nit)


def fit_bgnbd(frequency: object, recency: object, T: object) -> BgNbdFit:
    """Maximum likelihood BG/NBD fit on per-customer (frequency, recency, T), from ``rfm_summary``.

    Needs at least one customer with a repeat purchase (otherwise a and b, the drop-out
    parameters, are not identified).
    """
    x, t_x, age = _customer_arrays(frequency, recency, T)
    if not (x > 0).any():
        raise ValueError("BG/NBD needs at least one customer with a repeat purchase (frequency > 0)")
    if not (age > 0).any():
        raise ValueError("BG/NBD needs at least one customer observed for some time (T > 0)")
    data = _group_customers(x, t_x, age)
    # Start from a rate matching the average purchase rate; the drop-out prior starts flat-ish.
    mean_rate = max(float(x.mean()) / max(float(age.mean()), 1e-9), 1e-6)
    initial = np.array([1.0, 1.0 / mean_rate, 1.0, 1.0])
    params, log_likelihood, converged, iterations = _maximise(_bgnbd_terms, data, initial, float(len(x)))
    r, alpha, a, b = (float(value) for value in params)
    return BgNbdFit(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=log_likelihood,
        n_customers=len(x),
        converged=converged,
        iterations=iterations,
    )


def _log_alive_odds(fit: BgNbdFit, x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> np.ndarray:
    """log of P(dead)/P(alive) = log(a/(b+x-1)) + (r+x) log((alpha+T)/(alpha+t_x)); -inf when x = 0."""
    has_repeat = x > 0
    odds = np.full(x.shape, -np.inf)
    b_x = np.where(has_repeat, fit.b + x - 1.0, 1.0)
    odds[has_repeat] = (
        math.log(fit.a)
        - np.log(b_x[has_repeat])
        + (fit.r + x[has_repeat]) * (np.log(fit.alpha + age[has_repeat]) - np.log(fit.alpha + t_x[has_repeat]))
    )
    return odds


def probability_alive(fit: BgNbdFit, frequency: object, recency: object, T: object) -> np.ndarray:
    """P(still a customer at T | x, t_x, T) = 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).

    It is exactly 1 for customers without a repeat purchase (BG/NBD lets a customer drop out only
    right after a repeat purchase), so it must not be used alone as a churn score.
    """
    x, t_x, age = _customer_arrays(frequency, recency, T)
    return special.expit(-_log_alive_odds(fit, x, t_x, age))


def _hyp2f1(a: float, b: float, c: np.ndarray, z: np.ndarray, max_terms: int = 200_000) -> np.ndarray:
    """Gauss's 2F1 for 0 <= z < 1: scipy's, and where it gives up (NaN, which it does for some
    integer parameter combinations near z = 1) the power series, summed until its terms are
    negligible."""
    values = special.hyp2f1(a, b, c, z)
    failed = ~np.isfinite(values)
    if not failed.any():
        return values
    c_failed, z_failed = c[failed], z[failed]
    term = np.ones_like(z_failed)
    total = np.ones_like(z_failed)
    for n in range(max_terms):
        term *= (a + n) * (b + n) / ((c_failed + n) * (n + 1)) * z_failed
        total += term
        if n > 10 and (np.abs(term) <= 1e-17 * np.abs(total)).all():
            break
    else:
        raise FloatingPointError("the hypergeometric series of the BG/NBD expectation did not converge")
    values[failed] = total
    return values


def _purchases_if_alive(fit: BgNbdFit, t: float, ux: np.ndarray, uage: np.ndarray) -> np.ndarray:
    """Expected purchases in (T, T+t] for a customer alive at T (the numerator of FHL eq. 10):

        (a+b+x-1)/(a-1) * [1 - (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z)],   z = t / (alpha+T+t)

    As written, 2F1 overflows for frequent buyers (its parameters grow with x while the factor
    (1-z)^(r+x) vanishes). Euler's transformation 2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)
    turns the product into (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose only large
    parameter is C, where it helps convergence. Called on distinct (x, T) pairs.
    """
    if t == 0:
        return np.zeros(ux.shape)

    def at(a: float) -> np.ndarray:
        r, alpha, b = fit.r, fit.alpha, fit.b
        z = t / (alpha + uage + t)
        log_survival = np.log(alpha + uage) - np.log(alpha + uage + t)  # log(1 - z), exact for small z
        bracket = 1.0 - np.exp((a - 1.0) * log_survival) * _hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + ux - 1.0, z)
        return (a + b + ux - 1.0) / (a - 1.0) * bracket

    if abs(fit.a - 1.0) < _NEAR_ONE:
        # 0/0 at a = 1, and cancellation close to it: interpolate between a = 1 -/+ _NEAR_ONE
        # (the expectation is smooth in a; the interpolation error is of order _NEAR_ONE^2).
        below, above = at(1.0 - _NEAR_ONE), at(1.0 + _NEAR_ONE)
        values = below + (fit.a - 1.0 + _NEAR_ONE) / (2 * _NEAR_ONE) * (above - below)
    else:
        values = at(fit.a)
    if not np.isfinite(values).all():
        raise FloatingPointError("the BG/NBD expectation is not finite (hyp2f1); check the fit and the horizon")
    return values


def _distinct_pairs(x: np.ndarray, age: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (x, T) pairs and, per customer, the position of theirs: the expectation depends on
    (x, T) only, and customers measured in whole days share them a lot."""
    pairs = pl.DataFrame({"x": x, "age": age})
    distinct = pairs.unique(maintain_order=True).with_row_index("position")
    position = pairs.join(distinct, on=["x", "age"], how="left", maintain_order="left")["position"].to_numpy()
    return distinct["x"].to_numpy(), distinct["age"].to_numpy(), position


def expected_purchases(fit: BgNbdFit, t: float, frequency: object, recency: object, T: object) -> np.ndarray:
    """E[purchases in the next t time units | x, t_x, T] (Fader, Hardie and Lee 2005, eq. 10):
    the expected purchases of a customer alive at T, times P(alive)."""
    if not (np.isfinite(t) and t >= 0):
        raise ValueError(f"t must be a non-negative number of time units, got {t}")
    x, t_x, age = _customer_arrays(frequency, recency, T)
    ux, uage, position = _distinct_pairs(x, age)
    return _purchases_if_alive(fit, float(t), ux, uage)[position] * special.expit(-_log_alive_odds(fit, x, t_x, age))


# --------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GammaGammaFit:
    """Maximum likelihood Gamma-Gamma parameters, fitted on customers with repeat purchases.

    ``frequency_spend_correlation`` (Pearson, on those customers) checks the model's assumption
    that spend does not depend on frequency: it should be near 0.
    """

    p: float
    q: float
    v: float
    log_likelihood: float
    n_customers: int
    converged: bool
    frequency_spend_correlation: float = float("nan")

    def as_dict(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "v": self.v}


@dataclass(frozen=True)
class _SpendData:
    """Repeat buyers' frequency x and total repeat spend x m; terms in x alone are kept per distinct x."""

    x: np.ndarray
    total: np.ndarray  # x m: the sum of the customer's repeat purchases
    x_values: np.ndarray
    x_count: np.ndarray
    sum_log_spend: float  # sum of ln m
    sum_x_log_spend: float  # sum of x ln m

    @classmethod
    def of(cls, x: np.ndarray, spend: np.ndarray) -> _SpendData:
        x_values, x_count = np.unique(x, return_counts=True)
        log_spend = np.log(spend)
        return cls(
            x=x,
            total=x * spend,
            x_values=x_values,
            x_count=x_count.astype(np.float64),
            sum_log_spend=float(log_spend.sum()),
            sum_x_log_spend=float(_dot(x, log_spend)),
        )


def _gamma_gamma_terms(params: np.ndarray, data: _SpendData, gradient: bool) -> tuple[float, np.ndarray | None]:
    """Total log-likelihood of the mean spend m of x purchases and its gradient in (p, q, v):

    log f(m | x) = lnG(px+q) - lnG(px) - lnG(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(v + x m)

    (Fader, Hardie and Lee 2005, "RFM and CLV"; Fader and Hardie 2013). Per customer only ln(v + x m) and
    1 / (v + x m) change with the parameters; the sums over customers are rearranged so each
    is one pass over the data.
    """
    p, q, v = params
    xv, nx = data.x_values, data.x_count
    pxv = p * xv
    n = nx.sum()
    pool = v + data.total
    log_pool = np.log(pool)
    x_log_pool, sum_log_pool = _dot(data.x, log_pool), log_pool.sum()
    log_likelihood = (
        _dot(nx, special.gammaln(pxv + q) - special.gammaln(pxv) + pxv * np.log(xv))
        + n * (q * math.log(v) - special.gammaln(q))
        + p * data.sum_x_log_spend
        - data.sum_log_spend
        - p * x_log_pool
        - q * sum_log_pool
    )
    if not gradient:
        return float(log_likelihood), None
    inverse_pool = 1.0 / pool
    psi_pxq = special.digamma(pxv + q)
    grad_p = _dot(nx * xv, psi_pxq - special.digamma(pxv) + np.log(xv)) + data.sum_x_log_spend - x_log_pool
    grad_q = _dot(nx, psi_pxq) + n * (math.log(v) - special.digamma(q)) - sum_log_pool
    grad_v = n * q / v - p * _dot(data.x, inverse_pool) - q * inverse_pool.sum()
    return float(log_likelihood), np.array([grad_p, grad_q, grad_v])


def fit_gamma_gamma(frequency: object, monetary_value: object) -> GammaGammaFit:
    """Maximum likelihood Gamma-Gamma fit on the customers with frequency > 0 (others are ignored).

    Their monetary values (mean spend per repeat purchase) must be positive.
    """
    x, spend = _as_array(frequency, "frequency"), _as_array(monetary_value, "monetary_value")
    if len(x) != len(spend):
        raise ValueError(f"frequency and monetary_value differ in length: {len(x)}, {len(spend)}")
    if (x < 0).any():
        raise ValueError("frequency must be non-negative")
    repeat = x > 0
    x, spend = x[repeat], spend[repeat]
    if len(x) < _MIN_REPEAT_BUYERS_GAMMA_GAMMA:
        raise ValueError(
            f"Gamma-Gamma needs at least {_MIN_REPEAT_BUYERS_GAMMA_GAMMA} customers with repeat purchases, got {len(x)}"
        )
    if (spend <= 0).any():
        raise ValueError(
            f"monetary_value must be positive for customers with repeat purchases ({int((spend <= 0).sum())} are not)"
        )
    data = _SpendData.of(x, spend)
    # Start at p = 1, q = 2 and v matching the observed mean spend (E[spend] = p v / (q - 1)).
    initial = np.array([1.0, 2.0, float(spend.mean())])
    params, log_likelihood, converged, _ = _maximise(_gamma_gamma_terms, data, initial, float(len(x)))
    correlation = float(np.corrcoef(x, spend)[0, 1]) if np.ptp(x) > 0 and np.ptp(spend) > 0 else float("nan")
    p, q, v = (float(value) for value in params)
    return GammaGammaFit(
        p=p,
        q=q,
        v=v,
        log_likelihood=log_likelihood,
        n_customers=len(x),
        converged=converged,
        frequency_spend_correlation=correlation,
    )


def expected_average_spend(fit: GammaGammaFit, frequency: object, monetary_value: object) -> np.ndarray:
    """E[spend per purchase | x, m] = p (v + x m) / (p x + q - 1): a weighted average of the
    population mean p v / (q - 1) and the customer's own mean m, which weighs more as x grows.
    Customers without repeat purchases get the population mean."""
    x, spend = _as_array(frequency, "frequency"), _as_array(monetary_value, "monetary_value")
    if len(x) != len(spend):
        raise ValueError(f"frequency and monetary_value differ in length: {len(x)}, {len(spend)}")
    if (x < 0).any():
        raise ValueError("frequency must be non-negative")
    if fit.q <= 1:
        raise ValueError(f"the Gamma-Gamma fit has q = {fit.q:.3f} <= 1: mean spend is infinite under it")
    spend = np.where(x > 0, spend, 0.0)
    return fit.p * (fit.v + x * spend) / (fit.p * x + fit.q - 1.0)


# --------------------------------------------------------------------------------------------
# Lifetime value
# --------------------------------------------------------------------------------------------


def customer_lifetime_value(
    bgnbd: BgNbdFit,
    gamma_gamma: GammaGammaFit,
    frequency: object,
    recency: object,
    T: object,
    monetary_value: object,
    horizon_months: float = 12.0,
    monthly_discount_rate: float = 0.01,
    time_unit_days: float = DEFAULT_TIME_UNIT_DAYS,
) -> np.ndarray:
    """Discounted expected spend over the next ``horizon_months`` months:

        CLV = sum_{k=1..K} (E[Y(t_k)] - E[Y(t_{k-1})]) * E[M] / (1 + d)^(t_k)

    with t_k = k months (a month is 365.25/12 days, converted to the fits' time unit), the last
    step ending at the horizon (so a fractional horizon gets a shorter last step), E[Y(t)] the
    conditional expected purchases in the next t (``expected_purchases``), E[M] the expected
    spend per purchase (``expected_average_spend``) and d the monthly discount rate. Purchases
    of a month are discounted as if paid at its end.
    """
    if not (np.isfinite(horizon_months) and horizon_months >= 0):
        raise ValueError(f"horizon_months must be a non-negative number, got {horizon_months}")
    if not (np.isfinite(monthly_discount_rate) and monthly_discount_rate > -1):
        raise ValueError(f"monthly_discount_rate must be above -1, got {monthly_discount_rate}")
    if not time_unit_days > 0:
        raise ValueError(f"time_unit_days must be positive, got {time_unit_days}")
    x, t_x, age = _customer_arrays(frequency, recency, T)
    spend = expected_average_spend(gamma_gamma, x, monetary_value)
    alive = special.expit(-_log_alive_odds(bgnbd, x, t_x, age))
    month = DAYS_PER_MONTH / time_unit_days
    ends = [float(k) for k in range(1, math.ceil(horizon_months))] + ([float(horizon_months)] if horizon_months else [])
    ux, uage, position = _distinct_pairs(x, age)
    value = np.zeros(len(ux))
    previous = np.zeros(len(ux))
    for end in ends:
        cumulative = _purchases_if_alive(bgnbd, end * month, ux, uage)
        value += (cumulative - previous) / (1.0 + monthly_discount_rate) ** end
        previous = cumulative
    return value[position] * alive * spend


# --------------------------------------------------------------------------------------------
# Scoring and evaluation
# --------------------------------------------------------------------------------------------


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
        summary, _naive_utc(observation_end, "observation_end"), time_unit_days, horizon_days, monthly_discount_rate
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
    calibration_end = _naive_utc(calibration_end, "calibration_end")
    holdout_end = _naive_utc(holdout_end, "holdout_end")
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

    # Baseline: what each customer spent per time unit since their first purchase, carried on.
    history = (
        _prepare_transactions(transactions, customer_column, time_column, value_column)
        .filter(pl.col("_at") < calibration_end)
        .group_by(customer_column)
        .agg(
            pl.col("_value").sum().alias("_spent"),
            ((pl.lit(calibration_end) - pl.col("_at").min()) / pl.duration(days=1)).alias("_exposure_days"),
        )
    )
    holdout_units = holdout_days / time_unit_days
    scored = scored.join(history, on=customer_column, how="left").with_columns(
        (pl.col("_spent") / pl.col("_exposure_days") * holdout_days).alias("baseline_spend"),
        pl.when(pl.col("T") > 0)
        .then(pl.col("frequency") / pl.col("T") * holdout_units)
        .otherwise(0.0)
        .alias("baseline_purchases"),
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
