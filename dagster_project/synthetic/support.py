"""Support tickets and the satisfaction surveys that follow them.

Tickets arrive at a low base rate while a customer is active, plus a burst that builds up over
the months before churn: people who are about to leave complain more, wait longer for an
answer, see more tickets left unresolved and score the service lower. That makes the support
data an early-warning source, noisy but real.

Many tickets come in by email without a customer id; the requester's address is typed however
the requester typed it, so the warehouse has to match it to the customer by address.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from dagster_project.core.contracts import TICKET_CHANNELS, TICKET_PRIORITIES, TICKET_STATUSES

from .contact_truth import contact_truth
from .customers import DECLINE_DAYS, NEVER, CustomerChunk, churn_risk, spell_like_marketing
from .formats import identifiers, nullable_seconds, pick_text, timestamp_text
from .randomness import categorical
from .timeline import DAYS_PER_MONTH, OFFICE_HOURS, SECONDS_PER_DAY, Timeline
from .vocabulary import COMMENT_ENDINGS, COMMENTS, TICKET_TOPICS

SEGMENT_MONTHLY_TICKETS = np.array([0.035, 0.07, 0.16])
TICKET_ENGAGEMENT_EFFECT = 0.3
# Extra ticket rate at full churn risk: a multiple of the base rate plus a floor.
RISK_TICKET_MULTIPLE = 3.0
RISK_TICKET_FLOOR = 0.06
POST_CHURN_TICKET_DAYS = 30  # a last complaint can come shortly after the last purchase
BLANK_CUSTOMER_ID_SHARE = 0.30
BLANK_REQUESTER_SHARE = 0.03  # of tickets that do carry the customer id
CHANNEL_WEIGHTS = np.array([0.40, 0.25, 0.20, 0.15])  # email, phone, chat, web
PRIORITY_WEIGHTS = np.array([0.25, 0.50, 0.18, 0.07])  # low, normal, high, urgent
PRIORITY_RESPONSE_FACTOR = np.array([1.4, 1.0, 0.6, 0.3])
TOPIC_WEIGHTS = np.array([0.30, 0.18, 0.22, 0.15, 0.15])  # delivery, billing, quality, service, returns
RISK_TOPIC_SHIFT = np.array([0.0, 0.05, 0.12, 0.12, 0.0])
FIRST_RESPONSE_MEDIAN_HOURS = 3.0
RISK_RESPONSE_SLOWDOWN = 2.0  # first response up to 3x slower at full risk
UNRESOLVED_RATE = 0.06
RISK_UNRESOLVED_RATE = 0.30
RESOLUTION_MEDIAN_HOURS = 20.0
CLOSED_AFTER_DAYS = 7
AGENTS = 36
SURVEY_RESPONSE_RATE = (0.38, 0.18)  # resolved, unresolved
UNRESOLVED_SURVEY_DAYS = 5  # the survey of an unresolved ticket goes out after this many days
COMMENT_SHARE = 0.78

OPEN, PENDING, SOLVED, CLOSED = (TICKET_STATUSES.index(name) for name in ("open", "pending", "solved", "closed"))
SENTIMENTS = ("negative", "neutral", "positive")


@dataclass
class SupportChunk:
    tickets: pl.DataFrame
    satisfaction_surveys: pl.DataFrame
    contacts: pl.DataFrame  # contact truth of every ticket: the customer who raised it


def ticket_times(
    rng: np.random.Generator, customers: CustomerChunk, timeline: Timeline
) -> tuple[np.ndarray, np.ndarray]:
    active_from = np.maximum(customers.created_at, timeline.start)
    base_until = np.minimum(
        np.minimum(customers.churn_at, NEVER - 1) + POST_CHURN_TICKET_DAYS * SECONDS_PER_DAY, timeline.end
    )
    base_rate = SEGMENT_MONTHLY_TICKETS[customers.segment] * np.exp(-TICKET_ENGAGEMENT_EFFECT * customers.engagement)
    counts = rng.poisson(base_rate * timeline.exposure(active_from, base_until))
    base_owner = np.repeat(np.arange(customers.size), counts)
    base_times = timeline.sample_between(rng, active_from[base_owner], base_until[base_owner], OFFICE_HOURS)

    # The pre-churn burst: intensity rises linearly to its peak at churn (a triangle).
    decline = DECLINE_DAYS * SECONDS_PER_DAY
    churn_at = customers.churn_at
    ramp = (churn_at < NEVER) & (churn_at - decline < timeline.end) & (churn_at > active_from)
    peak = RISK_TICKET_MULTIPLE * base_rate + RISK_TICKET_FLOOR
    burst_counts = np.where(ramp, rng.poisson(peak * DECLINE_DAYS / DAYS_PER_MONTH / 2), 0)
    burst_owner = np.repeat(np.arange(customers.size), burst_counts)
    before_churn = (decline * (1 - np.sqrt(rng.random(burst_owner.size)))).astype(np.int64)
    burst_times = churn_at[burst_owner] - before_churn
    burst_day = burst_times - (burst_times - timeline.start) % SECONDS_PER_DAY
    burst_times = burst_day + rng.integers(8 * 3600, 20 * 3600, size=burst_owner.size)
    inside = (burst_times >= active_from[burst_owner]) & (burst_times < np.minimum(churn_at[burst_owner], timeline.end))
    return (np.concatenate([base_owner, burst_owner[inside]]), np.concatenate([base_times, burst_times[inside]]))


def comment_texts(rng: np.random.Generator, topic: np.ndarray, sentiment: np.ndarray) -> pl.Series:
    templates: list[str] = []
    offsets = np.zeros((len(TICKET_TOPICS), len(SENTIMENTS)), dtype=np.int64)
    sizes = np.zeros_like(offsets)
    for t, name in enumerate(TICKET_TOPICS):
        for s, feeling in enumerate(SENTIMENTS):
            offsets[t, s] = len(templates)
            sizes[t, s] = len(COMMENTS[name][feeling])
            templates.extend(COMMENTS[name][feeling])
    endings: list[str] = []
    ending_offsets = np.zeros(len(SENTIMENTS), dtype=np.int64)
    ending_sizes = np.zeros(len(SENTIMENTS), dtype=np.int64)
    for s, feeling in enumerate(SENTIMENTS):
        ending_offsets[s] = len(endings)
        ending_sizes[s] = len(COMMENT_ENDINGS[feeling])
        endings.extend(COMMENT_ENDINGS[feeling])
    count = topic.size
    template = offsets[topic, sentiment] + np.floor(rng.random(count) * sizes[topic, sentiment]).astype(np.int64)
    ending = ending_offsets[sentiment] + np.floor(rng.random(count) * ending_sizes[sentiment]).astype(np.int64)
    return pl.select(pick_text(templates, template) + pick_text(endings, ending)).to_series()


def simulate_support(
    rng: np.random.Generator,
    customers: CustomerChunk,
    timeline: Timeline,
    first_ticket_number: int,
    first_survey_number: int,
) -> SupportChunk:
    # The draws happen in a fixed order (times, kinds, handling, the export's blanks and spelling,
    # surveys): the helpers below are called in that order on purpose.
    owner, created_at = ticket_times(rng, customers, timeline)
    order = np.lexsort((owner, created_at))
    owner, created_at = owner[order], created_at[order]
    risk = churn_risk(created_at, customers.churn_at[owner])
    channel, priority, topic = _ticket_kinds(rng, risk)
    handling = _handle_tickets(rng, created_at, priority, risk, timeline)

    count = owner.size
    has_email = customers.has_email[owner]
    blank_customer = has_email & (rng.random(count) < BLANK_CUSTOMER_ID_SHARE)
    blank_requester = ~blank_customer & (rng.random(count) < BLANK_REQUESTER_SHARE)
    requester = spell_like_marketing(rng, customers.email.gather(owner))
    ticket_ids = identifiers("T", first_ticket_number + 1, count, 8)
    tickets = pl.DataFrame(
        {
            "ticket_id": ticket_ids,
            "created_at": created_at,
            "customer_id": customers.customer_ids.gather(owner).scatter(np.nonzero(blank_customer)[0], None),
            "requester_email": requester.scatter(np.nonzero(blank_requester)[0], None),
            "channel": pick_text(TICKET_CHANNELS, channel),
            "priority": pick_text(TICKET_PRIORITIES, priority),
            "category": pick_text(TICKET_TOPICS, topic),
            "status": pick_text(TICKET_STATUSES, handling.status),
            "first_response_at": nullable_seconds(handling.first_response_at, handling.responded),
            "resolved_at": nullable_seconds(handling.resolved_at, handling.resolved),
            "agent_id": identifiers("A", 1, AGENTS, 3)
            .gather(handling.agent - 1)
            .scatter(np.nonzero(~handling.responded)[0], None),
        }
    ).with_columns(timestamp_text("created_at"), timestamp_text("first_response_at"), timestamp_text("resolved_at"))
    contacts = contact_truth(
        "ticket",
        ticket_ids,
        customers.customer_ids.gather(owner),
        tickets.get_column("requester_email"),
        customers.email_is_shared[owner],
    )
    surveys = _surveys(
        rng, customers, owner, created_at, risk, topic, handling, ticket_ids, first_survey_number, timeline
    )
    return SupportChunk(tickets=tickets, satisfaction_surveys=surveys, contacts=contacts)


def _ticket_kinds(rng: np.random.Generator, risk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(channel, priority, topic) of every ticket; customers close to churning raise more billing,
    quality and service topics."""
    count = risk.size
    channel = rng.choice(len(TICKET_CHANNELS), size=count, p=CHANNEL_WEIGHTS)
    priority = rng.choice(len(TICKET_PRIORITIES), size=count, p=PRIORITY_WEIGHTS)
    topic_weights = TOPIC_WEIGHTS[None, :] + risk[:, None] * RISK_TOPIC_SHIFT[None, :]
    topic = categorical(rng, np.cumsum(topic_weights / topic_weights.sum(axis=1, keepdims=True), axis=1))
    return channel, priority, topic


