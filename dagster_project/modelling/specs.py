"""The models the pipeline runs, one row each: what they read, how they train and score, what
their asset depends on and says, and how their scores are summed up for the run's metadata.

``dagster_project.assets.models`` builds one asset (and one baseline check) per row, so adding a
model means adding a row here and its functions in ``models_ml``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

import duckdb
import polars as pl

from dagster_project.core import model_inputs
from models_ml import churn, training
from models_ml.features import (
    LAPSED_AFTER_HORIZONS,
    CustomerActivity,
    email_events_needed_since,
    lapsed_after_days,
)

ScoreOnly = Callable[[duckdb.DuckDBPyConnection, datetime, datetime], tuple[training.ModelRun, pl.DataFrame]]


class Markdown(str):
    """A summary value to show as Markdown (a list per segment, band or month)."""


def _listing(rows: list[tuple[object, object]]) -> Markdown:
    return Markdown("\n".join(f"- {label}: {value}" for label, value in rows))


@dataclass(frozen=True)
class ModelSpec:
    """One model of the pipeline.

    ``train(inputs, cutoff, trained_at)`` and ``score(model, inputs, cutoff)`` are the
    ``models_ml.training`` functions (or adapters to their argument lists); ``read`` reads what
    training needs, ``read_for_scoring`` (optional) the less that scoring at a cutoff needs.
    """

    model_name: str  # the name in ml.model_runs
    asset_name: str  # the asset ml/<asset_name> and its ml.<asset_name> score tables
    description: str
    kinds: frozenset[str]
    marts: tuple[str, ...]  # the marts it reads (its dependencies, with the analysis date)
    summarize: Callable[[pl.DataFrame], dict[str, object]]  # extra metadata from its scores
    read: Callable[[duckdb.DuckDBPyConnection], Any] | None = None
    train: Callable[[Any, datetime, datetime], training.TrainedModel] | None = None
    score: Callable[[Any, Any, datetime], dict[str, pl.DataFrame]] | None = None
    # A scorer with nothing to train (the feedback lexicon): (connection, cutoff, now) -> run, scores.
    score_only: ScoreOnly | None = None
    check_says: str | None = None  # what a published model did on the backtest (None: no baseline check)
    check_name: str | None = None  # default <model_name>_beats_baseline
    read_for_scoring: Callable[[duckdb.DuckDBPyConnection, datetime], Any] | None = None
    always_train: str | None = None  # why it is trained every run (then it takes no retrain policy)
    model_family: str | None = None  # retrain over a published model of another family
    upstream_models: tuple[str, ...] = field(default=())  # other ml assets whose scores it reads

    @property
    def takes_retrain_policy(self) -> bool:
        """Whether a run decides to train or to score (the others train, or only score, every run)."""
        return self.score_only is None and self.always_train is None


def read_activity_for_scoring(
    connection: duckdb.DuckDBPyConnection, cutoff: datetime, with_feedback: bool = True
) -> CustomerActivity:
    """What scoring the customers at ``cutoff`` reads: the email events only as far back as the
    features look, which at a million customers is a fraction of the history training reads."""
    return model_inputs.read_customer_activity(
        connection, with_feedback=with_feedback, email_events_since=email_events_needed_since(cutoff)
    )


class OfferInputs(NamedTuple):
    purchases: pl.DataFrame
    products: pl.DataFrame
    customer_ids: pl.Series


def read_offer_inputs(connection: duckdb.DuckDBPyConnection) -> OfferInputs:
    return OfferInputs(
        purchases=model_inputs.read_purchases(connection),
        products=model_inputs.read_products(connection).rename({"product_name": "name"}),
        customer_ids=model_inputs.read_customer_ids(connection),
    )


def _churn_summary(scores: pl.DataFrame) -> dict[str, object]:
    statuses = scores.group_by("churn_status").len().sort("churn_status")
    bands = scores.drop_nulls("churn_risk_band").group_by("churn_risk_band").len().sort("churn_risk_band")
    return {
        "customers_per_churn_status": _listing(statuses.rows()),
        "active_customers_per_risk_band": _listing(bands.rows()),
    }


def _segments_summary(scores: pl.DataFrame) -> dict[str, object]:
    sizes = scores.group_by("segment_id", "segment_name").len().sort("segment_id")
    return {"customers_per_segment": _listing([(name, count) for _, name, count in sizes.iter_rows()])}


def _forecast_summary(scores: pl.DataFrame) -> dict[str, object]:
    rows = scores.select("month", "forecast_revenue_usd", "lower_80_revenue_usd", "upper_80_revenue_usd").iter_rows()
    return {
        "forecast": Markdown(
            "\n".join(
                f"- {month:%Y-%m}: {value:,.0f} USD (80%: {low:,.0f} to {high:,.0f})"
                for month, value, low, high in rows
            )
        )
    }


def _score_feedback(
    connection: duckdb.DuckDBPyConnection, cutoff: datetime, now: datetime
) -> tuple[training.ModelRun, pl.DataFrame]:
    return training.score_feedback(model_inputs.read_feedback(connection), cutoff, now)


def _feedback_summary(scores: pl.DataFrame) -> dict[str, object]:
    topics = scores.group_by("topic").len().sort("len", descending=True)
    return {"items_per_topic": _listing(topics.rows())}


MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        model_name="feedback",
        asset_name="feedback_scores",
        description=(
            "Sentiment (VADER with a retail support lexicon, -1..1, and negative/neutral/positive) and topic "
            "(delivery, billing, product quality, service, returns, other) of every survey comment. "
            "Read by the churn model as features. ml.feedback_scores_current has the latest run."
        ),
        kinds=frozenset({"python", "duckdb"}),
        marts=("fct_survey_responses",),
        score_only=_score_feedback,
        summarize=_feedback_summary,
    ),
    ModelSpec(
        model_name="churn",
        asset_name="churn_scores",
        description=(
            "Churn status of every customer: 'active' customers (a revenue-generating order within the last "
            f"{LAPSED_AFTER_HORIZONS} horizons, {lapsed_after_days(churn.DEFAULT_HORIZON_DAYS)} days) get a churn "
            "probability (calibrated), risk band and up to three reasons that raise the risk; 'prospect' (never "
            "ordered) and 'lapsed' (no order for longer) get none. From a logistic model backtested against 'days "
            "since last order'; published only when it beats that baseline. History in ml.churn_scores; "
            "ml.churn_scores_current has the latest run."
        ),
        kinds=frozenset({"scikitlearn", "duckdb"}),
        marts=("dim_customers", "fct_orders", "fct_interactions"),
        upstream_models=("feedback_scores",),
        read=model_inputs.read_customer_activity,
        read_for_scoring=read_activity_for_scoring,
        train=training.train_churn,
        score=training.score_churn,
        model_family=churn.MODEL_FAMILY,
        summarize=_churn_summary,
        check_says="beat 'days since last order' in ROC AUC",
    ),
    ModelSpec(
        model_name="clv",
        asset_name="clv_scores",
        description=(
            "Customer lifetime value over the next 12 months (BG/NBD purchases x Gamma-Gamma spend, 1% monthly "
            "discount), P(alive) and expected purchases per customer. Backtested on the last 180 days against "
            "'spend so far per day'; published only when it ranks the holdout spend at least as well."
        ),
        kinds=frozenset({"scipy", "duckdb"}),
        marts=("fct_orders",),
        read=model_inputs.read_orders,
        train=training.train_clv,
        score=training.score_clv,
        summarize=lambda scores: {"total_clv_usd": round(float(scores["clv_next_365_days_usd"].sum()), 2)},
        check_says="ranked holdout spend at least as well as 'spend per day'",
    ),
    ModelSpec(
        model_name="next_best_offer",
        asset_name="next_best_offers",
        description=(
            "Top 10 products per customer that they never bought (co-purchase, category and popularity blend), "
            "each with a score and a reason. Backtested on the last 90 days against global popularity and the "
            "customer's own most-bought products; published only when it beats both on recall@10 and NDCG@10."
        ),
        kinds=frozenset({"scipy", "duckdb"}),
        marts=("dim_customers", "dim_products", "fct_order_lines"),
        read=read_offer_inputs,
        train=lambda inputs, cutoff, now: training.train_offers(inputs.purchases, inputs.products, cutoff, now),
        score=lambda model, inputs, cutoff: training.score_offers(model, inputs.purchases, inputs.customer_ids, cutoff),
        summarize=lambda scores: {"customers_with_offers": scores["customer_id"].n_unique()},
        check_says="beat popularity and own history on recall@10 and NDCG@10",
    ),
    ModelSpec(
        model_name="segments",
        asset_name="customer_segments",
        description=(
            "Behavioural segment of every customer: k-means on standardised recency, frequency, spend, tenure, "
            "email engagement and support load, with a rule-based name and a one-line description per segment."
        ),
        kinds=frozenset({"scikitlearn", "duckdb"}),
        marts=("dim_customers", "fct_orders", "fct_interactions"),
        read=lambda connection: model_inputs.read_customer_activity(connection, with_feedback=False),
        read_for_scoring=partial(read_activity_for_scoring, with_feedback=False),
        train=training.train_segments,
        score=training.score_segments,
        summarize=_segments_summary,
        check_says="gave segments of at least 1% of customers",
        check_name="segments_are_usable",
    ),
    ModelSpec(
        model_name="revenue_forecast",
        asset_name="sales_forecast",
        description=(
            "Revenue of the next 6 months with 80% and 95% prediction intervals (log-linear trend and month "
            "effects). Backtested on rolling origins against the seasonal-naive forecast (same month last year); "
            "published only when its MASE is lower. Refitted every run: it takes milliseconds."
        ),
        kinds=frozenset({"numpy", "duckdb"}),
        marts=("sales_monthly",),
        read=model_inputs.read_monthly_revenue,
        train=training.train_forecast,
        score=lambda model, _monthly, cutoff: training.score_forecast(model, cutoff),
        always_train="the forecast is refitted on the latest months every run",
        summarize=_forecast_summary,
        check_says="beat seasonal naive in MASE",
    ),
)
