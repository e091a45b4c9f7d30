"""The nightly benchmark: a full build and incremental days at 10k, 100k and 1M customers.

Usage (from the repository root)::

    uv run python bench/nightly.py                                  # 10k, 100k and 1M, 3 days each
    uv run python bench/nightly.py --sizes 10000,100000 --days 2    # a quicker look
    uv run python bench/nightly.py --sizes 10000 --out /tmp/nightly # results elsewhere
    uv run python bench/nightly.py --sizes 100000 --engines duckdb,spark   # beside local Spark

For each size it

1. reuses the export set of ``bench/ingest.py`` (``<work-dir>/exports_c<N>_m24_s7``), or
   generates it (1M customers: ~11 GB, ~2 min);
2. builds a fresh data folder from it (the landing files hard-linked, not copied) and runs the
   full build, exactly what ``crm build`` runs (``run_full_pipeline``), in a child process;
3. ``--days`` times: writes the next day of exports (``crm generate --next-day``, not timed as
   part of the build) and runs the build again: the incremental nightly;
4. times, in the same session and on the same files, what the floors are: DuckDB's own
   ``read_csv``/``read_json`` of the set into a fresh file, and a ``dbt build --full-refresh``
   of the final warehouse, so the figures can be read as ratios on a noisy machine.

Per stage (ingest, checks, dbt, each model, scored marts, serving, outbox, report) it records
wall time and the peak memory of the whole process tree (the build and the dbt processes it
starts: resident set sizes summed over the tree, sampled every 0.2 s from /proc), taken from
the step start and end events of the Dagster run. With ``--engines duckdb,spark`` each size is
also built with CRM_ENGINE=spark: a local Spark server started by the run (its JVM is part of
the measured process tree, its ~20 s start part of the dbt stage's run), the same exports,
and a side-by-side table of the two. Results go to ``<out>/nightly.json`` and
``<out>/nightly.md`` (default: ``docs/benchmarks/``); ``docs/benchmarks.md`` quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY_ROOT))

MONTHS = 24
SEED = 7
SAMPLE_SECONDS = 0.2
# Stage of each step of the full run, by the start of its step key (first match wins).
STAGES = (
    ("raw__", "_export_freshness", "checks"),
    ("raw_", "_expectations", "checks"),
    ("raw__", "", "ingest"),
    ("crm_dbt_models", "", "dbt"),
    ("crm_dbt_scored_models", "", "scored marts"),
    ("ml__feedback_scores", "", "model: feedback"),
    ("ml__churn_scores", "", "model: churn"),
    ("ml__clv_scores", "", "model: clv"),
    ("ml__next_best_offers", "", "model: next best offer"),
    ("ml__customer_segments", "", "model: segments"),
    ("ml__sales_forecast", "", "model: forecast"),
    ("serving__crm_duckdb", "", "serving"),
    ("serving__outbox", "", "outbox"),
    ("reports__run_report", "", "report"),
)
STAGE_ORDER = [
    "ingest",
    "checks",
    "dbt",
    "model: feedback",
    "model: churn",
    "model: clv",
    "model: next best offer",
    "model: segments",
    "model: forecast",
    "scored marts",
    "serving",
    "outbox",
    "report",
    "other",
]


def stage_of(step_key: str) -> str:
    for prefix, suffix, stage in STAGES:
        if step_key.startswith(prefix) and step_key.endswith(suffix):
            return stage
    return "other"


# --- memory of a process tree, from /proc -------------------------------------------------------


def tree_rss_bytes(root: int) -> int:
    """Resident set size of ``root`` and all its descendants, summed (shared pages counted in
    each process: an upper bound, which is what a memory limit has to cover)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