@dataclass
class _Handling:
    """How each ticket was handled by the end of the window."""

    response_hours: np.ndarray
    first_response_at: np.ndarray
    responded: np.ndarray  # before the end of the window
    resolved_at: np.ndarray
    resolved: np.ndarray  # before the end of the window
    status: np.ndarray
    agent: np.ndarray  # who answered (1-based); none before a response


def _handle_tickets(
    rng: np.random.Generator, created_at: np.ndarray, priority: np.ndarray, risk: np.ndarray, timeline: Timeline
) -> _Handling:
    """Urgent tickets are answered sooner; customers close to churning wait longer and see more
    tickets left unresolved."""
    count = created_at.size
    response_hours = (
        FIRST_RESPONSE_MEDIAN_HOURS
        * np.exp(0.9 * rng.standard_normal(count))
        * PRIORITY_RESPONSE_FACTOR[priority]
        * (1 + RISK_RESPONSE_SLOWDOWN * risk)
    )
    first_response_at = created_at + 60 + (response_hours * 3600).astype(np.int64)
    responded = first_response_at < timeline.end
    resolution_hours = RESOLUTION_MEDIAN_HOURS * np.exp(rng.standard_normal(count)) * (1 + risk)
    resolved_at = first_response_at + 300 + (resolution_hours * 3600).astype(np.int64)
    left_open = rng.random(count) < UNRESOLVED_RATE + RISK_UNRESOLVED_RATE * risk
    resolved = responded & ~left_open & (resolved_at < timeline.end)
    closed = resolved & (resolved_at < timeline.end - CLOSED_AFTER_DAYS * SECONDS_PER_DAY) & (rng.random(count) < 0.85)
    status = np.where(
        resolved, np.where(closed, CLOSED, SOLVED), np.where(responded & (rng.random(count) < 0.5), PENDING, OPEN)
    )
    agent = rng.integers(1, AGENTS + 1, size=count)
    return _Handling(response_hours, first_response_at, responded, resolved_at, resolved, status, agent)


