"""The landing sensor: when exports arrive, load them and rebuild what depends on them."""

import hashlib

import dagster as dg

from dagster_project.ingestion.landing_watch import detect_landing_changes, ingested_files
from dagster_project.ingestion.source_config import SourceConfigError, active_source_configs
from dagster_project.orchestration.resources import WarehouseResource
from dagster_project.orchestration.run_recovery import recover_abandoned_runs

LANDING_SENSOR_NAME = "landing_files_sensor"


def build_landing_sensor(job) -> dg.SensorDefinition:
    """The sensor that launches `job` (the full-run asset job) restricted to what new files feed."""

    @dg.sensor(
        name=LANDING_SENSOR_NAME,
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Every minute, looks for new or changed files in the landing folder (as the source configs "
            "describe it) and launches their entities' ingestion and everything downstream of it."
        ),
    )
    def landing_files_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        if context.instance_ref is not None:  # None only in tests that build a bare context
            # The daemon cannot see that a `crm build` process died, and the run it left holds the
            # writer pool: every run launched here would wait for it forever. Cleaned up each minute.
            recover_abandoned_runs(context.instance)
        settings = warehouse.settings()
        try:
            configs = active_source_configs(settings.sources_dir)
        except SourceConfigError as error:
            return dg.SkipReason(f"Invalid source configuration: {error}")
        changes = detect_landing_changes(
            settings.landing_dir, configs, context.cursor, ingested_files(settings.ingested_files_dir)
        )
        if not changes.entities:
            context.update_cursor(changes.cursor())
            return dg.SkipReason(f"No new files in {settings.landing_dir}")

        ingestion_keys = [dg.AssetKey(["raw", entity]) for entity in changes.entities]
        selection = dg.AssetSelection.assets(*ingestion_keys).downstream()
        asset_keys = sorted(selection.resolve(context.repository_def.asset_graph), key=lambda key: key.to_string())
        new_files = sorted(name for names in changes.new_files_by_entity.values() for name in names)
        context.update_cursor(changes.cursor())
        return dg.RunRequest(
            run_key=hashlib.sha256("\n".join(f"{n}={changes.state[n]}" for n in new_files).encode()).hexdigest(),
            asset_selection=asset_keys,
            tags={"crm/trigger": "landing_files", "crm/new_files": str(len(new_files))},
        )

    return landing_files_sensor
