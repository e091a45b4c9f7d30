from pathlib import Path

from dagster_project.settings import REPOSITORY_ROOT, load_settings


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
