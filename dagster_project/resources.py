"""Dagster resources: the build DuckDB warehouse, resolved from the one settings module."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from dagster_project.settings import Settings, load_settings
from dagster_project.warehouse import connect_warehouse

# Every asset that writes the build DuckDB file is in this pool; the instance limits it to 1
# because DuckDB allows a single writing process.
WAREHOUSE_WRITER_POOL = "duckdb_writer"


class WarehouseResource(dg.ConfigurableResource):
    """The build DuckDB file under ``CRM_DATA_DIR``."""

    data_dir: str | None = None  # overrides CRM_DATA_DIR, e.g. in tests

    def settings(self) -> Settings:
        if self.data_dir is None:
            return load_settings()
        return load_settings({"CRM_DATA_DIR": self.data_dir})

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect_warehouse(self.settings(), read_only=read_only) as connection:
            yield connection
