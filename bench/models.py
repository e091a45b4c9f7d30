"""Training and scoring every model on a built warehouse: seconds per step and peak memory.

Usage (from the repository root, after ``crm build`` has built the warehouse)::

    uv run python bench/models.py --warehouse /tmp/crm-bench/warehouse_c1000000/warehouse/crm.duckdb
    uv run python bench/models.py --data-dir /tmp/crm-bench/warehouse_c1000000
    uv run python bench/models.py --data-dir /tmp/crm-bench/warehouse_c1000000 --models churn,clv

It does what the model assets do (``dagster_project/assets/models.py``) when every model is
trained, in their order: feedback, churn, clv, offers (next best offer), segments, forecast.
For each model it

1. reads the model's inputs from the warehouse with the ``model_inputs`` readers, through a
   ``read_only`` connection (the warehouse is never written; each model reads its own inputs,
   as each asset does, so churn and segments both read the customer activity);
2. trains it with ``models_ml.training.train_*`` (backtest against the baseline, then the fit);
3. scores every customer with ``training.score_*``, published or not, so the seconds are those
   of a night in which every model is published;
4. writes, as the asset does, into a scratch DuckDB file in a temporary folder: the pickled
   artefact (``model_store.save_artefact``), the run, its feature importance and its scores
   (``model_store.record_run``, one transaction), through a connection of its own that is
   closed (checkpointed) at the end, as each asset opens and closes its own. Scores of a run that
   is not published are appended with ``record_scores`` too, so that writing is measured for every model.

Feedback has no training (a lexicon): its scoring is in *score s*. Churn gets the sentiment
of the comments just scored, read back from the scratch file with
``model_inputs.read_scored_feedback`` as the churn asset reads it from the warehouse (without
``feedback`` in ``--models`` it reads the warehouse's current feedback scores instead).

Printed: a table of read / train / score / write seconds, rows scored, the key backtest metric
next to its baseline's and each model's peak memory, the totals, the process's peak RSS
(``VmHWM``) and whether the targets hold: **total < 600 s** and **peak < 8 GiB**. *peak RSS*
of a model is the process's high-water mark while that model ran (reset between models through
``/proc/self/clear_refs``, where the kernel allows it); memory a model freed but the allocator
kept counts in the next model's. This is a script that prints numbers: it exits 0 either way.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY_ROOT))

import duckdb  # noqa: E402
import polars as pl  # noqa: E402

from dagster_project.core import model_inputs, model_store  # noqa: E402
from models_ml import training  # noqa: E402

TIME_TARGET_SECONDS = 600.0
MEMORY_TARGET_GIB = 8.0
MEMORY_LIMIT = os.environ.get("CRM_DUCKDB_MEMORY_LIMIT", "4GB")  # the pipeline's DuckDB setting


# --------------------------------------------------------------------------------- measuring


def peak_rss_kib() -> int:
    """This process's resident high-water mark (``VmHWM``) in KiB: since start, or since the last reset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def current_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    """Set ``VmHWM`` back to the current RSS (Linux >= 4.0); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class ModelResult:
    model: str
    seconds: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "train": 0.0, "score": 0.0, "write": 0.0})
    trains: bool = True
    rows_scored: int = 0
    published: bool | None = None
    metric: str = ""
    verdict: str = ""
    inputs: dict[str, int] = field(default_factory=dict)
    peak_kib: int = 0
    wall: float = 0.0

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] += time.perf_counter() - started

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


@dataclass
class Bench:
    """The connections and folders every model step uses."""

    warehouse: duckdb.DuckDBPyConnection  # read_only
    scratch_path: Path  # the DuckDB file runs and scores are written to
    temp_dir: Path
    models_dir: Path
    cutoff: datetime
    scratch: duckdb.DuckDBPyConnection | None = None  # open while a model runs
    feedback_scored: bool = False  # feedback ran here: churn reads its scores from the scratch file


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # as the assets stamp trained_at / scored_at


def _activity_sizes(activity) -> dict[str, int]:
    sizes = {
        name: getattr(activity, name).height for name in ("customers", "orders", "email_events", "tickets", "surveys")
    }
    if activity.feedback is not None:
        sizes["feedback"] = activity.feedback.height
    return sizes


