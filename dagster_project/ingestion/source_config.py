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
        constants: {currency: EUR}
        max_age_hours: 36                        # freshness: warn when no new file for longer
        max_quarantined_share: 0.2               # block the downstream when more of a load is bad

Without any file there, the built-in ``canonical.yml`` applies: the generator's layout,
``landing/<source>/<entity>/*`` with the canonical column names. A wrong config is refused with
an error naming the file, the key and why.
"""

from __future__ import annotations

import codecs
from pathlib import Path, PurePosixPath
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dagster_project.contracts import CONTRACTS, ENTITIES

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
    decimal_comma: bool = Field(default=False, description="Numbers written 1.234,56 rather than 1234.56.")
    timezone: str = Field(default="UTC", description="Time zone of timestamps written without an offset.")
    timestamp_formats: tuple[str, ...] = Field(
        default=DEFAULT_TIMESTAMP_FORMATS, description="strftime-style formats, tried in order."
    )
    columns: dict[str, str] = Field(default_factory=dict, description="canonical column -> header in the file")
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="canonical column -> {value in the file: canonical value}"
    )
    constants: dict[str, str] = Field(default_factory=dict, description="canonical column -> value for every row")
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

    def source_header(self, canonical: str) -> str:
        return self.columns.get(canonical, canonical)


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
            known = set(CONTRACTS[entity].column_names)
            for key in ("columns", "values", "constants"):
                for column in getattr(mapping, key):
                    if column not in known:
                        problems.append(
                            f"entities.{entity}.{key}.{column}: not a column of {entity}; "
                            f"columns: {', '.join(CONTRACTS[entity].column_names)}"
                        )
            for column in set(mapping.columns) & set(mapping.constants):
                problems.append(f"entities.{entity}.constants.{column}: already mapped from a file column")
            headers = list(mapping.columns.values())
            for header in sorted({header for header in headers if headers.count(header) > 1}):
                problems.append(f"entities.{entity}.columns: header {header!r} is mapped to more than one column")
        if problems:
            raise ValueError("; ".join(problems))
        return self


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
