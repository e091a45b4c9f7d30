"""Behavioural segmentation on generated data: complete, deterministic, named, and meaningful
(segments differ in the churn the generator really simulated)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models_ml.features import FEATURE_COLUMNS, customer_features
from models_ml.segments import (
    K_RANGE,
    SEGMENT_COLUMNS,
    SegmentModel,
    assign_segments,
    fit_segments,
    segment_profiles,
)
from tests.generated import generate_export_set, load_activity

GENERATED = {"customers": 8000, "months": 24, "seed": 9, "end_date": date(2026, 6, 30)}
# Features as of six months before the end: the ground truth then also says who churned later.
CUTOFF = datetime(2026, 1, 1)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_export_set(tmp_path_factory, "segments_export", **GENERATED)


@pytest.fixture(scope="module")
def features(generated: Path) -> pl.DataFrame:
    return customer_features(load_activity(generated / "landing"), CUTOFF)


@pytest.fixture(scope="module")
def model(features: pl.DataFrame) -> SegmentModel:
    return fit_segments(features, random_state=0)


def test_every_customer_gets_exactly_one_named_segment(features: pl.DataFrame, model: SegmentModel):
    assigned = assign_segments(model, features)
    assert assigned.columns == list(SEGMENT_COLUMNS)
    assert assigned["customer_id"].to_list() == features["customer_id"].to_list()
    assert assigned.null_count().sum_horizontal().item() == 0
    assert set(assigned["segment_id"]) == set(range(model.k))
    names = model.segments["segment_name"].to_list()
    assert len(set(names)) == len(names) == model.k
    assert all(description for description in model.segments["segment_description"])
    print(
        "\n"
        + "\n".join(
            f"{row['segment_name']}: {row['segment_description']}" for row in model.segments.iter_rows(named=True)
        )
    )


def test_k_is_chosen_in_range_by_the_silhouette(model: SegmentModel):
    assert model.k in K_RANGE
    assert sorted(model.silhouette_by_k) == list(K_RANGE)
    assert model.silhouette_by_k[model.k] == max(model.silhouette_by_k.values())
    print(f"\nsilhouette by k: { {k: round(v, 3) for k, v in model.silhouette_by_k.items()} } -> k={model.k}")


def test_same_seed_same_segments_whatever_the_row_order(features: pl.DataFrame, model: SegmentModel):
    shuffled = features.sample(fraction=1.0, shuffle=True, seed=42)
    again = fit_segments(shuffled, random_state=0)
    assert again.k == model.k
    assert again.segments.equals(model.segments)
    assert assign_segments(again, features).equals(assign_segments(model, features))


def test_a_fixed_k_and_the_input_checks(features: pl.DataFrame):
    five = fit_segments(features, k=5, random_state=1)
    assert five.k == 5 and five.silhouette_by_k == {}
    assert five.segments["segment_name"].n_unique() == 5
    with pytest.raises(ValueError, match="at least 2"):
        fit_segments(features, k=1)
    with pytest.raises(ValueError, match="need at least"):
        fit_segments(features.head(30))
    with pytest.raises(ValueError, match="missing columns"):
        fit_segments(features.drop("order_count"))


def test_profiles_cover_everyone(features: pl.DataFrame, model: SegmentModel):
    profiles = segment_profiles(model, features)
    assert profiles["segment_id"].to_list() == list(range(model.k))
    assert profiles["customers"].sum() == features.height
    assert profiles["share"].sum() == pytest.approx(1.0)
    assert {f"mean_{column}" for column in ("revenue_usd", "order_count", "days_since_last_order")} <= set(
        profiles.columns
    )
    # Segment 0 is the one with the highest average revenue.
    assert profiles["mean_revenue_usd"].arg_max() == 0


def test_segments_differ_in_true_churn(generated: Path, features: pl.DataFrame, model: SegmentModel):
    truth = pl.read_csv(generated / "ground_truth" / "customers_truth.csv", infer_schema=False).select(
        "customer_id",
        (pl.col("is_churned") == "true").alias("is_churned"),
        pl.col("churned_at").str.to_date().cast(pl.Datetime("us")).alias("churned_at"),
    )
    rates = (
        assign_segments(model, features)
        .join(truth, on="customer_id", how="inner")
        .with_columns(
            # Churned after the cutoff, among customers still active at the cutoff: what the
            # segments could not have seen.
            pl.when(pl.col("churned_at") < CUTOFF)
            .then(None)
            .otherwise(pl.col("churned_at").is_not_null())
            .alias("churns_later")
        )
        .group_by("segment_id", "segment_name")
        .agg(pl.len().alias("customers"), pl.col("is_churned").mean(), pl.col("churns_later").mean())
        .sort("segment_id")
    )
    print(
        "\n"
        + "\n".join(
            f"{row['segment_name']:<26} {row['customers']:>5} customers, churned {row['is_churned']:.3f}, "
            f"churns after the cutoff {row['churns_later']:.3f}"
            for row in rates.iter_rows(named=True)
        )
    )
    churned = rates["is_churned"]
    assert churned.max() - churned.min() >= 0.3
    later = rates["churns_later"]
    assert later.max() >= 2 * later.min()


def test_scales_to_many_customers(features: pl.DataFrame):
    # More customers than the training sample, resampled from the generated ones.
    rng = np.random.default_rng(0)
    rows = 220_000
    many = (
        features.drop("customer_id")[rng.integers(0, features.height, rows)]
        .with_columns(pl.format("X{}", pl.int_range(rows).cast(pl.String).str.zfill(7)).alias("customer_id"))
        .select("customer_id", *FEATURE_COLUMNS)
    )
    model = fit_segments(many, random_state=0)
    assigned = assign_segments(model, many)
    assert model.training_rows == 200_000
    assert assigned.height == rows and assigned["segment_name"].null_count() == 0
