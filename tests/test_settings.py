import json
from pathlib import Path

import pytest

from dagster_project.core.settings import REPOSITORY_ROOT, load_settings
from dagster_project.core.warehouse import connect_warehouse
from tests.pipeline import run_dbt


def test_every_path_derives_from_crm_data_dir(tmp_path: Path):
    settings = load_settings({"CRM_DATA_DIR": str(tmp_path / "elsewhere")})
    paths = [
        settings.landing_dir,
        settings.sources_dir,
        settings.ground_truth_dir,
        settings.warehouse_path,
        settings.duckdb_temp_dir,
        settings.models_dir,
        settings.docs_dir,
        settings.reports_dir,
        settings.dbt_target_dir,
        settings.logs_dir,
        settings.dagster_home,
    ]
    assert all(path.is_absolute() and path.is_relative_to(tmp_path / "elsewhere") for path in paths)
    assert settings.subprocess_environment()["CRM_DATA_DIR"] == str(tmp_path / "elsewhere")


def test_default_is_data_in_the_repository_and_relative_values_become_absolute(monkeypatch, tmp_path):
    assert load_settings({}).data_dir == REPOSITORY_ROOT / "data"
    monkeypatch.chdir(tmp_path)
    assert load_settings({"CRM_DATA_DIR": "relative"}).data_dir == tmp_path / "relative"


def test_dbt_profile_reads_the_same_variable():
    profile = (REPOSITORY_ROOT / "dbt" / "profiles.yml").read_text()
    assert "env_var('CRM_DATA_DIR'" in profile
    assert "/warehouse/crm.duckdb" in profile


def test_duckdb_settings_come_from_one_place_and_dbt_opens_the_database_with_them(tmp_path: Path):
    """settings.py resolves DuckDB's settings; the pipeline's connections and dbt's profile
    (which reads the variables settings.py exports) must end up with the same values."""
    settings = load_settings(
        {
            "CRM_DATA_DIR": str(tmp_path / "data"),
            "CRM_DUCKDB_MEMORY_LIMIT": "1GB",
            "CRM_DUCKDB_THREADS": "1",
            "CRM_DUCKDB_TEMP_DIR": str(tmp_path / "spill"),
        }
    )
    settings.ensure_directories()
    expected = {
        "memory_limit": "953.6 MiB",  # DuckDB reports 1GB (10^9 bytes) in binary units
        "threads": "1",
        "temp_directory": str(tmp_path / "spill"),
        "preserve_insertion_order": "true",
    }
    query = "select name, value from duckdb_settings() where name in ('memory_limit', 'threads', 'temp_directory', 'preserve_insertion_order')"
    with connect_warehouse(settings) as connection:
        assert dict(connection.execute(query).fetchall()) == expected

    shown = run_dbt(settings, "show", "--inline", query, "--output", "json", "--log-format", "json", name="settings")
    assert shown.returncode == 0, shown.stdout[-3000:] + shown.stderr[-3000:]
    preview = next(
        json.loads(json.loads(line)["data"]["preview"])
        for line in shown.stdout.splitlines()
        if line.startswith("{") and "preview" in json.loads(line).get("data", {})
    )
    assert {row["name"]: row["value"] for row in preview} == expected


def test_duckdb_settings_refuse_nonsense():
    with pytest.raises(ValueError, match="CRM_DUCKDB_THREADS"):
        load_settings({"CRM_DUCKDB_THREADS": "two"})
    with pytest.raises(ValueError, match="CRM_DUCKDB_PRESERVE_INSERTION_ORDER"):
        load_settings({"CRM_DUCKDB_PRESERVE_INSERTION_ORDER": "maybe"})
    assert (
        load_settings({"CRM_DUCKDB_PRESERVE_INSERTION_ORDER": "no"}).duckdb_config()["preserve_insertion_order"]
        == "false"
    )


def test_the_engine_and_the_lake(tmp_path):
    duckdb_default = load_settings({"CRM_DATA_DIR": str(tmp_path)})
    assert (duckdb_default.engine, duckdb_default.raw_parquet, duckdb_default.lake_dir) == (
        "duckdb",
        False,
        tmp_path / "lake",
    )
    assert "CRM_RAW_PARQUET" not in duckdb_default.subprocess_environment()
    # Spark reads the raw tables from the lake: landing them there is not optional.
    spark = load_settings({"CRM_DATA_DIR": str(tmp_path), "CRM_ENGINE": "Spark", "CRM_RAW_PARQUET": "0"})
    assert (spark.engine, spark.raw_parquet) == ("spark", True)
    assert spark.subprocess_environment()["CRM_ENGINE"] == "spark"
    elsewhere = load_settings(
        {"CRM_DATA_DIR": str(tmp_path), "CRM_RAW_PARQUET": "yes", "CRM_LAKE_DIR": str(tmp_path / "s")}
    )
    assert (elsewhere.engine, elsewhere.raw_parquet, elsewhere.lake_dir) == ("duckdb", True, tmp_path / "s")
    assert elsewhere.subprocess_environment()["CRM_LAKE_DIR"] == str(tmp_path / "s")
    with pytest.raises(ValueError, match="CRM_ENGINE='snowflake': use one of duckdb, spark"):
        load_settings({"CRM_ENGINE": "snowflake"})


def test_the_spark_endpoints(tmp_path):
    local = load_settings({"CRM_DATA_DIR": str(tmp_path), "CRM_ENGINE": "spark"})
    # No host: `crm build` starts a local server and announces it; nothing stale is exported.
    assert (local.spark_host, local.spark_dir) == (None, tmp_path / "spark")
    assert not {"CRM_SPARK_HOST", "CRM_SPARK_CONNECT_URL"} & set(local.subprocess_environment())
    cluster = load_settings({"CRM_ENGINE": "spark", "CRM_SPARK_HOST": "thrift.example", "CRM_SPARK_PORT": "10001"})
    assert (cluster.spark_host, cluster.spark_port, cluster.spark_connect_url) == (
        "thrift.example",
        10001,
        "sc://thrift.example:15002",
    )
    assert cluster.subprocess_environment()["CRM_SPARK_PORT"] == "10001"
    connect = load_settings({"CRM_SPARK_HOST": "a", "CRM_SPARK_CONNECT_URL": "sc://b:443/;use_ssl=true"})
    assert connect.spark_connect_url == "sc://b:443/;use_ssl=true"
    with pytest.raises(ValueError, match="CRM_SPARK_PORT='thrift'"):
        load_settings({"CRM_SPARK_PORT": "thrift"})
