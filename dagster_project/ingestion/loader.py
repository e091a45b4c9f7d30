"""Loading every new landing file of one entity into ``raw.<entity>``.

A file's rows, its quarantined rows and its ledger entry commit in the same transaction (with
other whole files of the same batch) or not at all, so a load killed half-way leaves no trace
and the next run redoes it. A file whose exact content was loaded before (under any name) is
recorded as a duplicate and not loaded again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from dagster_project.core.contracts import EntityContract
from dagster_project.core.warehouse import fetch_value, quote_identifier
from dagster_project.ingestion.landing_files import LandingFile, UnreadableFileError, discover_files, open_landing_file
from dagster_project.ingestion.ledger import (
    LEDGER_TABLE,
    QUARANTINE_TABLE,
    ensure_raw_schema,
    is_recorded,
    known_content_hash,
    loaded_under,
    remember_signature,
)
from dagster_project.ingestion.reading import CsvScratch, read_as_text
from dagster_project.ingestion.source_config import (
    CANONICAL_CONFIG_PATH,
    EntityMapping,
    load_source_config,
    mappings_for,
)
from dagster_project.ingestion.validation import (
    EXTRA_COLUMNS,
    QUARANTINE_REASON,
    ContractViolationError,
    ValidatedRows,
    validate_rows,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileLoadResult:
    source_file: str
    # loaded | duplicate (same content as another file) | unchanged (seen before) | rejected (cannot
    # be read as a whole) | skipped (not read on purpose: a symlink, an unsupported format)
    status: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    error: str | None = None
    extra_columns: tuple[str, ...] = ()
    duplicate_of: str | None = None


@dataclass
class EntityLoadResult:
    entity: str
    files: list[FileLoadResult] = field(default_factory=list)
    rows_in_table: int = 0

    def _total(self, attribute: str) -> int:
        return sum(getattr(result, attribute) for result in self.files)

    @property
    def rows_read(self) -> int:
        return self._total("rows_read")

    @property
    def rows_loaded(self) -> int:
        return self._total("rows_loaded")

    @property
    def rows_quarantined(self) -> int:
        return self._total("rows_quarantined")

    def files_with_status(self, status: str) -> list[FileLoadResult]:
        return [result for result in self.files if result.status == status]


# Files are committed in batches of about this many rows: one INSERT per small file leaves
# DuckDB idle between statements; a batch is still all-or-nothing with its ledger rows.
BATCH_ROWS = 1_000_000


@dataclass(frozen=True)
class PlannedFile:
    """A new file to load, with its bytes. Files are planned one ahead of the worker, so a large
    backlog never sits in memory at once."""

    system: str
    mapping: EntityMapping
    landing_file: LandingFile
    signature: tuple[int, int]  # size on disk and modification time (ns), taken before reading

    @property
    def relative_path(self) -> str:
        return self.landing_file.relative_path

    @property
    def content_hash(self) -> str:
        return self.landing_file.content_hash

    @property
    def size_bytes(self) -> int:
        return len(self.landing_file.content)


@dataclass(frozen=True)
class PreparedFile:
    """A file read and validated, waiting for its batch to be written (its bytes are let go)."""

    system: str
    relative_path: str
    content_hash: str
    size_bytes: int
    signature: tuple[int, int]
    rows: ValidatedRows | None = None
    error: str | None = None  # the whole file is rejected


def load_entity(
    connection: duckdb.DuckDBPyConnection,
    contract: EntityContract,
    landing_dir: Path,
    loaded_at: datetime,
    sources: list[tuple[str, EntityMapping]] | None = None,
    on_file: Callable[[str], None] | None = None,
) -> EntityLoadResult:
    """Load the entity's new landing files; returns what happened to each file.

    ``sources`` are the (system, mapping) pairs of the active source configs for this entity
    (default: the canonical layout); ``on_file`` is told each file's name before it is loaded.

    The ledger decides on the main thread which files are new; a worker thread reads and
    validates the next file while the main thread writes the previous ones, in transactions
    that each hold whole files and their ledger rows.
    """
    if sources is None:
        sources = mappings_for([load_source_config(CANONICAL_CONFIG_PATH)], contract.entity)
    ensure_raw_schema(connection, contract)
    result = EntityLoadResult(entity=contract.entity)
    outcomes: dict[str, FileLoadResult] = {}
    to_load = _plan(connection, contract, sources, landing_dir, loaded_at, outcomes)

    with (
        _insertion_order_not_preserved(connection),
        CsvScratch() as scratch,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare") as worker,
    ):
        # Planning (hash, ledger) runs one file ahead of the worker, which runs one ahead of the writes.
        pending: deque[Future[PreparedFile]] = deque()

        def prepare_next() -> None:
            planned = next(to_load, None)
            if planned is not None:
                if on_file is not None:
                    on_file(planned.relative_path)
                pending.append(worker.submit(_prepare, planned, contract, scratch, loaded_at))

        prepare_next()
        batch: list[PreparedFile] = []
        while pending:
            prepared = pending.popleft().result()
            prepare_next()
            if prepared.error is not None:
                outcomes[prepared.relative_path] = FileRejection(
                    connection, contract, prepared.system, prepared.relative_path, loaded_at
                )(prepared.error, prepared.content_hash, prepared.size_bytes)
                continue
            batch.append(prepared)
            if sum(item.rows.loaded.height for item in batch) >= BATCH_ROWS:
                outcomes.update(_commit(connection, contract, batch, loaded_at))
                batch = []
        if batch:
            outcomes.update(_commit(connection, contract, batch, loaded_at))

    result.files = [outcomes[name] for name in outcomes]
    result.files.sort(key=lambda outcome: outcome.source_file)
    result.rows_in_table = fetch_value(connection, f"SELECT count(*) FROM {contract.raw_table}")
    return result


@contextmanager
def _insertion_order_not_preserved(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Let DuckDB write inserted rows in any order while loading.

    Every raw row carries its file and line, so nothing needs the physical order, and without
    it DuckDB compresses row groups as they are inserted instead of at the checkpoint (measured:
    a third less time per insert + checkpoint, see bench/README.md).
    """
    previous = fetch_value(connection, "SELECT current_setting('preserve_insertion_order')")
    connection.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        connection.execute(f"SET preserve_insertion_order = {'true' if previous else 'false'}")


