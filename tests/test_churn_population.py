"""Churn is scored for customers who can churn, on generated exports (read straight from the files).

Who is scored (prospects and lapsed customers get a status, not a probability), which reasons an
account manager reads (only what raises the risk), the shape of the probabilities (never exactly
0 or 1) and the BG/NBD expected-orders feature (no leakage; it helps on a pure purchase log).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from models_ml import churn
from models_ml.features import (
    CHURN_STATUSES,
    FEATURE_COLUMNS,
    CustomerActivity,
    churn_labels,
)
from tests.generated import expected_churn_statuses, load_activity

GENERATED = {"customers": 4000, "months": 24, "seed": 13, "end_date": date(2026, 6, 30)}
ANALYSIS_CUTOFF = datetime(2026, 7, 1)  # the end of the last exported day
HORIZON = churn.DEFAULT_HORIZON_DAYS


@pytest.fixture(scope="module")
def activity(tmp_path_factory: pytest.TempPathFactory) -> CustomerActivity:
    from dagster_project.synthetic import generate_exports

    root = tmp_path_factory.mktemp("churn_export")
    generate_exports(out_dir=root / "landing", truth_dir=root / "ground_truth", **GENERATED)
    return load_activity(root / "landing")


def orders_only(activity: CustomerActivity) -> CustomerActivity:
    """The same customers and orders, as an export with no email, support or survey data."""
    return CustomerActivity(
        customers=activity.customers,
        orders=activity.orders,
        email_events=activity.email_events.clear(),
        tickets=activity.tickets.clear(),
        surveys=activity.surveys.clear(),
    )


@pytest.fixture(scope="module")
def trained(activity: CustomerActivity) -> churn.ChurnTrainingResult:
    return churn.train_churn_model(activity, ANALYSIS_CUTOFF, HORIZON)


@pytest.fixture(scope="module")
def scores(trained: churn.ChurnTrainingResult, activity: CustomerActivity) -> pl.DataFrame:
    return churn.score_customers(trained.model, activity, ANALYSIS_CUTOFF)


# --- who is scored ------------------------------------------------------------------------------


def test_every_known_customer_has_a_status_and_only_active_ones_a_probability(
    activity: CustomerActivity, scores: pl.DataFrame
) -> None:
    expected = expected_churn_statuses(activity, ANALYSIS_CUTOFF)
    compared = expected.join(scores, on="customer_id", how="full", coalesce=True)
    assert compared.height == expected.height == scores.height
    assert compared.filter(pl.col("status") != pl.col("churn_status")).is_empty()
    counts = dict(scores["churn_status"].value_counts().rows())
    assert set(counts) == set(CHURN_STATUSES) and min(counts.values()) > 100, counts

    active = pl.col("churn_status") == "active"
    assert scores.filter(active)["churn_probability"].null_count() == 0
    assert scores.filter(active)["churn_risk_band"].null_count() == 0
    assert scores.filter(active)["churn_reason_1"].null_count() < counts["active"]
    unscored = scores.filter(~active).select(
        "churn_probability", "churn_risk_band", "churn_reason_1", "churn_reason_2", "churn_reason_3"
    )
    assert unscored.null_count().row(0) == (unscored.height,) * 5


def test_training_uses_the_same_population(activity: CustomerActivity, trained: churn.ChurnTrainingResult) -> None:
    # The refitted model learns from the customers active at the training cutoff, whose labels are known.
    training_cutoff = ANALYSIS_CUTOFF - timedelta(days=HORIZON)
    active = expected_churn_statuses(activity, training_cutoff).filter(pl.col("status") == "active")
    assert trained.training_rows == active.height
    # Among them churn is far from certain: the population excludes the customers already gone.
    labels = churn_labels(activity, training_cutoff, HORIZON).join(active, on="customer_id")
    everyone = churn_labels(activity, training_cutoff, HORIZON)
    assert labels["is_churned"].mean() < everyone["is_churned"].mean() - 0.1
    assert 0.2 < trained.metrics["churn_rate"] < 0.8


# --- reasons ------------------------------------------------------------------------------------


def test_reasons_are_only_factors_that_raise_the_risk(
    activity: CustomerActivity, trained: churn.ChurnTrainingResult, scores: pl.DataFrame
) -> None:
    model = trained.model
    active = churn.churn_features(activity, ANALYSIS_CUTOFF, HORIZON, model.purchase_model).filter(
        pl.col("churn_status") == "active"
    )
    contributions = model.contributions(active)
    reasons = scores.filter(pl.col("churn_status") == "active").sort("customer_id")
    assert reasons["customer_id"].equals(active["customer_id"])

    # Which feature a sentence is about: the fixed words of its text, before the customer's value.
    openings = [
        (index, template.split("{")[0])
        for index, name in enumerate(churn.CHURN_FEATURE_COLUMNS)
        for template in churn.REASON_TEXTS[name]
        if template is not None
    ]
    for rank in (1, 2, 3):
        for row, text in enumerate(reasons[f"churn_reason_{rank}"].to_list()):
            if text is None:
                continue
            about = [index for index, opening in openings if text.startswith(opening)]
            assert about, text
            # the feature behind the reason pushes this customer's risk up
            assert any(contributions[row, index] > 0 for index in about), (text, contributions[row])
    seen = set(pl.concat([reasons[f"churn_reason_{rank}"] for rank in (1, 2, 3)]).drop_nulls())
    protective = ("high total spend", "many orders in the past", "ordered very recently", "long-standing customer")
    assert seen and not any(text.startswith(protective) for text in seen)


def test_a_protective_factor_never_becomes_a_reason_even_with_a_risk_raising_weight() -> None:
    """Correlated features can give high spend a positive weight; it is still no reason to call."""
    names = list(churn.CHURN_FEATURE_COLUMNS)
    revenue, recency = names.index("revenue_usd"), names.index("days_since_last_order")
    features = pl.DataFrame({"customer_id": ["big spender", "fine"], **{name: [1000.0, 10.0] for name in names}})
    coefficients = np.zeros(len(names))
    coefficients[revenue], coefficients[recency] = 2.0, 0.5
    contributions = np.zeros((2, len(names)))
    contributions[0, revenue], contributions[0, recency] = 3.0, 0.4  # high spend "raises" the risk most
    contributions[1, revenue], contributions[1, recency] = 1.0, -0.4  # only high spend "raises" it

    first, second, third = churn._reason_texts(features, contributions, coefficients, HORIZON)
    assert first.to_list() == ["no order for 1000 days", None]
    assert second.to_list() == third.to_list() == [None, None]


def test_a_value_filled_in_for_a_missing_measurement_is_no_reason() -> None:
    """A customer who never answered a survey has the neutral 3.0 filled in: "low satisfaction scores
    (3.0 of 5)" would be made up. One who answered with a 1.5 gets the reason."""
    names = list(churn.CHURN_FEATURE_COLUMNS)
    satisfaction, answered = names.index("average_satisfaction_score"), names.index("has_satisfaction_score")
    values = {name: [0.0, 0.0] for name in names}
    values["average_satisfaction_score"], values["has_satisfaction_score"] = [3.0, 1.5], [0, 1]
    features = pl.DataFrame({"customer_id": ["never answered", "unhappy"], **values})
    coefficients = np.zeros(len(names))
    coefficients[satisfaction], coefficients[answered] = -1.0, 0.1
    contributions = np.zeros((2, len(names)))
    contributions[:, satisfaction] = 0.8  # below-average satisfaction raises both risks in the model

    first, _, _ = churn._reason_texts(features, contributions, coefficients, HORIZON)
    assert first.to_list() == [None, "low satisfaction scores (1.5 of 5)"]


