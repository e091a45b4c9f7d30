"""Writing the models' runs, scores and artefacts back, and reading the runs and artefacts again.

The models in ``models_ml`` take polars frames and return polars frames; this module is the only
place that knows what the ``ml`` tables look like (which mart columns feed the models is
:mod:`.model_inputs`'s part).

Every model run is recorded in ``ml.model_runs`` (published or not, with the reason) and its
feature importance, where it has one, in ``ml.feature_importance``. Scores are written only by
a published run: a model that does not beat its baseline leaves the previous scores current.
Each score table keeps its history (``model_version``, ``scored_at`` on every row) and has a
``<table>_current`` table with the rows of its latest published run.
"""

from __future__ import annotations

import json
import pickle
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from dagster_project.core.warehouse import quote_identifier
from models_ml.clv import DEFAULT_TIME_UNIT_DAYS
from models_ml.training import ModelRun

__all__ = ["ModelRun"]  # re-exported: callers record runs through this module

ML_SCHEMA_DDL = (
    "CREATE SCHEMA IF NOT EXISTS ml",
    """
    CREATE TABLE IF NOT EXISTS ml.model_runs (
        model_name VARCHAR NOT NULL,
        model_version VARCHAR NOT NULL,
        run_id VARCHAR,
        trained_at TIMESTAMP NOT NULL,
        data_start TIMESTAMP,
        data_end TIMESTAMP,
        training_cutoff TIMESTAMP,
        backtest_cutoff TIMESTAMP,
        training_rows BIGINT,
        parameters JSON,
        metrics JSON,
        baseline_metrics JSON,
        beats_baseline BOOLEAN NOT NULL,
        is_published BOOLEAN NOT NULL,
        verdict VARCHAR NOT NULL,
        artefact_path VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS ml.feature_importance (
        model_name VARCHAR NOT NULL,
        model_version VARCHAR NOT NULL,
        trained_at TIMESTAMP NOT NULL,
        feature VARCHAR NOT NULL,
        importance DOUBLE NOT NULL,
        coefficient DOUBLE,
        rank BIGINT NOT NULL
    )
    """,
)


# Score columns renamed so that their names carry unit and meaning: (score table, old name, new
# name, the new value from the old one). The CLV durations were published in the model's time unit,
# weeks (the pipeline never fitted in another), and are published in days.
RENAMED_SCORE_COLUMNS = (
    ("clv_scores", "frequency", "repeat_purchase_day_count", "frequency"),
    ("clv_scores", "recency", "days_first_to_last_purchase", f"round(recency * {DEFAULT_TIME_UNIT_DAYS})::BIGINT"),
    ("clv_scores", "T", "days_since_first_purchase", f'round("T" * {DEFAULT_TIME_UNIT_DAYS})::BIGINT'),
    ("clv_scores", "monetary_value", "average_repeat_spend_usd", "monetary_value"),
    ("clv_scores", "expected_purchases", "expected_purchases_next_365_days", "expected_purchases"),
    ("clv_scores", "expected_average_spend", "expected_spend_per_purchase_usd", "expected_average_spend"),
    ("clv_scores", "clv", "clv_next_365_days_usd", "clv"),
    ("sales_forecast", "forecast", "forecast_revenue_usd", "forecast"),
    ("sales_forecast", "lower_80", "lower_80_revenue_usd", "lower_80"),
    ("sales_forecast", "upper_80", "upper_80_revenue_usd", "upper_80"),
    ("sales_forecast", "lower_95", "lower_95_revenue_usd", "lower_95"),
    ("sales_forecast", "upper_95", "upper_95_revenue_usd", "upper_95"),
)


def ensure_ml_schema(connection: duckdb.DuckDBPyConnection) -> None:
    for statement in ML_SCHEMA_DDL:
        connection.execute(statement)
    _rename_score_columns(connection)


