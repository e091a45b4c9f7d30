"""The dbt project handle, loaded lazily so that importing the code location does no work."""

from __future__ import annotations

from functools import cache

from dagster_dbt import DbtProject

from dagster_project.settings import DBT_PROJECT_DIR


@cache
def crm_dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    # Under `dagster dev` this re-parses the project on every reload.
    project.prepare_if_dev()
    # Anywhere else (CLI, tests, CI, `dagster definitions validate` on a fresh clone) the
    # manifest is produced once when missing; target/ is a build output and is not committed.
    if not project.manifest_path.exists():
        project.preparer.prepare(project)
    return project
