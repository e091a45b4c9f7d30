"""What leaves the warehouse after a successful run: the serving file (serving.py) and the
activation exports for operational tools (outbox.py)."""

from collections.abc import Sequence

import dagster as dg

from dagster_project.orchestration.resources import WAREHOUSE_WRITER_POOL, WarehouseResource
from dagster_project.serve.outbox import DATASETS, export_outbox
from dagster_project.serve.pii import masking_from_settings
from dagster_project.serve.publish import SERVING_STORAGE_VERSION, incremental_keys_from_manifest, publish_serving_file

SERVING_ASSET_KEY = dg.AssetKey(["serving", "crm_duckdb"])
OUTBOX_ASSET_KEY = dg.AssetKey(["serving", "outbox"])


def build_serving_asset(upstream: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """``upstream``: every asset the file copies from; a failure in any of them skips the publish."""

    @dg.asset(
        key=SERVING_ASSET_KEY,
        group_name="serving",
        kinds={"duckdb"},
        # Reads the build file, which only the pool's one step at a time may open.
        pool=WAREHOUSE_WRITER_POOL,
        deps=list(upstream),
        description=(
            "The DuckDB file analysts, BI tools and the customer lookup open ($CRM_DATA_DIR/serving/crm.duckdb): "
            "the marts, the current model scores and the model runs, written to a new file in DuckDB 1.4 "
            "storage format and renamed over the old one, so readers never see a lock or a half-written file. "
            "The largest facts are updated in a copy of the served file with the rows dbt wrote since."
        ),
    )
    def serving_file(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        from dagster_project.core.dbt_project import crm_dbt_project

        settings = warehouse.settings()
        manifest_path = crm_dbt_project().manifest_path
        # Which columns are personal data: `meta: {pii: <kind>}` in the dbt yml, via the manifest.
        masking = masking_from_settings(settings, manifest_path) if settings.serving_mask_pii else None
        with warehouse.connect() as connection:
            published = publish_serving_file(
                connection, settings.serving_path, masking, incremental_keys_from_manifest(manifest_path)
            )
        masked = [f"{table.schema}.{table.name}.{column}" for table in published for column in table.masked_columns]
        updated = [table for table in published if table.rows_written is not None]
        context.log.info(
            f"published {len(published)} tables to {settings.serving_path}"
            + (f", {len(masked)} personal data columns masked" if masking else "")
            + "".join(
                f"; {table.schema}.{table.name}: {table.rows_written:,} rows updated in place" for table in updated
            )
        )
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(settings.serving_path)),
                "storage_version": SERVING_STORAGE_VERSION,
                "tables": len(published),
                "dagster/row_count": sum(table.rows for table in published),
                "rows_per_table": dg.MetadataValue.md(
                    "\n".join(f"- {table.schema}.{table.name}: {table.rows:,}" for table in published)
                ),
                "updated_in_place": dg.MetadataValue.md(
                    "\n".join(f"- {table.schema}.{table.name}: {table.rows_written:,} rows" for table in updated)
                    or "none: every table copied whole"
                ),
                "pii_masked": masking is not None,
                "masked_columns": dg.MetadataValue.md("\n".join(f"- {name}" for name in masked) or "none"),
            }
        )

    return serving_file


@dg.asset(
    key=OUTBOX_ASSET_KEY,
    group_name="serving",
    kinds={"parquet", "csv"},
    pool=WAREHOUSE_WRITER_POOL,
    deps=[SERVING_ASSET_KEY],
    description=(
        "Activation exports in $CRM_DATA_DIR/outbox/: "
        + ", ".join(dataset.name for dataset in DATASETS)
        + " as Parquet and CSV, a full snapshot and a delta since the last export, and manifest.json "
        "(run id, rows, sha256). Files are renamed into place; CSV cells that would run as formulas are neutralised."
    ),
)
def outbox(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from datetime import UTC, datetime

    settings = warehouse.settings()
    with warehouse.connect() as connection:
        manifest = export_outbox(connection, settings.outbox_dir, context.run.run_id, datetime.now(UTC))
    rows = {
        f"{name}/{entry['file']}": entry["rows"]
        for name, dataset in manifest["datasets"].items()
        for entry in dataset.get("files", [])
    }
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(settings.outbox_dir)),
            "rows_per_file": dg.MetadataValue.md("\n".join(f"- {name}: {count:,}" for name, count in rows.items())),
        }
    )
