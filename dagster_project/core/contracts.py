"""The export contracts: the canonical columns every landing file is mapped onto.

This module is the single source of truth for what an export must contain. The generator
writes these columns, ingestion validates against them, the raw DuckDB tables are created from
them and the dbt sources document them. `docs/export_contracts.md` mirrors this table for
people; a test keeps the two in step.

Types are the logical types of the warehouse: ``string``, ``integer``, ``decimal`` (money and
quantities with a fractional part, stored as DOUBLE in raw and cast to DECIMAL in staging) and
``timestamp`` (stored as UTC, naive, in raw).

Row rules are part of the contract: everything that can be judged on one row (a value's type, a
required value, an enumeration, a number's range, a timestamp's plausible span) is checked at
ingestion, and a row that breaks one goes to quarantine with its reason while the rest of its
file loads. The table-level checks (``dagster_project.quality``) judge only what one row cannot
show: an empty required export, a systemic share of bad rows, repeated keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "decimal": pl.Float64(),
    "timestamp": pl.Datetime("us"),
}

DUCKDB_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "decimal": "DOUBLE",
    "timestamp": "TIMESTAMP",
}


# Money beyond a billion in one record is a parsing or unit error (cents read as units, a phone
# number in an amount column), and DECIMAL(18, 2) in staging could not even hold some of it.
MONEY_LIMIT = 1e9
# Timestamps before this are placeholders or typos, not CRM events.
EARLIEST_PLAUSIBLE_TIMESTAMP = datetime(1900, 1, 1)
# How far after the load a timestamp may lie: a few hours of clock skew and time zones, while a
# typo (2206) or a placeholder (2099-12-31, 9999-12-31) is far beyond.
FUTURE_TOLERANCE_DAYS = 2
# Campaigns are planned ahead: their dates may lie this far after the load.
PLANNED_FUTURE_DAYS = 3 * 366


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    description: str = ""
    accepted_values: tuple[str, ...] | None = None
    # Numbers: the inclusive range a value must lie in (non-finite values never pass).
    minimum: float | None = None
    maximum: float | None = None
    # Timestamps: how many days after the load a value may lie.
    future_days: int = FUTURE_TOLERANCE_DAYS
    # What an empty cell stands for in a file that has the column (a file without the column
    # leaves it null): e.g. an order exported with its status left blank has status 'unknown'.
    when_empty: str | None = None

    def rules_in_words(self) -> str:
        """The column's row rules beyond its type, as the contracts page shows them."""
        if self.type in ("integer", "decimal"):
            low, high = self.minimum, self.maximum
            if low is not None and high is not None:
                return f"{_number(low)} to {_number(high)}"
            if low is not None:
                return f">= {_number(low)}"
            if high is not None:
                return f"<= {_number(high)}"
        if self.type == "timestamp":
            return f"from {EARLIEST_PLAUSIBLE_TIMESTAMP:%Y-%m-%d} to {self.future_days} days after the load"
        return ""


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


@dataclass(frozen=True)
class EntityContract:
    source: str
    entity: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str
    # Only orders are required; every other export is optional and its marts appear with it.
    is_required_export: bool = False
    file_format: str = "csv"

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [column.name for column in self.columns if column.required]

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)

    @property
    def raw_table(self) -> str:
        return f"raw.{self.entity}"

    def polars_schema(self) -> dict[str, pl.DataType]:
        return {column.name: POLARS_TYPES[column.type] for column in self.columns}


