"""Mapping a file's records onto the contract, casting each value, and saying why a row fails.

A row is loaded only if every value it has parses as its contract type, every required value
is present, every value with a fixed vocabulary is in it, every number is finite and in its
column's range and every timestamp lies between the earliest plausible date and a few days after
the load (the contract's row rules); otherwise it is quarantined with all its reasons. Nothing
is dropped: rows in = rows loaded + rows quarantined. Columns the contract does not know are
kept, as JSON, in ``_extra_columns``.

Numbers are read in their column's format (``dagster_project.ingestion.numbers``); an amount
written with a currency fills the row's empty ``currency`` and is quarantined when it differs from
it. Derived columns (``derived:`` in the source config) are built from the row's typed values once
the other columns are read, then checked like any other column.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from dagster_project.core.contracts import EARLIEST_PLAUSIBLE_TIMESTAMP, Column, EntityContract
from dagster_project.ingestion.line_items import IS_BAD, ORDER_REASON, fill_down, fold_orders
from dagster_project.ingestion.numbers import parse_numbers
from dagster_project.ingestion.reading import TextRows
from dagster_project.ingestion.source_config import Derivation, EntityMapping, reads_per_order

QUARANTINE_REASON = "_quarantine_reason"
EXTRA_COLUMNS = "_extra_columns"
CURRENCY_COLUMN = "currency"
HASH_HEX_DIGITS = 32
VALUE_MAP_FALLBACK = "*"  # in a value map: every value the map and the vocabulary do not name


class ContractViolationError(Exception):
    """The file as a whole does not meet the contract (e.g. a required column is missing)."""


@dataclass(frozen=True)
class ValidatedRows:
    loaded: pl.DataFrame  # contract columns, typed, plus _extra_columns and _source_line
    quarantined: pl.DataFrame  # _source_line, _quarantine_reason, _raw_record (JSON text)
    extra_columns: list[str]  # headers in the file that the contract does not know


def _to_canonical(text: TextRows, contract: EntityContract, mapping: EntityMapping, file_name: str):
    """Rename the file's headers to canonical names, apply value maps and constants."""
    frame = text.frame
    present = [column for column in frame.columns if column != "_source_line"]
    _check_headers(present, contract, mapping, file_name)
    # One header may feed several canonical columns; a derived column reads no header.
    mapped_headers = {mapping.source_header(name) for name in contract.column_names if name not in mapping.derived}
    extra_columns = [column for column in present if column not in mapped_headers]

    extras = (
        pl.struct([pl.col(name) for name in extra_columns]).struct.json_encode()
        if extra_columns
        else pl.lit(None, dtype=pl.String)
    )
    canonical = [
        _canonical_text(name, contract, mapping, present, text.may_have_padding).alias(name)
        for name in contract.column_names
    ]
    mapped = frame.select(pl.col("_source_line"), *canonical, extras.alias(EXTRA_COLUMNS))
    if mapping.line_items is not None and mapping.line_items.fill_down:
        mapped = fill_down(mapped, mapping.line_items)
    if not reads_per_order(mapping, contract.key):  # read per order, blanks are judged once the rows are one
        mapped = mapped.with_columns(
            _when_empty(pl.col(column.name), column).alias(column.name)
            for column in columns_filled_when_empty(contract, mapping, present)
        )
    return mapped, extra_columns, present


def _check_headers(present: list[str], contract: EntityContract, mapping: EntityMapping, file_name: str) -> None:
    """Refuse the whole file when it lacks a required column or a column a derivation reads."""
    missing_required = [
        name
        for name in contract.required_columns
        if mapping.source_header(name) not in present and name not in mapping.constants and name not in mapping.derived
    ]
    if missing_required:
        wanted = ", ".join(
            f"{name} (header {mapping.source_header(name)!r})" if name in mapping.columns else name
            for name in missing_required
        )
        raise ContractViolationError(
            f"{file_name}: missing required column(s) {wanted} for {contract.entity}; "
            f"found columns: {', '.join(present) or 'none'}"
        )
    for name, derivation in mapping.derived.items():
        absent = [
            f"{reference} (header {mapping.source_header(reference)!r})"
            for reference in derivation.referenced_columns()
            if reference not in mapping.constants and mapping.source_header(reference) not in present
        ]
        if absent:
            raise ContractViolationError(
                f"{file_name}: {name} is derived ({derivation.kind}) from {', '.join(absent)}, which the file "
                f"does not have; found columns: {', '.join(present) or 'none'}"
            )


