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

from models_ml.recommend.evaluation import evaluate_offers
from models_ml.recommend.fitting import fit_offer_model
from models_ml.recommend.model import (
    CATEGORY_AS_BOUGHT,
    DEFAULT_BLEND,
    DEFAULT_CHUNK_CUSTOMERS,
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_TUNE_DAYS,
    KAPPA_GRID,
    MAX_TUNING_CUSTOMERS,
    METHODS,
    METRICS,
    MIN_TUNING_CUSTOMERS,
    MODEL_FAMILY,
    MODEL_NAME,
    PURCHASE_COLUMNS,
    TASKS,
    UNCATEGORISED,
    WEIGHT_STEP,
    Blend,
    OfferEvaluation,
    OfferModel,
)
from models_ml.recommend.recommending import recommend

__all__ = [
    "Blend",
    "CATEGORY_AS_BOUGHT",
    "DEFAULT_BLEND",
    "DEFAULT_CHUNK_CUSTOMERS",
    "DEFAULT_HALF_LIFE_DAYS",
    "DEFAULT_TUNE_DAYS",
    "KAPPA_GRID",
    "MAX_TUNING_CUSTOMERS",
    "METHODS",
    "METRICS",
    "MIN_TUNING_CUSTOMERS",
    "MODEL_FAMILY",
    "MODEL_NAME",
    "OfferEvaluation",
    "OfferModel",
    "PURCHASE_COLUMNS",
    "TASKS",
    "UNCATEGORISED",
    "WEIGHT_STEP",
    "evaluate_offers",
    "fit_offer_model",
    "recommend",
]
