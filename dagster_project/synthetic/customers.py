"""Customers: who they are (master data) and what drives them (latent traits).

Two latent traits drive everything a customer does later:
- ``engagement`` (standard normal): opens emails, opts in, rarely complains and churns slowly;
- ``value`` (lognormal, mean 1): scales how often they buy, which makes spend heavily skewed.
Each customer also gets a churn time from a hazard that falls with engagement; after it they
never buy again, and in the months before it their engagement visibly decays (marketing.py,
support.py). Churn times after the window are kept: those customers are about to leave.

The identity mess the warehouse must resolve is made here: emails in another case or wrapped in
spaces on the marketing side, a few company inboxes shared by two customer records, customers
with no email at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .catalogue import SEGMENTS, Catalogue
from .formats import identifiers, pick_text, timestamp_text
from .randomness import sigmoid
from .timeline import ORDER_HOURS, SECONDS_PER_DAY, SECONDS_PER_MONTH, Timeline
from .vocabulary import (
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    COUNTRIES,
    FIRST_NAMES,
    FREE_MAIL_DOMAINS,
    LAST_NAMES,
    SHARED_INBOX_NAMES,
)

SEGMENT_SHARES = np.array([0.78, 0.17, 0.05])
# Customers who already existed before the window opened, created up to two years earlier.
# With this share acquisitions roughly replace churn, so the base grows only mildly; some of the
# oldest ones churned before the window and appear as dormant records without orders.
PRE_EXISTING_SHARE = 0.55
PRE_EXISTING_HISTORY_DAYS = 730
VALUE_SPREAD = 1.0  # log-sd of value: the top 1% of customers bring a large share of revenue
VALUE_ENGAGEMENT_CORRELATION = 0.3
MONTHLY_CHURN_HAZARD = 0.018
ENGAGEMENT_CHURN_EFFECT = 0.8  # hazard multiplier exp(-effect * engagement)
SEGMENT_CHURN_FACTOR = np.array([1.0, 0.75, 0.45])  # contracts keep businesses longer
EMAIL_SHARE = np.array([0.94, 0.97, 0.99])
EXPORT_MIXED_CASE_SHARE = 0.05
SHARED_INBOX_PAIRS_PER_CUSTOMER = 0.004
PHONE_SHARE = 0.85
# Preferred sales channel by segment: web, store, phone, marketplace.
CHANNEL_PREFERENCE = np.array([[0.60, 0.25, 0.03, 0.12], [0.55, 0.15, 0.20, 0.10], [0.35, 0.10, 0.50, 0.05]])

# Engagement decays over this many days before a customer churns (and stays low after).
DECLINE_DAYS = 120
NEVER = np.int64(2**62)  # churn time of a customer who never churns: far beyond any window
# Multiplier and offset of the email token: a bijection on [0, modulus) because the modulus is
# prime, so tokens look random yet never collide (up to 9,999,991 customers).
TOKEN_MULTIPLIER = 7_368_787
TOKEN_OFFSET = 1_234_567
TOKEN_MODULUS = 9_999_991


@dataclass
class CustomerChunk:
    first_number: int  # zero-based position of the chunk's first customer in the whole run
    customer_ids: pl.Series
    segment: np.ndarray
    engagement: np.ndarray
    value: np.ndarray
    created_at: np.ndarray
    churn_at: np.ndarray
    home_category: np.ndarray
    preferred_channel: np.ndarray
    has_email: np.ndarray
    subscribed: np.ndarray
    email: pl.Series  # the true address, lowercase; null when the customer has none
    email_is_shared: np.ndarray  # bool: the address also belongs to another customer (a shared inbox)
    marketing_email: pl.Series  # the same address as the marketing tool holds it
    customers: pl.DataFrame  # the customers export rows, before dirty records

    @property
    def size(self) -> int:
        return int(self.segment.shape[0])

    def truth(self, timeline: Timeline) -> pl.DataFrame:
        churned = self.churn_at < timeline.end
        churn_date = pl.from_epoch(pl.Series(np.where(churned, self.churn_at, 0)), time_unit="s")
        return pl.DataFrame(
            {
                "customer_id": self.customer_ids,
                "segment": pick_text(SEGMENTS, self.segment),
                "engagement": np.round(sigmoid(self.engagement), 4),
                "value": np.round(self.value, 4),
                "is_churned": churned,
                "churned_at": churn_date.dt.strftime("%Y-%m-%d"),
            }
        ).with_columns(pl.when(pl.col("is_churned")).then(pl.col("churned_at")).alias("churned_at"))


def churn_risk(times: np.ndarray, churn_at: np.ndarray) -> np.ndarray:
    """0 while a customer is fine, rising linearly to 1 at churn, 1 afterwards.

    This is the hidden state behind the early-warning signals: fewer opens and clicks, more
    tickets, slower answers, worse survey scores.
    """
    decline = DECLINE_DAYS * SECONDS_PER_DAY
    return np.clip((times - (churn_at - decline)) / decline, 0.0, 1.0)


def email_tokens(numbers: np.ndarray) -> np.ndarray:
    return (numbers.astype(np.int64) * TOKEN_MULTIPLIER + TOKEN_OFFSET) % TOKEN_MODULUS


def spell_like_marketing(rng: np.random.Generator, emails: pl.Series) -> pl.Series:
    """The address as another system typed it: other case, stray spaces around it."""
    count = emails.len()
    case = rng.choice(3, size=count, p=[0.62, 0.28, 0.10])
    spaces = rng.choice(4, size=count, p=[0.80, 0.08, 0.08, 0.04])
    frame = pl.DataFrame({"email": emails, "case": case, "spaces": spaces})
    cased = (
        pl.when(pl.col("case") == 1)
        .then(pl.col("email").str.to_titlecase())
        .when(pl.col("case") == 2)
        .then(pl.col("email").str.to_uppercase())
        .otherwise(pl.col("email"))
    )
    spaced = (
        pl.when(pl.col("spaces") == 1)
        .then(pl.lit(" ") + cased)
        .when(pl.col("spaces") == 2)
        .then(cased + pl.lit(" "))
        .when(pl.col("spaces") == 3)
        .then(pl.lit("  ") + cased + pl.lit(" "))
        .otherwise(cased)
    )
    return frame.select(spaced.alias("email")).to_series()


def generate_customers(
    rng: np.random.Generator, first_number: int, count: int, timeline: Timeline, catalogue: Catalogue
) -> CustomerChunk:
    # The draws happen in a fixed order (traits, then contact details, then the shared inboxes,
    # then the marketing spelling): the helpers below are called in that order on purpose.
    numbers = np.arange(first_number, first_number + count, dtype=np.int64)
    traits = _draw_traits(rng, count, timeline, catalogue)
    drawn = _draw_contact(rng, count, traits.engagement)
    inboxes = _share_inboxes(rng, numbers, traits, drawn)
    details = _contact_details(drawn, traits, inboxes)
    true_email = details.get_column("email")
    export_email = pl.select(
        pl.when(pl.Series(drawn.mixed_case_export)).then(true_email.str.to_titlecase()).otherwise(true_email)
    ).to_series()

    subscribed = traits.has_email & drawn.opt_in
    # A shared inbox is one contact in the marketing tool, not two.
    subscribed[inboxes.partners] = False

    customer_ids = identifiers("C", first_number + 1, count, 7).alias("customer_id")
    return CustomerChunk(
        first_number=first_number,
        customer_ids=customer_ids,
        segment=traits.segment,
        engagement=traits.engagement,
        value=traits.value,
        created_at=traits.created_at,
        churn_at=traits.churn_at,
        home_category=traits.home_category,
        preferred_channel=traits.preferred_channel,
        has_email=traits.has_email,
        subscribed=subscribed,
        email=true_email,
        # Shared inboxes pair two customers of the same chunk and every other address carries a
        # unique token, so duplicates inside the chunk are exactly the shared addresses.
        email_is_shared=(true_email.is_duplicated() & true_email.is_not_null()).to_numpy(),
        marketing_email=spell_like_marketing(rng, true_email),
        customers=_customers_export(customer_ids, export_email, details, traits, drawn.country, drawn.city_position),
    )


@dataclass
class _Traits:
    """What drives a customer's behaviour later on, drawn before anything about their contact."""

    segment: np.ndarray
    engagement: np.ndarray
    value: np.ndarray
    created_at: np.ndarray
    churn_at: np.ndarray
    home_category: np.ndarray
    preferred_channel: np.ndarray
    has_email: np.ndarray


