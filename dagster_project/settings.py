"""Every path and setting of the project, resolved in one place.

All runtime files live under one folder, ``CRM_DATA_DIR`` (default: ``data/`` in the
repository), resolved to an absolute path because dbt runs with its own working directory.
dbt's ``profiles.yml`` reads the same variable through ``env_var()``.

Nothing here touches the disk or the environment at import time: call :func:`load_settings`
when you need the values, and :meth:`Settings.ensure_directories` /
:meth:`Settings.subprocess_environment` when you are about to run something.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPOSITORY_ROOT / "dbt"

DEFAULT_DUCKDB_MEMORY_LIMIT = "4GB"
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    # CRM_SERVING_MASK_PII: publish the serving file with emails, phones and names replaced by keyed
    # tokens (pii.py); the outbox for operational tools keeps them.
    serving_mask_pii: bool = False
    # CRM_PII_KEY: the masking key; when unset, one is generated once into pii_key_path.
    pii_key: str | None = field(default=None, repr=False)

    @property
    def landing_dir(self) -> Path:
        """Where source systems drop their exports: landing/<source>/<entity>/<files>."""
        return self.data_dir / "landing"

    @property
    def sources_dir(self) -> Path:
        """Source configs (*.yml) mapping each system's exports to the contracts; built-in default if empty."""
        return self.data_dir / "sources"

    @property
    def ground_truth_dir(self) -> Path:
        """What the synthetic generator knows to be true; never read by the pipeline."""
        return self.data_dir / "ground_truth"

    @property
    def warehouse_path(self) -> Path:
        """The build DuckDB file: the pipeline's only writer works here."""
        return self.data_dir / "warehouse" / "crm.duckdb"

    @property
    def serving_path(self) -> Path:
        """The serving DuckDB file that analysts and BI tools open: replaced whole after each run."""
        return self.data_dir / "serving" / "crm.duckdb"

    @property
    def pii_key_path(self) -> Path:
        """The masking key generated when CRM_PII_KEY is unset (mode 0600; data/ is never committed)."""
        return self.data_dir / "secrets" / "pii.key"

    @property
    def outbox_dir(self) -> Path:
        """Activation exports for operational tools (outbox.py)."""
        return self.data_dir / "outbox"

    @property
    def ingested_files_dir(self) -> Path:
        """Per entity, the landing files (size and mtime) its last ingestion handled: the landing
        sensor does not launch a run for files a `crm build` already loaded (landing_watch.py)."""
        return self.data_dir / "warehouse" / "ingested_files"

    @property
    def duckdb_temp_dir(self) -> Path:
        return self.data_dir / "warehouse" / "tmp"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def docs_dir(self) -> Path:
        return self.data_dir / "docs"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def dbt_target_dir(self) -> Path:
        """Artifacts and logs of dbt invocations made by runs (the parse manifest stays in dbt/)."""
        return self.data_dir / "dbt"

    @property
    def logs_dir(self) -> Path:
        """Full logs of runs started from the `crm` command."""
        return self.data_dir / "logs"

    @property
    def dagster_home(self) -> Path:
        """The local Dagster instance: run history, event logs, schedules."""
        return self.data_dir / "dagster"

    def ensure_directories(self) -> None:
        for directory in (
            self.landing_dir,
            self.warehouse_path.parent,
            self.serving_path.parent,
            self.outbox_dir,
            self.duckdb_temp_dir,
            self.models_dir,
            self.docs_dir,
            self.reports_dir,
            self.dbt_target_dir,
            self.logs_dir,
            self.dagster_home,
        ):
            directory.mkdir(parents=True, exist_ok=True)

    def subprocess_environment(self) -> dict[str, str]:
        """Variables that dbt and Dagster subprocesses need to see the same folder."""
        return {
            "CRM_DATA_DIR": str(self.data_dir),
            "CRM_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "CRM_SERVING_MASK_PII": "1" if self.serving_mask_pii else "0",
            "DAGSTER_HOME": str(self.dagster_home),
        }

    def export_to_environment(self) -> None:
        """Make the resolved values visible to subprocesses started from here (dbt, dagster dev).

        Called just before running something, never at import time.
        """
        os.environ.update(self.subprocess_environment())


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    raw_data_dir = environ.get("CRM_DATA_DIR") or str(REPOSITORY_ROOT / "data")
    return Settings(
        data_dir=Path(raw_data_dir).expanduser().resolve(),
        duckdb_memory_limit=environ.get("CRM_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT),
        serving_mask_pii=_flag(environ, "CRM_SERVING_MASK_PII"),
        pii_key=environ.get("CRM_PII_KEY") or None,
    )


def _flag(environ: dict[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value not in TRUE_WORDS | FALSE_WORDS:
        raise ValueError(f"{name}={environ[name]!r}: use 1/true/yes/on or 0/false/no/off")
    return value in TRUE_WORDS