def _metric(metrics: dict[str, float], name: str) -> str:
    value = metrics.get(name)
    return "n/a" if value is None else f"{value:.3f}"


def train_score_write(
    bench: Bench,
    result: ModelResult,
    train: Callable[[datetime], training.TrainedModel],
    score: Callable[[object], dict[str, pl.DataFrame]],
) -> training.ModelRun:
    """The body of the assets' ``train_or_score`` when training is due, each step timed."""
    trained_at = now()
    with result.timed("train"):
        trained = train(trained_at)
    run = trained.run
    scores: dict[str, pl.DataFrame] = {}
    if trained.model is not None:
        with result.timed("score"):
            scores = score(trained.model)
    with result.timed("write"):
        if trained.model is not None:
            model_store.save_artefact(bench.models_dir, run, trained.model)
        model_store.record_run(
            bench.scratch, run, scores=scores, scored_at=trained_at, feature_importance=trained.feature_importance
        )
        if not run.is_published and scores:
            model_store.record_scores(bench.scratch, run.model_version, scores, scored_at=trained_at)
    result.rows_scored = sum(frame.height for frame in scores.values())
    result.published = run.is_published
    result.verdict = run.verdict
    return run


# ------------------------------------------------------------------------------------ models


def bench_feedback(bench: Bench) -> ModelResult:
    result = ModelResult("feedback", trains=False)
    with result.timed("read"):
        items = model_inputs.read_feedback(bench.warehouse)
    result.inputs = {"feedback_items": items.height}
    with result.timed("score"):
        run, scored = training.score_feedback(items, bench.cutoff, now())
    with result.timed("write"):
        model_store.record_run(bench.scratch, run, scores={"feedback_scores": scored}, scored_at=run.trained_at)
    bench.feedback_scored = run.is_published
    result.rows_scored, result.published, result.verdict = scored.height, run.is_published, run.verdict
    m = run.metrics
    result.metric = f"{m['items_with_text']:,.0f} with text, mean sentiment {m['average_sentiment']:.3f} (no baseline)"
    return result


def bench_churn(bench: Bench) -> ModelResult:
    result = ModelResult("churn")
    with result.timed("read"):
        activity = model_inputs.read_customer_activity(bench.warehouse, with_feedback=False)
        # The churn asset reads the current feedback scores, written by the feedback asset just before.
        source = bench.scratch if bench.feedback_scored else bench.warehouse
        activity = dataclasses.replace(activity, feedback=model_inputs.read_scored_feedback(source))
        cutoff = bench.cutoff
    result.inputs = _activity_sizes(activity)
    run = train_score_write(
        bench,
        result,
        train=lambda trained_at: training.train_churn(activity, cutoff, trained_at),
        score=lambda model: training.score_churn(model, activity, cutoff),
    )
    result.metric = (
        f"ROC AUC {_metric(run.metrics, 'roc_auc')} vs {_metric(run.baseline_metrics, 'roc_auc')} (days since order)"
    )
    return result


def bench_clv(bench: Bench) -> ModelResult:
    result = ModelResult("clv")
    with result.timed("read"):
        orders = model_inputs.read_orders(bench.warehouse)
    result.inputs = {"orders": orders.height}
    cutoff = bench.cutoff
    run = train_score_write(
        bench,
        result,
        train=lambda trained_at: training.train_clv(orders, cutoff, trained_at),
        score=lambda model: training.score_clv(model, orders, cutoff),
    )
    name = "spearman_clv_vs_holdout_spend"
    result.metric = f"Spearman {_metric(run.metrics, name)} vs {_metric(run.baseline_metrics, name)} (spend per day)"
    return result


def bench_offers(bench: Bench) -> ModelResult:
    result = ModelResult("offers")
    with result.timed("read"):
        purchases = model_inputs.read_purchases(bench.warehouse)
        products = model_inputs.read_products(bench.warehouse).rename({"product_name": "name"})
        customer_ids = model_inputs.read_customer_ids(bench.warehouse)
    result.inputs = {"purchases": purchases.height, "products": products.height, "customers": customer_ids.len()}
    cutoff = bench.cutoff
    run = train_score_write(
        bench,
        result,
        train=lambda trained_at: training.train_offers(purchases, products, cutoff, trained_at),
        score=lambda model: training.score_offers(model, purchases, customer_ids, cutoff),
    )
    m, b = run.metrics, run.baseline_metrics
    result.metric = (
        f"recall@10 {_metric(m, 'recall_at_k_all')} vs popularity {_metric(b, 'popularity_recall_at_k_all')}, "
        f"own history {_metric(b, 'own_history_recall_at_k_all')}"
    )
    return result


