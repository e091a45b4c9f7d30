"""Fitting the offer model on the purchases up to a cutoff."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from models_ml.recommend.history import build_catalogue, check_columns, decayed_lines, fit_parts
from models_ml.recommend.model import (
    DEFAULT_BLEND,
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_TUNE_DAYS,
    MODEL_FAMILY,
    MODEL_NAME,
    PURCHASE_COLUMNS,
    OfferModel,
)
from models_ml.recommend.tuning import tune_blend


def fit_offer_model(
    purchases: pl.DataFrame,
    products: pl.DataFrame,
    as_of: datetime | None = None,
    *,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    tune_days: int | None = DEFAULT_TUNE_DAYS,
    k: int = 10,
    seed: int = 0,
) -> OfferModel:
    """Fit on the purchases strictly before ``as_of`` (default: all of them).

    purchases: customer_id, order_id, product_id, ordered_at (one row per order line of a
    revenue-generating order; quantity and revenue are not used). products: product_id and
    optionally name (used in reasons), category, is_offerable (missing column: all offerable;
    null: not offerable). ``tune_days=None`` skips the inner split and keeps ``DEFAULT_BLEND``;
    ``k`` is the list length the blend is tuned for.
    """
    check_columns(purchases, PURCHASE_COLUMNS, "purchases")
    if purchases.is_empty():
        raise ValueError("no purchases: the next-best-offer model needs order lines to learn from")
    if as_of is None:
        as_of = purchases["ordered_at"].max() + timedelta(microseconds=1)
    catalogue = build_catalogue(products, purchases)
    lines = decayed_lines(purchases, catalogue, as_of)
    return fit_lines(lines, catalogue, as_of, half_life_days, tune_days, k, seed)


def fit_lines(
    lines: pl.DataFrame,
    catalogue: pl.DataFrame,
    as_of: datetime,
    half_life_days: float,
    tune_days: int | None,
    k: int,
    seed: int,
) -> OfferModel:
    if lines.is_empty():
        raise ValueError(f"no purchases before {as_of:%Y-%m-%d %H:%M}: nothing to learn the offers from")
    categories = catalogue["category_index"].to_numpy()
    parts = fit_parts(lines, as_of, half_life_days, categories)
    if tune_days:
        blend_all, blend_new, tuning = tune_blend(lines, catalogue, as_of, half_life_days, tune_days, k, seed)
    else:
        blend_all, blend_new, tuning = DEFAULT_BLEND, DEFAULT_BLEND, pl.DataFrame(schema={"task": pl.String})
    category_names = catalogue.select("category_index", "category").unique().sort("category_index")["category"]
    return OfferModel(
        as_of=as_of,
        half_life_days=half_life_days,
        product_ids=catalogue["product_id"].to_numpy(),
        labels=catalogue["label"].to_numpy(),
        category_names=category_names.to_numpy(),
        product_category=categories,
        offerable=catalogue["is_offerable"].to_numpy(),
        co_purchase=parts.co_purchase,
        category_transition=parts.category_transition,
        share_in_category=parts.share_in_category,
        popularity=parts.popularity,
        blend_all=blend_all,
        blend_new=blend_new,
        tuning=tuning,
        model_version=f"{MODEL_NAME}-{MODEL_FAMILY}-{as_of:%Y%m%d}",
    )
