"""Orders and order lines: when customers buy, what they put in the basket, what they pay.

Each customer buys as a Poisson process on the seasonal activity curve, at a rate set by their
segment and latent value, from creation (or the window start) until churn. New customers place
their first order right after their record is created. Campaign-targeted customers get extra
orders holding the offer product during the campaign window, exactly enough to multiply their
expected offer-product orders by the campaign's true multiplier.

Amounts are integer cents throughout, so an order's total is the exact sum of its lines.

A few completed orders are partly refunded later: the refund is an order record of its own
(``R`` + the order's number, status ``refunded``), the way sales systems export credit notes,
mostly with a negative amount and sometimes with a positive one (the status says what it is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from dagster_project.core.contracts import ORDER_STATUSES, SALES_CHANNELS

from .campaigns import CampaignPlan
from .catalogue import Catalogue
from .customers import CHANNEL_PREFERENCE, CustomerChunk, churn_risk
from .formats import identifiers, money_text, pick_text, timestamp_text
from .marketing import Targeting
from .timeline import ORDER_HOURS, SECONDS_PER_DAY, Timeline

SEGMENT_MONTHLY_ORDERS = np.array([0.22, 0.45, 1.0])  # at value 1 and average season
EXTRA_LINES_MEAN = np.array([0.6, 1.4, 2.4])  # lines beyond the first, Poisson mean
EXTRA_UNITS_MEAN = np.array([0.12, 0.9, 2.5])  # units beyond the first, Poisson mean
MAX_LINES = 25
FIRST_ORDER_SHARE = 0.95  # new customers who buy at sign-up
NEGOTIATED_PRICE_FACTOR = np.array([1.0, 1.0, 0.93])  # enterprise contract prices
LINE_DISCOUNT_SHARE = 0.10
LINE_DISCOUNT_RANGE = (0.05, 0.25)
OFFER_DISCOUNT_RANGE = (0.10, 0.20)
PREFERRED_CHANNEL_SHARE = 0.70
PENDING_DAYS = 3  # orders younger than this at the end of the window may still be pending
PENDING_SHARE = 0.75
CANCELLED_RATE = 0.04
RETURNED_RATE = 0.055
RISK_RETURN_RATE = 0.06  # unhappy customers send more back
RISK_CANCEL_RATE = 0.02
REFUND_RATE = 0.03  # completed orders partly refunded later
REFUND_SHARE_RANGE = (0.1, 1.0)  # of the order's total
REFUND_DELAY_DAYS = (2, 30)
POSITIVE_REFUND_SHARE = 0.25  # refunds exported with a positive amount (their status marks them)

COMPLETED, CANCELLED, RETURNED, PENDING = (
    ORDER_STATUSES.index(name) for name in ("completed", "cancelled", "returned", "pending")
)


@dataclass
class PurchaseChunk:
    orders: pl.DataFrame
    order_lines: pl.DataFrame
    revenue_cents: int


def order_times(
    rng: np.random.Generator,
    customers: CustomerChunk,
    catalogue: Catalogue,
    plan: CampaignPlan,
    targeting: Targeting,
    timeline: Timeline,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer, ordered_at, campaign index or -1) of every order of the chunk, unsorted."""
    active_from = np.maximum(customers.created_at, timeline.start)
    active_until = np.minimum(customers.churn_at, timeline.end)
    rate = SEGMENT_MONTHLY_ORDERS[customers.segment] * customers.value

    counts = rng.poisson(rate * timeline.exposure(active_from, active_until))
    ordinary = np.repeat(np.arange(customers.size), counts)
    owners = [ordinary]
    times = [timeline.sample_between(rng, active_from[ordinary], active_until[ordinary], ORDER_HOURS)]

    sign_up_delay = rng.integers(30, 1200, size=customers.size)
    buys_at_sign_up = (
        (customers.created_at >= timeline.start)
        & (rng.random(customers.size) < FIRST_ORDER_SHARE)
        & (customers.created_at + sign_up_delay < active_until)
    )
    owners.append(np.nonzero(buys_at_sign_up)[0])
    times.append(customers.created_at[buys_at_sign_up] + sign_up_delay[buys_at_sign_up])
    campaigns = [np.full(owners[0].size + owners[1].size, -1)]

    for campaign in range(len(plan)):
        reached = np.nonzero(targeting.targeted[:, campaign])[0]
        window_from = np.maximum(active_from[reached], plan.started_at[campaign])
        window_until = np.minimum(active_until[reached], plan.ended_at[campaign] + 1)
        # Expected ordinary orders containing the offer: the baseline the multiplier applies to.
        ordinary_offer_orders = (
            rate[reached]
            * timeline.exposure(window_from, window_until)
            * catalogue.offer_inclusion_probability(
                customers.home_category[reached],
                EXTRA_LINES_MEAN[customers.segment[reached]],
                int(plan.offer_product[campaign]),
            )
        )
        extra = rng.poisson((plan.multiplier[campaign] - 1.0) * ordinary_offer_orders)
        buyers = np.repeat(np.arange(reached.size), extra)
        owners.append(reached[buyers])
        times.append(timeline.sample_between(rng, window_from[buyers], window_until[buyers], ORDER_HOURS))
        campaigns.append(np.full(buyers.size, campaign))
    return np.concatenate(owners), np.concatenate(times), np.concatenate(campaigns)


