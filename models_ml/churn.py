"""Churn risk: the probability that a customer places no order within the horizon, with reasons.

Only customers who can churn are scored: those with a revenue-generating order, the last one at
most LAPSED_AFTER_HORIZONS horizons ago (``features.churn_status``). Prospects (no order yet) and
lapsed customers (gone for longer) get that status and no probability, in scoring and in training
alike, so that the share of "high risk" customers is a share of accounts still worth keeping.

Honest by construction: the model is trained at one cutoff and measured at a later one (a
temporal backtest), side by side with the simplest baseline, "days since last order". The
model that scores today is refitted at the latest cutoff whose labels are fully known.

The model is a logistic regression on standardised features, so every score splits exactly
into one contribution per feature: the three largest become the reasons an account manager
reads ("no order for 143 days", "rarely opens emails"); only factors that raise the risk are
reasons. Its probabilities are calibrated with a sigmoid (Platt scaling) on cross-validated
predictions, so that "0.7" means about 70 of 100 such customers do not come back. A sigmoid rather
than isotonic regression: isotonic steps put whole groups of customers at exactly 0 or 1, which no
customer is.

Besides the behavioural features, the model reads the purchases the BG/NBD model (``models_ml.clv``)
expects over the horizon, fitted on the orders before the same cutoff: on pure purchase logs it
separates a regular buyer in a normal gap from one who stopped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from models_ml import clv
from models_ml.features import (
    CHURN_STATUS_ACTIVE,
    FEATURE_COLUMNS,
    LAPSED_AFTER_HORIZONS,
    CustomerActivity,
    churn_labels,
    churn_status,
    customer_features,
    lapsed_after_days,
)

logger = logging.getLogger(__name__)

MODEL_NAME = "churn"
MODEL_FAMILY = "calibrated_logistic_v3"
DEFAULT_HORIZON_DAYS = 90
RISK_BANDS = ((0.6, "high"), (0.3, "medium"), (0.0, "low"))
REASON_COUNT = 3
MINIMUM_ROC_AUC = 0.55  # below this a ranking is too close to chance to act on
DECILES = 10  # lift and calibration are measured on ten equal groups of customers ranked by risk
# A probability is never certain: calibrated scores are kept this far from 0 and 1.
PROBABILITY_MARGIN = 0.001
STANDARD_SCORE_LIMIT = 5.0  # standardised features are clipped to +/- this many standard deviations

# The BG/NBD expectation of each customer's purchase days within the horizon (see module docstring).
EXPECTED_ORDERS_FEATURE = "expected_orders_in_horizon"
CHURN_FEATURE_COLUMNS = (*FEATURE_COLUMNS, EXPECTED_ORDERS_FEATURE)

# Counts, money and durations are heavily skewed: the model sees log1p of them. Rates, flags
# and sentiment are already on a small scale and may be negative: they are used as they are.
LOG_FEATURES = frozenset(
    {
        "days_since_last_order",
        "order_count",
        "revenue_usd",
        "average_order_value_usd",
        "tenure_days",
        "orders_last_90_days",
        "order_trend",
        "emails_delivered_last_90_days",
        "email_clicks_last_90_days",
        "tickets_last_180_days",
        "negative_feedback_last_180_days",
        EXPECTED_ORDERS_FEATURE,
    }
)

# How each feature reads as a reason, when it pushes the risk up: (text when the customer's value
# is high, text when it is low); {value} is the customer's own value, {horizon} the horizon in days.
# A feature pushes the risk up when its standardised value and its coefficient share a sign. Only
# directions that can explain a risk have a text; the other is None and never becomes a reason, even
# when the model's coefficient points that way (correlated features can give "high total spend" a
# positive weight next to the order count): a protective factor is no reason to call a customer.
REASON_TEXTS: dict[str, tuple[str | None, str | None]] = {
    "days_since_last_order": ("no order for {value:.0f} days", None),
    "order_count": (None, "few orders so far: {value:.0f}"),
    "revenue_usd": (None, "low total spend (${value:,.0f})"),
    "average_order_value_usd": (None, "small orders on average (${value:,.0f})"),
    "tenure_days": (None, "new customer ({value:.0f} days)"),
    "orders_last_90_days": (None, "orders in the last 90 days: {value:.0f}"),
    "order_trend": (None, "ordering less than the quarter before"),
    "emails_delivered_last_90_days": ("many emails received lately", "few emails received lately"),
    "email_open_rate_last_90_days": (None, "rarely opens emails ({value:.0%} opened)"),
    "email_clicks_last_90_days": (None, "few email clicks in the last 90 days"),
    "has_unsubscribed": ("unsubscribed from emails", None),
    "tickets_last_180_days": ("support tickets in the last 6 months: {value:.0f}", None),
    "average_satisfaction_score": (None, "low satisfaction scores ({value:.1f} of 5)"),
    "has_satisfaction_score": (None, "never answered a satisfaction survey"),
    "feedback_sentiment_last_365_days": (None, "negative comments in feedback ({value:+.2f})"),
    "negative_feedback_last_180_days": ("negative comments in the last 6 months: {value:.0f}", None),
    EXPECTED_ORDERS_FEATURE: (None, "few orders expected from their buying pattern: {value:.1f} in {horizon} days"),
}

# A value filled in for a missing measurement is no reason to call a customer: the neutral 3.0 of
# one who never answered a survey, the open rate and clicks of one who was sent no email lately.
# feature -> the feature that is positive when it was measured.
REASON_ONLY_WHEN_MEASURED: dict[str, str] = {
    "average_satisfaction_score": "has_satisfaction_score",
    "email_open_rate_last_90_days": "emails_delivered_last_90_days",
    "email_clicks_last_90_days": "emails_delivered_last_90_days",
}


@dataclass
class ChurnModel:
    """The fitted model: calibrated probabilities, and the logistic regression that explains them."""

    calibrated: CalibratedClassifierCV
    explainer: Pipeline  # scaler + logistic regression fitted on the same data
    horizon_days: int = DEFAULT_HORIZON_DAYS
    # The BG/NBD fit behind the expected-orders feature, made at the training cutoff (None: no fit).
    purchase_model: clv.BgNbdFit | None = None

    def probabilities(self, features: pl.DataFrame) -> np.ndarray:
        probabilities = self.calibrated.predict_proba(feature_matrix(features))[:, 1]
        return np.clip(probabilities, PROBABILITY_MARGIN, 1 - PROBABILITY_MARGIN)

    def contributions(self, features: pl.DataFrame) -> np.ndarray:
        """Each feature's share of each customer's log-odds, relative to an average customer."""
        scaled = self.explainer.named_steps["scale"].transform(feature_matrix(features))
        limited = self.explainer.named_steps["limit"].transform(scaled)
        return limited * self.explainer.named_steps["model"].coef_[0]

    def importance(self) -> pl.DataFrame:
        """feature, coefficient (on the standardised, transformed feature), importance (|coefficient|), rank."""
        coefficients = self.explainer.named_steps["model"].coef_[0]
        return (
            pl.DataFrame({"feature": list(CHURN_FEATURE_COLUMNS), "coefficient": coefficients})
            .with_columns(pl.col("coefficient").abs().alias("importance"))
            .sort("importance", descending=True)
            .with_row_index("rank", offset=1)
        )


@dataclass
class ChurnTrainingResult:
    model: ChurnModel
    model_version: str
    training_cutoff: datetime
    backtest_cutoff: datetime
    horizon_days: int
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    training_rows: int
    parameters: dict[str, object] = field(default_factory=dict)

    @property
    def beats_baseline(self) -> bool:
        """Better than "days since last order" on the backtest, and clearly better than a coin:
        on data without signal both hover around 0.5 and either may win by chance."""
        return self.metrics["roc_auc"] > self.baseline_metrics["roc_auc"] and self.metrics["roc_auc"] >= MINIMUM_ROC_AUC


def feature_matrix(frame: pl.DataFrame) -> np.ndarray:
    return frame.select(
        pl.col(name).clip(lower_bound=0).log1p() if name in LOG_FEATURES else pl.col(name)
        for name in CHURN_FEATURE_COLUMNS
    ).to_numpy()


def fit_purchase_model(orders: pl.DataFrame, cutoff: datetime) -> clv.BgNbdFit | None:
    """BG/NBD fitted on the orders before ``cutoff``, or None when they cannot support a fit (no
    repeat purchase at all): the expected-orders feature is then 0 for everyone and carries no weight.

    Fitted once, at the cutoff the churn model is trained at, and kept with the model: later
    cutoffs apply the same fit, as they apply the same scaler. A refit at every cutoff would give
    the feature another meaning each time (on a short history a fit can degenerate to one purchase
    rate for everyone, a constant that standardising turns into noise)."""
    history = orders.filter(pl.col("ordered_at") < cutoff)
    if history.is_empty():
        return None
    summary = clv.rfm_summary(_purchases(history), cutoff)
    try:
        fit = clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
        if not all(np.isfinite([fit.r, fit.alpha, fit.a, fit.b])):
            return None
        # A fit whose expectation cannot be evaluated on its own customers (hyp2f1 diverging for
        # extreme parameters, e.g. on a few months of history) would fail every scoring run.
        clv.expected_purchases(
            fit,
            DEFAULT_HORIZON_DAYS / clv.DEFAULT_TIME_UNIT_DAYS,
            summary["frequency"],
            summary["recency"],
            summary["T"],
        )
    except (ValueError, FloatingPointError):
        return None
    return fit


def _purchases(orders: pl.DataFrame) -> pl.DataFrame:
    # The BG/NBD counts purchase days; an order without a known amount is still a purchase.
    return orders.select("customer_id", "ordered_at", pl.col("revenue_usd").cast(pl.Float64).fill_null(0.0))


def expected_orders(
    orders: pl.DataFrame, cutoff: datetime, horizon_days: int, purchase_model: clv.BgNbdFit | None
) -> pl.DataFrame:
    """customer_id, expected_orders_in_horizon: the purchase days ``purchase_model`` expects of each
    customer with an order before ``cutoff`` in [cutoff, cutoff + horizon), from those orders only."""
    empty = pl.DataFrame(schema={"customer_id": orders.schema["customer_id"], EXPECTED_ORDERS_FEATURE: pl.Float64})
    history = orders.filter(pl.col("ordered_at") < cutoff)
    if purchase_model is None or history.is_empty():
        return empty
    summary = clv.rfm_summary(_purchases(history), cutoff)
    try:
        expected = clv.expected_purchases(
            purchase_model,
            horizon_days / clv.DEFAULT_TIME_UNIT_DAYS,
            summary["frequency"],
            summary["recency"],
            summary["T"],
        )
    except FloatingPointError:
        # The fit evaluated on its own data, but not on these histories: the feature is left out
        # (0 for everyone, as without a fit) rather than failing the night's scoring.
        logger.warning("expected orders not finite at %s: the churn feature %s is 0", cutoff, EXPECTED_ORDERS_FEATURE)
        return empty
    return summary.select("customer_id").with_columns(pl.Series(EXPECTED_ORDERS_FEATURE, expected))


def churn_features(
    activity: CustomerActivity, cutoff: datetime, horizon_days: int, purchase_model: clv.BgNbdFit | None
) -> pl.DataFrame:
    """``customer_features`` plus the expected orders and each customer's ``churn_status``."""
    return (
        customer_features(activity, cutoff)
        .join(expected_orders(activity.orders, cutoff, horizon_days, purchase_model), on="customer_id", how="left")
        .with_columns(pl.col(EXPECTED_ORDERS_FEATURE).fill_null(0.0), churn_status(horizon_days))
    )


