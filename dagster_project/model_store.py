"""Reading model inputs from the marts and writing scores back to ``ml.*``.

The models in ``models_ml`` take polars frames and return polars frames; this module is the only
place that knows which mart columns feed them and what the ``ml`` tables look like.
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import polars as pl

from models_ml.churn import ChurnTrainingResult
from models_ml.features import CustomerActivity

ML_SCHEMA_DDL = (
    "CREATE SCHEMA IF NOT EXISTS ml",
    """
    CREATE TABLE IF NOT EXISTS ml.churn_scores (
        customer_id VARCHAR NOT NULL,
        churn_probability DOUBLE NOT NULL,
        churn_risk_band VARCHAR NOT NULL,
        as_of_date DATE NOT NULL,
        model_version VARCHAR NOT NULL,
        scored_at TIMESTAMP NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS ml.model_runs (
        model_name VARCHAR NOT NULL,
        model_version VARCHAR NOT NULL,
        trained_at TIMESTAMP NOT NULL,
        training_cutoff TIMESTAMP NOT NULL,
        backtest_cutoff TIMESTAMP NOT NULL,
        training_rows BIGINT NOT NULL,
        parameters JSON,
        metrics JSON,
        baseline_metrics JSON,
        beats_baseline BOOLEAN NOT NULL
    )
    """,
)


def read_analysis_cutoff(connection: duckdb.DuckDBPyConnection) -> datetime:
    """The end of the analysis day that dbt uses for every "as of" (CRM_ANALYSIS_DATE, or the day
    of the latest event): features see everything up to and including that day."""
    rows = connection.execute(
        "select cast(analysis_date as timestamp) + interval 1 day from intermediate.int_analysis_date"
    ).fetchall()
    if not rows or rows[0][0] is None:
        raise ValueError("intermediate.int_analysis_date is empty: no orders loaded?")
    return rows[0][0]


def read_customer_activity(connection: duckdb.DuckDBPyConnection) -> CustomerActivity:
    def frame(query: str) -> pl.DataFrame:
        return connection.sql(query).pl()

    return CustomerActivity(
        customers=frame(
            """
            select customer_id, coalesce(least(created_at, first_order_at), created_at, first_order_at) as first_seen_at
            from marts.dim_customers
            where coalesce(created_at, first_order_at) is not null
            """
        ),
        orders=frame(
            """
            select customer_id, ordered_at, cast(total_amount_usd as double) as revenue_usd
            from marts.fct_orders
            where is_revenue_generating
            """
        ),
        email_events=frame(
            """
            select customer_id, regexp_replace(interaction_type, '^email_', '') as event_type, occurred_at
            from marts.fct_interactions
            where interaction_channel = 'email'
            """
        ),
        tickets=frame(
            """
            select customer_id, occurred_at as created_at
            from marts.fct_interactions
            where interaction_channel = 'support'
            """
        ),
        surveys=frame(
            """
            select customer_id, cast(satisfaction_score as double) as score, occurred_at as responded_at
            from marts.fct_interactions
            where interaction_channel = 'survey'
            """
        ),
    )


def write_churn_scores(
    connection: duckdb.DuckDBPyConnection,
    result: ChurnTrainingResult,
    scores: pl.DataFrame,
    as_of: datetime,
    scored_at: datetime,
) -> None:
    """Append today's scores and the training run; re-running on the same data replaces them."""
    for statement in ML_SCHEMA_DDL:
        connection.execute(statement)
    rows = scores.with_columns(
        pl.lit(as_of.date()).alias("as_of_date"),
        pl.lit(result.model_version).alias("model_version"),
        pl.lit(scored_at).cast(pl.Datetime("us")).alias("scored_at"),
    )
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute(
            "DELETE FROM ml.churn_scores WHERE model_version = ? AND as_of_date = ?",
            [result.model_version, as_of.date()],
        )
        connection.register("new_scores", rows.to_arrow())
        connection.execute(
            """
            INSERT INTO ml.churn_scores
            SELECT customer_id, churn_probability, churn_risk_band, as_of_date, model_version, scored_at
            FROM new_scores
            """
        )
        connection.unregister("new_scores")
        connection.execute("DELETE FROM ml.model_runs WHERE model_version = ?", [result.model_version])
        connection.execute(
            "INSERT INTO ml.model_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                "churn",
                result.model_version,
                scored_at,
                result.training_cutoff,
                result.backtest_cutoff,
                result.training_rows,
                json.dumps(result.parameters),
                json.dumps(result.metrics),
                json.dumps(result.baseline_metrics),
                result.beats_baseline,
            ],
        )
        connection.execute(
            """
            CREATE OR REPLACE VIEW ml.churn_scores_current AS
            SELECT * FROM ml.churn_scores
            QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY scored_at DESC, as_of_date DESC) = 1
            """
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
