"""Every model through Dagster on two years of generated exports: what is published, what the
scores look like, how they rank the generator's truth, and what the weekly retraining does.

Two years, because the sales forecast needs 19 complete months to be backtested (13 to fit, 6 to
test), and enough customers (3,000) for the offer backtest to separate the model from popularity.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.core.settings import Settings
from dagster_project.orchestration.summary import table_counts
from dagster_project.runner import run_full_pipeline
from tests.pipeline import data_dir_environment, query

pytestmark = pytest.mark.e2e

MODEL_EXPORT = {"customers": 3000, "months": 24, "seed": 11}
MODELS = {"feedback", "churn", "clv", "next_best_offer", "segments", "revenue_forecast"}


@pytest.fixture(scope="module")
def model_warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    """A warehouse built once for this module; tests only read it (the retraining test works on a copy)."""
    from datetime import date

    from dagster_project.synthetic import generate_exports

    root = tmp_path_factory.mktemp("model_export")
    generate_exports(
        out_dir=root / "data" / "landing", truth_dir=root / "ground_truth", end_date=date(2026, 6, 30), **MODEL_EXPORT
    )
    with data_dir_environment(root / "data") as settings:
        outcome = run_full_pipeline(settings)
    assert outcome.success, outcome.failure_messages
    return settings, root / "ground_truth"


def _query(settings: Settings, sql: str) -> list[tuple]:
    return query(settings.warehouse_path, sql)


def test_every_model_beats_its_baseline_and_is_published(model_warehouse):
    settings, _ = model_warehouse
    runs = {
        name: (published, verdict)
        for name, published, verdict in _query(settings, "select model_name, is_published, verdict from ml.model_runs")
    }
    assert set(runs) == MODELS
    assert all(published for published, _ in runs.values()), runs
    for model in MODELS - {"feedback", "revenue_forecast"}:  # the lexicon has no artefact; the forecast's is tiny
        assert any((settings.models_dir / model).glob("*/model.pkl")), model
        assert any((settings.models_dir / model).glob("*/metadata.json")), model
    importance = _query(settings, "select count(*), count(distinct feature) from ml.feature_importance")[0]
    assert importance[0] == importance[1] >= 10


def test_scores_cover_every_customer_and_follow_the_rules(model_warehouse):
    settings, _ = model_warehouse
    customers = _query(settings, "select count(*) from marts.dim_customers")[0][0]
    churn = _query(
        settings,
        "select count(distinct customer_id), count(*) filter (where churn_status = 'active'), count(churn_probability), "
        "count(churn_reason_1), min(churn_probability), max(churn_probability) from ml.churn_scores_current",
    )[0]
    # Every customer has a status; the active ones (most of them) a probability, strictly between 0 and 1.
    assert churn[0] == customers and 0.5 * customers < churn[1] == churn[2] < customers
    assert churn[3] > 0.9 * churn[1] and 0 < churn[4] < churn[5] < 1
    statuses = dict(_query(settings, "select churn_status, count(*) from ml.churn_scores_current group by all"))
    assert set(statuses) == {"active", "lapsed", "prospect"}, statuses
    never_ordered = _query(
        settings,
        "select count(*) from marts.customer_360 where revenue_generating_orders = 0 and churn_status is not null",
    )[0][0]
    assert statuses["prospect"] == never_ordered
    # The README's rule, worked out in SQL from the orders mart: lapsed means the last
    # revenue-generating order is more than 360 whole days before the end of the analysis date.
    wrong_status = _query(
        settings,
        """
        with last_orders as (
            select customer_id, max(ordered_at) as last_ordered_at
            from marts.fct_orders
            where is_revenue_generating
            group by customer_id
        )
        select count(*)
        from ml.churn_scores_current as scores
        left join last_orders using (customer_id)
        where scores.churn_status != case
            when last_orders.last_ordered_at is null then 'prospect'
            when last_orders.last_ordered_at <= scores.as_of_date + 1 - interval 361 day then 'lapsed'
            else 'active'
        end
        """,
    )[0][0]
    assert wrong_status == 0

    offers = _query(
        settings,
        "select count(distinct customer_id), max(offer_rank), count(*) filter (where reason is null) "
        "from ml.next_best_offers_current",
    )[0]
    offers_of_bought_products = _query(
        settings,
        """
        select count(*) from ml.next_best_offers_current as offers
        join marts.fct_order_lines as lines using (customer_id, product_id)
        where lines.is_revenue_generating
        """,
    )[0][0]
    # Everyone gets ten offers (best sellers without a history), never of a product they bought.
    assert offers == (customers, 10, 0) and offers_of_bought_products == 0

    segments = _query(
        settings,
        "select count(distinct customer_id), count(distinct segment_name), count(segment_description) "
        "from ml.customer_segments_current",
    )[0]
    assert segments[0] == customers and segments[1] >= 4 and segments[2] == customers

    feedback = _query(
        settings, "select count(*), count(sentiment_score), count(distinct topic) from ml.feedback_scores_current"
    )[0]
    surveys = _query(settings, "select count(*), count(nullif(trim(comment), '')) from marts.fct_survey_responses")[0]
    assert feedback[0] == surveys[0] and feedback[1] == surveys[1] and feedback[2] >= 3

    forecast = _query(
        settings,
        "select count(*), min(month), bool_and(lower_95_revenue_usd <= lower_80_revenue_usd "
        "and lower_80_revenue_usd <= forecast_revenue_usd and forecast_revenue_usd <= upper_80_revenue_usd "
        "and upper_80_revenue_usd <= upper_95_revenue_usd) from ml.sales_forecast_current",
    )[0]
    last_month = _query(settings, "select max(date_month) from marts.sales_monthly")[0][0]
    last_month = last_month.date() if hasattr(last_month, "date") else last_month
    assert forecast[0] == 6 and forecast[1] > last_month and forecast[2]


def test_churn_scores_rank_the_generators_true_churners(model_warehouse):
    """The truth file says who stopped buying for good; the published scores of the customers who can
    churn (active ones: prospects and lapsed customers have no probability) must rank them high.
    Among active customers alone this is much harder than over everyone (never-buyers and long-gone
    customers were the easy churners). The model predicts "no order within 90 days", not "stopped for
    good": on this target "days since last order" ranks better (printed for comparison)."""
    from sklearn.metrics import roc_auc_score

    settings, truth_dir = model_warehouse
    truth = pl.read_csv(truth_dir / "customers_truth.csv", infer_schema=False)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        scores = connection.sql(
            """
            select scores.customer_id, scores.churn_probability, c360.recency_days
            from ml.churn_scores_current as scores
            join marts.customer_360 as c360 using (customer_id)
            where scores.churn_status = 'active'
            """
        ).pl()
    scored = scores.join(truth.select("customer_id", pl.col("is_churned") == "true"), on="customer_id")
    assert scored.height >= 0.95 * scores.height
    roc_auc = roc_auc_score(scored["is_churned"].to_numpy(), scored["churn_probability"].to_numpy())
    recency_auc = roc_auc_score(scored["is_churned"].to_numpy(), scored["recency_days"].to_numpy())
    print(f"churn scores vs generator truth: ROC AUC {roc_auc:.3f} (recency {recency_auc:.3f}) on {scored.height}")
    assert roc_auc > 0.7


