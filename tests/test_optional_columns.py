"""Optional means optional all the way down: exports that carry only the required columns, or
leave every optional one empty, build every mart and publish the run.

The small generated export set is rewritten twice: once with the optional columns dropped from
every file, once with them present and blank. Revenue then follows the contract's rules for
missing values (docs/export_contracts.md): no amount counts 0; a blank status is 'unknown' and
brings no revenue, while a file without a status column counts its orders as revenue.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from dagster_project.core.contracts import CONTRACTS
from tests.pipeline import read_only, run_pipeline

pytestmark = pytest.mark.e2e

MARTS = (
    "customer_360",
    "customer_rfm",
    "cohort_retention",
    "sales_monthly",
    "campaign_performance",
    "support_kpis_daily",
)


def rewrite(source: Path, target: Path, *, keep_optional_headers: bool) -> dict[str, int]:
    """The export set with only the required values; returns the unique rows per entity."""
    unique_rows = {}
    for entity, contract in CONTRACTS.items():
        folder = source / contract.source / entity
        if not folder.exists():
            continue
        required = contract.required_columns
        frames = []
        for path in sorted(folder.iterdir()):
            schema = {name: pl.String for name in contract.column_names}
            frame = pl.read_ndjson(path, schema=schema) if path.suffix == ".jsonl" else pl.read_csv(path, schema=schema)
            if keep_optional_headers:
                frame = frame.with_columns(
                    pl.lit(None, pl.String).alias(name) for name in contract.column_names if name not in required
                )
            else:
                frame = frame.select(required)
            (target / contract.source / entity).mkdir(parents=True, exist_ok=True)
            written = target / contract.source / entity / path.name
            frame.write_ndjson(written) if path.suffix == ".jsonl" else frame.write_csv(written)
            frames.append(frame)
        unique_rows[entity] = pl.concat(frames).unique(subset=list(contract.key)).height
    return unique_rows


@pytest.mark.parametrize("layout", ["optional_columns_missing", "optional_columns_blank"])
def test_exports_with_only_the_required_values_build_every_mart(small_export, tmp_path, layout):
    blank = layout == "optional_columns_blank"
    data_dir = tmp_path / "data"
    unique_rows = rewrite(small_export / "landing", data_dir / "landing", keep_optional_headers=blank)
    ordered = pl.read_csv(sorted((data_dir / "landing" / "sales" / "orders").glob("*.csv")), infer_schema=False)
    buyers = ordered["customer_id"].n_unique()
    settings = run_pipeline(data_dir)

    with read_only(settings.serving_path) as connection:
        rows = {mart: connection.execute(f"select count(*) from marts.{mart}").fetchone()[0] for mart in MARTS}
        orders, revenue_generating, unknown, revenue = connection.execute(
            "select count(*), count(*) filter (where is_revenue_generating),"
            " count(*) filter (where status = 'unknown'), sum(net_revenue_usd) from marts.fct_orders"
        ).fetchone()
        monthly_revenue = connection.execute("select sum(revenue_usd) from marts.sales_monthly").fetchone()[0]
        rfm = connection.execute("select count(*), sum(monetary_usd) from marts.customer_rfm").fetchone()
        churn_published = connection.execute(
            "select count(*) from information_schema.tables where table_schema = 'ml'"
            " and table_name = 'churn_scores_current'"
        ).fetchone()[0]
    assert orders == unique_rows["orders"]
    # No amount anywhere: revenue is 0, not missing, in the facts and the marts alike.
    assert (revenue or 0) == 0 and monthly_revenue == 0
    if blank:
        # The status column is there and empty: every order is 'unknown', none brings revenue, so
        # nobody has bought yet: no RFM row, and no churn model to publish (the run says so as a
        # warning and still publishes everything else).
        assert unknown == orders and revenue_generating == 0
        assert rfm[0] == 0 and not churn_published
        # what is built from revenue-generating orders is empty, and everything else is there
        assert rows["customer_rfm"] == rows["cohort_retention"] == 0
        assert all(rows[mart] for mart in MARTS if mart not in ("customer_rfm", "cohort_retention")), rows
    else:
        # No status column at all: the export says nothing against its orders, which count.
        assert unknown == 0 and revenue_generating == orders
        assert rfm[0] > 0 and rfm[1] == 0 and churn_published
        # every order counts, so every customer who ordered has an RFM row
        assert rfm[0] == buyers
        assert all(rows.values()), rows
