"""What the page is made of: data-quality rows, chart sections, the rendered report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


class NotAvailable(Exception):
    """The data a chart needs is not there (yet); the message says why, in words."""


@dataclass(frozen=True)
class EntityLoad:
    """What ingestion did with one export in this run (from the ingestion asset's metadata)."""

    entity: str
    files_loaded: int = 0
    files_duplicate: int = 0
    files_rejected: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    in_run: bool = True  # False: the export had no ingestion step in this run (e.g. a sensor run for others)


@dataclass(frozen=True)
class CheckOutcome:
    """One asset check evaluated in this run: a Great Expectations suite, a dbt test, a model check."""

    asset: str  # "raw/orders"
    check: str
    passed: bool
    severity: str = "ERROR"  # ERROR (blocking or failing) | WARN
    detail: str = ""


@dataclass(frozen=True)
class DataQualitySummary:
    loads: Sequence[EntityLoad] = ()
    checks: Sequence[CheckOutcome] = ()

    @property
    def failed_checks(self) -> list[CheckOutcome]:
        return [check for check in self.checks if not check.passed]

    def failed_checks_of(self, asset: str) -> list[CheckOutcome]:
        return [check for check in self.failed_checks if check.asset == asset]


@dataclass(frozen=True)
class ChartSection:
    key: str
    title: str
    explanation: str  # one line a manager understands
    svg: str | None = None
    unavailable_reason: str | None = None

    @property
    def drawn(self) -> bool:
        return self.svg is not None


@dataclass(frozen=True)
class RenderedReport:
    path: Path
    latest_path: Path
    size_bytes: int
    seconds: float
    charts_drawn: list[str] = field(default_factory=list)
    charts_unavailable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChartRegion:
    """Where a chart is drawn on the page, in CSS pixels from the page's top left corner."""

    key: str
    left: int
    top: int
    right: int
    bottom: int
