"""Following a run while it goes: what is running, how much is done, what failed or warned.

``crm build`` runs the job in this process; Dagster hands every event of the run to a listener
(``DagsterInstance.add_event_listener``), which feeds :class:`RunProgress`. The same object then
gives the end-of-run summary, so the numbers printed are the run's own, not a second query.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import dagster as dg


@dataclass(frozen=True)
class FailedCheck:
    asset: str
    check: str
    blocking: bool
    description: str
    blocked_because: str = ""  # a blocking check's own explanation: rule, rows, files, Data Docs page


@dataclass
class RunProgress:
    planned_assets: int = 0
    materialized: set[str] = field(default_factory=set)
    running: dict[str, float] = field(default_factory=dict)  # step key -> when it started
    finished_steps: int = 0
    failed_steps: list[str] = field(default_factory=list)
    skipped_steps: list[str] = field(default_factory=list)
    checks_passed: int = 0
    # Summed over the ingestion assets' materialisations (their metadata, see assets/ingestion.py).
    files_loaded: int = 0
    files_rejected: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    failed_checks: list[FailedCheck] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def plan(self, asset_keys: int) -> None:
        self.planned_assets = asset_keys

    def observe(self, entry: dg.EventLogEntry) -> None:
        """Called by Dagster for every event of the run (from the thread that runs the step)."""
        event = entry.dagster_event
        if event is None:
            # Dagster reports a step it will not run (an upstream step failed) as a plain error
            # message, not an event: "Dependencies for step X failed: [...]. Not executing."
            if entry.step_key and "Not executing" in (entry.user_message or ""):
                self.skipped_steps.append(entry.step_key)
            return
        kind = event.event_type
        step = event.step_key or ""
        if kind == dg.DagsterEventType.STEP_START:
            self.running[step] = time.monotonic()
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            self.running.pop(step, None)
            self.finished_steps += 1
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            self.running.pop(step, None)
            self.failed_steps.append(step)
        elif kind == dg.DagsterEventType.STEP_SKIPPED:
            self.skipped_steps.append(step)
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION and event.asset_key is not None:
            self.materialized.add(event.asset_key.to_user_string())
            if event.asset_key.path[0] == "raw":
                self._count_ingestion(event.event_specific_data.materialization.metadata)
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation.passed:
                self.checks_passed += 1
            else:
                explanation = (evaluation.metadata or {}).get("blocked_because")
                self.failed_checks.append(
                    FailedCheck(
                        asset=evaluation.asset_key.to_user_string(),
                        check=evaluation.check_name,
                        blocking=bool(evaluation.blocking),
                        description=str(evaluation.description or ""),
                        blocked_because=str(explanation.value) if explanation is not None else "",
                    )
                )

    def _count_ingestion(self, metadata) -> None:
        def number(name: str) -> int:
            value = metadata.get(name)
            return int(value.value) if value is not None else 0

        self.files_loaded += number("files_loaded")
        self.files_rejected += number("files_rejected")
        self.rows_loaded += number("rows_loaded")
        self.rows_quarantined += number("rows_quarantined")

    def status_line(self) -> str:
        """One line for the live display: '57/148 assets, 120 checks passed | running: dbt marts (41s)'."""
        now = time.monotonic()
        done = f"{len(self.materialized)}/{self.planned_assets} assets" if self.planned_assets else "starting"
        checks = f", {self.checks_passed} checks passed" if self.checks_passed else ""
        warnings = f", {len(self.failed_checks)} failed" if self.failed_checks else ""
        running = ", ".join(
            f"{step_label(step)} ({now - since:.0f}s)"
            for step, since in sorted(self.running.items(), key=lambda s: s[1])
        )
        return f"{done}{checks}{warnings} | {'running: ' + running if running else 'planning the next step'}"

    @property
    def elapsed_seconds(self) -> float:
        return time.monotonic() - self.started


# Step keys are asset paths joined with "__", or the dbt multi-assets' op names.
_STEP_LABELS = {
    "crm_dbt_models": "dbt build (staging, star schema, marts, tests)",
    "crm_dbt_scored_models": "dbt build (marts that join the model scores)",
}


def is_check_step(step_key: str) -> bool:
    """Steps that only check an asset (Great Expectations suites, source freshness)."""
    return step_key.endswith(("_expectations", "_export_freshness"))


def skipped_in_order(step_keys: list[str]) -> list[str]:
    """Skipped steps, the assets that were not built before the checks that did not run."""
    return sorted(step_keys, key=is_check_step)  # stable: run order within each group


def step_label(step_key: str) -> str:
    if step_key in _STEP_LABELS:
        return _STEP_LABELS[step_key]
    if step_key.startswith("raw_") and step_key.endswith("_expectations"):
        return f"checks of raw/{step_key.removeprefix('raw_').removesuffix('_expectations')} (Great Expectations)"
    return step_key.replace("__", "/")
