"""Orchestration that looks after itself: runs left by a killed process, transient-error retries,
source freshness checks, and the commands the README gives for running unattended."""

import errno
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.assets.freshness_checks import FRESHNESS_CHECK_NAME, freshness_checks
from dagster_project.assets.ingestion import ingestion_assets
from dagster_project.core.contracts import CONTRACTS
from dagster_project.core.settings import REPOSITORY_ROOT, Settings
from dagster_project.ingestion.freshness import entity_freshness
from dagster_project.ingestion.landing_files import UnreadableFileError
from dagster_project.ingestion.ledger import LEDGER_TABLE
from dagster_project.ingestion.source_config import EntityMapping
from dagster_project.orchestration.instance import INSTANCE_CONFIG, WRITTEN_BY_CRM, ensure_dagster_home
from dagster_project.orchestration.resources import WAREHOUSE_WRITER_POOL, WarehouseResource
from dagster_project.orchestration.run_recovery import HOST_TAG, PID_TAG, cli_run_tags, recover_abandoned_runs
from dagster_project.orchestration.transient_errors import transient_cause

PYTHON = sys.executable
DAGSTER = str(Path(sys.executable).parent / "dagster")


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"helper exited early: {process.communicate()}"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.1)


# --- 1. a run left behind by a killed `crm` process ------------------------------------------

# A one-asset job in the writer pool, run in process as `crm build` runs the pipeline: `hold`
# claims the slot and sleeps (to be killed), `run` executes it again, `recover-and-run` first
# calls what run_full_pipeline calls.
POOLED_JOB_SCRIPT = textwrap.dedent(
    f"""
    import sys, time
    from pathlib import Path
    import dagster as dg
    from dagster_project.orchestration.run_recovery import cli_run_tags, recover_abandoned_runs

    @dg.asset(pool={WAREHOUSE_WRITER_POOL!r})
    def writer_step():
        if sys.argv[1] == "hold":
            Path(sys.argv[2]).write_text("holding the slot")
            time.sleep(600)

    job = dg.Definitions(assets=[writer_step], jobs=[dg.define_asset_job("pooled_job")]).resolve_job_def("pooled_job")
    with dg.DagsterInstance.get() as instance:
        if sys.argv[1] == "recover-and-run":
            recover_abandoned_runs(instance)
        result = job.execute_in_process(instance=instance, tags=cli_run_tags())
        print("run succeeded" if result.success else "run failed")
    """
)


