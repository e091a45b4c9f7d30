"""Email marketing: newsletters and campaign mailings, their engagement events, and targeting.

Every send slot (a newsletter every other Tuesday, one mailing per campaign) is a column of a
recipients x slots matrix, so a chunk's whole mailing history is simulated with array
operations. Opens and clicks fall with a recipient's engagement and with their churn risk,
which is how the churn signal reaches the marketing data. An unsubscribe removes the recipient
from every later slot, campaign mailings included, so campaign eligibility is decided after the
unsubscribes are known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from dagster_project.core.contracts import EMAIL_EVENT_TYPES

from .campaigns import TARGETED_SHARE, CampaignPlan
from .contact_truth import contact_truth
from .customers import NEVER, CustomerChunk, churn_risk
from .formats import identifiers, pick_text, timestamp_text
from .leads import LeadChunk
from .randomness import logit, sigmoid
from .timeline import SECONDS_PER_DAY, Timeline, newsletter_times

SENT, DELIVERED, OPENED, CLICKED, BOUNCED, UNSUBSCRIBED = (
    EMAIL_EVENT_TYPES.index(name) for name in ("sent", "delivered", "opened", "clicked", "bounced", "unsubscribed")
)
BOUNCE_RATE = 0.012
BASE_OPEN_RATE = 0.22
BASE_CLICK_RATE = 0.16  # of opens
OPEN_ENGAGEMENT_EFFECT = 0.9
OPEN_RISK_EFFECT = 1.8  # a customer about to churn opens far less
CLICK_ENGAGEMENT_EFFECT = 0.5
CLICK_RISK_EFFECT = 1.0
CAMPAIGN_OPEN_BOOST = 0.15
CAMPAIGN_CLICK_BOOST = 0.4
BASE_UNSUBSCRIBE_RATE = 0.002
RISK_UNSUBSCRIBE_RATE = 0.012


@dataclass
class SendSchedule:
    times: np.ndarray  # epoch seconds of each slot, ascending
    campaign: np.ndarray  # campaign index of the slot, -1 for a newsletter


@dataclass
class Targeting:
    eligible: np.ndarray  # (customers, campaigns) bool: could have been targeted
    targeted: np.ndarray  # (customers, campaigns) bool: received the campaign mailing


@dataclass
class MailingRecord:
    """Events of one group of recipients, as arrays (ids and text come later)."""

    recipient: np.ndarray
    event_type: np.ndarray
    occurred_at: np.ndarray
    campaign: np.ndarray
    first_unsubscribed_slot: np.ndarray


def send_schedule(timeline: Timeline, plan: CampaignPlan) -> SendSchedule:
    newsletters = newsletter_times(timeline)
    times = np.concatenate([newsletters, plan.started_at])
    campaign = np.concatenate([np.full(newsletters.size, -1), np.arange(len(plan))])
    order = np.lexsort((campaign, times))
    return SendSchedule(times=times[order], campaign=campaign[order])


def simulate_mailings(
    rng: np.random.Generator,
    schedule: SendSchedule,
    receives: np.ndarray,
    engagement: np.ndarray,
    churn_at: np.ndarray,
    end: int,
) -> MailingRecord:
    # The draws happen in a fixed order (send times, reactions, event times): the helpers below
    # are called in that order on purpose.
    recipients, slots = np.nonzero(receives)
    cells = recipients.size
    sent_at = schedule.times[slots] + rng.integers(0, 3600, size=cells)
    is_campaign = (schedule.campaign[slots] >= 0).astype(np.float64)
    bounced, opened, clicked, unsubscribed = _reactions(
        rng, engagement[recipients], churn_risk(sent_at, churn_at[recipients]), is_campaign
    )

    # Nothing is sent after the first unsubscribe; only the first one survives the cut.
    first_unsubscribed = np.full(receives.shape[0], receives.shape[1], dtype=np.int64)
    np.minimum.at(first_unsubscribed, recipients[unsubscribed], slots[unsubscribed])
    kept = slots <= first_unsubscribed[recipients]

    bounced_at, delivered_at, opened_at, clicked_at, unsubscribed_at = _event_times(rng, sent_at, opened)
    parts = (
        (kept, SENT, sent_at),
        (kept & bounced, BOUNCED, bounced_at),
        (kept & ~bounced, DELIVERED, delivered_at),
        (kept & opened, OPENED, opened_at),
        (kept & clicked, CLICKED, clicked_at),
        (kept & unsubscribed, UNSUBSCRIBED, unsubscribed_at),
    )
    recipient = np.concatenate([recipients[mask] for mask, _, _ in parts])
    event_type = np.concatenate([np.full(int(mask.sum()), code) for mask, code, _ in parts])
    occurred_at = np.concatenate([times[mask] for mask, _, times in parts])
    campaign = np.concatenate([schedule.campaign[slots[mask]] for mask, _, _ in parts])
    in_window = occurred_at < end
    return MailingRecord(
        recipient=recipient[in_window],
        event_type=event_type[in_window],
        occurred_at=occurred_at[in_window],
        campaign=campaign[in_window],
        first_unsubscribed_slot=first_unsubscribed,
    )


def _reactions(
    rng: np.random.Generator, level: np.ndarray, risk: np.ndarray, is_campaign: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bounced, opened, clicked, unsubscribed) per mail: engaged recipients open and click more,
    campaigns more than newsletters, and customers close to churning less and unsubscribe more."""
    cells = level.size
    bounced = rng.random(cells) < BOUNCE_RATE
    open_chance = sigmoid(
        logit(BASE_OPEN_RATE)
        + OPEN_ENGAGEMENT_EFFECT * level
        - OPEN_RISK_EFFECT * risk
        + CAMPAIGN_OPEN_BOOST * is_campaign
    )
    opened = ~bounced & (rng.random(cells) < open_chance)
    click_chance = sigmoid(
        logit(BASE_CLICK_RATE)
        + CLICK_ENGAGEMENT_EFFECT * level
        - CLICK_RISK_EFFECT * risk
        + CAMPAIGN_CLICK_BOOST * is_campaign
    )
    clicked = opened & (rng.random(cells) < click_chance)
    unsubscribe_chance = BASE_UNSUBSCRIBE_RATE * np.exp(-0.5 * level) + RISK_UNSUBSCRIBE_RATE * risk
    unsubscribed = ~bounced & (rng.random(cells) < unsubscribe_chance)
    return bounced, opened, clicked, unsubscribed


