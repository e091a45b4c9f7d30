"""What the offer model is: its settings, its fitted parts and what its backtest measured."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl
import scipy.sparse as sp

MODEL_NAME = "next_best_offer"
MODEL_FAMILY = "basket_copurchase_blend_v1"
PURCHASE_COLUMNS = ("customer_id", "order_id", "product_id", "ordered_at")
DEFAULT_HALF_LIFE_DAYS = 365.0
DEFAULT_TUNE_DAYS = 90
DEFAULT_CHUNK_CUSTOMERS = 50_000
CATEGORY_AS_BOUGHT = 0.5  # of the category part; the rest goes through category co-purchase
WEIGHT_STEP = 0.25  # grid over (co_purchase, category, repeat) weights that sum to 1
KAPPA_GRID = (1.0, 2.0, 4.0, 8.0)  # orders at which personal history and popularity weigh the same
MIN_TUNING_CUSTOMERS = 200  # below this the inner split is too noisy: keep DEFAULT_BLEND
MAX_TUNING_CUSTOMERS = 20_000  # a sample this size ranks the grid as well as everybody would
UNCATEGORISED = "uncategorised"
TASKS = ("all_products", "new_products")  # may repeat a purchase / new products only
METHODS = ("model", "popularity", "own_history")
METRICS = ("precision_at_k", "recall_at_k", "ndcg_at_k", "hit_rate_at_k")


@dataclass(frozen=True)
class Blend:
    """Weights of the personal parts (they sum to 1) and the popularity shrinkage."""

    co_purchase: float
    category: float
    repeat: float
    kappa: float


DEFAULT_BLEND = Blend(co_purchase=0.5, category=0.5, repeat=0.0, kappa=2.0)


@dataclass
class OfferModel:
    """Everything about products the offers need; nothing about any one customer.

    Products are every catalogue product plus any product seen only in purchases (those feed
    the co-purchase signal but are never offered).
    """

    as_of: datetime  # purchases strictly before this were used
    half_life_days: float
    product_ids: np.ndarray  # str, index -> product_id
    labels: np.ndarray  # str, how a product is named in a reason (name, else product_id)
    category_names: np.ndarray  # str
    product_category: np.ndarray  # category index per product
    offerable: np.ndarray  # bool per product
    co_purchase: np.ndarray  # (products, products) float32, rows sum to 1 (0 if never in a basket)
    category_transition: np.ndarray  # (categories, categories), rows sum to 1 (or 0)
    share_in_category: np.ndarray  # decayed share of its category's lines, per product
    popularity: np.ndarray  # decayed share of all lines, per product; sums to 1
    blend_all: Blend  # offers that may repeat a purchase
    blend_new: Blend  # offers of products the customer never bought
    tuning: pl.DataFrame  # the inner-split grid: task, weights, kappa, customers, recall/ndcg at k
    model_version: str

    def blend(self, exclude_purchased: bool) -> Blend:
        return self.blend_new if exclude_purchased else self.blend_all

    @property
    def product_count(self) -> int:
        return int(self.product_ids.size)


@dataclass
class OfferEvaluation:
    """A temporal holdout of the model against two baselines; see ``evaluate_offers``."""

    cutoff: datetime
    holdout_days: int
    k: int
    metrics: pl.DataFrame  # task, method, k, customers, precision_at_k, recall_at_k, ndcg_at_k, hit_rate_at_k
    model: OfferModel

    def value(self, task: str, method: str, metric: str) -> float:
        row = self.metrics.filter((pl.col("task") == task) & (pl.col("method") == method))
        return float(row[metric].item())

    def beats_baselines(
        self, task: str = "all_products", metrics: Sequence[str] = ("recall_at_k", "ndcg_at_k")
    ) -> bool:
        """The model is strictly better than every baseline on every metric given."""
        return all(
            self.value(task, "model", metric) > self.value(task, baseline, metric)
            for baseline in METHODS[1:]
            for metric in metrics
        )


@dataclass
class Parts:
    """The product-side statistics of one fitting date."""

    co_purchase: np.ndarray
    category_transition: np.ndarray
    share_in_category: np.ndarray
    popularity: np.ndarray


@dataclass
class History:
    """Customers' purchases before a date as sparse rows over the model's products."""

    customer_ids: pl.Series  # row -> customer_id
    mix: sp.csr_matrix  # decayed orders per product, each non-empty row sums to 1
    counts: sp.csr_matrix  # orders per product, not decayed (the own-history baseline)
    orders: np.ndarray  # distinct orders per customer

    @property
    def size(self) -> int:
        return self.customer_ids.len()


# --- inputs -------------------------------------------------------------------------------