def _plan(
    connection: duckdb.DuckDBPyConnection,
    contract: EntityContract,
    sources: list[tuple[str, EntityMapping]],
    landing_dir: Path,
    loaded_at: datetime,
    outcomes: dict[str, FileLoadResult],
) -> Iterator[PlannedFile]:
    """Which files to load; the others (seen before, duplicates, unopenable, skipped) are settled here."""
    hashes_this_run: dict[str, str] = {}
    seen: set[Path] = set()
    for system, mapping in sources:
        discovery = discover_files(landing_dir, mapping)
        for path, reason in discovery.skipped:
            if path in seen:
                continue
            seen.add(path)
            relative_path = path.relative_to(landing_dir).as_posix()
            outcomes[relative_path] = FileRejection(
                connection, contract, system, relative_path, loaded_at, status="skipped"
            )(f"{relative_path}: {reason}", "", path.lstat().st_size)
        for path in discovery.files:
            if path in seen:  # two configs matching the same file: the first one reads it
                continue
            seen.add(path)
            planned = _plan_file(
                connection, contract, system, mapping, path, landing_dir, loaded_at, outcomes, hashes_this_run
            )
            if planned is not None:
                yield planned


def _plan_file(
    connection: duckdb.DuckDBPyConnection,
    contract: EntityContract,
    system: str,
    mapping: EntityMapping,
    path: Path,
    landing_dir: Path,
    loaded_at: datetime,
    outcomes: dict[str, FileLoadResult],
    hashes_this_run: dict[str, str],
) -> PlannedFile | None:
    """One discovered file, to load; or None, its outcome settled: unchanged since it was loaded
    (known by its size and time without reading it, else by its hash), unopenable, or a duplicate
    of a file loaded before or earlier in this run (``hashes_this_run``, which this adds to)."""
    relative_path = path.relative_to(landing_dir).as_posix()
    try:
        status = path.stat()
    except OSError as error:
        outcomes[relative_path] = FileRejection(connection, contract, system, relative_path, loaded_at)(
            _cannot_read(relative_path, error), "", 0
        )
        return None
    signature = (status.st_size, status.st_mtime_ns)
    known = known_content_hash(connection, contract.entity, relative_path, *signature)
    if known is not None and is_recorded(connection, contract.entity, relative_path, known):
        outcomes[relative_path] = FileLoadResult(relative_path, "unchanged")  # not even read
        return None
    try:
        landing_file = open_landing_file(path, landing_dir, mapping)
    except (UnreadableFileError, OSError) as error:
        message = str(error) if isinstance(error, UnreadableFileError) else _cannot_read(relative_path, error)
        outcomes[relative_path] = FileRejection(connection, contract, system, relative_path, loaded_at)(
            message, "", path.stat().st_size
        )
        return None
    content_hash = landing_file.content_hash
    if is_recorded(connection, contract.entity, relative_path, content_hash):
        remember_signature(connection, contract.entity, relative_path, *signature, content_hash)
        outcomes[relative_path] = FileLoadResult(relative_path, "unchanged")
        return None
    original = loaded_under(connection, contract.entity, content_hash) or hashes_this_run.get(content_hash)
    if original is not None:
        _record_duplicate(
            connection, contract, system, relative_path, content_hash, len(landing_file.content), original, loaded_at
        )
        remember_signature(connection, contract.entity, relative_path, *signature, content_hash)
        outcomes[relative_path] = FileLoadResult(relative_path, "duplicate", duplicate_of=original)
        return None
    hashes_this_run[content_hash] = relative_path
    return PlannedFile(system, mapping, landing_file, signature)


