"""Running the whole pipeline from the command line, through the local Dagster instance.

The run is recorded in ``CRM_DATA_DIR/dagster`` like any run launched from the UI, so
``dagster dev`` shows it afterwards.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from dagster_project.core.settings import Settings
from dagster_project.orchestration.instance import ensure_dagster_home
from dagster_project.orchestration.run_recovery import cli_run_tags, recover_abandoned_runs
from dagster_project.orchestration.transient_errors import explain_lock
from dagster_project.spark.local_server import spark_for_run

# "dagster._core.definitions.events.Failure: No orders loaded..." -> "No orders loaded..."
_EXCEPTION_CLASS_PREFIX = re.compile(r"^[\w.]+(?:Error|Failure|Exception): ")


def _readable(message: str) -> str:
    return _EXCEPTION_CLASS_PREFIX.sub("", message.strip(), count=1)


def step_error_message(error) -> str:
    """The real error of a step's serialised error: a `dg.Failure` is its description; any other
    exception is wrapped by Dagster ("Error occurred while executing op ...") or by a retry request
    with the real one as its cause."""
    while error.cause is not None and error.cls_name in ("DagsterExecutionStepExecutionError", "RetryRequested"):
        error = error.cause
    return _readable(error.message)


def _failure_message(event: dg.DagsterEvent, settings: Settings) -> str:
    error = event.step_failure_data.error if event.step_failure_data else None
    if error is None:
        return "failed (no error message recorded)"
    message = step_error_message(error)
    return explain_lock(message, settings.warehouse_path, settings.serving_path) or message


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    success: bool
    failed_steps: list[str]
    failure_messages: list[str]


def run_full_pipeline(
    settings: Settings,
    log_level: str = "WARNING",
    retrain: bool = False,
    on_plan: Callable[[int], None] | None = None,
    on_event: Callable[[dg.EventLogEntry], None] | None = None,
) -> RunOutcome:
    """The full run; ``retrain`` trains every model anew (the weekly training job's run), otherwise
    models are retrained only when due and scored with the published ones.

    ``on_plan(number of assets)`` is called before the run starts and ``on_event(entry)`` with
    every event of the run as it happens (the CLI's progress display)."""
    settings.ensure_directories()
    ensure_dagster_home(settings)
    settings.export_to_environment()

    # Imported here: loading the definitions parses the dbt project, which needs the environment above.
    from dagster_project.definitions import FULL_RUN_JOB_NAME, WEEKLY_TRAINING_JOB_NAME, defs, retrain_run_config

    definitions = defs()
    job = definitions.resolve_job_def(WEEKLY_TRAINING_JOB_NAME if retrain else FULL_RUN_JOB_NAME)
    if on_plan is not None:
        on_plan(len(definitions.resolve_all_asset_keys()))
    run_id = str(uuid.uuid4())  # known before the run starts, so the listener can subscribe to it
    with spark_for_run(settings), dg.DagsterInstance.get() as instance:
        # A run left behind by a killed `crm` process would hold the writer pool forever.
        recover_abandoned_runs(instance)
        if on_event is not None:
            instance.add_event_listener(run_id, on_event)
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            tags=cli_run_tags(),
            raise_on_error=False,
            run_config={
                # Given run config replaces the job's own, so the weekly job's is repeated here.
                **(retrain_run_config().to_config_dict() if retrain else {}),
                "loggers": {"console": {"config": {"log_level": log_level}}},
            },
        )
    failures = [event for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_FAILURE]
    return RunOutcome(
        run_id=result.run_id,
        success=result.success,
        failed_steps=[event.step_key or "" for event in failures],
        failure_messages=[_failure_message(event, settings) for event in failures],
    )
