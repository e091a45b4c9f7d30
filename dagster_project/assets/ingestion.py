"""One ingestion asset per export entity: landing files -> ``raw.<entity>``."""

from datetime import UTC, datetime

import dagster as dg

from dagster_project.core.contracts import CONTRACTS, EntityContract
from dagster_project.ingestion import EntityLoadResult, load_entity
from dagster_project.ingestion.lake import entity_lake_dir, export_new_loads
from dagster_project.ingestion.landing_watch import landing_signatures, record_ingested_files
from dagster_project.ingestion.ledger import next_load_time
from dagster_project.ingestion.source_config import SourceConfigError, active_source_configs, mappings_for
from dagster_project.orchestration.resources import WAREHOUSE_WRITER_POOL, WarehouseResource


def _describe(result: EntityLoadResult) -> dict[str, dg.MetadataValue | int]:
    rejected = result.files_with_status("rejected")
    skipped = result.files_with_status("skipped")
    metadata: dict[str, dg.MetadataValue | int] = {
        "files_loaded": len(result.files_with_status("loaded")),
        "files_duplicate": len(result.files_with_status("duplicate")),
        "files_unchanged": len(result.files_with_status("unchanged")),
        "files_rejected": len(rejected),
        "files_skipped": len(skipped),
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "dagster/row_count": result.rows_in_table,
    }
    if rejected:
        metadata["rejected_files"] = dg.MetadataValue.md("\n".join(f"- {file.error}" for file in rejected))
    if skipped:
        metadata["skipped_files"] = dg.MetadataValue.md("\n".join(f"- {file.error}" for file in skipped))
    extra = sorted({column for file in result.files for column in file.extra_columns})
    if extra:
        metadata["unknown_columns_kept_in__extra_columns"] = dg.MetadataValue.text(", ".join(extra))
    return metadata


def build_ingestion_asset(contract: EntityContract) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", contract.entity],
        group_name="ingestion",
        kinds={"polars", "duckdb"},
        pool=WAREHOUSE_WRITER_POOL,
        description=(
            f"{contract.description} Loaded from landing/{contract.source}/{contract.entity}/ "
            f"({'required' if contract.is_required_export else 'optional'} export)."
        ),
        metadata={"contract_key": ", ".join(contract.key)},
    )
    def ingest(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        settings = warehouse.settings()
        try:
            sources = mappings_for(active_source_configs(settings.sources_dir), contract.entity)
        except SourceConfigError as error:
            raise dg.Failure(description=f"Invalid source configuration: {error}") from error
        found = landing_signatures(settings.landing_dir, sources)  # before loading: see record_ingested_files
        with warehouse.connect() as connection:
            result = load_entity(
                connection,
                contract,
                settings.landing_dir,
                loaded_at=next_load_time(connection, datetime.now(UTC).replace(tzinfo=None)),
                sources=sources,
                on_file=lambda name: context.log.info(f"loading {name}"),
            )
            lake = export_new_loads(connection, contract, settings.lake_dir) if settings.raw_parquet else None
        # Every file found was loaded, recognised, or rejected with its reason: the landing sensor
        # need not launch a run for them.
        record_ingested_files(settings.ingested_files_dir, contract.entity, found)
        for file in result.files_with_status("rejected"):
            context.log.error(f"rejected {file.error}")
        for file in result.files_with_status("skipped"):
            context.log.warning(f"skipped {file.error}")
        if contract.is_required_export and result.rows_in_table == 0:
            raise dg.Failure(
                description=(
                    f"No {contract.entity} loaded: the {contract.entity} export is required. "
                    "Put files matching "
                    + " or ".join(str(settings.landing_dir / mapping.files) for _, mapping in sources)
                    + " there (see the source configs in "
                    + f"{settings.sources_dir})."
                ),
                metadata=_describe(result),
            )
        context.log.info(
            f"{contract.entity}: {result.rows_loaded} rows loaded, {result.rows_quarantined} quarantined, "
            f"{result.rows_in_table} in {contract.raw_table}"
        )
        metadata = _describe(result)
        if lake is not None:
            metadata |= {"lake_files_written": lake.files_written, "lake_rows": lake.rows_in_lake}
            if lake.rows_in_lake != result.rows_in_table:
                raise dg.Failure(
                    description=(
                        f"The lake holds {lake.rows_in_lake} {contract.entity} rows and {contract.raw_table} "
                        f"{result.rows_in_table}: a file under {entity_lake_dir(settings.lake_dir, contract)} was "
                        "removed or changed by hand. Move that folder away; the next run writes it again."
                    ),
                    metadata=metadata,
                )
            context.log.info(
                f"{contract.entity}: {lake.files_written} new lake files, {lake.rows_in_lake} rows in the lake"
            )
        return dg.MaterializeResult(metadata=metadata)

    return ingest


ingestion_assets = [build_ingestion_asset(contract) for contract in CONTRACTS.values()]
