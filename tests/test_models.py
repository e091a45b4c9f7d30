"""The churn model library: point-in-time features and a model that trains and scores."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from models_ml.churn import score_customers, train_churn_model
from models_ml.features import FEATURE_COLUMNS, CustomerActivity, churn_labels, customer_features
from tests.generated import SIMULATION_START, expected_churn_statuses, simulated_activity

START = SIMULATION_START


def _only_before(activity: CustomerActivity, cutoff: datetime) -> CustomerActivity:
    return CustomerActivity(
        customers=activity.customers.filter(pl.col("first_seen_at") < cutoff),
        orders=activity.orders.filter(pl.col("ordered_at") < cutoff),
        email_events=activity.email_events.filter(pl.col("occurred_at") < cutoff),
        tickets=activity.tickets.filter(pl.col("created_at") < cutoff),
        surveys=activity.surveys.filter(pl.col("responded_at") < cutoff),
    )


def test_features_never_read_past_the_cutoff():
    activity = simulated_activity()
    cutoff = START + timedelta(days=400)
    with_future = customer_features(activity, cutoff)
    without_future = customer_features(_only_before(activity, cutoff), cutoff)
    assert with_future.height > 100
    # One row per customer known before the cutoff: every simulated customer is, by day 200.
    assert with_future.height == activity.customers.height
    assert set(with_future["customer_id"]) == set(activity.customers["customer_id"])
    assert with_future.equals(without_future)


def test_labels_read_only_the_horizon_after_the_cutoff():
    activity = simulated_activity()
    cutoff = START + timedelta(days=400)
    labels = churn_labels(activity, cutoff, horizon_days=90)
    buyers_in_horizon = set(
        activity.orders.filter((pl.col("ordered_at") >= cutoff) & (pl.col("ordered_at") < cutoff + timedelta(days=90)))[
            "customer_id"
        ]
    )
    retained = set(labels.filter(pl.col("is_churned") == 0)["customer_id"])
    assert retained == buyers_in_horizon & set(labels["customer_id"])
    # Labelled: every customer known before the cutoff; churned: those of them who buy nothing in it.
    known = set(activity.customers.filter(pl.col("first_seen_at") < cutoff)["customer_id"])
    assert labels.height == len(known) and set(labels["customer_id"]) == known
    assert labels["is_churned"].sum() == len(known - buyers_in_horizon) > 0


def test_churn_model_beats_recency_baseline_on_engagement_driven_churn():
    activity = simulated_activity()
    analysis_date = START + timedelta(days=720)
    result = train_churn_model(activity, analysis_date, horizon_days=90)
    assert result.metrics["roc_auc"] > result.baseline_metrics["roc_auc"]
    assert result.model_version.startswith("churn-")

    scores = score_customers(result.model, activity, analysis_date)
    assert scores.height == activity.customers.height
    scored = scores.filter(pl.col("churn_status") == "active")
    assert scored.height > 200 and scored["churn_probability"].is_between(0, 1, closed="none").all()
    # Each customer's status, worked out from the orders alone (active: an order in the last 360 days).
    expected = expected_churn_statuses(activity, analysis_date).sort("customer_id")
    assert scores.select("customer_id", pl.col("churn_status").alias("status")).sort("customer_id").equals(expected)
    assert set(scored["churn_risk_band"].unique()) <= {"low", "medium", "high"}
    # prospects (a tenth never bought) and lapsed customers get a status, not a probability
    assert set(scores["churn_status"]) == {"active", "lapsed", "prospect"}
    assert (
        scores.filter(pl.col("churn_status") != "active")["churn_risk_band"].null_count()
        == scores.height - scored.height
    )
    assert list(customer_features(activity, analysis_date).columns) == ["customer_id", *FEATURE_COLUMNS]


def memoryless_activity(customers: int = 3000, seed: int = 5) -> CustomerActivity:
    """Every customer buys at the same random rate: the past says nothing about the next 90 days."""
    rng = np.random.default_rng(seed)
    known, orders = [], []
    for index in range(customers):
        customer_id = f"C{index:05d}"
        known.append((customer_id, START))
        day = float(rng.exponential(60))
        while day < 720:
            orders.append((customer_id, START + timedelta(days=day), 50.0))
            day += float(rng.exponential(60))
    empty = {"customer_id": pl.String}
    return CustomerActivity(
        customers=pl.DataFrame(known, schema=["customer_id", "first_seen_at"], orient="row"),
        orders=pl.DataFrame(orders, schema=["customer_id", "ordered_at", "revenue_usd"], orient="row"),
        email_events=pl.DataFrame(schema={**empty, "event_type": pl.String, "occurred_at": pl.Datetime("us")}),
        tickets=pl.DataFrame(schema={**empty, "created_at": pl.Datetime("us")}),
        surveys=pl.DataFrame(schema={**empty, "score": pl.Float64, "responded_at": pl.Datetime("us")}),
    )


def _run(result, published_scores, trained_at):
    from dagster_project.core.model_store import ModelRun

    return ModelRun(
        model_name="churn",
        model_version=result.model_version,
        trained_at=trained_at,
        metrics=result.metrics,
        baseline_metrics=result.baseline_metrics,
        beats_baseline=result.beats_baseline,
        verdict="published" if result.beats_baseline else "not published: no better than the baseline",
    ), {"churn_scores": published_scores}


def test_a_model_without_signal_is_not_published_and_the_previous_scores_stay_current(tmp_path):
    import duckdb

    from dagster_project.assets.models import model_checks
    from dagster_project.core import model_store
    from dagster_project.core.settings import load_settings
    from dagster_project.orchestration.resources import WarehouseResource

    good = simulated_activity(customers=600)
    analysis_date = START + timedelta(days=720)
    good_result = train_churn_model(good, analysis_date)
    assert good_result.beats_baseline
    noise_result = train_churn_model(memoryless_activity(), analysis_date)
    assert not noise_result.beats_baseline, (noise_result.metrics, noise_result.baseline_metrics)
    assert abs(noise_result.metrics["roc_auc"] - 0.5) < 0.05

    settings = load_settings({"CRM_DATA_DIR": str(tmp_path)})
    settings.warehouse_path.parent.mkdir(parents=True)
    connection = duckdb.connect(str(settings.warehouse_path))
    as_of = pl.lit(analysis_date.date()).alias("as_of_date")
    run, scores = _run(good_result, score_customers(good_result.model, good, analysis_date).with_columns(as_of), START)
    model_store.record_run(connection, run, scores)
    before = connection.sql("select * from ml.churn_scores_current order by customer_id").pl()
    assert before.height == good.customers.height

    noise = memoryless_activity()
    run, scores = _run(
        noise_result,
        score_customers(noise_result.model, noise, analysis_date).with_columns(as_of),
        START + timedelta(days=1),
    )
    run.model_version += "-noise"
    model_store.record_run(connection, run, scores)
    after = connection.sql("select * from ml.churn_scores_current order by customer_id").pl()
    assert after.equals(before)
    runs = connection.execute(
        "select model_version, is_published, verdict from ml.model_runs order by trained_at"
    ).fetchall()
    assert [published for _, published, _ in runs] == [True, False]
    connection.close()

    check = next(check for check in model_checks if check.check_key.name == "churn_beats_baseline")
    outcome = check(warehouse=WarehouseResource(data_dir=str(tmp_path)))
    assert outcome.passed is False
    assert "not published" in outcome.description


def test_model_inputs_net_refunds_into_the_order_they_follow():
    """CLV and churn features count real orders only, with revenue net of the refunds after them."""
    import duckdb

    from dagster_project.core.model_inputs import read_orders

    with duckdb.connect() as connection:
        connection.execute("create schema marts")
        connection.execute(
            """
            create table marts.fct_orders as select * from (values
                ('O1', 'C1', timestamp '2026-01-01', 100.00, 100.00, true, false),
                ('O2', 'C1', timestamp '2026-02-01', 50.00, 50.00, true, false),
                ('R2', 'C1', timestamp '2026-02-10', -20.00, -20.00, false, true),   -- partial refund of O2
                ('R3', 'C1', timestamp '2026-02-11', 80.00, -80.00, false, true),    -- more than O2 is left
                ('O3', 'C2', timestamp '2026-01-05', 30.00, 0.00, false, false),     -- cancelled
                ('R9', 'C2', timestamp '2025-12-01', -5.00, -5.00, false, true),     -- before any order of C2
                ('O4', 'C2', timestamp '2026-03-01', 40.00, 40.00, true, false)
            ) as orders(order_id, customer_id, ordered_at, total_amount_usd, net_revenue_usd,
                        is_revenue_generating, is_refund)
            """
        )
        orders = read_orders(connection).sort("customer_id", "ordered_at")

    assert orders.select("customer_id", "revenue_usd").rows() == [("C1", 100.0), ("C1", 0.0), ("C2", 40.0)]


def test_scoring_reads_a_window_of_email_events_and_gets_the_same_features(published_pipeline):
    """The nights that only score read the last 90 days of deliveries, opens and clicks (and every
    unsubscribe): the features at the analysis cutoff are those of the whole history."""
    import duckdb

    from dagster_project.core import model_inputs
    from models_ml.features import email_events_needed_since

    settings, _ = published_pipeline
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        cutoff = model_inputs.read_analysis_cutoff(connection)
        everything = model_inputs.read_customer_activity(connection)
        window = model_inputs.read_customer_activity(connection, email_events_since=email_events_needed_since(cutoff))
    assert 0 < window.email_events.height < everything.email_events.height / 4
    unsubscribes = pl.col("event_type") == "unsubscribed"
    assert window.email_events.filter(unsubscribes).height == everything.email_events.filter(unsubscribes).height > 0
    full_features = customer_features(everything, cutoff)
    assert full_features["email_clicks_last_90_days"].sum() > 0
    assert customer_features(window, cutoff).equals(full_features)


def test_current_scores_are_a_table_of_the_latest_run_also_in_a_warehouse_that_had_a_view(tmp_path):
    """ml.<table>_current holds the latest scoring run's rows as a table; a warehouse written when
    it was a view over the history gets the table at its next scoring run."""
    import duckdb

    from dagster_project.core import model_store

    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    connection.execute(
        """
        create schema ml;
        create table ml.churn_scores as
            select 'C1' as customer_id, 0.9 as churn_probability, date '2026-01-01' as as_of_date,
                   'churn-v1' as model_version, timestamp '2026-01-01 02:00:00' as scored_at;
        create view ml.churn_scores_current as
            select * from ml.churn_scores where scored_at = (select max(scored_at) from ml.churn_scores);
        """
    )
    for day, probability in ((2, 0.5), (3, 0.25)):
        scores = pl.DataFrame(
            {
                "customer_id": ["C1", "C2"],
                "churn_probability": [probability, 0.1],
                "as_of_date": [date(2026, 1, day)] * 2,
            }
        )
        model_store.record_scores(connection, "churn-v1", {"churn_scores": scores}, datetime(2026, 1, day, 2))
    assert connection.execute(
        "select table_type from information_schema.tables where table_name = 'churn_scores_current'"
    ).fetchall() == [("BASE TABLE",)]
    assert connection.execute(
        "select customer_id, churn_probability, scored_at from ml.churn_scores_current order by 1"
    ).fetchall() == [("C1", 0.25, datetime(2026, 1, 3, 2)), ("C2", 0.1, datetime(2026, 1, 3, 2))]
    assert connection.execute("select count(*) from ml.churn_scores").fetchall() == [(5,)]  # the history stays
    connection.close()


def test_score_tables_of_an_older_version_get_the_new_column_names_with_their_history(tmp_path):
    """Warehouses written before the CLV and forecast columns carried their units: the history is
    renamed in place (CLV durations from weeks to days), once, and new runs append to it."""
    import duckdb

    from dagster_project.core import model_store

    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    connection.execute(
        """
        create schema ml;
        create table ml.clv_scores as select
            'C1' as customer_id, 2::bigint as frequency, 2.0::double as recency, 5.0::double as "T",
            40.0::double as monetary_value, 0.9::double as p_alive, 1.5::double as expected_purchases,
            42.0::double as expected_average_spend, 63.5::double as clv, date '2026-01-01' as as_of_date,
            'clv-v1' as model_version, timestamp '2026-01-01 02:00:00' as scored_at;
        create table ml.clv_scores_current as select * from ml.clv_scores;
        create table ml.sales_forecast as select
            date '2026-02-01' as month, 1000.0::double as forecast, 900.0::double as lower_80,
            1100.0::double as upper_80, 800.0::double as lower_95, 1200.0::double as upper_95,
            date '2026-01-01' as as_of_date,
            'fc-v1' as model_version, timestamp '2026-01-01 02:00:00' as scored_at;
        """
    )
    model_store.ensure_ml_schema(connection)
    model_store.ensure_ml_schema(connection)  # a second time changes nothing
    renamed = connection.execute(
        "select customer_id, repeat_purchase_day_count, days_first_to_last_purchase, days_since_first_purchase, "
        "average_repeat_spend_usd, p_alive, expected_purchases_next_365_days, expected_spend_per_purchase_usd, "
        "clv_next_365_days_usd from ml.clv_scores"
    ).fetchall()
    assert renamed == [("C1", 2, 14, 35, 40.0, 0.9, 1.5, 42.0, 63.5)]  # 2 and 5 weeks
    for table in ("clv_scores", "clv_scores_current"):
        columns = [row[0] for row in connection.execute(f"describe ml.{table}").fetchall()]
        assert not {"frequency", "recency", "T", "monetary_value", "clv"} & set(columns), columns
    assert connection.execute(
        "select forecast_revenue_usd, lower_80_revenue_usd, upper_80_revenue_usd, lower_95_revenue_usd, "
        "upper_95_revenue_usd from ml.sales_forecast"
    ).fetchall() == [(1000.0, 900.0, 1100.0, 800.0, 1200.0)]

    scores = pl.DataFrame(
        {
            "customer_id": ["C1"],
            "repeat_purchase_day_count": [3],
            "days_first_to_last_purchase": [20],
            "days_since_first_purchase": [36],
            "average_repeat_spend_usd": [41.0],
            "p_alive": [0.8],
            "expected_purchases_next_365_days": [1.4],
            "expected_spend_per_purchase_usd": [43.0],
            "clv_next_365_days_usd": [60.0],
            "as_of_date": [date(2026, 1, 2)],
        }
    )
    model_store.record_scores(connection, "clv-v1", {"clv_scores": scores}, datetime(2026, 1, 2, 2))
    assert connection.execute(
        "select as_of_date, days_first_to_last_purchase, clv_next_365_days_usd from ml.clv_scores order by 1"
    ).fetchall() == [(date(2026, 1, 1), 14, 63.5), (date(2026, 1, 2), 20, 60.0)]
    assert connection.execute("select count(*) from ml.clv_scores_current").fetchall() == [(1,)]
    connection.close()
