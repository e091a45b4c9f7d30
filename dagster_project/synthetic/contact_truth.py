"""Who each marketing and support record really belongs to: the identity-resolution answer key.

Email events and tickets reach the warehouse with an address typed by another system (other
case, stray spaces), often without a customer id, sometimes from a shared company inbox or from
a prospect who never bought. The generator knows the person behind every record; this module
writes that down, one row per email event and per ticket, next to the address as exported, so
an identity-resolution model can be scored for precision and recall.
"""

from __future__ import annotations

import numpy as np
import polars as pl

CONTACT_TRUTH_COLUMNS: tuple[str, ...] = (
    "record_type",
    "record_id",
    "true_customer_id",
    "email_as_exported",
    "is_email_shared",
)


def contact_truth(
    record_type: str,
    record_ids: pl.Series,
    true_customer_ids: pl.Series,
    emails_as_exported: pl.Series,
    is_email_shared: np.ndarray,
) -> pl.DataFrame:
    """Rows of ``contacts_truth.csv``.

    ``true_customer_ids`` is null for a prospect who is not a customer; ``is_email_shared`` is
    true when the exported address (normalised) belongs to more than one customer, and false
    when there is no address.
    """
    frame = pl.DataFrame(
        {
            "record_type": pl.repeat(record_type, record_ids.len(), eager=True, dtype=pl.String),
            "record_id": record_ids,
            "true_customer_id": true_customer_ids,
            "email_as_exported": emails_as_exported,
            "is_email_shared": pl.Series(is_email_shared, dtype=pl.Boolean),
        },
        schema={
            "record_type": pl.String,
            "record_id": pl.String,
            "true_customer_id": pl.String,
            "email_as_exported": pl.String,
            "is_email_shared": pl.Boolean,
        },
    )
    return frame.with_columns(pl.col("is_email_shared") & pl.col("email_as_exported").is_not_null())
