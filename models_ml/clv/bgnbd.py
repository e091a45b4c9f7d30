"""BG/NBD: how often a customer buys while alive, and the chance they still are (fit, P(alive), expected purchases)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import optimize, special

from models_ml.clv.transactions import LOG_PARAMETER_BOUNDS, NEAR_ONE, customer_arrays


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


def dot(left: np.ndarray, right: np.ndarray) -> float:
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
    log_likelihood = dot(nx, per_x) + total * r * math.log(alpha)

    # x = 0: the bracket is (alpha+T)^-r.
    zero_log_age = np.log(alpha + data.zero_age)
    log_likelihood -= r * dot(data.zero_weight, zero_log_age)

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
    log_likelihood += dot(w, np.maximum(d, 0.0) + np.log1p(small) - c * log_age)
    if not gradient:
        return float(log_likelihood), None

    inverse = 1.0 / (1.0 + small)
    share = np.where(d >= 0.0, inverse, small * inverse)  # weight of the "dropped out right after t_x" term
    weighted_share = w * share
    psi_abx = special.digamma(a + b + xv)
    grad_r = (
        dot(nx, special.digamma(r + xv) - special.digamma(r))
        + total * math.log(alpha)
        - dot(data.zero_weight, zero_log_age)
        + dot(w, share * log_gap - log_age)
    )
    grad_alpha = (
        total * r / alpha
        - r * dot(data.zero_weight, 1.0 / (alpha + data.zero_age))
        - dot(w, c * ((1.0 - share) / (alpha + data.age) + share / (alpha + data.t_x)))
    )
    grad_a = dot(nx, special.digamma(a + b) - psi_abx) + weighted_share.sum() / a
    share_per_x = np.bincount(data.repeat_index, weights=weighted_share, minlength=len(data.repeat_values))
    grad_b = dot(nx, special.digamma(b + xv) - psi_abx - special.digamma(b) + special.digamma(a + b)) - dot(
        share_per_x, 1.0 / (b + data.repeat_values - 1.0)
    )
    return float(log_likelihood), np.array([grad_r, grad_alpha, grad_a, grad_b])


def maximise(
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
        bounds=[LOG_PARAMETER_BOUNDS] * len(initial),
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
    x, t_x, age = customer_arrays(frequency, recency, T)
    if not (x > 0).any():
        raise ValueError("BG/NBD needs at least one customer with a repeat purchase (frequency > 0)")
    if not (age > 0).any():
        raise ValueError("BG/NBD needs at least one customer observed for some time (T > 0)")
    data = _group_customers(x, t_x, age)
    # Start from a rate matching the average purchase rate; the drop-out prior starts flat-ish.
    mean_rate = max(float(x.mean()) / max(float(age.mean()), 1e-9), 1e-6)
    initial = np.array([1.0, 1.0 / mean_rate, 1.0, 1.0])
    params, log_likelihood, converged, iterations = maximise(_bgnbd_terms, data, initial, float(len(x)))
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


def log_alive_odds(fit: BgNbdFit, x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> np.ndarray:
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
    x, t_x, age = customer_arrays(frequency, recency, T)
    return special.expit(-log_alive_odds(fit, x, t_x, age))


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


def purchases_if_alive(fit: BgNbdFit, t: float, ux: np.ndarray, uage: np.ndarray) -> np.ndarray:
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

    if abs(fit.a - 1.0) < NEAR_ONE:
        # 0/0 at a = 1, and cancellation close to it: interpolate between a = 1 -/+ NEAR_ONE
        # (the expectation is smooth in a; the interpolation error is of order NEAR_ONE^2).
        below, above = at(1.0 - NEAR_ONE), at(1.0 + NEAR_ONE)
        values = below + (fit.a - 1.0 + NEAR_ONE) / (2 * NEAR_ONE) * (above - below)
    else:
        values = at(fit.a)
    if not np.isfinite(values).all():
        raise FloatingPointError("the BG/NBD expectation is not finite (hyp2f1); check the fit and the horizon")
    return values


def distinct_pairs(x: np.ndarray, age: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    x, t_x, age = customer_arrays(frequency, recency, T)
    ux, uage, position = distinct_pairs(x, age)
    return purchases_if_alive(fit, float(t), ux, uage)[position] * special.expit(-log_alive_odds(fit, x, t_x, age))
