"""Source configuration: how one system's exports map onto the export contracts.

A company points the pipeline at its own exports by writing YAML, not code. Each file in
``$CRM_DATA_DIR/sources/*.yml`` describes one source system (a CRM, a web shop, a support desk)
and, for each entity it exports, where the files are and how to read them:

    system: salesforce
    entities:
      orders:
        files: "salesforce/Order*.csv"          # glob relative to the landing folder
        delimiter: ";"
        encoding: latin-1
        timezone: Europe/Berlin                  # for timestamps without an offset
        timestamp_formats: ["%d.%m.%Y %H:%M"]
        columns: {order_id: Id, customer_id: AccountId, ordered_at: EffectiveDate}
        values: {status: {Activated: completed, Draft: pending}}
        constants: {channel: phone}
        number_format: {decimal: ",", thousands: "."}   # every number column of the entity
        numbers: {discount_amount: {thousands: ""}}    # per column, on top of number_format
        max_age_hours: 36                        # freshness: warn when no new file for longer
        max_quarantined_share: 0.2               # block the downstream when more of a load is bad
      email_events:
        files: "mailer/activity*.csv"
        columns: {email: Email, campaign_id: Campaign, event_type: Action, occurred_at: Time}
        derived:                                 # canonical columns built from others
          event_id: {hash: [email, campaign_id, event_type, occurred_at]}
      customers:
        files: "crm/contacts*.csv"
        columns: {customer_id: Email, email: Email}   # one header may feed several columns

Numbers (``number_format`` per entity, ``numbers`` per column; keys ``decimal``, ``thousands``,
``currency_symbols``, ``currency``, ``accounting_negatives``): the decimal separator is ``.``
unless said otherwise (``decimal_comma: true`` is short for ``{decimal: ",", thousands: "."}``).
Without ``thousands``, a thousands separator is accepted only where it cannot be the decimal one:
``1,550.98`` and ``1,550,000`` load, a lone ``1,550`` is quarantined as ambiguous. A currency
symbol (``$`` USD, ``€`` EUR, ``£`` GBP, ``¥`` JPY, or a mapping of one's own) or a three-letter
code before or after the amount is accepted; on an entity with a ``currency`` column it fills an
empty one and a row whose currency differs is quarantined; on one without, the column's format must
name the ``currency`` the amounts are in. ``(12.00)`` and ``12.00-`` are -12.00.

Derived columns (``derived``): ``{hash: [columns]}`` (the first 32 hex digits of a SHA-256 of
the values as loaded, each written as ``<length>:<text>``, a missing one as ``~``, joined by
``|``), ``{concat: [column or {literal: text}, ...], separator: "-"}`` (missing when a part is
missing) and ``{row_number: {within: [columns], order_by: [columns]}}`` (from 1 within each key,
ties in file order). They refer to the entity's canonical columns (not to other derived ones) and
are computed from the file alone, so the same file always gives the same keys.

Without any file there, the built-in ``canonical.yml`` applies: the generator's layout,
``landing/<source>/<entity>/*`` with the canonical column names. A wrong config is refused with
an error naming the file, the key and why.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dagster_project.core.contracts import CONTRACTS, ENTITIES

BUILT_IN_CONFIG_DIR = Path(__file__).resolve().parent.parent / "source_configs"
CANONICAL_CONFIG_PATH = BUILT_IN_CONFIG_DIR / "canonical.yml"

# ISO 8601 in its common spellings; a value without an offset is read in the entity's time zone.
DEFAULT_TIMESTAMP_FORMATS = (
    "%Y-%m-%dT%H:%M:%SZ",  # the most common export spelling, and 4x faster to parse than %#z
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)


class SourceConfigError(ValueError):
    """A source configuration that cannot be used; the message names the file and the key."""


# A currency symbol in an amount is read as this ISO 4217 code (a config can map its own).
DEFAULT_CURRENCY_SYMBOLS: dict[str, str] = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
DECIMAL_SEPARATORS = (".", ",")
# "" is "no thousands separator"; " " stands for any space (also the no-break spaces).
THOUSANDS_SEPARATORS = (",", ".", " ", "'", "")


class NumberFormat(BaseModel):
    """How numbers are written; unset keys come from the entity's format, then the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decimal: Literal[".", ","] | None = Field(default=None, description="Decimal separator (default '.').")
    thousands: Literal[",", ".", " ", "'", ""] | None = Field(
        default=None,
        description=(
            "Thousands separator ('' for none). Unset: accepted only where it cannot be the decimal "
            "separator (1,550.98, 1,550,000); a lone 1,550 is ambiguous and quarantined."
        ),
    )
    currency_symbols: bool | dict[str, str] | None = Field(
        default=None,
        description=(
            "Accept a currency symbol or three-letter code before or after an amount (default true); "
            "a mapping adds or replaces symbols, e.g. {'$': CAD, 'kr': SEK}."
        ),
    )
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code the amounts are in: an amount written in another currency is quarantined.",
    )
    accounting_negatives: bool | None = Field(
        default=None, description="Read (12.00) and 12.00- as -12.00 (default true)."
    )

    @field_validator("currency_symbols")
    @classmethod
    def _symbols_map_to_codes(cls, value: bool | dict[str, str] | None) -> bool | dict[str, str] | None:
        if isinstance(value, dict):
            for symbol, code in value.items():
                if not symbol.strip() or any(character.isdigit() or character in "()+-.,'" for character in symbol):
                    raise ValueError(f"{symbol!r} cannot be a currency symbol (no digits, signs or separators)")
                if not re.fullmatch(r"[A-Z]{3}", str(code)):
                    raise ValueError(f"{symbol!r}: {code!r} is not a three-letter ISO 4217 code such as USD")
        return value

    @model_validator(mode="after")
    def _separators_differ(self) -> NumberFormat:
        if self.decimal is not None and self.decimal == self.thousands:
            raise ValueError(f"decimal and thousands separators are both {self.decimal!r}")
        return self


