"""A load killed with SIGKILL half-way leaves no trace of the file it was on; the rerun completes it.

The loader promises that each landing file's rows, quarantined rows and ledger row commit
together or not at all. This test checks it the hard way: a subprocess loads several orders
files into a DuckDB file and is killed (SIGKILL, no clean-up of any kind) part-way through. The
killed database must hold only whole files, and loading again into it must give exactly what
a clean, uninterrupted load gives in a separate file: same rows, same ledger, same quarantine,
nothing twice.

Timing: a clean load runs first in a subprocess (it is also the reference database) and says
how long ``load_entity`` takes on this machine right now. Then a loader is started on another
database file and killed at a fraction of that time after it says it is about to call
``load_entity``; a new loader resumes the same database and is killed again, three times in
all, so that the kills land at different points of a file's load (reading, validating,
inserting, committing). After every kill the database must hold only whole files. Only the
fraction matters, not the speed of the machine; if the loads finished before the last kill
(nothing was left to interrupt), the sequence is retried with earlier kills, and only that
happening on every attempt fails the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from dagster_project.core.contracts import CONTRACTS
from dagster_project.ingestion import load_entity

ORDERS = CONTRACTS["orders"]
FILE_COUNT = 8
ROWS_PER_FILE = 60_000
# Three kills at these fractions of a clean load's time after each start: with 8 files a file takes
# about 0.125 of it, so each resumed load is killed at about 1.2, 1.5 and 1.8 files' time: at
# different points of a file's load. About 3 of the 8 files are in before the test's own rerun.
KILL_FRACTIONS = (0.15, 0.19, 0.23)
MAX_ATTEMPTS = 3
REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
# Load times differ between runs; these columns do not take part in the comparison.
LOAD_TIME_COLUMNS = {"_loaded_at", "loaded_at", "quarantined_at"}

HELPER = """
import json, sys, time
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.core.contracts import CONTRACTS
from dagster_project.ingestion import load_entity

