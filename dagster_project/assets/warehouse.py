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

from dagster_project.dbt_project import crm_dbt_project
from dagster_project.resources import WAREHOUSE_WRITER_POOL, WarehouseResource


class CrmDbtTranslator(DagsterDbtTranslator):
    """Models are keyed <schema>/<model> (e.g. marts/fct_orders); sources keep raw/<entity>,
    which are exactly the ingestion assets' keys, so the lineage graph is one piece."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
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
    def _models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource) -> Iterator[Any]:
        settings = warehouse.settings()
        # profiles.yml reads CRM_DATA_DIR: make sure dbt sees the same absolute folder.
        settings.export_to_environment()
        warehouse.wait_until_writable()  # a file locked by someone else: retry later, before dbt starts
        target_path = settings.dbt_target_dir / "runs" / f"{context.run.run_id}-{name}"
        yield from dbt.cli(["build"], context=context, target_path=target_path).stream()

    return _models


def build_dbt_assets() -> list[dg.AssetsDefinition]:
    """The warehouse models, and (when the project has any) the models that join scores back."""
    project = crm_dbt_project()
    if not _has_scored_models(project.manifest_path):
        return [_dbt_build("crm_dbt_models", select="fqn:*", exclude=None)]
    return [
        _dbt_build("crm_dbt_models", select="fqn:*", exclude=SCORED_SELECTION),
        _dbt_build("crm_dbt_scored_models", select=SCORED_SELECTION, exclude=None),
    ]
