"""How runs invoke dbt: each invocation in its own folder under <data>/dbt/runs, the parse cache
handed from one invocation to the next, and only the latest folders kept."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dagster_project.core.dbt_project import PARTIAL_PARSE_FILE, prune_invocation_folders


def _log_codes(dbt_log: Path) -> set[str]:
    codes = set()
    for line in dbt_log.read_text().splitlines():
        try:
            codes.add(json.loads(line)["info"]["code"])
        except (ValueError, KeyError):
            continue  # a line of plain text
    return codes


def test_the_second_dbt_invocation_of_a_run_reuses_the_parse_of_the_first(published_pipeline):
    settings, outcome = published_pipeline
    runs_dir = settings.dbt_target_dir / "runs"
    folders = sorted(runs_dir.glob(f"{outcome.run_id}-*"))
    assert [folder.name.removeprefix(f"{outcome.run_id}-") for folder in folders] == [
        "crm_dbt_models",
        "crm_dbt_scored_models",
    ]
    assert (runs_dir / PARTIAL_PARSE_FILE).is_file()
    scored = _log_codes(folders[1] / "dbt.log")
    # I024 "Unable to do partial parsing because ...": the whole project parsed again.
    assert "I024" not in scored
    assert scored  # the log was read


def test_only_the_latest_invocation_folders_are_kept(tmp_path):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    (runs_dir / PARTIAL_PARSE_FILE).write_bytes(b"cache")
    for index in range(12):
        folder = runs_dir / f"run-{index:02d}"
        folder.mkdir()
        (folder / "run_results.json").write_text("{}")
        os.utime(folder, (1_000_000 + index, 1_000_000 + index))
    removed = prune_invocation_folders(runs_dir, keep=5)
    assert sorted(path.name for path in removed) == [f"run-{index:02d}" for index in range(7)]
    assert sorted(path.name for path in runs_dir.iterdir()) == sorted(
        [*(f"run-{index:02d}" for index in range(7, 12)), PARTIAL_PARSE_FILE]
    )
    assert prune_invocation_folders(runs_dir, keep=5) == []
    assert prune_invocation_folders(tmp_path / "missing") == []
