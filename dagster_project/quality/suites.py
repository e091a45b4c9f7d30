"""The expectation suites of the raw tables, built from the export contracts.

Each raw entity gets two suites:

``severe`` (blocking), validated on the table's *metrics*: one row of aggregates DuckDB computes
    over the whole table and its latest load (:mod:`dagster_project.quality.frames`). It fails
    only on a systemic problem: a required export with no rows at all, a key or required value
    empty in the latest load, more than a configurable share of the latest load's rows quarantined, a
    key mostly empty in the latest load. A failure blocks the assets downstream. Rules that one
    row can break are row rules of the contract, judged at ingestion: such a row is quarantined
    and the rest of its file loads, so a few bad rows never stop the night.
``soft`` (warning), validated on the metrics of the *latest load* (the rows the run brought,
    not the whole history): the share of its rows with a value outside its vocabulary or range, a
    timestamp in the future or out of order, a reference to an unknown record, a key delivered
    before, and its quarantined rows. DuckDB counts them (:class:`RowCheck` holds each rule's SQL)
    and picks a few examples, so neither suite's memory grows with the table.

This module is plain data: expectations are described by the name of their Great Expectations
class and its arguments, so importing it costs nothing (GX itself is slow to import and is only
imported by :mod:`dagster_project.quality.validation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dagster_project.core.contracts import EARLIEST_PLAUSIBLE_TIMESTAMP, EntityContract, contract_for
from dagster_project.core.warehouse import quote_identifier

SEVERE = "severe"
SOFT = "soft"
SEVERITIES: tuple[str, ...] = (SEVERE, SOFT)

# Share of a load's rows that may be quarantined before the problem counts as systemic (a changed
# export layout, a wrong date format) and blocks the downstream. Per entity and source system with
# `max_quarantined_share:` in the source config.
DEFAULT_MAX_QUARANTINED_SHARE = 0.10
# A key column empty on more than this share of a load's rows is "mostly empty": systemic.
MOSTLY_EMPTY_KEY_SHARE = 0.5
# Timestamps that may legitimately lie in the future: a campaign is planned to end on a date.
FUTURE_TIMESTAMPS_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {("campaigns", "ended_at"), ("campaigns", "started_at")}
)
FUTURE_TOLERANCE = timedelta(days=1)
# (later, earlier): the later timestamp must not be before the earlier one, on this share of rows.
TIMESTAMP_ORDER: dict[str, tuple[tuple[str, str], ...]] = {
    "campaigns": (("ended_at", "started_at"),),
    "tickets": (("resolved_at", "created_at"), ("first_response_at", "created_at")),
}
TIMESTAMP_ORDER_MOSTLY = 0.99
# Share of a load's rows whose key was delivered before, above which deliveries look wrong.
MAX_DUPLICATE_KEY_SHARE = 0.05
DUPLICATE_SHARE_COLUMN = "redelivered_key_share"
# Metrics (severe suite) of the whole table.
ROW_COUNT_METRIC = "rows"


def empty_rows_metric(column: str) -> str:
    """Rows of the latest load whose ``column`` is empty."""
    return f"rows_with_empty_{column}"


def quarantined_share_metric(system: str) -> str:
    """Share of the rows read in ``system``'s latest load of the entity that were quarantined."""
    return f"quarantined_share__{system}"


def empty_key_share_metric(system: str) -> str:
    """Share of the rows read in ``system``'s latest load that had no key."""
    return f"empty_key_share__{system}"


def quarantined_rows_column(system: str) -> str:
    """Rows of ``system``'s latest load that were quarantined (a soft warning when not 0)."""
    return f"quarantined_rows__{system}"


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
        """The joined column that holds the parent's key when the value names a known record."""
        return f"{self.column}__known_{self.parent}"

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
class RowCheck:
    """A soft rule judged on every row of the latest load; DuckDB counts the rows.

    ``judged`` and ``unexpected`` are SQL conditions on the load's rows (and the reference flags
    joined to them): the rows the rule applies to, and among them those that break it. The
    metrics row gets ``metric`` = unexpected / judged, which the suite expects to be at most
    ``tolerance``; ``shown`` is what an example of a row that breaks it shows.
    """

    metric: str
    judged: str
    unexpected: str
    shown: str
    tolerance: float
    meaning: str

    def expectation(self) -> ExpectationSpec:
        return _column("ExpectColumnValuesToBeBetween", self.metric, self.meaning, max_value=self.tolerance)


