"""The expectation suites of the raw tables, built from the export contracts.

Each raw entity gets two suites, validated on its *current* rows (the latest row per key, which
is what dbt staging keeps):

``severe``
    Data that is broken: a missing or repeated key, a missing required value, a money amount or
    quantity no real export can have, no orders at all. A failure blocks the downstream assets.
``soft``
    Data that is suspicious but usable: a value outside its vocabulary, a timestamp in the
    future, an end before its start, a reference to a record we do not know, many re-delivered
    rows. A failure is a warning.

This module is plain data: expectations are described by the name of their Great Expectations
class and its arguments, so importing it costs nothing (GX itself is slow to import and is only
imported by :mod:`dagster_project.quality.validation`). Columns that need other tables
(referential checks) or the raw rows (the duplicate share) are computed before validation by
:mod:`dagster_project.quality.frames` and validated as ordinary columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dagster_project.contracts import EntityContract, contract_for

SEVERE = "severe"
SOFT = "soft"
SEVERITIES: tuple[str, ...] = (SEVERE, SOFT)

# Money columns (contract type ``decimal``) below this are plausible; anything at or above it is a
# parsing or unit error (cents as units, a phone number in the amount column...).
MONEY_UPPER_BOUND = 1e9
# Ranges outside which a number means broken data, beyond the money rule.
VALUE_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("order_lines", "quantity"): (1, 100_000),
    ("satisfaction_surveys", "score"): (1, 5),
}
# Timestamps that may legitimately lie in the future: a campaign is planned to end on a date.
FUTURE_TIMESTAMPS_ALLOWED: frozenset[tuple[str, str]] = frozenset({("campaigns", "ended_at")})
FUTURE_TOLERANCE = timedelta(days=1)
# (later, earlier): the later timestamp must not be before the earlier one, on this share of rows.
TIMESTAMP_ORDER: dict[str, tuple[tuple[str, str], ...]] = {
    "campaigns": (("ended_at", "started_at"),),
    "tickets": (("resolved_at", "created_at"), ("first_response_at", "created_at")),
}
TIMESTAMP_ORDER_MOSTLY = 0.99
# Share of raw rows that repeat the key of another raw row, above which deliveries look wrong.
MAX_DUPLICATE_KEY_SHARE = 0.05
DUPLICATE_SHARE_COLUMN = "raw_duplicate_key_share"


@dataclass(frozen=True)
class Reference:
    """``entity.column`` must name a record of ``parent`` (by its key), on ``mostly`` of the rows.

    Validated as the boolean column :attr:`flag_column`, computed against all raw rows of the
    parent, and only when the parent table has rows. Rows whose column is empty are not judged.
    """

    column: str
    parent: str
    mostly: float
    why: str = ""

    @property
    def flag_column(self) -> str:
        return f"{self.column}_is_known"

    @property
    def parent_key(self) -> str:
        (key,) = contract_for(self.parent).key
        return key


REFERENCES: dict[str, tuple[Reference, ...]] = {
    "orders": (
        Reference(
            "customer_id",
            "customers",
            mostly=0.9,
            why="customers missing from the customer export are derived from their orders",
        ),
    ),
    "order_lines": (
        Reference("order_id", "orders", mostly=0.99),
        Reference("product_id", "products", mostly=1.0),
    ),
    "satisfaction_surveys": (Reference("ticket_id", "tickets", mostly=1.0),),
    "email_events": (Reference("campaign_id", "campaigns", mostly=1.0),),
}


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation: a Great Expectations class name, its arguments, and what it means."""

    expectation: str  # class in great_expectations.expectations, e.g. "ExpectColumnValuesToNotBeNull"
    kwargs: dict[str, Any]
    meaning: str  # for people: shown in Dagster and stored in the expectation's meta
    columns: tuple[str, ...] = field(default=())  # frame columns it reads

    def in_words(self) -> str:
        return self.meaning


@dataclass(frozen=True)
class EntitySuites:
    entity: str
    severe: tuple[ExpectationSpec, ...]
    soft: tuple[ExpectationSpec, ...]
    references: tuple[Reference, ...]  # those actually validated (parent present and non-empty)

    def for_severity(self, severity: str) -> tuple[ExpectationSpec, ...]:
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}; known: {', '.join(SEVERITIES)}")
        return self.severe if severity == SEVERE else self.soft

    @property
    def columns(self) -> tuple[str, ...]:
        """Every frame column some expectation reads, in a stable order."""
        seen: dict[str, None] = {}
        for spec in (*self.severe, *self.soft):
            seen.update(dict.fromkeys(spec.columns))
        return tuple(seen)


def suite_name(entity: str, severity: str) -> str:
    """``raw.<entity>.<severity>``: Data Docs list the suites by these names."""
    return f"raw.{entity}.{severity}"


def _column(expectation: str, column: str, meaning: str, **kwargs: Any) -> ExpectationSpec:
    return ExpectationSpec(expectation, {"column": column, **kwargs}, meaning, (column,))