def _rename_score_columns(connection: duckdb.DuckDBPyConnection) -> None:
    """Bring the score tables of a warehouse written by an older version to today's column names,
    history and ``_current`` alike, so that history stays one table and the marts never read a
    column that is gone. Idempotent: a table already renamed is left as it is."""
    tables = {table for table, *_ in RENAMED_SCORE_COLUMNS}
    names = [name for table in sorted(tables) for name in (table, table + "_current")]
    present: dict[str, dict[str, str]] = {}
    for table, column, data_type in connection.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'ml' and table_name in (select unnest(?))",
        [names],
    ).fetchall():
        present.setdefault(table, {})[column] = data_type
    work = [
        (name, old, new, value)
        for table, old, new, value in RENAMED_SCORE_COLUMNS
        for name in (table, table + "_current")
        if old in present.get(name, {})
    ]
    if not work:
        return
    connection.execute("BEGIN TRANSACTION")
    try:
        for name, old, new, value in work:
            target = f"ml.{quote_identifier(name)}"
            if new not in present[name] and value == old:
                connection.execute(
                    f"ALTER TABLE {target} RENAME COLUMN {quote_identifier(old)} TO {quote_identifier(new)}"
                )
                continue
            if new not in present[name]:
                data_type = present[name][old] if value == old else "BIGINT"
                connection.execute(f"ALTER TABLE {target} ADD COLUMN {quote_identifier(new)} {data_type}")
            connection.execute(
                f"UPDATE {target} SET {quote_identifier(new)} = coalesce({quote_identifier(new)}, {value})"
            )
            connection.execute(f"ALTER TABLE {target} DROP COLUMN {quote_identifier(old)}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def save_artefact(models_dir: Path, run: ModelRun, model: object) -> Path:
    """Pickle the fitted model with its metadata beside it, under ``models/<name>/<version>/``."""
    folder = models_dir / run.model_name / run.model_version
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.pkl"
    partial = path.with_suffix(".pkl.partial")
    partial.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    partial.replace(path)
    metadata = {
        "model_name": run.model_name,
        "model_version": run.model_version,
        "trained_at": run.trained_at.isoformat(),
        "training_cutoff": run.training_cutoff.isoformat() if run.training_cutoff else None,
        "metrics": run.metrics,
        "baseline_metrics": run.baseline_metrics,
        "beats_baseline": run.beats_baseline,
        "verdict": run.verdict,
        "parameters": run.parameters,
    }
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str))
    run.artefact_path = str(path)
    return path


def load_artefact(path: str | Path) -> object:
    return pickle.loads(Path(path).read_bytes())


def latest_run(connection: duckdb.DuckDBPyConnection, model_name: str, published_only: bool = False) -> dict | None:
    """The latest training run of a model (published or not), or its latest published one."""
    ensure_ml_schema(connection)
    cursor = connection.execute(
        "SELECT * FROM ml.model_runs WHERE model_name = ? AND (is_published OR NOT ?) ORDER BY trained_at DESC LIMIT 1",
        [model_name, published_only],
    )
    columns = [description[0] for description in cursor.description]
    rows = cursor.fetchall()
    if not rows:
        return None
    run = dict(zip(columns, rows[0], strict=True))
    for name in ("parameters", "metrics", "baseline_metrics"):
        run[name] = json.loads(run[name]) if run[name] else {}
    return run


def record_run(
    connection: duckdb.DuckDBPyConnection,
    run: ModelRun,
    scores: dict[str, pl.DataFrame] | None = None,
    scored_at: datetime | None = None,
    feature_importance: pl.DataFrame | None = None,
) -> None:
    """Record a run and, when it is published, append its scores; all in one transaction.

    ``scores`` maps an ``ml`` table name to its new rows, each with an ``as_of_date`` (the day the
    scores describe); model_version and scored_at are added here. Scoring the same day again
    with the same model version replaces those rows, so a rerun leaves the tables as they were.
    """
    ensure_ml_schema(connection)
    connection.execute("BEGIN TRANSACTION")
    try:
        _replace_run(connection, run)
        if feature_importance is not None:
            _replace_feature_importance(connection, run, feature_importance)
        if run.is_published and scores:
            for table, frame in scores.items():
                _append_scores(connection, table, frame, run.model_version, scored_at or run.trained_at)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _replace_run(connection: duckdb.DuckDBPyConnection, run: ModelRun) -> None:
    """The run's row in ml.model_runs, inside the caller's transaction."""
    # The version names the data window: training the same version again replaces its run.
    connection.execute(
        "DELETE FROM ml.model_runs WHERE model_name = ? AND model_version = ?", [run.model_name, run.model_version]
    )
    connection.execute(
        "INSERT INTO ml.model_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run.model_name,
            run.model_version,
            run.run_id,
            run.trained_at,
            run.data_start,
            run.data_end,
            run.training_cutoff,
            run.backtest_cutoff,
            run.training_rows,
            json.dumps(run.parameters, default=str),
            json.dumps(run.metrics),
            json.dumps(run.baseline_metrics),
            run.beats_baseline,
            run.is_published,
            run.verdict,
            run.artefact_path,
        ],
    )


