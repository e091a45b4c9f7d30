"""Ingestion throughput: our loader against DuckDB's own CSV load of the same files.

Usage (from the repository root)::

    uv run python bench/ingest.py                        # 1M customers, 24 months (~11 GB of exports)
    uv run python bench/ingest.py --customers 50000      # a quick check
    uv run python bench/ingest.py --customers 50000 --profile   # + cProfile of our loader

For each benchmarked entity (orders and order_lines by default) it runs, each in a fresh
subprocess writing a fresh DuckDB file:

- ``ours``: ``load_entity`` (read, hash, validate, quarantine, ledger, one transaction per file);
- ``duckdb``: ``CREATE TABLE ... AS SELECT * FROM read_csv([files], header=true)`` (types sniffed);
- ``duckdb-typed``: the same with the contract's column types declared (``columns={...}``);
- ``duckdb-per-file``: DuckDB loading the way our loader has to: one ``INSERT ... FROM
  read_csv(file)`` and one transaction per file, typed, with lineage columns and a ledger row,
  no validation. Not a target, a reference: what per-file atomicity costs DuckDB itself.

Time is the load in the child, from opening the DuckDB file to closing it (the final
checkpoint included), without interpreter start-up or imports. Peak memory is the child's
own high-water mark (``VmHWM`` of ``/proc/self/status``, read at the end of the child; not
``ru_maxrss``, which on Linux inherits the parent's high-water mark across fork + exec). Both
methods use the settings the pipeline uses: ``memory_limit`` 4GB (``CRM_DUCKDB_MEMORY_LIMIT``)
and a temp folder beside the database file. The page cache is warmed by reading the files once before the first run,
so that neither method pays for the first read from disk.

This is a script that prints numbers, not a test: it exits 0 whether or not the targets are met.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent


def use_code_from(code_dir: Path) -> None:
    """Import ``dagster_project`` from ``code_dir`` (the repository, or a snapshot of another commit)."""
    sys.path.insert(0, str(code_dir))


METHODS = ("ours", "duckdb", "duckdb-typed", "duckdb-per-file")
DEFAULT_ENTITIES = ("orders", "order_lines")
END_DATE = date(2026, 10, 31)  # the generator's default, fixed here so a reused set stays comparable
LOADED_AT = datetime(2026, 11, 1)
THROUGHPUT_TARGET = 0.5  # ours >= 0.5 x DuckDB rows/second
MEMORY_TARGET_MIB = 4 * 1024  # ours peak RSS < 4 GiB
MEMORY_LIMIT = os.environ.get("CRM_DUCKDB_MEMORY_LIMIT", "4GB")


# --------------------------------------------------------------------------- the export set


def export_parameters(args: argparse.Namespace) -> dict[str, object]:
    return {
        "seed": args.seed,
        "customers": args.customers,
        "months": args.months,
        "end_date": END_DATE.isoformat(),
        "chunk_customers": args.chunk_customers,
    }


def ensure_exports(args: argparse.Namespace) -> Path:
    """The landing folder of an export set with these parameters: reused if complete, else generated.

    The generator writes ``ground_truth/summary.json`` last, so its presence with the same
    parameters means the set is complete.
    """
    parameters = export_parameters(args)
    root = args.work_dir / f"exports_c{args.customers}_m{args.months}_s{args.seed}"
    landing, truth = root / "landing", root / "ground_truth"
    summary_path = truth / "summary.json"
    if summary_path.exists() and not args.regenerate:
        recorded = json.loads(summary_path.read_text())["parameters"]
        if all(recorded.get(key) == value for key, value in parameters.items()):
            print(f"reusing the export set in {root}", flush=True)
            return landing
        print(f"{root} holds another parameter set ({recorded}); regenerating", flush=True)

    from dagster_project.synthetic import generate_exports

    free = shutil.disk_usage(args.work_dir).free
    print(
        f"generating {args.customers} customers x {args.months} months into {root} "
        f"({free / 2**30:.0f} GiB free; about 11 GiB per million customers)",
        flush=True,
    )
    started = time.perf_counter()
    summary = generate_exports(
        out_dir=landing,
        truth_dir=truth,
        customers=args.customers,
        months=args.months,
        seed=args.seed,
        end_date=END_DATE,
        chunk_customers=args.chunk_customers,
        progress=(lambda message: print(f"  {message}", flush=True)) if args.verbose else None,
    )
    print(
        f"generated {sum(summary.rows_written.values()):,} rows in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return landing


def ensure_dirty_copy(landing: Path, entities: list[str], share: float, seed: int) -> Path:
    """A copy of the entities' files in which ``share`` of the data lines break the contract.

    The broken lines take turns at three kinds of damage: a number that does not parse (the last
    field becomes ``n/a``), a ragged line (the last field is cut off) and a missing required
    value (the first field, the key, is emptied). In every fourth file one good line also gets a
    quoted value, which is valid CSV but sends that file through the quote-aware reader, as an
    export that quotes its text would. Written once per share and seed, then reused.
    """
    import numpy as np

    target = landing.parent / f"landing_dirty{share:g}_s{seed}"
    marker = target / ".complete"
    if marker.exists():
        print(f"reusing the dirty copy in {target}", flush=True)
        return target
    print(f"writing a copy of {', '.join(entities)} with {share:.2%} broken lines into {target}", flush=True)
    rng = np.random.default_rng(seed)
    for entity in entities:
        for number, path in enumerate(entity_files(landing, entity)):
            lines = path.read_bytes().split(b"\n")
            data_lines = [index for index in range(1, len(lines)) if lines[index]]
            broken = rng.choice(data_lines, size=max(1, round(len(data_lines) * share)), replace=False)
            for kind, index in enumerate(sorted(broken)):
                fields = lines[index].split(b",")
                if kind % 3 == 0:
                    fields[-1] = b"n/a"
                elif kind % 3 == 1:
                    fields = fields[:-1]
                else:
                    fields[0] = b""
                lines[index] = b",".join(fields)
            if number % 4 == 0:
                good = next(index for index in data_lines if index not in set(broken.tolist()))
                fields = lines[good].split(b",")
                fields[0] = b'"' + fields[0] + b'"'
                lines[good] = b",".join(fields)
            destination = target / path.relative_to(landing)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(b"\n".join(lines))
    marker.touch()
    return target


def entity_files(landing: Path, entity: str) -> list[Path]:
    """The entity's files in the canonical layout, ``<source>/<entity>/*.csv`` (or ``*.jsonl``), in name order.

    Listed here rather than with the loader's discovery, whose signature is not public.
    """
    from dagster_project.core.contracts import CONTRACTS

    contract = CONTRACTS[entity]
    folder = landing / contract.source / contract.entity
    suffix = "jsonl" if contract.file_format == "jsonl" else "csv"
    return sorted(path for path in folder.glob(f"*.{suffix}") if not path.name.startswith(".") and path.is_file())


def duckdb_reader(entity: str, typed: bool) -> tuple[str, str, int]:
    """DuckDB's own reader of the entity's files, its options, and the line of the first record
    (CSV: 2, after the header; JSON lines: 1)."""
    from dagster_project.core.contracts import CONTRACTS

    columns = f"columns={duckdb_columns(entity)}" if typed else ""
    if CONTRACTS[entity].file_format == "jsonl":
        return "read_ndjson", columns or "format='newline_delimited'", 1
    return "read_csv", "header=true" + (f", {columns}" if columns else ""), 2


def describe_code(code_dir: Path) -> str:
    """The commit of the code measured, and whether its ingestion files differ from it (read-only git)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(code_dir), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(code_dir), "status", "--porcelain", "--", "dagster_project"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return str(code_dir)
    changed = [line[3:] for line in changed if line.strip()]
    return f"{code_dir} at {commit}" + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")


