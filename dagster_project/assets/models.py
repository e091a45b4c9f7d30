"""Model assets: one per row of ``dagster_project.modelling.specs.MODEL_SPECS``.

Each asset reads its inputs and trains or scores through ``dagster_project.modelling.lifecycle``
(when to retrain, the publish verdict, the record in ``ml.*``); here only the Dagster wiring: the
asset's key, dependencies and description, its retrain config, its metadata, and a check that
the latest trained model beat its baseline (not blocking: the scores dbt joins are the last
published ones, so a held-back model leaves them current).
"""

import dagster as dg
from pydantic import Field

from dagster_project.core import model_inputs, model_store
from dagster_project.modelling import lifecycle
from dagster_project.modelling.specs import MODEL_SPECS, Markdown, ModelSpec
from dagster_project.orchestration.resources import WAREHOUSE_WRITER_POOL, WarehouseResource
from dagster_project.spark.transfer import copy_to_spark, spark_session


class ModelConfig(dg.Config):
    """When a model asset trains a new model, and when it scores with the published one."""

    retrain: bool = Field(
        default=False, description="Train a new model even if the published one is recent (the weekly job sets it)."
    )
    max_model_age_days: int = Field(
        default=lifecycle.DEFAULT_MAX_MODEL_AGE_DAYS,
        description="Retrain when the published model saw data more than this many days older than the analysis date.",
    )

    def policy(self) -> lifecycle.RetrainPolicy:
        return lifecycle.RetrainPolicy(retrain=self.retrain, max_model_age_days=self.max_model_age_days)


def _metadata(summary: dict[str, object]) -> dict[str, object]:
    return {key: dg.MetadataValue.md(value) if isinstance(value, Markdown) else value for key, value in summary.items()}


def _materialize(
    spec: ModelSpec, context: dg.AssetExecutionContext, warehouse: WarehouseResource, policy: lifecycle.RetrainPolicy
) -> dg.MaterializeResult:
    result = _run_model(spec, context, warehouse, policy)
    if warehouse.settings().engine == "spark":
        _copy_scores_to_spark(spec, context, warehouse)
    return result


def _copy_scores_to_spark(spec: ModelSpec, context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
    """The current scores, where dbt on Spark reads them (the history stays in the DuckDB file)."""
    current = f"{spec.asset_name}_current"
    with warehouse.connect() as connection:
        if not model_store.table_exists(connection, "ml", current):
            return  # no published run yet: dbt builds the scored marts with empty score columns
        with spark_session(warehouse.settings().spark_connect_url) as session:
            rows = copy_to_spark(session, connection, [f"ml.{current}"])
    context.log.info(f"Copied ml.{current} to Spark ({rows[f'ml.{current}']:,} rows)")


def _run_model(
    spec: ModelSpec, context: dg.AssetExecutionContext, warehouse: WarehouseResource, policy: lifecycle.RetrainPolicy
) -> dg.MaterializeResult:
    with warehouse.connect() as connection:
        if spec.score_only is not None:
            cutoff = model_inputs.read_analysis_cutoff(connection)
            run, scored = spec.score_only(connection, cutoff, lifecycle.now_utc())
            run.run_id = context.run.run_id
            model_store.record_run(connection, run, scores={spec.asset_name: scored}, scored_at=run.trained_at)
            summary = {"dagster/row_count": scored.height, "outcome": run.verdict}
            summary.update({name: round(value, 4) for name, value in run.metrics.items()})
            return dg.MaterializeResult(metadata=_metadata({**summary, **spec.summarize(scored)}))
        outcome, cutoff = lifecycle.run_model_step(
            context.log, context.run.run_id, policy, warehouse.settings().models_dir, connection, spec
        )
    metadata = {"analysis_cutoff": cutoff.isoformat(), **outcome.summary()}
    if outcome.artefact_path:
        metadata["artefact"] = dg.MetadataValue.path(outcome.artefact_path)
    if outcome.scores:
        metadata.update(spec.summarize(outcome.scores[spec.asset_name]))
    return dg.MaterializeResult(metadata=_metadata(metadata))


def build_model_asset(spec: ModelSpec) -> dg.AssetsDefinition:
    deps = [
        dg.AssetKey(["intermediate", "int_analysis_date"]),
        *(dg.AssetKey(["marts", name]) for name in spec.marts),
        *(dg.AssetKey(["ml", name]) for name in spec.upstream_models),
    ]
    settings = {
        "key": ["ml", spec.asset_name],
        "group_name": "models",
        "kinds": set(spec.kinds),
        "pool": WAREHOUSE_WRITER_POOL,
        "deps": deps,
        "description": spec.description,
    }
    if spec.takes_retrain_policy:

        @dg.asset(**settings)
        def trained_model(
            context: dg.AssetExecutionContext, config: ModelConfig, warehouse: WarehouseResource
        ) -> dg.MaterializeResult:
            return _materialize(spec, context, warehouse, config.policy())

        return trained_model

    @dg.asset(**settings)
    def model_run_every_time(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        return _materialize(spec, context, warehouse, lifecycle.RetrainPolicy())

    return model_run_every_time


def build_baseline_check(spec: ModelSpec) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["ml", spec.asset_name]),
        name=spec.check_name or f"{spec.model_name}_beats_baseline",
        # Not blocking: the scores that dbt joins are the last published ones, so what runs
        # downstream stays right when a new model is held back.
        blocking=False,
        pool=WAREHOUSE_WRITER_POOL,
        description=(
            f"The latest {spec.model_name} training run {spec.check_says} on the backtest, so it was published."
        ),
    )
    def check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        # Read-write like every step of the pool (see quality_checks.py).
        with warehouse.connect() as connection:
            run = model_store.latest_run(connection, spec.model_name)
        if run is None:
            return dg.AssetCheckResult(passed=False, description=f"no {spec.model_name} run recorded")
        return dg.AssetCheckResult(
            passed=bool(run["is_published"]),
            severity=dg.AssetCheckSeverity.ERROR,
            description=run["verdict"],
            metadata={"model_version": run["model_version"], "trained_at": str(run["trained_at"])},
        )

    return check


model_assets = [build_model_asset(spec) for spec in MODEL_SPECS]
model_checks = [build_baseline_check(spec) for spec in MODEL_SPECS if spec.check_says is not None]
# Assets that decide between training and scoring and take ModelConfig; the weekly training job
# sets retrain on each.
TRAINABLE_MODEL_ASSETS = [
    asset for asset, spec in zip(model_assets, MODEL_SPECS, strict=True) if spec.takes_retrain_policy
]
