"""Reading numbers as exports write them: separators, currency symbols and codes, accounting negatives.

A value is read in one pass of a regular expression over the column (vectorised, no Python per
row): an optional sign, currency (symbol or three-letter code, before or after) and parentheses
around the digits, then the digits checked against the column's separators. What a value carries
besides the number comes back with it: the currency it was written in and, when it cannot be
read, why, so the quarantine reason says more than "cannot parse".

Values that a plain cast already reads (``1234.5``, ``-3``, ``1e400``) are taken as they are when
the decimal separator is a point, so configs written before number formats existed read every
value they read before, the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from dagster_project.ingestion.source_config import DEFAULT_CURRENCY_SYMBOLS, ResolvedNumberFormat

SPACES = " \u00a0\u202f"  # space, no-break space, narrow no-break space (French and Swiss grouping)
APOSTROPHES = "'\u2019"
# Every character that may group digits; all but the decimal separator are removed before the cast.
GROUPING_CHARACTERS = ",." + SPACES + APOSTROPHES
_CLASS = {",": ",", ".": r"\.", " ": "[ \u00a0\u202f]", "'": "['\u2019]"}


@dataclass(frozen=True)
class ParsedNumbers:
    value: pl.Series  # Float64 or Int64; null where the text is missing or cannot be read
    currency: pl.Series  # ISO code the text was written in, or null
    problem: pl.Series  # why a present value could not be read, when there is more to say than that


def _currency_alternatives(symbols: tuple[tuple[str, str], ...]) -> str:
    escaped = sorted((re.escape(symbol) for symbol, _ in symbols), key=len, reverse=True)
    return "|".join([*escaped, "[A-Z]{3}"])


def _value_pattern(symbols: tuple[tuple[str, str], ...]) -> str:
    currency = _currency_alternatives(symbols)
    number = r"[0-9.,](?:[0-9.,'\u2019 \u00a0\u202f]*[0-9.,])?"
    return (
        rf"^\s*(?P<s1>[-+])?\s*(?P<c1>{currency})?\s*(?P<s2>[-+])?\s*(?P<p1>\()?\s*(?P<c2>{currency})?\s*"
        rf"(?P<s3>[-+])?\s*(?P<num>{number})\s*(?P<c3>{currency})?\s*(?P<p2>\))?\s*(?P<c4>{currency})?\s*"
        r"(?P<s4>-)?\s*$"
    )


def _digits_pattern(number_format: ResolvedNumberFormat) -> str:
    decimal = _CLASS[number_format.decimal]
    if number_format.thousands == "":
        groupings = []
    elif number_format.thousands is not None:
        groupings = [_CLASS[number_format.thousands]]
    else:  # where unambiguous: the other of , and . (a lone group is caught separately), spaces, apostrophes
        other = "," if number_format.decimal == "." else "."
        groupings = [_CLASS[other], _CLASS[" "], _CLASS["'"]]
    whole = "|".join([r"\d+", *(rf"\d{{1,3}}(?:{grouping}\d{{3}})+" for grouping in groupings)])
    return rf"^(?:(?:{whole})(?:{decimal}\d*)?|{decimal}\d+)$"


def describe(number_format: ResolvedNumberFormat) -> str:
    if number_format.thousands is None:
        thousands = "where unambiguous"
    elif number_format.thousands == "":
        thousands = "none"
    else:
        thousands = repr(number_format.thousands)
    return f"decimal {number_format.decimal!r}, thousands {thousands}"


def parse_numbers(
    text: pl.Series,
    number_format: ResolvedNumberFormat,
    dtype: pl.DataType,
    *,
    currency_allowed: bool,
    currency_column: bool,
    entity: str,
    column: str,
) -> ParsedNumbers:
    """Read a column's text as numbers in the given format.

    ``currency_allowed``: amounts may carry a currency (decimal columns); ``currency_column``: the
    entity has a currency column the currency can be recorded in; ``entity`` and ``column`` name
    them in messages."""
    nulls = pl.Series(text.name, [None] * len(text), dtype=pl.String)
    plain = (
        text.cast(dtype, strict=False)
        if number_format.decimal == "."
        else pl.Series(text.name, [None] * len(text), dtype=dtype)
    )
    if not (text.is_not_null() & plain.is_null()).any():  # the common case: every value is plain
        return ParsedNumbers(value=plain, currency=nulls, problem=nulls)

    symbols = number_format.currency_symbols or tuple(DEFAULT_CURRENCY_SYMBOLS.items())
    parts = (
        text.to_frame("text")
        .select(pl.col("text").str.extract_groups(_value_pattern(symbols)).alias("parts"))
        .unnest("parts")
    )
    reading = _reading(number_format, symbols)
    problem = _problem(
        reading,
        number_format,
        currency_allowed=currency_allowed,
        currency_column=currency_column,
        entity=entity,
        column=column,
    )
    readable = reading.matched & ~reading.bad_shape & problem.is_null()
    parsed = parts.select(
        pl.when(readable).then(_value(reading, number_format, dtype)).alias("value"),
        pl.when(readable).then(reading.currency).alias("currency"),
        problem.alias("problem"),
    )
    value = plain.zip_with(plain.is_not_null(), parsed["value"].alias(text.name))
    currency_series = nulls.zip_with(plain.is_not_null(), parsed["currency"])
    problem_series = nulls.zip_with(plain.is_not_null(), parsed["problem"])
    return ParsedNumbers(value=value, currency=currency_series, problem=problem_series)


@dataclass(frozen=True)
class _Reading:
    """Expressions over the parts of a value (the named groups of :func:`_value_pattern`)."""

    matched: pl.Expr  # it has the shape of a number, whatever its separators
    bad_shape: pl.Expr  # signs and parentheses that do not add up to one sign
    ambiguous: pl.Expr  # a lone group such as 1,550 where the separator may be either
    well_formed: pl.Expr  # the digits are grouped as the format says
    currency: pl.Expr  # the ISO code of the first currency written, or null
    several_currencies: pl.Expr
    negative: pl.Expr


def _other_separator(number_format: ResolvedNumberFormat) -> str:
    """The one of ',' and '.' that is not the decimal separator."""
    return "," if number_format.decimal == "." else "."


def _reading(number_format: ResolvedNumberFormat, symbols: tuple[tuple[str, str], ...]) -> _Reading:
    codes = dict(symbols)
    tokens = [
        pl.col(name).replace_strict(codes, default=pl.col(name), return_dtype=pl.String)
        for name in ("c1", "c2", "c3", "c4")
    ]
    signs = [pl.col(name) for name in ("s1", "s2", "s3", "s4")]
    sign_count = pl.sum_horizontal(sign.is_not_null().cast(pl.Int8) for sign in signs)
    has_parens = pl.col("p1").is_not_null() | pl.col("p2").is_not_null()
    matched = pl.col("num").is_not_null()
    digits = pl.col("num")
    other = _other_separator(number_format)
    ambiguous = (
        matched & (number_format.thousands is None) & digits.str.contains(rf"^\d{{1,3}}{re.escape(other)}\d{{3}}$")
    )
    accounting = has_parens | pl.col("s4").is_not_null()
    return _Reading(
        matched=matched,
        bad_shape=(
            (sign_count > 1)
            | (pl.col("p1").is_null() != pl.col("p2").is_null())
            | (has_parens & (sign_count > 0))
            | (accounting & (not number_format.accounting_negatives))
        ),
        ambiguous=ambiguous,
        well_formed=matched & digits.str.contains(_digits_pattern(number_format)) & ~ambiguous,
        currency=pl.coalesce(tokens),
        several_currencies=pl.concat_list(tokens).list.drop_nulls().list.n_unique() > 1,
        negative=has_parens | pl.any_horizontal(sign == "-" for sign in signs),
    )


def _problem(
    reading: _Reading,
    number_format: ResolvedNumberFormat,
    *,
    currency_allowed: bool,
    currency_column: bool,
    entity: str,
    column: str,
) -> pl.Expr:
    """Why a present value cannot be read, in the order a person would fix it (null: it can, or
    there is nothing to say beyond 'cannot parse')."""
    currency = reading.currency
    problem = (
        pl.when(~reading.matched | reading.bad_shape)
        .then(pl.lit(None, dtype=pl.String))
        .when(reading.ambiguous)
        .then(
            pl.lit(
                f"a lone '{_other_separator(number_format)}' may separate thousands or decimals: "
                f"declare decimal and thousands in number_format or numbers.{column}"
            )
        )
        .when(~reading.well_formed)
        .then(pl.lit(f"does not match the number format ({describe(number_format)})"))
        .when(currency.is_not_null() & (not currency_allowed))
        .then(pl.lit("a currency in a whole-number column"))
        .when(currency.is_not_null() & (number_format.currency_symbols is None))
        .then(pl.lit("currency symbols and codes are turned off for this column"))
        .when(reading.several_currencies)
        .then(pl.lit("written with two different currencies"))
    )
    if number_format.currency is not None:
        problem = problem.when(currency.is_not_null() & (currency != number_format.currency)).then(
            pl.format("written in {}, but the format's currency is {}", currency, pl.lit(number_format.currency))
        )
    elif not currency_column:
        problem = problem.when(currency.is_not_null()).then(
            pl.format(
                "written in {}, but {} has no currency column to record it in: "
                "name the currency of these amounts with numbers.{}.currency or number_format.currency",
                currency,
                pl.lit(entity),
                pl.lit(column),
            )
        )
    return problem.otherwise(pl.lit(None, dtype=pl.String))


def _value(reading: _Reading, number_format: ResolvedNumberFormat, dtype: pl.DataType) -> pl.Expr:
    """The digits without their grouping, the decimal separator a point, then cast."""
    grouping = "".join(character for character in GROUPING_CHARACTERS if character != number_format.decimal)
    normalised = (
        pl.col("num")
        .str.replace_all(f"[{re.escape(grouping)}]", "")
        .str.replace(number_format.decimal, ".", literal=True)
    )
    return pl.when(reading.negative).then(pl.lit("-") + normalised).otherwise(normalised).cast(dtype, strict=False)