def _fit(frame: pl.DataFrame, horizon_days: int, purchase_model: clv.BgNbdFit | None) -> ChurnModel:
    matrix, labels = feature_matrix(frame), frame["is_churned"].to_numpy()
    explainer = Pipeline(
        [
            ("scale", StandardScaler()),
            # A value far outside what training saw (an outlier, a feature nearly constant then)
            # counts as an extreme one, not as thousands of standard deviations.
            (
                "limit",
                FunctionTransformer(np.clip, kw_args={"a_min": -STANDARD_SCORE_LIMIT, "a_max": STANDARD_SCORE_LIMIT}),
            ),
            ("model", LogisticRegression(max_iter=1000, C=1.0)),
        ]
    )
    # ensemble=False: one estimator refitted on all rows, calibrated on out-of-fold predictions.
    calibrated = CalibratedClassifierCV(explainer, method="sigmoid", cv=3, ensemble=False)
    calibrated.fit(matrix, labels)
    explainer = calibrated.calibrated_classifiers_[0].estimator
    return ChurnModel(
        calibrated=calibrated, explainer=explainer, horizon_days=horizon_days, purchase_model=purchase_model
    )


def _labelled(
    activity: CustomerActivity, cutoff: datetime, horizon_days: int, purchase_model: clv.BgNbdFit | None
) -> pl.DataFrame:
    """The scored population at ``cutoff`` (status active) with their labels: the model learns only
    from customers it will be asked about."""
    return (
        churn_features(activity, cutoff, horizon_days, purchase_model)
        .filter(pl.col("churn_status") == CHURN_STATUS_ACTIVE)
        .join(churn_labels(activity, cutoff, horizon_days), on="customer_id", how="inner")
    )


