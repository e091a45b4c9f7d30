"""Model assets: train on the marts, score every customer, write scores back to ``ml.*``.

Each asset is thin: it reads its inputs with ``model_store``, and ``models_ml.training`` does the
rest. Training and scoring are separate steps, so a night can score with the model trained
earlier (``ModelConfig``): by default a model is retrained when the published one was trained
on data more than a week older than the analysis date, and the weekly training job retrains
everything. A trained model that does not beat its baseline on the backtest is recorded but
not published: its check fails, the run log says why, and the previous scores stay current.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg
import duckdb
import polars as pl
from pydantic import Field

from dagster_project.core import model_store
from dagster_project.orchestration.resources import WAREHOUSE_WRITER_POOL, WarehouseResource
from models_ml import churn, training
from models_ml.features import LAPSED_AFTER_HORIZONS, email_events_needed_since, lapsed_after_days

DEFAULT_MAX_MODEL_AGE_DAYS = 7


class ModelConfig(dg.Config):
    """When a model asset trains a new model, and when it scores with the published one."""

    retrain: bool = Field(
        default=False, description="Train a new model even if the published one is recent (the weekly job sets it)."
    )
    max_model_age_days: int = Field(
        default=DEFAULT_MAX_MODEL_AGE_DAYS,
        description="Retrain when the published model saw data more than this many days older than the analysis date.",
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _reason_to_train(
    config: ModelConfig, published: dict | None, cutoff: datetime, model_family: str | None = None
) -> str | None:
    """Why this run trains a new model, or None to score with the published one."""
    if config.retrain:
        return "retraining was requested"
    if published is None:
        return "no model has been published yet"
    if not published["artefact_path"] or not Path(published["artefact_path"]).exists():
        return f"the artefact of {published['model_version']} is missing"
    # A model of an older family may read other features than this code computes.
    if model_family is not None and f"-{model_family}-" not in published["model_version"]:
        return f"the published model {published['model_version']} is not of the current family {model_family}"
    age = cutoff - published["data_end"]
    if age > timedelta(days=config.max_model_age_days):
        return (
            f"the published model {published['model_version']} saw data up to {published['data_end']:%Y-%m-%d}, "
            f"{age.days} days before this analysis date (max {config.max_model_age_days})"
        )
    return None


@dataclass
class ModelOutcome:
    """What one model asset did: trained (and maybe published) a model, or scored with the published one."""

    model_version: str
    trained: bool
    published: bool
    message: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    scores: dict[str, pl.DataFrame]
    artefact_path: str | None

    def metadata(self) -> dict[str, object]:
        metadata: dict[str, object] = {
            "model_version": self.model_version,
            "trained_this_run": self.trained,
            "published": self.published,
            "outcome": self.message,
        }
        if self.scores:
            metadata["dagster/row_count"] = sum(frame.height for frame in self.scores.values())
        metadata.update({f"backtest_{name}": round(value, 4) for name, value in self.metrics.items()})
        metadata.update({f"baseline_{name}": round(value, 4) for name, value in self.baseline_metrics.items()})
        if self.artefact_path:
            metadata["artefact"] = dg.MetadataValue.path(self.artefact_path)
        return metadata


def train_or_score(
    log: logging.Logger | dg.DagsterLogManager,
    run_id: str | None,
    config: ModelConfig,
    warehouse: WarehouseResource,
    connection: duckdb.DuckDBPyConnection,
    model_name: str,
    cutoff: datetime,
    train: Callable[[datetime], training.TrainedModel],
    score: Callable[[object], dict[str, pl.DataFrame]],
    always_train: str | None = None,
    model_family: str | None = None,
) -> ModelOutcome:
    """The shared body of the model assets: train when due (see ``ModelConfig``; ``always_train``
    says why a model is trained every run; ``model_family``, when given, retrains over a published
    model of another family), then score and record."""
    now = _now()
    published = model_store.latest_run(connection, model_name, published_only=True)
    reason = always_train or _reason_to_train(config, published, cutoff, model_family)
    if reason is None:
        log.info(f"{model_name}: scoring with the published model {published['model_version']}")
        scores = score(model_store.load_artefact(published["artefact_path"]))
        model_store.record_scores(connection, published["model_version"], scores, scored_at=now)
        return ModelOutcome(
            model_version=published["model_version"],
            trained=False,
            published=True,
            message=(
                f"scored with {published['model_version']} (trained {published['trained_at']:%Y-%m-%d %H:%M} UTC); "
                "no training due"
            ),
            metrics=published["metrics"],
            baseline_metrics=published["baseline_metrics"],
            scores=scores,
            artefact_path=published["artefact_path"],
        )

    log.info(f"{model_name}: training, because {reason}")
    try:
        trained = train(now)
    except ValueError as error:
        # models_ml raises ValueError when the data cannot support the model (too little history,
        # no purchases before the backtest cutoff, ...): that is a verdict, not a failed run.
        trained = training.TrainedModel(
            run=training.ModelRun(
                model_name=model_name,
                model_version=f"{model_name}-not-trained-{cutoff:%Y%m%d}",
                trained_at=now,
                data_end=cutoff,
                metrics={},
                baseline_metrics={},
                beats_baseline=False,
                verdict=f"not published: could not be trained on this data: {error}; the previous scores stay current",
            ),
            model=None,
        )
    run = trained.run
    run.run_id = run_id
    if trained.model is not None:
        model_store.save_artefact(warehouse.settings().models_dir, run, trained.model)
    scores = score(trained.model) if run.is_published else {}
    model_store.record_run(connection, run, scores=scores, scored_at=now, feature_importance=trained.feature_importance)
    if not run.is_published:
        log.warning(f"{model_name}: {run.verdict}")
    return ModelOutcome(
        model_version=run.model_version,
        trained=True,
        published=run.is_published,
        message=f"trained because {reason}; {run.verdict}",
        metrics=run.metrics,
        baseline_metrics=run.baseline_metrics,
        scores=scores,
        artefact_path=run.artefact_path,
    )


def _beats_baseline_check(
    model_name: str, asset_key: list[str], what: str, name: str | None = None
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(asset_key),
        name=name or f"{model_name}_beats_baseline",
        # Not blocking: the scores that dbt joins are the last published ones, so what runs
        # downstream stays right when a new model is held back.
        blocking=False,
        pool=WAREHOUSE_WRITER_POOL,
        description=f"The latest {model_name} training run {what} on the backtest, so it was published.",
    )
    def check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        # Read-write like every step of the pool (see quality_checks.py).
        with warehouse.connect() as connection:
            run = model_store.latest_run(connection, model_name)
        if run is None:
            return dg.AssetCheckResult(passed=False, description=f"no {model_name} run recorded")
        return dg.AssetCheckResult(
            passed=bool(run["is_published"]),
            severity=dg.AssetCheckSeverity.ERROR,
            description=run["verdict"],
            metadata={"model_version": run["model_version"], "trained_at": str(run["trained_at"])},
        )

    return check


class _OfferInputs(NamedTuple):
    purchases: pl.DataFrame
    products: pl.DataFrame
    customer_ids: pl.Series


def _read_offer_inputs(connection: duckdb.DuckDBPyConnection) -> _OfferInputs:
    return _OfferInputs(
        purchases=model_store.read_purchases(connection),
        products=model_store.read_products(connection).rename({"product_name": "name"}),
        customer_ids=model_store.read_customer_ids(connection),
    )


def _model_step(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    warehouse: WarehouseResource,
    model_name: str,
    read: Callable[[duckdb.DuckDBPyConnection], Any],
    train: Callable[[Any, datetime, datetime], training.TrainedModel],
    score: Callable[[object, Any, datetime], dict[str, pl.DataFrame]],
    always_train: str | None = None,
    read_for_scoring: Callable[[duckdb.DuckDBPyConnection, datetime], Any] | None = None,
    model_family: str | None = None,
) -> tuple[ModelOutcome, datetime]:
    """What every model asset does: read its inputs and the analysis cutoff, then train or score.

    ``train(inputs, cutoff, trained_at)`` and ``score(model, inputs, cutoff)`` are the
    ``models_ml.training`` functions (or adapters to their argument lists). ``read_for_scoring``
    reads only what scoring at the cutoff needs, on the nights that do not train (a tenth of the
    events at a million customers); without it ``read`` serves both.
    """
    with warehouse.connect() as connection:
        cutoff = model_store.read_analysis_cutoff(connection)
        everything = None  # what training read, which scoring then reuses

        def training_inputs() -> Any:
            nonlocal everything
            everything = read(connection)
            return everything

        def scoring_inputs() -> Any:
            if everything is not None:
                return everything
            return read_for_scoring(connection, cutoff) if read_for_scoring else read(connection)

        outcome = train_or_score(
            context.log,
            context.run.run_id,
            config,
            warehouse,
            connection,
            model_name,
            cutoff,
            train=lambda now: train(training_inputs(), cutoff, now),
            score=lambda model: score(model, scoring_inputs(), cutoff),
            always_train=always_train,
            model_family=model_family,
        )
    return outcome, cutoff


def _marts(*names: str) -> list[dg.AssetKey]:
    return [dg.AssetKey(["intermediate", "int_analysis_date"]), *(dg.AssetKey(["marts", name]) for name in names)]


@dg.asset(
    key=["ml", "feedback_scores"],
    group_name="models",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_WRITER_POOL,
    deps=_marts("fct_survey_responses"),
    description=(
        "Sentiment (VADER with a retail support lexicon, -1..1, and negative/neutral/positive) and topic "
        "(delivery, billing, product quality, service, returns, other) of every survey comment. "
        "Read by the churn model as features. ml.feedback_scores_current has the latest run."
    ),
)
def feedback_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as connection:
        cutoff = model_store.read_analysis_cutoff(connection)
        run, scored = training.score_feedback(model_store.read_feedback(connection), cutoff, _now())
        run.run_id = context.run.run_id
        model_store.record_run(connection, run, scores={"feedback_scores": scored}, scored_at=run.trained_at)
    topics = scored.group_by("topic").len().sort("len", descending=True)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": scored.height,
            "outcome": run.verdict,
            **{name: round(value, 4) for name, value in run.metrics.items()},
            "items_per_topic": dg.MetadataValue.md("\n".join(f"- {t}: {n}" for t, n in topics.iter_rows())),
        }
    )


@dg.asset(
    key=["ml", "churn_scores"],
    group_name="models",
    kinds={"scikitlearn", "duckdb"},
    pool=WAREHOUSE_WRITER_POOL,
    deps=[*_marts("dim_customers", "fct_orders", "fct_interactions"), dg.AssetKey(["ml", "feedback_scores"])],
    description=(
        "Churn status of every customer: 'active' customers (a revenue-generating order within the last "
        f"{LAPSED_AFTER_HORIZONS} horizons, {lapsed_after_days(churn.DEFAULT_HORIZON_DAYS)} days) get a churn "
        "probability (calibrated), risk band and up to three reasons "
        "that raise the risk; 'prospect' (never ordered) and 'lapsed' (no order for longer) get none. From "
        "a logistic model backtested against 'days since last order'; published only when it beats that "
        "baseline. History in ml.churn_scores; ml.churn_scores_current has the latest run."
    ),
)
def churn_scores(
    context: dg.AssetExecutionContext, config: ModelConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    outcome, cutoff = _model_step(
        context,
        config,
        warehouse,
        "churn",
        read=model_store.read_customer_activity,
        read_for_scoring=lambda connection, cutoff: model_store.read_customer_activity(
            connection, email_events_since=email_events_needed_since(cutoff)
        ),
        train=training.train_churn,
        score=training.score_churn,
        model_family=churn.MODEL_FAMILY,
    )
    metadata = {"analysis_cutoff": cutoff.isoformat(), **outcome.metadata()}
    if outcome.scores:
        scores = outcome.scores["churn_scores"]
        statuses = scores.group_by("churn_status").len().sort("churn_status")
        metadata["customers_per_churn_status"] = dg.MetadataValue.md(
            "\n".join(f"- {status}: {count}" for status, count in statuses.iter_rows())
        )
        bands = scores.drop_nulls("churn_risk_band").group_by("churn_risk_band").len().sort("churn_risk_band")
        metadata["active_customers_per_risk_band"] = dg.MetadataValue.md(
            "\n".join(f"- {band}: {count}" for band, count in bands.iter_rows())
        )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=["ml", "clv_scores"],
    group_name="models",
    kinds={"scipy", "duckdb"},
    pool=WAREHOUSE_WRITER_POOL,
    deps=_marts("fct_orders"),
    description=(
        "Customer lifetime value over the next 12 months (BG/NBD purchases x Gamma-Gamma spend, 1% monthly "
        "discount), P(alive) and expected purchases per customer. Backtested on the last 180 days against "
        "'spend so far per day'; published only when it ranks the holdout spend at least as well."
    ),
)
def clv_scores(
    context: dg.AssetExecutionContext, config: ModelConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    outcome, _ = _model_step(
        context,
        config,
        warehouse,
        "clv",
        read=model_store.read_orders,
        train=training.train_clv,
        score=training.score_clv,
    )
    metadata = outcome.metadata()
    if outcome.scores:
        metadata["total_clv_usd"] = round(float(outcome.scores["clv_scores"]["clv"].sum()), 2)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=["ml", "next_best_offers"],
    group_name="models",
    kinds={"scipy", "duckdb"},
    pool=WAREHOUSE_WRITER_POOL,
    deps=_marts("dim_customers", "dim_products", "fct_order_lines"),
    description=(
        "Top 10 products per customer that they never bought (co-purchase, category and popularity blend), "
        "each with a score and a reason. Backtested on the last 90 days against global popularity and the "
        "customer's own most-bought products; published only when it beats both on recall@10 and NDCG@10."
    ),
)
def next_best_offers(
    context: dg.AssetExecutionContext, config: ModelConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    outcome, _ = _model_step(
        context,
        config,
        warehouse,
        "next_best_offer",
        read=_read_offer_inputs,
        train=lambda inputs, cutoff, now: training.train_offers(inputs.purchases, inputs.products, cutoff, now),
        score=lambda model, inputs, cutoff: training.score_offers(model, inputs.purchases, inputs.customer_ids, cutoff),
    )
    metadata = outcome.metadata()
    if outcome.scores:
        metadata["customers_with_offers"] = outcome.scores["next_best_offers"]["customer_id"].n_unique()
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=["ml", "customer_segments"],
    group_name="models",
    kinds={"scikitlearn", "duckdb"},
    pool=WAREHOUSE_WRITER_POOL,
    deps=_marts("dim_customers", "fct_orders", "fct_interactions"),
    description=(
        "Behavioural segment of every customer: k-means on standardised recency, frequency, spend, tenure, "
        "email engagement and support load, with a rule-based name and a one-line description per segment."
    ),
)
def customer_segments(
    context: dg.AssetExecutionContext, config: ModelConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    outcome, _ = _model_step(
        context,
        config,
        warehouse,
        "segments",
        read=lambda connection: model_store.read_customer_activity(connection, with_feedback=False),
        read_for_scoring=lambda connection, cutoff: model_store.read_customer_activity(
            connection, with_feedback=False, email_events_since=email_events_needed_since(cutoff)
        ),
        train=training.train_segments,
        score=training.score_segments,
    )
    metadata = outcome.metadata()
    if outcome.scores:
        sizes = outcome.scores["customer_segments"].group_by("segment_id", "segment_name").len().sort("segment_id")
        metadata["customers_per_segment"] = dg.MetadataValue.md(
            "\n".join(f"- {name}: {count}" for _, name, count in sizes.iter_rows())
        )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=["ml", "sales_forecast"],
    group_name="models",
    kinds={"numpy", "duckdb"},
    pool=WAREHOUSE_WRITER_POOL,
    deps=_marts("sales_monthly"),
    description=(
        "Revenue of the next 6 months with 80% and 95% prediction intervals (log-linear trend and month "
        "effects). Backtested on rolling origins against the seasonal-naive forecast (same month last year); "
        "published only when its MASE is lower. Refitted every run: it takes milliseconds."
    ),
)
def sales_forecast(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    outcome, _ = _model_step(
        context,
        ModelConfig(),
        warehouse,
        "revenue_forecast",
        read=model_store.read_monthly_revenue,
        train=training.train_forecast,
        score=lambda model, _monthly, cutoff: training.score_forecast(model, cutoff),
        always_train="the forecast is refitted on the latest months every run",
    )
    metadata = outcome.metadata()
    if outcome.scores:
        rows = outcome.scores["sales_forecast"].select("month", "forecast", "lower_80", "upper_80").iter_rows()
        metadata["forecast"] = dg.MetadataValue.md(
            "\n".join(
                f"- {month:%Y-%m}: {value:,.0f} USD (80%: {low:,.0f} to {high:,.0f})"
                for month, value, low, high in rows
            )
        )
    return dg.MaterializeResult(metadata=metadata)


model_assets = [feedback_scores, churn_scores, clv_scores, next_best_offers, customer_segments, sales_forecast]
model_checks = [
    _beats_baseline_check("churn", ["ml", "churn_scores"], "beat 'days since last order' in ROC AUC"),
    _beats_baseline_check("clv", ["ml", "clv_scores"], "ranked holdout spend at least as well as 'spend per day'"),
    _beats_baseline_check(
        "next_best_offer", ["ml", "next_best_offers"], "beat popularity and own history on recall@10 and NDCG@10"
    ),
    _beats_baseline_check("revenue_forecast", ["ml", "sales_forecast"], "beat seasonal naive in MASE"),
    _beats_baseline_check(
        "segments", ["ml", "customer_segments"], "gave segments of at least 1% of customers", name="segments_are_usable"
    ),
]
# Assets that train a model and take ModelConfig; the weekly training job sets retrain on each.
TRAINABLE_MODEL_ASSETS = [churn_scores, clv_scores, next_best_offers, customer_segments]
