"""What a validation found, in plain Python and in words: no Great Expectations objects leak out.

:func:`failed_expectation_from_result` reads a GX ``ExpectationValidationResult`` by attribute
only, so this module does not import GX.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagster_project.quality.frames import LatestLoad, QuarantinedExample

EXAMPLES_SHOWN = 5
FILES_SHOWN = 5


def _plain(value: Any) -> Any:
    """A value fit for text and metadata: numpy scalars unwrapped, timestamps as ISO text."""
    if isinstance(value, (list, tuple, dict, str)):
        return value
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    elif hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@dataclass(frozen=True)
class FailedExpectation:
    expectation_type: str  # e.g. "expect_column_values_to_be_between"
    column: str | None  # the column(s) it judges, comma separated; None for table-level ones
    meaning: str  # what was expected, in words
    observed_value: Any = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    examples: tuple[Any, ...] = ()  # a few unexpected values (of a metric: its value)
    error: str | None = None  # the expectation could not be evaluated
    sample: tuple[Any, ...] = ()  # of a metric counting rows: values of a few rows that break the rule

    def in_words(self) -> str:
        subject = f"{self.column}: " if self.column else ""
        text = f"{subject}{self.meaning} [{self.expectation_type}]"
        if self.error:
            return f"{text} — could not be evaluated: {self.error}"
        if self.element_count == 1 and self.examples:  # a metric: one value, judged whole
            sample = f", e.g. {', '.join(repr(value) for value in self.sample)}" if self.sample else ""
            return f"{text} — observed {self.examples[0]!r}{sample}"
        if self.unexpected_count is not None:
            of = f" of {self.element_count:,}" if self.element_count is not None else ""
            percent = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            text += f" — {self.unexpected_count:,}{of} rows unexpected{percent}"
            if self.examples:
                text += ", e.g. " + ", ".join(repr(example) for example in self.examples)
        elif self.observed_value is not None:
            text += f" — observed {self.observed_value!r}"
        return text


@dataclass(frozen=True)
class SeverityResult:
    severity: str  # severe | soft
    suite_name: str
    success: bool
    evaluated_expectations: int = 0
    failed: tuple[FailedExpectation, ...] = ()
    skipped_reason: str | None = None  # why nothing was validated (e.g. an empty optional table)
    data_docs_page: Path | None = None  # this validation's page in the Data Docs site

    def failures_in_words(self) -> list[str]:
        return [failure.in_words() for failure in self.failed]

    def failures_markdown(self) -> str:
        if self.skipped_reason:
            return f"Nothing validated: {self.skipped_reason}."
        if not self.failed:
            return f"All {self.evaluated_expectations} expectations of `{self.suite_name}` met."
        header = (
            f"{len(self.failed)} of {self.evaluated_expectations} expectations of `{self.suite_name}` failed:\n\n"
            "| column | expected | expectation | result | examples |\n|---|---|---|---|---|\n"
        )
        rows = []
        for failure in self.failed:
            if failure.error:
                outcome = f"error: {failure.error}"
            elif failure.unexpected_count is not None:
                percent = f" ({failure.unexpected_percent:.2f}%)" if failure.unexpected_percent is not None else ""
                outcome = f"{failure.unexpected_count:,} unexpected{percent}"
            else:
                outcome = f"observed {failure.observed_value!r}"
            examples = ", ".join(repr(example) for example in (failure.sample or failure.examples))
            cells = [failure.column or "(table)", failure.meaning, f"`{failure.expectation_type}`", outcome, examples]
            rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        return header + "\n".join(rows)


@dataclass(frozen=True)
class EntityValidation:
    entity: str
    validated_at: datetime  # the ``now`` the suites were built with (naive UTC)
    raw_rows: int
    rows_judged: int  # rows of the latest load, which the soft suite judged
    results: dict[str, SeverityResult] = field(default_factory=dict)  # by severity
    data_docs_index: Path | None = None  # <docs_dir>/great_expectations/index.html
    loads: tuple[LatestLoad, ...] = ()  # each source system's latest load of the entity
    quarantine_limits: dict[str, float] = field(default_factory=dict)  # by source system
    quarantine_examples: tuple[QuarantinedExample, ...] = ()  # a few quarantined rows of those loads

    @property
    def severe(self) -> SeverityResult:
        return self.results["severe"]

    @property
    def soft(self) -> SeverityResult:
        return self.results["soft"]

    @property
    def success(self) -> bool:
        return all(result.success for result in self.results.values())

    def load_in_words(self) -> list[str]:
        """Each system's latest load: rows read and quarantined, with the files that had bad rows."""
        lines = []
        for load in self.loads:
            limit = self.quarantine_limits.get(load.system)
            limit_text = f", limit {limit:.0%}" if limit is not None else ""
            lines.append(
                f"{load.system}'s latest load ({load.loaded_at:%Y-%m-%d %H:%M} UTC): {load.rows_quarantined:,} of "
                f"{load.rows_read:,} rows quarantined ({load.quarantined_share:.1%}{limit_text}), "
                f"{load.rows_without_key:,} without a key"
            )
            bad_files = sorted(load.files, key=lambda file: -file.rows_quarantined)
            shown = [file for file in bad_files if file.rows_quarantined][:FILES_SHOWN]
            for file in shown:
                lines.append(f"  {file.source_file}: {file.rows_quarantined:,} of {file.rows_read:,} rows quarantined")
            hidden = sum(1 for file in bad_files if file.rows_quarantined) - len(shown)
            if hidden > 0:
                lines.append(f"  ... and {hidden} more file(s) with quarantined rows")
        return lines

    def examples_in_words(self) -> list[str]:
        return [
            f"{example.source_file}, line {example.source_line}: {example.reason}"
            for example in self.quarantine_examples
        ]

    def blocked_because(self) -> list[str]:
        """Why the severe suite blocks the downstream, for the console: each broken rule with its
        numbers, the latest loads and their files, examples of bad rows, and the Data Docs page.
        Empty when nothing blocks."""
        severe = self.results.get("severe")
        if severe is None or severe.success:
            return []
        lines = [f"raw.{self.entity} is blocked: {failure.in_words()}" for failure in severe.failed]
        lines += self.load_in_words()
        if self.quarantine_examples:
            lines.append("Quarantined rows, for example (all of them in raw._quarantine):")
            lines += [f"  {line}" for line in self.examples_in_words()]
        page = severe.data_docs_page or self.data_docs_index
        if page is not None:
            lines.append(f"Data Docs: {page}")
        return lines


