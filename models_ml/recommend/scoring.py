"""Scoring customers in chunks: blend the parts, mask what cannot be offered, keep the top k."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from models_ml.recommend.history import category_matrix
from models_ml.recommend.model import CATEGORY_AS_BOUGHT, Blend, History, Parts


@dataclass
class Chunk:
    rows: slice
    mix: sp.csr_matrix
    co_purchase: np.ndarray  # (customers, products) float32: the three personal parts
    category: np.ndarray
    repeat: np.ndarray
    orders: np.ndarray
    bought: np.ndarray  # bool (customers, products)


def customer_chunks(
    history: History, parts: Parts, categories: np.ndarray, chunk_size: int, rows: np.ndarray | None = None
) -> Iterator[Chunk]:
    group = category_matrix(categories, parts.category_transition.shape[0])
    carried = (1.0 - CATEGORY_AS_BOUGHT) * parts.category_transition + CATEGORY_AS_BOUGHT * np.eye(
        parts.category_transition.shape[0]
    )
    share = parts.share_in_category.astype(np.float32)
    selection = np.arange(history.size) if rows is None else rows
    for start in range(0, selection.size, chunk_size):
        picked = selection[start : start + chunk_size]
        mix = history.mix[picked]
        repeat = mix.toarray()
        category_mix = np.asarray((mix @ group).todense()) @ carried
        yield Chunk(
            rows=slice(start, start + picked.size),
            mix=mix,
            co_purchase=np.asarray(mix @ parts.co_purchase, dtype=np.float32),
            category=category_mix[:, categories].astype(np.float32) * share,
            repeat=repeat,
            orders=history.orders[picked],
            bought=repeat > 0,
        )


def shrinkage(orders: np.ndarray, kappa: float) -> np.ndarray:
    return (orders / (orders + kappa)).astype(np.float32)[:, None]


def blend_scores(chunk: Chunk, blend: Blend, popularity: np.ndarray) -> np.ndarray:
    personal = shrinkage(chunk.orders, blend.kappa)
    scores = blend.co_purchase * chunk.co_purchase
    if blend.category:
        scores = scores + blend.category * chunk.category
    if blend.repeat:
        scores = scores + blend.repeat * chunk.repeat
    return personal * scores + (1.0 - personal) * popularity.astype(np.float32)[None, :]


def mask_unofferable(scores: np.ndarray, offerable: np.ndarray, bought: np.ndarray | None) -> np.ndarray:
    # Nothing without evidence is offered: a zero score would only be a tie among unknowns.
    allowed = offerable[None, :] & (scores > 0)
    if bought is not None:
        allowed = allowed & ~bought
    return np.where(allowed, scores, -np.inf)


def top_k_products(scores: np.ndarray, k: int) -> np.ndarray:
    """Indexes of the k highest scores per row, best first (ties: lowest product index first)."""
    k = min(k, scores.shape[1])
    candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    candidate_scores = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((candidates, -candidate_scores), axis=1)
    return np.take_along_axis(candidates, order, axis=1)


# --- fitting ------------------------------------------------------------------------------
