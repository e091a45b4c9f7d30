"""Running the whole pipeline, or dbt alone, in a data folder of a test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dagster_project.core.settings import REPOSITORY_ROOT, Settings, load_settings
from dagster_project.runner import run_full_pipeline
from tests.environment import restored_environment


@contextmanager
def data_dir_environment(data_dir: Path) -> Iterator[Settings]:
    """CRM_DATA_DIR and friends pointing at ``data_dir``, restored on exit.

    The pipeline exports its settings into os.environ; restored_environment puts it back as it was.
    """
    with restored_environment(), pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
        monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster"))
        monkeypatch.delenv("CRM_ANALYSIS_DATE", raising=False)
        yield load_settings()


CRM = str(Path(sys.executable).parent / "crm")


def run_crm(data_dir: Path, *arguments: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The `crm` command as a user runs it, in a subprocess with ``data_dir`` as its data folder
    and no other CRM_ or DAGSTER_ setting of this process than those in ``environment``."""
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("CRM_", "DAGSTER_"))},
        **(environment or {}),
        "CRM_DATA_DIR": str(data_dir),
    }
    return subprocess.run([CRM, *arguments], capture_output=True, text=True, env=environment, timeout=900)


def run_pipeline(data_dir: Path) -> Settings:
    with data_dir_environment(data_dir) as settings:
        outcome = run_full_pipeline(settings)
    assert outcome.success, outcome.failure_messages
    return settings


@contextmanager
def read_only(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(path), read_only=True)
    try:
        yield connection
    finally:
        connection.close()


def query(path: Path, sql: str) -> list[tuple]:
    """The rows of ``sql`` on the DuckDB file at ``path``, opened read-only."""
    with read_only(path) as connection:
        return connection.execute(sql).fetchall()


def query_frame(path: Path, sql: str) -> pl.DataFrame:
    """``sql`` on the DuckDB file at ``path``, opened read-only, as a polars frame."""
    with read_only(path) as connection:
        return connection.sql(sql).pl()


def full_refresh(settings: Settings) -> subprocess.CompletedProcess[str]:
    return run_dbt(settings, "build", "--full-refresh")


def run_dbt(settings: Settings, *arguments: str, name: str = "tests_of_the_tests") -> subprocess.CompletedProcess[str]:
    """dbt with the data folder's settings; its target and logs go to the data folder under ``name``."""
    dbt = Path(sys.executable).parent / "dbt"
    environment = {**os.environ, **settings.subprocess_environment()}
    environment.pop("CRM_ANALYSIS_DATE", None)
    return subprocess.run(
        [
            str(dbt),
            *arguments,
            "--project-dir",
            "dbt",
            "--profiles-dir",
            "dbt",
            # keep the repository's dbt/target and dbt/logs out of it
            "--target-path",
            str(settings.dbt_target_dir / name),
            "--log-path",
            str(settings.logs_dir / f"dbt_{name}"),
        ],
        cwd=REPOSITORY_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


# When dbt wrote a row: differs between nightly runs and a full refresh by design.
PROCESSING_METADATA_COLUMNS = ("_processed_at", "_link_changed_at")


def snapshot_tables(warehouse: Path, names: list[str] | tuple[str, ...]) -> dict[str, pl.DataFrame]:
    """Tables ("schema.name") without their processing metadata, rows sorted by all columns."""
    with read_only(warehouse) as connection:
        frames = {}
        for name in names:
            columns = [column for column, *_ in connection.execute(f"select * from {name} limit 0").description]
            kept = ", ".join(f'"{column}"' for column in columns if column not in PROCESSING_METADATA_COLUMNS)
            frames[name] = connection.sql(f"select {kept} from {name} order by all").pl()
        return frames


def snapshot_schema(warehouse: Path, schema: str) -> dict[str, pl.DataFrame]:
    """Every table of a schema (see snapshot_tables), by table name."""
    with read_only(warehouse) as connection:
        names = [
            name
            for (name,) in connection.execute(
                "select table_name from information_schema.tables where table_schema = ? order by 1", [schema]
            ).fetchall()
        ]
    return {
        name.split(".", 1)[1]: frame
        for name, frame in snapshot_tables(warehouse, [f"{schema}.{name}" for name in names]).items()
    }


def assert_same_rows(name: str, incremental: pl.DataFrame, refreshed: pl.DataFrame) -> None:
    """The table ``name`` as incremental runs left it equals what a full refresh makes of it: the
    rows only one side has are shown first, then the frames compared exactly."""
    difference = pl.concat(
        [
            incremental.join(refreshed, on=incremental.columns, how="anti", nulls_equal=True).with_columns(
                pl.lit("incremental only").alias("side")
            ),
            refreshed.join(incremental, on=refreshed.columns, how="anti", nulls_equal=True).with_columns(
                pl.lit("full refresh only").alias("side")
            ),
        ]
    )
    assert difference.is_empty(), f"{name}: incremental runs and a full refresh differ:\n{difference.head(10)}"
    assert_frame_equal(incremental, refreshed, check_exact=True)
