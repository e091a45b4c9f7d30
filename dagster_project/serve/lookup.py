"""Customer lookup for service and sales agents (`crm customer <email or id>`), on the serving file.

What can be looked up:

- an email (any case, surrounding spaces ignored): the customer's own email (dim_customers) and
  every source identity carrying it (bridge_customer_identities: marketing contacts, leads,
  ticket requesters resolved to a customer);
- a unified customer id (dim_customers.customer_id, e.g. ``C0001234``);
- a source-system id: a lead id, a ticket id, a customer id a ticket carries, or a whole
  identity id (``marketing:lead:L0000042``), through bridge_customer_identities.

An email or id can match several customers (an address shared by colleagues, a ticket id whose
requester's email belongs to several customers): the lookup then lists the candidates and asks
for the customer id, it never picks one. When the serving file is masked (pii.py), the email
typed is hashed with the same key before it is searched, and the card shows tokens for names,
emails and phones.

Everything here takes an open (read-only) connection to the serving file; printing with rich is
in :func:`render_card`, the `crm customer` command only wires the two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dagster_project.serve import pii

RECENT_INTERACTIONS = 10
TOP_OFFERS = 5
WHAT_CAN_BE_LOOKED_UP = (
    "Look up an email, a customer id (e.g. C0001234), or a source-system id: a lead id, a ticket id, "
    "or an identity id such as marketing:lead:L0000042."
)


class LookupFailed(Exception):
    """A lookup that cannot give one customer; the message is for the agent."""


class NoMatch(LookupFailed):
    pass


class SeveralMatches(LookupFailed):
    def __init__(self, message: str, candidates: list[Candidate]):
        super().__init__(message)
        self.candidates = candidates


class CannotSearchMaskedEmail(LookupFailed):
    pass


@dataclass(frozen=True)
class Candidate:
    customer_id: str
    full_name: str | None
    email: str | None
    last_order_at: datetime | None


@dataclass(frozen=True)
class Match:
    customer_id: str
    matched_by: str  # how the input was recognised, for the card's header


@dataclass
class CustomerCard:
    customer_id: str
    matched_by: str
    is_masked: bool
    profile: dict[str, Any]
    churn: dict[str, Any]
    value: dict[str, Any]
    interactions_by_channel: list[dict[str, Any]] = field(default_factory=list)
    recent_interactions: list[dict[str, Any]] = field(default_factory=list)
    open_tickets: list[dict[str, Any]] = field(default_factory=list)
    offers: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------- finding the customer


def masked_email_key_id(connection: duckdb.DuckDBPyConnection) -> str | None:
    """The id of the key that masked the customers' emails, or None when the file is not masked."""
    for column in pii.masked_columns_in(connection):
        if (column.schema, column.relation, column.column) == ("marts", "dim_customers", "email_normalized"):
            return column.key_id
    return None


def find_customer(connection: duckdb.DuckDBPyConnection, query: str, key: Callable[[], str] | None = None) -> Match:
    """The one customer ``query`` designates. ``key`` gives the masking key, asked for only when
    the file is masked and ``query`` is an email. Raises :class:`NoMatch`, :class:`SeveralMatches`
    or :class:`CannotSearchMaskedEmail`."""
    typed = query.strip()
    if not typed:
        raise NoMatch(f"Nothing to look up. {WHAT_CAN_BE_LOOKED_UP}")
    if "@" in typed:
        return _find_by_email(connection, typed, key)
    return _find_by_id(connection, typed)


def _find_by_email(connection: duckdb.DuckDBPyConnection, typed: str, key: Callable[[], str] | None) -> Match:
    searched = typed  # normalised by the query as dbt does (lower + trim)
    key_id_of_file = masked_email_key_id(connection)
    if key_id_of_file is not None:
        searched = _masked_email(connection, typed, key_id_of_file, key)
    customer_ids = _distinct(
        connection,
        """
        select customer_id from marts.dim_customers where email_normalized = lower(trim($1))
        union
        select customer_id from marts.bridge_customer_identities
        where email_normalized = lower(trim($1)) and customer_id is not null
        """,
        [searched],
    )
    return _one(connection, customer_ids, typed, "email")


def _masked_email(
    connection: duckdb.DuckDBPyConnection, typed: str, key_id_of_file: str, key: Callable[[], str] | None
) -> str:
    hint = "look up the customer id instead, or set CRM_PII_KEY to the key that published the file"
    if key is None:
        raise CannotSearchMaskedEmail(f"The serving file is masked and no masking key was given: {hint}.")
    try:
        masking_key = key()
    except (FileNotFoundError, ValueError) as error:
        raise CannotSearchMaskedEmail(f"The serving file is masked: {error}; {hint}.") from error
    if pii.key_id(masking_key) != key_id_of_file:
        raise CannotSearchMaskedEmail(
            f"The serving file was masked with another key (id {key_id_of_file}) than this one "
            f"(id {pii.key_id(masking_key)}): {hint}."
        )
    return pii.mask_value(connection, typed, "email", masking_key)


