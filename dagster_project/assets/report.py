"""The run report: an HTML page under $CRM_DATA_DIR/reports/ after each run (logic in report.py).

This asset only gathers the run's data-quality summary from the Dagster instance (what each
ingestion step loaded and quarantined, every asset check evaluated in the run) and hands it over.
It reads the serving file read-only, never the build file, so it is not in the writer pool.
"""

from datetime import UTC, datetime

import dagster as dg

from dagster_project.assets.serving import SERVING_ASSET_KEY
from dagster_project.core.contracts import CONTRACTS
from dagster_project.orchestration.resources import WarehouseResource
from dagster_project.serve.report import CHARTS, CheckOutcome, DataQualitySummary, EntityLoad, render_run_report

RUN_REPORT_ASSET_KEY = dg.AssetKey(["reports", "run_report"])

# Ingestion metadata (assets/ingestion.py) -> EntityLoad fields.
_LOAD_METADATA = {
    "files_loaded": "files_loaded",
    "files_duplicate": "files_duplicate",
    "files_rejected": "files_rejected",
    "rows_loaded": "rows_loaded",
    "rows_quarantined": "rows_quarantined",
}


def _plain(value: object) -> object:
    """A metadata entry's value (MetadataValue wrappers hold it in .value)."""
    return getattr(value, "value", value)


def _entity_loads(materializations: list[dg.AssetMaterialization]) -> list[EntityLoad]:
    by_entity = {
        materialization.asset_key.path[1]: materialization
        for materialization in materializations
        if len(materialization.asset_key.path) == 2 and materialization.asset_key.path[0] == "raw"
    }
    loads = []
    for entity in CONTRACTS:
        materialization = by_entity.get(entity)
        if materialization is None:
            loads.append(EntityLoad(entity, in_run=False))
            continue
        metadata = materialization.metadata
        loads.append(
            EntityLoad(
                entity,
                **{field: int(_plain(metadata[key]) or 0) for key, field in _LOAD_METADATA.items() if key in metadata},
            )
        )
    return loads


def _check_detail(evaluation) -> str:
    """What failed, in words: the Great Expectations failures, dbt's failing rows, or the description."""
    metadata = evaluation.metadata or {}
    if "failed_expectations" in metadata:
        return str(_plain(metadata["failed_expectations"]))
    for key in ("dagster_dbt/failed_row_count", "failed_row_count"):
        if key in metadata:
            return f"{_plain(metadata[key])} failing rows"
    return evaluation.description or ""


def run_quality_summary(instance: dg.DagsterInstance, run_id: str) -> DataQualitySummary:
    """This run's ingestion counts and asset check results, read from the instance's event log."""
    entries = instance.all_logs(
        run_id,
        of_type={dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION},
    )
    materializations, checks = [], []
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materializations.append(event.event_specific_data.materialization)
        else:
            evaluation = event.event_specific_data
            checks.append(
                CheckOutcome(
                    asset="/".join(evaluation.asset_key.path),
                    check=evaluation.check_name,
                    passed=evaluation.passed,
                    severity=evaluation.severity.value,
                    detail=_check_detail(evaluation),
                )
            )
    return DataQualitySummary(loads=_entity_loads(materializations), checks=checks)


@dg.asset(
    key=RUN_REPORT_ASSET_KEY,
    group_name="reports",
    kinds={"html"},
    deps=[SERVING_ASSET_KEY],
    description=(
        "The run report a manager opens: $CRM_DATA_DIR/reports/latest.html (and run-<UTC time>-<run id>.html), "
        "one offline HTML page with headline numbers, "
        + ", ".join(spec.title.lower() for spec in CHARTS)
        + ", and the run's data quality (rows loaded and quarantined per export, failed checks). "
        "Drawn from the serving file."
    ),
)
def run_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = warehouse.settings()
    quality = run_quality_summary(context.instance, context.run.run_id)
    report = render_run_report(
        settings.serving_path, settings.reports_dir, context.run.run_id, datetime.now(UTC), quality
    )
    for key, reason in report.charts_unavailable.items():
        context.log.warning(f"run report: chart {key} not available yet: {reason}")
    context.log.info(f"run report: {report.path} ({report.size_bytes:,} bytes, {report.seconds:.1f} s)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(report.path)),
            "latest": dg.MetadataValue.path(str(report.latest_path)),
            "size_bytes": report.size_bytes,
            "render_seconds": round(report.seconds, 2),
            "charts_drawn": len(report.charts_drawn),
            "charts_not_available": dg.MetadataValue.md(
                "\n".join(f"- {key}: {reason}" for key, reason in report.charts_unavailable.items()) or "none"
            ),
            "failed_checks_in_run": len(quality.failed_checks),
            "rows_quarantined_in_run": sum(load.rows_quarantined for load in quality.loads),
        }
    )
