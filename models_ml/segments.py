"""Behavioural segmentation: k-means on recency, frequency, money, email engagement and support
load, with a name and a one-line description for each segment.

The inputs are the point-in-time features of models_ml/features.py. Counts and money are
heavily skewed, so they are log-transformed before standardising (otherwise a few big spenders
would get clusters of their own); standardised values are clipped at +-3 so that a rare flag
such as "unsubscribed" cannot dominate the distances either. k-means is fitted on a sample of
at most ``sample_size`` customers, which is plenty to place a handful of centroids, and then
assigns everyone: 1M customers take seconds, not minutes.

Names come from rules, not from a person looking at the clusters: each segment's centroid is
compared with a set of archetypes ("Loyal high spenders", "At risk: lapsing buyers", ...) and
segments take the best-fitting free archetype, the clearest match first, so names are unique
and the same data always gets the same names. The description states, in the features' own
units, the three ways the segment differs most from the population.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from models_ml.features import FEATURE_COLUMNS

MODEL_NAME = "segments"
MODEL_FAMILY = "kmeans_v1"
K_RANGE = (4, 5, 6, 7)
DEFAULT_SAMPLE_SIZE = 200_000
SELECTION_SAMPLE_SIZE = 50_000  # customers each candidate k is fitted on
SILHOUETTE_SAMPLE_SIZE = 5_000  # silhouette is quadratic in the rows it reads
N_INIT = 4  # k-means restarts per candidate k; the best (lowest inertia) is kept
Z_CLIP = 3.0
SATISFIED_SCORE = 4.0
NEVER_ORDERED_NAME = "Never purchased"
SEGMENT_COLUMNS = ("customer_id", "segment_id", "segment_name", "segment_description")

# The dimensions k-means sees: (name, feature column, transform). log1p for counts, days and
# money; the order trend is a ratio, so its log is symmetric around "no change". The features
# fill a missing satisfaction score with a neutral 3, which would make "answered a survey" look
# like "is satisfied" (answers average about 4); k-means sees how far an answered score falls
# short of 4 instead, and 0 without an answer.
DIMENSIONS: tuple[tuple[str, str, str], ...] = (
    ("recency", "days_since_last_order", "log1p"),
    ("frequency", "order_count", "log1p"),
    ("monetary", "revenue_usd", "log1p"),
    ("tenure", "tenure_days", "log1p"),
    ("recent_orders", "orders_last_90_days", "log1p"),
    ("order_trend", "order_trend", "log"),
    ("email_opens", "email_open_rate_last_90_days", "identity"),
    ("email_clicks", "email_clicks_last_90_days", "log1p"),
    ("unsubscribed", "has_unsubscribed", "identity"),
    ("tickets", "tickets_last_180_days", "log1p"),
    ("dissatisfaction", "average_satisfaction_score", "dissatisfaction"),
)
DIMENSION_NAMES = tuple(name for name, _, _ in DIMENSIONS)

# Archetypes: the direction (in standardised units) a centroid points to. A segment's fit to an
# archetype is the cosine between its centroid and this direction. Cosines ignore how far a
# centroid sits from the mean, so one fact is checked directly instead: a segment where most
# customers never ordered is NEVER_ORDERED_NAME.
ARCHETYPES: dict[str, dict[str, float]] = {
    "Loyal high spenders": {"monetary": 1.0, "frequency": 1.0, "recency": -0.6, "tenure": 0.4, "recent_orders": 0.4},
    "Active regulars": {"recent_orders": 1.0, "recency": -1.0, "monetary": -0.4},
    "New customers": {"tenure": -1.5, "recency": -0.5, "frequency": -0.3},
    "At risk: lapsing buyers": {
        "recency": 0.6,
        "frequency": 0.4,
        "monetary": 0.5,
        "order_trend": -1.0,
        "recent_orders": -0.8,
    },
    "Support-heavy": {"tickets": 1.5, "dissatisfaction": 0.7},
    "Disengaged one-timers": {"frequency": -1.0, "recency": 0.8, "email_opens": -0.8, "email_clicks": -0.5},
    "Email-engaged customers": {"email_opens": 1.0, "email_clicks": 1.0},
    "Unsubscribed": {"unsubscribed": 2.0, "email_opens": -0.5},
    "Lapsed low spenders": {"recency": 1.0, "monetary": -0.6, "recent_orders": -0.5},
}

# How a feature reads in a description: (phrase, format of one value).
DESCRIBED: dict[str, tuple[str, str]] = {
    "days_since_last_order": ("days since the last order", "{:.0f}"),
    "order_count": ("orders", "{:.1f}"),
    "revenue_usd": ("revenue", "${:,.0f}"),
    "tenure_days": ("days as a customer", "{:.0f}"),
    "orders_last_90_days": ("orders in the last 90 days", "{:.2f}"),
    "order_trend": ("order trend (last 90 days / the 90 before)", "{:.2f}"),
    "email_open_rate_last_90_days": ("email open rate", "{:.0%}"),
    "email_clicks_last_90_days": ("email clicks in 90 days", "{:.1f}"),
    "has_unsubscribed": ("unsubscribed", "{:.0%}"),
    "tickets_last_180_days": ("tickets in 180 days", "{:.2f}"),
    "average_satisfaction_score": ("satisfaction (1-5, answered surveys)", "{:.1f}"),
}
PROFILE_COLUMNS = tuple(column for _, column, _ in DIMENSIONS)


@dataclass
class SegmentModel:
    k: int
    random_state: int
    center: np.ndarray  # per dimension, of the transformed features, on the training sample
    scale: np.ndarray
    kmeans: KMeans
    label_to_segment: np.ndarray  # k-means label -> segment_id (0 = highest average revenue)
    segments: pl.DataFrame  # segment_id, segment_name, segment_description, archetype_fit
    centroids: np.ndarray  # segment_id x dimension, standardised units
    silhouette_by_k: dict[int, float]
    training_rows: int
    parameters: dict[str, object] = field(default_factory=dict)

    @property
    def model_version(self) -> str:
        return f"{MODEL_NAME}-{MODEL_FAMILY}-k{self.k}-seed{self.random_state}"


def _transformed(features: pl.DataFrame) -> np.ndarray:
    expressions = []
    for name, column, transform in DIMENSIONS:
        value = pl.col(column).cast(pl.Float64).fill_null(0.0).fill_nan(0.0).clip(lower_bound=0.0)
        if transform == "log1p":
            value = value.log1p()
        elif transform == "log":
            # A ratio of (count + 1) / (count + 1): positive by construction; guard anyway.
            value = value.clip(lower_bound=1e-3).log()
        elif transform == "dissatisfaction":
            answered = pl.col("has_satisfaction_score").cast(pl.Float64).fill_null(0.0) > 0
            value = pl.when(answered).then((SATISFIED_SCORE - value).clip(lower_bound=0.0)).otherwise(0.0)
        expressions.append(value.alias(name))
    return features.select(expressions).to_numpy().astype(np.float64)


def _standardised(model_center: np.ndarray, model_scale: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.clip((values - model_center) / model_scale, -Z_CLIP, Z_CLIP)


def _check_features(features: pl.DataFrame) -> None:
    missing = [column for column in ("customer_id", *FEATURE_COLUMNS) if column not in features.columns]
    if missing:
        raise ValueError(f"features are missing columns: {', '.join(missing)}")


def _raw_means(features: pl.DataFrame) -> pl.DataFrame:
    """Mean of each described feature; satisfaction only over customers who answered a survey."""
    return features.select(
        *(pl.col(column).mean() for column in DESCRIBED if column != "average_satisfaction_score"),
        pl.col("average_satisfaction_score").filter(pl.col("has_satisfaction_score") > 0).mean(),
    )


def _describe(segment_means: dict[str, float], population_means: dict[str, float], centroid: np.ndarray) -> str:
    # The three dimensions where the centroid sits furthest from the population mean.
    columns = [column for _, column, _ in DIMENSIONS]
    parts = []
    for index in np.argsort(-np.abs(centroid), kind="stable")[:3]:
        column = columns[index]
        phrase, number = DESCRIBED[column]
        mine, overall = segment_means.get(column), population_means.get(column)
        if mine is None or overall is None:
            continue
        direction = "higher" if mine > overall else "lower"
        parts.append(f"{direction} {phrase}: {number.format(mine)} vs {number.format(overall)}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] if text else "Close to the population average"


def _name_segments(centroids: np.ndarray, never_ordered_share: np.ndarray) -> tuple[list[str], list[float]]:
    """Each segment gets the archetype it fits best among those still free, the best fit first;
    the segment with the most never-ordered customers is NEVER_ORDERED_NAME if they are most of it."""
    names: list[str | None] = [None] * len(centroids)
    fits = [0.0] * len(centroids)
    never = int(np.argmax(never_ordered_share))
    if never_ordered_share[never] > 0.5:
        names[never], fits[never] = NEVER_ORDERED_NAME, float(never_ordered_share[never])

    directions = np.array(
        [[weights.get(name, 0.0) for name in DIMENSION_NAMES] for weights in ARCHETYPES.values()], dtype=np.float64
    )
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    fit = (centroids / np.where(norms > 0, norms, 1.0)) @ directions.T  # segment x archetype cosine
    archetypes = list(ARCHETYPES)
    # Ties (equal cosines) resolve by segment then archetype order: stable and deterministic.
    order = sorted(
        ((fit[s, a], s, a) for s in range(len(centroids)) for a in range(len(archetypes))),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    used: set[int] = set()
    for value, segment, archetype in order:
        if names[segment] is None and archetype not in used:
            names[segment], fits[segment] = archetypes[archetype], float(value)
            used.add(archetype)
    return [name or f"Segment {index}" for index, name in enumerate(names)], fits


def fit_segments(
    features: pl.DataFrame,
    k: int | None = None,
    random_state: int = 0,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
) -> SegmentModel:
    """Fit k-means segments on ``features`` (customer_id + FEATURE_COLUMNS, one row per customer).

    ``k`` None picks k in K_RANGE by the silhouette on a sample. Same features (in any row order)
    and seed give the same model, names included.
    """
    _check_features(features)
    if k is not None and k < 2:
        raise ValueError("k must be at least 2")
    candidates = (k,) if k is not None else K_RANGE
    # Row order must not matter: sort, then sample with the seed.
    features = features.sort("customer_id")
    if features.height < 10 * max(candidates):
        raise ValueError(f"need at least {10 * max(candidates)} customers to fit {max(candidates)} segments")
    rng = np.random.default_rng(random_state)
    rows = features.height
    sample_rows = np.sort(rng.choice(rows, size=min(rows, sample_size), replace=False))
    sample = features[sample_rows]
    values = _transformed(sample)
    center = values.mean(axis=0)
    scale = values.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    standardised = _standardised(center, scale, values)
    chosen, start, silhouettes = _choose_k(standardised, candidates, k, rng, random_state)
    kmeans = KMeans(n_clusters=chosen, init=start, n_init=1, random_state=random_state).fit(standardised)

    labelled = sample.with_columns(pl.Series("_label", kmeans.labels_))
    order = _labels_by_revenue(labelled, chosen)
    label_to_segment = np.empty(chosen, dtype=np.int64)
    label_to_segment[order] = np.arange(chosen)
    centroids = kmeans.cluster_centers_[order]
    return SegmentModel(
        k=chosen,
        random_state=random_state,
        center=center,
        scale=scale,
        kmeans=kmeans,
        label_to_segment=label_to_segment,
        segments=_segments_table(labelled, order, centroids),
        centroids=centroids,
        silhouette_by_k=silhouettes,
        training_rows=len(sample_rows),
        parameters={
            "k": chosen,
            "k_range": list(candidates),
            "sample_size": sample_size,
            "selection_sample_size": SELECTION_SAMPLE_SIZE,
            "silhouette_sample_size": SILHOUETTE_SAMPLE_SIZE,
            "dimensions": list(DIMENSION_NAMES),
            "z_clip": Z_CLIP,
        },
    )


def _choose_k(
    standardised: np.ndarray,
    candidates: tuple[int, ...],
    k: int | None,
    rng: np.random.Generator,
    random_state: int,
) -> tuple[int, np.ndarray, dict[int, float]]:
    """(the chosen k, its centroids to start the final fit from, the silhouette of each candidate).

    Each candidate is fitted on a smaller sample and scored by the silhouette on part of it. The
    chosen k is then refitted on the whole training sample, starting from the centroids found, so
    that one short Lloyd run is enough. A given ``k`` is only fitted, not scored.
    """
    selection = rng.choice(len(standardised), size=min(len(standardised), SELECTION_SAMPLE_SIZE), replace=False)
    silhouette_rows = selection[: min(len(selection), SILHOUETTE_SAMPLE_SIZE)]
    starts: dict[int, np.ndarray] = {}
    silhouettes: dict[int, float] = {}
    for candidate in candidates:
        kmeans = KMeans(n_clusters=candidate, n_init=N_INIT, random_state=random_state).fit(standardised[selection])
        starts[candidate] = kmeans.cluster_centers_
        if k is None:
            labels = kmeans.predict(standardised[silhouette_rows])
            silhouettes[candidate] = float(silhouette_score(standardised[silhouette_rows], labels))
    chosen = k if k is not None else max(silhouettes, key=lambda c: (silhouettes[c], -c))
    return chosen, starts[chosen], silhouettes


def _labels_by_revenue(labelled: pl.DataFrame, chosen: int) -> np.ndarray:
    """The k-means labels in order of their customers' average revenue, highest first, so that
    "segment 0" is the most valuable (ties by label)."""
    revenue = labelled.group_by("_label").agg(pl.col("revenue_usd").mean()).sort("_label")["revenue_usd"].to_numpy()
    return np.lexsort((np.arange(chosen), -revenue))


def _segments_table(labelled: pl.DataFrame, order: np.ndarray, centroids: np.ndarray) -> pl.DataFrame:
    """segment_id, segment_name, segment_description, archetype_fit: each segment named after the
    archetype it fits best and described by how its raw averages differ from the sample's."""
    never_ordered = (
        labelled.group_by("_label").agg((pl.col("order_count") == 0).mean()).sort("_label")["order_count"].to_numpy()
    )
    names, fits = _name_segments(centroids, never_ordered[order])
    population = _raw_means(labelled).row(0, named=True)
    descriptions = []
    for segment in range(len(order)):
        label = int(order[segment])
        segment_means = _raw_means(labelled.filter(pl.col("_label") == label)).row(0, named=True)
        descriptions.append(_describe(segment_means, population, centroids[segment]))
    return pl.DataFrame(
        {
            "segment_id": np.arange(len(order), dtype=np.int64),
            "segment_name": names,
            "segment_description": descriptions,
            "archetype_fit": np.round(fits, 4),
        }
    )


