"""Gamma-Gamma: how much a customer spends per purchase, pulled towards the population mean."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from models_ml.clv.bgnbd import dot, maximise
from models_ml.clv.transactions import MIN_REPEAT_BUYERS_GAMMA_GAMMA, as_array


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
            sum_x_log_spend=float(dot(x, log_spend)),
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
    x_log_pool, sum_log_pool = dot(data.x, log_pool), log_pool.sum()
    log_likelihood = (
        dot(nx, special.gammaln(pxv + q) - special.gammaln(pxv) + pxv * np.log(xv))
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
    grad_p = dot(nx * xv, psi_pxq - special.digamma(pxv) + np.log(xv)) + data.sum_x_log_spend - x_log_pool
    grad_q = dot(nx, psi_pxq) + n * (math.log(v) - special.digamma(q)) - sum_log_pool
    grad_v = n * q / v - p * dot(data.x, inverse_pool) - q * inverse_pool.sum()
    return float(log_likelihood), np.array([grad_p, grad_q, grad_v])


def fit_gamma_gamma(frequency: object, monetary_value: object) -> GammaGammaFit:
    """Maximum likelihood Gamma-Gamma fit on the customers with frequency > 0 (others are ignored).

    Their monetary values (mean spend per repeat purchase) must be positive.
    """
    x, spend = as_array(frequency, "frequency"), as_array(monetary_value, "monetary_value")
    if len(x) != len(spend):
        raise ValueError(f"frequency and monetary_value differ in length: {len(x)}, {len(spend)}")
    if (x < 0).any():
        raise ValueError("frequency must be non-negative")
    repeat = x > 0
    x, spend = x[repeat], spend[repeat]
    if len(x) < MIN_REPEAT_BUYERS_GAMMA_GAMMA:
        raise ValueError(
            f"Gamma-Gamma needs at least {MIN_REPEAT_BUYERS_GAMMA_GAMMA} customers with repeat purchases, got {len(x)}"
        )
    if (spend <= 0).any():
        raise ValueError(
            f"monetary_value must be positive for customers with repeat purchases ({int((spend <= 0).sum())} are not)"
        )
    data = _SpendData.of(x, spend)
    # Start at p = 1, q = 2 and v matching the observed mean spend (E[spend] = p v / (q - 1)).
    initial = np.array([1.0, 2.0, float(spend.mean())])
    params, log_likelihood, converged, _ = maximise(_gamma_gamma_terms, data, initial, float(len(x)))
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
    x, spend = as_array(frequency, "frequency"), as_array(monetary_value, "monetary_value")
    if len(x) != len(spend):
        raise ValueError(f"frequency and monetary_value differ in length: {len(x)}, {len(spend)}")
    if (x < 0).any():
        raise ValueError("frequency must be non-negative")
    if fit.q <= 1:
        raise ValueError(f"the Gamma-Gamma fit has q = {fit.q:.3f} <= 1: mean spend is infinite under it")
    spend = np.where(x > 0, spend, 0.0)
    return fit.p * (fit.v + x * spend) / (fit.p * x + fit.q - 1.0)