@dataclass(frozen=True)
class EntitySuites:
    entity: str
    severe: tuple[ExpectationSpec, ...]  # on the table's metrics
    soft: tuple[ExpectationSpec, ...]  # on the latest load's metrics
    references: tuple[Reference, ...]  # those actually validated (parent present and non-empty)
    systems: tuple[str, ...] = ()  # source systems whose latest load is judged
    row_checks: tuple[RowCheck, ...] = ()  # the soft rules DuckDB counts row by row

    def for_severity(self, severity: str) -> tuple[ExpectationSpec, ...]:
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}; known: {', '.join(SEVERITIES)}")
        return self.severe if severity == SEVERE else self.soft


def suite_name(entity: str, severity: str) -> str:
    """``raw.<entity>.<severity>``: Data Docs list the suites by these names."""
    return f"raw.{entity}.{severity}"


def _column(expectation: str, column: str, meaning: str, **kwargs: Any) -> ExpectationSpec:
    return ExpectationSpec(expectation, {"column": column, **kwargs}, meaning, (column,))


def _metric_at_most(column: str, maximum: float, meaning: str) -> ExpectationSpec:
    return _column("ExpectColumnValuesToBeBetween", column, meaning, max_value=maximum)


def severe_expectations(contract: EntityContract, quarantine_limits: Mapping[str, float]) -> list[ExpectationSpec]:
    """Expectations on the metrics row: only what makes the whole table unusable."""
    entity = contract.entity
    specs: list[ExpectationSpec] = []
    if contract.is_required_export:
        specs.append(
            _column(
                "ExpectColumnValuesToBeBetween",
                ROW_COUNT_METRIC,
                f"raw.{entity} has at least one row (the {entity} export is required)",
                min_value=1,
            )
        )
    for name in dict.fromkeys([*contract.key, *contract.required_columns]):
        kind = "key column" if name in contract.key else "required column"
        specs.append(_metric_at_most(empty_rows_metric(name), 0, f"{kind} {name} is never empty in the latest load"))
    for system, limit in sorted(quarantine_limits.items()):
        specs.append(
            _metric_at_most(
                quarantined_share_metric(system),
                limit,
                f"at most {limit:.0%} of the rows of {system}'s latest load are quarantined",
            )
        )
        specs.append(
            _metric_at_most(
                empty_key_share_metric(system),
                MOSTLY_EMPTY_KEY_SHARE,
                f"the key ({', '.join(contract.key)}) is not mostly empty in {system}'s latest load "
                f"(at most {MOSTLY_EMPTY_KEY_SHARE:.0%} of its rows)",
            )
        )
    return specs


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S}'"


def row_checks(contract: EntityContract, now: datetime, references: tuple[Reference, ...]) -> list[RowCheck]:
    """The soft rules judged row by row on the latest load, with their SQL."""
    return [
        *_value_checks(contract),
        *_plausible_time_checks(contract, now),
        *_time_order_checks(contract.entity),
        *_reference_checks(references),
    ]


def _value_checks(contract: EntityContract) -> list[RowCheck]:
    """Per column, in contract order: numbers within their bounds, values in their vocabulary."""
    checks: list[RowCheck] = []
    for column in contract.columns:
        name = quote_identifier(column.name)
        if column.type in ("integer", "decimal") and (column.minimum is not None or column.maximum is not None):
            bounds = []
            if column.minimum is not None:
                bounds.append(f"{name} < {column.minimum!r}")
            if column.maximum is not None:
                bounds.append(f"{name} > {column.maximum!r}")
            checks.append(
                RowCheck(
                    f"{column.name}__out_of_range_share",
                    f"{name} IS NOT NULL",
                    " OR ".join(bounds),
                    name,
                    0.0,
                    f"{column.name}: {column.rules_in_words()}",
                )
            )
        if column.accepted_values is not None:
            vocabulary = ", ".join(_quoted(value) for value in column.accepted_values)
            checks.append(
                RowCheck(
                    f"{column.name}__unknown_value_share",
                    f"{name} IS NOT NULL",
                    f"{name} NOT IN ({vocabulary})",
                    name,
                    0.0,
                    f"{column.name} is one of {', '.join(column.accepted_values)}",
                )
            )
    return checks


def _plausible_time_checks(contract: EntityContract, now: datetime) -> list[RowCheck]:
    """Timestamps neither before the earliest plausible date nor in the future (where the future
    is not allowed), with a day of tolerance."""
    latest_allowed = now + FUTURE_TOLERANCE
    earliest = f"{EARLIEST_PLAUSIBLE_TIMESTAMP:%Y-%m-%d}"
    checks: list[RowCheck] = []
    for column in contract.columns:
        if column.type != "timestamp":
            continue
        name = quote_identifier(column.name)
        too_early = f"{name} < {_sql_timestamp(EARLIEST_PLAUSIBLE_TIMESTAMP)}"
        if (contract.entity, column.name) in FUTURE_TIMESTAMPS_ALLOWED:
            meaning, unexpected = f"{column.name} is not before {earliest}", too_early
        else:
            meaning = f"{column.name} is not in the future (1 day of tolerance) nor before {earliest}"
            unexpected = f"{too_early} OR {name} > {_sql_timestamp(latest_allowed)}"
        checks.append(
            RowCheck(f"{column.name}__implausible_share", f"{name} IS NOT NULL", unexpected, name, 0.0, meaning)
        )
    return checks