def simulate_purchases(
    rng: np.random.Generator,
    customers: CustomerChunk,
    catalogue: Catalogue,
    plan: CampaignPlan,
    targeting: Targeting,
    timeline: Timeline,
    first_order_number: int,
) -> PurchaseChunk:
    # The draws happen in a fixed order (times, baskets, prices, statuses, channels): the helpers
    # below are called in that order on purpose.
    owner, ordered_at, campaign = order_times(rng, customers, catalogue, plan, targeting, timeline)
    order = np.lexsort((campaign, owner, ordered_at))
    owner, ordered_at, campaign = owner[order], ordered_at[order], campaign[order]
    order_count = owner.size
    segment = customers.segment[owner]

    basket = _fill_baskets(rng, customers, catalogue, plan, owner, campaign)
    line_segment = segment[basket.line_order]
    quantity, unit_price, line_discount = _price_lines(rng, catalogue, basket, line_segment)
    line_net = quantity * unit_price - line_discount
    order_total = np.bincount(basket.line_order, weights=line_net, minlength=order_count).round().astype(np.int64)
    order_discount = (
        np.bincount(basket.line_order, weights=line_discount, minlength=order_count).round().astype(np.int64)
    )
    status = _order_statuses(rng, customers, owner, ordered_at, timeline)
    channel = _order_channels(rng, customers, owner, segment, campaign >= 0)

    order_ids = identifiers("O", first_order_number + 1, order_count, 8)
    orders = pl.DataFrame(
        {
            "order_id": order_ids,
            "customer_id": customers.customer_ids.gather(owner),
            "ordered_at": ordered_at,
            "status": pick_text(ORDER_STATUSES, status),
            "channel": pick_text(SALES_CHANNELS, channel),
            "currency": pl.repeat("USD", order_count, eager=True, dtype=pl.String),
            "total_amount": order_total,
            "discount_amount": order_discount,
        }
    ).with_columns(timestamp_text("ordered_at"), money_text("total_amount"), money_text("discount_amount"))
    order_lines = pl.DataFrame(
        {
            "order_id": order_ids.gather(basket.line_order),
            "line_number": basket.line_number.astype(np.int64),
            "product_id": pl.Series(catalogue.product_ids, dtype=pl.String).gather(basket.product),
            "quantity": quantity.astype(np.int64),
            "unit_price": unit_price,
            "discount_amount": line_discount,
        }
    ).with_columns(money_text("unit_price"), money_text("discount_amount"))
    return PurchaseChunk(orders=orders, order_lines=order_lines, revenue_cents=int(order_total.sum()))


@dataclass
class _Baskets:
    line_order: np.ndarray  # per line: the order's position; lines of an order are contiguous
    product: np.ndarray  # per line: the product's index in the catalogue
    is_offer_line: np.ndarray  # per line: the campaign's offer product (the first line)
    line_number: np.ndarray  # per line: 1, 2, ... within its order


def _fill_baskets(
    rng: np.random.Generator,
    customers: CustomerChunk,
    catalogue: Catalogue,
    plan: CampaignPlan,
    owner: np.ndarray,
    campaign: np.ndarray,
) -> _Baskets:
    """Line 1 follows the customer's home category (or is the campaign's offer), the other lines
    follow line 1's category through the affinity matrix; a product appears once per order."""
    order_count = owner.size
    line_counts = 1 + np.minimum(rng.poisson(EXTRA_LINES_MEAN[customers.segment[owner]]), MAX_LINES - 1)
    line_order = np.repeat(np.arange(order_count), line_counts)
    order_first_line = np.cumsum(line_counts) - line_counts
    is_first_line = np.zeros(line_order.size, dtype=bool)
    is_first_line[order_first_line] = True

    from_campaign = campaign >= 0
    offer_product = np.zeros(order_count, dtype=np.int64)
    offer_product[from_campaign] = plan.offer_product[campaign[from_campaign]]
    anchor = catalogue.next_categories(rng, customers.home_category[owner])
    anchor = np.where(from_campaign, catalogue.product_category[offer_product], anchor)
    line_category = anchor[line_order]
    follow_lines = np.nonzero(~is_first_line)[0]
    line_category[follow_lines] = catalogue.next_categories(rng, anchor[line_order[follow_lines]])
    product = catalogue.pick_products(rng, line_category)
    offer_lines = order_first_line[from_campaign]
    product[offer_lines] = offer_product[from_campaign]

    # Later picks of a product already in the order are dropped.
    _, first_pick = np.unique(line_order * catalogue.product_ids.size + product, return_index=True)
    keep = np.zeros(line_order.size, dtype=bool)
    keep[first_pick] = True
    is_offer_line = np.zeros(line_order.size, dtype=bool)
    is_offer_line[offer_lines] = True
    line_order, product, is_offer_line = line_order[keep], product[keep], is_offer_line[keep]
    line_number = np.arange(line_order.size) - np.searchsorted(line_order, line_order, side="left") + 1
    return _Baskets(line_order, product, is_offer_line, line_number)


