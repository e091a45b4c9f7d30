"""One more incremental night on a data folder that ``nightly.py`` left: per-stage times.

Usage (from the repository root)::

    uv run python bench/next_day.py /tmp/crm-bench/nightly_c1000000          # next day, then the build
    uv run python bench/next_day.py /tmp/crm-bench/nightly_c1000000 --no-new-day  # the build only

A full build at a million customers takes a quarter of an hour; this measures a change to the
nightly path in five minutes, on the folder (``<folder>/data``, ``<folder>/ground_truth``) of an
earlier ``nightly.py`` run. It writes the next day of exports (``crm generate --next-day``, not
timed), runs the build in a child process exactly as ``nightly.py`` does, and prints wall time
and peak memory of the process tree per stage. The first night after a change to an incremental
model's columns rebuilds that model in full; measure the night after it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nightly  # noqa: E402  (the benchmark beside this file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "folder", type=Path, help="A nightly_c<N> folder of nightly.py (holds data/ and ground_truth/)."
    )
    parser.add_argument("--no-new-day", action="store_true", help="Run the build without writing a new day first.")
    arguments = parser.parse_args()

    from dagster_project.core.settings import load_settings
    from dagster_project.synthetic.next_day import generate_next_day

    folder = arguments.folder.resolve()
    data_dir = folder / "data"
    environment = {**os.environ, "CRM_DATA_DIR": str(data_dir)}
    environment.pop("CRM_ANALYSIS_DATE", None)
    settings = load_settings(environment)
    if not arguments.no_new_day:
        day = generate_next_day(settings.landing_dir, folder / "ground_truth")
        print(f"day {day.day}: {sum(day.rows_written.values()):,} rows", flush=True)
    before = os.getloadavg()
    events = folder / "events.jsonl"
    build = [sys.executable, str(Path(nightly.__file__).resolve()), "--child", str(data_dir), str(events)]
    measured = nightly.run_measured("next day", build, environment, events, folder / "bench.log")
    after = os.getloadavg()
    print(
        f"total {measured.seconds:.1f} s, peak {nightly.gib(measured.peak_bytes)} GiB "
        f"(load average before {before[0]:.2f}, after {after[0]:.2f})"
    )
    for stage in nightly.STAGE_ORDER:
        if stage in measured.stages:
            figures = measured.stages[stage]
            print(f"  {stage:24s} {figures['seconds']:7.1f} s  {nightly.gib(figures['peak_bytes'])} GiB")


if __name__ == "__main__":
    main()
