"""The dbt project is written in the SQL that DuckDB and Spark share (docs/spark.md): a DuckDB-only
construct in a model, macro or test would build here and break the Spark target. The engine
specific SQL lives in the DuckDB defaults of dispatched macros (``default__*``)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from dagster_project.core.settings import REPOSITORY_ROOT

DBT = REPOSITORY_ROOT / "dbt"

# What DuckDB accepts and Spark SQL does not (or reads differently), and what to write instead.
DUCKDB_ONLY = {
    r"\bqualify\b": "QUALIFY: rank in a CTE with row_number(), then filter",
    r"\bunion\s+(all\s+)?by\s+name\b": "UNION BY NAME: list the columns",
    r"\bmedian\s*\(": "median(): percentile_cont(0.5) within group (order by ...)",
    r"\bstrftime\s*\(": "strftime(): cast(... as string), or a macro of cross_engine.sql",
    r"\bepoch\s*\(": "epoch(): seconds_between()",
    r"\bdate_diff\s*\(": "date_diff(): days_between() or months_between_months()",
    r"\bgenerate_series\s*\(|\bunnest\s*\(|\brange\s*\(": "series: days_from_to() or with_offsets()",
    r"\bto_(days|months|hours|minutes)\s*\(": "to_days() and friends: interval_days() or add_months()",
    r"\bregexp_matches\s*\(": "regexp_matches(): regex_matches()",
    r"regexp_replace\s*\([^)]*'g'\s*\)": "the 'g' flag: regex_remove_all()",
    r"\*\s*exclude\b": "* EXCLUDE: * except (...)",
    r"\^": "^ is a power in DuckDB and a bitwise xor in Spark: power()",
    r"\b(isodow|isoyear|dayname|monthname)\s*\(": "calendar names: the macros of cross_engine.sql",
    r"::": ":: casts: cast(... as ...)",
    r"\bvarchar\b": "varchar (Spark needs a length): string",
    r"\bhash\s*\(": "hash(): row_hashes()",
}

# Constructs that run on DuckDB only, on purpose.
ALLOWED = {
    # The incremental branch: on Spark the model is a table (incremental_materialization()).
    ("models/marts/core/fct_interactions.sql", r"\bunion\s+(all\s+)?by\s+name\b"),
}


def _sql_of(path: Path) -> str:
    """The SQL that reaches an engine: comments, Jinja comments, expressions and statements
    (macros are checked where they are defined) and the bodies of the DuckDB defaults of
    dispatched macros left out."""
    text = path.read_text()
    text = re.sub(r"\{#.*?#\}", " ", text, flags=re.DOTALL)
    text = re.sub(r"\{%-?\s*macro\s+default__.*?\{%-?\s*endmacro\s*-?%\}", " ", text, flags=re.DOTALL)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", text, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", " ", text)


def _project_sql() -> list[Path]:
    files = [path for folder in ("models", "macros", "tests", "snapshots") for path in (DBT / folder).rglob("*.sql")]
    return sorted(path for path in files if path.name != "cross_engine.sql")


def duckdb_only_constructs(path: Path) -> list[str]:
    relative = path.relative_to(DBT).as_posix()
    sql = _sql_of(path)
    return [
        f"{relative}: {advice}"
        for pattern, advice in DUCKDB_ONLY.items()
        if (relative, pattern) not in ALLOWED and re.search(pattern, sql, flags=re.IGNORECASE)
    ]


def test_the_project_has_no_duckdb_only_sql():
    found = [problem for path in _project_sql() for problem in duckdb_only_constructs(path)]
    assert found == []


@pytest.mark.parametrize(
    ("sql", "advice"),
    [
        ("select * from t qualify row_number() over (order by a) = 1", "QUALIFY"),
        ("select x from a union all by name select x from b", "UNION BY NAME"),
        ("select power(2, 2), 2 ^ 2", "xor"),
        ("select cast(a as varchar) -- a comment: varchar", "varchar"),
    ],
)
def test_the_check_finds_duckdb_only_sql(tmp_path, monkeypatch, sql, advice):
    model = tmp_path / "models" / "m.sql"
    model.parent.mkdir()
    model.write_text(sql)
    monkeypatch.setattr(sys.modules[__name__], "DBT", tmp_path)
    assert any(advice in problem for problem in duckdb_only_constructs(model))


def test_comments_jinja_and_duckdb_defaults_are_not_sql(tmp_path, monkeypatch):
    macro = tmp_path / "macros" / "m.sql"
    macro.parent.mkdir()
    macro.write_text(
        "{# qualify #}\n-- median(x)\n{{ strftime_like('a::b') }}\n"
        "{% macro default__f(x) %}date_diff('day', a, b){% endmacro %}\n"
        "{% macro spark__f(x) %}datediff(b, a){% endmacro %}\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "DBT", tmp_path)
    assert duckdb_only_constructs(macro) == []
