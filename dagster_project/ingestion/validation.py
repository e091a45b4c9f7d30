"""Checking rows against an export contract: cast each value, and say why a row fails.

A row is loaded only if every value it has parses as its contract type, every required value
is present and every value with a fixed vocabulary is in it; otherwise it is quarantined with
all its reasons. Nothing is dropped: rows in = rows loaded + rows quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dagster_project.contracts import Column, EntityContract
from dagster_project.ingestion.files import TextRows

# Tried in order; the first that parses wins. Values without an offset are taken as UTC.
TIMESTAMP_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)

QUARANTINE_REASON = "_quarantine_reason"


class ContractViolationError(Exception):
    """The file as a whole does not meet the contract (e.g. a required column is missing)."""


@dataclass(frozen=True)
class ValidatedRows:
    loaded: pl.DataFrame  # contract columns, typed, plus _source_line
    quarantined: pl.DataFrame  # _source_line, _quarantine_reason, _raw_record (JSON text)
    extra_columns: list[str]  # columns in the file that the contract does not know


def _parse_timestamp(text: pl.Expr) -> pl.Expr:
    attempts = [text.str.to_datetime(fmt, strict=False, time_zone="UTC", time_unit="us") for fmt in TIMESTAMP_FORMATS]
    return pl.coalesce(attempts).dt.replace_time_zone(None)


def _typed_value(column: Column) -> pl.Expr:
    text = pl.col(column.name)
    if column.type == "string":
        if column.accepted_values is not None:
            return text.str.to_lowercase()
        return text
    if column.type == "integer":
        return text.str.replace_all(",", "").cast(pl.Int64, strict=False)
    if column.type == "decimal":
        return text.str.replace_all(",", "").cast(pl.Float64, strict=False)
    if column.type == "timestamp":
        return _parse_timestamp(text)
    raise ValueError(f"unknown contract type {column.type!r} for column {column.name!r}")


def _failure_reason(column: Column, typed: pl.Expr) -> pl.Expr:
    """The reason this column makes the row fail, or null when it does not."""
    text = pl.col(column.name)
    reasons = []
    if column.required:
        reasons.append(pl.when(text.is_null()).then(pl.lit(f"{column.name}: required value is missing")))
    if column.type != "string":
        reasons.append(
            pl.when(text.is_not_null() & typed.is_null()).then(
                pl.format("{}: cannot parse '{}' as {}", pl.lit(column.name), text, pl.lit(column.type))
            )
        )
    if column.accepted_values is not None:
        reasons.append(
            pl.when(text.is_not_null() & ~typed.is_in(list(column.accepted_values))).then(
                pl.format(
                    "{}: '{}' is not one of {}",
                    pl.lit(column.name),
                    text,
                    pl.lit(", ".join(column.accepted_values)),
                )
            )
        )
    if not reasons:
        return pl.lit(None, dtype=pl.String)
    return pl.concat_str(reasons, separator="; ", ignore_nulls=True).replace("", None)


def validate_rows(text: TextRows, contract: EntityContract, file_name: str) -> ValidatedRows:
    """Split a file's text rows into typed loaded rows and quarantined rows with reasons."""
    text_rows = text.frame
    present = set(text_rows.columns) - {"_source_line"}
    missing_required = [name for name in contract.required_columns if name not in present]
    if missing_required:
        raise ContractViolationError(
            f"{file_name}: missing required column(s) {', '.join(missing_required)} "
            f"for {contract.entity}; found columns: {', '.join(sorted(present)) or 'none'}"
        )
    extra_columns = sorted(present - set(contract.column_names))

    # The row as it was in the file, for whoever fixes a quarantined row.
    raw_record = pl.struct([pl.col(name) for name in sorted(present)]).struct.json_encode()
    # Blank cells and padding are absent values, not empty strings.
    cleaned = (
        text_rows.with_columns(raw_record.alias("_raw_record"))
        .with_columns([pl.col(name).str.strip_chars().replace("", None) for name in present])
        .with_columns(
            [pl.lit(None, dtype=pl.String).alias(name) for name in contract.column_names if name not in present]
        )
    )

    typed_columns = [_typed_value(column).alias(column.name) for column in contract.columns]
    reason_columns = [_failure_reason(column, _typed_value(column)) for column in contract.columns]

    checked = cleaned.select(
        pl.col("_source_line"),
        *typed_columns,
        pl.concat_str(reason_columns, separator="; ", ignore_nulls=True).replace("", None).alias(QUARANTINE_REASON),
        pl.col("_raw_record"),
    )
    is_bad = pl.col(QUARANTINE_REASON).is_not_null()
    loaded = checked.filter(~is_bad).select(*contract.column_names, "_source_line")
    quarantined = pl.concat(
        [text.malformed, checked.filter(is_bad).select("_source_line", QUARANTINE_REASON, "_raw_record")]
    ).sort("_source_line")
    return ValidatedRows(loaded=loaded, quarantined=quarantined, extra_columns=extra_columns)