def _canonical_text(
    name: str, contract: EntityContract, mapping: EntityMapping, present: list[str], may_have_padding: bool
) -> pl.Expr:
    """A canonical column's text: its header's values trimmed (blank is absent), a constant, or
    null (a derived column, built once the columns it is derived from are typed); value-mapped."""
    header = mapping.source_header(name)
    if name in mapping.derived:
        value = pl.lit(None, dtype=pl.String)
    elif name in mapping.constants:
        value = pl.lit(mapping.constants[name], dtype=pl.String)
    elif header in present and may_have_padding:
        # Blank cells and padding are absent values, not empty strings.
        value = pl.col(header).str.strip_chars().replace("", None)
    elif header in present:
        value = pl.col(header)
    else:
        value = pl.lit(None, dtype=pl.String)
    if name in mapping.values:
        value = _mapped_values(value, mapping.values[name], contract.column(name))
    return value


def columns_filled_when_empty(contract: EntityContract, mapping: EntityMapping, present: list[str]) -> list[Column]:
    """The columns whose blank cells stand for a value (``Column.when_empty``): those the file has."""
    return [
        column
        for column in contract.columns
        if column.when_empty is not None
        and column.name not in mapping.derived
        and column.name not in mapping.constants
        and mapping.source_header(column.name) in present
    ]


def _when_empty(value: pl.Expr, column: Column) -> pl.Expr:
    assert column.when_empty is not None
    return pl.when(value.is_null() | (value.str.strip_chars() == "")).then(pl.lit(column.when_empty)).otherwise(value)


def _mapped_values(value: pl.Expr, value_map: dict[str, str], column: Column) -> pl.Expr:
    """A config's value map; its ``"*"`` entry, if any, stands for every other non-empty value that
    is not already one of the column's accepted values (e.g. ``"*": unknown`` for order statuses a
    system invents), so such rows load instead of being quarantined."""
    explicit = {word: canonical for word, canonical in value_map.items() if word != VALUE_MAP_FALLBACK}
    mapped = value.replace(explicit)
    if VALUE_MAP_FALLBACK not in value_map:
        return mapped
    accepted = list(column.accepted_values or ())
    is_known = (
        value.is_in(list(explicit))
        | mapped.str.strip_chars().str.to_lowercase().is_in(accepted)
        | value.is_null()
        | (value.str.strip_chars() == "")
    )
    return pl.when(is_known).then(mapped).otherwise(pl.lit(value_map[VALUE_MAP_FALLBACK]))


def _parse_timestamps(text: pl.Series, mapping: EntityMapping) -> pl.Series:
    """Try each format only on the values the previous ones could not parse."""
    parsed = pl.Series(text.name, [None] * len(text), dtype=pl.Datetime("us"))
    remaining = text.is_not_null()
    for timestamp_format in mapping.timestamp_formats:
        if not remaining.any():
            break
        has_offset = any(code in timestamp_format for code in ("%z", "%#z", "%:z", "%::z"))
        is_utc = timestamp_format.endswith("Z")  # a literal Z: UTC, whatever the entity's time zone
        attempt = text.str.to_datetime(
            timestamp_format, strict=False, time_unit="us", time_zone="UTC" if has_offset else None
        )
        if has_offset:
            attempt = attempt.dt.replace_time_zone(None)
        elif mapping.timezone != "UTC" and not is_utc:
            attempt = (
                attempt.dt.replace_time_zone(mapping.timezone, ambiguous="earliest", non_existent="null")
                .dt.convert_time_zone("UTC")
                .dt.replace_time_zone(None)
            )
        parsed = parsed.zip_with(parsed.is_not_null(), attempt)
        remaining = text.is_not_null() & parsed.is_null()
    return parsed


