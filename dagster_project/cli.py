"""The `crm` command: generate demo exports, run the whole pipeline, open Dagster.

crm build       load what is in the landing folder (a demo set if it is empty), build the
                warehouse and score the models, then print where to look
crm generate    write a synthetic export set
crm dev         start the Dagster UI on this data folder
crm summary     print rows per table of the current warehouse
crm sql QUERY   run a read-only query against the warehouse
crm customer X  look up one customer (email, customer id or source id) for service and sales agents
crm sources check   what each landing file would load as under the source configs (writes nothing)
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, date, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from dagster_project.core.settings import Settings, load_settings

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
@click.option(
    "--next-day",
    "next_days",
    type=click.IntRange(min=1),
    default=None,
    help="Instead of a new set: add the next N days of exports to the set in --out (same customers, "
    "new orders, email events, tickets, corrections and late records), to simulate nightly runs.",
)
def generate(
    customers: int,
    months: int,
    seed: int,
    end_date,
    dirty_rate: float,
    out: Path | None,
    truth_out: Path | None,
    next_days: int | None,
) -> None:
    """Write a realistic synthetic export set (sales CSV, marketing JSON lines, support CSV), or
    the next days of an existing one (--next-day)."""
    settings = load_settings()
    out = (out or settings.landing_dir).resolve()
    truth_out = (truth_out or out.parent / "ground_truth").resolve()
    if truth_out.is_relative_to(out):
        raise click.UsageError(f"--truth-out {truth_out} must be outside the landing folder {out}")
    if next_days:
        _generate_next_days(out, truth_out, next_days)
        return
    _generate(out, truth_out, customers, months, seed, dirty_rate, end_date.date())


def _generate_next_days(out: Path, truth: Path, days: int) -> None:
    from dagster_project.synthetic.next_day import generate_next_day

    for _ in range(days):
        try:
            with console.status("Generating the next day of exports..."):
                summary = generate_next_day(out, truth)
        except FileNotFoundError as error:
            raise click.ClickException(str(error)) from error
        rows = ", ".join(f"{rows:,} {entity}" for entity, rows in summary.rows_written.items())
        console.print(f"[green]{summary.day}[/] written to {out} in {summary.elapsed_seconds:.1f}s: {rows}")


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
    help=(
        "The weekly job's run: train every model anew instead of scoring with the published ones, "
        "and run the dbt tests that compare whole facts with their sources (tag full_table_audit)."
    ),
)
@click.option("--verbose", is_flag=True, help="Show Dagster's and dbt's logs instead of writing them to a file.")
def build(demo_customers: int, demo_months: int, retrain: bool, verbose: bool) -> None:
    """Run everything: load exports, build the warehouse with dbt, score the models."""

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

    try:
        outcome, progress, log_path = _run_with_progress(settings, retrain, verbose)
    except Exception as error:
        # Before or around the run itself (the dbt project does not parse, the instance cannot be
        # opened): say what happened in one line and keep the traceback in a file.
        crash_log = _write_traceback(settings)
        raise click.ClickException(
            f"The pipeline could not run: {type(error).__name__}: {error}\nTraceback: {crash_log}"
        ) from error
    if not outcome.success:
        _explain_failure(settings, outcome, progress, log_path)
        sys.exit(1)

    console.print(f"[green bold]Done[/] in {progress.elapsed_seconds:.0f}s (Dagster run {outcome.run_id}).")
    from dagster_project.orchestration.summary import run_summary

    for label, text in run_summary(settings, progress, outcome.run_id):
        console.print(f"  [bold]{label:<10}[/] {text}", soft_wrap=True)
    if log_path is not None:
        console.print(f"  [bold]{'Log':<10}[/] {log_path}")
    console.print(
        f"  [bold]{'Next':<10}[/] uv run crm customer <email or id> | "
        'uv run crm sql "select * from marts.customer_360 limit 5" | uv run crm summary | uv run crm dev'
    )


def _run_with_progress(settings: Settings, retrain: bool, verbose: bool):
    """Run the pipeline with a live line (assets done, checks, the running steps and for how long)
    and a line per finished step; Dagster's and dbt's own output goes to a log file unless verbose."""
    import dagster as dg
    from rich.live import Live
    from rich.text import Text

    from dagster_project.orchestration.progress import RunProgress, step_label
    from dagster_project.orchestration.transient_errors import explain_lock
    from dagster_project.runner import run_full_pipeline, step_error_message

    progress = RunProgress()

    def on_event(entry) -> None:
        progress.observe(entry)
        event = entry.dagster_event
        if event is None or not event.step_key:
            return
        label = step_label(event.step_key)
        if event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            seconds = (event.event_specific_data.duration_ms or 0) / 1000
            console.print(f"  [green]done[/]    {label} [dim]{seconds:.1f}s[/]")
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            console.print(f"  [red]failed[/]  {label}")
        elif event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY:
            retry = event.event_specific_data
            message = step_error_message(retry.error) if retry.error else "a transient error"
            advice = explain_lock(message, settings.warehouse_path, settings.serving_path) or message
            console.print(f"  [yellow]waiting[/] {label}: {advice} Trying again in {retry.seconds_to_wait or 0:g} s.")

    def run():
        return run_full_pipeline(settings, log_level="INFO", retrain=retrain, on_plan=progress.plan, on_event=on_event)

    console.print("Running the pipeline: ingest exports -> dbt build -> models -> serving file, outbox, report")
    if verbose:
        return run(), progress, None

    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.logs_dir / f"build-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
    live = Live(
        get_renderable=lambda: Text(progress.status_line(), style="cyan"),
        console=console,
        refresh_per_second=2,
        transient=True,
        # Our own redirection below sends the run's output to the log; Live must not take it.
        redirect_stdout=False,
        redirect_stderr=False,
    )
    with live, log_path.open("w") as log, redirect_stdout(log), redirect_stderr(log):
        outcome = run()
    return outcome, progress, log_path


def _write_traceback(settings: Settings) -> Path:
    import traceback

    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    path = settings.logs_dir / f"crash-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
    path.write_text(traceback.format_exc())
    return path


def _explain_failure(settings: Settings, outcome, progress, log_path: Path | None) -> None:
    """What failed, in words, and where to look: the log, dbt's own log for dbt steps, the UI."""
    from dagster_project.orchestration.progress import skipped_in_order, step_label

    console.print(f"[red bold]The run failed[/] after {progress.elapsed_seconds:.0f}s (Dagster run {outcome.run_id}).")
    for check in progress.failed_checks:
        if check.blocking and check.blocked_because:
            console.print(f"[red]- {check.asset} blocked by {check.check}[/]:", soft_wrap=True)
            for line in check.blocked_because.splitlines():
                console.print(f"    {line}", soft_wrap=True, markup=False, highlight=False)
    for step, message in zip(outcome.failed_steps, outcome.failure_messages, strict=True):
        console.print(f"[red]- {step_label(step)}[/]: {message}", soft_wrap=True)
        if step.startswith("crm_dbt"):
            console.print(
                f"  dbt's log and run results: {settings.dbt_target_dir / 'runs' / f'{outcome.run_id}-{step}'}"
            )
    if progress.skipped_steps:
        skipped = skipped_in_order(progress.skipped_steps)
        names = ", ".join(step_label(step) for step in skipped[:4])
        more = f" and {len(skipped) - 4} more" if len(skipped) > 4 else ""
        console.print(f"Not run because of it: {names}{more}.")
    console.print(
        "Nothing downstream of a failure is published: the serving file, outbox and report included "
        "still hold the last successful run."
    )
    if log_path is not None:
        console.print(f"Full log (Dagster and dbt output): {log_path}")
    console.print(f"In the Dagster UI: `uv run crm dev`, then http://127.0.0.1:3000/runs/{outcome.run_id}")


