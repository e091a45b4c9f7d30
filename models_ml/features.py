"""Point-in-time customer features: everything about a customer known strictly before a cutoff.

Features for cutoff T read only events with a timestamp < T; labels read only events at or
after T. Training at an earlier cutoff and scoring at a later one therefore never leaks the
future into the past.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl


@dataclass(frozen=True)
class CustomerActivity:
    """The event history the features are computed from, one frame per kind of event.

    customers:     customer_id, first_seen_at (created, or first order when creation is unknown)
    orders:        customer_id, ordered_at, revenue_usd
    email_events:  customer_id, event_type, occurred_at
    tickets:       customer_id, created_at
    surveys:       customer_id, score, responded_at
    feedback:      customer_id, occurred_at, sentiment_score (optional; neutral when absent)
    """

    customers: pl.DataFrame
    orders: pl.DataFrame
    email_events: pl.DataFrame
    tickets: pl.DataFrame
    surveys: pl.DataFrame
    # customer_id, occurred_at, sentiment_score (-1..1): scored survey comments (models_ml.feedback)
    feedback: pl.DataFrame | None = None


# The email events the features read; a reader may leave the others out (sends and bounces are
# about half of all events, and a million customers have tens of millions of them).
EMAIL_EVENT_TYPES = ("delivered", "opened", "clicked", "unsubscribed")
# Deliveries, opens and clicks count over this many days before the cutoff; an unsubscribe counts
# whenever it happened.
EMAIL_WINDOW_DAYS = 90

FEATURE_COLUMNS = (
    "days_since_last_order",
    "order_count",
    "revenue_usd",
    "average_order_value_usd",
    "tenure_days",
    "orders_last_90_days",
    "order_trend",
    "emails_delivered_last_90_days",
    "email_open_rate_last_90_days",
    "email_clicks_last_90_days",
    "has_unsubscribed",
    "tickets_last_180_days",
    "average_satisfaction_score",
    "has_satisfaction_score",
    "feedback_sentiment_last_365_days",
    "negative_feedback_last_180_days",
)


def email_events_needed_since(cutoff: datetime) -> datetime:
    """The oldest email event, unsubscribes aside, that the features at ``cutoff`` read.

    A reader that only scores at ``cutoff`` may leave older deliveries, opens and clicks out (at a
    million customers that is seven eighths of two years of events); training, which computes
    features at earlier cutoffs too, needs them all."""
    return cutoff - timedelta(days=EMAIL_WINDOW_DAYS)


def _before(frame: pl.DataFrame, column: str, cutoff: datetime, days: int | None = None) -> pl.DataFrame:
    condition = pl.col(column) < cutoff
    if days is not None:
        condition = condition & (pl.col(column) >= cutoff - timedelta(days=days))
    return frame.filter(condition)


def customer_features(activity: CustomerActivity, cutoff: datetime) -> pl.DataFrame:
    """One row per customer known before ``cutoff``, whether or not they ever ordered."""
    email, unsubscribed = _email_features(activity.email_events, cutoff)
    tickets, surveys = _support_features(activity, cutoff)
    features = (
        _order_features(activity, cutoff)
        .join(email, on="customer_id", how="left")
        .join(_feedback_features(activity.feedback, cutoff), on="customer_id", how="left")
        .join(unsubscribed, on="customer_id", how="left")
        .join(tickets, on="customer_id", how="left")
        .join(surveys, on="customer_id", how="left")
        .with_columns(
            (
                pl.col("email_opens_last_90_days").fill_null(0)
                / pl.col("emails_delivered_last_90_days").fill_null(0).clip(lower_bound=1)
            ).alias("email_open_rate_last_90_days"),
            pl.col("average_satisfaction_score").is_not_null().cast(pl.Int64).alias("has_satisfaction_score"),
            # A customer who never answered a survey is treated as neutral (3 of 5).
            pl.col("average_satisfaction_score").fill_null(3.0),
        )
        .with_columns(
            pl.col(name).fill_null(0)
            for name in (
                "emails_delivered_last_90_days",
                "email_clicks_last_90_days",
                "has_unsubscribed",
                "tickets_last_180_days",
                "feedback_sentiment_last_365_days",  # no comments: neutral
                "negative_feedback_last_180_days",
            )
        )
    )
    return (
        features.select("customer_id", *FEATURE_COLUMNS)
        .with_columns(pl.col(name).cast(pl.Float64) for name in FEATURE_COLUMNS)
        .sort("customer_id")
    )


def _order_features(activity: CustomerActivity, cutoff: datetime) -> pl.DataFrame:
    """Every customer known before the cutoff with their order history: recency, frequency,
    spend, tenure, and the last 90 days' orders against the 90 before (the trend)."""
    known = _before(activity.customers, "first_seen_at", cutoff).select("customer_id", "first_seen_at")
    orders = _before(activity.orders, "ordered_at", cutoff)
    days_before_cutoff = (pl.lit(cutoff) - pl.col("ordered_at")).dt.total_days()
    order_history = orders.group_by("customer_id").agg(
        pl.col("ordered_at").max().alias("last_ordered_at"),
        pl.len().alias("order_count"),
        pl.col("revenue_usd").sum().alias("revenue_usd"),
        pl.col("revenue_usd").mean().alias("average_order_value_usd"),
        (days_before_cutoff < 90).sum().alias("orders_last_90_days"),
        ((days_before_cutoff >= 90) & (days_before_cutoff < 180)).sum().alias("orders_previous_90_days"),
    )
    return (
        known.join(order_history, on="customer_id", how="left")
        .with_columns(
            # A customer who never ordered is as "recent" as their first appearance.
            (pl.lit(cutoff) - pl.coalesce("last_ordered_at", "first_seen_at"))
            .dt.total_days()
            .alias("days_since_last_order"),
            (pl.lit(cutoff) - pl.col("first_seen_at")).dt.total_days().alias("tenure_days"),
            pl.col(
                "order_count",
                "revenue_usd",
                "average_order_value_usd",
                "orders_last_90_days",
                "orders_previous_90_days",
            ).fill_null(0),
        )
        .with_columns(
            ((pl.col("orders_last_90_days") + 1) / (pl.col("orders_previous_90_days") + 1)).alias("order_trend")
        )
    )


