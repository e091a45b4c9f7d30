"""Leads: prospects marketing captured, some of whom became the chunk's customers.

A converted lead carries the address its customer later used (in the marketing tool's spelling)
and converted_at equal to the customer's creation. The other leads are prospects who never
bought; they still receive newsletters, which is why the email events contain addresses no
customer has. Prospect addresses use an underscore, customer addresses never do, so the two
can never collide by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .customers import CustomerChunk, email_tokens, spell_like_marketing
from .formats import identifiers, nullable_seconds, pick_text, timestamp_text
from .timeline import OFFICE_HOURS, SECONDS_PER_DAY, Timeline
from .vocabulary import FIRST_NAMES, FREE_MAIL_DOMAINS, LAST_NAMES, LEAD_SOURCES

CONVERTED_SHARE_OF_NEW_CUSTOMERS = 0.30
PROSPECTS_PER_CUSTOMER = 0.30
PROSPECT_EMAIL_SHARE = 0.90
PROSPECT_OPT_IN_SHARE = 0.80
PROSPECT_ENGAGEMENT_SHIFT = -0.5  # prospects care less than customers
LEAD_STATUSES_OPEN = ("new", "contacted", "qualified", "lost")


@dataclass
class LeadChunk:
    leads: pl.DataFrame  # the leads export rows
    prospect_email: pl.Series  # marketing spelling, subscribed prospects only
    prospect_created_at: np.ndarray
    prospect_engagement: np.ndarray


def generate_leads(
    rng: np.random.Generator, customers: CustomerChunk, timeline: Timeline, first_lead_number: int
) -> LeadChunk:
    # The draws happen in a fixed order (converted leads, prospects, phones, sources, the
    # prospects' engagement): the helpers below are called in that order on purpose.
    converted, converted_created, converted_email = _converted_leads(rng, customers, timeline)
    prospects = _prospects(rng, customers.size, timeline, first_lead_number)
    converted_count, prospect_count = converted.size, prospects.created_at.size
    phone = _lead_phones(rng, converted_count + prospect_count)
    source = rng.integers(0, len(LEAD_SOURCES), size=converted_count + prospect_count)

    created_at = np.concatenate([converted_created, prospects.created_at])
    converted_at = np.concatenate([customers.created_at[converted], np.zeros(prospect_count, np.int64)])
    is_converted = np.arange(converted_count + prospect_count) < converted_count
    status_code = np.concatenate([np.zeros(converted_count, np.int64), prospects.status + 1])
    order = np.lexsort((np.arange(created_at.size), created_at))
    leads = pl.DataFrame(
        {
            "lead_id": identifiers("L", first_lead_number + 1, created_at.size, 7),
            "created_at": created_at[order],
            "email": pl.concat([converted_email, prospects.email]).gather(order),
            "phone": phone.gather(order),
            "source": pick_text(LEAD_SOURCES, source[order]),
            "status": pick_text(("converted", *LEAD_STATUSES_OPEN), status_code[order]),
            "converted_at": nullable_seconds(converted_at[order], is_converted[order]),
        }
    ).with_columns(timestamp_text("created_at"), timestamp_text("converted_at"))

    subscribed = np.nonzero(prospects.opt_in)[0]
    return LeadChunk(
        leads=leads,
        prospect_email=prospects.email.gather(subscribed),
        prospect_created_at=prospects.created_at[subscribed],
        prospect_engagement=rng.standard_normal(subscribed.size) + PROSPECT_ENGAGEMENT_SHIFT,
    )


def _converted_leads(
    rng: np.random.Generator, customers: CustomerChunk, timeline: Timeline
) -> tuple[np.ndarray, np.ndarray, pl.Series]:
    """(which new customers came in as a lead, when the lead was created, its email as typed):
    the lead predates the customer record by a few weeks."""
    new_customer = customers.created_at >= timeline.start
    converted = np.nonzero(
        new_customer & customers.has_email & (rng.random(customers.size) < CONVERTED_SHARE_OF_NEW_CUSTOMERS)
    )[0]
    lead_age = (rng.exponential(25 * SECONDS_PER_DAY, size=converted.size) + 3600).astype(np.int64)
    converted_created = customers.created_at[converted] - lead_age
    return converted, converted_created, spell_like_marketing(rng, customers.email.gather(converted))


@dataclass
class _Prospects:
    """Leads that are not (yet) customers."""

    created_at: np.ndarray
    opt_in: np.ndarray  # subscribed to the newsletter
    email: pl.Series  # as the marketing tool holds it; null without one
    status: np.ndarray  # index into LEAD_STATUSES_OPEN


def _prospects(rng: np.random.Generator, customers: int, timeline: Timeline, first_lead_number: int) -> _Prospects:
    prospect_count = int(rng.poisson(PROSPECTS_PER_CUSTOMER * customers))
    prospect_created = timeline.sample_between(
        rng, np.full(prospect_count, timeline.start), np.full(prospect_count, timeline.end), hours=OFFICE_HOURS
    )
    has_email = rng.random(prospect_count) < PROSPECT_EMAIL_SHARE
    opt_in = has_email & (rng.random(prospect_count) < PROSPECT_OPT_IN_SHARE)
    token = email_tokens(np.arange(first_lead_number, first_lead_number + prospect_count))
    names = pl.DataFrame(
        {
            "first": pick_text(FIRST_NAMES, rng.integers(0, len(FIRST_NAMES), size=prospect_count)),
            "last": pick_text(LAST_NAMES, rng.integers(0, len(LAST_NAMES), size=prospect_count)),
            "token": token,
            "domain": pick_text(FREE_MAIL_DOMAINS, rng.integers(0, len(FREE_MAIL_DOMAINS), size=prospect_count)),
            "has_email": has_email,
        }
    )
    true_email = names.select(
        pl.when(pl.col("has_email"))
        .then(pl.col("first") + "_" + pl.col("last") + pl.col("token").cast(pl.String) + "@" + pl.col("domain"))
        .alias("email")
    ).to_series()
    prospect_email = spell_like_marketing(rng, true_email)

    # Older open leads are more often lost; young ones are still new.
    age_days = (timeline.end - prospect_created) / SECONDS_PER_DAY
    lost_share = np.minimum(0.8, age_days / 365.0)
    status_draw = rng.random(prospect_count)
    status = np.where(
        age_days < 14,
        np.where(status_draw < 0.7, 0, 1),
        np.where(status_draw < lost_share, 3, np.where(status_draw < lost_share + (1 - lost_share) * 0.6, 1, 2)),
    )
    return _Prospects(prospect_created, opt_in, prospect_email, status)


def _lead_phones(rng: np.random.Generator, count: int) -> pl.Series:
    """A North American number on a bit under half of the leads, null on the others."""
    phone_present = rng.random(count) < 0.45
    phone_number = rng.integers(0, 10_000_000, size=count)
    phone_area = rng.integers(201, 990, size=count)
    return pl.select(
        pl.when(pl.Series(phone_present)).then(
            "+1 "
            + pl.Series(phone_area).cast(pl.String)
            + "-"
            + pl.Series(phone_number).cast(pl.String).str.zfill(7).str.slice(0, 3)
            + "-"
            + pl.Series(phone_number).cast(pl.String).str.zfill(7).str.slice(3, 4)
        )
    ).to_series()
