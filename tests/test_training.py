"""Training versus scoring: when a model asset trains, when it scores with the published model,
and that scoring with an older model still sees the newest data."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.core import model_store
from dagster_project.core.settings import load_settings
from dagster_project.modelling.lifecycle import RetrainPolicy, reason_to_train, train_or_score
from models_ml import clv, training
from models_ml.recommend import fit_offer_model
from tests.generated import SIMULATION_START, simulated_activity

CUTOFF = SIMULATION_START + timedelta(days=720)


def _published(tmp_path, data_end: datetime, artefact: bool = True) -> dict:
    path = tmp_path / "model.pkl"
    if artefact:
        path.write_bytes(b"")
    return {"model_version": "churn-v1", "data_end": data_end, "artefact_path": str(path)}


@pytest.mark.parametrize(
    ("config", "published_days_before", "artefact", "expected"),
    [
        (RetrainPolicy(retrain=True), 0, True, "retraining was requested"),
        (RetrainPolicy(), None, True, "no model has been published yet"),
        (RetrainPolicy(), 0, False, "artefact of churn-v1 is missing"),
        (RetrainPolicy(), 8, True, "8 days before this analysis date (max 7)"),
        (RetrainPolicy(max_model_age_days=10), 8, True, None),
        (RetrainPolicy(), 7, True, None),
    ],
)
def test_a_model_is_retrained_only_when_asked_missing_or_stale(
    tmp_path, config, published_days_before, artefact, expected
):
    published = (
        None
        if published_days_before is None
        else _published(tmp_path, CUTOFF - timedelta(days=published_days_before), artefact)
    )
    reason = reason_to_train(config, published, CUTOFF)
    if expected is None:
        assert reason is None
    else:
        assert expected in reason


def test_a_published_model_of_an_older_family_is_retrained(tmp_path):
    """Its artefact may read other features than the code computes now (the churn model gained one)."""
    published = _published(tmp_path, CUTOFF, artefact=True)
    published["model_version"] = "churn-calibrated_logistic_v2-20260101"
    reason = reason_to_train(RetrainPolicy(), published, CUTOFF, model_family="calibrated_logistic_v3")
    assert reason is not None and "not of the current family calibrated_logistic_v3" in reason
    published["model_version"] = "churn-calibrated_logistic_v3-20260101"
    assert reason_to_train(RetrainPolicy(), published, CUTOFF, model_family="calibrated_logistic_v3") is None


def test_train_then_score_with_the_published_model_then_retrain_when_stale(tmp_path):
    activity = simulated_activity(customers=400)
    settings = load_settings({"CRM_DATA_DIR": str(tmp_path)})
    settings.warehouse_path.parent.mkdir(parents=True)
    log = logging.getLogger("test_training")

    def step(cutoff: datetime):
        with duckdb.connect(str(settings.warehouse_path)) as connection:
            outcome = train_or_score(
                log,
                "test-run",
                RetrainPolicy(),
                settings.models_dir,
                connection,
                "churn",
                cutoff,
                train=lambda now: training.train_churn(activity, cutoff, now),
                score=lambda model: training.score_churn(model, activity, cutoff),
            )
            runs = connection.execute("select count(*) from ml.model_runs").fetchall()[0][0]
            current = connection.sql("select * from ml.churn_scores_current").pl()
        return outcome, runs, current

    first, runs, current = step(CUTOFF - timedelta(days=10))
    assert first.trained and first.published and runs == 1
    assert (tmp_path / "models" / "churn" / first.model_version / "model.pkl").exists()
    assert current["model_version"].unique().to_list() == [first.model_version]

    # Three days later: the published model is recent enough, so it only scores.
    second, runs, current = step(CUTOFF - timedelta(days=7))
    assert not second.trained and second.model_version == first.model_version and runs == 1
    assert current["as_of_date"].unique().to_list() == [(CUTOFF - timedelta(days=8)).date()]
    assert second.metrics == first.metrics  # the metadata shows the metrics the model was published on

    # Ten days after the first: stale, so a new model is trained and published.
    third, runs, current = step(CUTOFF)
    assert third.trained and third.model_version != first.model_version and runs == 2
    assert current["model_version"].unique().to_list() == [third.model_version]


def test_an_older_offer_model_scores_with_the_purchases_made_since_it_was_fitted():
    day = datetime(2025, 1, 1)
    rows = []
    # Cameras and lenses are bought together; a bag is bought alone.
    for index in range(60):
        rows.append((f"C{index}", f"O{index}", "camera", day + timedelta(days=index)))
        rows.append((f"C{index}", f"O{index}", "lens", day + timedelta(days=index)))
        rows.append((f"B{index}", f"P{index}", "bag", day + timedelta(days=index)))
    purchases = pl.DataFrame(rows, schema=["customer_id", "order_id", "product_id", "ordered_at"], orient="row")
    products = pl.DataFrame({"product_id": ["camera", "lens", "bag"], "name": ["Camera", "Lens", "Bag"]})
    fitted_at = day + timedelta(days=60)
    model = fit_offer_model(purchases, products, fitted_at, tune_days=None)

    # After the model was fitted, a new customer buys a camera.
    later = purchases.vstack(
        pl.DataFrame(
            [("NEW", "O-NEW", "camera", fitted_at + timedelta(days=3))],
            schema=purchases.schema,
            orient="row",
        )
    )
    cutoff = fitted_at + timedelta(days=5)
    offers = training.score_offers(model, later, pl.Series(["NEW"]), cutoff, k=2)["next_best_offers"]
    assert offers["product_id"].to_list()[0] == "lens"  # bought with the camera
    assert "camera" not in offers["product_id"].to_list()  # already bought, since the model was fitted
    assert offers["as_of_date"].unique().to_list() == [(cutoff - timedelta(days=1)).date()]


def test_a_forecast_without_enough_months_is_recorded_but_not_published():
    months = pl.DataFrame(
        {"month": pl.date_range(datetime(2025, 1, 1), datetime(2026, 6, 1), "1mo", eager=True), "revenue_usd": 1e5}
    )
    trained = training.train_forecast(months, datetime(2026, 7, 1), datetime(2026, 7, 1))
    assert not trained.run.is_published and trained.model is None
    assert "only 18 complete months" in trained.run.verdict and "needs 19" in trained.run.verdict


def test_segments_are_published_with_their_sizes_and_every_customer_gets_one():
    activity = simulated_activity(customers=400)
    trained = training.train_segments(activity, CUTOFF, CUTOFF)
    assert trained.run.is_published, trained.run.verdict
    assigned = training.score_segments(trained.model, activity, CUTOFF)["customer_segments"]
    assert assigned.height == activity.customers.height
    assert assigned["segment_name"].null_count() == 0
    # The recorded share of the smallest segment is that of the customers it was trained on, and
    # above the 1% a segment needs to be acted on.
    smallest = assigned.group_by("segment_id").len()["len"].min() / assigned.height
    assert trained.run.metrics["smallest_segment_share"] == pytest.approx(smallest)
    assert smallest >= 0.01 and training.MINIMUM_SEGMENT_SHARE == 0.01
    assert assigned["segment_id"].n_unique() == trained.run.metrics["segments"]


def test_model_store_reads_back_the_published_run_with_its_metrics(tmp_path):
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    activity = simulated_activity(customers=400)
    trained = training.train_churn(activity, CUTOFF, CUTOFF)
    model_store.record_run(connection, trained.run)
    failed = training.ModelRun(
        model_name="churn",
        model_version="churn-noise",
        trained_at=CUTOFF + timedelta(hours=1),
        metrics={"roc_auc": 0.5},
        baseline_metrics={"roc_auc": 0.6},
        beats_baseline=False,
        verdict="not published",
    )
    model_store.record_run(connection, failed)
    assert model_store.latest_run(connection, "churn")["model_version"] == "churn-noise"
    published = model_store.latest_run(connection, "churn", published_only=True)
    assert published["model_version"] == trained.run.model_version
    assert published["metrics"]["roc_auc"] == pytest.approx(trained.run.metrics["roc_auc"])


def test_data_that_cannot_support_a_model_is_a_verdict_not_a_failed_run(tmp_path):
    settings = load_settings({"CRM_DATA_DIR": str(tmp_path)})
    settings.warehouse_path.parent.mkdir(parents=True)

    def train(now: datetime) -> training.TrainedModel:
        raise ValueError("no purchases before 2026-04-02: nothing to learn the offers from")

    with duckdb.connect(str(settings.warehouse_path)) as connection:
        outcome = train_or_score(
            logging.getLogger("test_training"),
            "test-run",
            RetrainPolicy(),
            settings.models_dir,
            connection,
            "next_best_offer",
            CUTOFF,
            train=train,
            score=lambda model: pytest.fail("an unpublished model must not score"),
        )
        run = model_store.latest_run(connection, "next_best_offer")
    assert outcome.trained and not outcome.published and outcome.scores == {}
    assert not run["is_published"] and "nothing to learn the offers from" in run["verdict"]


def test_a_published_artefact_that_cannot_be_read_is_retrained_not_a_failed_night(tmp_path):
    activity = simulated_activity(customers=400)
    settings = load_settings({"CRM_DATA_DIR": str(tmp_path)})
    settings.warehouse_path.parent.mkdir(parents=True)

    def step():
        with duckdb.connect(str(settings.warehouse_path)) as connection:
            return train_or_score(
                logging.getLogger("test_training"),
                "test-run",
                RetrainPolicy(),
                settings.models_dir,
                connection,
                "churn",
                CUTOFF,
                train=lambda now: training.train_churn(activity, CUTOFF, now),
                score=lambda model: training.score_churn(model, activity, CUTOFF),
            )

    first = step()
    assert first.trained and first.published
    # A later release moved a class the pickle names, or the file was cut short.
    Path(first.artefact_path).write_bytes(b"\x80\x04\x95 not a whole pickle")
    second = step()
    assert second.trained and second.published
    assert f"the artefact of {first.model_version} cannot be read" in second.message
    # Written anew: the artefact read back is the model that gave the night's scores.
    reloaded = model_store.load_artefact(second.artefact_path)
    assert reloaded is not None
    assert training.score_churn(reloaded, activity, CUTOFF)["churn_scores"].equals(second.scores["churn_scores"])


def test_clv_scores_are_published_with_durations_in_days_and_money_in_usd():
    """The model fits in weeks; the published table speaks days and USD, worked out here by hand."""
    orders = pl.DataFrame(
        {
            "customer_id": ["A", "A", "A", "A", "B", "C", "C"],
            "ordered_at": [
                datetime(2024, 1, 1, 9),
                datetime(2024, 1, 15, 8),
                datetime(2024, 1, 15, 20),  # a second order on the same day: one purchase day
                datetime(2024, 3, 1, 12),
                datetime(2024, 2, 10, 12),
                datetime(2024, 1, 5, 12),
                datetime(2024, 2, 5, 12),
            ],
            "revenue_usd": [50.0, 20.0, 10.0, 60.0, 35.0, 40.0, 80.0],
        }
    )
    cutoff = datetime(2024, 4, 1)  # the analysis day is 2024-03-31
    history = simulated_activity().orders.select("customer_id", "ordered_at", "revenue_usd")
    model, _ = clv.score_clv(history, CUTOFF, horizon_days=training.CLV_HORIZON_DAYS)
    assert model.time_unit_days == 7
    scores = training.score_clv(model, orders, cutoff)["clv_scores"].sort("customer_id")
    assert scores.columns == [
        "customer_id",
        "repeat_purchase_day_count",
        "days_first_to_last_purchase",
        "days_since_first_purchase",
        "average_repeat_spend_usd",
        "p_alive",
        "expected_purchases_next_365_days",
        "expected_spend_per_purchase_usd",
        "clv_next_365_days_usd",
        "as_of_date",
    ]
    rows = scores.select(
        "customer_id",
        "repeat_purchase_day_count",
        "days_first_to_last_purchase",
        "days_since_first_purchase",
        "average_repeat_spend_usd",
    ).rows()
    assert rows == [
        # 2024-01-01, 01-15 (30 USD over two orders), 03-01: Jan 1 to Mar 1 is 60 days, to Mar 31 90
        ("A", 2, 60, 90, 45.0),
        ("B", 0, 0, 50, 0.0),
        ("C", 1, 31, 86, 80.0),
    ]
    assert scores["as_of_date"].unique().to_list() == [datetime(2024, 3, 31).date()]
    predicted = model.predict(clv.rfm_summary(orders, cutoff)).sort("customer_id")
    assert scores["clv_next_365_days_usd"].to_list() == predicted["clv"].to_list()
    assert scores["expected_purchases_next_365_days"].to_list() == predicted["expected_purchases"].to_list()
    assert scores["expected_spend_per_purchase_usd"].to_list() == predicted["expected_average_spend"].to_list()
