"""Generated export sets for the tests that need their own (size, seed, period)."""

from __future__ import annotations

from pathlib import Path

import pytest


def generate_export_set(tmp_path_factory: pytest.TempPathFactory, name: str, **parameters) -> Path:
    """A generated export set in a temporary folder: ``landing/`` and ``ground_truth/``."""
    from dagster_project.synthetic import generate_exports

    root = tmp_path_factory.mktemp(name)
    generate_exports(out_dir=root / "landing", truth_dir=root / "ground_truth", **parameters)
    return root
