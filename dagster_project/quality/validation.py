"""Validating the raw tables with Great Expectations and writing its Data Docs.

GX 1.x has no DuckDB data source, so the current rows are read from DuckDB into pandas
(:mod:`.frames`) and validated through a pandas data source: ``add_pandas`` -> dataframe asset
-> whole-dataframe batch definition -> one validation definition per suite.

Each call uses an ephemeral GX context (nothing of GX's own is written to the project) whose
expectation and validation-result stores are folders under the Data Docs site, so that the site
built after each entity lists every entity's latest results, not only the last one validated:

    <docs_dir>/great_expectations/index.html         the Data Docs site: open this
    <docs_dir>/great_expectations/expectations/...   one page per suite
    <docs_dir>/great_expectations/validations/...    one page per validation run
    <docs_dir>/great_expectations/.store/...         the JSON the pages are built from

Only the last :data:`VALIDATION_RUNS_KEPT` runs of each suite are kept; older results and their
pages are removed when the site is rebuilt. GX is imported inside the functions: it takes
seconds to import and most imports of this package (Dagster definitions, the CLI) never validate.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import duckdb

from dagster_project.contracts import contract_for
from dagster_project.quality.frames import available_parents, raw_row_count, raw_table_exists, read_current_rows
from dagster_project.quality.results import (
    EntityValidation,
    FailedExpectation,
    SeverityResult,
    failed_expectation_from_result,
)
from dagster_project.quality.suites import SEVERE, SEVERITIES, EntitySuites, ExpectationSpec, build_suites, suite_name

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

DATA_DOCS_FOLDER = "great_expectations"
STORE_FOLDER = ".store"
SITE_NAME = "crm_data_quality"
DATASOURCE_NAME = "crm_raw"
BATCH_DEFINITION_NAME = "current_rows"
VALIDATION_RUNS_KEPT = 10  # per suite, in the stores and in the Data Docs
# SUMMARY gives counts, percentages and a few unexpected values; COMPLETE would list them all.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 10}
GX_SEVERITY = {"severe": "critical", "soft": "warning"}


def data_docs_dir(docs_dir: Path) -> Path:
    return Path(docs_dir) / DATA_DOCS_FOLDER


def data_docs_index(docs_dir: Path) -> Path:
    """The page to open: every suite and the latest validation runs of every entity."""
    return data_docs_dir(docs_dir) / "index.html"


def _naive_utc(moment: datetime) -> datetime:
    """Raw timestamps are naive UTC; an aware ``now`` is converted, a naive one taken as UTC."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def validate_entity(
    connection: duckdb.DuckDBPyConnection,
    entity: str,
    docs_dir: Path,
    now: datetime,
    severities: Iterable[str] = SEVERITIES,
) -> EntityValidation:
    """Validate the current rows of ``raw.<entity>`` against its severe and soft suites.

    ``now`` is the validation time that "in the future" is judged against. ``severities`` limits
    the work to some suites (a Dagster run may select only one check). The Data Docs site under
    ``docs_dir/great_expectations`` is rebuilt with the new results.

    An optional entity without rows passes trivially (its export is optional); a required one
    (orders) fails its severe suite.
    """
    contract = contract_for(entity)
    now = _naive_utc(now)
    requested = set(severities)
    unknown = requested - set(SEVERITIES)
    if unknown:
        raise ValueError(f"unknown severities {sorted(unknown)}; known: {', '.join(SEVERITIES)}")
    wanted = tuple(severity for severity in SEVERITIES if severity in requested)
    index = data_docs_index(docs_dir)

    reason = None
    if not raw_table_exists(connection, entity):
        reason = f"{contract.raw_table} does not exist (its ingestion has not run)"
    elif raw_row_count(connection, entity) == 0:
        reason = f"{contract.raw_table} has no rows"
    if reason is not None:
        return EntityValidation(
            entity=entity,
            validated_at=now,
            raw_rows=0,
            current_rows=0,
            results={severity: _without_rows(entity, severity, reason) for severity in wanted},
            data_docs_index=index,
        )

    suites = build_suites(entity, now, available_parents(connection, entity))
    rows = read_current_rows(connection, suites)
    results = _validate_frame(rows.frame, suites, wanted, docs_dir, now) if wanted else {}
    return EntityValidation(
        entity=entity,
        validated_at=now,
        raw_rows=rows.raw_rows,
        current_rows=rows.current_rows,
        results=results,
        data_docs_index=index,
    )


def _without_rows(entity: str, severity: str, reason: str) -> SeverityResult:
    contract = contract_for(entity)
    name = suite_name(entity, severity)
    if severity == SEVERE and contract.is_required_export:
        failure = FailedExpectation(
            expectation_type="expect_table_row_count_to_be_between",
            column=None,
            meaning=f"{contract.raw_table} has at least one row (the {entity} export is required)",
            observed_value=0,
        )
        return SeverityResult(severity, name, success=False, evaluated_expectations=1, failed=(failure,))
    return SeverityResult(severity, name, success=True, skipped_reason=f"{reason}; nothing to validate")


