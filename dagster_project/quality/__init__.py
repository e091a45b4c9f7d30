"""Data quality of the raw tables: Great Expectations suites built from the export contracts.

Plain Python, no Dagster: :func:`validate_entity` validates one raw table and returns what failed,
per severity, in words; ``dagster_project.assets.quality_checks`` turns that into asset checks.
Importing this package does not import Great Expectations (slow); validating does.
"""

from dagster_project.quality.results import EntityValidation, FailedExpectation, SeverityResult
from dagster_project.quality.suites import SEVERE, SEVERITIES, SOFT, build_suites, describe_suite, suite_name
from dagster_project.quality.validation import data_docs_index, validate_entity

__all__ = [
    "SEVERE",
    "SEVERITIES",
    "SOFT",
    "EntityValidation",
    "FailedExpectation",
    "SeverityResult",
    "build_suites",
    "data_docs_index",
    "describe_suite",
    "suite_name",
    "validate_entity",
]
