"""Finding the customer an agent typed: by email (hashed first when the file is masked) or by any id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

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
    identities = records(
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


def records(connection: duckdb.DuckDBPyConnection, sql: str, parameters: list) -> list[dict[str, Any]]:
    cursor = connection.execute(sql, parameters)
    names = [description[0] for description in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
