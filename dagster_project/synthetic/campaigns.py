"""The campaign calendar and each campaign's true effect.

Campaigns are planned once for the whole run (they are a small table), before any customer
exists, so every chunk targets against the same calendar. Each campaign promotes one best-selling
product to one segment. Inside a chunk a random share of the eligible customers is targeted and
the rest is a holdout; targeted customers then buy the offer product at ``multiplier`` times
their ordinary rate during the campaign window (see purchases.py). Random assignment makes the
holdout comparable, so the recorded multiplier is what an honest uplift analysis should find.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from .catalogue import SEGMENTS, Catalogue
from .formats import money_text, timestamp_text
from .timeline import SECONDS_PER_DAY, Timeline

CAMPAIGN_CHANNELS: tuple[str, ...] = ("email", "social", "search", "display")
CHANNEL_WEIGHTS = np.array([0.55, 0.20, 0.15, 0.10])
# Media cost per reached contact; email is nearly free, search is dear.
COST_PER_CONTACT = np.array([0.04, 0.55, 1.10, 0.35])
TARGET_SEGMENT_WEIGHTS = np.array([0.50, 0.30, 0.20])
# Share of eligible customers who get the campaign; the others are the holdout.
TARGETED_SHARE = 0.6
MULTIPLIER_RANGE = (2.0, 3.5)
# Shares used only to size the (made-up) cost: customers.py draws the actual segments.
EXPECTED_SEGMENT_SHARES = np.array([0.78, 0.17, 0.05])
EXPECTED_REACHABLE_SHARE = 0.65


@dataclass(frozen=True)
class CampaignPlan:
    campaign_ids: np.ndarray
    target_segment: np.ndarray  # segment index
    offer_product: np.ndarray  # product index in the catalogue
    started_at: np.ndarray  # epoch seconds
    ended_at: np.ndarray  # epoch seconds, inclusive
    multiplier: np.ndarray  # true purchase-rate multiplier of the offer product
    campaigns: pl.DataFrame  # the campaigns export, contract columns

    def __len__(self) -> int:
        return int(self.campaign_ids.shape[0])


def plan_campaigns(rng: np.random.Generator, timeline: Timeline, catalogue: Catalogue, customers: int) -> CampaignPlan:
    # The draws happen in a fixed order (windows, segments, channels, offers, multipliers,
    # costs): the helpers below are called in that order on purpose.
    starts, ends = _campaign_windows(rng, timeline)
    count = len(starts)
    segment = rng.choice(len(SEGMENTS), size=count, p=TARGET_SEGMENT_WEIGHTS)
    channel = rng.choice(len(CAMPAIGN_CHANNELS), size=count, p=CHANNEL_WEIGHTS)
    offer = np.empty(count, dtype=np.int64)
    for position in range(count):
        category = rng.choice(len(catalogue.categories), p=catalogue.segment_prior[segment[position]])
        members = catalogue.members[category]
        best_sellers = members[np.argsort(-catalogue.share_in_category[members], kind="stable")]
        offer[position] = best_sellers[int(rng.integers(0, 2))]
    multiplier = np.round(rng.uniform(*MULTIPLIER_RANGE, size=count), 2)

    audience = customers * EXPECTED_SEGMENT_SHARES[segment] * EXPECTED_REACHABLE_SHARE * TARGETED_SHARE
    cost = rng.uniform(300, 2500, size=count) + COST_PER_CONTACT[channel] * audience * rng.uniform(0.8, 1.2, size=count)
    cost_cents = np.round(cost * 100).astype(np.int64)

    campaign_ids = np.array([f"CMP{number:03d}" for number in range(1, count + 1)])
    names = [
        f"{datetime.fromtimestamp(int(starts[i]), UTC):%b %Y}: "
        f"{catalogue.categories[catalogue.product_category[offer[i]]].replace('_', ' ').title()} offer, "
        f"{SEGMENTS[segment[i]].replace('_', ' ')}"
        for i in range(count)
    ]
    frame = pl.DataFrame(
        {
            "campaign_id": campaign_ids,
            "name": names,
            "channel": np.array(CAMPAIGN_CHANNELS)[channel],
            "started_at": np.array(starts, dtype=np.int64),
            "ended_at": np.array(ends, dtype=np.int64),
            "cost": cost_cents,
            "target_segment": np.array(SEGMENTS)[segment],
            "offer_product_id": catalogue.product_ids[offer],
        },
        schema_overrides={
            "campaign_id": pl.String,
            "name": pl.String,
            "channel": pl.String,
            "target_segment": pl.String,
            "offer_product_id": pl.String,
        },
    ).with_columns(timestamp_text("started_at"), timestamp_text("ended_at"), money_text("cost"))
    return CampaignPlan(
        campaign_ids=campaign_ids,
        target_segment=segment,
        offer_product=offer,
        started_at=np.array(starts, dtype=np.int64),
        ended_at=np.array(ends, dtype=np.int64),
        multiplier=multiplier,
        campaigns=frame,
    )


def _campaign_windows(rng: np.random.Generator, timeline: Timeline) -> tuple[list[int], list[int]]:
    """(start, inclusive end) of every campaign: one every one to two months, two to five weeks
    long, the first a few weeks into the window, none starting in its last week."""
    starts: list[int] = []
    ends: list[int] = []
    day = timeline.start + int(rng.integers(10, 40)) * SECONDS_PER_DAY
    while day + 7 * SECONDS_PER_DAY < timeline.end:
        start = day + 8 * 3600 + int(rng.integers(0, 4 * 3600))
        duration_days = int(rng.integers(14, 36))
        starts.append(start)
        ends.append(min(day + duration_days * SECONDS_PER_DAY - 1, timeline.end - 1))
        day += int(rng.integers(30, 62)) * SECONDS_PER_DAY
    return starts, ends