def assign_segments(model: SegmentModel, features: pl.DataFrame) -> pl.DataFrame:
    """customer_id, segment_id, segment_name, segment_description for every row of ``features``
    (in the same order)."""
    _check_features(features)
    standardised = _standardised(model.center, model.scale, _transformed(features))
    segment_ids = model.label_to_segment[model.kmeans.predict(standardised)]
    return (
        features.select("customer_id")
        .with_columns(pl.Series("segment_id", segment_ids, dtype=pl.Int64))
        .join(model.segments.select("segment_id", "segment_name", "segment_description"), on="segment_id", how="left")
        .select(SEGMENT_COLUMNS)
    )


def segment_profiles(model: SegmentModel, features: pl.DataFrame) -> pl.DataFrame:
    """Per segment: name, description, customers, share, and the mean of each feature the
    segments are built from (satisfaction over customers who answered a survey only)."""
    assigned = features.with_columns(
        assign_segments(model, features).select("segment_id", "segment_name", "segment_description")
    )
    means = [pl.col(column).mean().alias(f"mean_{column}") for column in PROFILE_COLUMNS]
    means[PROFILE_COLUMNS.index("average_satisfaction_score")] = (
        pl.col("average_satisfaction_score")
        .filter(pl.col("has_satisfaction_score") > 0)
        .mean()
        .alias("mean_average_satisfaction_score")
    )
    profiles = assigned.group_by("segment_id").agg(pl.len().alias("customers"), *means)
    return (
        model.segments.select("segment_id", "segment_name", "segment_description")
        .join(profiles, on="segment_id", how="left")
        .with_columns(
            pl.col("customers").fill_null(0),
            (pl.col("customers").fill_null(0) / max(features.height, 1)).alias("share"),
        )
        .sort("segment_id")
    )
