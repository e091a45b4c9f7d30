"""The backtest: the model against popularity and each customer own history.

Two tasks, because offers that skip what a customer already has must not be judged on
repurchases they are forbidden to propose:

- ``all_products``: truth = every offerable product the customer buys in the holdout,
  repurchases included; no method excludes anything (the model runs with
  ``exclude_purchased=False``). Both baselines are meaningful here.
- ``new_products``: truth = the holdout products the customer had never bought before the
  cutoff (customers buying only familiar products drop out); every method excludes
  already-bought products, like the default offers. The own-history baseline has nothing
  left to propose, so it falls back to popularity and equals that baseline.

Baselines: ``popularity`` ranks products by distinct customers before the cutoff;
``own_history`` ranks the customer's products by the number of their orders holding them
(ties and the rest of the list filled by popularity, so every method shows k products).
Metrics are per customer then averaged: precision@k = hits / k, recall@k = hits / relevant,
NDCG@k with binary gains (ideal = min(relevant, k) hits on top), hit rate@k = share of
customers with at least one hit. The model's blend is tuned on an inner split that ends at
the cutoff, so nothing from the holdout leaks into it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import scipy.sparse as sp

from models_ml.recommend.fitting import fit_lines
from models_ml.recommend.history import build_catalogue, check_columns, customer_history, decayed_lines
from models_ml.recommend.model import (
    DEFAULT_CHUNK_CUSTOMERS,
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_TUNE_DAYS,
    METHODS,
    METRICS,
    PURCHASE_COLUMNS,
    TASKS,
    History,
    OfferEvaluation,
    OfferModel,
)
from models_ml.recommend.recommending import model_parts
from models_ml.recommend.scoring import Chunk, blend_scores, customer_chunks, mask_unofferable, top_k_products
from models_ml.recommend.tuning import holdout_truth, rank_metrics


def evaluate_offers(
    purchases: pl.DataFrame,
    products: pl.DataFrame,
    cutoff: datetime,
    holdout_days: int = 90,
    k: int = 10,
    *,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    tune_days: int | None = DEFAULT_TUNE_DAYS,
    chunk_size: int = DEFAULT_CHUNK_CUSTOMERS,
) -> OfferEvaluation:
    """Temporal holdout: fit on purchases before ``cutoff``, score what is bought in
    [cutoff, cutoff + holdout_days).

    Customers evaluated: those with a purchase before the cutoff (the only ones with a history
    to personalise from; the rest get the best sellers from every method alike) and at least
    one relevant product in the holdout. Every method ranks the same offerable products under
    the same rules, and truth is restricted to offerable products (nothing else can be offered).
    The tasks, baselines and metrics are described in this module's docstring.
    """
    check_columns(purchases, PURCHASE_COLUMNS, "purchases")
    if holdout_days < 1 or k < 1:
        raise ValueError("holdout_days and k must be at least 1")
    catalogue = build_catalogue(products, purchases)
    lines = decayed_lines(purchases, catalogue, cutoff + timedelta(days=holdout_days))
    before = lines.filter(pl.col("ordered_at") < cutoff)
    holdout = lines.filter(pl.col("ordered_at") >= cutoff)
    model = fit_lines(before, catalogue, cutoff, half_life_days, tune_days, k, seed=0)
    if holdout.is_empty():
        raise ValueError(
            f"no purchases in the {holdout_days} days after {cutoff:%Y-%m-%d}: nothing to evaluate against"
        )

    customers = before.select("customer_id").unique().join(holdout.select("customer_id").unique(), on="customer_id")
    history = customer_history(
        before, cutoff, half_life_days, model.product_count, customers.sort("customer_id")["customer_id"]
    )
    truth = holdout_truth(holdout, history, model.product_count, model.offerable)
    tie_break = _popularity_tie_break(before, model.product_count)

    keep = np.flatnonzero(np.asarray(truth.sum(axis=1)).ravel() > 0)
    totals = {(task, method): np.zeros(len(METRICS)) for task in TASKS for method in METHODS}
    counts = dict.fromkeys(TASKS, 0)
    parts = model_parts(model)
    for chunk in customer_chunks(history, parts, model.product_category, chunk_size, rows=keep):
        _add_chunk_metrics(chunk, keep[chunk.rows], truth, history, tie_break, model, k, totals, counts)
    metrics = _average_metrics(totals, counts, k)
    return OfferEvaluation(cutoff=cutoff, holdout_days=holdout_days, k=k, metrics=metrics, model=model)


def _average_metrics(totals: dict[tuple[str, str], np.ndarray], counts: dict[str, int], k: int) -> pl.DataFrame:
    """One row per task and method: the metrics averaged over the task's customers."""
    return pl.DataFrame(
        [
            (task, method, k, counts[task], *(totals[task, method] / max(counts[task], 1)))
            for task in TASKS
            for method in METHODS
        ],
        schema=["task", "method", "k", "customers", *METRICS],
        orient="row",
    ).with_columns(pl.col(METRICS).round(6))


def _popularity_tie_break(before: pl.DataFrame, product_count: int) -> np.ndarray:
    """Each product's distinct buyers before the cutoff, scaled below one order, so popularity
    only breaks ties between a customer's own products (and ranks everything for popularity)."""
    buyers = before.group_by("product").agg(pl.col("customer_id").n_unique().alias("buyers"))
    popularity = np.zeros(product_count)
    popularity[buyers["product"].to_numpy()] = buyers["buyers"].to_numpy()
    return (popularity / (popularity.max() + 1.0)).astype(np.float32)


def _add_chunk_metrics(
    chunk: Chunk,
    rows: np.ndarray,
    truth: sp.csr_matrix,
    history: History,
    tie_break: np.ndarray,
    model: OfferModel,
    k: int,
    totals: dict[tuple[str, str], np.ndarray],
    counts: dict[str, int],
) -> None:
    """Add one chunk of customers' metric sums (per task and method) and counts to the running
    totals: every method ranks the same offerable products, under the task's exclusions."""
    chunk_truth = truth[rows].toarray()
    own = history.counts[rows].toarray() + tie_break[None, :]
    popular = np.broadcast_to(tie_break, chunk_truth.shape)
    for task in TASKS:
        exclude = task == "new_products"
        task_truth = chunk_truth & ~chunk.bought if exclude else chunk_truth
        relevant = task_truth.any(axis=1)
        if not relevant.any():
            continue
        counts[task] += int(relevant.sum())
        candidates = {
            "model": blend_scores(chunk, model.blend(exclude), model.popularity),
            "popularity": popular,
            "own_history": own,
        }
        for method, scores in candidates.items():
            masked = mask_unofferable(scores[relevant], model.offerable, chunk.bought[relevant] if exclude else None)
            top = top_k_products(masked, k)
            top_scores = np.take_along_axis(masked, top, axis=1)
            totals[task, method] += rank_metrics(top, top_scores, task_truth[relevant], k).sum(axis=0)