def _draw_traits(rng: np.random.Generator, count: int, timeline: Timeline, catalogue: Catalogue) -> _Traits:
    segment = rng.choice(len(SEGMENTS), size=count, p=SEGMENT_SHARES)
    engagement = rng.standard_normal(count)
    value_noise = VALUE_ENGAGEMENT_CORRELATION * engagement + np.sqrt(
        1 - VALUE_ENGAGEMENT_CORRELATION**2
    ) * rng.standard_normal(count)
    value = np.exp(VALUE_SPREAD * value_noise - VALUE_SPREAD**2 / 2)

    pre_existing = rng.random(count) < PRE_EXISTING_SHARE
    before_window = timeline.start - rng.integers(1, PRE_EXISTING_HISTORY_DAYS * SECONDS_PER_DAY, size=count)
    in_window = timeline.sample_between(
        rng, np.full(count, timeline.start), np.full(count, timeline.end), hours=ORDER_HOURS
    )
    created_at = np.where(pre_existing, before_window, in_window)

    hazard = MONTHLY_CHURN_HAZARD * np.exp(-ENGAGEMENT_CHURN_EFFECT * engagement) * SEGMENT_CHURN_FACTOR[segment]
    churn_at = created_at + (rng.exponential(1.0, size=count) / hazard * SECONDS_PER_MONTH).astype(np.int64)
    churn_at = np.minimum(churn_at, NEVER)

    home_category = catalogue.home_categories(rng, segment)
    preferred_channel = (rng.random(count)[:, None] > np.cumsum(CHANNEL_PREFERENCE, axis=1)[segment]).sum(axis=1)
    has_email = rng.random(count) < EMAIL_SHARE[segment]
    return _Traits(segment, engagement, value, created_at, churn_at, home_category, preferred_channel, has_email)


