"""Reading the models' inputs from the marts.

The models in ``models_ml`` take polars frames and return polars frames; this module is the only
place that knows which mart columns feed them. What the models' runs and scores write back is
:mod:`.model_store`'s part.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from models_ml.features import EMAIL_EVENT_TYPES, CustomerActivity


def read_analysis_cutoff(connection: duckdb.DuckDBPyConnection) -> datetime:
    """The end of the analysis day that dbt uses for every "as of" (CRM_ANALYSIS_DATE, or the day
    of the latest event): features see everything up to and including that day."""
    rows = connection.execute(
        "select cast(analysis_date as timestamp) + interval 1 day from intermediate.int_analysis_date"
    ).fetchall()
    if not rows or rows[0][0] is None:
        raise ValueError("intermediate.int_analysis_date is empty: no orders loaded?")
    return rows[0][0]


def _frame(connection: duckdb.DuckDBPyConnection, query: str) -> pl.DataFrame:
    return connection.sql(query).pl()


def read_feedback(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Survey comments: feedback_id, customer_id, source, text, occurred_at, ticket_category."""
    return _frame(
        connection,
        """
        select
            survey_id as feedback_id,
            customer_id,
            'survey' as source,
            comment as text,
            responded_at as occurred_at,
            ticket_category
        from marts.fct_survey_responses
        """,
    )


def read_scored_feedback(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """The current feedback scores as churn features, or None before feedback was first scored."""
    exists = connection.execute(
        "select count(*) from information_schema.tables where table_schema = 'ml' and table_name = 'feedback_scores'"
    ).fetchall()[0][0]
    if not exists:
        return None
    return _frame(
        connection,
        """
        select customer_id, occurred_at, sentiment_score
        from ml.feedback_scores_current
        where customer_id is not null and sentiment_score is not null
        """,
    )


def read_customer_activity(
    connection: duckdb.DuckDBPyConnection, with_feedback: bool = True, email_events_since: datetime | None = None
) -> CustomerActivity:
    """What customer_features reads. ``email_events_since``: leave out the deliveries, opens and
    clicks before it (unsubscribes are always read); see features.email_events_needed_since."""
    recent = "" if email_events_since is None else "and (occurred_at >= ? or interaction_type = 'email_unsubscribed')"
    return CustomerActivity(
        customers=_frame(
            connection,
            """
            select customer_id, coalesce(least(created_at, first_order_at), created_at, first_order_at) as first_seen_at
            from marts.dim_customers
            where coalesce(created_at, first_order_at) is not null
            """,
        ),
        orders=read_orders(connection),
        email_events=connection.sql(
            f"""
            select customer_id, regexp_replace(interaction_type, '^email_', '') as event_type, occurred_at
            from marts.fct_interactions
            where interaction_channel = 'email'
                and interaction_type in ({", ".join(f"'email_{kind}'" for kind in EMAIL_EVENT_TYPES)})
                {recent}
            """,
            params=[] if email_events_since is None else [email_events_since],
        ).pl(),
        tickets=_frame(
            connection,
            """
            select customer_id, occurred_at as created_at
            from marts.fct_interactions
            where interaction_channel = 'support'
            """,
        ),
        surveys=_frame(
            connection,
            """
            select customer_id, cast(satisfaction_score as double) as score, occurred_at as responded_at
            from marts.fct_interactions
            where interaction_channel = 'survey'
            """,
        ),
        feedback=read_scored_feedback(connection) if with_feedback else None,
    )


def read_orders(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Revenue-generating orders, net of refunds: customer_id, ordered_at, revenue_usd (what CLV
    is fitted on and churn features count).

    A refund is a record of its own, not a purchase: it is taken off the customer's latest order
    placed before it (floored at 0), so the customer's revenue is net of it while their purchase
    count and dates stay those of real orders. A refund older than any of the customer's orders
    (its order predates the data) has no order to net against and is left out.
    """
    return _frame(
        connection,
        """
        with revenue_orders as (
            select order_id, customer_id, ordered_at, cast(total_amount_usd as double) as amount_usd
            from marts.fct_orders
            where is_revenue_generating
        ),
        refunds as (
            select customer_id, ordered_at, -cast(net_revenue_usd as double) as refunded_usd
            from marts.fct_orders
            where is_refund and net_revenue_usd is not null
        ),
        refunded_orders as (
            select revenue_orders.order_id, sum(refunds.refunded_usd) as refunded_usd
            from refunds
            asof join revenue_orders
                on refunds.customer_id = revenue_orders.customer_id
                and refunds.ordered_at >= revenue_orders.ordered_at
            group by revenue_orders.order_id
        )
        select
            revenue_orders.customer_id,
            revenue_orders.ordered_at,
            case
                when revenue_orders.amount_usd is not null
                then greatest(revenue_orders.amount_usd - coalesce(refunded_orders.refunded_usd, 0), 0)
            end as revenue_usd
        from revenue_orders
        left join refunded_orders on revenue_orders.order_id = refunded_orders.order_id
        """,
    )


def read_purchases(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Lines of revenue-generating orders: customer_id, order_id, product_id, ordered_at, quantity, revenue_usd."""
    return _frame(
        connection,
        """
        select customer_id, order_id, product_id, ordered_at, quantity, cast(revenue_usd as double) as revenue_usd
        from marts.fct_order_lines
        where is_revenue_generating and customer_id is not null and product_id is not null
        """,
    )


def read_products(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The catalogue: product_id, product_name, category, is_offerable (in the current catalogue)."""
    return _frame(
        connection,
        """
        select product_id, product_name, category, true as is_offerable
        from marts.dim_products
        """,
    )


def read_monthly_revenue(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Complete months only: month, revenue_usd (the analysis month is dropped unless it is over)."""
    return _frame(
        connection,
        """
        select cast(date_month as date) as month, cast(revenue_usd as double) as revenue_usd
        from marts.sales_monthly
        where date_month + interval 1 month
            <= (select cast(analysis_date as date) + interval 1 day from intermediate.int_analysis_date)
        order by 1
        """,
    )


def read_customer_ids(connection: duckdb.DuckDBPyConnection) -> pl.Series:
    """Every customer of dim_customers, the population offers are made for."""
    return _frame(connection, "select customer_id from marts.dim_customers order by 1")["customer_id"]
