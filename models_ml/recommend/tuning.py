"""Choosing the blend on an inner split: the weight grid, ranking metrics and the search."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import scipy.sparse as sp

from models_ml.recommend.history import customer_history, fit_parts
from models_ml.recommend.model import (
    DEFAULT_BLEND,
    KAPPA_GRID,
    MAX_TUNING_CUSTOMERS,
    MIN_TUNING_CUSTOMERS,
    WEIGHT_STEP,
    Blend,
    History,
)
from models_ml.recommend.scoring import blend_scores, customer_chunks, mask_unofferable, top_k_products


def _weight_grid(task: str) -> list[tuple[float, float, float]]:
    steps = round(1 / WEIGHT_STEP)
    grid = [
        (a * WEIGHT_STEP, b * WEIGHT_STEP, (steps - a - b) * WEIGHT_STEP)
        for a in range(steps + 1)
        for b in range(steps + 1 - a)
    ]
    # New products only: the repeat part is zero on everything that may be offered, so its
    # weight would only act as a second kappa.
    return [weights for weights in grid if task == "all_products" or weights[2] == 0]


def holdout_truth(lines: pl.DataFrame, history: History, product_count: int, offerable: np.ndarray) -> sp.csr_matrix:
    """(history rows, products) bool: the offerable products each customer bought in ``lines``."""
    rows = pl.DataFrame({"customer_id": history.customer_ids}).with_row_index("row")
    bought = lines.join(rows, on="customer_id", how="inner").select("row", "product").unique()
    bought = bought.filter(pl.Series(offerable).gather(bought["product"]))
    return sp.csr_matrix(
        (np.ones(bought.height, dtype=bool), (bought["row"].to_numpy(), bought["product"].to_numpy())),
        shape=(history.size, product_count),
    )


def rank_metrics(top: np.ndarray, top_scores: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """Per customer (precision, recall, ndcg, hit) at k; truth is (customers, products) bool."""
    hits = np.take_along_axis(truth, top, axis=1) & np.isfinite(top_scores)
    relevant = truth.sum(axis=1)
    discount = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))[np.minimum(relevant, k) - 1]
    found = hits.sum(axis=1)
    return np.column_stack(
        [found / k, found / relevant, (hits * discount).sum(axis=1) / ideal, (found > 0).astype(float)]
    )


def tune_blend(
    lines: pl.DataFrame,
    catalogue: pl.DataFrame,
    as_of: datetime,
    half_life_days: float,
    tune_days: int,
    k: int,
    seed: int,
) -> tuple[Blend, Blend, pl.DataFrame]:
    """Pick the blend per task on an inner split: parts fitted before ``as_of - tune_days``."""
    categories = catalogue["category_index"].to_numpy()
    offerable = catalogue["is_offerable"].to_numpy()
    product_count = catalogue.height
    inner_end = as_of - timedelta(days=tune_days)
    before = lines.filter(pl.col("ordered_at") < inner_end)
    after = lines.filter(pl.col("ordered_at") >= inner_end)
    empty = pl.DataFrame(schema={"task": pl.String})
    if before.is_empty() or after.is_empty():
        return DEFAULT_BLEND, DEFAULT_BLEND, empty

    candidates = (
        before.select("customer_id")
        .unique()
        .join(after.select("customer_id").unique(), on="customer_id")
        .sort("customer_id")
    )
    if candidates.height > MAX_TUNING_CUSTOMERS:
        candidates = candidates.sample(MAX_TUNING_CUSTOMERS, seed=seed).sort("customer_id")
    if candidates.height < MIN_TUNING_CUSTOMERS:
        return DEFAULT_BLEND, DEFAULT_BLEND, empty

    parts = fit_parts(before, inner_end, half_life_days, categories)
    history = customer_history(before, inner_end, half_life_days, product_count, candidates["customer_id"])
    truth = holdout_truth(after, history, product_count, offerable).toarray()
    chunk = next(customer_chunks(history, parts, categories, chunk_size=history.size))
    truths = {"all_products": truth, "new_products": truth & ~chunk.bought}
    rows = []
    for task, task_truth in truths.items():
        keep = task_truth.any(axis=1)
        for weights, kappa in itertools.product(_weight_grid(task), KAPPA_GRID):
            scores = blend_scores(chunk, Blend(*weights, kappa=kappa), parts.popularity)[keep]
            masked = mask_unofferable(scores, offerable, chunk.bought[keep] if task == "new_products" else None)
            top = top_k_products(masked, k)
            metrics = rank_metrics(top, np.take_along_axis(masked, top, axis=1), task_truth[keep], k).mean(axis=0)
            rows.append((task, *weights, kappa, int(keep.sum()), float(metrics[1]), float(metrics[2])))
    tuning = pl.DataFrame(
        rows,
        schema=["task", "co_purchase", "category", "repeat", "kappa", "customers", "recall_at_k", "ndcg_at_k"],
        orient="row",
    ).with_columns((pl.col("recall_at_k") + pl.col("ndcg_at_k")).alias("objective"))

    def best(task: str) -> Blend:
        row = tuning.filter(pl.col("task") == task).sort("objective", descending=True, maintain_order=True).row(0)
        return Blend(co_purchase=row[1], category=row[2], repeat=row[3], kappa=row[4])

    return best("all_products"), best("new_products"), tuning