@dataclass
class _ContactDraws:
    """The raw draws behind a customer's name, company, email, address and phone."""

    first: np.ndarray
    last: np.ndarray
    company_word: np.ndarray
    company_suffix: np.ndarray
    pattern: np.ndarray  # personal email pattern: first.last, f + last, first
    free_mail: np.ndarray
    country: np.ndarray
    city_position: np.ndarray  # in [0, 1): where in the country's city list
    has_phone: np.ndarray
    phone_style: np.ndarray
    area: np.ndarray
    line: np.ndarray
    subscriber: np.ndarray
    mixed_case_export: np.ndarray
    opt_in: np.ndarray


def _draw_contact(rng: np.random.Generator, count: int, engagement: np.ndarray) -> _ContactDraws:
    first = rng.integers(0, len(FIRST_NAMES), size=count)
    last = rng.integers(0, len(LAST_NAMES), size=count)
    company_word = rng.integers(0, len(COMPANY_WORDS), size=count)
    company_suffix = rng.integers(0, len(COMPANY_SUFFIXES), size=count)
    pattern = rng.integers(0, 3, size=count)
    free_mail = rng.integers(0, len(FREE_MAIL_DOMAINS), size=count)
    country = rng.choice(len(COUNTRIES), size=count, p=[entry[1] for entry in COUNTRIES])
    city_position = rng.random(count)
    has_phone = rng.random(count) < PHONE_SHARE
    phone_style = rng.integers(0, 3, size=count)
    area = rng.integers(201, 990, size=count)
    line = rng.integers(0, 10_000, size=count)
    subscriber = rng.integers(1_000_000, 9_999_999, size=count)
    mixed_case_export = rng.random(count) < EXPORT_MIXED_CASE_SHARE
    opt_in = rng.random(count) < sigmoid(0.9 + 0.6 * engagement)
    return _ContactDraws(
        first,
        last,
        company_word,
        company_suffix,
        pattern,
        free_mail,
        country,
        city_position,
        has_phone,
        phone_style,
        area,
        line,
        subscriber,
        mixed_case_export,
        opt_in,
    )


@dataclass
class _SharedInboxes:
    owners: np.ndarray  # positions in the chunk
    partners: np.ndarray  # positions in the chunk: a second contact at the owner's company
    inbox: np.ndarray  # per customer: the shared inbox name's index, -1 for none
    company_last: np.ndarray  # per customer: the surname the company name is built from
    token_source: np.ndarray  # per customer: the number the email token is made from


