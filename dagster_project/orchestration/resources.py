"""Dagster resources: the build DuckDB warehouse, resolved from the one settings module."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from dagster_project.core.settings import Settings, load_settings
from dagster_project.core.warehouse import connect_warehouse
from dagster_project.orchestration.transient_errors import explain_lock, transient_cause

# Every asset that writes the build DuckDB file is in this pool; the instance limits it to 1
# because DuckDB allows a single writing process.
WAREHOUSE_WRITER_POOL = "duckdb_writer"

# A transient error (transient_errors.py: the DuckDB file locked by another process, a busy
# landing file) makes the step try again this many times, this long apart; any other error fails
# the step at once. Two minutes in all: enough for a query someone is running to finish.
TRANSIENT_RETRIES = 4
TRANSIENT_RETRY_WAIT_SECONDS = 30.0


@contextmanager
def retry_when_transient(
    max_retries: int, seconds_to_wait: float, explain: Callable[[str], str | None] = lambda message: None
) -> Iterator[None]:
    """Turn a transient error raised in the block into a retry of the Dagster step; ``explain``
    may turn the error's message into advice for the user (who holds a lock, what to do)."""
    try:
        yield
    except Exception as error:
        cause = transient_cause(error)
        if cause is None:
            raise
        advice = explain(str(error)) or str(error)
        dg.get_dagster_logger().warning(
            f"{cause}; the step will try again in {seconds_to_wait:g} s (up to {max_retries} times): {advice}"
        )
        raise dg.RetryRequested(max_retries=max_retries, seconds_to_wait=seconds_to_wait) from error


class WarehouseResource(dg.ConfigurableResource):
    """The build DuckDB file under ``CRM_DATA_DIR``."""

    data_dir: str | None = None  # overrides CRM_DATA_DIR, e.g. in tests
    transient_retries: int = TRANSIENT_RETRIES
    transient_retry_wait_seconds: float = TRANSIENT_RETRY_WAIT_SECONDS

    def settings(self) -> Settings:
        if self.data_dir is None:
            return load_settings()
        return load_settings({"CRM_DATA_DIR": self.data_dir})

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The build file; a transient error while it is open (or opening) retries the step."""
        settings = self.settings()
        with (
            retry_when_transient(
                self.transient_retries,
                self.transient_retry_wait_seconds,
                lambda message: explain_lock(message, settings.warehouse_path, settings.serving_path),
            ),
            connect_warehouse(settings, read_only=read_only) as connection,
        ):
            yield connection

    def wait_until_writable(self) -> None:
        """Open and close the file: for steps whose writer is another program (dbt), so that a
        lock held by someone else retries the step before that program starts, not half-way."""
        with self.connect():
            pass
