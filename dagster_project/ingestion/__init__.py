"""Loading landing files into the DuckDB ``raw`` schema, one entity at a time.

The flow for one file: discover it (:mod:`.landing_files`), read it as text (:mod:`.reading`), check
every row against the export contract (:mod:`.validation`), then write loaded rows,
quarantined rows and the file's ledger entry in one transaction (:mod:`.loader`,
:mod:`.ledger`). Dagster assets only call :func:`load_entity`.
"""

from dagster_project.ingestion.loader import EntityLoadResult, FileLoadResult, load_entity

__all__ = ["EntityLoadResult", "FileLoadResult", "load_entity"]