# --- probabilities ------------------------------------------------------------------------------


def test_probabilities_are_never_exactly_0_or_1_nor_piled_at_the_ends(scores: pl.DataFrame) -> None:
    probabilities = scores["churn_probability"].drop_nulls()
    assert probabilities.len() > 1000
    assert (probabilities > 0).all() and (probabilities < 1).all()
    assert probabilities.n_unique() > 0.9 * probabilities.len()  # a smooth curve, not isotonic steps
    at_ends = ((probabilities < 0.01) | (probabilities > 0.99)).mean()
    assert at_ends < 0.02, at_ends
    # every risk band is used
    assert set(scores["churn_risk_band"].drop_nulls()) == {"low", "medium", "high"}


# --- the expected-orders feature ----------------------------------------------------------------


def test_expected_orders_read_only_orders_before_the_cutoff(activity: CustomerActivity) -> None:
    cutoff = ANALYSIS_CUTOFF - timedelta(days=2 * HORIZON)
    fit = churn.fit_purchase_model(activity.orders, cutoff)
    past = activity.orders.filter(pl.col("ordered_at") < cutoff)
    assert fit is not None and fit == churn.fit_purchase_model(past, cutoff)
    with_future = churn.expected_orders(activity.orders, cutoff, HORIZON, fit)
    assert with_future.equals(churn.expected_orders(past, cutoff, HORIZON, fit))
    assert with_future.height == past["customer_id"].n_unique()
    # more expected orders, fewer churners
    labelled = with_future.join(churn_labels(activity, cutoff, HORIZON), on="customer_id")
    top, bottom = (
        labelled.sort(churn.EXPECTED_ORDERS_FEATURE, descending=descending).head(labelled.height // 4)
        for descending in (True, False)
    )
    assert top["is_churned"].mean() < bottom["is_churned"].mean() - 0.2


def test_expected_orders_strengthen_the_ranking_on_a_pure_purchase_log(
    activity: CustomerActivity, monkeypatch: pytest.MonkeyPatch
) -> None:
    purchases_only = orders_only(activity)
    with_feature = churn.train_churn_model(purchases_only, ANALYSIS_CUTOFF, HORIZON)
    monkeypatch.setattr(churn, "CHURN_FEATURE_COLUMNS", FEATURE_COLUMNS)
    without_feature = churn.train_churn_model(purchases_only, ANALYSIS_CUTOFF, HORIZON)
    assert with_feature.metrics["roc_auc"] > without_feature.metrics["roc_auc"]
    assert with_feature.beats_baseline
