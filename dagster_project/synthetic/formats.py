"""How values look in an export file.

Money is carried as integer cents and times as integer epoch seconds until this point, so sums
are exact (an order total equals the sum of its lines to the cent) and the text written is the
same on every machine. These helpers turn them into the strings the exports contain.
"""

from __future__ import annotations

import numpy as np
import polars as pl

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def timestamp_text(seconds: pl.Expr | str) -> pl.Expr:
    """Epoch seconds (nullable) as ISO 8601 UTC with a Z suffix."""
    column = pl.col(seconds) if isinstance(seconds, str) else seconds
    return pl.from_epoch(column, time_unit="s").dt.strftime(TIMESTAMP_FORMAT)


def money_text(cents: pl.Expr | str) -> pl.Expr:
    """Non-negative integer cents (nullable) as a decimal with exactly two places."""
    column = pl.col(cents) if isinstance(cents, str) else cents
    return (column // 100).cast(pl.String) + "." + (column % 100).cast(pl.String).str.zfill(2)


def identifiers(prefix: str, first_number: int, count: int, width: int) -> pl.Series:
    """``prefix`` + zero-padded running numbers, e.g. O00000001; wider numbers just grow."""
    numbers = pl.Series("id", np.arange(first_number, first_number + count, dtype=np.int64))
    return pl.select(pl.lit(prefix) + numbers.cast(pl.String).str.zfill(width)).to_series()


def nullable_seconds(values: np.ndarray, present: np.ndarray) -> pl.Series:
    """Epoch seconds with the missing ones as nulls (numpy has no integer null)."""
    return pl.Series(values, dtype=pl.Int64).scatter(np.nonzero(~present)[0], None)


def pick_text(options: tuple[str, ...] | list[str], indexes: np.ndarray) -> pl.Series:
    """Strings from a small vocabulary by index, without a Python loop over rows."""
    return pl.Series(list(options), dtype=pl.String).gather(np.asarray(indexes, dtype=np.int64))
