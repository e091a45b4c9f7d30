"""The Dagster code location: every asset of the CRM in one lineage graph.

exports (landing files) -> raw.* (ingestion, checked by Great Expectations suites)
    -> staging / intermediate / marts (dbt, dbt tests as checks) -> ml.* (models)

Loaded lazily through ``@dg.definitions`` so that importing this module does no work.
"""

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_project.assets.ingestion import ingestion_assets
from dagster_project.assets.models import model_assets, model_checks
from dagster_project.assets.quality_checks import quality_checks
from dagster_project.assets.warehouse import build_dbt_assets, dbt_executable
from dagster_project.dbt_project import crm_dbt_project
from dagster_project.resources import WarehouseResource
from dagster_project.sensors import build_landing_sensor

FULL_RUN_JOB_NAME = "crm_full_run"

full_run_job = dg.define_asset_job(
    FULL_RUN_JOB_NAME,
    selection=dg.AssetSelection.all(),
    description="Everything: load new exports, build the warehouse with dbt, train and score the models.",
)

nightly_schedule = dg.ScheduleDefinition(
    name="crm_nightly",
    job=full_run_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    description="The nightly full run. Created stopped: turn it on in the UI or with `dagster schedule start`.",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[*ingestion_assets, *build_dbt_assets(), *model_assets],
        asset_checks=[*quality_checks, *model_checks],
        jobs=[full_run_job],
        schedules=[nightly_schedule],
        sensors=[build_landing_sensor(full_run_job)],
        resources={
            "warehouse": WarehouseResource(),
            "dbt": DbtCliResource(project_dir=crm_dbt_project(), dbt_executable=dbt_executable()),
        },
    )
