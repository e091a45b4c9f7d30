"""Data quality checks on the raw tables: Great Expectations suites as Dagster asset checks.

Each ``raw.<entity>`` asset has two checks, computed together in one step (the current rows are
read and validated once):

``<entity>_severe_expectations``  blocking: when it fails (severity ERROR) the assets downstream
                                  of ``raw.<entity>`` (dbt staging, marts, models) are not
                                  materialised in that run.
``<entity>_soft_expectations``    a warning (severity WARN); the run goes on.

The logic is in :mod:`dagster_project.quality` (plain Python); this module only wires it.
"""

from datetime import UTC, datetime

import dagster as dg

from dagster_project.contracts import CONTRACTS, EntityContract
from dagster_project.quality import SEVERE, SEVERITIES, SeverityResult, describe_suite, validate_entity
from dagster_project.resources import WAREHOUSE_WRITER_POOL, WarehouseResource


def check_name(entity: str, severity: str) -> str:
    return f"{entity}_{severity}_expectations"


def _spec(contract: EntityContract, severity: str) -> dg.AssetCheckSpec:
    blocking = severity == SEVERE
    effect = (
        "Blocking: if any fails, nothing downstream of this table is built in the run."
        if blocking
        else "Warning only: the run goes on."
    )
    return dg.AssetCheckSpec(
        name=check_name(contract.entity, severity),
        asset=dg.AssetKey(["raw", contract.entity]),
        blocking=blocking,
        description=(
            f"Great Expectations suite raw.{contract.entity}.{severity} on the current rows "
            f"(latest row per key, as dbt staging sees them). {effect}\n\n"
            f"{describe_suite(contract.entity, severity)}"
        ),
    )


def _metadata(result: SeverityResult, raw_rows: int, current_rows: int, docs_index) -> dict:
    metadata: dict = {
        "suite": result.suite_name,
        "failed_expectations": dg.MetadataValue.md(result.failures_markdown()),
        "failed_expectation_count": len(result.failed),
        "evaluated_expectations": result.evaluated_expectations,
        "raw_rows": raw_rows,
        "current_rows": current_rows,
    }
    if docs_index is not None:
        metadata["data_docs"] = dg.MetadataValue.path(str(docs_index))
    if result.data_docs_page is not None:
        metadata["data_docs_page"] = dg.MetadataValue.path(str(result.data_docs_page))
    if result.skipped_reason:
        metadata["skipped"] = dg.MetadataValue.text(result.skipped_reason)
    return metadata


def build_quality_checks(contract: EntityContract) -> dg.AssetChecksDefinition:
    entity = contract.entity
    asset_key = dg.AssetKey(["raw", entity])

    @dg.multi_asset_check(
        name=f"raw_{entity}_expectations",
        specs=[_spec(contract, severity) for severity in SEVERITIES],
        description=f"Great Expectations suites of raw.{entity}, severe (blocking) and soft (warning).",
        can_subset=True,
        compute_kind="great_expectations",
        # Reads the build DuckDB file, which only one process may open while writers run.
        pool=WAREHOUSE_WRITER_POOL,
    )
    def raw_entity_expectations(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        selected = {key.name for key in context.selected_asset_check_keys}
        severities = [severity for severity in SEVERITIES if check_name(entity, severity) in selected]
        settings = warehouse.settings()
        # Read-write like every step of the pool: a read-only open would clash with another
        # connection to the file in the same process (in-process runs), and the pool already
        # keeps other writers out.
        with warehouse.connect() as connection:
            validation = validate_entity(
                connection, entity, settings.docs_dir, now=datetime.now(UTC), severities=severities
            )
        context.log.info(f"Great Expectations Data Docs for raw.{entity}: {validation.data_docs_index}")
        for severity in severities:
            result = validation.results[severity]
            for line in result.failures_in_words():
                log = context.log.error if severity == SEVERE else context.log.warning
                log(f"{result.suite_name}: {line}")
            if result.data_docs_page is not None:
                context.log.info(f"{result.suite_name} results: {result.data_docs_page}")
            yield dg.AssetCheckResult(
                asset_key=asset_key,
                check_name=check_name(entity, severity),
                passed=result.success,
                severity=dg.AssetCheckSeverity.ERROR if severity == SEVERE else dg.AssetCheckSeverity.WARN,
                metadata=_metadata(result, validation.raw_rows, validation.current_rows, validation.data_docs_index),
            )

    return raw_entity_expectations


quality_checks = [build_quality_checks(contract) for contract in CONTRACTS.values()]
