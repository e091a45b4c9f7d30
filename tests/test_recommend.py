"""Next-best-offer on generated exports: it beats both baselines and respects catalogue and history."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from dagster_project.synthetic import generate_exports
from models_ml.recommend import evaluate_offers, fit_offer_model, recommend
from tests.generated import EXPORT_TIMESTAMP, revenue_orders

GENERATION = {"customers": 15_000, "months": 24, "seed": 7, "end_date": date(2026, 10, 31)}
CUTOFF = datetime(2026, 8, 2)  # 90 days before the end of the generated window


def read_purchases(landing: Path) -> pl.DataFrame:
    """One row per order line of a revenue-generating order; exact duplicate rows removed by key."""
    orders = revenue_orders(landing).select(
        "order_id", "customer_id", pl.col("ordered_at").str.to_datetime(EXPORT_TIMESTAMP)
    )
    lines = (
        pl.scan_csv(landing / "sales" / "order_lines" / "*.csv", infer_schema=False)
        .unique(["order_id", "line_number"], keep="first")
        .select(
            "order_id",
            "product_id",
            pl.col("quantity").cast(pl.Int64),
            (
                pl.col("quantity").cast(pl.Int64) * pl.col("unit_price").cast(pl.Float64)
                - pl.col("discount_amount").cast(pl.Float64).fill_null(0.0)
            ).alias("revenue_usd"),
        )
    )
    return (
        orders.join(lines, on="order_id", how="inner")
        .select("customer_id", "order_id", "product_id", "ordered_at", "quantity", "revenue_usd")
        .collect()
    )


@pytest.fixture(scope="module")
def sales(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, pl.DataFrame]:
    root = tmp_path_factory.mktemp("offers")
    generate_exports(out_dir=root / "landing", truth_dir=root / "ground_truth", **GENERATION)
    purchases = read_purchases(root / "landing")
    products = pl.read_csv(root / "landing" / "sales" / "products" / "products.csv", infer_schema=False).select(
        "product_id", "name", "category"
    )
    return purchases, products


@pytest.fixture(scope="module")
def catalogue(sales: tuple[pl.DataFrame, pl.DataFrame]) -> pl.DataFrame:
    """The products with the three best sellers and every tenth product out of the catalogue."""
    purchases, products = sales
    best_sellers = purchases["product_id"].value_counts(sort=True)["product_id"].head(3)
    return products.with_row_index().with_columns(
        (~pl.col("product_id").is_in(best_sellers.implode()) & (pl.col("index") % 10 != 0)).alias("is_offerable")
    )


def test_offers_beat_popularity_and_own_history(sales):
    purchases, products = sales
    evaluation = evaluate_offers(purchases, products, CUTOFF, holdout_days=90, k=10)
    metrics = evaluation.metrics
    print(metrics)  # the measured numbers, for the record (pytest -s)
    assert metrics.height == 6
    assert metrics.select(pl.col("customers").min()).item() > 2_000
    for column in ("precision_at_k", "recall_at_k", "ndcg_at_k", "hit_rate_at_k"):
        assert metrics[column].is_between(0.0, 1.0).all()
    # Repurchases count: both baselines are meaningful, and the model beats each of them.
    assert evaluation.beats_baselines("all_products", ("recall_at_k", "ndcg_at_k", "hit_rate_at_k"))
    # New products only (the default offers): own history has nothing new, popularity remains.
    assert evaluation.beats_baselines("new_products", ("recall_at_k", "ndcg_at_k"))
    assert evaluation.value("new_products", "own_history", "recall_at_k") == evaluation.value(
        "new_products", "popularity", "recall_at_k"
    )
    assert evaluation.model.as_of == CUTOFF
    assert not evaluation.model.tuning.is_empty()  # the blend was chosen on the inner split


def test_offers_respect_catalogue_and_history(sales, catalogue):
    purchases, _ = sales
    model = fit_offer_model(purchases, catalogue, as_of=CUTOFF)
    offers = recommend(model, purchases, k=10)
    assert offers.columns == ["customer_id", "offer_rank", "product_id", "score", "reason"]

    history = purchases.filter(pl.col("ordered_at") < CUTOFF)
    assert offers["customer_id"].n_unique() == history["customer_id"].n_unique()
    not_offerable = catalogue.filter(~pl.col("is_offerable"))["product_id"]
    assert not offers["product_id"].is_in(not_offerable.implode()).any()
    already_bought = offers.join(history.select("customer_id", "product_id").unique(), on=["customer_id", "product_id"])
    assert already_bought.is_empty()

    per_customer = offers.group_by("customer_id").agg(
        pl.len().alias("offers"),
        (pl.col("offer_rank").sort() == pl.int_range(1, pl.len() + 1)).all().alias("ranks_in_order"),
        (pl.col("score").sort_by("offer_rank").diff().drop_nulls() <= 0).all().alias("scores_descending"),
        pl.col("product_id").n_unique().alias("products"),
    )
    assert per_customer["offers"].max() == 10
    assert (per_customer["offers"] == 10).mean() > 0.99
    assert per_customer["ranks_in_order"].all() and per_customer["scores_descending"].all()
    assert (per_customer["products"] == per_customer["offers"]).all()
    assert (offers["score"] > 0).all()

    assert (offers["reason"].str.len_chars() > 0).all()


def test_reasons_name_what_drove_the_offer(sales, catalogue):
    purchases, _ = sales
    # The default blend weighs co-purchase and category alike (a tuned one may drop either).
    model = fit_offer_model(purchases, catalogue, as_of=CUTOFF, tune_days=None)
    assert model.blend_new.co_purchase > 0 and model.blend_new.category > 0
    offers = recommend(model, purchases, k=10)
    assert (offers["reason"].str.len_chars() > 0).all()
    kinds = set(offers["reason"].str.extract(r"^(bought with|popular in|best seller|you buy)").drop_nulls())
    assert {"bought with", "popular in", "best seller"} <= kinds
    names = set(catalogue["name"])
    co_purchase = offers.filter(pl.col("reason").str.starts_with("bought with "))["reason"]
    named = co_purchase.str.strip_prefix("bought with ").str.strip_suffix(" by similar customers")
    assert set(named.unique()) <= names  # the product that pulled the offer in, by name


def test_repurchases_allowed_on_request(sales, catalogue):
    purchases, _ = sales
    model = fit_offer_model(purchases, catalogue, as_of=CUTOFF)
    offers = recommend(model, purchases, k=10, exclude_purchased=False)
    history = purchases.filter(pl.col("ordered_at") < CUTOFF).select("customer_id", "product_id").unique()
    assert not offers.join(history, on=["customer_id", "product_id"]).is_empty()
    not_offerable = catalogue.filter(~pl.col("is_offerable"))["product_id"]
    assert not offers["product_id"].is_in(not_offerable.implode()).any()


def test_customers_without_history_get_best_sellers(sales, catalogue):
    purchases, _ = sales
    model = fit_offer_model(purchases, catalogue, as_of=CUTOFF, tune_days=None)
    known = purchases.filter(pl.col("ordered_at") < CUTOFF)["customer_id"].min()
    offers = recommend(model, purchases, k=5, customer_ids=["NEW-CUSTOMER", known])
    newcomer = offers.filter(pl.col("customer_id") == "NEW-CUSTOMER").sort("offer_rank")
    assert newcomer.height == 5
    assert newcomer["reason"].str.starts_with("best seller").all()
    offerable = catalogue.filter(pl.col("is_offerable"))["product_id"]
    best = (
        purchases.filter((pl.col("ordered_at") < CUTOFF) & pl.col("product_id").is_in(offerable.implode()))
        .group_by("product_id")
        .agg(pl.len().alias("lines"))
        .sort("lines", descending=True)["product_id"]
        .head(5)
    )
    # Popularity is time-decayed, so the order may differ from raw counts, but the set is the top.
    assert len(set(newcomer["product_id"]) & set(best)) >= 4
    assert offers.filter(pl.col("customer_id") == known).height == 5


def test_history_after_the_model_date_is_ignored(sales, catalogue):
    purchases, _ = sales
    model = fit_offer_model(purchases, catalogue, as_of=CUTOFF, tune_days=None)
    with_future = recommend(model, purchases, k=5)
    without_future = recommend(model, purchases.filter(pl.col("ordered_at") < CUTOFF), k=5)
    assert with_future.equals(without_future)


def test_clear_errors(sales):
    purchases, products = sales
    with pytest.raises(ValueError, match="missing the columns"):
        fit_offer_model(purchases.drop("order_id"), products)
    with pytest.raises(ValueError, match="no purchases before"):
        fit_offer_model(purchases, products, as_of=datetime(2000, 1, 1))
    with pytest.raises(ValueError, match="no purchases in the 90 days"):
        evaluate_offers(purchases, products, datetime(2030, 1, 1))
