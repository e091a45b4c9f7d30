"""Train, backtest and score every model in one shape: what the Dagster assets and the benchmark run.

Each model has a ``train_*`` function and a ``score_*`` function:

- ``train_*(inputs..., cutoff, trained_at)`` backtests the model on held-out time against its
  baseline, fits it on everything before ``cutoff``, and returns a :class:`TrainedModel`: the
  fitted model (what is pickled as the artefact), the :class:`ModelRun` that ``ml.model_runs``
  records (every metric, the baseline's, whether it beats it and the verdict in words), and the
  feature importance where the model has one.
- ``score_*(model, inputs..., cutoff)`` scores with a fitted model, which may be older than the
  inputs: the nightly run scores today's customers with the model of the last training run.
  It returns ``{ml table name: rows}``, every row stamped with ``as_of_date`` (the analysis day).

``cutoff`` is exclusive: the end of the analysis day, as ``model_inputs.read_analysis_cutoff``
gives it. Nothing here knows about Dagster or DuckDB.

Sales forecast and feedback scoring have no separate training: the forecast is refitted on the
monthly history each time (it takes milliseconds), and feedback sentiment is a lexicon. Both
still record a run, so ``ml.model_runs`` lists every model that wrote scores.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from models_ml import churn, clv, feedback, forecast, recommend, segments
from models_ml.features import CustomerActivity, customer_features

CLV_HOLDOUT_DAYS = 180
# The CLV horizon is in the published column names (clv_next_365_days_usd), so it is fixed here.
CLV_HORIZON_DAYS = 365
OFFER_HOLDOUT_DAYS = 90
OFFERS_PER_CUSTOMER = 10
FORECAST_HORIZON_MONTHS = forecast.DEFAULT_HORIZON_MONTHS
# A segment smaller than this share of customers is too small to act on: the run is not published.
MINIMUM_SEGMENT_SHARE = 0.01


@dataclass
class ModelRun:
    """One training run of one model, as ``ml.model_runs`` records it."""

    model_name: str
    model_version: str
    trained_at: datetime
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    beats_baseline: bool
    verdict: str  # why it is (not) published, in words
    parameters: dict[str, object] = field(default_factory=dict)
    data_start: datetime | None = None
    data_end: datetime | None = None
    training_cutoff: datetime | None = None
    backtest_cutoff: datetime | None = None
    training_rows: int | None = None
    run_id: str | None = None
    artefact_path: str | None = None

    @property
    def is_published(self) -> bool:
        return self.beats_baseline


@dataclass
class TrainedModel:
    run: ModelRun
    model: object | None  # None when nothing could be fitted (the run says why)
    feature_importance: pl.DataFrame | None = None


def _verdict(published: bool, comparison: str) -> str:
    if published:
        return f"published: {comparison}"
    return f"not published: {comparison}; the previous scores stay current"


def as_of_date(cutoff: datetime) -> pl.Expr:
    """The analysis day the scores are "as of": the cutoff is the end of that day."""
    return pl.lit((cutoff - timedelta(days=1)).date()).alias("as_of_date")


def _stamped(frames: dict[str, pl.DataFrame], cutoff: datetime) -> dict[str, pl.DataFrame]:
    return {table: frame.with_columns(as_of_date(cutoff)) for table, frame in frames.items()}


# --------------------------------------------------------------------------------------- churn


def train_churn(
    activity: CustomerActivity,
    cutoff: datetime,
    trained_at: datetime,
    horizon_days: int = churn.DEFAULT_HORIZON_DAYS,
) -> TrainedModel:
    result = churn.train_churn_model(activity, cutoff, horizon_days)
    roc, baseline_roc = result.metrics["roc_auc"], result.baseline_metrics["roc_auc"]
    comparison = f"backtest ROC AUC {roc:.3f} vs the baseline (days since last order) {baseline_roc:.3f}" + (
        "" if roc >= churn.MINIMUM_ROC_AUC else f", below the minimum {churn.MINIMUM_ROC_AUC}"
    )
    run = ModelRun(
        model_name=churn.MODEL_NAME,
        model_version=result.model_version,
        trained_at=trained_at,
        data_start=activity.orders["ordered_at"].min(),
        data_end=cutoff,
        training_cutoff=result.training_cutoff,
        backtest_cutoff=result.backtest_cutoff,
        training_rows=result.training_rows,
        parameters=result.parameters,
        metrics=result.metrics,
        baseline_metrics=result.baseline_metrics,
        beats_baseline=result.beats_baseline,
        verdict=_verdict(result.beats_baseline, comparison),
    )
    return TrainedModel(run=run, model=result.model, feature_importance=result.model.importance())


def score_churn(model: churn.ChurnModel, activity: CustomerActivity, cutoff: datetime) -> dict[str, pl.DataFrame]:
    return _stamped({"churn_scores": churn.score_customers(model, activity, cutoff)}, cutoff)


# ----------------------------------------------------------------------------------------- CLV


def train_clv(orders: pl.DataFrame, cutoff: datetime, trained_at: datetime) -> TrainedModel:
    """orders: customer_id, ordered_at, revenue_usd (revenue-generating orders)."""
    calibration_end = cutoff - timedelta(days=CLV_HOLDOUT_DAYS)
    evaluation = clv.evaluate_clv(orders, calibration_end, cutoff)
    model, scores = clv.score_clv(orders, cutoff, horizon_days=CLV_HORIZON_DAYS)
    comparison = (
        f"holdout ({CLV_HOLDOUT_DAYS} days) Spearman {evaluation.spearman:.3f} vs the baseline "
        f"(spend so far per day) {evaluation.baseline_spearman:.3f}"
    )
    run = ModelRun(
        model_name=clv.MODEL_NAME,
        model_version=model.model_version,
        trained_at=trained_at,
        data_start=orders["ordered_at"].min(),
        data_end=cutoff,
        training_cutoff=cutoff,
        backtest_cutoff=calibration_end,
        training_rows=scores.height,
        parameters={**model.bgnbd.as_dict(), **model.gamma_gamma.as_dict(), "horizon_days": model.horizon_days},
        metrics={
            "spearman_clv_vs_holdout_spend": evaluation.spearman,
            "purchases_mae": evaluation.purchases_mae,
            "holdout_customers": float(evaluation.customers),
        },
        baseline_metrics={
            "spearman_clv_vs_holdout_spend": evaluation.baseline_spearman,
            "purchases_mae": evaluation.baseline_purchases_mae,
        },
        beats_baseline=evaluation.beats_baseline,
        verdict=_verdict(evaluation.beats_baseline, comparison),
    )
    return TrainedModel(run=run, model=model)


def score_clv(model: clv.ClvModel, orders: pl.DataFrame, cutoff: datetime) -> dict[str, pl.DataFrame]:
    summary = clv.rfm_summary(orders, cutoff, time_unit_days=model.time_unit_days)
    return _stamped({"clv_scores": published_clv_scores(model, model.predict(summary))}, cutoff)


def published_clv_scores(model: clv.ClvModel, predicted: pl.DataFrame) -> pl.DataFrame:
    """The CLV scores as ``ml.clv_scores`` publishes them: units and meaning in the column names.

    The model works in the BG/NBD literature's terms (frequency, recency and T in time units of
    ``model.time_unit_days``); readers of the table should not need the papers, nor know the
    unit the model was fitted in, so durations are given in days.
    """
    if model.horizon_days != CLV_HORIZON_DAYS:
        raise ValueError(
            f"the CLV model was scored over {model.horizon_days} days; the published columns are "
            f"named for {CLV_HORIZON_DAYS}"
        )
    in_days = model.time_unit_days
    return predicted.select(
        "customer_id",
        pl.col("frequency").alias("repeat_purchase_day_count"),
        (pl.col("recency") * in_days).round().cast(pl.Int64).alias("days_first_to_last_purchase"),
        (pl.col("T") * in_days).round().cast(pl.Int64).alias("days_since_first_purchase"),
        pl.col("monetary_value").alias("average_repeat_spend_usd"),
        pl.col("p_alive"),
        pl.col("expected_purchases").alias("expected_purchases_next_365_days"),
        pl.col("expected_average_spend").alias("expected_spend_per_purchase_usd"),
        pl.col("clv").alias("clv_next_365_days_usd"),
    )


# ---------------------------------------------------------------------------- next best offer


def train_offers(
    purchases: pl.DataFrame, products: pl.DataFrame, cutoff: datetime, trained_at: datetime
) -> TrainedModel:
    """purchases: customer_id, order_id, product_id, ordered_at; products: product_id, name, category, is_offerable."""
    backtest_cutoff = cutoff - timedelta(days=OFFER_HOLDOUT_DAYS)
    evaluation = recommend.evaluate_offers(
        purchases, products, backtest_cutoff, holdout_days=OFFER_HOLDOUT_DAYS, k=OFFERS_PER_CUSTOMER
    )
    model = recommend.fit_offer_model(purchases, products, cutoff, k=OFFERS_PER_CUSTOMER)
    task, judged = "all_products", ("recall_at_k", "ndcg_at_k")
    beats = evaluation.beats_baselines(task, judged)

    def metrics_of(method: str) -> dict[str, float]:
        return {
            f"{metric}_{name}": evaluation.value(task_name, method, metric)
            for task_name, name in (("all_products", "all"), ("new_products", "new"))
            for metric in recommend.METRICS
        }

    baselines = {
        f"{method}_{metric}": value for method in recommend.METHODS[1:] for metric, value in metrics_of(method).items()
    }
    value = evaluation.value
    comparison = (
        f"holdout ({OFFER_HOLDOUT_DAYS} days) recall@{OFFERS_PER_CUSTOMER} {value(task, 'model', 'recall_at_k'):.3f} / "
        f"NDCG@{OFFERS_PER_CUSTOMER} {value(task, 'model', 'ndcg_at_k'):.3f} vs popularity "
        f"{value(task, 'popularity', 'recall_at_k'):.3f} / {value(task, 'popularity', 'ndcg_at_k'):.3f} and "
        f"own history {value(task, 'own_history', 'recall_at_k'):.3f} / {value(task, 'own_history', 'ndcg_at_k'):.3f}"
    )
    run = ModelRun(
        model_name=recommend.MODEL_NAME,
        model_version=model.model_version,
        trained_at=trained_at,
        data_start=purchases["ordered_at"].min(),
        data_end=cutoff,
        training_cutoff=cutoff,
        backtest_cutoff=backtest_cutoff,
        training_rows=purchases.height,
        parameters={
            "k": OFFERS_PER_CUSTOMER,
            "half_life_days": model.half_life_days,
            "blend_new_products": dataclasses.asdict(model.blend_new),
            "blend_all_products": dataclasses.asdict(model.blend_all),
            "offerable_products": int(model.offerable.sum()),
        },
        metrics={**metrics_of("model"), "evaluated_customers": float(evaluation.metrics["customers"][0])},
        baseline_metrics=baselines,
        beats_baseline=beats,
        verdict=_verdict(beats, comparison),
    )
    return TrainedModel(run=run, model=model)


def score_offers(
    model: recommend.OfferModel,
    purchases: pl.DataFrame,
    customer_ids: pl.Series,
    cutoff: datetime,
    k: int = OFFERS_PER_CUSTOMER,
) -> dict[str, pl.DataFrame]:
    """Offers of products each customer never bought; customers without purchases get the best sellers."""
    # The model ignores purchases at or after its own fitting date; a model trained days ago
    # must still see the customers' purchases since then, so it scores as of this cutoff.
    model = dataclasses.replace(model, as_of=max(model.as_of, cutoff))
    offers = recommend.recommend(model, purchases, k=k, exclude_purchased=True, customer_ids=customer_ids)
    return _stamped({"next_best_offers": offers}, cutoff)


# ------------------------------------------------------------------------------------ segments


def train_segments(activity: CustomerActivity, cutoff: datetime, trained_at: datetime) -> TrainedModel:
    features = customer_features(activity, cutoff)
    model = segments.fit_segments(features)
    profiles = segments.segment_profiles(model, features)
    smallest = float(profiles["share"].min())
    # No baseline to beat: k-means always finds clusters. What makes segments usable is that
    # each is big enough to act on and the clusters are better than chance (silhouette > 0).
    silhouette = model.silhouette_by_k.get(model.k)
    usable = smallest >= MINIMUM_SEGMENT_SHARE and (silhouette is None or silhouette > 0)
    comparison = (
        f"{model.k} segments, the smallest with {smallest:.1%} of customers (minimum {MINIMUM_SEGMENT_SHARE:.0%})"
        + (f", silhouette {silhouette:.3f}" if silhouette is not None else "")
    )
    run = ModelRun(
        model_name=segments.MODEL_NAME,
        model_version=f"{model.model_version}-{cutoff:%Y%m%d}",
        trained_at=trained_at,
        data_start=activity.orders["ordered_at"].min(),
        data_end=cutoff,
        training_cutoff=cutoff,
        training_rows=model.training_rows,
        parameters={**model.parameters, "segments": profiles["segment_name"].to_list()},
        metrics={
            "segments": float(model.k),
            "smallest_segment_share": smallest,
            **({"silhouette": silhouette} if silhouette is not None else {}),
        },
        baseline_metrics={"minimum_segment_share": MINIMUM_SEGMENT_SHARE},
        beats_baseline=usable,
        verdict=_verdict(usable, comparison),
    )
    return TrainedModel(run=run, model=model)


def score_segments(
    model: segments.SegmentModel, activity: CustomerActivity, cutoff: datetime
) -> dict[str, pl.DataFrame]:
    features = customer_features(activity, cutoff)
    return _stamped({"customer_segments": segments.assign_segments(model, features)}, cutoff)


# ------------------------------------------------------------------------------- sales forecast


@dataclass
class RevenueForecast:
    """The forecast and the backtest it was published on (the artefact of a forecast run)."""

    forecast: pl.DataFrame
    backtest: forecast.ForecastBacktest


def train_forecast(monthly: pl.DataFrame, cutoff: datetime, trained_at: datetime) -> TrainedModel:
    """monthly: month, revenue_usd, complete months only. The forecast is the scores.

    With too little history for a backtest the run is recorded, not published (a young
    warehouse must not fail its nightly run for want of a forecast).
    """
    needed = forecast.MIN_MONTHS + FORECAST_HORIZON_MONTHS
    if monthly.height < needed:
        return TrainedModel(
            run=ModelRun(
                model_name=forecast.MODEL_NAME,
                model_version=f"{forecast.MODEL_NAME}-{forecast.MODEL_FAMILY}-insufficient-history",
                trained_at=trained_at,
                data_end=cutoff,
                training_rows=monthly.height,
                metrics={"complete_months": float(monthly.height)},
                baseline_metrics={},
                beats_baseline=False,
                verdict=_verdict(
                    False,
                    f"only {monthly.height} complete months; a backtest over {FORECAST_HORIZON_MONTHS} needs {needed}",
                ),
            ),
            model=None,
        )
    backtest = forecast.backtest_forecast(monthly, FORECAST_HORIZON_MONTHS)
    predicted = forecast.forecast_revenue(monthly, FORECAST_HORIZON_MONTHS)
    metrics = backtest.metrics
    model_row = metrics.filter(pl.col("method") == "model").row(0, named=True)
    naive_row = metrics.filter(pl.col("method") == "seasonal_naive").row(0, named=True)
    beats = backtest.beats_seasonal_naive
    comparison = (
        f"backtest MASE {model_row['mase']:.3f} (MAPE {model_row['mape']:.1%}) vs seasonal naive "
        f"{naive_row['mase']:.3f} (MAPE {naive_row['mape']:.1%}) over {backtest.origins} origins"
    )
    last_month = monthly["month"].max()
    run = ModelRun(
        model_name=forecast.MODEL_NAME,
        model_version=f"{forecast.MODEL_NAME}-{forecast.MODEL_FAMILY}-{last_month:%Y%m}",
        trained_at=trained_at,
        data_start=datetime.combine(monthly["month"].min(), datetime.min.time()),
        data_end=cutoff,
        training_cutoff=cutoff,
        training_rows=monthly.height,
        parameters={"horizon_months": FORECAST_HORIZON_MONTHS, "month_ridge": forecast.MONTH_RIDGE},
        metrics={
            name: float(model_row[name])
            for name in ("mape", "mase", "coverage_80", "coverage_95", "forecasts")
            if model_row[name] is not None
        },
        baseline_metrics={"mape": float(naive_row["mape"]), "mase": float(naive_row["mase"])},
        beats_baseline=beats,
        verdict=_verdict(beats, comparison),
    )
    return TrainedModel(run=run, model=RevenueForecast(forecast=predicted, backtest=backtest))


# The forecast frame's columns as ``ml.sales_forecast`` publishes them, with their unit.
PUBLISHED_FORECAST_COLUMNS = {
    "month": "month",
    "forecast": "forecast_revenue_usd",
    "lower_80": "lower_80_revenue_usd",
    "upper_80": "upper_80_revenue_usd",
    "lower_95": "lower_95_revenue_usd",
    "upper_95": "upper_95_revenue_usd",
}


def score_forecast(model: RevenueForecast, cutoff: datetime) -> dict[str, pl.DataFrame]:
    published = model.forecast.select(
        pl.col(name).alias(published) for name, published in PUBLISHED_FORECAST_COLUMNS.items()
    )
    return _stamped({"sales_forecast": published}, cutoff)


# ------------------------------------------------------------------------------------ feedback


def score_feedback(items: pl.DataFrame, cutoff: datetime, trained_at: datetime) -> tuple[ModelRun, pl.DataFrame]:
    """items: feedback_id, customer_id, source, text, occurred_at, ticket_category (feedback.score_feedback).

    Returns the run (counts and label shares as metrics; nothing to compare with, so it is
    published whenever there is feedback) and the scored items.
    """
    scored = feedback.score_feedback(items.filter(pl.col("occurred_at") < cutoff))
    with_text = scored.filter(pl.col("sentiment_score").is_not_null())
    shares = {
        f"{label}_share": float((with_text["sentiment_label"] == label).mean() or 0.0)
        for label in feedback.SENTIMENT_LABELS
    }
    published = scored.height > 0
    run = ModelRun(
        model_name=feedback.MODEL_NAME,
        model_version=f"{feedback.MODEL_NAME}-{feedback.MODEL_FAMILY}",
        trained_at=trained_at,
        data_start=scored["occurred_at"].min() if published else None,
        data_end=cutoff,
        training_cutoff=cutoff,
        training_rows=scored.height,
        parameters={"topics": list(feedback.TOPICS), "domain_lexicon_words": len(feedback.DOMAIN_LEXICON)},
        metrics={
            "items": float(scored.height),
            "items_with_text": float(with_text.height),
            "average_sentiment": float(with_text["sentiment_score"].mean() or 0.0),
            **shares,
        },
        baseline_metrics={},
        beats_baseline=published,
        verdict=(
            f"published: {with_text.height} of {scored.height} items had text to score"
            if published
            else "not published: no feedback before the analysis date"
        ),
    )
    return run, scored.with_columns(as_of_date(cutoff))