def test_a_killed_cli_run_no_longer_blocks_the_writer_pool(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")
    ensure_dagster_home(settings)  # the instance `crm` writes: writer pool limited to 1
    script = tmp_path / "pooled_job.py"
    script.write_text(POOLED_JOB_SCRIPT)
    environment = {**os.environ, **settings.subprocess_environment()}

    def pooled_run(mode: str, *arguments: str) -> subprocess.Popen:
        return subprocess.Popen(
            [PYTHON, str(script), mode, *arguments],
            env=environment,
            cwd=REPOSITORY_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    holding = tmp_path / "holding"
    holder = pooled_run("hold", str(holding))
    wait_for(holding, holder)
    holder.send_signal(signal.SIGKILL)  # like the kernel's OOM killer: no clean-up at all
    holder.wait()

    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        (dead_run,) = instance.get_runs()
        assert dead_run.status == dg.DagsterRunStatus.STARTED
        claimed = instance.event_log_storage.get_concurrency_info(WAREHOUSE_WRITER_POOL).claimed_slots
        assert [slot.run_id for slot in claimed] == [dead_run.run_id]

    # The observed failure: the next run waits for the dead run's slot forever.
    blocked = pooled_run("run")
    with pytest.raises(subprocess.TimeoutExpired):
        blocked.communicate(timeout=8)
    os.killpg(blocked.pid, signal.SIGKILL)
    blocked.communicate()

    recovering = pooled_run("recover-and-run")
    output, _ = recovering.communicate(timeout=120)
    assert recovering.returncode == 0 and "run succeeded" in output, output

    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        runs = {run.run_id: run for run in instance.get_runs()}
        assert runs[dead_run.run_id].status == dg.DagsterRunStatus.FAILURE
        failure = instance.all_logs(dead_run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1]
        assert f"pid {dead_run.tags[PID_TAG]}" in failure.message and "no longer exists" in failure.message
        # The blocked run, killed too, is recovered the same way; the new run succeeded.
        assert sorted(run.status.value for run in runs.values()) == ["FAILURE", "FAILURE", "SUCCESS"]
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_WRITER_POOL).claimed_slots == []


def test_recovery_leaves_live_and_foreign_runs_alone(tmp_path: Path):
    exited = subprocess.run([PYTHON, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = exited.stdout.strip()
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:

        def add_started_run(tags: dict[str, str]) -> str:
            run = instance.create_run_for_job(
                dg.GraphDefinition(name="noop", node_defs=[]).to_job(), tags=tags, status=dg.DagsterRunStatus.STARTED
            )
            return run.run_id

        alive = add_started_run(cli_run_tags())
        dead = add_started_run({**cli_run_tags(), PID_TAG: dead_pid, "crm/process_start": ""})
        elsewhere = add_started_run({**cli_run_tags(), PID_TAG: dead_pid, HOST_TAG: f"not-{socket.gethostname()}"})
        from_daemon = add_started_run({})

        recovered = recover_abandoned_runs(instance)

        assert [item.run_id for item in recovered] == [dead]
        statuses = {run.run_id: run.status for run in instance.get_runs()}
        assert statuses[dead] == dg.DagsterRunStatus.FAILURE
        for run_id in (alive, elsewhere, from_daemon):
            assert statuses[run_id] == dg.DagsterRunStatus.STARTED


def test_the_instance_config_is_brought_up_to_date_but_a_users_own_is_kept(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")
    config_path = settings.dagster_home / "dagster.yaml"
    config_path.parent.mkdir(parents=True)
    config_path.write_text(f"{WRITTEN_BY_CRM}\ntelemetry:\n  enabled: false\n")  # what an older `crm` wrote
    ensure_dagster_home(settings)
    assert config_path.read_text() == INSTANCE_CONFIG

    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1

    config_path.write_text("telemetry:\n  enabled: true\n")
    ensure_dagster_home(settings)
    assert config_path.read_text() == "telemetry:\n  enabled: true\n"


# --- 2. retries for transient failures only --------------------------------------------------


def test_transient_errors_are_lock_conflicts_and_busy_files_only():
    busy = OSError(errno.EBUSY, "Device or resource busy")
    assert transient_cause(busy)
    try:
        raise UnreadableFileError("orders.csv: cannot be read") from OSError(errno.EAGAIN, "try again")
    except UnreadableFileError as wrapped:
        assert transient_cause(wrapped)
    assert transient_cause(FileNotFoundError(errno.ENOENT, "No such file")) is None
    assert transient_cause(ValueError("order_id is empty on line 3")) is None
    assert transient_cause(duckdb.ConversionException("Could not convert string 'x' to INT32")) is None


@dg.asset(pool=WAREHOUSE_WRITER_POOL)
def writes_a_table(warehouse: WarehouseResource) -> None:
    with warehouse.connect() as connection:
        connection.execute("CREATE OR REPLACE TABLE written AS SELECT 1 AS one")


@dg.asset(pool=WAREHOUSE_WRITER_POOL)
def meets_bad_data(warehouse: WarehouseResource) -> None:
    with warehouse.connect():
        raise ValueError("order O1: total_amount is negative")


def materialise(asset: dg.AssetsDefinition, data_dir: Path) -> dg.ExecuteInProcessResult:
    warehouse = WarehouseResource(data_dir=str(data_dir), transient_retries=10, transient_retry_wait_seconds=1)
    return dg.materialize(
        [asset], resources={"warehouse": warehouse}, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def events_of(result: dg.ExecuteInProcessResult, event_type: dg.DagsterEventType) -> list:
    return [event for event in result.all_events if event.event_type == event_type]


def test_a_step_meeting_a_locked_warehouse_succeeds_once_the_lock_is_released(tmp_path: Path):
    data_dir = tmp_path / "data"
    warehouse_path = Settings(data_dir=data_dir).warehouse_path
    warehouse_path.parent.mkdir(parents=True)
    holding = tmp_path / "holding"
    # Another process holds the build file read-write (a DuckDB shell, say) for three seconds.
    holder = subprocess.Popen(
        [
            PYTHON,
            "-c",
            "import duckdb, sys, time, pathlib; connection = duckdb.connect(sys.argv[1]); "
            "pathlib.Path(sys.argv[2]).touch(); time.sleep(3)",
            str(warehouse_path),
            str(holding),
        ]
    )
    wait_for(holding, holder)

    result = materialise(writes_a_table, data_dir)
    holder.wait()

    assert result.success
    retries = events_of(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert retries, "the first attempt should have met the lock"
    assert "Could not set lock on file" in str(retries[0].event_specific_data.error)
    with duckdb.connect(str(warehouse_path), read_only=True) as connection:
        assert connection.execute("SELECT one FROM written").fetchall() == [(1,)]


def test_a_lock_that_stays_names_its_holder_and_what_to_do(tmp_path: Path):
    """What `crm build` prints while it waits and when it gives up (cli.py and runner.py use these)."""
    from dagster_project.orchestration.transient_errors import explain_lock
    from dagster_project.runner import _failure_message, step_error_message

    settings = Settings(data_dir=tmp_path / "data")
    settings.warehouse_path.parent.mkdir(parents=True)
    holding = tmp_path / "holding"
    holder = subprocess.Popen(
        [
            PYTHON,
            "-c",
            "import duckdb, sys, time, pathlib; connection = duckdb.connect(sys.argv[1]); "
            "pathlib.Path(sys.argv[2]).touch(); time.sleep(60)",
            str(settings.warehouse_path),
            str(holding),
        ]
    )
    try:
        wait_for(holding, holder)
        warehouse = WarehouseResource(
            data_dir=str(settings.data_dir), transient_retries=1, transient_retry_wait_seconds=0.2
        )
        result = dg.materialize(
            [writes_a_table], resources={"warehouse": warehouse}, instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )  # fmt: skip
        assert not result.success
        (retry,) = events_of(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)
        (failure,) = events_of(result, dg.DagsterEventType.STEP_FAILURE)
        # Explained while the holder still runs: its command line is read from /proc.
        waiting = explain_lock(
            step_error_message(retry.event_specific_data.error), settings.warehouse_path, settings.serving_path
        )
        gave_up = _failure_message(failure, settings)
    finally:
        holder.kill()
        holder.wait()

    for message in (waiting, gave_up):
        assert f"is locked by process {holder.pid} (" in message, message
        assert "time.sleep(60)" in message  # the holder's command line, so the user knows which program
        assert f"kill {holder.pid}" in message and str(settings.serving_path) in message


def test_bad_data_fails_at_once_without_retrying(tmp_path: Path):
    result = materialise(meets_bad_data, tmp_path / "data")

    assert not result.success
    assert len(events_of(result, dg.DagsterEventType.STEP_START)) == 1
    assert events_of(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    assert "total_amount is negative" in str(events_of(result, dg.DagsterEventType.STEP_FAILURE)[0].step_failure_data)


# --- 3. source freshness -----------------------------------------------------------------------

ORDERS = "order_id,customer_id,ordered_at\nO1,C1,2026-01-01\n"


def _asset(entity: str) -> dg.AssetsDefinition:
    (asset,) = [asset for asset in ingestion_assets if asset.key == dg.AssetKey(["raw", entity])]
    return asset


def _check(entity: str) -> dg.AssetChecksDefinition:
    (check,) = [
        check
        for check in freshness_checks
        if dg.AssetCheckKey(dg.AssetKey(["raw", entity]), FRESHNESS_CHECK_NAME) in check.check_keys
    ]
    return check


def run_freshness(data_dir: Path) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [_asset("orders"), _asset("tickets"), _check("orders"), _check("tickets")],
        resources={"warehouse": WarehouseResource(data_dir=str(data_dir))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    evaluations = result.get_asset_check_evaluations()
    assert {evaluation.check_name for evaluation in evaluations} == {FRESHNESS_CHECK_NAME}
    return {evaluation.asset_key.path[-1]: evaluation for evaluation in evaluations}


def test_freshness_is_judged_by_when_files_arrived(tmp_path: Path):
    data_dir = tmp_path / "data"
    orders_file = data_dir / "landing" / "sales" / "orders" / "orders_0001.csv"
    orders_file.parent.mkdir(parents=True)
    orders_file.write_text(ORDERS)  # business dates months in the past: does not matter

    checks = run_freshness(data_dir)
    orders = checks["orders"]
    assert orders.passed and orders.severity == dg.AssetCheckSeverity.WARN
    assert orders.metadata["age_hours"].value < 1
    assert orders.metadata["newest_file"].value == "sales/orders/orders_0001.csv"
    # An optional export that never came: said so, but no warning.
    tickets = checks["tickets"]
    assert tickets.passed and tickets.metadata["status"].value == "no file of this entity has arrived yet"
    assert "age_hours" not in tickets.metadata

    # Two days without a new file: the same file is seen again (unchanged), the ledger's time stays.
    warehouse_path = Settings(data_dir=data_dir).warehouse_path
    with duckdb.connect(str(warehouse_path)) as connection:
        connection.execute(f"UPDATE {LEDGER_TABLE} SET loaded_at = loaded_at - INTERVAL 48 HOUR")
    stale = run_freshness(data_dir)["orders"]
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
    assert 47.9 < stale.metadata["age_hours"].value < 49
    assert "stale" in stale.description and "limit 36 h" in stale.description

    # A weekly export says so in its source config.
    (data_dir / "sources").mkdir()
    (data_dir / "sources" / "shop.yml").write_text(
        'system: canonical\nentities:\n  orders:\n    files: "sales/orders/*"\n    max_age_hours: 192\n'
    )
    assert run_freshness(data_dir)["orders"].passed


def test_an_entity_without_any_file_is_stale_and_says_so():
    sources = [("crm", EntityMapping(files="crm/orders/*")), ("shop", EntityMapping(files="shop/*", max_age_hours=2))]
    with duckdb.connect() as connection:
        freshness = entity_freshness(connection, "orders", sources, now=datetime.now(UTC).replace(tzinfo=None))
    assert freshness.has_no_files and not freshness.is_fresh and freshness.age_hours is None
    assert freshness.describe() == "crm: no file has arrived yet\nshop: no file has arrived yet"
    assert CONTRACTS["orders"].is_required_export  # the check warns for it (and not for optional ones)


# --- 5. the README's commands for running unattended -----------------------------------------


def test_the_documented_schedule_commands_work(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")
    ensure_dagster_home(settings)
    environment = {**os.environ, **settings.subprocess_environment()}

    def dagster(*arguments: str) -> str:
        completed = subprocess.run(
            [DAGSTER, *arguments, "-m", "dagster_project.definitions"],
            env=environment,
            cwd=REPOSITORY_ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert completed.returncode == 0, completed.stderr
        return completed.stdout

    assert "Started schedule crm_nightly" in dagster("schedule", "start", "crm_nightly")
    listed = dagster("schedule", "list")
    assert "Schedule: crm_nightly [RUNNING]" in listed and "Schedule: crm_weekly_training [STOPPED]" in listed