def bench_segments(bench: Bench) -> ModelResult:
    result = ModelResult("segments")
    with result.timed("read"):
        activity = model_inputs.read_customer_activity(bench.warehouse, with_feedback=False)
    result.inputs = _activity_sizes(activity)
    cutoff = bench.cutoff
    run = train_score_write(
        bench,
        result,
        train=lambda trained_at: training.train_segments(activity, cutoff, trained_at),
        score=lambda model: training.score_segments(model, activity, cutoff),
    )
    m = run.metrics
    silhouette = f", silhouette {m['silhouette']:.3f}" if "silhouette" in m else ""
    result.metric = (
        f"{m.get('segments', 0):.0f} segments, smallest {m.get('smallest_segment_share', 0):.1%} "
        f"vs min {training.MINIMUM_SEGMENT_SHARE:.0%}{silhouette}"
    )
    return result


def bench_forecast(bench: Bench) -> ModelResult:
    result = ModelResult("forecast")
    with result.timed("read"):
        monthly = model_inputs.read_monthly_revenue(bench.warehouse)
    result.inputs = {"months": monthly.height}
    cutoff = bench.cutoff
    run = train_score_write(
        bench,
        result,
        train=lambda trained_at: training.train_forecast(monthly, cutoff, trained_at),
        score=lambda model: training.score_forecast(model, cutoff),
    )
    result.metric = f"MASE {_metric(run.metrics, 'mase')} vs {_metric(run.baseline_metrics, 'mase')} (seasonal naive)"
    return result


MODELS: dict[str, Callable[[Bench], ModelResult]] = {
    "feedback": bench_feedback,
    "churn": bench_churn,
    "clv": bench_clv,
    "offers": bench_offers,
    "segments": bench_segments,
    "forecast": bench_forecast,
}


# ----------------------------------------------------------------------------------- running


def warehouse_path(arguments: argparse.Namespace) -> Path:
    if arguments.warehouse:
        return arguments.warehouse
    return arguments.data_dir / "warehouse" / "crm.duckdb"