def _surveys(
    rng: np.random.Generator,
    customers: CustomerChunk,
    owner: np.ndarray,
    created_at: np.ndarray,
    risk: np.ndarray,
    topic: np.ndarray,
    handling: _Handling,
    ticket_ids: pl.Series,
    first_survey_number: int,
    timeline: Timeline,
) -> pl.DataFrame:
    """The satisfaction surveys export: scores fall with churn risk, unresolved tickets and slow
    answers, and rise with engagement; most answers carry a comment matching the score.

    Surveys go out after a resolution, or after some days for a ticket still unresolved.
    """
    count = owner.size
    resolved = handling.resolved
    survey_base = np.where(resolved, handling.resolved_at, created_at + UNRESOLVED_SURVEY_DAYS * SECONDS_PER_DAY)
    answer_rate = np.where(resolved, SURVEY_RESPONSE_RATE[0], SURVEY_RESPONSE_RATE[1])
    responded_at = survey_base + 600 + rng.exponential(20 * 3600, size=count).astype(np.int64)
    answers = np.nonzero(handling.responded & (rng.random(count) < answer_rate) & (responded_at < timeline.end))[0]
    slow = np.clip(np.log(handling.response_hours[answers] / FIRST_RESPONSE_MEDIAN_HOURS), -1.0, 2.0)
    latent = (
        4.3
        - 1.7 * risk[answers]
        - 1.1 * (~resolved[answers])
        - 0.35 * slow
        + 0.3 * customers.engagement[owner[answers]]
        + 0.75 * rng.standard_normal(answers.size)
    )
    score = np.clip(np.round(latent), 1, 5).astype(np.int64)
    sentiment = np.where(score <= 2, 0, np.where(score == 3, 1, 2))
    comment = comment_texts(rng, topic[answers], sentiment)
    without_comment = np.nonzero(rng.random(answers.size) >= COMMENT_SHARE)[0]
    survey_order = np.lexsort((answers, responded_at[answers]))
    return pl.DataFrame(
        {
            "survey_id": identifiers("S", first_survey_number + 1, answers.size, 8),
            "ticket_id": ticket_ids.gather(answers[survey_order]),
            "score": score[survey_order],
            "responded_at": responded_at[answers][survey_order],
            "comment": comment.scatter(without_comment, None).gather(survey_order),
        }
    ).with_columns(timestamp_text("responded_at"))