def severe_expectations(contract: EntityContract) -> list[ExpectationSpec]:
    entity = contract.entity
    specs: list[ExpectationSpec] = []
    if contract.is_required_export:
        specs.append(
            ExpectationSpec(
                "ExpectTableRowCountToBeBetween",
                {"min_value": 1},
                f"raw.{entity} has at least one row (the {entity} export is required)",
            )
        )
    for name in contract.key:
        specs.append(_column("ExpectColumnValuesToNotBeNull", name, f"key column {name} is never empty"))
    if len(contract.key) == 1:
        (key,) = contract.key
        specs.append(_column("ExpectColumnValuesToBeUnique", key, f"{key} is unique among the current rows"))
    else:
        specs.append(
            ExpectationSpec(
                "ExpectCompoundColumnsToBeUnique",
                {"column_list": list(contract.key)},
                f"({', '.join(contract.key)}) is unique among the current rows",
                tuple(contract.key),
            )
        )
    for name in contract.required_columns:
        if name not in contract.key:
            specs.append(_column("ExpectColumnValuesToNotBeNull", name, f"required column {name} is never empty"))
    for column in contract.columns:
        value_range = VALUE_RANGES.get((entity, column.name))
        if value_range is not None:
            low, high = value_range
            specs.append(
                _column(
                    "ExpectColumnValuesToBeBetween",
                    column.name,
                    f"{column.name} is between {low:,} and {high:,}",
                    min_value=low,
                    max_value=high,
                )
            )
        elif column.type == "decimal":
            specs.append(
                _column(
                    "ExpectColumnValuesToBeBetween",
                    column.name,
                    f"money column {column.name} is >= 0 and < {MONEY_UPPER_BOUND:,.0f}",
                    min_value=0,
                    max_value=MONEY_UPPER_BOUND,
                    strict_max=True,
                )
            )
    return specs


def soft_expectations(
    contract: EntityContract, now: datetime, references: tuple[Reference, ...]
) -> list[ExpectationSpec]:
    entity = contract.entity
    specs: list[ExpectationSpec] = []
    for column in contract.columns:
        if column.accepted_values is not None:
            specs.append(
                _column(
                    "ExpectColumnValuesToBeInSet",
                    column.name,
                    f"{column.name} is one of {', '.join(column.accepted_values)}",
                    value_set=list(column.accepted_values),
                )
            )
    latest_allowed = now + FUTURE_TOLERANCE
    for column in contract.columns:
        if column.type == "timestamp" and (entity, column.name) not in FUTURE_TIMESTAMPS_ALLOWED:
            specs.append(
                _column(
                    "ExpectColumnValuesToBeBetween",
                    column.name,
                    f"{column.name} is not in the future (1 day of tolerance)",
                    max_value=latest_allowed,
                )
            )
    for later, earlier in TIMESTAMP_ORDER.get(entity, ()):
        specs.append(
            ExpectationSpec(
                "ExpectColumnPairValuesAToBeGreaterThanB",
                {
                    "column_A": later,
                    "column_B": earlier,
                    "or_equal": True,
                    "ignore_row_if": "either_value_is_missing",
                    "mostly": TIMESTAMP_ORDER_MOSTLY,
                },
                f"{later} is not before {earlier} (on {TIMESTAMP_ORDER_MOSTLY:.0%} of the rows)",
                (later, earlier),
            )
        )
    for reference in references:
        share = "every row" if reference.mostly >= 1 else f"{reference.mostly:.0%} of the rows"
        why = f"; {reference.why}" if reference.why else ""
        specs.append(
            _column(
                "ExpectColumnValuesToBeInSet",
                reference.flag_column,
                f"{reference.column} names a known {reference.parent} record ({share}{why})",
                value_set=[True],
                mostly=reference.mostly,
            )
        )
    specs.append(
        _column(
            "ExpectColumnMaxToBeBetween",
            DUPLICATE_SHARE_COLUMN,
            f"less than {MAX_DUPLICATE_KEY_SHARE:.0%} of the raw rows repeat the key of another raw row",
            max_value=MAX_DUPLICATE_KEY_SHARE,
            strict_max=True,
        )
    )
    return specs


def build_suites(
    entity: str, now: datetime, available_parents: frozenset[str] | set[str] | None = None
) -> EntitySuites:
    """The two suites of one entity.

    ``now`` is the validation time (naive UTC, like the raw timestamps). ``available_parents`` are
    the entities whose raw table exists and has rows: referential checks against any other parent
    are left out. ``None`` means every parent is available (e.g. to describe the suites).
    """
    contract = contract_for(entity)
    references = tuple(
        reference
        for reference in REFERENCES.get(entity, ())
        if available_parents is None or reference.parent in available_parents
    )
    return EntitySuites(
        entity=entity,
        severe=tuple(severe_expectations(contract)),
        soft=tuple(soft_expectations(contract, now, references)),
        references=references,
    )


def describe_suite(entity: str, severity: str) -> str:
    """The suite in words, one line per expectation (for check descriptions)."""
    specs = build_suites(entity, datetime(2000, 1, 1)).for_severity(severity)
    lines = [f"- {spec.in_words()}" for spec in specs]
    if severity == SOFT and REFERENCES.get(entity):
        lines.append("- (references are checked only when the referenced table has rows)")
    return "\n".join(lines)


__all__ = [
    "DUPLICATE_SHARE_COLUMN",
    "REFERENCES",
    "SEVERE",
    "SEVERITIES",
    "SOFT",
    "EntitySuites",
    "ExpectationSpec",
    "Reference",
    "build_suites",
    "describe_suite",
    "suite_name",
]
