"""What a user sees at the end of a run: rows per table, where the file is, what to try next."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from dagster_project.settings import Settings

SUMMARY_SCHEMAS = ("raw", "marts", "ml")

EXAMPLE_QUERY = (
    "select churn_risk_band, count(*) as customers, round(avg(churn_probability), 3) as avg_probability "
    "from ml.churn_scores_current group by 1 order by 2 desc"
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