def _time_order_checks(entity: str) -> list[RowCheck]:
    """A later timestamp of a row is mostly not before the earlier one (TIMESTAMP_ORDER)."""
    checks: list[RowCheck] = []
    for later, earlier in TIMESTAMP_ORDER.get(entity, ()):
        later_name, earlier_name = quote_identifier(later), quote_identifier(earlier)
        checks.append(
            RowCheck(
                f"{later}__before_{earlier}_share",
                f"{later_name} IS NOT NULL AND {earlier_name} IS NOT NULL",
                f"{later_name} < {earlier_name}",
                f"CAST({later_name} AS VARCHAR) || ' < ' || CAST({earlier_name} AS VARCHAR)",
                1 - TIMESTAMP_ORDER_MOSTLY,
                f"{later} is not before {earlier} (on {TIMESTAMP_ORDER_MOSTLY:.0%} of the rows)",
            )
        )
    return checks


def _reference_checks(references: tuple[Reference, ...]) -> list[RowCheck]:
    """A reference to a parent record names a known one (on the reference's share of rows)."""
    checks: list[RowCheck] = []
    for reference in references:
        share = "every row" if reference.mostly >= 1 else f"{reference.mostly:.0%} of the rows"
        why = f"; {reference.why}" if reference.why else ""
        name = quote_identifier(reference.column)
        checks.append(
            RowCheck(
                f"{reference.column}__unknown_{reference.parent}_share",
                f"{name} IS NOT NULL",
                f"{quote_identifier(reference.flag_column)} IS NULL",
                name,
                round(1 - reference.mostly, 6),
                f"{reference.column} names a known {reference.parent} record ({share}{why})",
            )
        )
    return checks


def soft_expectations(
    checks: list[RowCheck] | tuple[RowCheck, ...], systems: tuple[str, ...] = ()
) -> list[ExpectationSpec]:
    """Expectations on the latest load's metrics: suspicious but usable data."""
    specs = [check.expectation() for check in checks]
    specs.append(
        _metric_at_most(
            DUPLICATE_SHARE_COLUMN,
            MAX_DUPLICATE_KEY_SHARE,
            f"at most {MAX_DUPLICATE_KEY_SHARE:.0%} of the latest load's rows repeat a key delivered before "
            "(in an earlier load or earlier in the same one)",
        )
    )
    for system in systems:
        specs.append(
            _metric_at_most(
                quarantined_rows_column(system),
                0,
                f"no row of {system}'s latest load was quarantined (see raw._quarantine)",
            )
        )
    return specs


def build_suites(
    entity: str,
    now: datetime,
    available_parents: frozenset[str] | set[str] | None = None,
    quarantine_limits: Mapping[str, float] | None = None,
) -> EntitySuites:
    """The two suites of one entity.

    ``now`` is the validation time (naive UTC, like the raw timestamps). ``available_parents`` are
    the entities whose raw table exists and has rows: referential checks against any other parent
    are left out. ``None`` means every parent is available (e.g. to describe the suites).
    ``quarantine_limits`` maps each source system with a load of this entity to the share of a
    load's rows that may be quarantined; ``None`` describes the rule for a system ``<system>``.
    """
    contract = contract_for(entity)
    references = tuple(
        reference
        for reference in REFERENCES.get(entity, ())
        if available_parents is None or reference.parent in available_parents
    )
    limits = dict(quarantine_limits) if quarantine_limits is not None else {"<system>": DEFAULT_MAX_QUARANTINED_SHARE}
    checks = tuple(row_checks(contract, now, references))
    return EntitySuites(
        entity=entity,
        severe=tuple(severe_expectations(contract, limits)),
        soft=tuple(soft_expectations(checks, tuple(sorted(limits)))),
        references=references,
        systems=tuple(sorted(limits)),
        row_checks=checks,
    )


def describe_suite(entity: str, severity: str) -> str:
    """The suite in words, one line per expectation (for check descriptions)."""
    specs = build_suites(entity, datetime(2000, 1, 1)).for_severity(severity)
    lines = [f"- {spec.in_words()}" for spec in specs]
    if severity == SOFT and REFERENCES.get(entity):
        lines.append("- (references are checked only when the referenced table has rows)")
    return "\n".join(lines)


__all__ = [
    "DEFAULT_MAX_QUARANTINED_SHARE",
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