def _typed(frame: pl.DataFrame, column: Column, mapping: EntityMapping, contract: EntityContract) -> list[pl.Series]:
    """The column typed (``__typed_<name>``); numbers also give ``__problem_<name>`` (why a value
    cannot be read, where there is more to say) and ``__currency_<name>`` (the currency written)."""
    text = frame.get_column(column.name)
    typed_name = f"__typed_{column.name}"
    if column.type == "timestamp":
        return [_parse_timestamps(text, mapping).alias(typed_name)]
    if column.type == "string":
        expression = pl.col(column.name)
        expression = expression.str.to_lowercase() if column.accepted_values is not None else expression
        return [frame.select(expression).to_series().alias(typed_name)]
    if column.type in ("integer", "decimal"):
        parsed = parse_numbers(
            text,
            mapping.number_format_for(column.name),
            pl.Int64() if column.type == "integer" else pl.Float64(),
            currency_allowed=column.type == "decimal",
            currency_column=CURRENCY_COLUMN in contract.column_names,
            entity=contract.entity,
            column=column.name,
        )
        return [
            parsed.value.alias(typed_name),
            parsed.problem.alias(f"__problem_{column.name}"),
            parsed.currency.alias(f"__currency_{column.name}"),
        ]
    raise ValueError(f"unknown contract type {column.type!r} for column {column.name!r}")


def _record_currency(typed: pl.DataFrame, contract: EntityContract) -> tuple[pl.DataFrame, list]:
    """Fill an empty currency from the amounts' text; (condition, reason) for rows where they disagree."""
    amounts = [column.name for column in contract.columns if column.type == "decimal"]
    if CURRENCY_COLUMN not in contract.column_names or not amounts:
        return typed, []
    written = [pl.col(f"__currency_{name}") for name in amounts]
    if not typed.select(pl.any_horizontal(column.is_not_null().any() for column in written)).item():
        return typed, []
    given = pl.col("__currency_as_given")
    amount_currency = pl.col("__amount_currency")
    typed = typed.with_columns(
        pl.col(CURRENCY_COLUMN).alias("__currency_as_given"),
        pl.coalesce(written).alias("__amount_currency"),
        (pl.concat_list(written).list.drop_nulls().list.n_unique() > 1).alias("__several_currencies"),
        pl.concat_str(
            [pl.lit(f"{name} ") + column for name, column in zip(amounts, written, strict=True)],
            separator=", ",
            ignore_nulls=True,
        ).alias("__currencies_written"),
    ).with_columns(
        pl.coalesce(pl.col(CURRENCY_COLUMN), amount_currency).alias(CURRENCY_COLUMN),
        pl.coalesce(pl.col(f"__typed_{CURRENCY_COLUMN}"), amount_currency).alias(f"__typed_{CURRENCY_COLUMN}"),
    )
    failures = [
        (
            pl.col("__several_currencies"),
            pl.format("amounts are written in different currencies ({})", pl.col("__currencies_written")),
        ),
        (
            ~pl.col("__several_currencies")
            & given.is_not_null()
            & amount_currency.is_not_null()
            & (given.str.strip_chars().str.to_uppercase() != amount_currency),
            pl.format(
                "{}: '{}' differs from the currency the amounts are written in ({})",
                pl.lit(CURRENCY_COLUMN),
                given,
                pl.col("__currencies_written"),
            ),
        ),
    ]
    return typed, failures


def _as_text(column: Column) -> pl.Expr:
    """A typed value as derivations see it: text as loaded, whole numbers as digits, decimals in
    their shortest round-trip spelling (12.5, 100.0), timestamps in UTC as 2025-01-31T09:30:00.000000."""
    typed = pl.col(f"__typed_{column.name}")
    if column.type == "timestamp":
        return typed.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f")
    return typed.cast(pl.String)


def _sha256_prefixes(encoded: pl.Series) -> pl.Series:
    return pl.Series(
        [
            None if value is None else hashlib.sha256(value.encode("utf-8")).hexdigest()[:HASH_HEX_DIGITS]
            for value in encoded.to_list()
        ],
        dtype=pl.String,
    )