def _email_features(email_events: pl.DataFrame, cutoff: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(deliveries, opens and clicks in the email window; who ever unsubscribed), per customer."""
    email = (
        _before(email_events, "occurred_at", cutoff, days=EMAIL_WINDOW_DAYS)
        .group_by("customer_id")
        .agg(
            (pl.col("event_type") == "delivered").sum().alias("emails_delivered_last_90_days"),
            (pl.col("event_type") == "opened").sum().alias("email_opens_last_90_days"),
            (pl.col("event_type") == "clicked").sum().alias("email_clicks_last_90_days"),
        )
    )
    unsubscribed = (
        _before(email_events, "occurred_at", cutoff)
        .filter(pl.col("event_type") == "unsubscribed")
        .select("customer_id")
        .unique()
        .with_columns(pl.lit(1).alias("has_unsubscribed"))
    )
    return email, unsubscribed


def _support_features(activity: CustomerActivity, cutoff: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(tickets in the last 180 days; the average survey score over the last year), per customer."""
    tickets = (
        _before(activity.tickets, "created_at", cutoff, days=180)
        .group_by("customer_id")
        .agg(pl.len().alias("tickets_last_180_days"))
    )
    surveys = (
        _before(activity.surveys, "responded_at", cutoff, days=365)
        .group_by("customer_id")
        .agg(pl.col("score").cast(pl.Float64).mean().alias("average_satisfaction_score"))
    )
    return tickets, surveys


def _feedback_features(feedback: pl.DataFrame | None, cutoff: datetime) -> pl.DataFrame:
    """The comments' average sentiment over the last year and the negative ones of the last 180
    days, per customer (no rows without scored feedback: the caller fills in neutral)."""
    feedback_history = (
        feedback
        if feedback is not None
        else pl.DataFrame(
            schema={"customer_id": pl.String, "occurred_at": pl.Datetime("us"), "sentiment_score": pl.Float64}
        )
    )
    days_before = (pl.lit(cutoff) - pl.col("occurred_at")).dt.total_days()
    return (
        _before(feedback_history, "occurred_at", cutoff, days=365)
        .group_by("customer_id")
        .agg(
            pl.col("sentiment_score").mean().alias("feedback_sentiment_last_365_days"),
            ((pl.col("sentiment_score") <= -0.05) & (days_before < 180)).sum().alias("negative_feedback_last_180_days"),
        )
    )


# Who can churn. A churn probability answers "will this customer order again within the horizon?",
# which only means something for a customer who is still buying: someone who never placed a
# revenue-generating order is a prospect (a conversion question), and someone whose last order is
# more than LAPSED_AFTER_HORIZONS horizons old (a year with the 90-day horizon) has already gone
# (a win-back question). Both get a status instead of a probability, and neither is in the model's
# training set, so that "high risk" means an account that is still active but slipping.
CHURN_STATUS_ACTIVE = "active"
CHURN_STATUS_LAPSED = "lapsed"
CHURN_STATUS_PROSPECT = "prospect"
CHURN_STATUSES = (CHURN_STATUS_ACTIVE, CHURN_STATUS_LAPSED, CHURN_STATUS_PROSPECT)
LAPSED_AFTER_HORIZONS = 4


def lapsed_after_days(horizon_days: int) -> int:
    """Days without an order after which a customer counts as lapsed rather than at risk."""
    return LAPSED_AFTER_HORIZONS * horizon_days


def churn_status(horizon_days: int) -> pl.Expr:
    """'prospect', 'lapsed' or 'active' (the scored population), from ``customer_features`` columns."""
    return (
        pl.when(pl.col("order_count") == 0)
        .then(pl.lit(CHURN_STATUS_PROSPECT))
        .when(pl.col("days_since_last_order") > lapsed_after_days(horizon_days))
        .then(pl.lit(CHURN_STATUS_LAPSED))
        .otherwise(pl.lit(CHURN_STATUS_ACTIVE))
        .alias("churn_status")
    )


def churn_labels(activity: CustomerActivity, cutoff: datetime, horizon_days: int) -> pl.DataFrame:
    """is_churned = 1 when a customer known before ``cutoff`` does not buy within the horizon."""
    known_before = _before(activity.customers, "first_seen_at", cutoff).select("customer_id").unique()
    buyers_after = (
        activity.orders.filter(
            (pl.col("ordered_at") >= cutoff) & (pl.col("ordered_at") < cutoff + timedelta(days=horizon_days))
        )
        .select("customer_id")
        .unique()
        .with_columns(pl.lit(0).alias("is_churned"))
    )
    return (
        known_before.join(buyers_after, on="customer_id", how="left")
        .with_columns(pl.col("is_churned").fill_null(1))
        .sort("customer_id")
    )