def _gx_expectation(spec: ExpectationSpec, severity: str) -> Any:
    import great_expectations.expectations as gxe

    expectation_class = getattr(gxe, spec.expectation)
    return expectation_class(
        **spec.kwargs,
        meta={"meaning": spec.meaning},
        notes=spec.meaning,
        severity=GX_SEVERITY[severity],
    )


def _context_config(docs_dir: Path) -> Any:
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    site_dir = data_docs_dir(docs_dir).resolve()
    store_dir = site_dir / STORE_FOLDER
    defaults = InMemoryStoreBackendDefaults(init_temp_docs_sites=False)
    stores = dict(defaults.stores)
    # Suites and results live on disk so that every entity's latest run stays in the site;
    # checkpoints and validation definitions stay in memory (they are rebuilt on every call).
    stores[defaults.expectations_store_name] = {
        "class_name": "ExpectationsStore",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(store_dir / "expectations"),
        },
    }
    stores[defaults.validation_results_store_name] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(store_dir / "validations"),
        },
    }
    return DataContextConfig(
        store_backend_defaults=defaults,
        stores=stores,
        data_docs_sites={
            SITE_NAME: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
        analytics_enabled=False,  # no usage statistics, no network
        progress_bars=ProgressBarsConfig(globally=False),
    )


def _prune_old_runs(store: Any, suite_names: set[str], keep: int) -> None:
    """Remove all but the ``keep`` latest validation results of these suites."""
    by_suite: dict[str, list[Any]] = {}
    for key in store.list_keys():
        name = key.expectation_suite_identifier.name
        if name in suite_names:
            by_suite.setdefault(name, []).append(key)
    for keys in by_suite.values():
        keys.sort(key=lambda key: key.run_id.run_time, reverse=True)
        for key in keys[keep:]:
            store.remove_key(key)


def _page_path(url: str | None) -> Path | None:
    if not url:
        return None
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme in ("", "file") else None


def _validate_frame(
    frame: pd.DataFrame,
    suites: EntitySuites,
    severities: tuple[str, ...],
    docs_dir: Path,
    now: datetime,
) -> dict[str, SeverityResult]:
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    entity = suites.entity
    context = gx.get_context(project_config=_context_config(docs_dir), mode="ephemeral")
    batch_definition = (
        context.data_sources.add_pandas(DATASOURCE_NAME)
        .add_dataframe_asset(entity)
        .add_batch_definition_whole_dataframe(BATCH_DEFINITION_NAME)
    )
    run_time = datetime.now(UTC)
    run_id = RunIdentifier(run_name=f"as_of_{now:%Y-%m-%dT%H%M}", run_time=run_time)

    gx_results: dict[str, Any] = {}
    result_keys: dict[str, Any] = {}
    for severity in severities:
        name = suite_name(entity, severity)
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(
                name=name,
                expectations=[_gx_expectation(spec, severity) for spec in suites.for_severity(severity)],
                meta={"entity": entity, "severity": severity, "table": f"raw.{entity}", "rows": "current"},
            )
        )
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        result = definition.run(batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT, run_id=run_id)
        gx_results[severity] = result
        result_keys[severity] = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=name),
            run_id=run_id,
            batch_identifier=result.batch_id,
        )

    pages: dict[str, Path | None] = {}
    try:
        _prune_old_runs(context.validation_results_store, set(_suite_names(entity, severities)), VALIDATION_RUNS_KEPT)
        context.build_data_docs(
            site_names=[SITE_NAME],
            resource_identifiers=[
                *result_keys.values(),
                *(ExpectationSuiteIdentifier(name=name) for name in _suite_names(entity, severities)),
            ],
        )
        for severity, key in result_keys.items():
            urls = context.get_docs_sites_urls(resource_identifier=key, site_name=SITE_NAME)
            pages[severity] = _page_path(urls[0]["site_url"]) if urls else None
    except Exception:  # the docs are a view: a rendering problem must not hide the validation result
        logger.exception("Building the Great Expectations Data Docs failed for %s", entity)

    outcomes = {}
    for severity, result in gx_results.items():
        failed = tuple(failed_expectation_from_result(item) for item in result.results if not item.success)
        outcomes[severity] = SeverityResult(
            severity=severity,
            suite_name=suite_name(entity, severity),
            success=bool(result.success),
            evaluated_expectations=len(result.results),
            failed=failed,
            data_docs_page=pages.get(severity),
        )
    return outcomes


def _suite_names(entity: str, severities: Iterable[str]) -> list[str]:
    return [suite_name(entity, severity) for severity in severities]
