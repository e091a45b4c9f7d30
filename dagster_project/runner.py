"""Running the whole pipeline from the command line, through the local Dagster instance.

The run is recorded in ``CRM_DATA_DIR/dagster`` like any run launched from the UI, so
``dagster dev`` shows it afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dagster as dg

from dagster_project.instance import ensure_dagster_home
from dagster_project.settings import Settings

# "dagster._core.definitions.events.Failure: No orders loaded..." -> "No orders loaded..."
_EXCEPTION_CLASS_PREFIX = re.compile(r"^[\w.]+(?:Error|Failure|Exception): ")


def _readable(message: str) -> str:
    return _EXCEPTION_CLASS_PREFIX.sub("", message.strip(), count=1)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    success: bool
    failed_steps: list[str]
    failure_messages: list[str]


def run_full_pipeline(settings: Settings, log_level: str = "WARNING", retrain: bool = False) -> RunOutcome:
    """The full run; ``retrain`` trains every model anew (the weekly training job's run), otherwise
    models are retrained only when due and scored with the published ones."""
    settings.ensure_directories()
    ensure_dagster_home(settings)
    settings.export_to_environment()

    # Imported here: loading the definitions parses the dbt project, which needs the environment above.
    from dagster_project.definitions import FULL_RUN_JOB_NAME, WEEKLY_TRAINING_JOB_NAME, defs, retrain_run_config

    definitions = defs()
    job = definitions.resolve_job_def(WEEKLY_TRAINING_JOB_NAME if retrain else FULL_RUN_JOB_NAME)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
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
        failure_messages=[
            _readable(event.step_failure_data.error.message)
            if event.step_failure_data and event.step_failure_data.error
            else "failed (no error message recorded)"
            for event in failures
        ],
    )
