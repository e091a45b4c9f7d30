"""Shared fixtures: a small generated export set and a fully built warehouse, in temp folders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.settings import DUCKDB_SETTINGS_VARIABLES, Settings, load_settings
from tests.environment import restored_environment
from tests.generated import generate_export_set

SMALL_EXPORT = {"customers": 600, "months": 18, "seed": 11, "end_date": date(2026, 6, 30)}


@pytest.fixture(autouse=True)
def _environment_restored_after_each_test() -> Iterator[None]:
    with restored_environment():
        yield


@pytest.fixture(scope="session")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated export set, written once per test session; tests copy it before changing it."""
    return generate_export_set(tmp_path_factory, "small_export", **SMALL_EXPORT)


@pytest.fixture
def data_dir_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for a fresh data folder; the environment is restored after the test."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster"))
    monkeypatch.delenv("CRM_ANALYSIS_DATE", raising=False)
    return load_settings()


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB file of the test's own (``warehouse.duckdb`` in its temp folder), closed after it."""
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        yield connection


# Long enough (24 months) for every model to be published, the sales forecast included.
PUBLISHED_EXPORT = {"customers": 600, "months": 24, "seed": 11, "end_date": date(2026, 6, 30)}


@pytest.fixture(scope="session")
def published_pipeline(tmp_path_factory: pytest.TempPathFactory):
    """One full run, once per test session, for tests that only read what it published (the
    serving file, the report, the outbox): ``(settings, outcome)``. Do not write into it."""
    from dagster_project.runner import run_full_pipeline
    from dagster_project.synthetic import generate_exports

    root = tmp_path_factory.mktemp("published_pipeline")
    data_dir = root / "data"
    with restored_environment(), pytest.MonkeyPatch.context() as environment:
        environment.setenv("CRM_DATA_DIR", str(data_dir))
        environment.setenv("DAGSTER_HOME", str(data_dir / "dagster"))
        for name in ("CRM_ANALYSIS_DATE", "CRM_SERVING_MASK_PII", "CRM_PII_KEY", *DUCKDB_SETTINGS_VARIABLES):
            environment.delenv(name, raising=False)
        settings = load_settings()
        generate_exports(out_dir=settings.landing_dir, truth_dir=root / "ground_truth", **PUBLISHED_EXPORT)
        outcome = run_full_pipeline(settings)
        assert outcome.success, outcome.failure_messages
    # run_full_pipeline exported the folder to the environment for dbt; the contexts restored it.
    yield settings, outcome
