"""Next-best-offer: for every customer, the catalogue products they are most likely to buy next.

The score of a product for a customer blends four distributions over products, so they add on
one scale (roughly "the share of this customer's next purchases that goes to this product"):

- co-purchase: what is bought in the same basket as the customer's products. ``T[i, j]`` is the
  share of the other lines of baskets holding ``i`` that are ``j``; each basket spreads one unit
  over its other lines, so one 25-line order does not outweigh 25 small ones. The customer's part
  is their product mix times ``T``. Baskets rather than "customers who bought both": customers who
  buy a lot end up buying nearly everything, so customer-level co-occurrence mostly measures
  activity (on the generated data it barely beat plain popularity; baskets did clearly better).
- category: the customer's category mix, half as bought and half carried one step through the
  category co-purchase matrix (cameras pull lenses), times each product's share of its category.
- repeat: the customer's own product mix ("you buy this regularly").
- popularity: everybody's product mix, the fallback. A customer with ``n`` orders gets the
  personal parts with weight ``n / (n + kappa)`` and popularity with the rest, so a one-order
  customer leans on the best sellers and a regular one on their own history.

Counts are orders containing the product (not units: enterprise quantities would drown everyone
else), time-decayed with a half-life of a year so the model follows what sells now.

The blend weights and ``kappa`` are not guessed: they are picked on a small grid by an inner
temporal split that ends at the fitting date (parts fitted on the history before
``as_of - tune_days``, scored by recall@k + NDCG@k on the purchases of the following
``tune_days`` of up to 20,000 sampled customers), once for offers of
new products and once for offers that may repeat a purchase: how much customers rebuy the same
product differs by business (none beyond chance on the generated data, a lot for consumables).

Scale: customer x product matrices are scipy.sparse (a customer buys a handful of ~200
products), product x product matrices are dense, and scoring runs over chunks of customers with
numpy argpartition for the top k, so a million customers take a couple of minutes and a few GB.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

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
class _Parts:
    """The product-side statistics of one fitting date."""

    co_purchase: np.ndarray
    category_transition: np.ndarray
    share_in_category: np.ndarray
    popularity: np.ndarray


@dataclass
class _History:
    """Customers' purchases before a date as sparse rows over the model's products."""

    customer_ids: pl.Series  # row -> customer_id
    mix: sp.csr_matrix  # decayed orders per product, each non-empty row sums to 1
    counts: sp.csr_matrix  # orders per product, not decayed (the own-history baseline)
    orders: np.ndarray  # distinct orders per customer

    @property
    def size(self) -> int:
        return self.customer_ids.len()


# --- inputs -------------------------------------------------------------------------------


def _check_columns(frame: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing the columns {missing}; it has {frame.columns}")


def _catalogue(products: pl.DataFrame, purchases: pl.DataFrame) -> pl.DataFrame:
    """product_id, product (index), label, category, is_offerable, category_index: catalogue first,
    then products seen only in purchases."""
    _check_columns(products, ("product_id",), "products")
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


def _lines(purchases: pl.DataFrame, catalogue: pl.DataFrame, end: datetime) -> pl.DataFrame:
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


def _category_matrix(model_categories: np.ndarray, category_count: int) -> sp.csr_matrix:
    size = model_categories.size
    return sp.csr_matrix((np.ones(size), (np.arange(size), model_categories)), shape=(size, category_count))


def _fit_parts(lines: pl.DataFrame, end: datetime, half_life_days: float, categories: np.ndarray) -> _Parts:
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
    group = _category_matrix(categories, category_count)
    category_together = np.asarray((group.T @ sp.csr_matrix(together) @ group).todense())
    return _Parts(
        co_purchase=_row_normalise(together).astype(np.float32),
        category_transition=_row_normalise(category_together),
        share_in_category=share_in_category,
        popularity=popularity,
    )


def _row_normalise(matrix: np.ndarray) -> np.ndarray:
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def _history(
    lines: pl.DataFrame,
    end: datetime,
    half_life_days: float,
    product_count: int,
    customer_ids: pl.Series | None = None,
) -> _History:
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
    return _History(
        customer_ids=customers["customer_id"],
        mix=sp.csr_matrix(mix, dtype=np.float32),
        counts=sp.csr_matrix((per_product["count"].to_numpy().astype(np.float32), (row, product)), shape=shape),
        orders=orders,
    )


# --- scoring ------------------------------------------------------------------------------


@dataclass
class _Chunk:
    rows: slice
    mix: sp.csr_matrix
    co_purchase: np.ndarray  # (customers, products) float32: the three personal parts
    category: np.ndarray
    repeat: np.ndarray
    orders: np.ndarray
    bought: np.ndarray  # bool (customers, products)


def _chunks(
    history: _History, parts: _Parts, categories: np.ndarray, chunk_size: int, rows: np.ndarray | None = None
) -> Iterator[_Chunk]:
    group = _category_matrix(categories, parts.category_transition.shape[0])
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
        yield _Chunk(
            rows=slice(start, start + picked.size),
            mix=mix,
            co_purchase=np.asarray(mix @ parts.co_purchase, dtype=np.float32),
            category=category_mix[:, categories].astype(np.float32) * share,
            repeat=repeat,
            orders=history.orders[picked],
            bought=repeat > 0,
        )


def _shrinkage(orders: np.ndarray, kappa: float) -> np.ndarray:
    return (orders / (orders + kappa)).astype(np.float32)[:, None]


def _blend(chunk: _Chunk, blend: Blend, popularity: np.ndarray) -> np.ndarray:
    personal = _shrinkage(chunk.orders, blend.kappa)
    scores = blend.co_purchase * chunk.co_purchase
    if blend.category:
        scores = scores + blend.category * chunk.category
    if blend.repeat:
        scores = scores + blend.repeat * chunk.repeat
    return personal * scores + (1.0 - personal) * popularity.astype(np.float32)[None, :]


def _masked(scores: np.ndarray, offerable: np.ndarray, bought: np.ndarray | None) -> np.ndarray:
    # Nothing without evidence is offered: a zero score would only be a tie among unknowns.
    allowed = offerable[None, :] & (scores > 0)
    if bought is not None:
        allowed = allowed & ~bought
    return np.where(allowed, scores, -np.inf)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indexes of the k highest scores per row, best first (ties: lowest product index first)."""
    k = min(k, scores.shape[1])
    candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    candidate_scores = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((candidates, -candidate_scores), axis=1)
    return np.take_along_axis(candidates, order, axis=1)


