"""Keeping os.environ as each test found it, and finding the tools `make test` installed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from dagster_project.core.settings import REPOSITORY_ROOT


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


def uv_command() -> list[str]:
    """uv, however `make test` found it: `uv run` sets UV; else PATH; else the copy in .tools/bin."""
    if os.environ.get("UV"):
        return [os.environ["UV"]]
    if shutil.which("uv"):
        return [shutil.which("uv")]
    return [str(REPOSITORY_ROOT / ".tools" / "bin" / "uv")]