def _columns_of(kwargs: dict[str, Any]) -> str | None:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_list" in kwargs:
        return ", ".join(kwargs["column_list"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    return None


def failed_expectation_from_result(result: Any) -> FailedExpectation:
    """Summarise one failed GX ``ExpectationValidationResult``."""
    configuration = result.expectation_config
    kwargs = dict(configuration.kwargs)
    meta = configuration.meta or {}
    details = result.result or {}
    exception = result.exception_info or {}
    error = None
    if exception.get("raised_exception"):
        error = str(exception.get("exception_message") or "an exception was raised").splitlines()[0]
    examples = tuple(_plain(value) for value in (details.get("partial_unexpected_list") or [])[:EXAMPLES_SHOWN])
    unexpected_count = details.get("unexpected_count")
    unexpected_percent = details.get("unexpected_percent")
    element_count = details.get("element_count")
    return FailedExpectation(
        expectation_type=configuration.type,
        column=_columns_of(kwargs),
        meaning=str(meta.get("meaning") or configuration.type.replace("_", " ")),
        observed_value=_plain(details.get("observed_value")),
        unexpected_count=int(unexpected_count) if unexpected_count is not None else None,
        unexpected_percent=float(unexpected_percent) if unexpected_percent is not None else None,
        element_count=int(element_count) if element_count is not None else None,
        examples=examples,
        error=error,
    )
