"""Validating the raw tables with Great Expectations and writing its Data Docs.

GX 1.x has no DuckDB data source (and its SQL data source fails on DuckDB), so DuckDB computes
what the suites judge (:mod:`.frames`): one row of metrics per suite, whatever the size of the
table. GX validates that row through a pandas data source: ``add_pandas`` -> dataframe asset ->
whole-dataframe batch definition -> one validation definition per suite. The severe suite reads
the table's metrics, the soft suite the latest load's.

Each call uses an ephemeral GX context (nothing of GX's own is written to the project) whose
expectation and validation-result stores are folders under the Data Docs site, so that the site
built after each entity lists every entity's latest results, not only the last one validated:

    <docs_dir>/great_expectations/index.html         the Data Docs site: open this
    <docs_dir>/great_expectations/expectations/...   one page per suite
    <docs_dir>/great_expectations/validations/...    one page per validation run
    <docs_dir>/great_expectations/.store/...         the JSON the pages are built from
    <docs_dir>/great_expectations/static/vendor/...  the pages' CSS, scripts and fonts (no CDN:
                                                     :mod:`.data_docs_offline`)

Only the last :data:`VALIDATION_RUNS_KEPT` runs of each suite are kept; older results and their
pages are removed when the site is rebuilt. GX is imported inside the functions: it takes
seconds to import and most imports of this package (Dagster definitions, the CLI) never validate.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import duckdb

from dagster_project.core.contracts import contract_for
from dagster_project.quality.data_docs_offline import make_data_docs_offline
from dagster_project.quality.frames import (
    LatestLoad,
    available_parents,
    latest_loads,
    load_metrics,
    quarantine_examples,
    raw_row_count,
    raw_table_exists,
    table_metrics,
)
from dagster_project.quality.results import (
    EntityValidation,
    FailedExpectation,
    SeverityResult,
    failed_expectation_from_result,
)
from dagster_project.quality.suites import (
    DEFAULT_MAX_QUARANTINED_SHARE,
    ROW_COUNT_METRIC,
    SEVERE,
    SEVERITIES,
    SOFT,
    EntitySuites,
    ExpectationSpec,
    build_suites,
    suite_name,
)

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

DATA_DOCS_FOLDER = "great_expectations"
STORE_FOLDER = ".store"
SITE_NAME = "crm_data_quality"
DATASOURCE_NAME = "crm_raw"
BATCH_DEFINITION_NAME = "whole_frame"
# What each suite validates: the name of the GX data asset in the Data Docs.
VALIDATED_FRAME = {SEVERE: "table_metrics", SOFT: "latest_load_metrics"}
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
    quarantine_limits: Mapping[str, float] | None = None,
) -> EntityValidation:
    """Validate ``raw.<entity>``: the table's metrics against the severe suite, the latest load's
    against the soft one.

    ``now`` is the validation time that "in the future" is judged against. ``severities`` limits
    the work to some suites (a Dagster run may select only one check). ``quarantine_limits`` maps
    source systems to the share of a load's rows that may be quarantined (the source configs'
    ``max_quarantined_share``); other systems get the default. The Data Docs site under
    ``docs_dir/great_expectations`` is rebuilt with the new results.

    An optional entity that never had a file passes trivially (its export is optional); a
    required one (orders) fails its severe suite.
    """
    contract = contract_for(entity)
    now = _naive_utc(now)
    wanted = _wanted_severities(severities)
    index = data_docs_index(docs_dir)

    loads = latest_loads(connection, entity)
    raw_rows = raw_row_count(connection, entity)
    if not raw_rows and not loads:
        # No file loaded, nothing to judge (a file whose rows were all quarantined is judged).
        if raw_table_exists(connection, entity):
            reason = f"{contract.raw_table} has no rows"
        else:
            reason = f"{contract.raw_table} does not exist (its ingestion has not run)"
        return EntityValidation(
            entity=entity,
            validated_at=now,
            raw_rows=0,
            rows_judged=0,
            results={severity: _without_rows(entity, severity, reason) for severity in wanted},
            data_docs_index=index,
        )

    limits = {load.system: (quarantine_limits or {}).get(load.system, DEFAULT_MAX_QUARANTINED_SHARE) for load in loads}
    suites = build_suites(entity, now, available_parents(connection, entity), limits)
    results, rows_judged = _validate_loads(connection, suites, loads, wanted, docs_dir, now)
    return EntityValidation(
        entity=entity,
        validated_at=now,
        raw_rows=raw_rows,
        rows_judged=rows_judged,
        results={severity: results[severity] for severity in wanted},
        data_docs_index=index,
        loads=tuple(loads),
        quarantine_limits=limits,
        quarantine_examples=tuple(quarantine_examples(connection, entity, loads)),
    )


def _wanted_severities(severities: Iterable[str]) -> tuple[str, ...]:
    """The requested severities in SEVERITIES order; an unknown one is an error."""
    requested = set(severities)
    unknown = requested - set(SEVERITIES)
    if unknown:
        raise ValueError(f"unknown severities {sorted(unknown)}; known: {', '.join(SEVERITIES)}")
    return tuple(severity for severity in SEVERITIES if severity in requested)


def _validate_loads(
    connection: duckdb.DuckDBPyConnection,
    suites: EntitySuites,
    loads: list[LatestLoad],
    wanted: tuple[str, ...],
    docs_dir: Path,
    now: datetime,
) -> tuple[dict[str, SeverityResult], int]:
    """(each wanted severity's result, the rows the soft suite judged): the table's metrics
    against the severe suite, the latest loads' against the soft one."""
    entity = suites.entity
    frames: dict[str, pd.DataFrame] = {}
    rows_judged = 0
    if SEVERE in wanted:
        frames[SEVERE] = table_metrics(connection, entity, loads)
    if SOFT in wanted:
        metrics = load_metrics(connection, suites, loads)
        frames[SOFT] = metrics.frame
        rows_judged = metrics.rows_judged
    results = _validate_frames(frames, suites, docs_dir, now) if frames else {}
    if SOFT in results:
        # GX saw each rule's share; the values of rows that break it come from DuckDB.
        soft = results[SOFT]
        failed = tuple(replace(failure, sample=metrics.examples.get(failure.column, ())) for failure in soft.failed)
        results[SOFT] = replace(soft, failed=failed)
    return results, rows_judged


def _without_rows(entity: str, severity: str, reason: str) -> SeverityResult:
    contract = contract_for(entity)
    name = suite_name(entity, severity)
    if severity == SEVERE and contract.is_required_export:
        # The same failure the metrics row gives when the table exists but is empty.
        failure = FailedExpectation(
            expectation_type="expect_column_values_to_be_between",
            column=ROW_COUNT_METRIC,
            meaning=f"{contract.raw_table} has at least one row (the {entity} export is required)",
            observed_value=0,
            element_count=1,
            examples=(0,),
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


def _validate_frames(
    frames: dict[str, pd.DataFrame],
    suites: EntitySuites,
    docs_dir: Path,
    now: datetime,
) -> dict[str, SeverityResult]:
    """Validate each severity's suite on its frame; rebuild the Data Docs with the results."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    entity = suites.entity
    severities = tuple(frames)
    context = gx.get_context(project_config=_context_config(docs_dir), mode="ephemeral")
    data_source = context.data_sources.add_pandas(DATASOURCE_NAME)
    run_time = datetime.now(UTC)
    run_id = RunIdentifier(run_name=f"as_of_{now:%Y-%m-%dT%H%M}", run_time=run_time)

    gx_results: dict[str, Any] = {}
    result_keys: dict[str, Any] = {}
    for severity, frame in frames.items():
        gx_results[severity], result_keys[severity] = _run_suite(context, data_source, suites, severity, frame, run_id)
    pages = _build_data_docs(context, entity, severities, result_keys, docs_dir)

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


def _run_suite(
    context: Any, data_source: Any, suites: EntitySuites, severity: str, frame: pd.DataFrame, run_id: Any
) -> tuple[Any, Any]:
    """(GX's validation result of the severity's suite on its frame, the key it is stored under)."""
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    entity = suites.entity
    name = suite_name(entity, severity)
    batch_definition = data_source.add_dataframe_asset(
        f"raw.{entity}.{VALIDATED_FRAME[severity]}"
    ).add_batch_definition_whole_dataframe(BATCH_DEFINITION_NAME)
    suite = context.suites.add_or_update(
        gx.ExpectationSuite(
            name=name,
            expectations=[_gx_expectation(spec, severity) for spec in suites.for_severity(severity)],
            meta={
                "entity": entity,
                "severity": severity,
                "table": f"raw.{entity}",
                "validates": VALIDATED_FRAME[severity],
            },
        )
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
    )
    result = definition.run(batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT, run_id=run_id)
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=name),
        run_id=run_id,
        batch_identifier=result.batch_id,
    )
    return result, key


def _build_data_docs(
    context: Any, entity: str, severities: tuple[str, ...], result_keys: dict[str, Any], docs_dir: Path
) -> dict[str, Path | None]:
    """Rebuild the entity's Data Docs pages, keeping the latest runs only; returns each
    severity's result page (none where the docs could not be built)."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

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
        # GX's pages load their CSS and scripts from CDNs: point them at copies inside the site.
        offline = make_data_docs_offline(data_docs_dir(docs_dir))
        if offline.unresolved:
            logger.warning("Data Docs pages still load from the network (page, URL): %s", offline.unresolved)
        for severity, key in result_keys.items():
            urls = context.get_docs_sites_urls(resource_identifier=key, site_name=SITE_NAME)
            pages[severity] = _page_path(urls[0]["site_url"]) if urls else None
    except Exception:  # the docs are a view: a rendering problem must not hide the validation result
        logger.exception("Building the Great Expectations Data Docs failed for %s", entity)
    return pages


def _suite_names(entity: str, severities: Iterable[str]) -> list[str]:
    return [suite_name(entity, severity) for severity in severities]
