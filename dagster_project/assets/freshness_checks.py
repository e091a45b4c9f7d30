"""Source freshness checks: one per ``raw.<entity>``, warning when its exports stop arriving.

``export_freshness`` fails as a warning (severity WARN, not blocking: the run goes on with the
data it has) when a source system's newest file of the entity arrived more than its
``max_age_hours`` ago (source config; default 36 h for daily exports). The age is measured from
the file ledger, i.e. from arrival, not from the timestamps in the data. The logic is in
:mod:`dagster_project.ingestion.freshness`; this module only wires it.
"""

from datetime import UTC, datetime

import dagster as dg

from dagster_project.core.contracts import CONTRACTS, EntityContract
from dagster_project.ingestion.freshness import DEFAULT_MAX_AGE_HOURS, EntityFreshness, entity_freshness
from dagster_project.ingestion.source_config import SourceConfigError, active_source_configs, mappings_for
from dagster_project.orchestration.resources import WAREHOUSE_WRITER_POOL, WarehouseResource

FRESHNESS_CHECK_NAME = "export_freshness"


def _metadata(freshness: EntityFreshness, is_required: bool) -> dict:
    newest = max(
        (source for source in freshness.sources if source.newest_arrival is not None),
        key=lambda source: source.newest_arrival,
        default=None,
    )
    metadata: dict = {
        "sources": dg.MetadataValue.md("\n".join(f"- {line}" for line in freshness.describe().splitlines())),
        "max_age_hours": max((source.max_age_hours for source in freshness.sources), default=DEFAULT_MAX_AGE_HOURS),
        "export": "required" if is_required else "optional",
    }
    if freshness.age_hours is not None:
        metadata["age_hours"] = dg.MetadataValue.float(round(freshness.age_hours, 2))
    if newest is not None:
        metadata["newest_file"] = dg.MetadataValue.text(newest.newest_file or "")
        metadata["newest_arrival_utc"] = dg.MetadataValue.text(f"{newest.newest_arrival:%Y-%m-%d %H:%M:%S}")
    if freshness.has_no_files:
        metadata["status"] = dg.MetadataValue.text("no file of this entity has arrived yet")
    return metadata


def build_freshness_check(contract: EntityContract) -> dg.AssetChecksDefinition:
    entity = contract.entity

    @dg.asset_check(
        asset=dg.AssetKey(["raw", entity]),
        name=FRESHNESS_CHECK_NAME,
        blocking=False,
        description=(
            f"Warns when no new {entity} export has arrived for longer than max_age_hours (per source system, "
            f"from its source config; default {DEFAULT_MAX_AGE_HOURS:g} h), judged by when files arrived, "
            "not by the dates inside them. Warning only: the run goes on."
        ),
        # Reads the file ledger in the build DuckDB file, which only the pool's one step may open.
        pool=WAREHOUSE_WRITER_POOL,
    )
    def export_freshness(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        settings = warehouse.settings()
        try:
            sources = mappings_for(active_source_configs(settings.sources_dir), entity)
        except SourceConfigError as error:
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"error": dg.MetadataValue.text(f"Invalid source configuration: {error}")},
            )
        with warehouse.connect() as connection:
            freshness = entity_freshness(connection, entity, sources, now=datetime.now(UTC).replace(tzinfo=None))
        # An optional export that never came is the normal case for a company without it, not news.
        never_sent_optional = freshness.has_no_files and not contract.is_required_export
        return dg.AssetCheckResult(
            passed=freshness.is_fresh or never_sent_optional,
            severity=dg.AssetCheckSeverity.WARN,
            description=freshness.describe(),
            metadata=_metadata(freshness, contract.is_required_export),
        )

    return export_freshness


freshness_checks = [build_freshness_check(contract) for contract in CONTRACTS.values()]
