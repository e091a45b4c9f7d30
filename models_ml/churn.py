"""Churn risk: the probability that a customer places no order within the horizon, with reasons.

Honest by construction: the model is trained at one cutoff and measured at a later one (a
temporal backtest), side by side with the simplest baseline, "days since last order". The
model that scores today is refitted at the latest cutoff whose labels are fully known.

The model is a logistic regression on standardised features, so every score splits exactly
into one contribution per feature: the three largest become the reasons an account manager
reads ("no order for 143 days", "rarely opens emails"). Its probabilities are calibrated with
isotonic regression on cross-validated predictions, so that "0.7" means about 70 of 100 such
customers do not come back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from models_ml.features import FEATURE_COLUMNS, CustomerActivity, churn_labels, customer_features

MODEL_NAME = "churn"
MODEL_FAMILY = "calibrated_logistic_v2"
DEFAULT_HORIZON_DAYS = 90
RISK_BANDS = ((0.6, "high"), (0.3, "medium"), (0.0, "low"))
REASON_COUNT = 3
MINIMUM_ROC_AUC = 0.55  # below this a ranking is too close to chance to act on
DECILES = 10  # lift and calibration are measured on ten equal groups of customers ranked by risk

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
    }
)

# How each feature reads as a reason, when it pushes the risk up. A feature pushes the risk up
# when its standardised value and its coefficient have the same sign, so each feature has a
# text for "high" and for "low"; {value} is the customer's own value.
REASON_TEXTS: dict[str, tuple[str, str]] = {
    "days_since_last_order": ("no order for {value:.0f} days", "ordered very recently"),
    "order_count": ("many orders in the past", "few orders so far: {value:.0f}"),
    "revenue_usd": ("high total spend", "low total spend (${value:,.0f})"),
    "average_order_value_usd": ("large orders on average", "small orders on average (${value:,.0f})"),
    "tenure_days": ("long-standing customer", "new customer ({value:.0f} days)"),
    "orders_last_90_days": ("many orders in the last 90 days", "orders in the last 90 days: {value:.0f}"),
    "order_trend": ("ordering more than the quarter before", "ordering less than the quarter before"),
    "emails_delivered_last_90_days": ("many emails received lately", "few emails received lately"),
    "email_open_rate_last_90_days": ("opens most emails", "rarely opens emails ({value:.0%} opened)"),
    "email_clicks_last_90_days": ("clicks many emails", "no email clicks in the last 90 days"),
    "has_unsubscribed": ("unsubscribed from emails", "still subscribed to emails"),
    "tickets_last_180_days": ("support tickets in the last 6 months: {value:.0f}", "no recent support tickets"),
    "average_satisfaction_score": ("high satisfaction scores", "low satisfaction scores ({value:.1f} of 5)"),
    "has_satisfaction_score": ("answered satisfaction surveys", "never answered a satisfaction survey"),
    "feedback_sentiment_last_365_days": ("positive comments", "negative comments in feedback ({value:+.2f})"),
    "negative_feedback_last_180_days": ("negative comments in the last 6 months: {value:.0f}", "no negative comments"),
}


@dataclass
class ChurnModel:
    """The fitted model: calibrated probabilities, and the logistic regression that explains them."""

    calibrated: CalibratedClassifierCV
    explainer: Pipeline  # scaler + logistic regression fitted on the same data

    def probabilities(self, features: pl.DataFrame) -> np.ndarray:
        return self.calibrated.predict_proba(feature_matrix(features))[:, 1]

    def contributions(self, features: pl.DataFrame) -> np.ndarray:
        """Each feature's share of each customer's log-odds, relative to an average customer."""
        scaled = self.explainer.named_steps["scale"].transform(feature_matrix(features))
        return scaled * self.explainer.named_steps["model"].coef_[0]

    def importance(self) -> pl.DataFrame:
        """feature, coefficient (on the standardised, transformed feature), importance (|coefficient|), rank."""
        coefficients = self.explainer.named_steps["model"].coef_[0]
        return (
            pl.DataFrame({"feature": list(FEATURE_COLUMNS), "coefficient": coefficients})
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
        pl.col(name).clip(lower_bound=0).log1p() if name in LOG_FEATURES else pl.col(name) for name in FEATURE_COLUMNS
    ).to_numpy()


def _fit(frame: pl.DataFrame, random_state: int = 0) -> ChurnModel:
    matrix, labels = feature_matrix(frame), frame["is_churned"].to_numpy()
    explainer = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(max_iter=1000, C=1.0))])
    # ensemble=False: one estimator refitted on all rows, calibrated on out-of-fold predictions.
    calibrated = CalibratedClassifierCV(explainer, method="isotonic", cv=3, ensemble=False)
    calibrated.fit(matrix, labels)
    explainer = calibrated.calibrated_classifiers_[0].estimator
    return ChurnModel(calibrated=calibrated, explainer=explainer)


def _labelled(activity: CustomerActivity, cutoff: datetime, horizon_days: int) -> pl.DataFrame:
    return customer_features(activity, cutoff).join(
        churn_labels(activity, cutoff, horizon_days), on="customer_id", how="inner"
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

    backtest_train = _labelled(activity, backtest_cutoff, horizon_days)
    backtest_test = _labelled(activity, training_cutoff, horizon_days)
    for name, frame in (("backtest training", backtest_train), ("backtest test", backtest_test)):
        if frame.height < 50 or frame["is_churned"].value_counts()["count"].min() < 10:
            raise ValueError(
                f"not enough history to train the churn model: the {name} set has {frame.height} "
                f"customers (need 50, with at least 10 churned and 10 retained); it needs about "
                f"{2 * horizon_days} days of orders before the analysis date {analysis_date:%Y-%m-%d}"
            )

    backtest_model = _fit(backtest_train)
    test_labels = backtest_test["is_churned"].to_numpy()
    metrics = evaluate_scores(test_labels, backtest_model.probabilities(backtest_test))
    baseline = evaluate_scores(test_labels, backtest_test["days_since_last_order"].to_numpy())

    return ChurnTrainingResult(
        model=_fit(backtest_test),
        model_version=f"{MODEL_NAME}-{MODEL_FAMILY}-{training_cutoff:%Y%m%d}",
        training_cutoff=training_cutoff,
        backtest_cutoff=backtest_cutoff,
        horizon_days=horizon_days,
        metrics=metrics,
        baseline_metrics=baseline,
        training_rows=backtest_test.height,
        parameters={
            "estimator": "LogisticRegression(C=1.0) on standardised features, isotonic calibration (3-fold)",
            "horizon_days": horizon_days,
            "features": list(FEATURE_COLUMNS),
            "log1p_features": sorted(LOG_FEATURES),
            "baseline": "days_since_last_order",
        },
    )


def risk_band(probability: pl.Expr) -> pl.Expr:
    expression = pl.lit("low")
    for threshold, band in reversed(RISK_BANDS[:-1]):
        expression = pl.when(probability >= threshold).then(pl.lit(band)).otherwise(expression)
    return expression


def _reason_texts(features: pl.DataFrame, contributions: np.ndarray, coefficients: np.ndarray) -> list[pl.Series]:
    """The REASON_COUNT largest positive contributions of each customer, as sentences."""
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :REASON_COUNT]
    rows_all = np.arange(len(order))
    reasons = []
    for rank in range(REASON_COUNT):
        feature_index = order[:, rank]
        pushes_up = contributions[rows_all, feature_index] > 0
        text = np.full(len(order), None, dtype=object)
        for index, name in enumerate(FEATURE_COLUMNS):
            rows = np.flatnonzero((feature_index == index) & pushes_up)
            if rows.size == 0:
                continue
            # A contribution is positive when value and coefficient share a sign: with a positive
            # coefficient the customer's value is above average ("high"), otherwise below.
            template = REASON_TEXTS[name][0 if coefficients[index] > 0 else 1]
            # Formatted once per distinct value: a million customers' values repeat a lot.
            distinct, inverse = np.unique(features[name].to_numpy()[rows], return_inverse=True)
            text[rows] = np.array([template.format(value=value) for value in distinct], dtype=object)[inverse]
        reasons.append(pl.Series(f"churn_reason_{rank + 1}", text.tolist(), dtype=pl.String))
    return reasons


def score_customers(model: ChurnModel, activity: CustomerActivity, analysis_date: datetime) -> pl.DataFrame:
    """customer_id, churn_probability, churn_risk_band, churn_reason_1..3 for every customer known
    before ``analysis_date`` (an exclusive cutoff: the end of the analysis day). The model may
    have been trained at an earlier cutoff."""
    features = customer_features(activity, analysis_date)
    coefficients = model.explainer.named_steps["model"].coef_[0]
    reasons = _reason_texts(features, model.contributions(features), coefficients)
    return (
        features.select("customer_id")
        .with_columns(pl.Series("churn_probability", model.probabilities(features)).round(6))
        .with_columns(risk_band(pl.col("churn_probability")).alias("churn_risk_band"), *reasons)
    )