def _prepare(planned: PlannedFile, contract: EntityContract, scratch: CsvScratch, loaded_at: datetime) -> PreparedFile:
    """Read and validate one file (in the worker thread: no warehouse access here)."""
    landing_file = planned.landing_file
    identity = (planned.system, planned.relative_path, planned.content_hash, planned.size_bytes, planned.signature)
    try:
        text = read_as_text(landing_file, planned.mapping, scratch)
        rows = validate_rows(text, contract, landing_file.relative_path, planned.mapping, loaded_at)
        return PreparedFile(*identity, rows=rows)
    except (UnreadableFileError, ContractViolationError) as error:
        return PreparedFile(*identity, error=str(error))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # whatever one file does, the other files still load
        # BaseException: a panic inside polars or DuckDB's Rust/C++ (pyo3's PanicException) is not
        # an Exception, and must reject this file rather than stop the whole load.
        logger.exception("reading %s failed", planned.relative_path)
        return PreparedFile(*identity, error=_cannot_read(planned.relative_path, error))


def _cannot_read(relative_path: str, error: BaseException) -> str:
    """A rejection for an error no reader anticipated: the file, and the cause in one line."""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{relative_path}: cannot be read ({type(error).__name__}: {first_line})"


def _commit(
    connection: duckdb.DuckDBPyConnection, contract: EntityContract, batch: list[PreparedFile], loaded_at: datetime
) -> dict[str, FileLoadResult]:
    """Write whole files and their ledger rows in one transaction."""
    loaded = _raw_rows(contract, batch, loaded_at)
    quarantined = _quarantine_rows(contract, batch, loaded_at)
    column_list = ", ".join(quote_identifier(name) for name in loaded.columns)
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.register("incoming_rows", loaded.to_arrow())
        connection.execute(f"INSERT INTO {contract.raw_table} ({column_list}) SELECT {column_list} FROM incoming_rows")
        connection.unregister("incoming_rows")
        if quarantined.height:
            connection.register("incoming_quarantine", quarantined.to_arrow())
            connection.execute(f"INSERT INTO {QUARANTINE_TABLE} SELECT * FROM incoming_quarantine")
            connection.unregister("incoming_quarantine")
        for item in batch:
            _record_loaded(connection, contract, item, loaded_at)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return {item.relative_path: _loaded_outcome(item) for item in batch}


def _raw_rows(contract: EntityContract, batch: list[PreparedFile], loaded_at: datetime) -> pl.DataFrame:
    """The batch's loaded rows as the raw table holds them: each with its file and load time."""
    return pl.concat(
        [
            item.rows.loaded.with_columns(
                pl.lit(item.relative_path).alias("_source_file"),
                pl.lit(loaded_at).cast(pl.Datetime("us")).alias("_loaded_at"),
            ).select(*contract.column_names, EXTRA_COLUMNS, "_source_file", "_source_line", "_loaded_at")
            for item in batch
        ]
    )


