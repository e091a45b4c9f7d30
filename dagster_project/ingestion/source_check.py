"""A dry run of ingestion for whoever writes a source config: what each file in the landing folder
would become, without touching the warehouse.

For every file: which config (system) and entity matched it, how each canonical column is filled
(a header, a constant, a derivation, or nothing), the first rows as they would load, and the rows
that would be quarantined with their reasons. Files no config matches are listed too, so a glob
that misses is seen at once. The same readers and row rules as the real load, so what the check
says is what `crm build` does (except the ledger: files already loaded are checked again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from dagster_project.core.contracts import CONTRACTS, EntityContract
from dagster_project.ingestion.landing_files import UnreadableFileError, discover_files, open_landing_file
from dagster_project.ingestion.reading import CsvScratch, read_as_text
from dagster_project.ingestion.source_config import (
    EntityMapping,
    active_source_configs,
    mappings_for,
    reads_per_order,
)
from dagster_project.ingestion.validation import ContractViolationError, validate_rows


@dataclass(frozen=True)
class FileCheck:
    relative_path: str
    system: str | None  # None: no config matches the file
    entity: str | None
    outcome: str  # 'would load', 'rejected' (the file as a whole), 'skipped' (not read), 'unmatched'
    columns: list[tuple[str, str]] = field(default_factory=list)  # canonical column, where its values come from
    rows_read: int = 0
    rows_loaded: int = 0
    preview: pl.DataFrame | None = None  # the first rows as they would load
    quarantined: list[tuple[int, str]] = field(default_factory=list)  # (line, reason), the first few
    rows_quarantined: int = 0
    error: str = ""
    per_order: bool = False  # line-item rows folded into one record per order (rows_loaded counts orders)


def column_sources(contract: EntityContract, mapping: EntityMapping, headers: list[str]) -> list[tuple[str, str]]:
    """How each canonical column is filled from this file, in words."""
    described = []
    for name in contract.column_names:
        header = mapping.source_header(name)
        if name in mapping.derived:
            derivation = mapping.derived[name]
            source = f"derived: {derivation.kind} of {', '.join(derivation.referenced_columns())}"
        elif name in mapping.constants:
            source = f"constant {mapping.constants[name]!r}"
        elif header in headers:
            source = f"header {header!r}"
            if name in mapping.values:
                source += f", values mapped ({len(mapping.values[name])})"
            if mapping.line_items is not None and name in mapping.line_items.fill_down:
                source += ", filled down"
            if mapping.line_items is not None and name in mapping.line_items.sum:
                source += ", summed over the order's rows"
        else:
            source = "not in the file (required!)" if name in contract.required_columns else "not in the file"
        described.append((name, source))
    return described


def _check_file(
    path: Path,
    landing_dir: Path,
    system: str,
    mapping: EntityMapping,
    contract: EntityContract,
    scratch: CsvScratch,
    loaded_at: datetime,
    preview_rows: int,
) -> FileCheck:
    relative_path = path.relative_to(landing_dir).as_posix()
    try:
        landing_file = open_landing_file(path, landing_dir, mapping)
        text = read_as_text(landing_file, mapping, scratch)
        headers = [name for name in text.frame.columns if name != "_source_line"]
        columns = column_sources(contract, mapping, headers)
        rows = validate_rows(text, contract, relative_path, mapping, loaded_at)
    except (UnreadableFileError, ContractViolationError, OSError) as error:
        return FileCheck(relative_path, system, contract.entity, "rejected", error=str(error))
    quarantined = rows.quarantined.sort("_source_line")
    return FileCheck(
        relative_path,
        system,
        contract.entity,
        "would load",
        columns=columns,
        rows_read=text.frame.height + text.malformed.height,
        rows_loaded=rows.loaded.height,
        preview=rows.loaded.drop("_extra_columns", strict=False).head(preview_rows),
        quarantined=list(zip(quarantined["_source_line"], quarantined["_quarantine_reason"], strict=True))[
            :preview_rows
        ],
        rows_quarantined=quarantined.height,
        per_order=reads_per_order(mapping, contract.key),
    )


def check_sources(landing_dir: Path, sources_dir: Path, loaded_at: datetime, preview_rows: int = 5) -> list[FileCheck]:
    """Every file of the landing folder, checked against the active configs (a wrong config raises
    SourceConfigError, as the load would). Nothing is written anywhere."""
    configs = active_source_configs(sources_dir)
    checks: list[FileCheck] = []
    matched: set[Path] = set()
    with CsvScratch() as scratch:
        for entity, contract in CONTRACTS.items():
            seen: set[Path] = set()
            for system, mapping in mappings_for(configs, entity):
                discovery = discover_files(landing_dir, mapping)
                for path, reason in discovery.skipped:
                    if path not in seen:
                        seen.add(path)
                        relative_path = path.relative_to(landing_dir).as_posix()
                        checks.append(FileCheck(relative_path, system, entity, "skipped", error=reason))
                for path in discovery.files:
                    if path in seen:  # as in the load: the first config that matches a file reads it
                        continue
                    seen.add(path)
                    checks.append(
                        _check_file(path, landing_dir, system, mapping, contract, scratch, loaded_at, preview_rows)
                    )
            matched |= seen
    for path in sorted(landing_dir.rglob("*")):
        if path.is_file() and not path.name.startswith(".") and path not in matched:
            checks.append(FileCheck(path.relative_to(landing_dir).as_posix(), None, None, "unmatched"))
    return checks