def _derived_text(typed: pl.DataFrame, derivation: Derivation, columns: dict[str, Column]) -> pl.Series:
    if derivation.hash is not None:
        parts = [
            pl.when(value.is_null()).then(pl.lit("~")).otherwise(value.str.len_chars().cast(pl.String) + ":" + value)
            for value in (_as_text(columns[name]) for name in derivation.hash)
        ]
        return _sha256_prefixes(typed.select(pl.concat_str(parts, separator="|")).to_series())
    if derivation.concat is not None:
        parts = [
            _as_text(columns[item]) if isinstance(item, str) else pl.lit(item.literal, dtype=pl.String)
            for item in derivation.concat
        ]
        return typed.select(pl.concat_str(parts, separator=derivation.separator or "")).to_series()
    assert derivation.row_number is not None
    within = [f"__typed_{name}" for name in derivation.row_number.within]
    order_by = [f"__typed_{name}" for name in derivation.row_number.order_by]
    numbered = (
        typed.select(*{name: pl.col(name) for name in [*within, *order_by]}.values())
        .with_row_index("__position")
        .sort([*order_by, "__position"], nulls_last=True, maintain_order=True)
    )
    number = pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
    numbered = numbered.with_columns((number.over(within) if within else number).alias("__number"))
    return numbered.sort("__position").get_column("__number").cast(pl.String)


def _derive(typed: pl.DataFrame, contract: EntityContract, mapping: EntityMapping) -> pl.DataFrame:
    """Build the derived columns from the typed values of the others, then type them."""
    columns = {column.name: column for column in contract.columns}
    typed = typed.with_columns(
        _derived_text(typed, derivation, columns).alias(name) for name, derivation in mapping.derived.items()
    )
    return typed.with_columns(
        series for name in mapping.derived for series in _typed(typed, columns[name], mapping, contract)
    )


def _failures(column: Column, loaded_at: datetime, *, judge_required: bool = True) -> list[tuple[pl.Expr, pl.Expr]]:
    """(condition, reason) pairs: when a condition holds, the row fails for that reason.

    ``judge_required``: False where a required value may be on another row of the record (an
    order-level field of a line-item export, judged once the order's rows are folded)."""
    # Long on purpose: the contract's row rules for one column, one after the other in the order
    # their reasons are reported; each is a few lines and they read best as one list.
    text, typed = pl.col(column.name), pl.col(f"__typed_{column.name}")
    failures = []
    if column.required and judge_required:
        failures.append((text.is_null(), pl.lit(f"{column.name}: required value is missing")))
    if column.type in ("integer", "decimal"):
        failures.append(
            (
                text.is_not_null() & typed.is_null(),
                pl.concat_str(
                    [
                        pl.format("{}: cannot parse '{}' as {}", pl.lit(column.name), text, pl.lit(column.type)),
                        pl.lit(": ") + pl.col(f"__problem_{column.name}"),
                    ],
                    ignore_nulls=True,
                ),
            )
        )
    elif column.type != "string":
        failures.append(
            (
                text.is_not_null() & typed.is_null(),
                pl.format("{}: cannot parse '{}' as {}", pl.lit(column.name), text, pl.lit(column.type)),
            )
        )
    if column.type == "decimal":
        # "1e400", "inf" and "NaN" parse as floats; no amount is infinite or not a number.
        failures.append(
            (
                typed.is_not_null() & ~typed.is_finite(),
                pl.format("{}: '{}' is not a finite number", pl.lit(column.name), text),
            )
        )
    if column.type in ("integer", "decimal") and (column.minimum is not None or column.maximum is not None):
        low = column.minimum if column.minimum is not None else float("-inf")
        high = column.maximum if column.maximum is not None else float("inf")
        outside = typed.is_not_null() & typed.is_finite() & ((typed < low) | (typed > high))
        failures.append(
            (outside, pl.format("{}: '{}' is outside {}", pl.lit(column.name), text, pl.lit(column.rules_in_words())))
        )
    if column.type == "timestamp":
        latest = loaded_at + timedelta(days=column.future_days)
        implausible = typed.is_not_null() & ((typed < EARLIEST_PLAUSIBLE_TIMESTAMP) | (typed > latest))
        failures.append(
            (
                implausible,
                pl.format(
                    "{}: '{}' is not a plausible date (before {} or more than {} days after the load)",
                    pl.lit(column.name),
                    text,
                    pl.lit(f"{EARLIEST_PLAUSIBLE_TIMESTAMP:%Y-%m-%d}"),
                    pl.lit(column.future_days),
                ),
            )
        )
    if column.accepted_values is not None:
        failures.append(
            (
                text.is_not_null() & ~typed.is_in(list(column.accepted_values)),
                pl.format(
                    "{}: '{}' is not one of {}", pl.lit(column.name), text, pl.lit(", ".join(column.accepted_values))
                ),
            )
        )
    return failures