def _quarantine_rows(contract: EntityContract, batch: list[PreparedFile], loaded_at: datetime) -> pl.DataFrame:
    """The batch's quarantined rows in the quarantine table's columns, in its order."""
    return pl.concat(
        [
            item.rows.quarantined.select(
                pl.lit(contract.entity).alias("entity"),
                pl.lit(item.relative_path).alias("source_file"),
                pl.col("_source_line").alias("source_line"),
                pl.col(QUARANTINE_REASON).alias("reason"),
                pl.col("_raw_record").alias("raw_record"),
                pl.lit(item.content_hash).alias("content_hash"),
                pl.lit(loaded_at).cast(pl.Datetime("us")).alias("quarantined_at"),
            )
            for item in batch
        ]
    )


def _record_loaded(
    connection: duckdb.DuckDBPyConnection, contract: EntityContract, item: PreparedFile, loaded_at: datetime
) -> None:
    """The file's ledger row and signature, inside the caller's transaction."""
    rows = item.rows
    # A file rejected earlier and now loadable (e.g. a fixed config) keeps one ledger row.
    connection.execute(
        f"DELETE FROM {LEDGER_TABLE} WHERE entity = ? AND source_file = ? AND status IN ('rejected', 'skipped')",
        [contract.entity, item.relative_path],
    )
    connection.execute(
        f"INSERT INTO {LEDGER_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'loaded', NULL, ?, ?)",
        [
            contract.entity,
            item.system,
            item.relative_path,
            item.content_hash,
            item.size_bytes,
            rows.loaded.height + rows.quarantined.height,
            rows.loaded.height,
            rows.quarantined.height,
            rows.extra_columns,
            loaded_at,
        ],
    )
    remember_signature(connection, contract.entity, item.relative_path, *item.signature, item.content_hash)


def _loaded_outcome(item: PreparedFile) -> FileLoadResult:
    """What happened to a committed file, with a warning when some of its rows were quarantined."""
    rows = item.rows
    if rows.quarantined.height:
        logger.warning(
            "%s: %d of %d rows quarantined (see %s)",
            item.relative_path,
            rows.quarantined.height,
            rows.loaded.height + rows.quarantined.height,
            QUARANTINE_TABLE,
        )
    return FileLoadResult(
        source_file=item.relative_path,
        status="loaded",
        rows_read=rows.loaded.height + rows.quarantined.height,
        rows_loaded=rows.loaded.height,
        rows_quarantined=rows.quarantined.height,
        extra_columns=tuple(rows.extra_columns),
    )


def _record_duplicate(
    connection: duckdb.DuckDBPyConnection,
    contract: EntityContract,
    system: str,
    relative_path: str,
    content_hash: str,
    size_bytes: int,
    original: str,
    loaded_at: datetime,
) -> None:
    """A file delivered again under another name: recorded, not loaded."""
    logger.info("%s has the same content as %s, already loaded: skipped", relative_path, original)
    connection.execute(
        f"INSERT INTO {LEDGER_TABLE} VALUES (?, ?, ?, ?, ?, 0, 0, 0, 'duplicate', ?, NULL, ?)",
        [contract.entity, system, relative_path, content_hash, size_bytes, f"same content as {original}", loaded_at],
    )


@dataclass(frozen=True)
class FileRejection:
    """Records a file that is not loaded as a whole (rejected: it cannot be read; skipped: it is
    not read on purpose), with the reason; every other file still loads. A file keeps one such
    ledger row however often it is seen."""

    connection: duckdb.DuckDBPyConnection
    contract: EntityContract
    system: str
    relative_path: str
    loaded_at: datetime
    status: str = "rejected"

    def __call__(self, error: str, content_hash: str, size_bytes: int) -> FileLoadResult:
        if self.status == "rejected":
            logger.error("rejected %s", error)
        else:
            logger.warning("skipped %s", error)
        self.connection.execute("BEGIN TRANSACTION")
        self.connection.execute(
            f"DELETE FROM {LEDGER_TABLE} WHERE entity = ? AND source_file = ? AND status IN ('rejected', 'skipped')",
            [self.contract.entity, self.relative_path],
        )
        self.connection.execute(
            f"INSERT INTO {LEDGER_TABLE} VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, NULL, ?)",
            [
                self.contract.entity,
                self.system,
                self.relative_path,
                content_hash,
                size_bytes,
                self.status,
                error,
                self.loaded_at,
            ],
        )
        self.connection.execute("COMMIT")
        return FileLoadResult(source_file=self.relative_path, status=self.status, error=error)