def test_a_retraining_run_replaces_the_runs_of_the_same_data_and_keeps_the_scores(model_warehouse, data_dir_settings):
    """What the weekly training job does: every model trained again. Same data, so the same versions:
    their runs are replaced (trained_at moves), not added, and the scores keep their row counts."""
    built, _ = model_warehouse
    settings = data_dir_settings
    shutil.copytree(built.data_dir, settings.data_dir)
    runs = "select model_name, model_version, trained_at from ml.model_runs order by 1"
    before = _query(settings, runs)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        counts_before = table_counts(connection)
    outcome = run_full_pipeline(settings, retrain=True)
    assert outcome.success, outcome.failure_messages
    after = _query(settings, runs)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        counts_after = table_counts(connection)
    assert [row[:2] for row in after] == [row[:2] for row in before]
    retrained = {name for (name, _, old), (_, _, new) in zip(before, after, strict=True) if new > old}
    assert {"churn", "clv", "next_best_offer", "segments"} <= retrained
    assert counts_after == counts_before


def test_a_rerun_with_no_new_exports_sends_an_empty_outbox_delta(model_warehouse, data_dir_settings):
    """The nightly run on a day with no new files: every score is recomputed, nothing changed, so the
    tools reading the outbox are told about no customer and no offer."""
    built, _ = model_warehouse
    settings = data_dir_settings
    shutil.copytree(built.data_dir, settings.data_dir)
    outbox = settings.outbox_dir
    snapshots_before = {
        name: pl.read_parquet(outbox / name / "snapshot.parquet").height
        for name in ("crm_sync_customers", "next_best_offers")
    }
    assert all(snapshots_before.values())
    outcome = run_full_pipeline(settings)
    assert outcome.success, outcome.failure_messages
    for name, rows in snapshots_before.items():
        delta = pl.read_parquet(outbox / name / "delta.parquet")
        assert delta.is_empty(), f"{name}: {delta.height} rows changed on a rerun with no new data\n{delta.head()}"
        assert pl.read_parquet(outbox / name / "snapshot.parquet").height == rows


