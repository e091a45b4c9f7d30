"""Data quality checks on the raw tables: Great Expectations suites as Dagster asset checks.

Each ``raw.<entity>`` asset has two checks, computed together in one step:

``<entity>_severe_expectations``  blocking, and only for systemic problems (no rows in a required
                                  export, a share of the latest load quarantined above the source
                                  config's ``max_quarantined_share``, a key mostly empty): when it
                                  fails (severity ERROR) the assets downstream of ``raw.<entity>``
                                  (dbt staging, marts, models) are not materialised in that run.
``<entity>_soft_expectations``    a warning (severity WARN) with counts and examples, on the rows of
                                  the latest load; the run goes on.

Both suites read one row of metrics that DuckDB computes, so a check's memory does not grow with
the table.

The logic is in :mod:`dagster_project.quality` (plain Python); this module only wires it.
"""

from datetime import UTC, datetime

import dagster as dg

from dagster_project.core.contracts import CONTRACTS, EntityContract
from dagster_project.ingestion.source_config import active_source_configs, mappings_for
from dagster_project.orchestration.resources import WAREHOUSE_WRITER_POOL, WarehouseResource
from dagster_project.quality import SEVERE, SEVERITIES, EntityValidation, describe_suite, validate_entity


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
            f"Great Expectations suite raw.{contract.entity}.{severity} on "
            + (
                "the table's metrics (aggregates of the whole table and of each source system's latest load). "
                if blocking
                else "the metrics of the latest load (the rows the last ingestion brought, not the whole history). "
            )
            + f"{effect}\n\n"
            f"{describe_suite(contract.entity, severity)}"
        ),
    )


def _metadata(validation: EntityValidation, severity: str) -> dict:
    result = validation.results[severity]
    metadata: dict = {
        "suite": result.suite_name,
        "failed_expectations": dg.MetadataValue.md(result.failures_markdown()),
        "failed_expectation_count": len(result.failed),
        "evaluated_expectations": result.evaluated_expectations,
        "raw_rows": validation.raw_rows,
        "rows_judged": validation.rows_judged,
    }
    if validation.loads:
        metadata["latest_loads"] = dg.MetadataValue.md("\n".join(f"    {line}" for line in validation.load_in_words()))
    if severity == SEVERE and not result.success:
        metadata["blocked_because"] = dg.MetadataValue.text("\n".join(validation.blocked_because()))
    if validation.quarantine_examples:
        metadata["quarantined_examples"] = dg.MetadataValue.md(
            "\n".join(f"- {line}" for line in validation.examples_in_words())
        )
    if validation.data_docs_index is not None:
        metadata["data_docs"] = dg.MetadataValue.path(str(validation.data_docs_index))
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
        limits = {
            system: mapping.max_quarantined_share
            for system, mapping in mappings_for(active_source_configs(settings.sources_dir), entity)
            if mapping.max_quarantined_share is not None
        }
        with warehouse.connect() as connection:
            validation = validate_entity(
                connection,
                entity,
                settings.docs_dir,
                now=datetime.now(UTC),
                severities=severities,
                quarantine_limits=limits,
            )
        context.log.info(f"Great Expectations Data Docs for raw.{entity}: {validation.data_docs_index}")
        for severity in severities:
            result = validation.results[severity]
            if severity == SEVERE and not result.success:
                context.log.error("\n".join(validation.blocked_because()))
            for line in result.failures_in_words():
                log = context.log.error if severity == SEVERE else context.log.warning
                log(f"{result.suite_name}: {line}")
            if severity != SEVERE and validation.quarantine_examples:
                context.log.warning(
                    "\n".join([*validation.load_in_words(), "For example:", *validation.examples_in_words()])
                )
            if result.data_docs_page is not None:
                context.log.info(f"{result.suite_name} results: {result.data_docs_page}")
            yield dg.AssetCheckResult(
                asset_key=asset_key,
                check_name=check_name(entity, severity),
                passed=result.success,
                severity=dg.AssetCheckSeverity.ERROR if severity == SEVERE else dg.AssetCheckSeverity.WARN,
                metadata=_metadata(validation, severity),
            )

    return raw_entity_expectations


quality_checks = [build_quality_checks(contract) for contract in CONTRACTS.values()]