def connect(path: Path, temp_dir: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection with the pipeline's DuckDB settings; spilling goes to the scratch folder."""
    return duckdb.connect(
        str(path), read_only=read_only, config={"memory_limit": MEMORY_LIMIT, "temp_directory": str(temp_dir)}
    )


def run_model(bench: Bench, name: str) -> ModelResult:
    """One model with its own read-write connection to the scratch file, as each asset opens its own.

    Closing it (the checkpoint) counts as writing. A fresh connection per model also matters for
    churn reading the feedback scores back: with DuckDB 2.0.0, the connection that created a table
    and inserted 122,880 rows or more with NULLs in a VARCHAR column in the same transaction (what
    ``record_run`` does on a fresh file) scans it as empty afterwards; other connections see the rows.
    """
    bench.scratch = connect(bench.scratch_path, bench.temp_dir, read_only=False)
    try:
        result = MODELS[name](bench)
    finally:
        closing = time.perf_counter()
        bench.scratch.close()
        bench.scratch = None
    result.seconds["write"] += time.perf_counter() - closing
    return result


def gib(kib: int) -> float:
    return kib / 1024 / 1024


def print_report(results: list[ModelResult], setup_seconds: float, wall: float, peak_kib: int, resets: bool) -> None:
    header = (
        f"{'model':<9} {'read s':>7} {'train s':>8} {'score s':>8} {'write s':>8} {'total s':>8} "
        f"{'rows scored':>12} {'peak RSS':>9}  key metric vs baseline"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        s = r.seconds
        train = f"{s['train']:>8.1f}" if r.trains else f"{'-':>8}"
        state = "" if r.published else "  [not published]"
        print(
            f"{r.model:<9} {s['read']:>7.1f} {train} {s['score']:>8.1f} {s['write']:>8.1f} {r.total:>8.1f} "
            f"{r.rows_scored:>12,} {gib(r.peak_kib):>5.2f} GiB  {r.metric}{state}"
        )
    print("-" * len(header))
    totals = {step: sum(r.seconds[step] for r in results) for step in ("read", "train", "score", "write")}
    print(
        f"{'total':<9} {totals['read']:>7.1f} {totals['train']:>8.1f} {totals['score']:>8.1f} "
        f"{totals['write']:>8.1f} {sum(totals.values()):>8.1f} {sum(r.rows_scored for r in results):>12,} "
        f"{gib(peak_kib):>5.2f} GiB"
    )
    print()
    print(f"setup (connect, analysis cutoff): {setup_seconds:.1f} s; wall time of the whole run: {wall:.1f} s")
    print(
        f"peak RSS (VmHWM) of this process: {gib(peak_kib):.2f} GiB"
        + ("" if resets else " (per-model peaks are cumulative: /proc/self/clear_refs not writable)")
    )
    print()
    print("inputs read:")
    for r in results:
        print(f"  {r.model:<9} " + ", ".join(f"{name} {rows:,}" for name, rows in r.inputs.items()))
    print("verdicts:")
    for r in results:
        print(f"  {r.model:<9} {r.verdict}")
    print()
    verdict = "PASS" if wall < TIME_TARGET_SECONDS else "FAIL"
    print(f"{verdict}: total {wall:.1f} s < {TIME_TARGET_SECONDS:.0f} s (read + train + score + write, wall)")
    verdict = "PASS" if gib(peak_kib) < MEMORY_TARGET_GIB else "FAIL"
    print(f"{verdict}: peak {gib(peak_kib):.2f} GiB < {MEMORY_TARGET_GIB:.0f} GiB (VmHWM)")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--warehouse", type=Path, help="the warehouse DuckDB file (opened read-only)")
    where.add_argument("--data-dir", type=Path, help="a CRM_DATA_DIR: its warehouse/crm.duckdb")
    parser.add_argument(
        "--models", default=",".join(MODELS), help=f"comma-separated subset of {', '.join(MODELS)} (run in that order)"
    )
    parser.add_argument("--scratch-dir", type=Path, default=None, help="parent of the temporary scratch folder")
    arguments = parser.parse_args(argv)
    chosen = [name.strip() for name in arguments.models.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    arguments.models = [name for name in MODELS if name in chosen]
    return arguments


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    path = warehouse_path(arguments)
    if not path.exists():
        raise SystemExit(f"no warehouse at {path}: run `crm build` with that CRM_DATA_DIR first")
    print(f"warehouse: {path} (read-only); models: {', '.join(arguments.models)}; DuckDB memory_limit {MEMORY_LIMIT}")
    print(f"polars threads: {pl.thread_pool_size()}; CPUs: {os.cpu_count()}; load average: {os.getloadavg()}")
    print()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crm-bench-models-", dir=arguments.scratch_dir) as scratch_name:
        scratch = Path(scratch_name)
        (scratch / "tmp").mkdir()
        warehouse = connect(path, scratch / "tmp", read_only=True)
        try:
            bench = Bench(
                warehouse=warehouse,
                scratch_path=scratch / "scores.duckdb",
                temp_dir=scratch / "tmp",
                models_dir=scratch / "models",
                cutoff=model_inputs.read_analysis_cutoff(warehouse),
            )
            setup_seconds = time.perf_counter() - started
            print(f"analysis cutoff: {bench.cutoff:%Y-%m-%d %H:%M}; scratch: {scratch}", flush=True)
            setup_peak_kib = peak_rss_kib()  # imports and connecting, before the first reset
            resets = reset_peak_rss()
            results = []
            for name in arguments.models:
                model_started = time.perf_counter()
                result = run_model(bench, name)
                gc.collect()
                result.wall = time.perf_counter() - model_started
                result.peak_kib = peak_rss_kib()
                results.append(result)
                print(
                    f"  {name}: {result.wall:.1f} s, peak {gib(result.peak_kib):.2f} GiB, "
                    f"RSS after {gib(current_rss_kib()):.2f} GiB, load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
                resets = reset_peak_rss() and resets
        finally:
            warehouse.close()
        wall = time.perf_counter() - started
    print()
    peak = max([setup_peak_kib, peak_rss_kib(), *(r.peak_kib for r in results)])
    print_report(results, setup_seconds, wall, peak, resets)


if __name__ == "__main__":
    main()
