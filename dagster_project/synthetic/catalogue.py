"""The product catalogue and the basket model that decides what gets bought together.

Baskets follow a category affinity matrix (the ground truth for next-best-offer): every customer
has a home category, each order's first line comes from the categories that go with home, and
every further line from the categories that go with the first line. A category's chance to
follow another is its share of demand times their affinity, so an affinity above 1 is a real
co-purchase lift (cameras pull lenses) and below 1 a real avoidance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .formats import money_text
from .randomness import categorical
from .vocabulary import BRANDS, MODEL_SUFFIXES, PRODUCT_NOUNS

SEGMENTS: tuple[str, ...] = ("consumer", "small_business", "enterprise")

# name, sku prefix, share of demand, median list price, price spread (log sd), gross margin.
CATEGORY_SPECS: tuple[tuple[str, str, float, float, float, float], ...] = (
    ("cameras", "CAM", 0.10, 640.0, 0.45, 0.18),
    ("lenses", "LNS", 0.09, 470.0, 0.50, 0.26),
    ("laptops", "LAP", 0.12, 1050.0, 0.35, 0.12),
    ("computer_accessories", "CAC", 0.16, 55.0, 0.70, 0.45),
    ("phones", "PHN", 0.12, 720.0, 0.35, 0.10),
    ("phone_accessories", "PAC", 0.18, 22.0, 0.50, 0.56),
    ("audio", "AUD", 0.13, 140.0, 0.70, 0.34),
    ("smart_home", "SMH", 0.10, 65.0, 0.60, 0.40),
)
CATEGORIES: tuple[str, ...] = tuple(spec[0] for spec in CATEGORY_SPECS)

# Businesses buy computers and accessories, rarely cameras or smart-home gadgets.
SEGMENT_CATEGORY_TILT: dict[str, dict[str, float]] = {
    "consumer": {},
    "small_business": {"laptops": 1.8, "computer_accessories": 1.6, "phones": 1.2, "smart_home": 0.7},
    "enterprise": {
        "laptops": 2.5,
        "computer_accessories": 2.2,
        "phones": 1.5,
        "cameras": 0.6,
        "lenses": 0.5,
        "smart_home": 0.5,
    },
}

SAME_CATEGORY_AFFINITY = 1.8
DEFAULT_AFFINITY = 0.6
PAIR_AFFINITIES: tuple[tuple[str, str, float], ...] = (
    ("cameras", "lenses", 4.0),
    ("phones", "phone_accessories", 4.0),
    ("laptops", "computer_accessories", 3.5),
    ("phones", "audio", 1.8),
    ("smart_home", "audio", 1.6),
    ("smart_home", "phones", 1.4),
    ("laptops", "audio", 1.3),
    ("cameras", "computer_accessories", 1.2),
    ("cameras", "audio", 1.1),
    ("lenses", "computer_accessories", 0.8),
)

PRODUCTS_PER_CATEGORY = (18, 36)  # inclusive-exclusive range: about 8 x 27 = 216 products
# Popularity inside a category is Zipf-like: a few best sellers, a long tail.
POPULARITY_EXPONENT = 1.0


@dataclass(frozen=True)
class Catalogue:
    categories: tuple[str, ...]
    segment_prior: np.ndarray  # (segments, categories): where a customer's home category falls
    affinity: np.ndarray  # (categories, categories), symmetric
    following: np.ndarray  # P(next line's category | previous category), rows sum to 1
    product_ids: np.ndarray  # str, "P0001", ...
    product_category: np.ndarray  # category index per product
    share_in_category: np.ndarray  # popularity of a product inside its category
    list_cents: np.ndarray
    cost_cents: np.ndarray
    members: tuple[np.ndarray, ...]  # product indexes of each category
    products: pl.DataFrame  # the products export, contract columns

    def home_categories(self, rng: np.random.Generator, segments: np.ndarray) -> np.ndarray:
        return categorical(rng, np.cumsum(self.segment_prior, axis=1)[segments])

    def next_categories(self, rng: np.random.Generator, previous: np.ndarray) -> np.ndarray:
        return categorical(rng, np.cumsum(self.following, axis=1)[previous])

    def pick_products(self, rng: np.random.Generator, categories: np.ndarray) -> np.ndarray:
        products = np.empty(categories.shape[0], dtype=np.int64)
        for category, members in enumerate(self.members):
            rows = np.nonzero(categories == category)[0]
            if rows.size:
                shares = self.share_in_category[members]
                products[rows] = members[rng.choice(members.size, size=rows.size, p=shares)]
        return products

    def offer_inclusion_probability(self, home: np.ndarray, extra_lines_mean: np.ndarray, product: int) -> np.ndarray:
        """Chance that one ordinary order of each customer contains ``product``.

        Exact under the basket model of purchases.py: the first line's category follows the
        customer's home category, then Poisson(extra_lines_mean) more lines follow the first
        line's category. The campaign lift is defined relative to this baseline.
        """
        offer_category = self.product_category[product]
        share = self.share_in_category[product]
        first_line = self.following[home]  # (customers, categories)
        misses_first = 1.0 - share * (np.arange(len(self.categories)) == offer_category)
        # E[(1 - f*s)^K] for K ~ Poisson(mu) is exp(-mu*f*s).
        misses_extra = np.exp(-extra_lines_mean[:, None] * self.following[:, offer_category][None, :] * share)
        return 1.0 - (first_line * misses_first[None, :] * misses_extra).sum(axis=1)

    def affinity_frame(self) -> pl.DataFrame:
        size = len(self.categories)
        return pl.DataFrame(
            {
                "category_a": [self.categories[a] for a in range(size) for _ in range(size)],
                "category_b": [self.categories[b] for _ in range(size) for b in range(size)],
                "affinity": self.affinity.reshape(-1).round(4),
                "follow_probability": self.following.reshape(-1).round(6),
            }
        )


def affinity_matrix() -> np.ndarray:
    index = {name: position for position, name in enumerate(CATEGORIES)}
    matrix = np.full((len(CATEGORIES), len(CATEGORIES)), DEFAULT_AFFINITY)
    np.fill_diagonal(matrix, SAME_CATEGORY_AFFINITY)
    for first, second, weight in PAIR_AFFINITIES:
        matrix[index[first], index[second]] = weight
        matrix[index[second], index[first]] = weight
    return matrix


def segment_priors() -> np.ndarray:
    base = np.array([spec[2] for spec in CATEGORY_SPECS])
    rows = []
    for segment in SEGMENTS:
        tilt = np.array([SEGMENT_CATEGORY_TILT[segment].get(name, 1.0) for name in CATEGORIES])
        row = base * tilt
        rows.append(row / row.sum())
    return np.array(rows)


def build_catalogue(rng: np.random.Generator) -> Catalogue:
    affinity = affinity_matrix()
    demand = np.array([spec[2] for spec in CATEGORY_SPECS])
    following = demand[None, :] * affinity
    following = following / following.sum(axis=1, keepdims=True)

    # One category after the other, in CATEGORY_SPECS order: the draws happen in that order.
    drawn = [_category_products(rng, position, spec) for position, spec in enumerate(CATEGORY_SPECS)]
    names = [name for products in drawn for name in products.names]
    skus = [sku for products in drawn for sku in products.skus]
    categories = [position for position, products in enumerate(drawn) for _ in products.names]

    # Shuffle so product ids do not reveal the category.
    order = rng.permutation(len(names))
    category_array = np.array(categories)[order]
    product_ids = np.array([f"P{number:04d}" for number in range(1, len(names) + 1)])
    list_array = np.concatenate([products.list_cents for products in drawn])[order]
    cost_array = np.concatenate([products.cost_cents for products in drawn])[order]
    products = pl.DataFrame(
        {
            "product_id": product_ids,
            "sku": np.array(skus)[order],
            "name": np.array(names)[order],
            "category": np.array(CATEGORIES)[category_array],
            "list_price": list_array,
            "unit_cost": cost_array,
        }
    ).with_columns(money_text("list_price"), money_text("unit_cost"))
    return Catalogue(
        categories=CATEGORIES,
        segment_prior=segment_priors(),
        affinity=affinity,
        following=following,
        product_ids=product_ids,
        product_category=category_array,
        share_in_category=np.concatenate([products.share for products in drawn])[order],
        list_cents=list_array,
        cost_cents=cost_array,
        members=tuple(np.nonzero(category_array == c)[0] for c in range(len(CATEGORIES))),
        products=products,
    )


@dataclass(frozen=True)
class _CategoryProducts:
    names: list[str]
    skus: list[str]
    list_cents: np.ndarray
    cost_cents: np.ndarray
    share: np.ndarray  # of the category's demand, by a power law over a random popularity rank


def _category_products(
    rng: np.random.Generator, position: int, spec: tuple[str, str, float, float, float, float]
) -> _CategoryProducts:
    """A category's products: brand and noun names, lognormal prices ending in .99, costs from
    a noisy margin, and a popularity share within the category."""
    category, prefix, _, median_price, spread, margin = spec
    count = int(rng.integers(*PRODUCTS_PER_CATEGORY))
    combinations = [
        f"{brand} {noun}{suffix}"
        for brand in BRANDS[category]
        for noun in PRODUCT_NOUNS[category]
        for suffix in MODEL_SUFFIXES
    ]
    chosen = rng.choice(len(combinations), size=count, replace=False)
    names = [combinations[index] for index in chosen]
    skus = [f"{prefix}-{1000 + 37 * number + position}" for number in range(count)]
    # Prices end in .99 like a real shop; accessories stay above a floor.
    price = median_price * np.exp(spread * rng.standard_normal(count))
    cents = np.maximum(np.round(price), 5).astype(np.int64) * 100 - 1
    product_margin = np.clip(margin * np.exp(0.25 * rng.standard_normal(count)), 0.03, 0.75)
    popularity = 1.0 / (1.0 + rng.permutation(count)) ** POPULARITY_EXPONENT
    return _CategoryProducts(
        names=names,
        skus=skus,
        list_cents=cents,
        cost_cents=np.round(cents * (1.0 - product_margin)).astype(np.int64),
        share=popularity / popularity.sum(),
    )