def _find_by_id(connection: duckdb.DuckDBPyConnection, typed: str) -> Match:
    # Ids are codes: matched without regard to case, so "c0001234" finds C0001234.
    unified = _distinct(
        connection, "select customer_id from marts.dim_customers where lower(customer_id) = lower(?)", [typed]
    )
    if unified:
        return _one(connection, unified, typed, "customer id")
    identities = _records(
        connection,
        """
        select source_system, identity_type, customer_id, is_ambiguous, email_normalized, phone_normalized
        from marts.bridge_customer_identities
        where lower(identity_key) = lower($1) or lower(source_customer_id) = lower($1) or lower(identity_id) = lower($1)
        """,
        [typed],
    )
    if not identities:
        raise NoMatch(f"No customer matches '{typed}'. {WHAT_CAN_BE_LOOKED_UP}")
    described = ", ".join(
        sorted({f"{row['source_system']} {row['identity_type'].replace('_', ' ')}" for row in identities})
    )
    customer_ids = sorted({row["customer_id"] for row in identities if row["customer_id"] is not None})
    if customer_ids:
        return _one(connection, customer_ids, typed, f"source id ({described})")
    # Known to a source system but linked to no customer: ambiguous ones share an email or phone
    # with several customers, who are the candidates; the others are unknown contacts.
    ambiguous = [row for row in identities if row["is_ambiguous"]]
    emails = sorted({row["email_normalized"] for row in ambiguous if row["email_normalized"] is not None})
    phones = sorted({row["phone_normalized"] for row in ambiguous if row["phone_normalized"] is not None})
    if emails or phones:
        candidates = _distinct(
            connection,
            "select customer_id from marts.dim_customers where email_normalized in (select unnest($1)) "
            "or phone_normalized in (select unnest($2))",
            [emails, phones],
        )
        if candidates:
            raise SeveralMatches(
                f"'{typed}' ({described}) shares its email or phone with {len(candidates)} customers "
                "and was linked to none of them: look up one of these customer ids.",
                _candidates(connection, candidates),
            )
    raise NoMatch(
        f"No customer matches '{typed}': it is a {described} linked to no customer (an unknown contact). "
        f"{WHAT_CAN_BE_LOOKED_UP}"
    )


def _one(connection: duckdb.DuckDBPyConnection, customer_ids: list[str], typed: str, matched_by: str) -> Match:
    if not customer_ids:
        raise NoMatch(f"No customer matches '{typed}'. {WHAT_CAN_BE_LOOKED_UP}")
    if len(customer_ids) > 1:
        raise SeveralMatches(
            f"'{typed}' matches {len(customer_ids)} customers ({matched_by}): look up one of these customer ids.",
            _candidates(connection, customer_ids),
        )
    return Match(customer_ids[0], matched_by)


def _distinct(connection: duckdb.DuckDBPyConnection, sql: str, parameters: list) -> list[str]:
    return sorted({row[0] for row in connection.execute(sql, parameters).fetchall()})


def _candidates(connection: duckdb.DuckDBPyConnection, customer_ids: list[str]) -> list[Candidate]:
    rows = connection.execute(
        """
        select customer_id, full_name, email_normalized, last_order_at from marts.dim_customers
        where customer_id in (select unnest(?)) order by last_order_at desc nulls last, customer_id
        """,
        [customer_ids],
    ).fetchall()
    return [Candidate(*row) for row in rows]


# ---------------------------------------------------------------- the card