def evaluate_scores(is_churned: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier score (only for probabilities) and lift of the top decile."""
    metrics = {
        "roc_auc": float(roc_auc_score(is_churned, scores)),
        "pr_auc": float(average_precision_score(is_churned, scores)),
    }
    if scores.min() >= 0 and scores.max() <= 1:
        metrics["brier"] = float(brier_score_loss(is_churned, scores))
    top = np.argsort(-scores, kind="stable")[: max(1, len(scores) // 10)]
    metrics["top_decile_lift"] = float(is_churned[top].mean() / max(is_churned.mean(), 1e-9))
    metrics["churn_rate"] = float(is_churned.mean())
    metrics.update(decile_metrics(is_churned, scores))
    return metrics


def decile_metrics(is_churned: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """The lift and calibration curves, decile by decile (decile 1 = the highest scores).

    ``lift_decile_NN``: the decile's churn rate over the overall churn rate (how much better than
    calling customers at random). For probabilities also ``calibration_decile_NN_predicted`` (the
    mean predicted probability) and ``calibration_decile_NN_observed`` (the share that churned):
    on a calibrated model the two are close. Flat keys, so that every metric stays one number
    (``ml.model_runs`` JSON, Dagster metadata); the run report draws them.
    """
    overall_rate = max(float(is_churned.mean()), 1e-9)
    is_probability = bool(scores.min() >= 0 and scores.max() <= 1)
    metrics: dict[str, float] = {}
    ranked = np.argsort(-scores, kind="stable")
    for decile, members in enumerate(np.array_split(ranked, DECILES), start=1):
        if members.size == 0:  # fewer customers than deciles
            continue
        observed = float(is_churned[members].mean())
        metrics[f"lift_decile_{decile:02d}"] = observed / overall_rate
        if is_probability:
            metrics[f"calibration_decile_{decile:02d}_predicted"] = float(scores[members].mean())
            metrics[f"calibration_decile_{decile:02d}_observed"] = observed
    return metrics


def train_churn_model(
    activity: CustomerActivity, analysis_date: datetime, horizon_days: int = DEFAULT_HORIZON_DAYS
) -> ChurnTrainingResult:
    """Backtest (train at T-2h, test at T-h), then refit at T-h for scoring at T."""
    training_cutoff = analysis_date - timedelta(days=horizon_days)
    backtest_cutoff = training_cutoff - timedelta(days=horizon_days)

    # As in production: the purchase model is fitted where the churn model is trained, and applied
    # a horizon later, where the backtest measures it.
    backtest_purchase_model = fit_purchase_model(activity.orders, backtest_cutoff)
    backtest_train = _labelled(activity, backtest_cutoff, horizon_days, backtest_purchase_model)
    backtest_test = _labelled(activity, training_cutoff, horizon_days, backtest_purchase_model)
    for name, frame in (("backtest training", backtest_train), ("backtest test", backtest_test)):
        if frame.height < 50 or frame["is_churned"].value_counts()["count"].min() < 10:
            raise ValueError(
                f"not enough history to train the churn model: the {name} set has {frame.height} "
                f"active customers (need 50, with at least 10 churned and 10 retained); it needs about "
                f"{2 * horizon_days} days of orders before the analysis date {analysis_date:%Y-%m-%d}"
            )

    backtest_model = _fit(backtest_train, horizon_days, backtest_purchase_model)
    test_labels = backtest_test["is_churned"].to_numpy()
    metrics = evaluate_scores(test_labels, backtest_model.probabilities(backtest_test))
    baseline = evaluate_scores(test_labels, backtest_test["days_since_last_order"].to_numpy())

    purchase_model = fit_purchase_model(activity.orders, training_cutoff)
    training = _labelled(activity, training_cutoff, horizon_days, purchase_model)
    return ChurnTrainingResult(
        model=_fit(training, horizon_days, purchase_model),
        model_version=f"{MODEL_NAME}-{MODEL_FAMILY}-{training_cutoff:%Y%m%d}",
        training_cutoff=training_cutoff,
        backtest_cutoff=backtest_cutoff,
        horizon_days=horizon_days,
        metrics=metrics,
        baseline_metrics=baseline,
        training_rows=training.height,
        parameters={
            "estimator": (
                f"LogisticRegression(C=1.0) on standardised features (clipped to +/-{STANDARD_SCORE_LIMIT}), "
                "sigmoid calibration (3-fold)"
            ),
            "purchase_model": None if purchase_model is None else purchase_model.as_dict(),
            "horizon_days": horizon_days,
            "population": (
                f"customers with a revenue-generating order in the {lapsed_after_days(horizon_days)} days "
                f"({LAPSED_AFTER_HORIZONS} horizons) before the cutoff"
            ),
            "probability_range": [PROBABILITY_MARGIN, 1 - PROBABILITY_MARGIN],
            "features": list(CHURN_FEATURE_COLUMNS),
            "log1p_features": sorted(LOG_FEATURES),
            "baseline": "days_since_last_order",
        },
    )


def risk_band(probability: pl.Expr) -> pl.Expr:
    expression = pl.lit("low")
    for threshold, band in reversed(RISK_BANDS[:-1]):
        expression = pl.when(probability >= threshold).then(pl.lit(band)).otherwise(expression)
    return expression


def _reason_texts(
    features: pl.DataFrame, contributions: np.ndarray, coefficients: np.ndarray, horizon_days: int
) -> list[pl.Series]:
    """The REASON_COUNT largest contributions of each customer that raise the risk and read as a
    reason, as sentences; fewer (nulls) when fewer features do."""
    # A contribution is positive when value and coefficient share a sign: with a positive
    # coefficient the customer's value is above average ("high"), otherwise below.
    templates = [
        REASON_TEXTS[name][0 if coefficient > 0 else 1]
        for name, coefficient in zip(CHURN_FEATURE_COLUMNS, coefficients, strict=True)
    ]
    has_text = np.array([template is not None for template in templates])
    candidates = np.where(has_text & (contributions > 0), contributions, 0.0)
    for name, measured_when in REASON_ONLY_WHEN_MEASURED.items():
        unmeasured = features[measured_when].to_numpy() <= 0
        candidates[unmeasured, CHURN_FEATURE_COLUMNS.index(name)] = 0.0
    order = np.argsort(-candidates, axis=1, kind="stable")[:, :REASON_COUNT]
    rows_all = np.arange(len(order))
    reasons = []
    for rank in range(REASON_COUNT):
        feature_index = order[:, rank]
        raises_risk = candidates[rows_all, feature_index] > 0
        text = np.full(len(order), None, dtype=object)
        for index, name in enumerate(CHURN_FEATURE_COLUMNS):
            rows = np.flatnonzero((feature_index == index) & raises_risk)
            if rows.size == 0:
                continue
            template = templates[index]
            # Formatted once per distinct value: a million customers' values repeat a lot.
            distinct, inverse = np.unique(features[name].to_numpy()[rows], return_inverse=True)
            text[rows] = np.array(
                [template.format(value=value, horizon=horizon_days) for value in distinct], dtype=object
            )[inverse]
        reasons.append(pl.Series(f"churn_reason_{rank + 1}", text.tolist(), dtype=pl.String))
    return reasons


def score_customers(model: ChurnModel, activity: CustomerActivity, analysis_date: datetime) -> pl.DataFrame:
    """customer_id, churn_status, churn_probability, churn_risk_band, churn_reason_1..3 for every
    customer known before ``analysis_date`` (an exclusive cutoff: the end of the analysis day). The
    model may have been trained at an earlier cutoff.

    Only active customers (``features.churn_status``) have a probability, band and reasons;
    prospects and lapsed customers have their status and nulls."""
    features = churn_features(activity, analysis_date, model.horizon_days, model.purchase_model)
    active = features.filter(pl.col("churn_status") == CHURN_STATUS_ACTIVE)
    if active.is_empty():  # nobody to score (a model cannot predict on no rows)
        return features.select("customer_id", "churn_status").with_columns(
            pl.lit(None, dtype=pl.Float64).alias("churn_probability"),
            pl.lit(None, dtype=pl.String).alias("churn_risk_band"),
            *(pl.lit(None, dtype=pl.String).alias(f"churn_reason_{rank}") for rank in range(1, REASON_COUNT + 1)),
        )
    coefficients = model.explainer.named_steps["model"].coef_[0]
    reasons = _reason_texts(active, model.contributions(active), coefficients, model.horizon_days)
    scored = (
        active.select("customer_id")
        .with_columns(pl.Series("churn_probability", model.probabilities(active), dtype=pl.Float64).round(6))
        .with_columns(risk_band(pl.col("churn_probability")).alias("churn_risk_band"), *reasons)
    )
    return features.select("customer_id", "churn_status").join(scored, on="customer_id", how="left").sort("customer_id")