def warm_page_cache(files: list[Path]) -> int:
    size = 0
    for path in files:
        with open(path, "rb") as handle:
            while chunk := handle.read(16 * 2**20):
                size += len(chunk)
    return size


# --------------------------------------------------------------------------- the children


def connect(database: Path):
    import duckdb

    return duckdb.connect(
        str(database),
        config={"memory_limit": MEMORY_LIMIT, "temp_directory": str(database.with_suffix(".tmp"))},
    )


def child_ours(entity: str, landing: Path, database: Path, profile_path: Path | None) -> dict:
    from dagster_project.core.contracts import CONTRACTS
    from dagster_project.ingestion import load_entity

    contract = CONTRACTS[entity]
    profiler = None
    if profile_path is not None:
        import cProfile

        profiler = cProfile.Profile()
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    connection = connect(database)
    result = load_entity(connection, contract, landing, LOADED_AT)
    connection.close()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_path)
    seconds = time.perf_counter() - started
    statuses = {f.status for f in result.files}
    return {
        "rows": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "rows_in_table": result.rows_in_table,
        "files": len(result.files),
        "statuses": sorted(statuses),
        "seconds": seconds,
    }


def duckdb_columns(entity: str) -> str:
    """The contract's columns as a DuckDB ``columns={...}`` struct literal."""
    from dagster_project.core.contracts import CONTRACTS, DUCKDB_TYPES

    contract = CONTRACTS[entity]
    return "{" + ", ".join(f"'{c.name}': '{DUCKDB_TYPES[c.type]}'" for c in contract.columns) + "}"


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def child_duckdb(entity: str, landing: Path, database: Path, typed: bool, dirty: bool) -> dict:
    files = entity_files(landing, entity)
    file_list = "[" + ", ".join(sql_text(str(path)) for path in files) + "]"
    reader, options, _ = duckdb_reader(entity, typed)
    if dirty:  # DuckDB's own way to keep going past bad lines: skip them into its rejects table
        options += ", store_rejects=true"
    started = time.perf_counter()
    connection = connect(database)
    connection.execute(f"CREATE TABLE {entity} AS SELECT * FROM {reader}({file_list}, {options})")
    rows = connection.execute(f"SELECT count(*) FROM {entity}").fetchall()[0][0]
    rejected = 0
    if dirty:
        rejected = connection.execute("SELECT count(DISTINCT (file_id, line)) FROM reject_errors").fetchall()[0][0]
    connection.close()
    seconds = time.perf_counter() - started
    return {
        "rows": rows + rejected,
        "rows_loaded": rows,
        "rows_quarantined": rejected,
        "files": len(files),
        "seconds": seconds,
    }