def _c(
    name: str,
    type_: str = "string",
    required: bool = False,
    description: str = "",
    accepted_values: tuple[str, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    future_days: int = FUTURE_TOLERANCE_DAYS,
    when_empty: str | None = None,
) -> Column:
    if type_ == "decimal" and minimum is None and maximum is None:
        minimum, maximum = 0, MONEY_LIMIT  # money is never negative unless the column says so
    return Column(name, type_, required, description, accepted_values, minimum, maximum, future_days, when_empty)


# A refund or credit note is an order record of its own with this status (see docs/export_contracts.md).
REFUND_STATUS = "refunded"
# An order whose status the export leaves blank, or maps to this word: it is an order, but it
# brings no revenue until a later delivery says what became of it (a voided or refunded order
# must not count because its status cell was empty).
UNKNOWN_STATUS = "unknown"


ORDER_STATUSES = ("completed", "cancelled", "returned", "pending", "refunded", UNKNOWN_STATUS)
SALES_CHANNELS = ("web", "store", "phone", "marketplace")
EMAIL_EVENT_TYPES = ("sent", "delivered", "opened", "clicked", "bounced", "unsubscribed")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_STATUSES = ("open", "pending", "solved", "closed")
TICKET_CHANNELS = ("email", "phone", "chat", "web")
LEAD_STATUSES = ("new", "contacted", "qualified", "converted", "lost")

CONTRACTS: dict[str, EntityContract] = {
    contract.entity: contract
    for contract in (
        EntityContract(
            source="sales",
            entity="orders",
            key=("order_id",),
            is_required_export=True,
            description="One row per order placed on any sales channel.",
            columns=(
                _c("order_id", required=True, description="Order identifier in the sales system."),
                _c("customer_id", required=True, description="Customer who placed the order."),
                _c("ordered_at", "timestamp", required=True, description="When the order was placed (UTC)."),
                _c(
                    "status",
                    description=(
                        "Order status. `cancelled`, `returned` and `unknown` orders bring no revenue; `refunded` "
                        "marks a refund or credit note record, whose amount is taken off revenue. A blank status in "
                        "a file that has the column reads as `unknown`; a file without the column leaves it empty, "
                        "and its orders count as revenue."
                    ),
                    accepted_values=ORDER_STATUSES,
                    when_empty=UNKNOWN_STATUS,
                ),
                _c("channel", description="Sales channel.", accepted_values=SALES_CHANNELS),
                _c("currency", description="ISO 4217 currency code of the amounts."),
                _c(
                    "total_amount",
                    "decimal",
                    description=(
                        "Amount charged, after discounts. Negative on a refund or credit note (any row with a "
                        "negative amount is one, whatever its status)."
                    ),
                    minimum=-MONEY_LIMIT,
                    maximum=MONEY_LIMIT,
                ),
                _c("discount_amount", "decimal", description="Discount granted on the order."),
            ),
        ),
        EntityContract(
            source="sales",
            entity="order_lines",
            key=("order_id", "line_number"),
            description="One row per product line of an order.",
            columns=(
                _c("order_id", required=True, description="Order the line belongs to."),
                _c(
                    "line_number",
                    "integer",
                    required=True,
                    description="Position of the line in the order, from 1.",
                    minimum=1,
                    maximum=100_000,
                ),
                _c("product_id", required=True, description="Product sold."),
                _c(
                    "quantity",
                    "integer",
                    required=True,
                    description="Units sold; negative on a line of a refund or credit note (units taken back).",
                    minimum=-100_000,
                    maximum=100_000,
                ),
                _c("unit_price", "decimal", required=True, description="Price per unit before discount."),
                _c("discount_amount", "decimal", description="Discount on the whole line."),
            ),
        ),
        EntityContract(
            source="sales",
            entity="customers",
            key=("customer_id",),
            description="Customer master data from the sales system.",
            columns=(
                _c("customer_id", required=True, description="Customer identifier in the sales system."),
                _c("email", description="Contact email, as typed."),
                _c("phone", description="Contact phone, as typed."),
                _c("first_name"),
                _c("last_name"),
                _c("company_name"),
                _c("segment", description="Commercial segment (consumer, small_business, enterprise)."),
                _c("country", description="ISO 3166 alpha-2 country code."),
                _c("city"),
                _c("created_at", "timestamp", description="When the customer record was created (UTC)."),
            ),
        ),
        EntityContract(
            source="sales",
            entity="products",
            key=("product_id",),
            description="Product catalogue.",
            columns=(
                _c("product_id", required=True),
                _c("sku"),
                _c("name"),
                _c("category"),
                _c("list_price", "decimal", description="Catalogue price per unit."),
                _c("unit_cost", "decimal", description="Cost of goods per unit."),
            ),
        ),
        EntityContract(
            source="marketing",
            entity="campaigns",
            key=("campaign_id",),
            description="Marketing campaigns.",
            columns=(
                _c("campaign_id", required=True),
                _c("name"),
                _c("channel", description="Campaign channel (email, social, search, display)."),
                _c("started_at", "timestamp", future_days=PLANNED_FUTURE_DAYS),
                _c("ended_at", "timestamp", future_days=PLANNED_FUTURE_DAYS),
                _c("cost", "decimal", description="Total campaign cost."),
                _c("target_segment", description="Customer segment the campaign targets."),
                _c("offer_product_id", description="Product the campaign promotes, if any."),
            ),
        ),
        EntityContract(
            source="marketing",
            entity="email_events",
            key=("event_id",),
            file_format="jsonl",
            description="Email delivery and engagement events; contacts known by email only.",
            columns=(
                _c("event_id", required=True),
                _c("email", required=True, description="Recipient email, as the marketing tool holds it."),
                _c("event_type", required=True, accepted_values=EMAIL_EVENT_TYPES),
                _c("occurred_at", "timestamp", required=True),
                _c("campaign_id"),
            ),
        ),
        EntityContract(
            source="marketing",
            entity="leads",
            key=("lead_id",),
            description="Leads captured by marketing.",
            columns=(
                _c("lead_id", required=True),
                _c("created_at", "timestamp", required=True),
                _c("email"),
                _c("phone"),
                _c("source", description="Where the lead came from (web_form, event, referral, ...)."),
                _c("status", accepted_values=LEAD_STATUSES),
                _c("converted_at", "timestamp"),
            ),
        ),
        EntityContract(
            source="support",
            entity="tickets",
            key=("ticket_id",),
            description="Support tickets; customer_id is often missing, requester_email is as typed.",
            columns=(
                _c("ticket_id", required=True),
                _c("created_at", "timestamp", required=True),
                _c("customer_id"),
                _c("requester_email"),
                _c("channel", accepted_values=TICKET_CHANNELS),
                _c("priority", accepted_values=TICKET_PRIORITIES),
                _c("category"),
                _c("status", accepted_values=TICKET_STATUSES),
                _c("first_response_at", "timestamp"),
                _c("resolved_at", "timestamp"),
                _c("agent_id"),
            ),
        ),
        EntityContract(
            source="support",
            entity="satisfaction_surveys",
            key=("survey_id",),
            description="Satisfaction survey answers after a ticket, with free-text comments.",
            columns=(
                _c("survey_id", required=True),
                _c("ticket_id", required=True),
                _c(
                    "score",
                    "integer",
                    required=True,
                    description="Satisfaction score from 1 (bad) to 5 (good).",
                    minimum=1,
                    maximum=5,
                ),
                _c("responded_at", "timestamp", required=True),
                _c("comment", description="Free-text comment."),
            ),
        ),
    )
}

ENTITIES: tuple[str, ...] = tuple(CONTRACTS)


def contract_for(entity: str) -> EntityContract:
    try:
        return CONTRACTS[entity]
    except KeyError:
        raise KeyError(f"unknown export entity {entity!r}; known: {', '.join(ENTITIES)}") from None
