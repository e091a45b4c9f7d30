"""The import rules of docs/architecture.md: every package imports only the packages below it,
and the plain-Python packages never import Dagster. Read from the source with ``ast``, so a
function-level import counts as much as one at the top of a module."""

from __future__ import annotations

import ast
from pathlib import Path

from dagster_project.core.settings import REPOSITORY_ROOT

# Bottom to top: a package may import its own modules and those of the layers below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("ingestion", "quality", "synthetic", "modelling", "spark"),
    ("serve",),
    ("orchestration",),
    ("assets",),
    ("definitions",),
    ("runner",),
    ("cli",),
)
LAYER_OF = {package: level for level, packages in enumerate(LAYERS) for package in packages}
# Plain Python: testable and usable without Dagster (core's dbt project is the one exception:
# it is dagster-dbt's description of the dbt project).
WITHOUT_DAGSTER = ("ingestion", "quality", "synthetic", "modelling", "spark", "serve", "core")
DAGSTER_ALLOWED = {"dagster_project/core/dbt_project.py"}


def imported_modules(path: Path, root: Path = REPOSITORY_ROOT) -> list[str]:
    """Every module the file imports, relative imports resolved (``from ..contracts`` in
    dagster_project/synthetic/writer.py is dagster_project.contracts)."""
    package = list(path.relative_to(root).with_suffix("").parts[:-1])
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if node.module is None or module == "dagster_project":  # from . import x: x is a module
                modules.extend(f"{module}.{alias.name}" for alias in node.names)
            else:
                modules.append(module)
        elif isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
    return modules


def package_of(path: Path, root: Path = REPOSITORY_ROOT) -> str:
    parts = path.relative_to(root / "dagster_project").parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def project_modules(root: Path = REPOSITORY_ROOT) -> list[Path]:
    return sorted(path for path in (root / "dagster_project").rglob("*.py") if path.name != "__init__.py")


def upward_imports(root: Path = REPOSITORY_ROOT) -> list[str]:
    upward = []
    for path in project_modules(root):
        source = package_of(path, root)
        for module in imported_modules(path, root):
            parts = module.split(".")
            if parts[0] != "dagster_project" or len(parts) < 2:
                continue
            target = parts[1]
            if target != source and LAYER_OF.get(target, len(LAYERS)) >= LAYER_OF.get(source, -1):
                upward.append(f"{path.relative_to(root).as_posix()} imports {module}")
    return upward


def dagster_imports(root: Path = REPOSITORY_ROOT) -> list[str]:
    offenders = []
    for path in project_modules(root):
        relative = path.relative_to(root).as_posix()
        if package_of(path, root) not in WITHOUT_DAGSTER or relative in DAGSTER_ALLOWED:
            continue
        offenders.extend(
            f"{relative} imports {module}"
            for module in imported_modules(path, root)
            if module.split(".")[0] in ("dagster", "dagster_dbt")
        )
    for path in sorted((root / "models_ml").rglob("*.py")):
        offenders.extend(
            f"{path.relative_to(root).as_posix()} imports {module}"
            for module in imported_modules(path, root)
            if module.split(".")[0] in ("dagster", "dagster_dbt", "dagster_project")
        )
    return offenders


def test_every_module_belongs_to_a_layer():
    unplaced = sorted({package_of(path) for path in project_modules()} - set(LAYER_OF))
    assert not unplaced, f"packages or modules in no layer of docs/architecture.md: {unplaced}"


def test_no_import_runs_upward():
    assert not (found := upward_imports()), "imports that run upward or sideways:\n" + "\n".join(found)


def test_plain_python_packages_do_not_import_dagster():
    assert not (found := dagster_imports()), "\n".join(found)


def test_the_rules_catch_upward_and_dagster_imports(tmp_path):
    """The checker itself, on a project of two modules that break both rules."""
    (tmp_path / "dagster_project" / "ingestion").mkdir(parents=True)
    (tmp_path / "dagster_project" / "ingestion" / "bad.py").write_text(
        "import dagster\n\ndef f():\n    from dagster_project.serve.publish import publish\n"
    )
    (tmp_path / "dagster_project" / "synthetic").mkdir()
    (tmp_path / "dagster_project" / "synthetic" / "relative.py").write_text("from ..serve.pii import mask\n")
    (tmp_path / "dagster_project" / "serve").mkdir()
    (tmp_path / "dagster_project" / "serve" / "fine.py").write_text("from dagster_project.core import settings\n")
    (tmp_path / "models_ml").mkdir()
    (tmp_path / "models_ml" / "model.py").write_text("from dagster_project.core.settings import Settings\n")
    assert upward_imports(tmp_path) == [
        "dagster_project/ingestion/bad.py imports dagster_project.serve.publish",
        "dagster_project/synthetic/relative.py imports dagster_project.serve.pii",
    ]
    assert dagster_imports(tmp_path) == [
        "dagster_project/ingestion/bad.py imports dagster",
        "models_ml/model.py imports dagster_project.core.settings",
    ]
