"""Where landing-file discovery and the readers used to live, kept as a set of aliases.

Finding and opening landing files is :mod:`.landing_files`; reading them as text records is
:mod:`.reading` (one module per reader). The tests import these names from here; the code
imports them from their new homes.
"""

from dagster_project.ingestion.landing_files import LandingFile, UnreadableFileError
from dagster_project.ingestion.reading import CsvScratch, read_as_text
from dagster_project.ingestion.reading.csv_duckdb import read_csv_duckdb as _read_csv_fast
from dagster_project.ingestion.reading.csv_strict import read_csv_strict as _read_csv_strict
from dagster_project.ingestion.reading.csv_vectorised import read_csv_vectorised as _read_csv_vectorised

__all__ = [
    "CsvScratch",
    "LandingFile",
    "UnreadableFileError",
    "_read_csv_fast",
    "_read_csv_strict",
    "_read_csv_vectorised",
    "read_as_text",
]
