"""What a validation found, in plain Python and in words: no Great Expectations objects leak out.

:func:`failed_expectation_from_result` reads a GX ``ExpectationValidationResult`` by attribute
only, so this module does not import GX.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

EXAMPLES_SHOWN = 5


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
    examples: tuple[Any, ...] = ()  # a few unexpected values
    error: str | None = None  # the expectation could not be evaluated

    def in_words(self) -> str:
        subject = f"{self.column}: " if self.column else ""
        text = f"{subject}{self.meaning} [{self.expectation_type}]"
        if self.error:
            return f"{text} — could not be evaluated: {self.error}"
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
            examples = ", ".join(repr(example) for example in failure.examples)
            cells = [failure.column or "(table)", failure.meaning, f"`{failure.expectation_type}`", outcome, examples]
            rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        return header + "\n".join(rows)


@dataclass(frozen=True)
class EntityValidation:
    entity: str
    validated_at: datetime  # the ``now`` the suites were built with (naive UTC)
    raw_rows: int
    current_rows: int
    results: dict[str, SeverityResult] = field(default_factory=dict)  # by severity
    data_docs_index: Path | None = None  # <docs_dir>/great_expectations/index.html

    @property
    def severe(self) -> SeverityResult:
        return self.results["severe"]

    @property
    def soft(self) -> SeverityResult:
        return self.results["soft"]

    @property
    def success(self) -> bool:
        return all(result.success for result in self.results.values())


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
