"""Purchases to the model inputs: the catalogue, time-decayed lines, co-purchase and category
parts, and each customer history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import polars as pl
import scipy.sparse as sp

from models_ml.recommend.model import UNCATEGORISED, History, Parts


def check_columns(frame: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing the columns {missing}; it has {frame.columns}")


def build_catalogue(products: pl.DataFrame, purchases: pl.DataFrame) -> pl.DataFrame:
    """product_id, product (index), label, category, is_offerable, category_index: catalogue first,
    then products seen only in purchases."""
    check_columns(products, ("product_id",), "products")
    columns = [
        pl.col("product_id").cast(pl.String),
        (pl.col("name") if "name" in products.columns else pl.col("product_id")).cast(pl.String).alias("label"),
        (pl.col("category") if "category" in products.columns else pl.lit(None)).cast(pl.String).alias("category"),
        (pl.col("is_offerable") if "is_offerable" in products.columns else pl.lit(True))
        .cast(pl.Boolean)
        .alias("is_offerable"),
    ]
    known = products.select(columns).unique("product_id", keep="first", maintain_order=True)
    strays = (
        purchases.select(pl.col("product_id").cast(pl.String))
        .unique()
        .join(known, on="product_id", how="anti")
        .sort("product_id")
        .with_columns(
            pl.col("product_id").alias("label"),
            pl.lit(None, dtype=pl.String).alias("category"),
            pl.lit(False).alias("is_offerable"),
        )
    )
    return (
        pl.concat([known, strays])
        .with_columns(
            pl.col("label").fill_null(pl.col("product_id")),
            pl.col("category").fill_null(UNCATEGORISED),
            # A product without an answer is not known to be on sale: never offer it.
            pl.col("is_offerable").fill_null(False),
        )
        .with_row_index("product")
        .with_columns(
            pl.col("product").cast(pl.Int64),
            pl.col("category").rank("dense").cast(pl.Int64).alias("category_index") - 1,
        )
    )


def decayed_lines(purchases: pl.DataFrame, catalogue: pl.DataFrame, end: datetime) -> pl.DataFrame:
    """customer_id, basket, ordered_at, product: one row per product of each order before ``end``.

    Orders become integer baskets through one group-by (string keys are the costly part at
    millions of rows); a product listed twice in one order is one purchase of it.
    """
    return (
        purchases.lazy()
        .filter(pl.col("ordered_at") < end)
        .select(pl.col("customer_id").cast(pl.String), pl.col("order_id").cast(pl.String), "product_id", "ordered_at")
        .join(catalogue.lazy().select("product_id", "product"), on="product_id", how="inner")
        .group_by("order_id")
        .agg(pl.col("customer_id").first(), pl.col("ordered_at").first(), pl.col("product"))
        .drop("order_id")
        .with_row_index("basket")
        .with_columns(pl.col("basket").cast(pl.Int64))
        .explode("product")
        .unique(["basket", "product"])
        .collect()
    )


def _decay(end: datetime, half_life_days: float) -> pl.Expr:
    age_days = (pl.lit(end) - pl.col("ordered_at")).dt.total_seconds() / 86_400.0
    return (-np.log(2.0) / half_life_days * age_days).exp()


def category_matrix(model_categories: np.ndarray, category_count: int) -> sp.csr_matrix:
    size = model_categories.size
    return sp.csr_matrix((np.ones(size), (np.arange(size), model_categories)), shape=(size, category_count))


def fit_parts(lines: pl.DataFrame, end: datetime, half_life_days: float, categories: np.ndarray) -> Parts:
    product_count = categories.size
    category_count = int(categories.max()) + 1
    baskets = lines.select("basket", "product", _decay(end, half_life_days).alias("weight"))
    basket = baskets["basket"].to_numpy()
    product = baskets["product"].to_numpy()
    weight = baskets["weight"].to_numpy()
    basket_count = int(basket.max()) + 1 if basket.size else 0
    size = np.bincount(basket, minlength=basket_count)[basket]

    popularity = np.bincount(product, weights=weight, minlength=product_count)
    category_lines = np.bincount(categories, weights=popularity, minlength=category_count)
    share_in_category = np.divide(
        popularity, category_lines[categories], out=np.zeros(product_count), where=category_lines[categories] > 0
    )
    popularity = popularity / max(popularity.sum(), 1e-300)

    # Each basket spreads one (decayed) unit over the pairs each of its lines forms with the others.
    spread = np.where(size > 1, weight / np.maximum(size - 1, 1), 0.0)
    left = sp.csr_matrix((spread, (basket, product)), shape=(basket_count, product_count))
    right = sp.csr_matrix((np.ones(basket.size), (basket, product)), shape=(basket_count, product_count))
    together = np.asarray((left.T @ right).todense(), dtype=np.float64)
    np.fill_diagonal(together, 0.0)
    group = category_matrix(categories, category_count)
    category_together = np.asarray((group.T @ sp.csr_matrix(together) @ group).todense())
    return Parts(
        co_purchase=_row_normalise(together).astype(np.float32),
        category_transition=_row_normalise(category_together),
        share_in_category=share_in_category,
        popularity=popularity,
    )


def _row_normalise(matrix: np.ndarray) -> np.ndarray:
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def customer_history(
    lines: pl.DataFrame,
    end: datetime,
    half_life_days: float,
    product_count: int,
    customer_ids: pl.Series | None = None,
) -> History:
    """Rows in the order of ``customer_ids`` (customers without purchases get empty rows), else
    every customer in ``lines`` sorted by id."""
    if customer_ids is None:
        customers = lines.select("customer_id").unique().sort("customer_id")
    else:
        customers = pl.DataFrame({"customer_id": customer_ids.cast(pl.String)}).unique(maintain_order=True)
    customers = customers.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    joined = lines.join(customers, on="customer_id", how="inner")
    per_product = joined.group_by("row", "product").agg(
        _decay(end, half_life_days).sum().alias("weight"), pl.len().alias("count")
    )
    per_customer = joined.group_by("row").agg(pl.col("basket").n_unique().alias("orders"))
    row = per_product["row"].to_numpy()
    product = per_product["product"].to_numpy()
    shape = (customers.height, product_count)
    weights = sp.csr_matrix((per_product["weight"].to_numpy(), (row, product)), shape=shape)
    totals = np.asarray(weights.sum(axis=1)).ravel()
    mix = sp.diags(np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)) @ weights
    orders = np.zeros(customers.height)
    orders[per_customer["row"].to_numpy()] = per_customer["orders"].to_numpy()
    return History(
        customer_ids=customers["customer_id"],
        mix=sp.csr_matrix(mix, dtype=np.float32),
        counts=sp.csr_matrix((per_product["count"].to_numpy().astype(np.float32), (row, product)), shape=shape),
        orders=orders,
    )


# --- scoring ------------------------------------------------------------------------------
