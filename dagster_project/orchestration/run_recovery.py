"""Cleaning up after runs whose process died: their status and their writer-pool slot.

A run executed in the `crm` process (``crm build``) claims the ``duckdb_writer`` slot for each
writing step. If that process is killed (out of memory, ``kill -9``, a closed laptop lid) the run
stays STARTED and keeps its slot, and every later run waits forever for it ("Step still blocked
by limit for pool duckdb_writer"). Dagster's run monitoring cannot see this: with the local run
launcher it cannot tell a dead run worker from a busy one, and in-process runs have no worker.

So runs started by the `crm` command are tagged with the process that runs them (host, pid and
the process's start time, which tells a reused pid apart), and :func:`recover_abandoned_runs`,
called before each new run, fails those whose process is gone and frees their slots. It also
frees slots still held by runs that have already finished (e.g. marked failed in the UI).
"""

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

logger = logging.getLogger(__name__)

LAUNCHED_BY_TAG = "crm/launched_by"
CLI_LAUNCHER = "cli"
HOST_TAG = "crm/host"
PID_TAG = "crm/pid"
PROCESS_START_TAG = "crm/process_start"

UNFINISHED_STATUSES = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name, or None when the process (or /proc) is missing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (command name) state ppid ...": the name may hold spaces and parentheses.
    return stat[stat.rindex(")") + 2 :].split()


def process_start_ticks(pid: int) -> str | None:
    """When the process started (clock ticks since boot, from /proc), or None where /proc is missing.

    A pid is reused once its process is gone; the pair (pid, start) names one process for good.
    """
    fields = _stat_fields(pid)
    return fields[19] if fields else None  # field 22 of the whole line: starttime


def _process_state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def cli_run_tags() -> dict[str, str]:
    """Tags for a run executed in this process; :func:`recover_abandoned_runs` reads them."""
    pid = os.getpid()
    return {
        LAUNCHED_BY_TAG: CLI_LAUNCHER,
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(pid),
        PROCESS_START_TAG: process_start_ticks(pid) or "",
        # A crashed in-process run cannot be re-executed by the daemon's run retries (it has no
        # code location to launch from): the next `crm build` redoes the work instead.
        "dagster/max_retries": "0",
        # Whether this run's process is alive is known here, not by the daemon's run monitoring,
        # which would otherwise fail a long in-process run after max_runtime_seconds.
        "dagster/max_runtime": "0",
    }


def process_is_alive(pid: int, start_ticks: str | None) -> bool:
    """Whether the process that started with these (pid, start time) still runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    if _process_state(pid) in ("Z", "X"):  # killed, not yet reaped by its parent
        return False
    current_start = process_start_ticks(pid)
    return not (start_ticks and current_start and current_start != start_ticks)


@dataclass(frozen=True)
class RecoveredRun:
    run_id: str
    job_name: str
    action: str  # what was done, in words


def _abandoned_reason(run: dg.DagsterRun, hostname: str) -> str | None:
    """Why this run's process is known to be gone, or None if it may still be running."""
    if run.tags.get(LAUNCHED_BY_TAG) != CLI_LAUNCHER or run.tags.get(HOST_TAG) != hostname:
        return None  # launched by the daemon or on another machine: we cannot look at its process
    try:
        pid = int(run.tags.get(PID_TAG, ""))
    except ValueError:
        return None
    if process_is_alive(pid, run.tags.get(PROCESS_START_TAG) or None):
        return None
    return f"the `crm` process that ran it (pid {pid} on {hostname}) no longer exists"


def _finished_runs_holding_slots(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Runs that ended but still hold (or queue for) a pool slot: the daemon frees these only
    when its run monitoring is on, and `crm build` runs without the daemon."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    holders = set(storage.get_concurrency_run_ids())  # runs with steps queued for or holding a slot
    for pool in storage.get_concurrency_keys():
        holders.update(slot.run_id for slot in storage.get_concurrency_info(pool).claimed_slots)
    if not holders:
        return []
    runs = instance.get_runs(filters=dg.RunsFilter(run_ids=sorted(holders)))
    return [run for run in runs if run.is_finished]


def recover_abandoned_runs(instance: dg.DagsterInstance) -> list[RecoveredRun]:
    """Fail runs left unfinished by a `crm` process that died, and free every slot a finished run holds."""
    hostname = socket.gethostname()
    recovered: list[RecoveredRun] = []
    for record in instance.get_run_records(
        filters=dg.RunsFilter(statuses=UNFINISHED_STATUSES, tags={LAUNCHED_BY_TAG: CLI_LAUNCHER})
    ):
        run = record.dagster_run
        reason = _abandoned_reason(run, hostname)
        if reason is None:
            continue
        instance.report_run_failed(
            run, message=f"Marked as failed: {reason} (it was killed, e.g. for lack of memory); pool slots freed."
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(RecoveredRun(run.run_id, run.job_name, f"marked failed and its pool slots freed: {reason}"))

    for run in _finished_runs_holding_slots(instance):
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(
            RecoveredRun(run.run_id, run.job_name, f"pool slots freed (the run had ended: {run.status.value})")
        )

    for item in recovered:
        logger.warning("Recovered run %s (%s): %s", item.run_id, item.job_name, item.action)
    return recovered