def child_duckdb_per_file(entity: str, landing: Path, database: Path) -> dict:
    """DuckDB loading the way our loader must: one INSERT and one transaction per file, typed,
    with lineage columns (file name, line, load time) and a ledger row per file; no validation."""
    files = entity_files(landing, entity)
    reader, options, first_line = duckdb_reader(entity, typed=True)
    lineage = (
        f"{{file}} AS _source_file, row_number() OVER () + {first_line - 1} AS _source_line, "
        f"TIMESTAMP '{LOADED_AT.isoformat(sep=' ')}' AS _loaded_at"
    )
    started = time.perf_counter()
    connection = connect(database)
    connection.execute(
        f"CREATE TABLE {entity} AS SELECT *, {lineage.format(file='NULL::VARCHAR')} "
        f"FROM {reader}({sql_text(str(files[0]))}, {options}) LIMIT 0"
    )
    connection.execute("CREATE TABLE ledger (source_file VARCHAR, rows BIGINT)")
    for path in files:
        name = sql_text(path.relative_to(landing).as_posix())
        source = f"{reader}({sql_text(str(path))}, {options})"
        connection.execute("BEGIN TRANSACTION")
        inserted = connection.execute(f"INSERT INTO {entity} SELECT *, {lineage.format(file=name)} FROM {source}")
        connection.execute(f"INSERT INTO ledger VALUES ({name}, ?)", [inserted.fetchall()[0][0]])
        connection.execute("COMMIT")
    rows = connection.execute(f"SELECT count(*) FROM {entity}").fetchall()[0][0]
    connection.close()
    seconds = time.perf_counter() - started
    return {"rows": rows, "rows_loaded": rows, "rows_quarantined": 0, "files": len(files), "seconds": seconds}