def _replace_feature_importance(
    connection: duckdb.DuckDBPyConnection, run: ModelRun, feature_importance: pl.DataFrame
) -> None:
    """The run's feature importance in ml.feature_importance, replacing the version's earlier
    rows, inside the caller's transaction."""
    rows = feature_importance.select(
        pl.lit(run.model_name).alias("model_name"),
        pl.lit(run.model_version).alias("model_version"),
        pl.lit(run.trained_at).cast(pl.Datetime("us")).alias("trained_at"),
        pl.col("feature"),
        pl.col("importance").cast(pl.Float64),
        (pl.col("coefficient") if "coefficient" in feature_importance.columns else pl.lit(None))
        .cast(pl.Float64)
        .alias("coefficient"),
        pl.col("rank").cast(pl.Int64),
    )
    connection.execute(
        "DELETE FROM ml.feature_importance WHERE model_name = ? AND model_version = ?",
        [run.model_name, run.model_version],
    )
    connection.register("new_importance", rows.to_arrow())
    connection.execute("INSERT INTO ml.feature_importance SELECT * FROM new_importance")
    connection.unregister("new_importance")


def record_scores(
    connection: duckdb.DuckDBPyConnection, model_version: str, scores: dict[str, pl.DataFrame], scored_at: datetime
) -> None:
    """Append the scores of an already published model (a scoring run without training), in one transaction."""
    ensure_ml_schema(connection)
    connection.execute("BEGIN TRANSACTION")
    try:
        for table, frame in scores.items():
            _append_scores(connection, table, frame, model_version, scored_at)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def table_exists(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return (
        connection.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
        ).fetchall()[0][0]
        > 0
    )


def _append_scores(
    connection: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, model_version: str, scored_at: datetime
) -> None:
    rows = frame.with_columns(
        pl.lit(model_version).alias("model_version"), pl.lit(scored_at).cast(pl.Datetime("us")).alias("scored_at")
    )
    target = f"ml.{quote_identifier(table)}"
    connection.register("new_scores", rows.to_arrow())
    try:
        if not table_exists(connection, "ml", table):
            # Created with its rows in one statement: with DuckDB 2.0.0, creating it empty and then
            # inserting 122,880+ rows in the same transaction left them invisible to this connection.
            connection.execute(f"CREATE TABLE {target} AS SELECT * FROM new_scores")
        else:
            # A newer model may add columns (e.g. reasons): older rows keep nulls there.
            existing = {row[0] for row in connection.execute(f"DESCRIBE {target}").fetchall()}
            for name, type_name, *_ in connection.execute("DESCRIBE SELECT * FROM new_scores").fetchall():
                if name not in existing:
                    connection.execute(f"ALTER TABLE {target} ADD COLUMN {quote_identifier(name)} {type_name}")
            connection.execute(
                f"DELETE FROM {target} WHERE model_version = ? "
                "AND as_of_date IN (SELECT DISTINCT as_of_date FROM new_scores)",
                [model_version],
            )
            column_list = ", ".join(quote_identifier(name) for name in rows.columns)
            connection.execute(f"INSERT INTO {target} ({column_list}) SELECT {column_list} FROM new_scores")
        _replace_current(connection, table + "_current")
    finally:
        connection.unregister("new_scores")


def _replace_current(connection: duckdb.DuckDBPyConnection, current: str) -> None:
    """``ml.<table>_current``: the rows just scored (every run scores the whole population), as a
    table of their own. A view over the history would be read in a time that grows with every
    night kept (100M offer rows after ten nights at a million customers)."""
    kind = connection.execute(
        "select table_type from information_schema.tables where table_schema = 'ml' and table_name = ?", [current]
    ).fetchall()
    if kind and kind[0][0] == "VIEW":  # a warehouse written before the current scores were tables
        connection.execute(f"DROP VIEW ml.{quote_identifier(current)}")
    connection.execute(f"CREATE OR REPLACE TABLE ml.{quote_identifier(current)} AS SELECT * FROM new_scores")
