"""The example configs for the tools companies use, end to end: one company's exports in the
layouts of a store platform, a marketplace, a CRM, an email platform and a payment platform
(tests/tool_layouts.py), loaded with the configs shipped in dagster_project/source_configs/,
build the same marts as the same facts in the canonical layout.

Two full pipeline runs on the small generated set (600 customers, 18 months).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from tests.pipeline import query_frame, run_pipeline
from tests.tool_layouts import Company, company_from, write_canonical, write_tool_layouts

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def both_layouts(small_export: Path, tmp_path_factory: pytest.TempPathFactory):
    """(company, canonical settings, tool-layout settings), each built by the whole pipeline."""
    root = tmp_path_factory.mktemp("tool_layouts")
    generated = small_export / "landing"
    company = company_from(generated)
    write_canonical(company, generated, root / "canonical" / "landing")
    write_tool_layouts(company, generated, root / "tools")
    canonical = run_pipeline(root / "canonical")
    tools = run_pipeline(root / "tools")
    return company, canonical, tools


def same_in_both(both_layouts, sql: str) -> pl.DataFrame:
    _, canonical, tools = both_layouts
    expected, actual = query_frame(canonical.warehouse_path, sql), query_frame(tools.warehouse_path, sql)
    assert expected.height > 0, sql
    assert actual.equals(expected), f"{sql}\ncanonical:\n{expected}\ntool layouts:\n{actual}"
    return actual


def test_every_row_of_every_tool_export_loads(both_layouts):
    _, _, tools = both_layouts
    ledger = query_frame(
        tools.warehouse_path,
        "select source_system, entity, status, sum(rows_read) as rows_read, sum(rows_quarantined) as quarantined "
        "from raw._file_ledger group by all order by all",
    )
    systems = set(ledger["source_system"])
    assert {"shopify", "etsy", "stripe", "hubspot", "mailchimp"} <= systems, ledger
    assert ledger["status"].to_list() == ["loaded"] * ledger.height, ledger
    assert ledger["quarantined"].sum() == 0, query_frame(tools.warehouse_path, "select * from raw._quarantine limit 5")
    # The store's line-item rows fold into one order each and are read again as lines.
    shopify = ledger.filter(pl.col("source_system") == "shopify")
    assert dict(zip(shopify["entity"], shopify["rows_read"], strict=True)) == {
        "order_lines": both_layouts[0]
        .order_lines.join(both_layouts[0].orders.filter(pl.col("layout") == "shopify"), on="order_id", how="semi")
        .height,
        "orders": both_layouts[0].orders.filter(pl.col("layout") == "shopify").height,
    }


def test_orders_and_their_net_revenue_are_the_same_as_in_the_canonical_layout(both_layouts):
    company: Company = both_layouts[0]
    orders = same_in_both(
        both_layouts,
        "select order_id, customer_id, ordered_at, status, channel, total_amount_usd, discount_amount_usd, "
        "is_refund, is_revenue_generating, net_revenue_usd from marts.fct_orders order by order_id",
    )
    assert orders.height == company.orders.height
    # Net revenue worked out from the exported facts: sales that count, minus every refund.
    facts = company.orders.with_columns(pl.col("total_amount").cast(pl.Decimal(18, 2)).alias("amount"))
    sales = facts.filter(pl.col("status").is_in(["completed", "pending"]))["amount"].sum()
    refunds = facts.filter(pl.col("status") == "refunded")["amount"].abs().sum()
    assert refunds > 0 and facts.filter(pl.col("status") == "returned").height > 0
    assert Decimal(orders["net_revenue_usd"].sum()) == Decimal(sales) - Decimal(refunds)
    by_channel = same_in_both(
        both_layouts, "select channel, sum(net_revenue_usd) as revenue from marts.fct_orders group by 1 order by 1"
    )
    assert by_channel["channel"].to_list() == ["marketplace", "phone", "store", "web"]
    same_in_both(
        both_layouts, "select date_month, orders, revenue_usd, refunded_usd from marts.sales_monthly order by 1"
    )


def test_order_lines_customers_and_email_activity_are_the_same(both_layouts):
    company: Company = both_layouts[0]
    lines = same_in_both(
        both_layouts,
        "select order_id, line_number, product_id, quantity, unit_price_usd, discount_amount_usd "
        "from marts.fct_order_lines order by order_id, line_number",
    )
    assert lines.height == company.order_lines.height
    customers = same_in_both(
        both_layouts,
        "select customer_id, email_normalized, first_name, segment, country_code, city, created_at, "
        "lifetime_order_count, lifetime_revenue_usd from marts.dim_customers order by customer_id",
    )
    # Keyed by email in the CRM, so the store's and the payment platform's customers link to them.
    assert customers.filter(pl.col("customer_id").str.contains("@")).height >= company.customers.height
    assert (customers["customer_id"] == customers["email_normalized"]).sum() >= company.customers.height
    same_in_both(
        both_layouts,
        "select customer_id, lifetime_revenue_usd, revenue_generating_orders, emails_opened, rfm_segment "
        "from marts.customer_360 order by customer_id",
    )
    events = same_in_both(
        both_layouts,
        "select email_normalized, customer_id, campaign_id, event_type, occurred_at from marts.fct_email_events "
        "order by all",
    )
    assert events.height == company.email_events.height
