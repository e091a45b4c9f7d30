"""What writing a large table into a new DuckDB file costs, and which columns cost it.

Usage (from the repository root, on a warehouse a build left)::

    uv run python bench/table_copy.py /tmp/crm-bench/nightly_c1000000/data/warehouse/crm.duckdb
    uv run python bench/table_copy.py <warehouse> --table marts.fct_interactions --share 7

Every large table of the nightly is written more than once (staging, facts, the serving file),
so the rate at which DuckDB writes one bounds the full build. The script first copies a sample
of the table into memory (one row in ``--share`` by a hash of the first column, so reading the
warehouse is not timed), then times ``CREATE TABLE AS`` of that sample into a fresh file in the
serving file's storage version, once per case:

- every column, then without the columns named in ``--heavy-columns``, then each of those alone,
  then only the columns that are not text: which columns the time goes to;
- every column with DuckDB's compression forced to ``dictionary`` and to ``uncompressed``: what
  choosing the compression costs against what it saves on disk.

Prints seconds and file size per case. A script that prints numbers, not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY_ROOT))

from dagster_project.serve.publish import SERVING_STORAGE_VERSION  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warehouse", type=Path, help="A warehouse file a build left (opened read-only).")
    parser.add_argument("--table", default="marts.fct_email_events")
    parser.add_argument("--share", type=int, default=7, help="Copy one row in SHARE (default 7: 10M of 70M).")
    parser.add_argument("--heavy-columns", default="identity_id,email_normalized", help="Comma separated.")
    parser.add_argument("--memory-limit", default="8GB")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    arguments = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="table-copy-"))
    connection = duckdb.connect(
        config={
            "memory_limit": arguments.memory_limit,
            "threads": str(arguments.threads),
            "temp_directory": str(scratch / "spill"),
        }
    )
    connection.execute(f"ATTACH '{arguments.warehouse}' AS warehouse (READ_ONLY)")
    columns = connection.execute(f"DESCRIBE warehouse.{arguments.table}").fetchall()
    first_column = columns[0][0]
    started = time.perf_counter()
    connection.execute(
        f"CREATE TABLE sample AS SELECT * FROM warehouse.{arguments.table} "
        f"WHERE hash({first_column}) % {arguments.share} = 0"
    )
    rows = connection.execute("SELECT count(*) FROM sample").fetchall()[0][0]
    print(f"{arguments.table}: {rows:,} rows in memory ({time.perf_counter() - started:.1f} s to read)")
    print(f"threads {arguments.threads}, storage version {SERVING_STORAGE_VERSION}, load {os.getloadavg()[0]:.2f}\n")

    heavy = [name for name in arguments.heavy_columns.split(",") if name]
    not_text = [name for name, type_name, *_ in columns if type_name != "VARCHAR"]
    cases = [
        ("every column", "*", None),
        (f"without {', '.join(heavy)}", f"* EXCLUDE ({', '.join(heavy)})", None),
        *[(f"only {name}", name, None) for name in heavy],
        ("only the columns that are not text", ", ".join(not_text), None),
        ("every column, compression: dictionary", "*", "dictionary"),
        ("every column, compression: uncompressed", "*", "uncompressed"),
    ]
    print("| case | seconds | rows/s | file |\n|---|---:|---:|---:|")
    for label, select_list, compression in cases:
        target = scratch / "copy.duckdb"
        connection.execute(f"SET force_compression = '{compression or 'auto'}'")
        connection.execute(f"ATTACH '{target}' AS copy (STORAGE_VERSION '{SERVING_STORAGE_VERSION}')")
        started = time.perf_counter()
        connection.execute(f"CREATE TABLE copy.written AS SELECT {select_list} FROM sample")
        connection.execute("CHECKPOINT copy")
        seconds = time.perf_counter() - started
        connection.execute("DETACH copy")
        size = target.stat().st_size
        target.unlink()
        print(f"| {label} | {seconds:.1f} | {rows / seconds:,.0f} | {size / 1e9:.2f} GB |", flush=True)
    connection.close()


if __name__ == "__main__":
    main()