def _price_lines(
    rng: np.random.Generator, catalogue: Catalogue, basket: _Baskets, line_segment: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(quantity, unit price, discount) of every line, in integer cents: enterprise contract
    prices, a few discounted lines, and every offer line discounted."""
    lines = basket.line_order.size
    quantity = 1 + rng.poisson(EXTRA_UNITS_MEAN[line_segment])
    unit_price = np.round(catalogue.list_cents[basket.product] * NEGOTIATED_PRICE_FACTOR[line_segment]).astype(np.int64)
    discount_rate = np.where(
        rng.random(lines) < LINE_DISCOUNT_SHARE, rng.uniform(*LINE_DISCOUNT_RANGE, size=lines), 0.0
    )
    discount_rate = np.where(basket.is_offer_line, rng.uniform(*OFFER_DISCOUNT_RANGE, size=lines), discount_rate)
    line_discount = np.round(quantity * unit_price * discount_rate).astype(np.int64)
    return quantity, unit_price, line_discount


def _order_statuses(
    rng: np.random.Generator, customers: CustomerChunk, owner: np.ndarray, ordered_at: np.ndarray, timeline: Timeline
) -> np.ndarray:
    """Customers close to churning cancel and return more; the last days' orders may be pending."""
    order_count = owner.size
    risk = churn_risk(ordered_at, customers.churn_at[owner])
    status_draw = rng.random(order_count)
    cancelled_rate = CANCELLED_RATE + RISK_CANCEL_RATE * risk
    returned_rate = RETURNED_RATE + RISK_RETURN_RATE * risk
    status = np.where(
        status_draw < cancelled_rate,
        CANCELLED,
        np.where(status_draw < cancelled_rate + returned_rate, RETURNED, COMPLETED),
    )
    recent = ordered_at >= timeline.end - PENDING_DAYS * SECONDS_PER_DAY
    return np.where(recent & (rng.random(order_count) < PENDING_SHARE), PENDING, status)


def _order_channels(
    rng: np.random.Generator,
    customers: CustomerChunk,
    owner: np.ndarray,
    segment: np.ndarray,
    from_campaign: np.ndarray,
) -> np.ndarray:
    """Mostly the customer's preferred channel, else any by segment; campaign orders mostly web."""
    order_count = owner.size
    any_channel = (rng.random(order_count)[:, None] > np.cumsum(CHANNEL_PREFERENCE, axis=1)[segment]).sum(axis=1)
    channel = np.where(
        rng.random(order_count) < PREFERRED_CHANNEL_SHARE, customers.preferred_channel[owner], any_channel
    )
    return np.where(from_campaign & (rng.random(order_count) < 0.8), SALES_CHANNELS.index("web"), channel)


def issue_refunds(rng: np.random.Generator, orders: pl.DataFrame, timeline: Timeline) -> pl.DataFrame:
    """Refund records for a few completed orders, issued days after them inside the window.

    Drawn from a random stream of their own, so every other record of the export set is the same
    with or without them."""
    completed = orders.filter(pl.col("status") == "completed")
    refunded = completed.filter(pl.Series(rng.random(completed.height) < REFUND_RATE))
    ordered_at = refunded["ordered_at"].str.to_datetime("%Y-%m-%dT%H:%M:%SZ").dt.epoch("s").to_numpy()
    issued_at = ordered_at + rng.integers(*REFUND_DELAY_DAYS, size=refunded.height) * SECONDS_PER_DAY
    total_cents = (refunded["total_amount"].cast(pl.Float64) * 100).round().cast(pl.Int64).to_numpy()
    refund_cents = np.maximum(1, np.round(total_cents * rng.uniform(*REFUND_SHARE_RANGE, refunded.height)))
    is_positive = rng.random(refunded.height) < POSITIVE_REFUND_SHARE
    inside = issued_at < timeline.end
    refunds = pl.DataFrame(
        {
            "order_id": "R" + refunded["order_id"].str.slice(1),
            "customer_id": refunded["customer_id"],
            "ordered_at": issued_at,
            "status": pl.repeat("refunded", refunded.height, eager=True, dtype=pl.String),
            "channel": refunded["channel"],
            "currency": refunded["currency"],
            "total_amount": refund_cents.astype(np.int64),
            "is_positive": is_positive,
        }
    ).filter(pl.Series(inside))
    return refunds.select(
        "order_id",
        "customer_id",
        timestamp_text("ordered_at"),
        "status",
        "channel",
        "currency",
        pl.when(pl.col("is_positive"))
        .then(pl.lit(""))
        .otherwise(pl.lit("-"))
        .add(money_text("total_amount"))
        .alias("total_amount"),
        pl.lit(None, dtype=pl.String).alias("discount_amount"),
    )
