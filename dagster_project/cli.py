"""The `crm` command: generate demo exports, run the whole pipeline, open Dagster.

crm build       load what is in the landing folder (a demo set if it is empty), build the
                warehouse and score the models, then print where to look
crm generate    write a synthetic export set
crm dev         start the Dagster UI on this data folder
crm summary     print rows per table of the current warehouse
crm sql QUERY   run a read-only query against the warehouse
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, date, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from dagster_project.settings import Settings, load_settings

# Bound to the real terminal: the run's own output (dbt's log lines, Dagster's) is redirected to a file.
console = Console(file=sys.stdout, soft_wrap=True)


def _landing_is_empty(settings: Settings) -> bool:
    return not settings.landing_dir.exists() or not any(p.is_file() for p in settings.landing_dir.rglob("*"))


def _generate(
    out: Path, truth: Path, customers: int, months: int, seed: int, dirty_rate: float, end_date: date
) -> None:
    from dagster_project.synthetic import generate_exports

    with console.status(f"Generating {customers:,} customers over {months} months...") as status:
        summary = generate_exports(
            out_dir=out,
            truth_dir=truth,
            customers=customers,
            months=months,
            seed=seed,
            dirty_rate=dirty_rate,
            end_date=end_date,
            progress=lambda message: status.update(message),
        )
    console.print(f"[green]Exports written[/] to {out} in {summary.elapsed_seconds:.1f}s; ground truth in {truth}")


@click.group()
def main() -> None:
    """Analytical CRM: exports -> DuckDB -> dbt marts -> churn scores, orchestrated by Dagster."""


@main.command()
@click.option("--customers", default=10_000, show_default=True, help="Number of customers.")
@click.option("--months", default=24, show_default=True, help="Months of history.")
@click.option("--seed", default=7, show_default=True, help="Random seed: same seed, same bytes.")
@click.option(
    "--end-date",
    type=click.DateTime(["%Y-%m-%d"]),
    default="2026-10-31",
    show_default=True,
    help="Last day of the generated history.",
)
@click.option("--dirty-rate", default=0.01, show_default=True, help="Share of duplicate, late or blank records.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Landing folder to write to. [default: $CRM_DATA_DIR/landing]",
)
@click.option(
    "--truth-out",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the ground truth goes, outside the landing folder. [default: <out>/../ground_truth]",
)
def generate(
    customers: int,
    months: int,
    seed: int,
    end_date,
    dirty_rate: float,
    out: Path | None,
    truth_out: Path | None,
) -> None:
    """Write a realistic synthetic export set (sales CSV, marketing JSON lines, support CSV)."""
    settings = load_settings()
    out = (out or settings.landing_dir).resolve()
    truth_out = (truth_out or out.parent / "ground_truth").resolve()
    if truth_out.is_relative_to(out):
        raise click.UsageError(f"--truth-out {truth_out} must be outside the landing folder {out}")
    _generate(out, truth_out, customers, months, seed, dirty_rate, end_date.date())


@main.command()
@click.option(
    "--demo-customers",
    default=10_000,
    show_default=True,
    help="Customers in the demo export set generated when the landing folder is empty.",
)
@click.option("--demo-months", default=24, show_default=True)
@click.option(
    "--retrain",
    is_flag=True,
    help="Train every model anew (as the weekly training job does) instead of scoring with the published ones.",
)
@click.option("--verbose", is_flag=True, help="Show Dagster's and dbt's logs instead of writing them to a file.")
def build(demo_customers: int, demo_months: int, retrain: bool, verbose: bool) -> None:
    """Run everything: load exports, build the warehouse with dbt, score the models."""
    from dagster_project.runner import run_full_pipeline

    settings = load_settings()
    console.print(f"Data folder: [bold]{settings.data_dir}[/] (set CRM_DATA_DIR to use another)")
    if _landing_is_empty(settings):
        console.print(f"The landing folder {settings.landing_dir} is empty: generating a demo export set.")
        _generate(
            settings.landing_dir,
            settings.ground_truth_dir,
            demo_customers,
            demo_months,
            7,
            0.01,
            date(2026, 10, 31),
        )

    started = time.perf_counter()
    if verbose:
        outcome = run_full_pipeline(settings, log_level="INFO", retrain=retrain)
        log_note = ""
    else:
        settings.logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = settings.logs_dir / f"build-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
        with (
            console.status("Running the pipeline through Dagster: ingest exports -> dbt build -> score models..."),
            log_path.open("w") as log,
            redirect_stdout(log),
            redirect_stderr(log),
        ):
            outcome = run_full_pipeline(settings, log_level="INFO", retrain=retrain)
        log_note = f" Full log: {log_path}"
    elapsed = time.perf_counter() - started

    if not outcome.success:
        console.print(f"[red bold]The run failed[/] after {elapsed:.0f}s (run {outcome.run_id}).")
        for step, message in zip(outcome.failed_steps, outcome.failure_messages, strict=True):
            console.print(f"[red]- {step}[/]: {message}")
        console.print(f"Details: `uv run crm dev` and open the run {outcome.run_id}.{log_note}")
        sys.exit(1)

    console.print(f"[green bold]Done[/] in {elapsed:.0f}s (Dagster run {outcome.run_id}).{log_note}")
    _print_summary(settings)


@main.command()
def summary() -> None:
    """Rows per table of the current warehouse, and where to look."""
    _print_summary(load_settings())


def _print_summary(settings: Settings) -> None:
    from dagster_project.summary import next_steps, table_counts
    from dagster_project.warehouse import connect_warehouse

    if not settings.warehouse_path.exists():
        raise click.ClickException(f"No warehouse at {settings.warehouse_path}: run `crm build` first.")
    with connect_warehouse(settings, read_only=True) as connection:
        counts = table_counts(connection)
    table = Table(title="Rows per table")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for count in counts:
        table.add_row(f"{count.schema}.{count.table}", f"{count.rows:,}")
    console.print(table)
    for line in next_steps(settings):
        console.print(line, soft_wrap=True)


@main.command()
def docs() -> None:
    """Generate the dbt docs (every model and column) as one offline HTML page under the data folder."""
    import subprocess

    from dagster_project.settings import DBT_PROJECT_DIR

    settings = load_settings()
    settings.export_to_environment()
    target = settings.docs_dir / "dbt"
    dbt = Path(sys.executable).parent / "dbt"
    completed = subprocess.run(
        [str(dbt), "docs", "generate", "--static", "--project-dir", str(DBT_PROJECT_DIR),
         "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target)],
        capture_output=True, text=True,
    )  # fmt: skip
    if completed.returncode != 0:
        raise click.ClickException(f"dbt docs generate failed:\n{completed.stdout[-2000:]}")
    console.print(f"dbt docs: {target / 'static_index.html'} (open it in a browser; works offline)")


@main.command()
def contracts() -> None:
    """Print the export contracts page (docs/export_contracts.md) as Markdown."""
    from dagster_project.contracts_doc import render_contracts_markdown

    click.echo(render_contracts_markdown(), nl=False)


@main.command()
@click.argument("query")
@click.option("--build-file", is_flag=True, help="Query the build file (raw, staging, history tables too).")
def sql(query: str, build_file: bool) -> None:
    """Run a read-only SQL query and print the result: on the serving file (marts and current
    scores; what BI tools read), or on the build file (every schema) with --build-file."""
    import duckdb

    settings = load_settings()
    path = settings.warehouse_path if build_file or not settings.serving_path.exists() else settings.serving_path
    if not path.exists():
        raise click.ClickException(f"No warehouse at {settings.warehouse_path}: run `crm build` first.")
    opened = duckdb.connect(str(path), read_only=True, config={"memory_limit": settings.duckdb_memory_limit})
    try:
        relation = opened.sql(query)
        if relation is not None:
            relation.show(max_width=200)
    except duckdb.Error as error:
        raise click.ClickException(str(error)) from error
    finally:
        opened.close()


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("dagster_args", nargs=-1, type=click.UNPROCESSED)
def dev(dagster_args: tuple[str, ...]) -> None:
    """Start `dagster dev` on this data folder (extra arguments go to dagster dev)."""
    from dagster_project.instance import ensure_dagster_home

    settings = load_settings()
    settings.ensure_directories()
    ensure_dagster_home(settings)
    settings.export_to_environment()
    dagster = Path(sys.executable).parent / "dagster"
    arguments = [str(dagster), "dev", "-m", "dagster_project.definitions", *dagster_args]
    console.print(f"Starting Dagster with DAGSTER_HOME={settings.dagster_home}")
    os.execv(arguments[0], arguments)


if __name__ == "__main__":
    main()
