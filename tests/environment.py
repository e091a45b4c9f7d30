"""Keeping os.environ as each test found it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def restored_environment() -> Iterator[None]:
    """os.environ exactly as it was, on exit: the pipeline exports its settings (data folder,
    DuckDB settings) for dbt, and no test may see what an earlier one exported."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
