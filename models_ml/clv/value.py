"""Customer lifetime value: expected purchases times expected spend, discounted."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from models_ml.clv.bgnbd import BgNbdFit, distinct_pairs, log_alive_odds, purchases_if_alive
from models_ml.clv.gamma_gamma import GammaGammaFit, expected_average_spend
from models_ml.clv.transactions import DAYS_PER_MONTH, DEFAULT_TIME_UNIT_DAYS, customer_arrays


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
    x, t_x, age = customer_arrays(frequency, recency, T)
    spend = expected_average_spend(gamma_gamma, x, monetary_value)
    alive = special.expit(-log_alive_odds(bgnbd, x, t_x, age))
    month = DAYS_PER_MONTH / time_unit_days
    ends = [float(k) for k in range(1, math.ceil(horizon_months))] + ([float(horizon_months)] if horizon_months else [])
    ux, uage, position = distinct_pairs(x, age)
    value = np.zeros(len(ux))
    previous = np.zeros(len(ux))
    for end in ends:
        cumulative = purchases_if_alive(bgnbd, end * month, ux, uage)
        value += (cumulative - previous) / (1.0 + monthly_discount_rate) ** end
        previous = cumulative
    return value[position] * alive * spend
