"""Churn risk: the probability that a customer places no order within the horizon.

Honest by construction: the model is trained at one cutoff and measured at a later one (a
temporal backtest), side by side with the simplest baseline, "days since last order". The
model that scores today is refitted at the latest cutoff whose labels are fully known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from models_ml.features import FEATURE_COLUMNS, CustomerActivity, churn_labels, customer_features

MODEL_NAME = "churn"
MODEL_FAMILY = "logistic_regression_v1"
DEFAULT_HORIZON_DAYS = 90
RISK_BANDS = ((0.6, "high"), (0.3, "medium"), (0.0, "low"))


@dataclass
class ChurnTrainingResult:
    pipeline: Pipeline
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
        return self.metrics["roc_auc"] > self.baseline_metrics["roc_auc"]


def _new_pipeline() -> Pipeline:
    # Counts and money are heavily skewed: log1p makes a linear model see them evenly.
    return Pipeline(
        [
            ("log", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=1000, C=1.0)),
        ]
    )


def _matrix(frame: pl.DataFrame) -> np.ndarray:
    return frame.select(FEATURE_COLUMNS).to_numpy().clip(min=0)


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
        if frame.height < 20 or frame["is_churned"].n_unique() < 2:
            raise ValueError(
                f"not enough history to train the churn model: the {name} set has {frame.height} "
                f"customers (need 20, with both churned and retained ones); it needs about "
                f"{2 * horizon_days} days of orders before the analysis date {analysis_date:%Y-%m-%d}"
            )

    pipeline = _new_pipeline().fit(_matrix(backtest_train), backtest_train["is_churned"].to_numpy())
    test_labels = backtest_test["is_churned"].to_numpy()
    metrics = evaluate_scores(test_labels, pipeline.predict_proba(_matrix(backtest_test))[:, 1])
    baseline = evaluate_scores(test_labels, backtest_test["days_since_last_order"].to_numpy())

    final = _new_pipeline().fit(_matrix(backtest_test), test_labels)
    return ChurnTrainingResult(
        pipeline=final,
        model_version=f"{MODEL_NAME}-{MODEL_FAMILY}-{training_cutoff:%Y%m%d}",
        training_cutoff=training_cutoff,
        backtest_cutoff=backtest_cutoff,
        horizon_days=horizon_days,
        metrics=metrics,
        baseline_metrics=baseline,
        training_rows=backtest_test.height,
        parameters={"C": 1.0, "horizon_days": horizon_days, "features": list(FEATURE_COLUMNS)},
    )


def risk_band(probability: pl.Expr) -> pl.Expr:
    expression = pl.lit("low")
    for threshold, band in reversed(RISK_BANDS[:-1]):
        expression = pl.when(probability >= threshold).then(pl.lit(band)).otherwise(expression)
    return expression


def score_customers(result: ChurnTrainingResult, activity: CustomerActivity, analysis_date: datetime) -> pl.DataFrame:
    """customer_id, churn_probability, churn_risk_band for every customer known before ``analysis_date``
    (an exclusive cutoff: the end of the analysis day)."""
    features = customer_features(activity, analysis_date)
    probabilities = result.pipeline.predict_proba(_matrix(features))[:, 1]
    return (
        features.select("customer_id")
        .with_columns(
            pl.Series("churn_probability", probabilities).round(6),
        )
        .with_columns(risk_band(pl.col("churn_probability")).alias("churn_risk_band"))
    )
