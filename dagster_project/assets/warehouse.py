"""The dbt project as Dagster assets: staging, intermediate and marts, with dbt tests as checks."""

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)
from pydantic import Field

from dagster_project.core.dbt_project import (
    DBT_INVOCATIONS_KEPT,
    crm_dbt_project,
    keep_partial_parse,
    prune_invocation_folders,
    seed_partial_parse,
)
from dagster_project.orchestration.resources import WAREHOUSE_WRITER_POOL, WarehouseResource
from dagster_project.spark.transfer import copy_from_spark, relations_read_by_python, spark_session


class CrmDbtTranslator(DagsterDbtTranslator):
    """Models are keyed <schema>/<model> (e.g. marts/fct_orders); sources keep raw/<entity>,
    which are exactly the ingestion assets' keys, so the lineage graph is one piece."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed"):
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "model":
            return dbt_resource_props["fqn"][1]  # the folder: staging, intermediate or marts
        if dbt_resource_props["resource_type"] == "seed":
            return "reference_data"
        return super().get_group_name(dbt_resource_props)


# Models tagged `scored` join the model scores back (customer_360, crm_sync): they run after the
# models in ml.*, which themselves read the marts. Two dbt asset definitions keep the graph acyclic.
SCORED_SELECTION = "tag:scored"
DBT_MODELS = "crm_dbt_models"  # the asset definition (and op) of everything but the scored models


# dbt tests that compare a whole incremental fact with what its sources give now (tens of millions
# of rows at a million customers, half a minute each): they catch a nightly run that missed a
# correction or a relink. The nightly run leaves them to the weekly job and to a warehouse's first
# build; every other test runs every night (on the rows the night wrote, for the largest facts).
FULL_TABLE_AUDITS = "tag:full_table_audit"


class DbtBuildConfig(dg.Config):
    """Which dbt tests a run includes."""

    full_table_audits: bool = Field(
        default=False,
        description=(
            "Also run the tests tagged full_table_audit (whole facts against their sources). "
            "The weekly job sets it; a warehouse's first build runs them anyway."
        ),
    )


def _holds_marts(warehouse: WarehouseResource) -> bool:
    with warehouse.connect(read_only=True) as connection:
        count = connection.execute(
            "select count(*) from information_schema.tables where table_catalog = current_database() "
            "and table_schema = 'marts'"
        ).fetchall()[0][0]
    return count > 0


def _copy_marts_from_spark(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
    """The marts Spark just built, into the DuckDB file the models and the serving file read."""
    relations = relations_read_by_python(key.path for key in context.selected_asset_keys)
    with spark_session(warehouse.settings().spark_connect_url) as session, warehouse.connect() as connection:
        rows = copy_from_spark(session, connection, relations)
    context.log.info(f"Copied {len(rows)} tables ({sum(rows.values()):,} rows) from Spark: {', '.join(rows)}")


def _has_scored_models(manifest_path: Path) -> bool:
    manifest = json.loads(manifest_path.read_text())
    return any("scored" in node.get("tags", []) for node in manifest["nodes"].values())


def _dbt_build(name: str, select: str, exclude: str | None) -> dg.AssetsDefinition:
    project = crm_dbt_project()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name=name,
        select=select,
        exclude=exclude,
        dagster_dbt_translator=CrmDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
        pool=WAREHOUSE_WRITER_POOL,
    )
    def _models(
        context: dg.AssetExecutionContext, config: DbtBuildConfig, dbt: DbtCliResource, warehouse: WarehouseResource
    ) -> Iterator[Any]:
        settings = warehouse.settings()
        # profiles.yml reads CRM_DATA_DIR: make sure dbt sees the same absolute folder.
        settings.export_to_environment()
        warehouse.wait_until_writable()  # a file locked by someone else: retry later, before dbt starts
        runs_dir = settings.dbt_target_dir / "runs"
        target_path = runs_dir / f"{context.run.run_id}-{name}"
        args = ["build"]
        if not config.full_table_audits and _holds_marts(warehouse):
            context.log.info(f"Nightly run: the tests {FULL_TABLE_AUDITS} are left to the weekly job.")
            args += ["--exclude", FULL_TABLE_AUDITS]
        prune_invocation_folders(runs_dir, keep=DBT_INVOCATIONS_KEPT - 1)  # and this one makes the count
        seed_partial_parse(runs_dir, target_path)
        yield from dbt.cli(args, context=context, target_path=target_path).stream()
        keep_partial_parse(target_path, runs_dir)
        if settings.engine == "spark":
            _copy_marts_from_spark(context, warehouse)

    return _models


def build_dbt_assets() -> list[dg.AssetsDefinition]:
    """The warehouse models, and (when the project has any) the models that join scores back."""
    project = crm_dbt_project()
    if not _has_scored_models(project.manifest_path):
        return [_dbt_build(DBT_MODELS, select="fqn:*", exclude=None)]
    return [
        _dbt_build(DBT_MODELS, select="fqn:*", exclude=SCORED_SELECTION),
        _dbt_build("crm_dbt_scored_models", select=SCORED_SELECTION, exclude=None),
    ]
