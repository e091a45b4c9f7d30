"""Model assets: train on the marts, score every customer, write scores back to ``ml.*``."""

from datetime import UTC, datetime

import dagster as dg

from dagster_project.model_store import read_analysis_cutoff, read_customer_activity, write_churn_scores
from dagster_project.resources import WAREHOUSE_WRITER_POOL, WarehouseResource
from models_ml.churn import score_customers, train_churn_model


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
        "Churn probability and risk band for every customer who ever ordered, from a logistic "
        "model backtested against 'days since last order'. History kept in ml.churn_scores; "
        "ml.churn_scores_current has the latest score per customer."
    ),
)
def churn_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as connection:
        activity = read_customer_activity(connection)
        analysis_date = read_analysis_cutoff(connection)
        result = train_churn_model(activity, analysis_date)
        scores = score_customers(result, activity, analysis_date)
        write_churn_scores(connection, result, scores, analysis_date, datetime.now(UTC).replace(tzinfo=None))

    if not result.beats_baseline:
        context.log.warning(
            f"churn model ROC AUC {result.metrics['roc_auc']:.3f} does not beat the baseline "
            f"{result.baseline_metrics['roc_auc']:.3f}"
        )
    band_counts = scores.group_by("churn_risk_band").len().sort("churn_risk_band")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": scores.height,
            "model_version": result.model_version,
            "analysis_cutoff": analysis_date.isoformat(),
            **{f"backtest_{name}": round(value, 4) for name, value in result.metrics.items()},
            **{f"baseline_{name}": round(value, 4) for name, value in result.baseline_metrics.items()},
            "customers_per_risk_band": dg.MetadataValue.md(
                "\n".join(f"- {band}: {count}" for band, count in band_counts.iter_rows())
            ),
        }
    )


model_assets = [churn_scores]