def _records(connection: duckdb.DuckDBPyConnection, sql: str, parameters: list) -> list[dict[str, Any]]:
    cursor = connection.execute(sql, parameters)
    names = [description[0] for description in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def load_card(
    connection: duckdb.DuckDBPyConnection,
    match: Match,
    recent_interactions: int = RECENT_INTERACTIONS,
    top_offers: int = TOP_OFFERS,
) -> CustomerCard:
    customer = [match.customer_id]
    (row,) = _records(
        connection,
        """
        select
            d.customer_id, d.full_name, d.email_normalized as email, d.phone, d.company_name, d.segment,
            d.country_code, d.city, d.created_at, d.lead_source, d.linked_identity_count,
            c.first_order_at, c.last_order_at, c.recency_days, c.lifetime_order_count, c.lifetime_revenue_usd,
            c.average_order_value_usd, c.rfm_score, c.rfm_segment, c.behaviour_segment_name,
            c.behaviour_segment_description, c.ticket_count, c.open_tickets, c.average_satisfaction_score,
            c.email_open_rate, c.last_touch_at, s.has_unsubscribed_from_email, c.churn_status,
            c.churn_probability, c.churn_risk_band, c.churn_reason_1, c.churn_reason_2, c.churn_reason_3,
            c.churn_model_version, c.clv_usd, c.p_alive, c.expected_purchases_next_12_months, s.value_tier,
            c.clv_model_version, c.as_of_date
        from marts.dim_customers d
        left join marts.customer_360 c using (customer_id)
        left join marts.crm_sync_customers s using (customer_id)
        where d.customer_id = ?
        """,
        customer,
    )
    card = CustomerCard(
        customer_id=match.customer_id,
        matched_by=match.matched_by,
        is_masked=masked_email_key_id(connection) is not None,
        profile={
            "Name": row["full_name"],
            "Email": row["email"],
            "Phone": row["phone"],
            "Company": row["company_name"],
            "Segment": row["segment"],
            "Location": ", ".join(part for part in (row["city"], row["country_code"]) if part) or None,
            "Customer since": row["created_at"],
            "Lead source": row["lead_source"],
            "First order": row["first_order_at"],
            "Last order": row["last_order_at"],
            "Days since last order": row["recency_days"],
            "Orders": row["lifetime_order_count"],
            "Lifetime revenue": _money(row["lifetime_revenue_usd"]),
            "Average order": _money(row["average_order_value_usd"]),
            "RFM segment": f"{row['rfm_segment']} ({row['rfm_score']})" if row["rfm_segment"] else None,
            "Behaviour segment": row["behaviour_segment_name"],
            "Tickets (open)": f"{row['ticket_count'] or 0} ({row['open_tickets'] or 0} open)",
            "Average satisfaction": _number(row["average_satisfaction_score"], 2),
            "Email open rate": _percent(row["email_open_rate"]),
            "Unsubscribed from email": _yes_no(row["has_unsubscribed_from_email"]),
            "Last touch": row["last_touch_at"],
            "Linked source identities": row["linked_identity_count"],
            "Data as of": row["as_of_date"],
        },
        churn={
            "status": row["churn_status"],
            "probability": row["churn_probability"],
            "band": row["churn_risk_band"],
            "reasons": [row[f"churn_reason_{n}"] for n in (1, 2, 3) if row[f"churn_reason_{n}"]],
            "model_version": row["churn_model_version"],
        },
        value={
            "clv_usd": row["clv_usd"],
            "p_alive": row["p_alive"],
            "expected_purchases_next_12_months": row["expected_purchases_next_12_months"],
            "value_tier": row["value_tier"],
            "model_version": row["clv_model_version"],
        },
    )
    card.interactions_by_channel = _records(
        connection,
        """
        select interaction_channel as channel, count(*) as interactions, max(occurred_at) as last_at
        from marts.fct_interactions where customer_id = ? group by all order by last_at desc
        """,
        customer,
    )
    card.recent_interactions = _records(
        connection,
        """
        select occurred_at, interaction_channel as channel, interaction_type as type, source_record_id,
               revenue_usd, satisfaction_score
        from marts.fct_interactions where customer_id = ?
        order by occurred_at desc, interaction_id desc limit ?
        """,
        [*customer, recent_interactions],
    )
    card.open_tickets = _records(
        connection,
        """
        select ticket_id, created_at, status, priority, category, channel, agent_id,
               is_first_response_sla_breached or is_resolution_sla_breached as sla_breached
        from marts.fct_tickets where customer_id = ? and is_open order by created_at desc
        """,
        customer,
    )
    # A model publishes its _current table only once it beats its baseline: a young warehouse may have none.
    card.offers = (
        _records(
            connection,
            """
        select o.offer_rank, o.product_id, p.product_name, p.category, o.score, o.reason
        from ml.next_best_offers_current o left join marts.dim_products p using (product_id)
        where o.customer_id = ? order by o.offer_rank limit ?
        """,
            [*customer, top_offers],
        )
        if _exists(connection, "ml", "next_best_offers_current")
        else []
    )
    return card


def _exists(connection: duckdb.DuckDBPyConnection, schema: str, relation: str) -> bool:
    return bool(
        connection.execute(
            "select 1 from information_schema.tables where table_catalog = current_database() "
            "and table_schema = ? and table_name = ?",
            [schema, relation],
        ).fetchall()
    )


# ---------------------------------------------------------------- printing


def _money(value: Decimal | float | None) -> str | None:
    return None if value is None else f"${value:,.2f}"


def _number(value: float | None, digits: int) -> str | None:
    return None if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{value:.1%}"


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour, value.minute) != (0, 0) else f"{value:%Y-%m-%d}"
    return str(value)


