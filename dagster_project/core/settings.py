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

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPOSITORY_ROOT / "dbt"

# DuckDB's settings for every connection of the pipeline (ingestion, checks, dbt, models,
# serving). The defaults suit the reference machine (2 cores, 24 GiB): DuckDB takes at most 4 GB
# and spills the rest of a large sort or join to disk, which keeps the whole process tree of a
# million-customer build under 10 GiB with the model training beside it.
DEFAULT_DUCKDB_MEMORY_LIMIT = "4GB"
# DuckDB's default: a plain scan returns rows in table order, so frames read for the models come
# in the same order on every run. Setting it off saves memory on large CREATE TABLE AS and COPY
# (DuckDB's performance guide); ingestion turns it off for its own inserts (loader.py). Off for
# dbt too did not make the 1M full build faster (the three 70M-row email-event models: 285 s off
# against 270 s on, one build each), so it stays on.
DEFAULT_DUCKDB_PRESERVE_INSERTION_ORDER = True
# The variables that set them (read by load_settings and by dbt's profiles.yml).
DUCKDB_SETTINGS_VARIABLES = (
    "CRM_DUCKDB_MEMORY_LIMIT",
    "CRM_DUCKDB_THREADS",
    "CRM_DUCKDB_TEMP_DIR",
    "CRM_DUCKDB_PRESERVE_INSERTION_ORDER",
)
# CRM_ENGINE: where dbt builds the marts. duckdb is the warehouse file of this machine; spark is
# a Spark SQL endpoint (dbt/profiles.yml, target spark) reading the raw tables from the lake.
ENGINES = ("duckdb", "spark")
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    # CRM_DUCKDB_THREADS: DuckDB's worker threads; default (None) = one per CPU of this machine.
    duckdb_threads: int | None = None
    duckdb_preserve_insertion_order: bool = DEFAULT_DUCKDB_PRESERVE_INSERTION_ORDER
    # CRM_DUCKDB_TEMP_DIR: where DuckDB spills; default (None) = warehouse/tmp in the data folder.
    # Spilling at 1M customers writes a few GB: put it on a fast local disk.
    duckdb_temp_dir_override: Path | None = None
    # CRM_SERVING_MASK_PII: publish the serving file with emails, phones and names replaced by keyed
    # tokens (pii.py); the outbox for operational tools keeps them.
    serving_mask_pii: bool = False
    # CRM_PII_KEY: the masking key; when unset, one is generated once into pii_key_path.
    pii_key: str | None = field(default=None, repr=False)
    engine: str = "duckdb"
    # CRM_RAW_PARQUET: also land each raw table as Parquet in the lake (ingestion/lake.py); always
    # on with CRM_ENGINE=spark, whose dbt sources the lake's files are.
    raw_parquet: bool = False
    # CRM_LAKE_DIR: where the lake lives; default lake/ in the data folder. For a cluster, a
    # folder its executors see under the same path (a shared mount).
    lake_dir_override: Path | None = None
    # CRM_SPARK_HOST / CRM_SPARK_PORT: the Spark Thrift server dbt builds through (profiles.yml);
    # CRM_SPARK_CONNECT_URL: the Spark Connect endpoint (sc://host:port) the models read and write
    # through. No host: `crm build` starts a local Spark server for the run (spark/local_server.py).
    spark_host: str | None = None
    spark_port: int = 10000
    spark_connect_url_override: str | None = None
    # CRM_SPARK_DRIVER_MEMORY: the local server's memory (it runs everything in its driver).
    spark_driver_memory: str = "3g"

    @property
    def spark_connect_url(self) -> str:
        return self.spark_connect_url_override or f"sc://{self.spark_host or '127.0.0.1'}:15002"

    @property
    def spark_dir(self) -> Path:
        """The local Spark server's catalog, managed tables and log (spark/local_server.py)."""
        return self.data_dir / "spark"

    @property
    def lake_dir(self) -> Path:
        """The raw tables as Parquet, one file per load: lake/raw/<entity>/load_date=<day>/."""
        return self.lake_dir_override or self.data_dir / "lake"

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
        return self.duckdb_temp_dir_override or self.data_dir / "warehouse" / "tmp"

    @property
    def duckdb_thread_count(self) -> int:
        return self.duckdb_threads or os.cpu_count() or 1

    def duckdb_config(self) -> dict[str, str]:
        """DuckDB's database settings, as ``duckdb.connect(config=...)`` and dbt's profile
        (``config_options``) take them: set once when the database is opened, never re-set on
        each connection (DuckDB 2.0 refuses to change temp_directory once it has spilled there)."""
        return {
            "memory_limit": self.duckdb_memory_limit,
            "threads": str(self.duckdb_thread_count),
            "temp_directory": str(self.duckdb_temp_dir),
            "preserve_insertion_order": "true" if self.duckdb_preserve_insertion_order else "false",
        }

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
            "CRM_DUCKDB_THREADS": str(self.duckdb_thread_count),
            "CRM_DUCKDB_PRESERVE_INSERTION_ORDER": "1" if self.duckdb_preserve_insertion_order else "0",
            "CRM_SERVING_MASK_PII": "1" if self.serving_mask_pii else "0",
            "CRM_ENGINE": self.engine,
            "DAGSTER_HOME": str(self.dagster_home),
            # Only when chosen: dbt's profile derives the default from CRM_DATA_DIR, and a
            # derived path exported here would outlive a later change of the data folder.
            **({"CRM_DUCKDB_TEMP_DIR": str(self.duckdb_temp_dir_override)} if self.duckdb_temp_dir_override else {}),
            **({"CRM_LAKE_DIR": str(self.lake_dir_override)} if self.lake_dir_override else {}),
            **({"CRM_RAW_PARQUET": "1"} if self.raw_parquet else {}),
            **({"CRM_SPARK_HOST": self.spark_host, "CRM_SPARK_PORT": str(self.spark_port)} if self.spark_host else {}),
            **({"CRM_SPARK_CONNECT_URL": self.spark_connect_url_override} if self.spark_connect_url_override else {}),
        }

    def export_to_environment(self) -> None:
        """Make the resolved values visible to subprocesses started from here (dbt, dagster dev).

        Called just before running something, never at import time.
        """
        os.environ.update(self.subprocess_environment())


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    raw_data_dir = environ.get("CRM_DATA_DIR") or str(REPOSITORY_ROOT / "data")
    engine = _engine(environ)
    return Settings(
        data_dir=Path(raw_data_dir).expanduser().resolve(),
        duckdb_memory_limit=environ.get("CRM_DUCKDB_MEMORY_LIMIT") or DEFAULT_DUCKDB_MEMORY_LIMIT,
        duckdb_threads=_positive_int(environ, "CRM_DUCKDB_THREADS"),
        duckdb_preserve_insertion_order=_flag(
            environ, "CRM_DUCKDB_PRESERVE_INSERTION_ORDER", DEFAULT_DUCKDB_PRESERVE_INSERTION_ORDER
        ),
        duckdb_temp_dir_override=(
            Path(environ["CRM_DUCKDB_TEMP_DIR"]).expanduser().resolve() if environ.get("CRM_DUCKDB_TEMP_DIR") else None
        ),
        serving_mask_pii=_flag(environ, "CRM_SERVING_MASK_PII"),
        pii_key=environ.get("CRM_PII_KEY") or None,
        engine=engine,
        raw_parquet=engine == "spark" or _flag(environ, "CRM_RAW_PARQUET"),
        lake_dir_override=Path(environ["CRM_LAKE_DIR"]).expanduser().resolve() if environ.get("CRM_LAKE_DIR") else None,
        spark_host=environ.get("CRM_SPARK_HOST") or None,
        spark_port=_positive_int(environ, "CRM_SPARK_PORT") or 10000,
        spark_connect_url_override=environ.get("CRM_SPARK_CONNECT_URL") or None,
        spark_driver_memory=environ.get("CRM_SPARK_DRIVER_MEMORY") or "3g",
    )


def _engine(environ: dict[str, str]) -> str:
    value = environ.get("CRM_ENGINE", "").strip().lower() or "duckdb"
    if value not in ENGINES:
        raise ValueError(f"CRM_ENGINE={environ['CRM_ENGINE']!r}: use one of {', '.join(ENGINES)}")
    return value


def _flag(environ: dict[str, str], name: str, default: bool = False) -> bool:
    value = environ.get(name, "").strip().lower()
    if not value:
        return default
    if value not in TRUE_WORDS | FALSE_WORDS:
        raise ValueError(f"{name}={environ[name]!r}: use 1/true/yes/on or 0/false/no/off")
    return value in TRUE_WORDS


def _positive_int(environ: dict[str, str], name: str) -> int | None:
    value = environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={environ[name]!r}: use a whole number of 1 or more")
    return int(value)
