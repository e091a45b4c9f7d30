"""Which errors are worth trying again a little later, and which are not.

Transient: the build DuckDB file is locked by another process (someone's DuckDB shell, a `crm sql
--build-file`, a BI tool pointed at the wrong file), and a landing file that is busy or briefly
unavailable (EAGAIN / EBUSY / ETXTBSY, e.g. on a network share while the export is written).
Everything else, above all bad data and contract violations, fails the same way on every attempt:
retrying it only multiplies the time to the failure.
"""

import errno
import re
from pathlib import Path

import duckdb

TRANSIENT_ERRNOS = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY, errno.ETXTBSY})
DUCKDB_LOCK_MESSAGES = ("Could not set lock on file", "Conflicting lock is held")


def transient_cause(error: BaseException) -> str | None:
    """A short reason if `error` (or an error it was raised from) is transient, otherwise None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, duckdb.IOException) and any(text in str(current) for text in DUCKDB_LOCK_MESSAGES):
            return "the DuckDB file is locked by another process"
        if isinstance(current, OSError) and current.errno in TRANSIENT_ERRNOS:
            return f"a file is busy ({errno.errorcode.get(current.errno, current.errno)}: {current.strerror})"
        current = current.__cause__  # only errors raised `from` it: not one merely raised while handling it
    return None


# "... Conflicting lock is held in /usr/bin/python3.11 (PID 4242) by user ann. See also ..."
_LOCK_HOLDER = re.compile(
    r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)(?: by user (?P<user>\S+))?"
)


def _command_line(pid: int) -> str | None:
    """The process's command line, from /proc (None where /proc or the process is missing)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    command = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return command[:200] or None


def explain_lock(message: str, warehouse_path: Path | str, serving_path: Path | str) -> str | None:
    """What a user should read when the build file is locked: who holds it and what to do.

    None when ``message`` is not DuckDB's lock error. DuckDB names the holding program and its
    process id; the command line (from /proc) tells a DuckDB shell from a BI tool or a notebook.
    """
    if not any(text in message for text in DUCKDB_LOCK_MESSAGES):
        return None
    holder = _LOCK_HOLDER.search(message)
    if holder is None:
        who = "another process"
    else:
        pid = int(holder["pid"])
        command = _command_line(pid) or holder["program"]
        user = f", user {holder['user'].rstrip('.')}" if holder["user"] else ""
        who = f"process {pid} ({command}{user})"
    return (
        f"the build file {warehouse_path} is locked by {who}. Close that program or let it finish "
        f"(kill {holder['pid'] if holder else '<pid>'} if it hangs), then run again. Only the pipeline opens the "
        f"build file: BI tools, notebooks and `crm sql` read the serving file {serving_path}, which never blocks a run."
    )
