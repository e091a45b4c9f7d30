"""Data-quality checks at growing sizes: their peak memory must not grow with the table.

Usage (from the repository root)::

    uv run python bench/checks.py                                   # 10k, 100k and 1M customers
    uv run python bench/checks.py --sizes 10000,100000              # a quicker check

For each size it generates (or reuses) the export set of bench/ingest.py, loads the checked
entity and the entities it references into a DuckDB file (kept and reused: the ledger skips
files already loaded, and the next night's load is taken out again after it), then validates
the entity in a fresh subprocess (``validate_entity``: both suites, Data Docs included) and
prints the child's wall time and its own peak memory (``VmHWM``, see bench/ingest.py). Two
cases per size:

- ``first load``: every row of the table is new, the worst case for the soft suite;
- ``next night``: one more file of the size of a day's delivery is loaded and checked, the
  nightly case: the soft suite judges that file's rows, the severe suite still aggregates
  the whole table in DuckDB.

The Python side of a check reads one row of metrics whatever the size; DuckDB's own memory is
capped by ``memory_limit`` (``CRM_DUCKDB_MEMORY_LIMIT``, 4GB by default). A script that prints
numbers, not a test: it exits 0 whatever they are.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPOSITORY_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPOSITORY_ROOT))

from ingest import ensure_exports, peak_rss_kib  # noqa: E402  (bench/ingest.py, beside this script)

LOADED_AT = datetime(2026, 11, 1, 2, 0)
NEXT_NIGHT_AT = datetime(2026, 11, 2, 2, 0)
NOW = datetime(2026, 11, 2, 6, 0)
MEMORY_LIMIT = os.environ.get("CRM_DUCKDB_MEMORY_LIMIT", "4GB")


def ensure_loaded(landing: Path, database: Path, entities: list[str]) -> None:
    """Load the entities once (the ledger skips files already loaded, so this is cheap to repeat)."""
    import duckdb

    from dagster_project.core.contracts import CONTRACTS
    from dagster_project.ingestion import load_entity

    with duckdb.connect(str(database), config={"memory_limit": MEMORY_LIMIT}) as connection:
        for entity in entities:
            started = time.perf_counter()
            result = load_entity(connection, CONTRACTS[entity], landing, LOADED_AT)
            if result.rows_loaded:
                print(f"  loaded {result.rows_loaded:,} {entity} rows in {time.perf_counter() - started:.0f} s")


def forget_next_night(database: Path, entity: str) -> None:
    """Take the next night's load out again, so the database is the first load's on the next run."""
    import duckdb

    if not database.exists():
        return
    with duckdb.connect(str(database)) as connection:
        if not connection.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [entity]).fetchall()[0][
            0
        ]:
            return
        connection.execute(f"DELETE FROM raw.{entity} WHERE _loaded_at = ?", [NEXT_NIGHT_AT])
        connection.execute("DELETE FROM raw._file_ledger WHERE loaded_at = ?", [NEXT_NIGHT_AT])
        connection.execute("DELETE FROM raw._quarantine WHERE quarantined_at = ?", [NEXT_NIGHT_AT])


def next_night_file(landing: Path, entity: str, rows: int) -> Path:
    """A day's delivery: the last ``rows`` lines of the entity's largest file, as a new file (its
    keys were delivered before: the soft suite warns about them, which costs it the most work)."""
    from dagster_project.core.contracts import CONTRACTS

    contract = CONTRACTS[entity]
    folder = landing / contract.source / entity
    files = [path for path in folder.iterdir() if not path.name.startswith("next_night")]
    last = max(files, key=lambda path: path.stat().st_size)
    lines = last.read_bytes().splitlines(keepends=True)
    header = [] if contract.file_format == "jsonl" else lines[:1]
    target = folder / f"next_night{last.suffix}"
    target.write_bytes(b"".join([*header, *lines[-rows:]]))
    return target


def child(database: Path, entity: str, docs_dir: Path) -> None:
    import duckdb

    from dagster_project.quality import validate_entity

    started = time.perf_counter()
    with duckdb.connect(str(database), config={"memory_limit": MEMORY_LIMIT}) as connection:
        validation = validate_entity(connection, entity, docs_dir, NOW)
    seconds = time.perf_counter() - started
    print(
        "RESULT "
        + json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mib": peak_rss_kib() / 1024,
                "raw_rows": validation.raw_rows,
                "rows_judged": validation.rows_judged,
                "severe": validation.severe.success,
                "soft": validation.soft.success,
            }
        ),
        flush=True,
    )


def measure(database: Path, entity: str, docs_dir: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", "--database", str(database), "--entity", entity, "--docs", str(docs_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line.removeprefix("RESULT "))
    raise RuntimeError(f"the check failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="customers, comma separated")
    parser.add_argument("--entity", default="email_events", help="the entity whose checks are measured")
    parser.add_argument("--night-rows", type=int, default=100_000, help="rows of the next night's file")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chunk-customers", type=int, default=25_000)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/crm-bench"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--docs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.database, args.entity, args.docs)
        return

    from dagster_project.quality.suites import REFERENCES

    args.regenerate, args.verbose = False, False
    entities = [args.entity, *dict.fromkeys(reference.parent for reference in REFERENCES.get(args.entity, ()))]
    rows = []
    for size in (int(value) for value in args.sizes.split(",")):
        args.customers = size
        args.work_dir.mkdir(parents=True, exist_ok=True)
        landing = ensure_exports(args)
        for stale in landing.rglob("next_night*"):
            stale.unlink()
        database = args.work_dir / f"checks_c{size}_m{args.months}_s{args.seed}.duckdb"
        print(f"{size:,} customers: loading {', '.join(entities)} into {database} (reused when loaded)", flush=True)
        forget_next_night(database, args.entity)
        ensure_loaded(landing, database, entities)
        first = measure(database, args.entity, args.work_dir / f"docs_c{size}")
        print(f"  first load: {first}", flush=True)
        night = next_night_file(landing, args.entity, args.night_rows)
        try:
            import duckdb

            from dagster_project.core.contracts import CONTRACTS
            from dagster_project.ingestion import load_entity

            with duckdb.connect(str(database), config={"memory_limit": MEMORY_LIMIT}) as connection:
                load_entity(connection, CONTRACTS[args.entity], landing, NEXT_NIGHT_AT)
            nightly = measure(database, args.entity, args.work_dir / f"docs_c{size}")
            print(f"  next night: {nightly}", flush=True)
        finally:
            night.unlink()
            forget_next_night(database, args.entity)
        rows.append((size, first, nightly))

    print(f"\nChecks of raw.{args.entity} (both suites and Data Docs), {os.cpu_count()} cores, load {os.getloadavg()}")
    print("| customers | raw rows | case | rows judged | seconds | peak RSS MiB |")
    print("|---:|---:|---|---:|---:|---:|")
    for size, first, nightly in rows:
        for case, result in (("first load", first), ("next night", nightly)):
            print(
                f"| {size:,} | {result['raw_rows']:,} | {case} | {result['rows_judged']:,} | "
                f"{result['seconds']:.1f} | {result['peak_rss_mib']:,.0f} |"
            )


if __name__ == "__main__":
    main()