@main.command()
def summary() -> None:
    """Rows per table of the current warehouse, and where to look."""
    _print_summary(load_settings())


def _print_summary(settings: Settings) -> None:
    from dagster_project.core.warehouse import connect_warehouse
    from dagster_project.orchestration.summary import next_steps, table_counts

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

    from dagster_project.core.settings import DBT_PROJECT_DIR

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
    from dagster_project.serve.contracts_doc import render_contracts_markdown

    click.echo(render_contracts_markdown(), nl=False)


@main.group()
def sources() -> None:
    """Source configs: how a company's own exports map onto the export contracts."""


@sources.command("check")
@click.option("--landing", type=click.Path(path_type=Path), default=None, help="[default: $CRM_DATA_DIR/landing]")
@click.option(
    "--configs", type=click.Path(path_type=Path), default=None, help="Config folder. [default: $CRM_DATA_DIR/sources]"
)
@click.option("--rows", default=5, show_default=True, help="Rows to show per file, loaded and quarantined.")
def sources_check(landing: Path | None, configs: Path | None, rows: int) -> None:
    """Read every landing file with the source configs and print what it would load as: the config
    and entity that match it, where each column comes from, the first rows, and what would be
    quarantined and why. Nothing is written to the warehouse."""
    from rich.markup import escape

    from dagster_project.ingestion.source_check import check_sources
    from dagster_project.ingestion.source_config import SourceConfigError

    settings = load_settings()
    landing_dir, sources_dir = landing or settings.landing_dir, configs or settings.sources_dir
    if not landing_dir.is_dir():
        raise click.ClickException(f"No landing folder at {landing_dir}")
    try:
        checks = check_sources(landing_dir, sources_dir, datetime.now(UTC).replace(tzinfo=None), rows)
    except SourceConfigError as error:
        raise click.ClickException(str(error)) from error
    for check in checks:
        where = f"{check.system} / {check.entity}" if check.entity else "no config matches it"
        console.rule(escape(f"{check.relative_path}  ({check.outcome})  {where}"), align="left")
        if check.error:
            console.print(f"  {check.error}", markup=False)
        if check.columns:
            mapping = Table("column", "from", box=None, padding=(0, 2))
            for name, source in check.columns:
                mapping.add_row(name, escape(source))
            console.print(mapping)
        if check.outcome == "would load":
            loading = (
                f"{check.rows_loaded:,} orders (line items folded per order)"
                if check.per_order
                else (f"{check.rows_loaded:,}")
            )
            console.print(
                f"  {check.rows_read:,} rows: {loading} would load, {check.rows_quarantined:,} rows quarantined"
            )
            if check.preview is not None and check.preview.height:
                import polars as pl

                preview = check.preview.rename({"_source_line": "line"})
                preview = preview.select("line", *(name for name in preview.columns if name != "line"))
                with pl.Config(
                    tbl_cols=-1,
                    tbl_width_chars=max(console.width, 160),
                    tbl_hide_column_data_types=True,
                    tbl_hide_dataframe_shape=True,
                    fmt_str_lengths=40,
                ):
                    console.print(str(preview), markup=False, crop=False)
            for line, reason in check.quarantined:
                console.print(f"  line {line}: {reason}", markup=False)
    loading = [check for check in checks if check.outcome == "would load"]
    console.print(
        f"{len(loading)} files would load ({sum(check.rows_loaded for check in loading):,} rows, "
        f"{sum(check.rows_quarantined for check in loading):,} quarantined); "
        f"{sum(check.outcome == 'rejected' for check in checks)} rejected, "
        f"{sum(check.outcome == 'skipped' for check in checks)} skipped, "
        f"{sum(check.outcome == 'unmatched' for check in checks)} matched by no config"
    )


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
    opened = duckdb.connect(str(path), read_only=True, config=settings.duckdb_config())
    try:
        relation = opened.sql(query)
        if relation is not None:
            relation.show(max_width=200)
    except duckdb.Error as error:
        raise click.ClickException(str(error)) from error
    finally:
        opened.close()