class TreeSampler:
    """Samples a process tree's memory in a thread: (seconds since epoch, bytes)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), tree_rss_bytes(self.pid)))
            self._stop.wait(SAMPLE_SECONDS)

    def peak(self, start: float | None = None, end: float | None = None) -> int:
        values = [rss for at, rss in self.samples if (start is None or at >= start) and (end is None or at <= end)]
        return max(values, default=0)


# --- one build in a child process ---------------------------------------------------------------


def child_build(data_dir: Path, events_path: Path) -> None:
    """Run the full pipeline (what `crm build` runs) and write its step events as JSON lines."""
    import dagster as dg

    from dagster_project.core.settings import load_settings
    from dagster_project.runner import run_full_pipeline

    step_events = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    with events_path.open("w") as sink:

        def record(entry: dg.EventLogEntry) -> None:
            if entry.dagster_event is not None and entry.dagster_event.event_type in step_events:
                sink.write(
                    json.dumps(
                        {"at": entry.timestamp, "step": entry.step_key, "event": entry.dagster_event.event_type.value}
                    )
                    + "\n"
                )
                sink.flush()

        os.environ["CRM_DATA_DIR"] = str(data_dir)
        outcome = run_full_pipeline(load_settings(), on_event=record)
    if not outcome.success:
        print("\n".join(outcome.failure_messages), file=sys.stderr)
        sys.exit(1)


@dataclass
class Measured:
    """One timed command: wall seconds and the peak memory of its process tree."""

    label: str
    seconds: float
    peak_bytes: int
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> seconds, peak_bytes
    rows_loaded: int | None = None


def run_measured(
    label: str, command: list[str], environment: dict[str, str], events_path: Path | None, log_path: Path
) -> Measured:
    started = time.time()
    with log_path.open("a") as log:
        log.write(f"\n=== {label}: {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(command, cwd=REPOSITORY_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        with TreeSampler(process.pid) as sampler:
            code = process.wait()
    seconds = time.time() - started
    if code != 0:
        raise SystemExit(f"{label}: {' '.join(command)} failed with exit code {code}; its output is in {log_path}")
    measured = Measured(label, seconds, sampler.peak())
    if events_path is not None:
        measured.stages = stage_figures(events_path, sampler)
    return measured


def stage_figures(events_path: Path, sampler: TreeSampler) -> dict[str, dict[str, float]]:
    started: dict[str, float] = {}
    stages: dict[str, dict[str, float]] = {}
    for line in events_path.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "STEP_START":
            started[event["step"]] = event["at"]
            continue
        begin = started.pop(event["step"], None)
        if begin is None:
            continue
        stage = stages.setdefault(stage_of(event["step"]), {"seconds": 0.0, "peak_bytes": 0})
        stage["seconds"] += event["at"] - begin
        stage["peak_bytes"] = max(stage["peak_bytes"], sampler.peak(begin, event["at"]))
    return stages


# --- the export sets and the floors -------------------------------------------------------------


def export_set(work_dir: Path, customers: int) -> Path:
    """``bench/ingest.py``'s set for this size, generated when missing."""
    from dagster_project.synthetic import generate_exports

    root = work_dir / f"exports_c{customers}_m{MONTHS}_s{SEED}"
    summary = root / "ground_truth" / "summary.json"
    if summary.exists():
        parameters = json.loads(summary.read_text())["parameters"]
        if parameters["customers"] == customers and parameters["months"] == MONTHS and parameters["seed"] == SEED:
            return root
    print(f"generating {customers:,} customers x {MONTHS} months into {root} ...", flush=True)
    generate_exports(
        out_dir=root / "landing", truth_dir=root / "ground_truth", customers=customers, months=MONTHS, seed=SEED
    )
    return root


def fresh_data_dir(work_dir: Path, customers: int, exports: Path, engine: str) -> tuple[Path, Path]:
    """A data folder whose landing files are hard links to the export set (next days are added
    beside them, never into the shared set), and a copy of its ground truth."""
    root = work_dir / (f"nightly_c{customers}" if engine == "duckdb" else f"nightly_c{customers}_{engine}")
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    subprocess.run(["cp", "-al", str(exports / "landing"), str(root / "data" / "landing")], check=True)
    shutil.copytree(exports / "ground_truth", root / "ground_truth")
    return root / "data", root / "ground_truth"


