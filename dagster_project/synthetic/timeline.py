"""The calendar of the simulated business: window, seasonality, trend and time sampling.

All times are integer seconds since the Unix epoch, UTC. Integers keep the arithmetic exact and
the formatted output byte-stable; they become ISO strings only when a file is written.

Activity (orders, tickets, acquisitions) follows one daily intensity curve: monthly seasonality
(Nov/Dec peak, summer dip), a mild upward trend and a weekday pattern. Events are placed on it
by inverting its cumulative sum, so a Poisson process with a seasonal rate is sampled without
any per-event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

SECONDS_PER_DAY = 86_400
DAYS_PER_MONTH = 30.4375
SECONDS_PER_MONTH = DAYS_PER_MONTH * SECONDS_PER_DAY
EPOCH = date(1970, 1, 1)

# Relative order activity by calendar month (January first). Mean 1 over a year.
MONTHLY_SEASONALITY = np.array([0.90, 0.84, 0.94, 0.96, 0.97, 0.86, 0.80, 0.85, 0.98, 1.04, 1.36, 1.50])
MONTHLY_SEASONALITY = MONTHLY_SEASONALITY / MONTHLY_SEASONALITY.mean()
# Monday first: a little more on Mondays (weekend carry-over) and less on Saturdays.
WEEKDAY_FACTOR = np.array([1.08, 1.03, 1.00, 1.00, 0.98, 0.90, 1.01])
# Mild growth: activity 9% higher a year after the window starts.
YEARLY_GROWTH = 0.09

# Share of orders per hour of day (UTC): quiet nights, a lunch bump, an evening peak.
ORDER_HOURS = np.array(
    [
        1.0,
        0.6,
        0.4,
        0.3,
        0.3,
        0.5,
        1.0,
        2.0,
        3.0,
        3.6,
        4.0,
        4.4,
        5.0,
        4.6,
        4.2,
        4.2,
        4.4,
        5.0,
        5.8,
        6.4,
        6.6,
        5.6,
        3.8,
        2.0,
    ]
)
# Support and marketing work office hours.
OFFICE_HOURS = np.array(
    [
        0.2,
        0.1,
        0.1,
        0.1,
        0.1,
        0.2,
        0.6,
        2.0,
        4.5,
        6.0,
        6.2,
        6.0,
        5.0,
        5.8,
        6.0,
        5.8,
        5.2,
        4.0,
        2.4,
        1.4,
        1.0,
        0.8,
        0.5,
        0.3,
    ]
)


def shift_months(day: date, months: int) -> date:
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return date(year, month, min(day.day, last_day))


def epoch_seconds(day: date) -> int:
    return (day - EPOCH).days * SECONDS_PER_DAY


@dataclass(frozen=True)
class Timeline:
    """The simulated window [start, end) and its activity curve."""

    start_date: date
    end_date: date  # last simulated day, inclusive
    start: int  # epoch seconds of start_date 00:00
    end: int  # epoch seconds of end_date + 1 day 00:00 (exclusive)
    cumulative: np.ndarray  # activity-months accumulated at each day boundary, len days + 1

    @property
    def days(self) -> int:
        return (self.end - self.start) // SECONDS_PER_DAY

    def activity(self, times: np.ndarray) -> np.ndarray:
        """Cumulative activity (in average months) at each time; flat outside the window."""
        positions = (np.asarray(times, dtype=np.float64) - self.start) / SECONDS_PER_DAY
        return np.interp(positions, np.arange(self.days + 1), self.cumulative)

    def exposure(self, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """Activity between two times, zero where the interval is empty."""
        return np.maximum(self.activity(upper) - self.activity(lower), 0.0)

    def sample_between(
        self, rng: np.random.Generator, lower: np.ndarray, upper: np.ndarray, hours: np.ndarray | None = None
    ) -> np.ndarray:
        """One time per row, drawn from the activity curve restricted to [lower, upper).

        With ``hours`` the day comes from the curve and the time of day from that hourly profile,
        clipped back into the interval (it only matters on an interval's first and last day).
        """
        lower = np.asarray(lower, dtype=np.int64)
        upper = np.asarray(upper, dtype=np.int64)
        low_activity = self.activity(lower)
        high_activity = self.activity(upper)
        targets = low_activity + rng.random(lower.shape[0]) * (high_activity - low_activity)
        positions = np.interp(targets, self.cumulative, np.arange(self.days + 1))
        times = self.start + np.floor(positions * SECONDS_PER_DAY).astype(np.int64)
        if hours is not None:
            day_starts = times - (times - self.start) % SECONDS_PER_DAY
            times = day_starts + time_of_day(rng, lower.shape[0], hours)
        return np.clip(times, lower, np.maximum(upper - 1, lower))


def time_of_day(rng: np.random.Generator, count: int, hours: np.ndarray) -> np.ndarray:
    """Seconds after midnight, the hour drawn from a profile, minute and second uniform."""
    cumulative = np.cumsum(hours) / hours.sum()
    hour = np.minimum(np.searchsorted(cumulative, rng.random(count), side="right"), 23)
    return hour * 3600 + rng.integers(0, 3600, count)


def build_timeline(end_date: date, months: int) -> Timeline:
    if months < 1:
        raise ValueError("months must be at least 1")
    end_exclusive = end_date + timedelta(days=1)
    start_date = shift_months(end_exclusive, -months)
    days = (end_exclusive - start_date).days
    day_numbers = np.arange(days)
    dates = np.datetime64(start_date.isoformat(), "D") + day_numbers
    calendar_month = dates.astype("datetime64[M]").astype(np.int64) % 12
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    intensity = (
        MONTHLY_SEASONALITY[calendar_month] * WEEKDAY_FACTOR[weekday] * (1.0 + YEARLY_GROWTH * day_numbers / 365.25)
    )
    cumulative = np.concatenate([[0.0], np.cumsum(intensity)]) / DAYS_PER_MONTH
    return Timeline(
        start_date=start_date,
        end_date=end_date,
        start=epoch_seconds(start_date),
        end=epoch_seconds(end_exclusive),
        cumulative=cumulative,
    )


def newsletter_times(timeline: Timeline, every_days: int = 14) -> np.ndarray:
    """Send times of the regular newsletter: every other Tuesday at 10:00 UTC."""
    first = timeline.start_date
    while first.weekday() != 1:
        first += timedelta(days=1)
    starts = np.arange(epoch_seconds(first), timeline.end, every_days * SECONDS_PER_DAY)
    times = starts + 10 * 3600
    # Leave room for the sending batch (up to an hour) before the window closes.
    return times[times < timeline.end - 2 * 3600].astype(np.int64)
