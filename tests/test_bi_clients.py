"""The README's connection settings for BI tools, checked against a published serving file.

Each test runs the client a tool embeds (an older DuckDB, duckdb-engine for Superset,
Evidence's own DuckDB source package) from the package registries, in an isolated environment,
with the settings the README gives. Metabase's driver is a JVM plugin from GitHub, out of reach
here; it embeds DuckDB's JDBC driver, whose releases read what the same Python releases read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.settings import REPOSITORY_ROOT
from tests.environment import uv_command

README = (REPOSITORY_ROOT / "README.md").read_text()
SUPERSET_ENGINE_PARAMETERS = '{"connect_args": {"read_only": true}}'
EVIDENCE_CONNECTION_YAML = "name: crm\ntype: duckdb\noptions:\n  filename: crm.duckdb\n"
# The Evidence source package and version a new Evidence project installs today.
EVIDENCE_DUCKDB_SOURCE = "@evidence-dev/duckdb@2.0.1"


def _isolated_python(packages: list[str], script: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    with_packages = [argument for package in packages for argument in ("--with", package)]
    return subprocess.run(
        [*uv_command(), "run", "--isolated", "--no-project", *with_packages, "python", "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def serving_file(published_pipeline) -> Path:
    settings, _ = published_pipeline
    return settings.serving_path


@pytest.fixture(scope="module")
def rows_per_table(serving_file) -> dict[str, int]:
    with duckdb.connect(str(serving_file), read_only=True) as connection:
        tables = connection.execute(
            "select table_schema || '.' || table_name from information_schema.tables order by 1"
        ).fetchall()
        return {name: connection.execute(f"select count(*) from {name}").fetchone()[0] for (name,) in tables}


@pytest.mark.parametrize("client", ["duckdb==1.4.*", "duckdb==1.5.*"])
def test_older_duckdb_clients_read_every_served_table(client, serving_file, rows_per_table):
    script = textwrap.dedent(
        f"""
        import json, duckdb
        connection = duckdb.connect({str(serving_file)!r}, read_only=True)
        counts = {{name: connection.execute(f"select count(*) from {{name}}").fetchone()[0] for name in {list(rows_per_table)!r}}}
        # Every column type converts, JSON and decimals included.
        for name in {list(rows_per_table)!r}:
            connection.execute(f"select * from {{name}} limit 50").fetchall()
        print(json.dumps({{"version": duckdb.__version__, "counts": counts}}))
        """
    )
    result = _isolated_python([client], script)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["version"].startswith(client.removeprefix("duckdb==").rstrip("*"))
    assert answer["counts"] == rows_per_table
    assert rows_per_table["marts.customer_360"] == 600


def test_superset_settings_read_the_serving_file_and_cannot_write(serving_file, rows_per_table):
    assert SUPERSET_ENGINE_PARAMETERS in README
    assert "duckdb:////absolute/path/to/data/serving/crm.duckdb" in README
    script = textwrap.dedent(
        f"""
        import json, sqlalchemy
        engine = sqlalchemy.create_engine("duckdb:///" + {str(serving_file)!r}, **json.loads({SUPERSET_ENGINE_PARAMETERS!r}))
        with engine.connect() as connection:
            print(connection.execute(sqlalchemy.text("select count(*) from marts.customer_360")).scalar())
        try:
            with engine.connect() as connection:
                connection.execute(sqlalchemy.text("create table marts.scratch (x integer)"))
            print("written")
        except Exception as error:
            print("refused", type(error).__name__)
        """
    )
    # Superset bundles its own DuckDB: the oldest we serve for.
    result = _isolated_python(["duckdb==1.4.*", "duckdb-engine", "sqlalchemy"], script)
    assert result.returncode == 0, result.stderr
    rows, write = result.stdout.splitlines()
    assert int(rows) == rows_per_table["marts.customer_360"]
    assert write.startswith("refused")


def test_evidence_duckdb_source_reads_the_serving_file(serving_file, rows_per_table, tmp_path):
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "node and npm are missing: `make test` installs them (Debian's nodejs and npm)"
    assert EVIDENCE_CONNECTION_YAML in README.replace("```yaml\n", "")

    project = tmp_path / "evidence"
    source = project / "sources" / "crm"
    source.mkdir(parents=True)
    (source / "connection.yaml").write_text(EVIDENCE_CONNECTION_YAML)
    (source / "crm.duckdb").symlink_to(serving_file)  # as the README says: a link in the source folder
    install = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--no-save", EVIDENCE_DUCKDB_SOURCE],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    # What Evidence does with a source folder: read connection.yaml's options, run each query.
    script = textwrap.dedent(
        """
        const fs = require('fs');
        const runQuery = require('@evidence-dev/duckdb');
        const yaml = fs.readFileSync('sources/crm/connection.yaml', 'utf8');
        const filename = /filename:\\s*(\\S+)/.exec(yaml)[1];
        (async () => {
          const result = await runQuery('select count(*) as customers from marts.customer_360',
                                        { filename, directory: 'sources/crm' });
          for await (const batch of result.rows()) { console.log(JSON.stringify(batch)); }
        })().catch((error) => { console.error(error.message); process.exit(1); });
        """
    )
    result = subprocess.run([node, "-e", script], cwd=project, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0]) == [{"customers": rows_per_table["marts.customer_360"]}]


def test_the_readme_python_snippet_runs(serving_file, tmp_path):
    snippet = re.search(r"\*\*Python\*\* \(pandas or polars\):\n\n```python\n(.*?)```", README, re.DOTALL)
    assert snippet, "the README's Python example is missing"
    (tmp_path / "data" / "serving").mkdir(parents=True)
    (tmp_path / "data" / "serving" / "crm.duckdb").symlink_to(serving_file)
    result = subprocess.run(
        [sys.executable, "-c", snippet.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "churn_probability" in result.stdout and "shape: (10, 3)" in result.stdout


def test_mart_descriptions_are_in_the_serving_file_where_bi_tools_read_them(serving_file):
    """dbt's descriptions (persist_docs) reach the catalog of the served file: duckdb_tables() and
    duckdb_columns(), which DBeaver, Metabase and Superset show beside each table and column."""
    import yaml

    documented = [
        model
        for path in sorted((REPOSITORY_ROOT / "dbt" / "models" / "marts").rglob("*.yml"))
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", [])
    ]
    with duckdb.connect(str(serving_file), read_only=True) as connection:
        tables = dict(
            connection.execute("select table_name, comment from duckdb_tables() where schema_name = 'marts'").fetchall()
        )
        columns = {
            (table, column): comment
            for table, column, comment in connection.execute(
                "select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts'"
            ).fetchall()
        }
    wrong = []
    for model in documented:
        if (tables.get(model["name"]) or "").strip() != model["description"].strip():
            wrong.append(f"table {model['name']}: {tables.get(model['name'])!r}")
        for column in model.get("columns", []):
            found = columns.get((model["name"], column["name"]))
            if column.get("description") and (found or "").strip() != column["description"].strip():
                wrong.append(f"column {model['name']}.{column['name']}: {found!r}")
    assert len(documented) >= 20 and not wrong, "\n".join(wrong[:20])
