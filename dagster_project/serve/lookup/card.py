"""Everything the card shows about one customer, read from the serving file."""

from __future__ import annotations

from typing import Any

import duckdb

from dagster_project.serve.lookup.find import (
    RECENT_INTERACTIONS,
    TOP_OFFERS,
    CustomerCard,
    Match,
    masked_email_key_id,
    records,
)
from dagster_project.serve.lookup.values import money_text, number_text, percent_text, yes_no_text


def load_card(
    connection: duckdb.DuckDBPyConnection,
    match: Match,
    recent_interactions: int = RECENT_INTERACTIONS,
    top_offers: int = TOP_OFFERS,
) -> CustomerCard:
    row = _customer_row(connection, match.customer_id)
    card = CustomerCard(
        customer_id=match.customer_id,
        matched_by=match.matched_by,
        is_masked=masked_email_key_id(connection) is not None,
        profile=_profile(row),
        churn=_churn(row),
        value=_value_scores(row),
    )
    card.interactions_by_channel = _interactions_by_channel(connection, match.customer_id)
    card.recent_interactions = _recent_interactions(connection, match.customer_id, recent_interactions)
    card.open_tickets = _open_tickets(connection, match.customer_id)
    card.offers = _offers(connection, match.customer_id, top_offers)
    return card


def _customer_row(connection: duckdb.DuckDBPyConnection, customer_id: str) -> dict[str, Any]:
    """The customer's one row across the customer marts: who they are, what they did, the scores."""
    (row,) = records(
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
        [customer_id],
    )
    return row


def _profile(row: dict[str, Any]) -> dict[str, Any]:
    """The profile section, label -> value as shown (amounts and rates already as text)."""
    return {
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
        "Lifetime revenue": money_text(row["lifetime_revenue_usd"]),
        "Average order": money_text(row["average_order_value_usd"]),
        "RFM segment": f"{row['rfm_segment']} ({row['rfm_score']})" if row["rfm_segment"] else None,
        "Behaviour segment": row["behaviour_segment_name"],
        "Tickets (open)": f"{row['ticket_count'] or 0} ({row['open_tickets'] or 0} open)",
        "Average satisfaction": number_text(row["average_satisfaction_score"], 2),
        "Email open rate": percent_text(row["email_open_rate"]),
        "Unsubscribed from email": yes_no_text(row["has_unsubscribed_from_email"]),
        "Last touch": row["last_touch_at"],
        "Linked source identities": row["linked_identity_count"],
        "Data as of": row["as_of_date"],
    }


def _churn(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": row["churn_status"],
        "probability": row["churn_probability"],
        "band": row["churn_risk_band"],
        "reasons": [row[f"churn_reason_{n}"] for n in (1, 2, 3) if row[f"churn_reason_{n}"]],
        "model_version": row["churn_model_version"],
    }


def _value_scores(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "clv_usd": row["clv_usd"],
        "p_alive": row["p_alive"],
        "expected_purchases_next_12_months": row["expected_purchases_next_12_months"],
        "value_tier": row["value_tier"],
        "model_version": row["clv_model_version"],
    }


def _interactions_by_channel(connection: duckdb.DuckDBPyConnection, customer_id: str) -> list[dict[str, Any]]:
    return records(
        connection,
        """
        select interaction_channel as channel, count(*) as interactions, max(occurred_at) as last_at
        from marts.fct_interactions where customer_id = ? group by all order by last_at desc
        """,
        [customer_id],
    )


def _recent_interactions(connection: duckdb.DuckDBPyConnection, customer_id: str, limit: int) -> list[dict[str, Any]]:
    return records(
        connection,
        """
        select occurred_at, interaction_channel as channel, interaction_type as type, source_record_id,
               revenue_usd, satisfaction_score
        from marts.fct_interactions where customer_id = ?
        order by occurred_at desc, interaction_id desc limit ?
        """,
        [customer_id, limit],
    )


def _open_tickets(connection: duckdb.DuckDBPyConnection, customer_id: str) -> list[dict[str, Any]]:
    return records(
        connection,
        """
        select ticket_id, created_at, status, priority, category, channel, agent_id,
               is_first_response_sla_breached or is_resolution_sla_breached as sla_breached
        from marts.fct_tickets where customer_id = ? and is_open order by created_at desc
        """,
        [customer_id],
    )


def _offers(connection: duckdb.DuckDBPyConnection, customer_id: str, limit: int) -> list[dict[str, Any]]:
    # A model publishes its _current table only once it beats its baseline: a young warehouse may have none.
    if not _exists(connection, "ml", "next_best_offers_current"):
        return []
    return records(
        connection,
        """
        select o.offer_rank, o.product_id, p.product_name, p.category, o.score, o.reason
        from ml.next_best_offers_current o left join marts.dim_products p using (product_id)
        where o.customer_id = ? order by o.offer_rank limit ?
        """,
        [customer_id, limit],
    )


def _exists(connection: duckdb.DuckDBPyConnection, schema: str, relation: str) -> bool:
    return bool(
        connection.execute(
            "select 1 from information_schema.tables where table_catalog = current_database() "
            "and table_schema = ? and table_name = ?",
            [schema, relation],
        ).fetchall()
    )