# --- fitting ------------------------------------------------------------------------------


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


def _truth(lines: pl.DataFrame, history: _History, product_count: int, offerable: np.ndarray) -> sp.csr_matrix:
    """(history rows, products) bool: the offerable products each customer bought in ``lines``."""
    rows = pl.DataFrame({"customer_id": history.customer_ids}).with_row_index("row")
    bought = lines.join(rows, on="customer_id", how="inner").select("row", "product").unique()
    bought = bought.filter(pl.Series(offerable).gather(bought["product"]))
    return sp.csr_matrix(
        (np.ones(bought.height, dtype=bool), (bought["row"].to_numpy(), bought["product"].to_numpy())),
        shape=(history.size, product_count),
    )


def _rank_metrics(top: np.ndarray, top_scores: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """Per customer (precision, recall, ndcg, hit) at k; truth is (customers, products) bool."""
    hits = np.take_along_axis(truth, top, axis=1) & np.isfinite(top_scores)
    relevant = truth.sum(axis=1)
    discount = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))[np.minimum(relevant, k) - 1]
    found = hits.sum(axis=1)
    return np.column_stack(
        [found / k, found / relevant, (hits * discount).sum(axis=1) / ideal, (found > 0).astype(float)]
    )


def _tune(
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

    parts = _fit_parts(before, inner_end, half_life_days, categories)
    history = _history(before, inner_end, half_life_days, product_count, candidates["customer_id"])
    truth = _truth(after, history, product_count, offerable).toarray()
    chunk = next(_chunks(history, parts, categories, chunk_size=history.size))
    truths = {"all_products": truth, "new_products": truth & ~chunk.bought}
    rows = []
    for task, task_truth in truths.items():
        keep = task_truth.any(axis=1)
        for weights, kappa in itertools.product(_weight_grid(task), KAPPA_GRID):
            scores = _blend(chunk, Blend(*weights, kappa=kappa), parts.popularity)[keep]
            masked = _masked(scores, offerable, chunk.bought[keep] if task == "new_products" else None)
            top = _top_k(masked, k)
            metrics = _rank_metrics(top, np.take_along_axis(masked, top, axis=1), task_truth[keep], k).mean(axis=0)
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
    _check_columns(purchases, PURCHASE_COLUMNS, "purchases")
    if purchases.is_empty():
        raise ValueError("no purchases: the next-best-offer model needs order lines to learn from")
    if as_of is None:
        as_of = purchases["ordered_at"].max() + timedelta(microseconds=1)
    catalogue = _catalogue(products, purchases)
    lines = _lines(purchases, catalogue, as_of)
    return _fit_lines(lines, catalogue, as_of, half_life_days, tune_days, k, seed)


def _fit_lines(
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
    parts = _fit_parts(lines, as_of, half_life_days, categories)
    if tune_days:
        blend_all, blend_new, tuning = _tune(lines, catalogue, as_of, half_life_days, tune_days, k, seed)
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


def _model_catalogue(model: OfferModel) -> pl.DataFrame:
    return pl.DataFrame({"product_id": model.product_ids, "product": np.arange(model.product_count, dtype=np.int64)})


def _model_parts(model: OfferModel) -> _Parts:
    return _Parts(model.co_purchase, model.category_transition, model.share_in_category, model.popularity)


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
    model: OfferModel, chunk: _Chunk, blend: Blend, top: np.ndarray, offsets: tuple[int, int, int]
) -> np.ndarray:
    """Reason code per offer: the part that contributed most, and for co-purchase the bought
    product that pulled the offer in most."""
    category_offset, repeat_offset, popular_offset = offsets
    personal = _shrinkage(chunk.orders, blend.kappa)
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
    _check_columns(purchases, PURCHASE_COLUMNS, "purchases")
    if k < 1:
        raise ValueError("k must be at least 1")
    catalogue = _model_catalogue(model)
    lines = _lines(purchases, catalogue, model.as_of)
    ids = None if customer_ids is None else pl.Series("customer_id", customer_ids, dtype=pl.String)
    history = _history(lines, model.as_of, model.half_life_days, model.product_count, ids)
    blend = model.blend(exclude_purchased)
    texts, *offsets = _reason_texts(model)
    frames = []
    for chunk in _chunks(history, _model_parts(model), model.product_category, chunk_size):
        scores = _masked(
            _blend(chunk, blend, model.popularity), model.offerable, chunk.bought if exclude_purchased else None
        )
        top = _top_k(scores, k)
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
    _check_columns(purchases, PURCHASE_COLUMNS, "purchases")
    if holdout_days < 1 or k < 1:
        raise ValueError("holdout_days and k must be at least 1")
    catalogue = _catalogue(products, purchases)
    lines = _lines(purchases, catalogue, cutoff + timedelta(days=holdout_days))
    before = lines.filter(pl.col("ordered_at") < cutoff)
    holdout = lines.filter(pl.col("ordered_at") >= cutoff)
    model = _fit_lines(before, catalogue, cutoff, half_life_days, tune_days, k, seed=0)
    if holdout.is_empty():
        raise ValueError(
            f"no purchases in the {holdout_days} days after {cutoff:%Y-%m-%d}: nothing to evaluate against"
        )

    customers = before.select("customer_id").unique().join(holdout.select("customer_id").unique(), on="customer_id")
    history = _history(
        before, cutoff, half_life_days, model.product_count, customers.sort("customer_id")["customer_id"]
    )
    truth = _truth(holdout, history, model.product_count, model.offerable)
    buyers = before.group_by("product").agg(pl.col("customer_id").n_unique().alias("buyers"))
    popularity = np.zeros(model.product_count)
    popularity[buyers["product"].to_numpy()] = buyers["buyers"].to_numpy()
    # Below one order, so popularity only breaks ties between a customer's own products.
    tie_break = (popularity / (popularity.max() + 1.0)).astype(np.float32)

    keep = np.flatnonzero(np.asarray(truth.sum(axis=1)).ravel() > 0)
    totals = {(task, method): np.zeros(len(METRICS)) for task in TASKS for method in METHODS}
    counts = dict.fromkeys(TASKS, 0)
    parts = _model_parts(model)
    for chunk in _chunks(history, parts, model.product_category, chunk_size, rows=keep):
        rows = keep[chunk.rows]
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
                "model": _blend(chunk, model.blend(exclude), model.popularity),
                "popularity": popular,
                "own_history": own,
            }
            for method, scores in candidates.items():
                masked = _masked(scores[relevant], model.offerable, chunk.bought[relevant] if exclude else None)
                top = _top_k(masked, k)
                top_scores = np.take_along_axis(masked, top, axis=1)
                totals[task, method] += _rank_metrics(top, top_scores, task_truth[relevant], k).sum(axis=0)
    metrics = pl.DataFrame(
        [
            (task, method, k, counts[task], *(totals[task, method] / max(counts[task], 1)))
            for task in TASKS
            for method in METHODS
        ],
        schema=["task", "method", "k", "customers", *METRICS],
        orient="row",
    ).with_columns(pl.col(METRICS).round(6))
    return OfferEvaluation(cutoff=cutoff, holdout_days=holdout_days, k=k, metrics=metrics, model=model)
