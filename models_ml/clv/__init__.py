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

from models_ml.clv.bgnbd import (
    BgNbdFit,
    expected_purchases,
    fit_bgnbd,
    probability_alive,
)
from models_ml.clv.gamma_gamma import GammaGammaFit, expected_average_spend, fit_gamma_gamma
from models_ml.clv.scoring import ClvEvaluation, ClvModel, evaluate_clv, score_clv
from models_ml.clv.transactions import (
    DAYS_PER_MONTH,
    DEFAULT_TIME_UNIT_DAYS,
    MODEL_FAMILY,
    MODEL_NAME,
    SCORE_COLUMNS,
    SUMMARY_COLUMNS,
    rfm_summary,
)
from models_ml.clv.value import customer_lifetime_value

__all__ = [
    "BgNbdFit",
    "ClvEvaluation",
    "ClvModel",
    "DAYS_PER_MONTH",
    "DEFAULT_TIME_UNIT_DAYS",
    "GammaGammaFit",
    "MODEL_FAMILY",
    "MODEL_NAME",
    "SCORE_COLUMNS",
    "SUMMARY_COLUMNS",
    "customer_lifetime_value",
    "evaluate_clv",
    "expected_average_spend",
    "expected_purchases",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "probability_alive",
    "rfm_summary",
    "score_clv",
]
