"""The Dagster code location: every asset of the CRM in one lineage graph.

exports (landing files) -> raw.* (ingestion, checked by Great Expectations suites)
    -> staging / intermediate / marts (dbt, dbt tests as checks) -> ml.* (models)

Loaded lazily through ``@dg.definitions`` so that importing this module does no work.
"""

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_project.assets.freshness_checks import freshness_checks
from dagster_project.assets.ingestion import ingestion_assets
from dagster_project.assets.models import TRAINABLE_MODEL_ASSETS, ModelConfig, model_assets, model_checks
from dagster_project.assets.quality_checks import quality_checks
from dagster_project.assets.report import run_report
from dagster_project.assets.serving import build_serving_asset, outbox
from dagster_project.assets.warehouse import DBT_MODELS, DbtBuildConfig, build_dbt_assets
from dagster_project.core.dbt_project import crm_dbt_project, dbt_executable
from dagster_project.core.settings import load_settings
from dagster_project.orchestration.resources import WarehouseResource
from dagster_project.orchestration.sensors import build_landing_sensor

FULL_RUN_JOB_NAME = "crm_full_run"
WEEKLY_TRAINING_JOB_NAME = "crm_weekly_training"


def retrain_run_config() -> dg.RunConfig:
    """Run config of the weekly job: every trainable model asset trains a new model, and dbt runs
    the full-table audits (DbtBuildConfig)."""
    return dg.RunConfig(
        ops={
            **{asset.op.name: ModelConfig(retrain=True) for asset in TRAINABLE_MODEL_ASSETS},
            DBT_MODELS: DbtBuildConfig(full_table_audits=True),
        },
    )


full_run_job = dg.define_asset_job(
    FULL_RUN_JOB_NAME,
    selection=dg.AssetSelection.all(),
    description="Everything: load new exports, build the warehouse with dbt, train and score the models.",
)

# The same run with every model retrained: nightly runs then score with these models (and retrain
# a model on their own only when it is more than a week behind the data, see ModelConfig).
weekly_training_job = dg.define_asset_job(
    WEEKLY_TRAINING_JOB_NAME,
    selection=dg.AssetSelection.all(),
    config=retrain_run_config(),
    description="The full run, retraining every model (backtest, publish if it beats its baseline) before scoring.",
)

nightly_schedule = dg.ScheduleDefinition(
    name="crm_nightly",
    job=full_run_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    description="The nightly full run. Created stopped: turn it on in the UI or with `dagster schedule start`.",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)

weekly_training_schedule = dg.ScheduleDefinition(
    name="crm_weekly_training",
    job=weekly_training_job,
    cron_schedule="0 3 * * 0",
    execution_timezone="UTC",
    description="Sunday: the full run with every model retrained. Created stopped, like the nightly run.",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


@dg.definitions
def defs() -> dg.Definitions:
    dbt_assets = build_dbt_assets()
    # The serving file is published last: after every dbt model and every model asset.
    served = [key for assets in (*dbt_assets, *model_assets) for key in assets.keys]
    return dg.Definitions(
        assets=[*ingestion_assets, *dbt_assets, *model_assets, build_serving_asset(served), outbox, run_report],
        asset_checks=[*quality_checks, *freshness_checks, *model_checks],
        jobs=[full_run_job, weekly_training_job],
        schedules=[nightly_schedule, weekly_training_schedule],
        sensors=[build_landing_sensor(full_run_job)],
        # Runs launched by the daemon (schedules, sensor, the UI) execute every step in the run's own
        # process, as `crm build` does. The writer pool runs the steps one at a time anyway, and a
        # process per step cost ~20 s of start-up each on the reference machine (a 80 s run took 15 min).
        executor=dg.in_process_executor,
        resources={
            "warehouse": WarehouseResource(),
            # CRM_ENGINE picks the profile's target: dev (the DuckDB file) or spark.
            "dbt": DbtCliResource(
                project_dir=crm_dbt_project(),
                dbt_executable=dbt_executable(),
                target="spark" if load_settings().engine == "spark" else None,
            ),
        },
    )