def validate_rows(
    text: TextRows, contract: EntityContract, file_name: str, mapping: EntityMapping, loaded_at: datetime
) -> ValidatedRows:
    """Split a file's text records into typed loaded rows and quarantined rows with reasons.

    ``loaded_at`` (naive UTC) is the load time that "too far in the future" is judged against."""
    mapped, extra_columns, present = _to_canonical(text, contract, mapping, file_name)
    typed = mapped.with_columns(
        series
        for column in contract.columns
        if column.name not in mapping.derived
        for series in _typed(mapped, column, mapping, contract)
    )
    typed, currency_failures = _record_currency(typed, contract)
    if mapping.derived:
        typed = _derive(typed, contract, mapping)
    per_order = reads_per_order(mapping, contract.key)
    order_columns = mapping.line_items.order if mapping.line_items is not None else ()
    failures = [
        failure
        for column in contract.columns
        for failure in _failures(column, loaded_at, judge_required=not per_order or column.name in order_columns)
    ]
    failures.extend(currency_failures)
    is_bad = (
        typed.select(pl.any_horizontal([condition for condition, _ in failures])).to_series()
        if failures
        else pl.Series([False] * typed.height, dtype=pl.Boolean)
    )
    contract_columns = [pl.col(f"__typed_{name}").alias(name) for name in contract.column_names]
    reasons = [pl.when(condition).then(reason) for condition, reason in failures]
    if per_order:
        folded = fold_orders(
            typed.with_columns(is_bad.alias(IS_BAD)),
            contract,
            mapping,
            columns_filled_when_empty(contract, mapping, present),
            EXTRA_COLUMNS,
        )
        loaded = folded.loaded.select(*contract_columns, pl.col(EXTRA_COLUMNS), pl.col("_source_line"))
        flagged = folded.rows
        is_bad = flagged.get_column(IS_BAD)
        reasons.append(pl.col(ORDER_REASON))
    elif not is_bad.any():  # the common case: every row is good, no copy through a filter
        loaded = typed.select(*contract_columns, pl.col(EXTRA_COLUMNS), pl.col("_source_line"))
        return ValidatedRows(loaded=loaded, quarantined=text.malformed, extra_columns=extra_columns)
    else:
        flagged = typed.with_columns(is_bad.alias(IS_BAD))
        loaded = flagged.filter(~pl.col(IS_BAD)).select(
            *contract_columns, pl.col(EXTRA_COLUMNS), pl.col("_source_line")
        )
    quarantined = _quarantined(text, flagged, is_bad, reasons, present)
    return ValidatedRows(loaded=loaded, quarantined=quarantined, extra_columns=extra_columns)


def _quarantined(
    text: TextRows, flagged: pl.DataFrame, is_bad: pl.Series, reasons: list[pl.Expr], present: list[str]
) -> pl.DataFrame:
    """The failing rows with their reasons and the row as it was in the file (for whoever fixes
    it), built for failing rows only, with the records that could not be split, by line.

    The text frame is row for row the flagged one, so the same mask picks the rows as they were.
    """
    bad_records = pl.concat(
        [
            # One chunk: polars 2.1 can panic formatting strings of a frame filtered into many
            # chunks (seen on a 1.8M-line JSON file with half its rows failing).
            flagged.filter(pl.col(IS_BAD))
            .rechunk()
            .select("_source_line", pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias(QUARANTINE_REASON)),
            text.frame.filter(is_bad)
            .rechunk()
            .select(pl.struct([pl.col(name) for name in present]).struct.json_encode().alias("_raw_record")),
        ],
        how="horizontal",
    )
    return pl.concat([text.malformed, bad_records]).sort("_source_line")