@dataclass(frozen=True)
class ResolvedNumberFormat:
    """A column's number format with every default filled in."""

    decimal: str = "."
    thousands: str | None = None  # None: only where unambiguous
    currency_symbols: tuple[tuple[str, str], ...] | None = tuple(DEFAULT_CURRENCY_SYMBOLS.items())  # None: refused
    currency: str | None = None
    accounting_negatives: bool = True


class LiteralText(BaseModel):
    """A fixed piece of text inside a concatenation: ``{literal: "-"}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    literal: str


class RowNumber(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    within: tuple[str, ...] = Field(default=(), description="Columns whose values form the key; none: the file.")
    order_by: tuple[str, ...] = Field(default=(), description="Columns to number by, ascending; ties in file order.")


class Derivation(BaseModel):
    """One derived column: exactly one of ``hash``, ``concat`` and ``row_number``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hash: tuple[str, ...] | None = Field(default=None, min_length=1)
    concat: tuple[str | LiteralText, ...] | None = Field(default=None, min_length=1)
    separator: str | None = None
    row_number: RowNumber | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Derivation:
        given = [key for key in ("hash", "concat", "row_number") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of hash, concat, row_number (got {', '.join(given) or 'none'})")
        if self.separator is not None and self.concat is None:
            raise ValueError("separator belongs to concat")
        return self

    @property
    def kind(self) -> str:
        return "hash" if self.hash is not None else "concat" if self.concat is not None else "row_number"

    def referenced_columns(self) -> list[str]:
        if self.hash is not None:
            return list(self.hash)
        if self.concat is not None:
            return [item for item in self.concat if isinstance(item, str)]
        assert self.row_number is not None
        return [*self.row_number.within, *self.row_number.order_by]


class LineItems(BaseModel):
    """A file with one row per line item of an order, order-level fields perhaps on some rows only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order: tuple[str, ...] = Field(min_length=1, description="Canonical columns naming the order a row belongs to.")
    fill_down: tuple[str, ...] = Field(
        default=(),
        description=(
            "Columns the export leaves empty on an order's later rows: an empty cell takes the value of the "
            "row above (within the same order; a row whose order columns are empty continues the order above)."
        ),
    )
    sum: tuple[str, ...] = Field(
        default=(),
        description="Read per order: number columns added up over the order's rows (e.g. item prices to a total).",
    )


class EntityMapping(BaseModel):
    """How to find and read one entity's files in one source system."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: str = Field(description="Glob of the entity's files, relative to the landing folder.")
    format: Literal["csv", "jsonl", "parquet"] | None = Field(
        default=None, description="File format; by default taken from the file name (.csv, .jsonl, .parquet, +.gz)."
    )
    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"
    decimal_comma: bool = Field(
        default=False,
        description="Numbers written 1.234,56, not 1234.56: number_format {decimal: ',', thousands: '.'}.",
    )
    number_format: NumberFormat | None = Field(default=None, description="How the entity's numbers are written.")
    numbers: dict[str, NumberFormat] = Field(
        default_factory=dict, description="canonical number column -> its format, on top of number_format"
    )
    timezone: str = Field(default="UTC", description="Time zone of timestamps written without an offset.")
    timestamp_formats: tuple[str, ...] = Field(
        default=DEFAULT_TIMESTAMP_FORMATS, description="strftime-style formats, tried in order."
    )
    columns: dict[str, str] = Field(default_factory=dict, description="canonical column -> header in the file")
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="canonical column -> {value in the file: canonical value}"
    )
    constants: dict[str, str] = Field(default_factory=dict, description="canonical column -> value for every row")
    derived: dict[str, Derivation] = Field(
        default_factory=dict, description="canonical column -> how it is built from the row's other columns"
    )
    line_items: LineItems | None = Field(
        default=None,
        description=(
            "The file holds one row per line item: read per order (one record per order) when 'order' is the "
            "entity's key, per row otherwise."
        ),
    )
    max_age_hours: float | None = Field(
        default=None,
        gt=0,
        description="Warn when the newest file from this system arrived longer ago than this (default 36 h).",
    )
    max_quarantined_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "Share of a load's rows that may be quarantined before the problem counts as systemic and the "
            "tables downstream are not rebuilt (default 0.1); fewer bad rows give a warning."
        ),
    )

    @field_validator("files")
    @classmethod
    def _stays_inside_landing(cls, pattern: str) -> str:
        path = PurePosixPath(pattern)
        if not pattern.strip() or path.is_absolute() or ".." in path.parts or "\\" in pattern:
            raise ValueError(f"{pattern!r} must be a relative glob inside the landing folder (no '..', not absolute)")
        return pattern

    @field_validator("delimiter", "quote")
    @classmethod
    def _single_character(cls, value: str) -> str:
        if len(value) != 1 or value in "\r\n":
            raise ValueError(f"{value!r} must be a single character other than a line break")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"{value!r} is not an encoding Python knows (e.g. utf-8, latin-1, cp1252)") from None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)") from None
        return value

    @field_validator("timestamp_formats")
    @classmethod
    def _formats_given(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or not all(isinstance(item, str) and "%" in item for item in value):
            raise ValueError("must be a non-empty list of strftime formats such as '%Y-%m-%d %H:%M:%S'")
        return value

    @model_validator(mode="after")
    def _one_decimal_setting(self) -> EntityMapping:
        if self.decimal_comma and self.number_format is not None and self.number_format.decimal == ".":
            raise ValueError("decimal_comma: true contradicts number_format.decimal '.'; keep one")
        return self

    def source_header(self, canonical: str) -> str:
        return self.columns.get(canonical, canonical)

    def number_format_for(self, column: str) -> ResolvedNumberFormat:
        """The column's format: defaults, then decimal_comma, then number_format, then numbers.<column>."""
        settings: dict[str, Any] = {}
        if self.decimal_comma:
            settings.update(decimal=",", thousands=".")
        for layer in (self.number_format, self.numbers.get(column)):
            if layer is not None:
                settings.update(layer.model_dump(exclude_none=True))
        symbols = settings.pop("currency_symbols", True)
        if symbols is False:
            resolved_symbols = None
        else:
            table = dict(DEFAULT_CURRENCY_SYMBOLS)
            if isinstance(symbols, dict):
                table.update(symbols)
            resolved_symbols = tuple(table.items())
        return ResolvedNumberFormat(currency_symbols=resolved_symbols, **settings)


class SourceConfig(BaseModel):
    """One source system: its name and the entities it exports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str = Field(pattern=r"^[A-Za-z0-9_\-]+$", description="Short name of the source system.")
    description: str = ""
    entities: dict[str, EntityMapping]

    @model_validator(mode="after")
    def _columns_belong_to_the_contract(self) -> SourceConfig:
        problems = []
        for entity, mapping in self.entities.items():
            if entity not in CONTRACTS:
                problems.append(f"entities.{entity}: unknown entity; known: {', '.join(ENTITIES)}")
                continue
            contract = CONTRACTS[entity]
            known = set(contract.column_names)
            types = {column.name: column.type for column in contract.columns}
            for key in ("columns", "values", "constants", "numbers", "derived"):
                for column in getattr(mapping, key):
                    if column not in known:
                        problems.append(
                            f"entities.{entity}.{key}.{column}: not a column of {entity}; "
                            f"columns: {', '.join(CONTRACTS[entity].column_names)}"
                        )
            for column in sorted(set(mapping.columns) & set(mapping.constants)):
                problems.append(f"entities.{entity}.constants.{column}: already mapped from a file column")
            for column in sorted(mapping.numbers):
                if column in known and types[column] not in ("integer", "decimal"):
                    problems.append(f"entities.{entity}.numbers.{column}: a {types[column]} column, not a number")
            problems.extend(_derivation_problems(entity, mapping, types))
            problems.extend(_line_item_problems(entity, mapping, types, contract.key))
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _derivation_problems(entity: str, mapping: EntityMapping, types: dict[str, str]) -> list[str]:
    problems = []
    for column, derivation in mapping.derived.items():
        where = f"entities.{entity}.derived.{column}"
        if column not in types:
            continue  # reported as not a column of the entity
        for key in ("columns", "constants"):
            if column in getattr(mapping, key):
                problems.append(f"{where}: also given in {key}; a column is mapped, constant or derived")
        if column in mapping.values:
            problems.append(f"entities.{entity}.values.{column}: {column} is derived; value maps apply to file columns")
        if derivation.kind == "hash" and types[column] != "string":
            problems.append(f"{where}: a hash is text, but {column} is a {types[column]} column")
        if derivation.kind == "row_number" and types[column] not in ("integer", "string"):
            problems.append(f"{where}: a row number is a whole number, but {column} is a {types[column]} column")
        for reference in derivation.referenced_columns():
            if reference == column:
                problems.append(f"{where}.{derivation.kind}: {reference!r} refers to the column itself")
            elif reference in mapping.derived:
                problems.append(f"{where}.{derivation.kind}: {reference!r} is derived too; derive from mapped columns")
            elif reference not in types:
                problems.append(
                    f"{where}.{derivation.kind}: {reference!r} is not a column of {entity}; columns: {', '.join(types)}"
                )
    return problems


def _line_item_problems(entity: str, mapping: EntityMapping, types: dict[str, str], key: tuple[str, ...]) -> list[str]:
    line_items = mapping.line_items
    if line_items is None:
        return []
    where = f"entities.{entity}.line_items"
    problems = []
    for setting in ("order", "fill_down", "sum"):
        for column in getattr(line_items, setting):
            if column not in types:
                problems.append(
                    f"{where}.{setting}: {column!r} is not a column of {entity}; columns: {', '.join(types)}"
                )
    for column in line_items.fill_down:
        if column in mapping.derived or column in mapping.constants:
            problems.append(f"{where}.fill_down: {column!r} is not read from the file (it is derived or constant)")
    if line_items.sum:
        if set(line_items.order) != set(key):
            problems.append(
                f"{where}.sum: columns add up only when the file is read per order, i.e. when order is "
                f"{entity}'s key ({', '.join(key)})"
            )
        for column in line_items.sum:
            if column in types and types[column] not in ("integer", "decimal"):
                problems.append(f"{where}.sum: {column!r} is a {types[column]} column, not a number")
            if column in line_items.order:
                problems.append(f"{where}.sum: {column!r} names the order; it cannot also be added up")
    return problems


def reads_per_order(mapping: EntityMapping, key: tuple[str, ...]) -> bool:
    """Whether the mapping folds an order's line-item rows into one record of the entity."""
    return mapping.line_items is not None and set(mapping.line_items.order) == set(key)


def _describe_validation_error(error: ValidationError) -> str:
    messages = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        messages.append(f"{location}: {message}" if location else message)
    return "; ".join(messages)


def parse_source_config(text: str, origin: str) -> SourceConfig:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SourceConfigError(f"{origin}: not valid YAML ({error})") from error
    if not isinstance(document, dict):
        raise SourceConfigError(f"{origin}: expected a mapping with keys 'system' and 'entities'")
    try:
        return SourceConfig.model_validate(document)
    except ValidationError as error:
        raise SourceConfigError(f"{origin}: {_describe_validation_error(error)}") from error


def load_source_config(path: Path) -> SourceConfig:
    return parse_source_config(path.read_text(encoding="utf-8"), str(path))


def active_source_configs(sources_dir: Path) -> list[SourceConfig]:
    """The configs in ``sources_dir`` (``*.yml`` / ``*.yaml``), or the built-in canonical layout."""
    paths = sorted([*sources_dir.glob("*.yml"), *sources_dir.glob("*.yaml")]) if sources_dir.is_dir() else []
    configs = [load_source_config(path) for path in paths] or [load_source_config(CANONICAL_CONFIG_PATH)]
    systems = [config.system for config in configs]
    duplicated = sorted({system for system in systems if systems.count(system) > 1})
    if duplicated:
        raise SourceConfigError(f"{sources_dir}: system name(s) {', '.join(duplicated)} used by more than one file")
    return configs


def mappings_for(configs: list[SourceConfig], entity: str) -> list[tuple[str, EntityMapping]]:
    """(system, mapping) for every configured source of an entity, in a stable order."""
    return [(config.system, config.entities[entity]) for config in configs if entity in config.entities]