def peak_rss_kib() -> int:
    """This process's peak resident set size since exec, in KiB.

    ``VmHWM`` rather than ``ru_maxrss``: on Linux ``ru_maxrss`` (self, children or ``wait4``)
    carries over the high-water mark of the process image before ``exec``, i.e. the parent's
    RSS at fork time, which after generating a large export set would mask the child's own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(arguments: argparse.Namespace) -> None:
    use_code_from(arguments.code_dir)
    landing, database = Path(arguments.landing), Path(arguments.database)
    if arguments.child == "ours":
        outcome = child_ours(arguments.entity, landing, database, arguments.profile_path)
    elif arguments.child == "duckdb-per-file":
        outcome = child_duckdb_per_file(arguments.entity, landing, database)
    else:
        outcome = child_duckdb(
            arguments.entity, landing, database, typed=arguments.child == "duckdb-typed", dirty=arguments.dirty
        )
    outcome["peak_rss_kib"] = peak_rss_kib()
    outcome["database_bytes"] = database.stat().st_size if database.exists() else 0
    print("RESULT " + json.dumps(outcome), flush=True)


def measure(
    method: str, entity: str, landing: Path, scratch: Path, profile_path: Path | None, code_dir: Path, dirty: bool
) -> dict:
    """Run one method for one entity in a fresh subprocess and a fresh DuckDB file."""
    database = scratch / f"{entity}_{method}.duckdb"
    for leftover in (database, database.with_suffix(".duckdb.wal"), database.with_suffix(".tmp")):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink(missing_ok=True)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        method,
        "--entity",
        entity,
        "--landing",
        str(landing),
        "--database",
        str(database),
        "--code-dir",
        str(code_dir),
    ]
    if dirty:
        command.append("--dirty")
    if profile_path is not None and method == "ours":
        command += ["--profile-path", str(profile_path)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPOSITORY_ROOT)
    output = process.stdout.read()
    process.wait()
    wall = time.perf_counter() - started
    results = [line for line in output.splitlines() if line.startswith("RESULT ")]
    if process.returncode != 0 or not results:
        sys.stdout.write(output)
        return {"method": method, "entity": entity, "error": f"exit code {process.returncode}"}
    outcome = json.loads(results[-1].removeprefix("RESULT "))
    outcome.update(method=method, entity=entity, wall_seconds=wall, peak_rss_mib=outcome["peak_rss_kib"] / 1024)
    return outcome


# --------------------------------------------------------------------------- the report


def print_table(outcomes: list[dict], reference_method: str) -> None:
    header = (
        f"{'entity':<12} {'method':<15} {'rows':>12} {'seconds':>9} {'rows/s':>12} "
        f"{'peak RSS MiB':>12} {'wall s':>8} {'ours/ref':>9}"
    )
    entities = list(dict.fromkeys(o["entity"] for o in outcomes))
    methods = list(dict.fromkeys(o["method"] for o in outcomes))
    rows_by_entity: dict[str, dict[str, dict]] = {entity: {} for entity in [*entities, "TOTAL"]}
    for outcome in outcomes:
        if "error" not in outcome:
            rows_by_entity[outcome["entity"]][outcome["method"]] = outcome
    for method in methods:
        parts = [rows_by_entity[entity].get(method) for entity in entities]
        if all(parts):
            rows_by_entity["TOTAL"][method] = {
                "rows": sum(part["rows"] for part in parts),
                "seconds": sum(part["seconds"] for part in parts),
                "peak_rss_mib": max(part["peak_rss_mib"] for part in parts),
                "wall_seconds": sum(part["wall_seconds"] for part in parts),
            }
    for by_method in rows_by_entity.values():
        for outcome in by_method.values():
            outcome["throughput"] = outcome["rows"] / outcome["seconds"]

    print(header)
    print("-" * len(header))
    for entity, by_method in rows_by_entity.items():
        for method in methods:
            outcome = by_method.get(method)
            if outcome is None:
                if entity != "TOTAL":
                    print(f"{entity:<12} {method:<15} failed")
                continue
            ratio = ""
            reference = by_method.get(reference_method)
            if method == "ours" and reference:
                ratio = f"{outcome['throughput'] / reference['throughput']:.3f}"
            print(
                f"{entity:<12} {method:<15} {outcome['rows']:>12,} {outcome['seconds']:>9.2f} "
                f"{outcome['throughput']:>12,.0f} {outcome['peak_rss_mib']:>12,.0f} {outcome['wall_seconds']:>8.1f} "
                f"{ratio:>9}"
            )
    print("-" * len(header))
    print(
        "seconds: the load in the child (open DuckDB file .. close, checkpoint included); "
        "wall s: the whole child, interpreter start-up and imports included;\n"
        f"ours/ref: our rows/second divided by {reference_method}'s; peak RSS: the child's VmHWM."
    )

    repeated = [o for o in outcomes if len(o.get("all_seconds", [])) > 1]
    if repeated:
        print("the table shows the fastest run of each; all runs (seconds):")
        for o in repeated:
            print(f"  {o['entity']:<12} {o['method']:<15} " + ", ".join(f"{s:.2f}" for s in o["all_seconds"]))

    ours, reference = rows_by_entity["TOTAL"].get("ours"), rows_by_entity["TOTAL"].get(reference_method)
    if ours and reference:
        per_entity = {
            entity: rows_by_entity[entity]["ours"]["throughput"]
            / rows_by_entity[entity][reference_method]["throughput"]
            for entity in entities
        }
        ratio = ours["throughput"] / reference["throughput"]
        throughput_met = ratio >= THROUGHPUT_TARGET and min(per_entity.values()) >= THROUGHPUT_TARGET
        memory_met = ours["peak_rss_mib"] < MEMORY_TARGET_MIB
        print()
        print(
            f"target throughput ours >= {THROUGHPUT_TARGET} x {reference_method}: "
            f"{'MET' if throughput_met else 'NOT MET'} (total {ratio:.3f}, "
            + ", ".join(f"{entity} {value:.3f}" for entity, value in per_entity.items())
            + ")"
        )
        print(
            f"target peak RSS ours < {MEMORY_TARGET_MIB / 1024:.0f} GiB: {'MET' if memory_met else 'NOT MET'} "
            f"(max {ours['peak_rss_mib']:,.0f} MiB)"
        )
    per_file = rows_by_entity["TOTAL"].get("duckdb-per-file")
    if ours and per_file and reference_method != "duckdb-per-file":
        print(
            "for reference, ours / duckdb-per-file (DuckDB with one INSERT + transaction per file, no validation): "
            + ", ".join(
                f"{entity.lower()} {by_method['ours']['throughput'] / by_method['duckdb-per-file']['throughput']:.3f}"
                for entity, by_method in rows_by_entity.items()
                if "ours" in by_method and "duckdb-per-file" in by_method
            )
        )


def print_profile(profile_path: Path, limit: int) -> None:
    import pstats

    print(f"\n== cProfile of ours ({profile_path}), top {limit} by cumulative time ==")
    stats = pstats.Stats(str(profile_path))
    stats.sort_stats("cumulative").print_stats(limit)
    print(f"== top {limit} by own time ==")
    stats.sort_stats("tottime").print_stats(limit)


# --------------------------------------------------------------------------- main


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chunk-customers", type=int, default=25_000, help="generator chunk = customers per file")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/crm-bench"))
    parser.add_argument(
        "--entities", default=",".join(DEFAULT_ENTITIES), help="comma-separated (default: orders,order_lines)"
    )
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {', '.join(METHODS)}")
    parser.add_argument("--reference", default="duckdb", choices=METHODS[1:], help="what the ratio compares to")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per method; the table shows the fastest (and the highest peak RSS)"
    )
    parser.add_argument(
        "--dirty-share",
        type=float,
        default=0.0,
        help="load a copy in which this share of lines break the contract, e.g. 0.001 (default: the clean set)",
    )
    parser.add_argument("--regenerate", action="store_true", help="generate even if a matching set exists")
    parser.add_argument("--keep-databases", action="store_true", help="keep the DuckDB files written")
    parser.add_argument("--profile", action="store_true", help="run ours under cProfile and print the top functions")
    parser.add_argument("--profile-limit", type=int, default=30)
    parser.add_argument("--verbose", action="store_true", help="print the generator's progress")
    parser.add_argument(
        "--code-dir",
        type=Path,
        default=REPOSITORY_ROOT,
        help="import dagster_project from here (default: this repository; e.g. a `git archive` of another commit)",
    )
    # Internal: one measured run.
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--entity", help=argparse.SUPPRESS)
    parser.add_argument("--landing", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--profile-path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dirty", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(argv)
    args.code_dir = args.code_dir.resolve()
    if args.child:
        run_child(args)
        return
    use_code_from(args.code_dir)

    from dagster_project.core.contracts import CONTRACTS

    entities = [e.strip() for e in args.entities.split(",") if e.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [e for e in entities if e not in CONTRACTS] + [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown entity or method: {', '.join(unknown)}")
    json_lines = [e for e in entities if CONTRACTS[e].file_format == "jsonl"]
    if json_lines and args.dirty_share > 0:
        raise SystemExit(f"--dirty-share breaks CSV lines only: {', '.join(json_lines)} are JSON lines")

    args.work_dir.mkdir(parents=True, exist_ok=True)
    landing = ensure_exports(args)
    if args.dirty_share > 0:
        landing = ensure_dirty_copy(landing, entities, args.dirty_share, args.seed)
    scratch = args.work_dir / "databases"
    scratch.mkdir(exist_ok=True)
    print(
        f"\ningestion benchmark: {args.customers:,} customers x {args.months} months, seed {args.seed}; "
        f"{os.cpu_count()} CPUs; duckdb memory_limit {MEMORY_LIMIT};\n"
        f"landing {landing}\ncode: {describe_code(args.code_dir)}",
        flush=True,
    )

    outcomes = []
    for entity in entities:
        files = entity_files(landing, entity)
        size = warm_page_cache(files)
        print(f"{entity}: {len(files)} files, {size / 2**20:,.0f} MiB", flush=True)
        runs: dict[str, list[dict]] = {method: [] for method in methods}
        # Methods take turns in each round, so a busy moment on the machine does not hit one method only.
        for round_number in range(args.repeat):
            for method in methods:
                profile = args.profile and method == "ours" and round_number == 0
                profile_path = scratch / f"{entity}_ours.prof" if profile else None
                outcome = measure(method, entity, landing, scratch, profile_path, args.code_dir, args.dirty_share > 0)
                runs[method].append(outcome)
                if "error" in outcome:
                    print(f"  {method:<15} FAILED ({outcome['error']})", flush=True)
                else:
                    print(
                        f"  {method:<15} {outcome['rows']:>12,} rows in {outcome['seconds']:7.2f} s, "
                        f"peak RSS {outcome['peak_rss_mib']:,.0f} MiB"
                        + (
                            f" (loaded {outcome['rows_loaded']:,}, quarantined {outcome['rows_quarantined']:,})"
                            if method == "ours"
                            else ""
                        )
                        + (" [profiled: slower]" if profile else ""),
                        flush=True,
                    )
                if profile_path is not None and profile_path.exists():
                    print_profile(profile_path, args.profile_limit)
        for method in methods:
            good = [run for run in runs[method] if "error" not in run]
            if args.profile and method == "ours" and len(good) > 1:
                good = good[1:]  # the profiled run is slower; keep it out of the table when others exist
            if not good:
                outcomes.append(runs[method][-1])
                continue
            best = min(good, key=lambda run: run["seconds"])
            best["peak_rss_mib"] = max(run["peak_rss_mib"] for run in good)
            best["all_seconds"] = [run["seconds"] for run in good]
            outcomes.append(best)
        if not args.keep_databases:
            for path in scratch.glob(f"{entity}_*.duckdb*"):
                path.unlink(missing_ok=True)
            for path in scratch.glob(f"{entity}_*.tmp"):
                shutil.rmtree(path, ignore_errors=True)

    print()
    reference = args.reference if args.reference in methods else next((m for m in methods if m != "ours"), "duckdb")
    print_table(outcomes, reference)


if __name__ == "__main__":
    main()
