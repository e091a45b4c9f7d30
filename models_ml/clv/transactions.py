"""Purchases to the four numbers the models need per customer (frequency, recency, T, monetary
value), and the checks on them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

DAYS_PER_MONTH = 365.25 / 12
DEFAULT_TIME_UNIT_DAYS = 7.0
MODEL_NAME = "clv"
MODEL_FAMILY = "bgnbd_gamma_gamma_v1"
# Log-parameters are kept in a box so a flat likelihood cannot send them to overflow.
LOG_PARAMETER_BOUNDS = (-18.0, 18.0)
MIN_REPEAT_BUYERS_GAMMA_GAMMA = 3
NEAR_ONE = 1e-4  # |a - 1| below which the BG/NBD expectation is interpolated (see purchases_if_alive)

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
SCORE_COLUMNS = (
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "p_alive",
    "expected_purchases",
    "expected_average_spend",
    "clv",
)


def naive_utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def prepare_transactions(
    transactions: pl.DataFrame, customer_column: str, time_column: str, value_column: str
) -> pl.DataFrame:
    """customer, ``_at`` (naive UTC datetime) and ``_value`` (float), checked for nulls."""
    if not isinstance(transactions, pl.DataFrame):
        raise TypeError(f"transactions must be a polars DataFrame, got {type(transactions).__name__}")
    missing = [name for name in (customer_column, time_column, value_column) if name not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack the column(s) {missing}; it has {transactions.columns}")
    time_type = transactions.schema[time_column]
    if isinstance(time_type, pl.Datetime):
        at = pl.col(time_column)
        # An aware column is compared in UTC, as are aware cutoffs (see naive_utc).
        if time_type.time_zone is not None:
            at = at.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    elif time_type == pl.Date:
        at = pl.col(time_column).cast(pl.Datetime("us"))
    else:
        raise ValueError(f"column {time_column!r} must be a Datetime or Date, got {time_type}")
    if not transactions.schema[value_column].is_numeric():
        raise ValueError(f"column {value_column!r} must be numeric, got {transactions.schema[value_column]}")
    frame = transactions.select(
        pl.col(customer_column), at.cast(pl.Datetime("us")).alias("_at"), pl.col(value_column).cast(pl.Float64)
    ).rename({value_column: "_value"})
    nulls = {name: count for name, count in zip(frame.columns, frame.null_count().row(0), strict=True) if count}
    if nulls:
        raise ValueError(f"transactions have null values: {nulls} (customer, time and value must all be set)")
    if not frame.filter(~pl.col("_value").is_finite()).is_empty():
        raise ValueError(f"column {value_column!r} has infinite or NaN values")
    return frame


def _last_observed_day(end: datetime) -> datetime:
    """The calendar day holding the last instant before the exclusive ``end``."""
    last = end - timedelta(microseconds=1)
    return datetime(last.year, last.month, last.day)


def _purchase_days(frame: pl.DataFrame, customer_column: str) -> pl.DataFrame:
    # Same-day purchases are one purchase occasion, with their values summed.
    return frame.group_by(customer_column, pl.col("_at").dt.truncate("1d").alias("_day")).agg(pl.col("_value").sum())


def rfm_summary(
    transactions: pl.DataFrame,
    observation_end: datetime,
    time_unit_days: float = DEFAULT_TIME_UNIT_DAYS,
    calibration_end: datetime | None = None,
    customer_column: str = "customer_id",
    time_column: str = "ordered_at",
    value_column: str = "revenue_usd",
) -> pl.DataFrame:
    """One row per customer with a purchase strictly before the end: frequency, recency, T, monetary_value.

    The end is ``calibration_end`` when given, otherwise ``observation_end``; both are exclusive
    cutoffs (a purchase at the end instant does not count). Purchases are grouped by UTC day:

    - ``frequency``: purchase days minus one (the repeat purchases);
    - ``recency``: days from the first to the last purchase day, in time units (0 without repeats);
    - ``T``: days from the first purchase day to the last observed day, the day of the last
      instant before the end, in time units. With an end at midnight this is the convention of
      the BG/NBD papers and of ``lifetimes.utils.summary_data_from_transaction_data`` with
      ``observation_period_end`` = the day before: a customer who bought on the last day has
      recency == T. (CDNOW: end 1997-10-01 gives T = 38.86 weeks for a first purchase on 1997-01-01.)
    - ``monetary_value``: mean value of the repeat purchase days (first purchase excluded), 0
      when frequency is 0.

    With ``calibration_end``, purchases in [calibration_end, observation_end) are summarised in
    ``holdout_purchases`` (purchase days), ``holdout_value`` (total value) and
    ``holdout_duration`` (observation_end - calibration_end, in time units), 0 when none.
    Customers whose first purchase is in the holdout are not included.
    """
    if not time_unit_days > 0:
        raise ValueError(f"time_unit_days must be positive, got {time_unit_days}")
    observation_end, end = _summary_ends(observation_end, calibration_end)
    frame = prepare_transactions(transactions, customer_column, time_column, value_column)
    before = frame.filter(pl.col("_at") < end)
    if before.is_empty():
        raise ValueError(f"no transactions before {end:%Y-%m-%d %H:%M} (of {frame.height} given)")
    summary = _calibration_summary(before, end, time_unit_days, customer_column)
    if calibration_end is None:
        return summary

    holdout = (
        _purchase_days(frame.filter((pl.col("_at") >= end) & (pl.col("_at") < observation_end)), customer_column)
        .group_by(customer_column)
        .agg(pl.len().cast(pl.Int64).alias("holdout_purchases"), pl.col("_value").sum().alias("holdout_value"))
    )
    holdout_duration = (observation_end - end) / timedelta(days=time_unit_days)
    return summary.join(holdout, on=customer_column, how="left").with_columns(
        pl.col("holdout_purchases").fill_null(0),
        pl.col("holdout_value").fill_null(0.0),
        pl.lit(holdout_duration, dtype=pl.Float64).alias("holdout_duration"),
    )


def _summary_ends(observation_end: datetime, calibration_end: datetime | None) -> tuple[datetime, datetime]:
    """(observation end, the end of the summarised purchases), naive UTC: the calibration end
    when given, which must come before the observation end."""
    observation_end = naive_utc(observation_end, "observation_end")
    end = observation_end
    if calibration_end is not None:
        end = naive_utc(calibration_end, "calibration_end")
        if end >= observation_end:
            raise ValueError(
                f"calibration_end ({end:%Y-%m-%d %H:%M}) must be before "
                f"observation_end ({observation_end:%Y-%m-%d %H:%M})"
            )
    return observation_end, end


def _calibration_summary(
    before: pl.DataFrame, end: datetime, time_unit_days: float, customer_column: str
) -> pl.DataFrame:
    """frequency, recency, T and monetary_value per customer from the purchases before ``end``."""
    last_day = _last_observed_day(end)
    days = pl.duration(days=1)
    return (
        _purchase_days(before, customer_column)
        .group_by(customer_column)
        .agg(
            (pl.len() - 1).cast(pl.Int64).alias("frequency"),
            ((pl.col("_day").max() - pl.col("_day").min()) / days).alias("_recency_days"),
            ((pl.lit(last_day) - pl.col("_day").min()) / days).alias("_age_days"),
            (pl.col("_value").sum() - pl.col("_value").sort_by("_day").first()).alias("_repeat_value"),
        )
        .select(
            customer_column,
            "frequency",
            (pl.col("_recency_days") / time_unit_days).alias("recency"),
            (pl.col("_age_days") / time_unit_days).alias("T"),
            pl.when(pl.col("frequency") > 0)
            .then(pl.col("_repeat_value") / pl.col("frequency"))
            .otherwise(0.0)
            .alias("monetary_value"),
        )
        .sort(customer_column)
    )


def as_array(values: object, name: str) -> np.ndarray:
    if isinstance(values, pl.Series):
        values = values.to_numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return array


def customer_arrays(frequency: object, recency: object, T: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, age = as_array(frequency, "frequency"), as_array(recency, "recency"), as_array(T, "T")
    if not len(x) == len(t_x) == len(age):
        raise ValueError(f"frequency, recency and T differ in length: {len(x)}, {len(t_x)}, {len(age)}")
    if len(x) == 0:
        raise ValueError("no customers given")
    if (x < 0).any() or (x != np.round(x)).any():
        raise ValueError("frequency must be a non-negative whole number (repeat purchases)")
    if (t_x < 0).any() or (age < 0).any():
        raise ValueError("recency and T must be non-negative")
    tolerance = 1e-9 * np.maximum(age, 1.0)
    if (t_x > age + tolerance).any():
        raise ValueError("recency must not exceed T (the last purchase is within the customer's age)")
    if (t_x[x == 0] != 0).any():
        raise ValueError("recency must be 0 for customers with frequency 0")
    return x, t_x, np.maximum(age, t_x)