# Why a customer has no churn probability (models_ml.features.churn_status).
UNSCORED_CHURN_STATUSES = {
    "prospect": "not scored: a prospect (no order yet)",
    "lapsed": "not scored: lapsed (no order for over 360 days), a win-back target",
}


def churn_line(churn: dict[str, Any]) -> str:
    if churn["probability"] is None:
        return UNSCORED_CHURN_STATUSES.get(churn.get("status"), "not scored")
    return f"{churn['probability']:.3f} ({churn['probability']:.1%}), {churn['band']} risk"


def clv_line(value: dict[str, Any]) -> str:
    if value["clv_usd"] is None:
        return "not scored (no purchase yet)"
    parts = [_money(value["clv_usd"])]
    if value["value_tier"]:
        parts.append(f"{value['value_tier']} value tier")
    if value["p_alive"] is not None:
        parts.append(f"P(alive) {value['p_alive']:.2f}")
    if value["expected_purchases_next_12_months"] is not None:
        parts.append(f"{value['expected_purchases_next_12_months']:.1f} purchases expected in 12 months")
    return ", ".join(parts)


def _table(title: str, columns: list[str], rows: list[list[Any]], empty: str) -> RenderableType:
    if not rows:
        return Text(f"{title}: {empty}", style="dim")
    table = Table(title=title, title_justify="left", expand=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_text(value) for value in row))
    return table


def render_card(card: CustomerCard) -> RenderableType:
    profile = Table.grid(padding=(0, 2))
    profile.add_column(style="bold")
    profile.add_column(overflow="fold")
    for label, value in card.profile.items():
        profile.add_row(label, _text(value))

    scores = Table.grid(padding=(0, 2))
    scores.add_column(style="bold")
    scores.add_column(overflow="fold")
    scores.add_row("Churn risk", churn_line(card.churn))
    for number, reason in enumerate(card.churn["reasons"], start=1):
        scores.add_row(f"  reason {number}", reason)
    scores.add_row("CLV", clv_line(card.value))
    models = [version for version in (card.churn["model_version"], card.value["model_version"]) if version]
    if models:
        scores.add_row("Models", ", ".join(models))

    channels = ", ".join(
        f"{row['channel']} {row['interactions']:,} (last {_text(row['last_at'])})"
        for row in card.interactions_by_channel
    )
    parts: list[RenderableType] = []
    if card.is_masked:
        parts.append(
            Text(
                "Personal data in this serving file is masked (CRM_SERVING_MASK_PII): name, email and phone "
                "show as keyed tokens.",
                style="yellow",
            )
        )
    parts += [
        Panel(profile, title=f"Customer {card.customer_id}", subtitle=f"matched by {card.matched_by}"),
        Panel(scores, title="Risk and value"),
        Text(f"Interactions by channel: {channels or 'none'}"),
        _table(
            f"Recent interactions (last {len(card.recent_interactions)})",
            ["when", "channel", "type", "record", "revenue", "satisfaction"],
            [
                [
                    row["occurred_at"],
                    row["channel"],
                    row["type"],
                    row["source_record_id"],
                    _money(row["revenue_usd"]),
                    row["satisfaction_score"],
                ]
                for row in card.recent_interactions
            ],  # fmt: skip
            "none",
        ),
        _table(
            f"Open tickets ({len(card.open_tickets)})",
            ["ticket", "opened", "status", "priority", "category", "channel", "agent", "SLA breached"],
            [
                [
                    row["ticket_id"],
                    row["created_at"],
                    row["status"],
                    row["priority"],
                    row["category"],
                    row["channel"],
                    row["agent_id"],
                    _yes_no(row["sla_breached"]),
                ]
                for row in card.open_tickets
            ],  # fmt: skip
            "none",
        ),
        _table(
            "Next best offers",
            ["rank", "product", "name", "category", "score", "why"],
            [
                [
                    row["offer_rank"],
                    row["product_id"],
                    row["product_name"],
                    row["category"],
                    _number(row["score"], 3),
                    row["reason"],
                ]
                for row in card.offers
            ],  # fmt: skip
            "none scored",
        ),
    ]
    return Group(*parts)


def render_candidates(candidates: list[Candidate]) -> RenderableType:
    return _table(
        "Candidates",
        ["customer id", "name", "email", "last order"],
        [[c.customer_id, c.full_name, c.email, c.last_order_at] for c in candidates],
        "none",
    )