def duckdb_floor(landing: Path, database: Path, memory_limit: str) -> tuple[float, int]:
    """DuckDB's own load of every export file (types sniffed), one table per entity: seconds, rows."""
    import duckdb

    from dagster_project.core.contracts import CONTRACTS

    database.unlink(missing_ok=True)
    started = time.perf_counter()
    rows = 0
    with duckdb.connect(str(database), config={"memory_limit": memory_limit}) as connection:
        for entity, contract in CONTRACTS.items():
            folder = landing / contract.source / entity
            files = sorted(str(path) for path in folder.glob(f"*.{contract.file_format}"))
            if not files:
                continue
            reader = "read_json" if contract.file_format == "jsonl" else "read_csv"
            connection.execute(f"create table {entity} as select * from {reader}(?)", [files])
            rows += connection.execute(f"select count(*) from {entity}").fetchall()[0][0]
        connection.execute("checkpoint")
    seconds = time.perf_counter() - started
    database.unlink(missing_ok=True)
    return seconds, rows


def rows_loaded(warehouse: Path) -> int:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return int(
            connection.execute(
                "select coalesce(sum(rows_loaded), 0) from raw._file_ledger where status = 'loaded'"
            ).fetchall()[0][0]
        )


# --- one size ------------------------------------------------------------------------------------


def bench_size(customers: int, days: int, work_dir: Path, engine: str = "duckdb") -> dict:
    from dagster_project.core.settings import load_settings
    from dagster_project.synthetic.next_day import generate_next_day

    exports = export_set(work_dir, customers)
    data_dir, truth = fresh_data_dir(work_dir, customers, exports, engine)
    environment = {**os.environ, "CRM_DATA_DIR": str(data_dir), "CRM_ENGINE": engine}
    if engine == "spark":  # the run's own local server, as `crm build` starts it
        for name in ("CRM_SPARK_HOST", "CRM_SPARK_PORT", "CRM_SPARK_CONNECT_URL"):
            environment.pop(name, None)
    environment.pop("CRM_ANALYSIS_DATE", None)
    settings = load_settings(environment)
    events = data_dir.parent / "events.jsonl"
    build = [sys.executable, __file__, "--child", str(data_dir), str(events)]

    label = f"{customers:,}" if engine == "duckdb" else f"{customers:,}, {engine}"
    print(f"[{label}] full build ...", flush=True)
    log = data_dir.parent / "bench.log"
    print(f"[{label}] output of the builds: {log}", flush=True)
    runs = [run_measured("full build", build, environment, events, log)]
    loaded_before = rows_loaded(settings.warehouse_path)
    runs[0].rows_loaded = loaded_before
    for number in range(1, days + 1):
        day = generate_next_day(settings.landing_dir, truth)
        print(f"[{label}] day {number} ({day.day}, {sum(day.rows_written.values()):,} rows) ...", flush=True)
        run = run_measured(f"day {number}", build, environment, events, log)
        loaded_now = rows_loaded(settings.warehouse_path)
        run.rows_loaded, loaded_before = loaded_now - loaded_before, loaded_now
        runs.append(run)
    if engine != "duckdb":  # the floors are DuckDB's: measured once per size, in its own entry
        return {"customers": customers, "engine": engine, "runs": [asdict(run) for run in runs]}

    print(f"[{label}] dbt build --full-refresh of the same warehouse ...", flush=True)
    dbt = str(Path(sys.executable).parent / "dbt")
    refresh = run_measured(
        "dbt full refresh",
        [
            dbt,
            "build",
            "--full-refresh",
            "--quiet",
            "--project-dir",
            "dbt",
            "--profiles-dir",
            "dbt",
            "--target-path",
            str(data_dir / "dbt" / "bench_full_refresh"),
            "--log-path",
            str(data_dir / "logs" / "bench"),
        ],
        {**environment, **settings.subprocess_environment()},
        None,
        log,
    )
    print(f"[{label}] DuckDB's own load of the same files ...", flush=True)
    floor_seconds, floor_rows = duckdb_floor(
        exports / "landing", data_dir.parent / "floor.duckdb", settings.duckdb_memory_limit
    )
    return {
        "customers": customers,
        "engine": engine,
        "runs": [asdict(run) for run in runs],
        "dbt_full_refresh": asdict(refresh),
        "duckdb_load": {"seconds": floor_seconds, "rows": floor_rows},
        "warehouse_bytes": settings.warehouse_path.stat().st_size,
        "serving_bytes": settings.serving_path.stat().st_size,
    }


