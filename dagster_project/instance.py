"""The local Dagster instance under ``CRM_DATA_DIR/dagster``: run history, schedules, pools."""

from __future__ import annotations

from dagster_project.settings import Settings

# DuckDB takes one writer: the pool every writing asset is in gets a limit of 1.
INSTANCE_CONFIG = """\
# Written by `crm`; the local Dagster instance of this data folder.
telemetry:
  enabled: false
concurrency:
  pools:
    granularity: op
    default_limit: 1
"""


def ensure_dagster_home(settings: Settings) -> None:
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    config_path = settings.dagster_home / "dagster.yaml"
    if not config_path.exists():
        config_path.write_text(INSTANCE_CONFIG)