def _event_times(
    rng: np.random.Generator, sent_at: np.ndarray, opened: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bounced, delivered, opened, clicked, unsubscribed) times of every mail, whether or not the
    event happened: each follows the one before it; an unsubscribe follows the open, if any."""
    cells = sent_at.size
    delivered_at = sent_at + rng.integers(1, 90, size=cells)
    bounced_at = sent_at + rng.integers(1, 300, size=cells)
    open_delay = np.minimum(rng.exponential(8 * 3600, size=cells), 10 * SECONDS_PER_DAY).astype(np.int64)
    opened_at = delivered_at + 30 + open_delay
    clicked_at = opened_at + 5 + rng.exponential(180, size=cells).astype(np.int64)
    unsubscribed_at = np.where(
        opened,
        opened_at + rng.integers(20, 900, size=cells),
        delivered_at + rng.exponential(1.5 * SECONDS_PER_DAY, size=cells).astype(np.int64),
    )
    return bounced_at, delivered_at, opened_at, clicked_at, unsubscribed_at


def run_marketing(
    rng: np.random.Generator,
    customers: CustomerChunk,
    leads: LeadChunk,
    plan: CampaignPlan,
    schedule: SendSchedule,
    timeline: Timeline,
    first_event_number: int,
) -> tuple[pl.DataFrame, Targeting, pl.DataFrame]:
    """The chunk's email events (customers and prospects), who each campaign reached, and the
    contact truth of every event (the customer it really went to; none for a prospect)."""
    customer_mail, targeting = _mail_customers(rng, customers, plan, schedule, timeline)
    # Prospects get the newsletters sent after they signed up, no campaigns.
    newsletter_only = (schedule.campaign < 0)[None, :] & (leads.prospect_created_at[:, None] <= schedule.times[None, :])
    prospect_mail = simulate_mailings(
        rng,
        schedule,
        newsletter_only,
        leads.prospect_engagement,
        np.full(leads.prospect_created_at.size, NEVER),
        timeline.end,
    )

    email = pl.concat(
        [
            customers.marketing_email.gather(customer_mail.recipient),
            leads.prospect_email.gather(prospect_mail.recipient),
        ]
    )
    occurred_at = np.concatenate([customer_mail.occurred_at, prospect_mail.occurred_at])
    event_type = np.concatenate([customer_mail.event_type, prospect_mail.event_type])
    campaign = np.concatenate([customer_mail.campaign, prospect_mail.campaign])
    group = np.concatenate(
        [np.zeros(customer_mail.recipient.size, np.int64), np.ones(prospect_mail.recipient.size, np.int64)]
    )
    recipient = np.concatenate([customer_mail.recipient, prospect_mail.recipient])
    order = np.lexsort((event_type, recipient, group, occurred_at))
    campaign_ids = pl.Series(list(plan.campaign_ids) + [None], dtype=pl.String)
    events = pl.DataFrame(
        {
            "event_id": identifiers("E", first_event_number + 1, order.size, 9),
            "email": email.gather(order),
            "event_type": pick_text(EMAIL_EVENT_TYPES, event_type[order]),
            "occurred_at": occurred_at[order],
            "campaign_id": campaign_ids.gather(np.where(campaign[order] >= 0, campaign[order], len(plan))),
        }
    ).with_columns(timestamp_text("occurred_at"))
    return events, targeting, _event_contacts(events, customers, customer_mail, prospect_mail, order)


def _mail_customers(
    rng: np.random.Generator, customers: CustomerChunk, plan: CampaignPlan, schedule: SendSchedule, timeline: Timeline
) -> tuple[MailingRecord, Targeting]:
    """The customers' mailings, and who each campaign could reach (eligible) and did (targeted).

    A campaign goes to a random share of its segment's subscribers; the others are the holdout.
    """
    selected = rng.random((customers.size, len(plan))) < TARGETED_SHARE
    campaign_slots = np.nonzero(schedule.campaign >= 0)[0]
    slot_campaigns = schedule.campaign[campaign_slots]

    # Reachable: on the list when the slot goes out and, for a campaign, in its segment.
    reachable = customers.subscribed[:, None] & (customers.created_at[:, None] <= schedule.times[None, :])
    reachable[:, campaign_slots] &= customers.segment[:, None] == plan.target_segment[slot_campaigns][None, :]
    receives = reachable.copy()
    receives[:, campaign_slots] &= selected[:, slot_campaigns]
    customer_mail = simulate_mailings(rng, schedule, receives, customers.engagement, customers.churn_at, timeline.end)

    # Eligible only if still subscribed when the campaign went out.
    eligible = np.zeros((customers.size, len(plan)), dtype=bool)
    eligible[:, slot_campaigns] = reachable[:, campaign_slots] & (
        campaign_slots[None, :] <= customer_mail.first_unsubscribed_slot[:, None]
    )
    return customer_mail, Targeting(eligible=eligible, targeted=eligible & selected)


def _event_contacts(
    events: pl.DataFrame,
    customers: CustomerChunk,
    customer_mail: MailingRecord,
    prospect_mail: MailingRecord,
    order: np.ndarray,
) -> pl.DataFrame:
    """The contact truth of every event, in the events' order: the customer it went to (none for
    a prospect) and whether the address is a shared inbox."""
    owners = pl.concat(
        [
            customers.customer_ids.gather(customer_mail.recipient),
            pl.repeat(None, prospect_mail.recipient.size, eager=True, dtype=pl.String),
        ]
    )
    shared = np.concatenate(
        [customers.email_is_shared[customer_mail.recipient], np.zeros(prospect_mail.recipient.size, dtype=bool)]
    )
    return contact_truth(
        "email_event", events.get_column("event_id"), owners.gather(order), events.get_column("email"), shared[order]
    )