def _share_inboxes(
    rng: np.random.Generator, numbers: np.ndarray, traits: _Traits, drawn: _ContactDraws
) -> _SharedInboxes:
    """Pair a few business customers as two contacts at one company sharing an inbox.

    The partner takes the owner's segment, company and email token, in place in ``traits`` and
    ``drawn``: after the churn times, which stay the partner's own.
    """
    segment, has_email = traits.segment, traits.has_email
    business = np.nonzero(segment > 0)[0]
    # A fixed count (not a random one) so even small runs have a few shared inboxes.
    pairs = min(round(numbers.size * SHARED_INBOX_PAIRS_PER_CUSTOMER), business.size // 2)
    picked = rng.choice(business, size=2 * pairs, replace=False) if pairs else np.empty(0, np.int64)
    owners, partners = picked[:pairs], picked[pairs:]
    inbox_name = rng.integers(0, len(SHARED_INBOX_NAMES), size=pairs)
    segment[partners] = segment[owners]
    drawn.company_word[partners] = drawn.company_word[owners]
    drawn.company_suffix[partners] = drawn.company_suffix[owners]
    shared_last = drawn.last.copy()
    shared_last[partners] = drawn.last[owners]  # the company name is built from the owner's surname
    has_email[owners] = True
    has_email[partners] = True
    inbox = np.full(numbers.size, -1)
    inbox[owners] = inbox_name
    inbox[partners] = inbox_name
    token_source = numbers.copy()
    token_source[partners] = numbers[owners]
    return _SharedInboxes(owners, partners, inbox, shared_last, token_source)


def _contact_details(drawn: _ContactDraws, traits: _Traits, inboxes: _SharedInboxes) -> pl.DataFrame:
    """Email (the true address, lowercase), phone, first and last name and company name as text."""
    frame = pl.DataFrame(
        {
            "first": pick_text(FIRST_NAMES, drawn.first),
            "last": pick_text(LAST_NAMES, drawn.last),
            "company_last": pick_text(LAST_NAMES, inboxes.company_last),
            "word": pick_text(COMPANY_WORDS, drawn.company_word),
            "suffix": pick_text(COMPANY_SUFFIXES, drawn.company_suffix),
            "token": email_tokens(inboxes.token_source).astype(np.int64),
            "pattern": drawn.pattern,
            "free_mail": pick_text(FREE_MAIL_DOMAINS, drawn.free_mail),
            "segment": traits.segment,
            "inbox": pick_text(SHARED_INBOX_NAMES, np.maximum(inboxes.inbox, 0)),
            "is_shared": inboxes.inbox >= 0,
            "has_email": traits.has_email,
            "country_code": pick_text([entry[2] for entry in COUNTRIES], drawn.country),
            "phone_style": drawn.phone_style,
            "area": drawn.area,
            "line": drawn.line,
            "subscriber": drawn.subscriber,
            "has_phone": drawn.has_phone,
        }
    )
    return frame.select(
        _email_text().alias("email"),
        _phone_text().alias("phone"),
        pl.col("first").str.to_titlecase().alias("first_name"),
        pl.col("last").str.to_titlecase().alias("last_name"),
        _company_text().alias("company_name"),
    )


def _email_text() -> pl.Expr:
    """A shared inbox at the company domain, a business contact's own address at it, or a
    personal address at a free mail domain; the token keeps every address unique."""
    token = pl.col("token").cast(pl.String)
    domain = pl.col("company_last") + pl.col("word") + pl.lit(".com")
    personal = (
        pl.when(pl.col("pattern") == 0)
        .then(pl.col("first") + "." + pl.col("last") + token)
        .when(pl.col("pattern") == 1)
        .then(pl.col("first").str.slice(0, 1) + pl.col("last") + token)
        .otherwise(pl.col("first") + token)
    )
    return (
        pl.when(~pl.col("has_email"))
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("is_shared"))
        .then(pl.col("inbox") + "." + token + "@" + domain)
        .when(pl.col("segment") > 0)
        .then(pl.col("first") + "." + pl.col("last") + token + "@" + domain)
        .otherwise(personal + "@" + pl.col("free_mail"))
    )


def _phone_text() -> pl.Expr:
    """North American numbers in one of three spellings (all 555), others as +code area number."""
    line_text = pl.col("line").cast(pl.String).str.zfill(4)
    area_text = pl.col("area").cast(pl.String)
    north_american = (
        pl.when(pl.col("phone_style") == 0)
        .then("+1 " + area_text + "-555-" + line_text)
        .when(pl.col("phone_style") == 1)
        .then("(" + area_text + ") 555-" + line_text)
        .otherwise(area_text + ".555." + line_text)
    )
    return (
        pl.when(~pl.col("has_phone"))
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("country_code") == "1")
        .then(north_american)
        .otherwise(
            "+" + pl.col("country_code") + " " + area_text.str.slice(0, 2) + " " + pl.col("subscriber").cast(pl.String)
        )
    )


def _company_text() -> pl.Expr:
    return (
        pl.when(pl.col("segment") > 0)
        .then(
            pl.col("company_last").str.to_titlecase() + " " + pl.col("word").str.to_titlecase() + " " + pl.col("suffix")
        )
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _customers_export(
    customer_ids: pl.Series,
    export_email: pl.Series,
    details: pl.DataFrame,
    traits: _Traits,
    country: np.ndarray,
    city_position: np.ndarray,
) -> pl.DataFrame:
    """The customers export rows, before dirty records."""
    cities = [city for entry in COUNTRIES for city in entry[3]]
    city_offset = np.cumsum([0] + [len(entry[3]) for entry in COUNTRIES])[:-1]
    city_count = np.array([len(entry[3]) for entry in COUNTRIES])
    city_index = city_offset[country] + np.floor(city_position * city_count[country]).astype(np.int64)
    return pl.DataFrame(
        {
            "customer_id": customer_ids,
            "email": export_email,
            "phone": details.get_column("phone"),
            "first_name": details.get_column("first_name"),
            "last_name": details.get_column("last_name"),
            "company_name": details.get_column("company_name"),
            "segment": pick_text(SEGMENTS, traits.segment),
            "country": pick_text([entry[0] for entry in COUNTRIES], country),
            "city": pick_text(cities, city_index),
            "created_at": traits.created_at,
        }
    ).with_columns(timestamp_text("created_at"))