@main.command()
@click.argument("who")
@click.option("--interactions", default=10, show_default=True, help="Recent interactions to show.")
@click.option("--offers", default=5, show_default=True, help="Next best offers to show.")
def customer(who: str, interactions: int, offers: int) -> None:
    """Look up one customer by email, customer id or source-system id (lead, ticket, identity id):
    profile, recent interactions on every channel, open tickets, churn risk with its reasons, CLV
    and next best offers, from the serving file."""
    import duckdb

    from dagster_project.serve import lookup
    from dagster_project.serve.pii import load_pii_key

    settings = load_settings()
    if not settings.serving_path.exists():
        raise click.ClickException(f"No serving file at {settings.serving_path}: run `crm build` first.")
    # Created here, not at import: it must write to the stdout of this invocation.
    out = Console(soft_wrap=False)
    opened = duckdb.connect(str(settings.serving_path), read_only=True, config=settings.duckdb_config())
    try:
        match = lookup.find_customer(opened, who, key=lambda: load_pii_key(settings, create=False))
        card = lookup.load_card(opened, match, recent_interactions=interactions, top_offers=offers)
    except lookup.SeveralMatches as several:
        out.print(f"[yellow]{several}[/]")
        out.print(lookup.render_candidates(several.candidates))
        sys.exit(1)
    except lookup.LookupFailed as failed:
        out.print(f"[red]{failed}[/]")
        sys.exit(1)
    finally:
        opened.close()
    out.print(lookup.render_card(card))


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("dagster_args", nargs=-1, type=click.UNPROCESSED)
def dev(dagster_args: tuple[str, ...]) -> None:
    """Start `dagster dev` on this data folder (extra arguments go to dagster dev)."""
    from dagster_project.orchestration.instance import ensure_dagster_home

    settings = load_settings()
    settings.ensure_directories()
    ensure_dagster_home(settings)
    settings.export_to_environment()
    environment_bin = Path(sys.executable).parent
    # dagster-dbt's prepare_if_dev() (under `dagster dev`) and its code server find `dbt` on PATH:
    # put this environment's first, also when `crm` was started by its full path, not `uv run`.
    os.environ["PATH"] = os.pathsep.join([str(environment_bin), os.environ.get("PATH", "")])
    dagster = environment_bin / "dagster"
    arguments = [str(dagster), "dev", "-m", "dagster_project.definitions", *dagster_args]
    console.print(f"Starting Dagster with DAGSTER_HOME={settings.dagster_home}")
    if settings.engine == "spark" and not settings.spark_host:
        from dagster_project.spark.local_server import spark_for_run

        # Runs launched from the UI need a Spark server as long as Dagster is up: a local one,
        # stopped when dagster dev is (Ctrl-C reaches both).
        console.print(f"CRM_ENGINE=spark without CRM_SPARK_HOST: starting a local Spark server ({settings.spark_dir})")
        with spark_for_run(settings) as endpoints:
            console.print(f"Spark: Thrift on port {endpoints.thrift_port}, Spark Connect at {endpoints.connect_url}")
            sys.exit(subprocess.run(arguments).returncode)
    os.execv(arguments[0], arguments)


if __name__ == "__main__":
    main()
