"""Random streams: one independent generator per (purpose, chunk).

Every stream is derived from the user's seed with a fixed ``spawn_key`` instead of drawing from
one shared generator. That way the numbers a chunk gets do not depend on how many numbers an
earlier chunk consumed, and adding a draw in one module does not shift every other module's
output. The stream numbers below are part of the output format: never renumber them.
"""

from __future__ import annotations

import numpy as np

STREAM_NUMBERS: dict[str, int] = {
    "catalogue": 1,
    "campaigns": 2,
    "customers": 3,
    "leads": 4,
    "marketing": 5,
    "purchases": 6,
    "support": 7,
    "dirty_records": 8,
    "refunds": 9,
    "next_day": 10,
}


def random_stream(seed: int, purpose: str, chunk: int = 0) -> np.random.Generator:
    """A generator that depends only on (seed, purpose, chunk)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(STREAM_NUMBERS[purpose], chunk))
    return np.random.default_rng(sequence)


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def logit(probability: float) -> float:
    return float(np.log(probability / (1.0 - probability)))


def categorical(rng: np.random.Generator, cumulative: np.ndarray) -> np.ndarray:
    """One draw per row from row-wise categorical distributions given as cumulative sums.

    Vectorised alternative to calling ``rng.choice`` once per row with its own probabilities.
    """
    draws = rng.random(cumulative.shape[0])
    last = cumulative.shape[1] - 1
    return np.minimum((draws[:, None] > cumulative).sum(axis=1), last)
