"""Model assets: train on the marts, score every customer, write scores back to ``ml.*``.

Each asset is thin: it reads inputs with ``model_store``, calls ``models_ml``, and records the
run. A model that does not beat its baseline on the backtest is recorded but not published:
its ``<model>_beats_baseline`` check fails (blocking what reads the scores), and the previous
scores stay current.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from dagster_project import model_store
from dagster_project.resources import WAREHOUSE_WRITER_POOL, WarehouseResource
from models_ml.churn import MINIMUM_ROC_AUC, score_customers, train_churn_model
from models_ml.clv import evaluate_clv, score_clv


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _as_of_date(analysis_cutoff: datetime) -> pl.Expr:
    """The analysis day the scores are "as of": the cutoff is the end of that day."""
    return pl.lit((analysis_cutoff - timedelta(days=1)).date()).alias("as_of_date")


def _metric_metadata(run: model_store.ModelRun) -> dict[str, object]:
    metadata: dict[str, object] = {
        "model_version": run.model_version,
        "published": run.is_published,
        "verdict": run.verdict,
    }
    metadata.update({f"backtest_{name}": round(value, 4) for name, value in run.metrics.items()})
    metadata.update({f"baseline_{name}": round(value, 4) for name, value in run.baseline_metrics.items()})
    if run.artefact_path:
        metadata["artefact"] = dg.MetadataValue.path(run.artefact_path)
    return metadata


def _beats_baseline_check(model_name: str, asset_key: list[str]) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(asset_key),
        name=f"{model_name}_beats_baseline",
        blocking=True,
        pool=WAREHOUSE_WRITER_POOL,
        description=f"The latest {model_name} run beat its baseline on the backtest and was published.",
    )
    def check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        # Read-write like every step of the pool (see quality_checks.py).
        with warehouse.connect() as connection:
            run = model_store.latest_run(connection, model_name)
        if run is None:
            return dg.AssetCheckResult(passed=False, description=f"no {model_name} run recorded")
        return dg.AssetCheckResult(
            passed=bool(run["is_published"]),
            severity=dg.AssetCheckSeverity.ERROR,
            description=run["verdict"],
            metadata={"model_version": run["model_version"]},
        )

    return check


@dg.asset(
    key=["ml", "churn_scores"],
    group_name="models",
    kinds={"scikitlearn", "duckdb"},
    pool=WAREHOUSE_WRITER_POOL,
    deps=[
        dg.AssetKey(["intermediate", "int_analysis_date"]),
        dg.AssetKey(["marts", "dim_customers"]),
        dg.AssetKey(["marts", "fct_orders"]),
        dg.AssetKey(["marts", "fct_interactions"]),
    ],
    description=(
        "Churn probability (calibrated), risk band and the three main reasons for every customer, "
        "from a logistic model backtested against 'days since last order'. Published only when it "
        "beats that baseline. History in ml.churn_scores; ml.churn_scores_current has the latest run."
    ),
)
def churn_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = warehouse.settings()
    trained_at = _now()
    with warehouse.connect() as connection:
        activity = model_store.read_customer_activity(connection)
        analysis_date = model_store.read_analysis_cutoff(connection)
        result = train_churn_model(activity, analysis_date)
        roc, baseline_roc = result.metrics["roc_auc"], result.baseline_metrics["roc_auc"]
        run = model_store.ModelRun(
            model_name="churn",
            model_version=result.model_version,
            run_id=context.run_id,
            trained_at=trained_at,
            data_start=activity.orders["ordered_at"].min(),
            data_end=analysis_date,
            training_cutoff=result.training_cutoff,
            backtest_cutoff=result.backtest_cutoff,
            training_rows=result.training_rows,
            parameters=result.parameters,
            metrics=result.metrics,
            baseline_metrics=result.baseline_metrics,
            beats_baseline=result.beats_baseline,
            verdict=(
                f"published: backtest ROC AUC {roc:.3f} beats the baseline (days since last order) {baseline_roc:.3f}"
                if result.beats_baseline
                else f"not published: backtest ROC AUC {roc:.3f} does not beat both the baseline "
                f"(days since last order) {baseline_roc:.3f} and chance ({MINIMUM_ROC_AUC}); "
                "the previous scores stay current"
            ),
        )
        model_store.save_artefact(settings.models_dir, run, result.model)
        scores = score_customers(result, activity, analysis_date).with_columns(_as_of_date(analysis_date))
        model_store.record_run(
            connection,
            run,
            scores={"churn_scores": scores},
            scored_at=trained_at,
            feature_importance=result.model.importance(),
        )

    if not run.is_published:
        context.log.warning(run.verdict)
    band_counts = scores.group_by("churn_risk_band").len().sort("churn_risk_band")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": scores.height,
            "analysis_cutoff": analysis_date.isoformat(),
            **_metric_metadata(run),
            "customers_per_risk_band": dg.MetadataValue.md(
                "\n".join(f"- {band}: {count}" for band, count in band_counts.iter_rows())
            ),
        }
    )


CLV_HOLDOUT_DAYS = 180


@dg.asset(
    key=["ml", "clv_scores"],
    group_name="models",
    kinds={"scipy", "duckdb"},
    pool=WAREHOUSE_WRITER_POOL,
    deps=[dg.AssetKey(["intermediate", "int_analysis_date"]), dg.AssetKey(["marts", "fct_orders"])],
    description=(
        "Customer lifetime value over the next 12 months (BG/NBD purchases x Gamma-Gamma spend, 1% monthly "
        "discount), P(alive) and expected purchases per customer. Backtested on the last 180 days against "
        "'spend so far per day'; published only when it ranks the holdout spend at least as well."
    ),
)
def clv_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = warehouse.settings()
    trained_at = _now()
    with warehouse.connect() as connection:
        orders = model_store.read_customer_activity(connection, with_feedback=False).orders
        analysis_date = model_store.read_analysis_cutoff(connection)
        calibration_end = analysis_date - timedelta(days=CLV_HOLDOUT_DAYS)
        evaluation = evaluate_clv(orders, calibration_end, analysis_date)
        model, scores = score_clv(orders, analysis_date)
        metrics = {"spearman_clv_vs_holdout_spend": evaluation.spearman, "purchases_mae": evaluation.purchases_mae}
        baseline = {
            "spearman_clv_vs_holdout_spend": evaluation.baseline_spearman,
            "purchases_mae": evaluation.baseline_purchases_mae,
        }
        comparison = (
            f"holdout Spearman {evaluation.spearman:.3f} vs baseline (spend so far per day) "
            f"{evaluation.baseline_spearman:.3f}"
        )
        run = model_store.ModelRun(
            model_name="clv",
            model_version=model.model_version,
            run_id=context.run_id,
            trained_at=trained_at,
            data_start=orders["ordered_at"].min(),
            data_end=analysis_date,
            training_cutoff=analysis_date,
            backtest_cutoff=calibration_end,
            training_rows=scores.height,
            parameters={**model.bgnbd.as_dict(), **model.gamma_gamma.as_dict(), "horizon_days": model.horizon_days},
            metrics=metrics,
            baseline_metrics=baseline,
            beats_baseline=evaluation.beats_baseline,
            verdict=f"published: {comparison}"
            if evaluation.beats_baseline
            else f"not published: {comparison}; the previous scores stay current",
        )
        model_store.save_artefact(settings.models_dir, run, model)
        model_store.record_run(
            connection,
            run,
            scores={"clv_scores": scores.with_columns(_as_of_date(analysis_date))},
            scored_at=trained_at,
        )
    if not run.is_published:
        context.log.warning(run.verdict)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": scores.height,
            **_metric_metadata(run),
            "total_clv_usd": round(float(scores["clv"].sum()), 2),
        }
    )


model_assets = [churn_scores, clv_scores]
model_checks = [
    _beats_baseline_check("churn", ["ml", "churn_scores"]),
    _beats_baseline_check("clv", ["ml", "clv_scores"]),
]
