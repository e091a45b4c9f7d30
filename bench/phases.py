"""Where our loader's time goes: ``load_entity`` on the benchmark's export set, timed by step.

Usage (from the repository root, after ``bench/ingest.py`` has generated the set)::

    uv run python bench/phases.py --customers 50000
    uv run python bench/phases.py --customers 1000000 --files 8
    uv run python bench/phases.py --customers 50000 --code-dir /tmp/crm-bench/code-<commit>

It runs the real ``load_entity`` once per entity into a fresh DuckDB file, with timers wrapped
around the functions the loader calls (whichever of them exist in the code being measured:
reading, hashing, CSV parsing, validation and its parts) and around every SQL statement the
loader sends to its connection (insert of rows, quarantine, ledger, commit). "own work" of a
step is its time minus the time of the timed steps inside it (for ``load_entity``: building the
frames to insert and converting them to Arrow).

Then, on the text frame of the first file, it times each kind of validation expression alone
(JSON encoding of the raw record, trimming, casts, timestamp formats, failure reasons) to
break the validation step down further. Those are re-implementations of what validation.py
does, so they show the order of magnitude of each part, not an exact split.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
LOADED_AT = datetime(2026, 11, 1)

# (module, function): the steps timed when present in the code being measured (the readers are in
# ``reading``; in older code, ``files`` held them).
TIMED_FUNCTIONS = (
    ("loader", "ensure_raw_schema"),
    ("loader", "discover_files"),
    ("loader", "open_landing_file"),
    ("loader", "is_already_loaded"),
    ("loader", "read_as_text"),
    ("files", "_read_csv"),
    ("files", "_read_csv_vectorised"),
    ("files", "_read_csv_fast"),
    ("files", "_read_csv_strict"),
    ("files", "_read_json_lines"),
    ("reading", "read_csv_vectorised"),
    ("reading", "read_csv_duckdb"),
    ("reading", "read_csv_strict"),
    ("reading", "read_json_lines"),
    ("loader", "validate_rows"),
    ("validation", "_to_canonical"),
    ("validation", "_typed"),
    ("validation", "_parse_timestamps"),
)


class Timings:
    """Inclusive times of nested steps; a step's key is its path from the root, e.g. ``load_entity/read_as_text``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.stack: list[str] = []

    def clear(self) -> None:
        self.seconds.clear()
        self.calls.clear()
        self.stack.clear()

    def key(self, label: str) -> str:
        return f"{self.stack[-1]}/{label}" if self.stack else label

    def wrap(self, label: str, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            key = self.key(label)
            self.stack.append(key)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[key] += time.perf_counter() - started
                self.calls[key] += 1
                self.stack.pop()

        return timed

    def run(self, label: str, function, *args, **kwargs):
        return self.wrap(label, function)(*args, **kwargs)

    def report(self, root: str, rows: int) -> None:
        children: dict[str, list[str]] = defaultdict(list)
        for key in self.seconds:
            if "/" in key:
                children[key.rsplit("/", 1)[0]].append(key)
        total = self.seconds[root]
        print(f"{'step':<62} {'calls':>6} {'seconds':>8} {'share':>6} {'µs/row':>7}")

        def line(label: str, seconds: float, calls: int | str, depth: int) -> None:
            name = "  " * depth + label
            print(
                f"{name:<62} {calls!s:>6} {seconds:>8.2f} {100 * seconds / total:>5.1f}% {1e6 * seconds / rows:>7.2f}"
            )

        def walk(key: str, depth: int) -> None:
            label = key.rsplit("/", 1)[-1]
            line(label, self.seconds[key], self.calls[key], depth)
            if children.get(key):
                for child in sorted(children[key], key=lambda name: -self.seconds[name]):
                    walk(child, depth + 1)
                own = self.seconds[key] - sum(self.seconds[child] for child in children[key])
                line(f"(rest of {label})", own, "", depth + 1)

        walk(root, 0)


def statement_label(query: str) -> str:
    words = " ".join(query.split()).split(" ")
    verb = words[0].upper()
    if verb == "INSERT" and len(words) > 2:
        return f"sql: INSERT INTO {words[2]}"
    if verb in {"CREATE", "DELETE", "SELECT"}:
        return f"sql: {verb} ..."
    return f"sql: {verb}"


class TimedConnection:
    """Forwards everything to a DuckDB connection, timing ``execute`` by kind of statement."""

    def __init__(self, connection, timings: Timings, prefix: str = "") -> None:
        self._connection, self._timings, self._prefix = connection, timings, prefix

    def execute(self, query, *args, **kwargs):
        return self._timings.run(
            self._prefix + statement_label(query), self._connection.execute, query, *args, **kwargs
        )

    def sql(self, query, *args, **kwargs):
        return TimedRelation(self._connection.sql(query, *args, **kwargs), self._timings)

    def register(self, name, data):
        return self._timings.run("register Arrow table", self._connection.register, name, data)

    def __getattr__(self, name):
        return getattr(self._connection, name)


class TimedRelation:
    def __init__(self, relation, timings: Timings) -> None:
        self._relation, self._timings = relation, timings

    def pl(self, *args, **kwargs):
        return self._timings.run("DuckDB result -> polars (.pl())", self._relation.pl, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._relation, name)


class TimedDuckDBModule:
    """Stands in for the ``duckdb`` module inside the readers (reading/shared.py; files.py in older
    code) so their in-memory CSV reads are timed."""

    def __init__(self, module, timings: Timings) -> None:
        self._module, self._timings = module, timings

    def connect(self, *args, **kwargs):
        return TimedConnection(self._module.connect(*args, **kwargs), self._timings, "in-memory ")

    def __getattr__(self, name):
        return getattr(self._module, name)


def instrument(timings: Timings) -> None:
    import duckdb

    from dagster_project.ingestion import loader, validation

    try:
        from dagster_project.ingestion import landing_files, reading
        from dagster_project.ingestion.reading import shared

        files = None
    except ImportError:  # older code (--code-dir): files.py held discovery and the readers
        from dagster_project.ingestion import files

        landing_files, reading, shared = files, None, None
    modules = {"loader": loader, "files": files, "validation": validation, "reading": reading}
    for module_name, function_name in TIMED_FUNCTIONS:
        module = modules[module_name]
        if callable(getattr(module, function_name, None)):
            setattr(module, function_name, timings.wrap(function_name, getattr(module, function_name)))
    for module in (files, shared):
        if getattr(module, "duckdb", None) is duckdb:
            module.duckdb = TimedDuckDBModule(duckdb, timings)
    hash_property = landing_files.LandingFile.content_hash
    if isinstance(hash_property, property):
        landing_files.LandingFile.content_hash = property(timings.wrap("sha256 (content_hash)", hash_property.fget))


def expression_timings(landing: Path, entity: str) -> None:
    """Each kind of validation expression alone, on the first file's text frame."""
    import polars as pl

    from dagster_project.core.contracts import CONTRACTS

    contract = CONTRACTS[entity]
    folder = landing / contract.source / contract.entity
    first = sorted(folder.glob("*.csv"))[0]
    results: list[tuple[str, float]] = []

    def clocked(label: str, function, *args):
        started = time.perf_counter()
        value = function(*args)
        results.append((label, time.perf_counter() - started))
        return value

    import hashlib

    import duckdb

    content = clocked("read bytes", first.read_bytes)
    clocked("decode utf-8 (validity check)", content.decode, "utf-8")
    clocked("sha256", lambda: hashlib.sha256(content).hexdigest())
    clocked("count newlines in the bytes", content.count, b"\n")
    connection = duckdb.connect()
    clocked(
        "DuckDB read_csv all_varchar -> in-memory table",
        connection.execute,
        f"create table records as select * from read_csv('{first}', header=true, all_varchar=true, "
        "strict_mode=true, store_rejects=true, sample_size=1)",
    )
    text = clocked("in-memory table -> polars (.pl())", lambda: connection.sql("select * from records").pl())
    connection.close()
    clocked("polars read_csv, all strings (for comparison)", lambda: pl.read_csv(first, infer_schema=False))
    columns = text.columns
    clocked(
        "embedded line breaks: count_matches('\\n') on every column",
        text.select,
        pl.sum_horizontal(pl.all().str.count_matches("\n").fill_null(0)),
    )
    clocked(
        "embedded line breaks: contains('\\n', literal) .any()",
        text.select,
        pl.any_horizontal(pl.all().str.contains("\n", literal=True).fill_null(False)).any(),
    )

    def timed(label: str, *expressions) -> pl.DataFrame:
        started = time.perf_counter()
        frame = text.select(*expressions)
        results.append((label, time.perf_counter() - started))
        return frame

    timed("raw record: struct of all columns -> JSON", pl.struct(columns).struct.json_encode())
    timed("trim + blank -> null, every column", *[pl.col(c).str.strip_chars().replace("", None) for c in columns])
    timed("trim only, every column", *[pl.col(c).str.strip_chars() for c in columns])
    for column in contract.columns:
        if column.type in ("integer", "decimal"):
            dtype = pl.Int64 if column.type == "integer" else pl.Float64
            timed(f"cast {column.name} to {column.type}", pl.col(column.name).cast(dtype, strict=False))
        elif column.type == "timestamp":
            for label, fmt in (
                ("ISO with Z, %#z, time_zone UTC", "%Y-%m-%dT%H:%M:%S%.f%#z"),
                ("ISO with Z, %#z, no time_zone", "%Y-%m-%dT%H:%M:%S%.f%#z"),
                ("exact '%Y-%m-%dT%H:%M:%SZ'", "%Y-%m-%dT%H:%M:%SZ"),
                ("a format that never matches", "%d/%m/%Y %H:%M"),
            ):
                keywords = {"time_zone": "UTC"} if "time_zone UTC" in label else {}
                timed(
                    f"parse {column.name}: {label}",
                    pl.col(column.name).str.to_datetime(fmt, strict=False, time_unit="us", **keywords),
                )
        elif column.accepted_values is not None:
            timed(
                f"lower + is_in for {column.name}",
                pl.col(column.name).str.to_lowercase().is_in(list(column.accepted_values)),
            )
    required = [c.name for c in contract.columns if c.required]
    timed(
        "failure reasons: when/then/format per check + concat_str",
        pl.concat_str(
            [pl.when(pl.col(name).is_null()).then(pl.lit(f"{name}: required value is missing")) for name in required]
            + [
                pl.when(pl.col(name).is_not_null() & pl.col(name).is_null()).then(
                    pl.format("{}: cannot parse '{}'", pl.lit(name), pl.col(name))
                )
                for name in columns
            ],
            separator="; ",
            ignore_nulls=True,
        ),
    )
    print(f"\nread path and validation expressions alone, {first.name} ({text.height:,} rows):")
    for label, seconds in results:
        print(f"  {label:<56} {seconds * 1000:8.1f} ms {1e6 * seconds / text.height:7.3f} µs/row")


def run(landing: Path, entity: str, file_limit: int | None, database: Path, timings: Timings) -> None:
    import shutil

    import duckdb

    from dagster_project.core.contracts import CONTRACTS
    from dagster_project.ingestion import loader

    contract = CONTRACTS[entity]
    source_folder = landing / contract.source / contract.entity
    paths = sorted(p for p in source_folder.glob("*.csv") if not p.name.startswith("."))[:file_limit]
    # A landing folder of links to the first N files, so the loader sees only those.
    subset = database.parent / f"landing_{entity}"
    shutil.rmtree(subset, ignore_errors=True)
    (subset / contract.source / contract.entity).mkdir(parents=True)
    for path in paths:
        (subset / contract.source / contract.entity / path.name).hardlink_to(path)
    for leftover in database.parent.glob(database.name + "*"):
        leftover.unlink()

    timings.clear()
    connection = duckdb.connect(str(database), config={"memory_limit": "4GB"})
    result = timings.run(
        "load_entity", loader.load_entity, TimedConnection(connection, timings), contract, subset, LOADED_AT
    )
    started = time.perf_counter()
    connection.close()
    checkpoint = time.perf_counter() - started
    rows = result.rows_read
    print(f"\n== {entity}: {len(paths)} files, {rows:,} rows; load_entity {timings.seconds['load_entity']:.2f} s")
    timings.report("load_entity", rows)
    print(f"{'close (checkpoint), after load_entity':<62} {'':>6} {checkpoint:>8.2f}")
    shutil.rmtree(subset, ignore_errors=True)
    for leftover in database.parent.glob(database.name + "*"):
        leftover.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/crm-bench"))
    parser.add_argument("--entities", default="orders,order_lines")
    parser.add_argument("--files", type=int, default=None, help="only the first N files of each entity")
    parser.add_argument("--code-dir", type=Path, default=REPOSITORY_ROOT, help="import dagster_project from here")
    args = parser.parse_args()
    sys.path.insert(0, str(args.code_dir.resolve()))
    landing = args.work_dir / f"exports_c{args.customers}_m{args.months}_s{args.seed}" / "landing"
    if not landing.is_dir():
        raise SystemExit(f"no export set at {landing}: run bench/ingest.py with the same parameters first")
    scratch = args.work_dir / "databases"
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"code: {args.code_dir.resolve()}")
    timings = Timings()
    instrument(timings)
    for entity in [e.strip() for e in args.entities.split(",") if e.strip()]:
        run(landing, entity, args.files, scratch / "phases.duckdb", timings)
        expression_timings(landing, entity)


if __name__ == "__main__":
    main()