def test_measured_campaign_lift_is_close_to_the_generators_truth_where_last_touch_is_not(model_warehouse):
    """The generator gives each campaign a true multiplier m of its targeted customers' rate of
    orders containing the offer product, and keeps a random holdout. So of the targeted customers'
    offer orders, the share (m - 1) / m is what the campaign added. campaign_performance's lift
    estimate (targeted against comparable untargeted customers) should find that number; last-touch
    conversions, which also count the orders that would have happened anyway, should not."""
    settings, truth_dir = model_warehouse
    truth = pl.read_csv(truth_dir / "campaign_lift.csv", schema_overrides={"campaign_id": pl.String})
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        measured = pl.from_arrow(
            connection.sql(
                "select campaign_id, conversions, lift_targeted_customers, targeted_offer_order_rate,"
                " comparison_offer_order_rate, estimated_lift_multiplier, incremental_revenue_usd::double as revenue,"
                " incremental_revenue_low_usd::double as low, incremental_revenue_high_usd::double as high"
                " from marts.campaign_performance where incremental_revenue_usd is not null"
            ).arrow()
        )
    campaigns = measured.join(truth, on="campaign_id", how="inner")
    assert campaigns.height >= 0.8 * truth.height >= 8
    multiplier = pl.col("true_purchase_rate_multiplier")
    targeted_orders = pl.col("lift_targeted_customers") * pl.col("targeted_offer_order_rate")
    campaigns = campaigns.with_columns(
        (targeted_orders * (multiplier - 1) / multiplier).alias("true_added_orders"),
        (targeted_orders - pl.col("lift_targeted_customers") * pl.col("comparison_offer_order_rate")).alias(
            "estimated_added_orders"
        ),
    )
    truth_total = campaigns["true_added_orders"].sum()
    estimate_error = (campaigns["estimated_added_orders"] - campaigns["true_added_orders"]).abs().sum()
    last_touch_error = (campaigns["conversions"] - campaigns["true_added_orders"]).abs().sum()
    # A small holdout may place no offer order at all: no multiplier then, but still an added-orders estimate.
    ratio = (campaigns["estimated_lift_multiplier"] / campaigns["true_purchase_rate_multiplier"]).drop_nulls().median()
    print(
        f"campaign lift on {campaigns.height} campaigns: added orders true {truth_total:.0f}, "
        f"estimated {campaigns['estimated_added_orders'].sum():.0f}, last touch {campaigns['conversions'].sum()}; "
        f"summed error estimate {estimate_error:.0f} vs last touch {last_touch_error:.0f}; "
        f"median estimated / true multiplier {ratio:.2f}"
    )
    assert abs(campaigns["estimated_added_orders"].sum() - truth_total) < 0.25 * truth_total
    assert estimate_error < 0.8 * last_touch_error
    assert 0.7 < ratio < 1.4
    # The interval is an interval around the estimate, and says when an effect is not measurable.
    assert (campaigns["low"] <= campaigns["revenue"]).all() and (campaigns["revenue"] <= campaigns["high"]).all()