database, landing = sys.argv[1], Path(sys.argv[2])
connection = duckdb.connect(database)
print("START", flush=True)
started = time.perf_counter()
result = load_entity(connection, CONTRACTS["orders"], landing, datetime(2026, 1, 1, 12, 0))
seconds = time.perf_counter() - started
connection.close()
print("DONE " + json.dumps({"seconds": seconds, "statuses": [f.status for f in result.files]}), flush=True)
"""


def orders_file(rng: np.random.Generator, file_number: int) -> pl.DataFrame:
    """One export file of orders, all values as text, with a few rows that must be quarantined."""
    n = ROWS_PER_FILE
    epoch = rng.integers(1_700_000_000, 1_760_000_000, n)  # before both load times of the test
    frame = pl.DataFrame(
        {
            "order_id": [f"O{file_number:02d}{i:06d}" for i in range(n)],
            "customer_id": [f"C{value:07d}" for value in rng.integers(0, 2_000_000, n)],
            "ordered_at": pl.Series(epoch, dtype=pl.Int64),
            "status": pl.Series(["completed", "cancelled", "returned", "pending"]).gather(rng.integers(0, 4, n)),
            "channel": pl.Series(["web", "store", "phone", "marketplace"]).gather(rng.integers(0, 4, n)),
            "currency": ["USD"] * n,
            "total_amount": rng.integers(100, 100_000, n) / 100,
            "discount_amount": rng.integers(0, 1_000, n) / 100,
        }
    ).with_columns(
        pl.from_epoch("ordered_at", time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.col("total_amount").round(2).cast(pl.String),
        pl.col("discount_amount").round(2).cast(pl.String),
    )
    row = pl.int_range(pl.len())
    return frame.with_columns(
        pl.when(row % 997 == 5).then(pl.lit("shipped")).otherwise("status").alias("status"),
        pl.when(row % 1009 == 7).then(pl.lit("not-a-date")).otherwise("ordered_at").alias("ordered_at"),
        pl.when(row % 1013 == 11).then(None).otherwise("customer_id").alias("customer_id"),
        pl.when(row % 50 == 3).then(None).otherwise("discount_amount").alias("discount_amount"),
    ).select(ORDERS.column_names)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("atomic") / "landing"
    orders_folder = folder / ORDERS.source / ORDERS.entity
    orders_folder.mkdir(parents=True)
    rng = np.random.default_rng(20260101)
    for number in range(1, FILE_COUNT + 1):
        orders_file(rng, number).write_csv(orders_folder / f"orders_{number:04d}.csv")
    return folder


def start_loader(helper: Path, database: Path, landing: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, str(helper), str(database), str(landing)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPOSITORY_ROOT,
    )
    line = process.stdout.readline()
    if line.strip() != "START":
        process.kill()
        process.wait()
        pytest.fail(f"the loader subprocess did not start: {line!r}")
    return process


def table_rows(connection: duckdb.DuckDBPyConnection, table: str, columns: list[str] | None = None) -> list[tuple]:
    """Every row of a table, sorted, without the load-time columns (or only ``columns``)."""
    if columns is None:
        described = connection.execute(f"DESCRIBE {table}").fetchall()
        columns = [row[0] for row in described if row[0] not in LOAD_TIME_COLUMNS]
    column_list = ", ".join(f'"{name}"' for name in columns)
    return sorted(connection.execute(f"SELECT {column_list} FROM {table}").fetchall(), key=repr)


LEDGER_COLUMNS = ["entity", "source_file", "content_hash", "rows_read", "rows_loaded", "rows_quarantined", "status"]


def loaded_files(database: Path) -> dict[str, int]:
    """source_file -> rows_loaded for every file the killed database's ledger says is loaded.

    Also checks atomicity itself: raw.orders and the quarantine hold exactly the ledger's files,
    each complete, and nothing of the file the load was on when it was killed.
    """
    with duckdb.connect(str(database)) as connection:
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables"
            ).fetchall()
        }

        def per_file(table: str, query: str) -> dict[str, int]:
            return dict(connection.execute(query).fetchall()) if table in tables else {}

        ledger = per_file(
            "raw._file_ledger",
            "SELECT source_file, rows_loaded FROM raw._file_ledger WHERE entity = 'orders' AND status = 'loaded'",
        )
        quarantined = per_file(
            "raw._file_ledger",
            "SELECT source_file, rows_quarantined FROM raw._file_ledger WHERE entity = 'orders' AND status = 'loaded'",
        )
        in_table = per_file("raw.orders", "SELECT _source_file, count(*) FROM raw.orders GROUP BY ALL")
        in_quarantine = per_file("raw._quarantine", "SELECT source_file, count(*) FROM raw._quarantine GROUP BY ALL")
    assert in_table == ledger, "the killed load left rows without their ledger entry (or the reverse)"
    assert in_quarantine == quarantined, "the killed load left quarantined rows without their ledger entry"
    return ledger


def landing_file_names(landing: Path) -> list[str]:
    folder = landing / ORDERS.source / ORDERS.entity
    return [path.relative_to(landing).as_posix() for path in sorted(folder.glob("*.csv"))]


def kill_mid_load(helper: Path, database: Path, landing: Path, clean_seconds: float) -> dict[str, int]:
    """Kill loads into ``database`` part-way, several times in a row, each resuming the last.

    Each kill lands at a different point of some file's load, so a window in which a file is
    half-written has several chances to be hit; the database is checked after every kill. If
    the loads finished before the last kill, the whole sequence is retried with earlier kills.
    """
    scale = 1.0
    for attempt in range(MAX_ATTEMPTS):
        for leftover in database.parent.glob(database.name + "*"):
            leftover.unlink()
        committed = []
        for fraction in KILL_FRACTIONS:
            process = start_loader(helper, database, landing)
            time.sleep(scale * fraction * clean_seconds)
            process.kill()  # SIGKILL: no handler, no rollback, no close
            process.wait()
            process.stdout.close()
            loaded = loaded_files(database)
            committed.append(len(loaded))
            if len(loaded) == FILE_COUNT:
                break
        print(
            f"attempt {attempt + 1}: kills at {[round(scale * f, 3) for f in KILL_FRACTIONS]} x {clean_seconds:.2f} s; "
            f"files committed after each kill: {committed} of {FILE_COUNT}"
        )
        if len(loaded) < FILE_COUNT:
            return loaded
        scale /= 2  # too late: everything was in before the last kill
    pytest.fail(f"every kill sequence ended after the last file was loaded (clean load: {clean_seconds:.2f} s)")


def test_a_load_killed_mid_way_is_completed_by_the_rerun_exactly_once(landing: Path, tmp_path: Path):
    helper = tmp_path / "load_orders.py"
    helper.write_text(HELPER)

    # The clean load: the reference, and the measure of how long a load takes here, now.
    clean_database = tmp_path / "clean.duckdb"
    clean = start_loader(helper, clean_database, landing)
    output, _ = clean.communicate(timeout=120)
    assert clean.returncode == 0, output
    clean_run = json.loads(output.strip().splitlines()[-1].removeprefix("DONE "))
    assert clean_run["statuses"] == ["loaded"] * FILE_COUNT

    killed_database = tmp_path / "killed.duckdb"
    loaded_before_rerun = kill_mid_load(helper, killed_database, landing, clean_run["seconds"])
    assert len(loaded_before_rerun) < FILE_COUNT

    with duckdb.connect(str(killed_database)) as connection:
        rerun = load_entity(connection, ORDERS, landing, datetime(2026, 1, 2, 8, 0))
        rerun_orders = table_rows(connection, "raw.orders")
        rerun_ledger = table_rows(connection, "raw._file_ledger", LEDGER_COLUMNS)
        rerun_quarantine = table_rows(connection, "raw._quarantine")
        duplicate_rows = connection.execute(
            "SELECT count(*) - count(DISTINCT (_source_file, _source_line)) FROM raw.orders"
        ).fetchall()[0][0]
        per_file = connection.execute(
            """
            SELECT l.source_file, l.rows_read, l.rows_loaded, l.rows_quarantined,
                   (SELECT count(*) FROM raw.orders o WHERE o._source_file = l.source_file),
                   (SELECT count(*) FROM raw._quarantine q WHERE q.source_file = l.source_file)
            FROM raw._file_ledger l
            """
        ).fetchall()

    with duckdb.connect(str(clean_database), read_only=True) as connection:
        clean_orders = table_rows(connection, "raw.orders")
        clean_ledger = table_rows(connection, "raw._file_ledger", LEDGER_COLUMNS)
        clean_quarantine = table_rows(connection, "raw._quarantine")

    # The rerun loaded exactly the files not committed before the kill and skipped the others
    # (whatever status name the loader gives a file it has already loaded).
    newly_loaded = sorted(file.source_file for file in rerun.files if file.status == "loaded")
    assert len(rerun.files) == FILE_COUNT
    assert newly_loaded == sorted(set(landing_file_names(landing)) - set(loaded_before_rerun))

    assert len(rerun_orders) == len(clean_orders) > 0
    assert rerun_orders == clean_orders
    assert rerun_ledger == clean_ledger
    assert len(rerun_ledger) == FILE_COUNT and {row[6] for row in rerun_ledger} == {"loaded"}
    assert rerun_quarantine == clean_quarantine
    assert len(rerun_quarantine) > 0  # the files have bad rows, so the quarantine took part too
    # Exactly the rows orders_file made bad (an unknown status, an unreadable date, no customer),
    # counted from its row numbers: each once, and every other row loaded.
    bad_per_file = sum(1 for row in range(ROWS_PER_FILE) if row % 997 == 5 or row % 1009 == 7 or row % 1013 == 11)
    assert len(rerun_quarantine) == FILE_COUNT * bad_per_file
    assert len(rerun_orders) == FILE_COUNT * (ROWS_PER_FILE - bad_per_file)
    assert duplicate_rows == 0
    for source_file, rows_read, rows_loaded, rows_quarantined, in_table, in_quarantine in per_file:
        assert rows_read == rows_loaded + rows_quarantined == ROWS_PER_FILE, source_file
        assert rows_quarantined == bad_per_file, source_file
        assert (in_table, in_quarantine) == (rows_loaded, rows_quarantined), source_file
