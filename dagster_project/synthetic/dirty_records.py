"""Deliberate dirt: duplicate rows, late-arriving duplicates, blank optional fields.

Real exports repeat rows (a retried extract, an overlapping delivery) and leave optional fields
empty. The dirt never breaks the contract: duplicates are exact copies, so deduplicating by key
gives the true data back, and only optional columns are blanked. Half of the duplicates are
held back and delivered with the next chunk's file (or a final catch-up file), the way a late
export re-sends rows the warehouse has already loaded.
"""

from __future__ import annotations

import numpy as np
import polars as pl

DUPLICATED_ENTITIES: tuple[str, ...] = ("customers", "orders", "order_lines", "email_events", "tickets")
BLANKED_FIELDS: dict[str, tuple[str, ...]] = {
    "customers": ("email", "phone", "city"),
    "tickets": ("channel", "category"),
}
LATE_SHARE = 0.5

# Row order inside each file: by time where the entity has one, so files read like real extracts.
FILE_ORDER: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "orders": ("ordered_at", "order_id"),
    "order_lines": ("order_id", "line_number"),
    "email_events": ("occurred_at", "event_id"),
    "leads": ("created_at", "lead_id"),
    "tickets": ("created_at", "ticket_id"),
    "satisfaction_surveys": ("responded_at", "survey_id"),
}


def blank_optional_fields(rng: np.random.Generator, entity: str, frame: pl.DataFrame, rate: float) -> pl.DataFrame:
    for column in BLANKED_FIELDS.get(entity, ()):
        blank = np.nonzero(rng.random(frame.height) < rate)[0]
        frame = frame.with_columns(frame.get_column(column).scatter(blank, None))
    return frame


def split_duplicates(rng: np.random.Generator, frame: pl.DataFrame, rate: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Copies of about ``rate`` of the rows: (for the same file, for a later file)."""
    count = int(rng.binomial(frame.height, rate)) if frame.height else 0
    picked = np.sort(rng.choice(frame.height, size=count, replace=False)) if count else np.empty(0, np.int64)
    late = rng.random(count) < LATE_SHARE
    copies = frame[picked]
    return copies.filter(pl.Series(~late)), copies.filter(pl.Series(late))


def arrange(entity: str, parts: list[pl.DataFrame]) -> pl.DataFrame:
    """One file's rows: the chunk's own rows with its duplicates and carried-over late ones."""
    frame = pl.concat([part for part in parts if part is not None], how="vertical")
    return frame.sort(list(FILE_ORDER[entity]), maintain_order=True)
