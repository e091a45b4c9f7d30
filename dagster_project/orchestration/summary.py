"""What a user sees at the end of a run: rows per table, where the file is, what to try next."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.core.settings import Settings
from dagster_project.orchestration.progress import RunProgress

SUMMARY_SCHEMAS = ("raw", "marts", "ml")

EXAMPLE_QUERY = (
    "select churn_status, churn_risk_band, count(*) as customers, round(avg(churn_probability), 3) as avg_probability "
    "from ml.churn_scores_current group by all order by 3 desc"
)


@dataclass(frozen=True)
class TableCount:
    schema: str
    table: str
    rows: int


def table_counts(connection: duckdb.DuckDBPyConnection) -> list[TableCount]:
    tables = connection.execute(
        """
        select table_schema, table_name from information_schema.tables
        where table_schema in ('raw', 'marts', 'ml') and table_type = 'BASE TABLE'
          and not starts_with(table_name, '_')
        order by table_schema, table_name
        """
    ).fetchall()
    return [
        TableCount(schema, table, connection.execute(f'select count(*) from "{schema}"."{table}"').fetchall()[0][0])
        for schema, table in tables
    ]


def next_steps(settings: Settings) -> list[str]:
    return [
        f"Serving file:     {settings.serving_path}   (open this one from BI tools, read-only)",
        f'Query it:         uv run crm sql "{EXAMPLE_QUERY}"',
        f"Build file:       {settings.warehouse_path}   (the pipeline's own; `crm sql --build-file` for raw/staging)",
        f"Data quality:     {settings.docs_dir / 'great_expectations' / 'index.html'} (Great Expectations Data Docs)",
        "Open Dagster:     uv run crm dev   (then http://127.0.0.1:3000)",
        "Run it again:     uv run crm build   (new files in the landing folder are loaded, the rest skipped)",
    ]


def run_summary(settings: Settings, progress: RunProgress, run_id: str) -> list[tuple[str, str]]:
    """The few lines printed after a successful `crm build`: (label, text) pairs.

    What the run did comes from its own events (``progress``); what the warehouse now holds
    from the serving file it published.
    """
    served = _served_counts(settings.serving_path, run_id)
    lines = [
        ("Loaded", _loaded_text(progress)),
        (
            "Warehouse",
            f"{served.customers:,} customers, {served.orders:,} revenue-generating orders, net revenue "
            f"${served.revenue:,.0f} (cancelled and returned orders left out, refunds taken off: "
            f"marts.sales_monthly), {served.interactions:,} interactions",
        ),
        ("Checks", _checks_text(progress)),
        ("Data docs", str(settings.docs_dir / "great_expectations" / "index.html")),
        ("Models", _models_text(served.trained)),
        ("Serving", f"{settings.serving_path} ({served.tables} tables): open this one from BI tools, read-only"),
        ("Outbox", f"{settings.outbox_dir} (manifest.json)"),
    ]
    report = settings.reports_dir / "latest.html"
    if report.exists():
        lines.append(("Report", str(report)))
    return lines


def _loaded_text(progress: RunProgress) -> str:
    if progress.files_loaded or progress.files_rejected:
        rejected = f", {progress.files_rejected} files rejected" if progress.files_rejected else ""
        return (
            f"{progress.rows_loaded:,} rows from {progress.files_loaded} new files, "
            f"{progress.rows_quarantined:,} rows quarantined (raw._quarantine){rejected}"
        )
    return "no new export files (files already loaded are skipped)"


@dataclass(frozen=True)
class _Served:
    customers: int
    orders: int  # revenue-generating
    revenue: float  # net of refunds
    interactions: int
    trained: list[tuple[str, bool]]  # (model, published) of the models this run trained
    tables: int


def _served_counts(serving_path: Path, run_id: str) -> _Served:
    """What the published serving file holds."""
    with duckdb.connect(str(serving_path), read_only=True) as serving:
        customers, orders, revenue = serving.execute(
            # Read from the sales mart, so the summary, the report and an analyst's query of the
            # marts give one figure: revenue-generating orders, net of refunds.
            "select (select count(*) from marts.dim_customers), coalesce(sum(revenue_generating_orders), 0), "
            "coalesce(sum(revenue_usd), 0) from marts.sales_monthly"
        ).fetchone()
        interactions = serving.execute("select count(*) from marts.fct_interactions").fetchone()[0]
        trained = serving.execute(
            "select model_name, is_published from ml.model_runs where run_id = ? order by model_name", [run_id]
        ).fetchall()
        tables = serving.execute(
            "select count(*) from information_schema.tables where table_catalog = current_database()"
        ).fetchone()[0]
    return _Served(customers, orders, revenue, interactions, trained, tables)


def _checks_text(progress: RunProgress) -> str:
    """Checks passed, and the first three that failed (as warnings) by name."""
    checks = f"{progress.checks_passed} passed"
    if progress.failed_checks:
        named = ", ".join(f"{check.asset}:{check.check}" for check in progress.failed_checks[:3])
        more = f" and {len(progress.failed_checks) - 3} more" if len(progress.failed_checks) > 3 else ""
        checks += f", {len(progress.failed_checks)} failed as warnings: {named}{more}"
    return checks


def _models_text(trained: list[tuple[str, bool]]) -> str:
    if trained:
        return (
            "trained this run: "
            + ", ".join(f"{name} ({'published' if published else 'held back'})" for name, published in trained)
            + "  (verdicts: ml.model_runs)"
        )
    return "scored with the published models (weekly retraining, or `crm build --retrain`)"