# --- reporting -----------------------------------------------------------------------------------


def gib(value: float) -> str:
    return f"{value / 2**30:.2f}"


def markdown(results: list[dict], machine: dict) -> str:
    lines = [
        "# Nightly benchmark results",
        "",
        f"Measured {machine['finished']} on {machine['cpus']} CPUs, {machine['memory_gib']:.0f} GiB "
        f"(load average before: {machine['load_before']}, after: {machine['load_after']}), "
        f"DuckDB memory_limit {machine['duckdb_memory_limit']}. Command: `{machine['command']}`.",
        "",
    ]
    for result in results:
        runs = result["runs"]
        engine = result.get("engine", "duckdb")
        lines += [
            f"## {result['customers']:,} customers" + ("" if engine == "duckdb" else f" on local {engine.title()}"),
            "",
            "Wall seconds (peak GiB of the process tree) per stage:",
            "",
        ]
        lines.append("| stage | " + " | ".join(run["label"] for run in runs) + " |")
        lines.append("|---|" + "---:|" * len(runs))
        for stage in STAGE_ORDER:
            cells = []
            for run in runs:
                figure = run["stages"].get(stage)
                cells.append(f"{figure['seconds']:.1f} ({gib(figure['peak_bytes'])})" if figure else "-")
            if any(cell != "-" for cell in cells):
                lines.append(f"| {stage} | " + " | ".join(cells) + " |")
        lines.append(
            "| **total** | " + " | ".join(f"**{run['seconds']:.1f}** ({gib(run['peak_bytes'])})" for run in runs) + " |"
        )
        lines.append("| rows loaded | " + " | ".join(f"{run['rows_loaded']:,}" for run in runs) + " |")
        if engine != "duckdb":
            lines.append("")
            continue
        full, floor = runs[0], result["duckdb_load"]
        ingest = full["stages"].get("ingest", {}).get("seconds", 0.0)
        refresh = result["dbt_full_refresh"]
        incremental_dbt = [run["stages"].get("dbt", {}).get("seconds", 0.0) for run in runs[1:]]
        lines += [
            "",
            f"- Ingestion: {full['rows_loaded'] / ingest:,.0f} rows/s; DuckDB's own `read_csv`/`read_json` of the same "
            f"files: {floor['seconds']:.1f} s ({floor['rows'] / floor['seconds']:,.0f} rows/s), ours/DuckDB time "
            f"{ingest / floor['seconds']:.1f}x."
            if ingest
            else "",
            f"- dbt: `dbt build --full-refresh` of the final warehouse {refresh['seconds']:.1f} s "
            f"({gib(refresh['peak_bytes'])} GiB)"
            + (
                " against "
                + ", ".join(f"{seconds:.1f} s" for seconds in incremental_dbt)
                + f" on the incremental days ({min(incremental_dbt) / refresh['seconds']:.2f}x at best)."
                if incremental_dbt
                else "."
            ),
            f"- Files: warehouse {gib(result['warehouse_bytes'])} GiB, serving {gib(result['serving_bytes'])} GiB.",
            "",
        ]
    lines += engines_side_by_side(results)
    sizes = {result["customers"]: result for result in results if result.get("engine", "duckdb") == "duckdb"}
    if 100_000 in sizes and 1_000_000 in sizes:
        small, large = sizes[100_000]["runs"][0], sizes[1_000_000]["runs"][0]
        lines += [
            "## Growth from 100k to 1M customers (full build)",
            "",
            "| stage | 100k s | 1M s | growth |",
            "|---|---:|---:|---:|",
        ]
        for stage in STAGE_ORDER:
            a, b = small["stages"].get(stage), large["stages"].get(stage)
            if a and b and a["seconds"] > 0:
                lines.append(
                    f"| {stage} | {a['seconds']:.1f} | {b['seconds']:.1f} | {b['seconds'] / a['seconds']:.1f}x |"
                )
        lines.append(
            f"| total | {small['seconds']:.1f} | {large['seconds']:.1f} | {large['seconds'] / small['seconds']:.1f}x |"
        )
        lines.append("")
    return "\n".join(line for line in lines if line is not None) + "\n"


