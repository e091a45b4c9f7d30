"""Which errors are worth trying again a little later, and which are not.

Transient: the build DuckDB file is locked by another process (someone's DuckDB shell, a `crm sql
--build-file`, a BI tool pointed at the wrong file), and a landing file that is busy or briefly
unavailable (EAGAIN / EBUSY / ETXTBSY, e.g. on a network share while the export is written).
Everything else, above all bad data and contract violations, fails the same way on every attempt:
retrying it only multiplies the time to the failure.
"""

import errno

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
