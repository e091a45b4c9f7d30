"""The local Dagster instance under ``CRM_DATA_DIR/dagster``: run history, schedules, pools."""

from __future__ import annotations

from dagster_project.core.settings import Settings

# The first line marks the file as ours: `crm` rewrites such a file when this text changes, and
# leaves a dagster.yaml without it (someone's own configuration) alone.
WRITTEN_BY_CRM = "# Written by `crm`; the local Dagster instance of this data folder."

INSTANCE_CONFIG = f"""\
{WRITTEN_BY_CRM}
# `crm` rewrites this file when its settings change; delete the line above to keep your own edits.
telemetry:
  enabled: false
concurrency:
  pools:
    # DuckDB takes one writer: the pool every writing asset is in (duckdb_writer) gets a limit of 1.
    granularity: op
    default_limit: 1
# Runs launched by the daemon (schedules, the landing sensor, the UI under `dagster dev`).
run_monitoring:
  enabled: true
  poll_interval_seconds: 60
  # A run that has not started after 3 minutes is failed.
  start_timeout_seconds: 180
  # The local run launcher cannot tell a dead run worker from a busy one: a run still going after
  # 12 hours is taken for dead and failed. (`crm build` runs are exempt; `crm` checks their process.)
  max_runtime_seconds: 43200
  # Pool slots still held by a run that ended (its worker died mid-step) are freed after a minute.
  free_slots_after_run_end_seconds: 60
  # Must stay 0: the local run launcher cannot resume runs (Dagster refuses to start otherwise).
  max_resume_run_attempts: 0
# A run whose worker crashed is run again once, from the failed steps. Failed assets are not
# retried as a whole run: steps retry transient errors (a locked DuckDB file) themselves.
run_retries:
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
"""


def ensure_dagster_home(settings: Settings) -> None:
    """Write dagster.yaml, or bring up to date one that `crm` wrote before; someone else's is left alone."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    config_path = settings.dagster_home / "dagster.yaml"
    if config_path.exists():
        current = config_path.read_text()
        if current == INSTANCE_CONFIG or not current.startswith(WRITTEN_BY_CRM):
            return
    temporary = config_path.with_name("dagster.yaml.tmp")
    temporary.write_text(INSTANCE_CONFIG)
    temporary.replace(config_path)  # a Dagster process starting now reads the old or the new file, never half
