"""Offers for every customer, each with its reason in words."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from models_ml.recommend.history import check_columns, customer_history, decayed_lines
from models_ml.recommend.model import DEFAULT_CHUNK_CUSTOMERS, PURCHASE_COLUMNS, UNCATEGORISED, Blend, OfferModel, Parts
from models_ml.recommend.scoring import (
    Chunk,
    blend_scores,
    customer_chunks,
    mask_unofferable,
    shrinkage,
    top_k_products,
)


def _model_catalogue(model: OfferModel) -> pl.DataFrame:
    return pl.DataFrame({"product_id": model.product_ids, "product": np.arange(model.product_count, dtype=np.int64)})


def model_parts(model: OfferModel) -> Parts:
    return Parts(model.co_purchase, model.category_transition, model.share_in_category, model.popularity)


# --- offers -------------------------------------------------------------------------------


def _reason_texts(model: OfferModel) -> tuple[list[str], int, int, int]:
    """All reasons there can be, with the offsets of the category, repeat and popularity ones."""
    category = [name.replace("_", " ") for name in model.category_names]
    texts = [f"bought with {label} by similar customers" for label in model.labels]
    category_offset = len(texts)
    texts += [f"popular in {name}" for name in category]
    repeat_offset = len(texts)
    texts.append("you buy this regularly")
    popular_offset = len(texts)
    texts += [f"best seller in {name}" if name != UNCATEGORISED else "best seller" for name in category]
    return texts, category_offset, repeat_offset, popular_offset


def _reasons(
    model: OfferModel, chunk: Chunk, blend: Blend, top: np.ndarray, offsets: tuple[int, int, int]
) -> np.ndarray:
    """Reason code per offer: the part that contributed most, and for co-purchase the bought
    product that pulled the offer in most."""
    category_offset, repeat_offset, popular_offset = offsets
    personal = shrinkage(chunk.orders, blend.kappa)
    contributions = np.stack(
        [
            personal * blend.co_purchase * np.take_along_axis(chunk.co_purchase, top, axis=1),
            personal * blend.category * np.take_along_axis(chunk.category, top, axis=1),
            personal * blend.repeat * np.take_along_axis(chunk.repeat, top, axis=1),
            (1.0 - personal) * model.popularity[top],
        ]
    )
    kind = contributions.argmax(axis=0)
    category = model.product_category[top]
    codes = np.select(
        [kind == 1, kind == 2, kind == 3],
        [category_offset + category, np.full_like(top, repeat_offset), popular_offset + category],
        default=0,
    )
    rows, slots = np.nonzero(kind == 0)
    block = 20_000  # (offers, products) float32 per block: 16 MB
    for start in range(0, rows.size, block):
        row, slot = rows[start : start + block], slots[start : start + block]
        pulled = chunk.mix[row].toarray() * model.co_purchase[:, top[row, slot]].T
        codes[row, slot] = pulled.argmax(axis=1)
    return codes


def recommend(
    model: OfferModel,
    purchases: pl.DataFrame,
    k: int = 10,
    exclude_purchased: bool = True,
    customer_ids: Sequence[str] | pl.Series | None = None,
    chunk_size: int = DEFAULT_CHUNK_CUSTOMERS,
) -> pl.DataFrame:
    """Up to ``k`` offers per customer: customer_id, offer_rank (1 = best), product_id, score, reason.

    ``purchases`` is the customers' history (same columns as for fitting); rows at or after
    ``model.as_of`` are ignored, so an offer list never depends on data the model did not see.
    Customers are ``customer_ids`` when given (those without history get the best sellers),
    else everyone with a purchase. Products that are not offerable never appear; products the
    customer already bought are left out when ``exclude_purchased``. A customer gets fewer than
    ``k`` offers only when fewer products have any evidence (a score above zero) left.
    ``score`` is the blended share of the customer's next purchases expected on the product.
    """
    check_columns(purchases, PURCHASE_COLUMNS, "purchases")
    if k < 1:
        raise ValueError("k must be at least 1")
    catalogue = _model_catalogue(model)
    lines = decayed_lines(purchases, catalogue, model.as_of)
    ids = None if customer_ids is None else pl.Series("customer_id", customer_ids, dtype=pl.String)
    history = customer_history(lines, model.as_of, model.half_life_days, model.product_count, ids)
    blend = model.blend(exclude_purchased)
    texts, *offsets = _reason_texts(model)
    frames = []
    for chunk in customer_chunks(history, model_parts(model), model.product_category, chunk_size):
        scores = mask_unofferable(
            blend_scores(chunk, blend, model.popularity), model.offerable, chunk.bought if exclude_purchased else None
        )
        top = top_k_products(scores, k)
        top_scores = np.take_along_axis(scores, top, axis=1)
        codes = _reasons(model, chunk, blend, top, tuple(offsets))
        found = np.isfinite(top_scores)
        row, slot = np.nonzero(found)
        frames.append(
            pl.DataFrame(
                {
                    "customer_id": history.customer_ids.slice(chunk.rows.start, top.shape[0]).gather(row),
                    "offer_rank": (slot + 1).astype(np.int32),
                    "product_id": model.product_ids[top[found]],
                    "score": top_scores[found].astype(np.float64).round(6),
                    "reason_code": codes[found],
                }
            )
        )
    schema = {
        "customer_id": pl.String,
        "offer_rank": pl.Int32,
        "product_id": pl.String,
        "score": pl.Float64,
        "reason_code": pl.Int64,
    }
    offers = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    return offers.with_columns(pl.Series(texts, dtype=pl.String).gather(offers["reason_code"]).alias("reason")).drop(
        "reason_code"
    )


# --- evaluation ---------------------------------------------------------------------------