def engines_side_by_side(results: list[dict]) -> list[str]:
    """Per size built on both engines: each stage's wall seconds on DuckDB and on local Spark."""
    by_size: dict[int, dict[str, dict]] = {}
    for result in results:
        by_size.setdefault(result["customers"], {})[result.get("engine", "duckdb")] = result
    lines = []
    for customers, engines in sorted(by_size.items()):
        if not {"duckdb", "spark"} <= set(engines):
            continue
        duck, spark = engines["duckdb"]["runs"], engines["spark"]["runs"]
        lines += [
            f"## DuckDB and local Spark, {customers:,} customers",
            "",
            "Wall seconds per stage; Spark / DuckDB in brackets.",
            "",
            "| stage | " + " | ".join(f"{run['label']}: DuckDB | Spark" for run in duck[: len(spark)]) + " |",
            "|---|" + "---:|---:|" * min(len(duck), len(spark)),
        ]
        for stage in [*STAGE_ORDER, "total"]:
            cells = []
            for on_duck, on_spark in zip(duck, spark, strict=False):
                a = on_duck["seconds"] if stage == "total" else on_duck["stages"].get(stage, {}).get("seconds")
                b = on_spark["seconds"] if stage == "total" else on_spark["stages"].get(stage, {}).get("seconds")
                if a is None or b is None:
                    cells += ["-", "-"]
                else:
                    cells += [f"{a:.1f}", f"{b:.1f} ({b / a:.1f}x)" if a else f"{b:.1f}"]
            if any(cell != "-" for cell in cells):
                lines.append(f"| {stage} | " + " | ".join(cells) + " |")
        peaks = [f"{gib(a['peak_bytes'])} | {gib(b['peak_bytes'])}" for a, b in zip(duck, spark, strict=False)]
        lines += ["| peak GiB | " + " | ".join(peaks) + " |", ""]
    return lines


def command_line() -> str:
    """The command as typed, with the Spark server's memory when it was set: it changes the figures."""
    memory = os.environ.get("CRM_SPARK_DRIVER_MEMORY")
    prefix = f"CRM_SPARK_DRIVER_MEMORY={memory} " if memory else ""
    return prefix + "uv run python bench/nightly.py " + " ".join(sys.argv[1:])


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child_build(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="Customer counts, comma separated.")
    parser.add_argument("--days", type=int, default=3, help="Incremental days after each full build.")
    parser.add_argument("--engines", default="duckdb", help="duckdb, or duckdb,spark for the Spark column.")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/crm-bench"), help="Export sets and data folders.")
    parser.add_argument("--out", type=Path, default=REPOSITORY_ROOT / "docs" / "benchmarks", help="Where results go.")
    arguments = parser.parse_args()

    from dagster_project.core.settings import load_settings

    load_before = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    arguments.out.mkdir(parents=True, exist_ok=True)
    results = []
    sizes = [int(size) for size in arguments.sizes.split(",")]
    for customers, engine in ((size, engine) for size in sizes for engine in arguments.engines.split(",")):
        results.append(bench_size(customers, arguments.days, arguments.work_dir, engine))
        # written after every size: the 1M runs take most of an hour
        machine = {
            "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cpus": os.cpu_count(),
            "memory_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
            "load_before": load_before,
            "load_after": ", ".join(f"{value:.2f}" for value in os.getloadavg()),
            "duckdb_memory_limit": load_settings().duckdb_memory_limit,
            "python": platform.python_version(),
            "command": command_line(),
        }
        (arguments.out / "nightly.json").write_text(
            json.dumps({"machine": machine, "results": results}, indent=2) + "\n"
        )
        report = markdown(results, machine)
        (arguments.out / "nightly.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
