"""Source freshness: has each source system sent a new export of an entity lately?

Measured from the file ledger, i.e. when files arrived and were loaded, never from the business
timestamps inside them (a history export ends in the past by design, and a late-arriving file of
old orders is still a sign of life). A file counts once it was loaded, or recognised as a copy of
one already loaded; a rejected file does not make the data fresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from dagster_project.ingestion.ledger import LEDGER_TABLE
from dagster_project.ingestion.source_config import EntityMapping

# Daily exports: a day and a half leaves room for one late or slow delivery before warning.
DEFAULT_MAX_AGE_HOURS = 36.0


@dataclass(frozen=True)
class SourceFreshness:
    system: str
    max_age_hours: float
    newest_file: str | None = None
    newest_arrival: datetime | None = None  # naive UTC, as the ledger stores it
    age_hours: float | None = None

    @property
    def is_stale(self) -> bool:
        return self.age_hours is None or self.age_hours > self.max_age_hours

    def describe(self) -> str:
        if self.newest_arrival is None:
            return f"{self.system}: no file has arrived yet"
        state = "stale" if self.is_stale else "fresh"
        return (
            f"{self.system}: {state}, newest file {self.newest_file} arrived {self.age_hours:.1f} h ago "
            f"({self.newest_arrival:%Y-%m-%d %H:%M} UTC; limit {self.max_age_hours:g} h)"
        )


@dataclass(frozen=True)
class EntityFreshness:
    entity: str
    sources: list[SourceFreshness]

    @property
    def is_fresh(self) -> bool:
        """Every configured source sent a file within its limit (vacuously true for no sources)."""
        return not any(source.is_stale for source in self.sources)

    @property
    def has_no_files(self) -> bool:
        return all(source.newest_arrival is None for source in self.sources)

    @property
    def age_hours(self) -> float | None:
        """Age of the stalest source's newest file (None if some source never sent one)."""
        ages = [source.age_hours for source in self.sources]
        return None if not ages or None in ages else max(ages)

    def describe(self) -> str:
        if not self.sources:
            return f"No source config exports {self.entity}."
        return "\n".join(source.describe() for source in self.sources)


def _ledger_exists(connection: duckdb.DuckDBPyConnection) -> bool:
    schema, table = LEDGER_TABLE.split(".")
    rows = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, table]
    ).fetchall()
    return rows[0][0] > 0


def newest_arrivals(connection: duckdb.DuckDBPyConnection, entity: str) -> dict[str, tuple[str, datetime]]:
    """source system -> (newest counted file, when it arrived) for one entity."""
    if not _ledger_exists(connection):
        return {}
    rows = connection.execute(
        f"""
        SELECT source_system, arg_max(source_file, loaded_at), max(loaded_at)
        FROM {LEDGER_TABLE}
        WHERE entity = ? AND status IN ('loaded', 'duplicate')
        GROUP BY source_system
        """,
        [entity],
    ).fetchall()
    return {system: (source_file, loaded_at) for system, source_file, loaded_at in rows}


def entity_freshness(
    connection: duckdb.DuckDBPyConnection,
    entity: str,
    sources: list[tuple[str, EntityMapping]],
    now: datetime,
    default_max_age_hours: float = DEFAULT_MAX_AGE_HOURS,
) -> EntityFreshness:
    """Freshness of each configured source of `entity` at `now` (naive UTC)."""
    arrivals = newest_arrivals(connection, entity)
    results = []
    for system, mapping in sources:
        max_age_hours = mapping.max_age_hours or default_max_age_hours
        if system not in arrivals:
            results.append(SourceFreshness(system, max_age_hours))
            continue
        newest_file, newest_arrival = arrivals[system]
        age_hours = max((now - newest_arrival).total_seconds() / 3600, 0.0)
        results.append(SourceFreshness(system, max_age_hours, newest_file, newest_arrival, age_hours))
    return EntityFreshness(entity, results)
