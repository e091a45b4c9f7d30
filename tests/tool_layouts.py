"""One company's exports written twice: in the canonical layout, and the way widely used tools
lay them out (the example configs in dagster_project/source_configs/).

The company is the generated export set with its duplicates removed, reshaped into what such
tools can carry:

* web and store orders come from a store platform (Shopify layout: one row per line item,
  order-level fields on the first row, times with the shop's UTC offset, customers by email);
* marketplace orders from a marketplace's order and item reports (Etsy layout: dates without
  a time, buyers known only by their marketplace user id);
* invoiced phone sales that were paid, and every refund, from a payment platform's balance
  report (Stripe layout: charges positive, refunds negative, currency in lower case);
* customers from a CRM contact export keyed by email (HubSpot layout: country names, minutes);
* email activity from an email platform (Mailchimp layout: no event id, no 'delivered' events).

What a layout cannot carry is left out of the canonical set too (a time of day for marketplace
orders, seconds of a contact's creation date, phone orders that never reached the payment
platform), so the two sets hold the same facts and every mart must agree.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl

from dagster_project.core.contracts import CONTRACTS
from dagster_project.ingestion.source_config import BUILT_IN_CONFIG_DIR

TOOL_CONFIGS = ("shopify_style.yml", "etsy_style.yml", "hubspot_style.yml", "mailchimp_style.yml", "stripe_style.yml")
# Entities no tool config here exports: copied in the canonical layout to both sets.
SHARED_ENTITIES = ("products", "campaigns", "leads", "tickets", "satisfaction_surveys")
SHOP_OFFSET = timedelta(hours=-5)  # the shop's time zone, as its export writes times

COUNTRY_NAMES = {
    "US": "United States", "CA": "Canada", "GB": "United Kingdom", "DE": "Germany", "FR": "France",
    "NL": "Netherlands", "AU": "Australia",
}  # fmt: skip
SEGMENT_LABELS = {"consumer": "Consumer", "small_business": "Small Business", "enterprise": "Enterprise"}
SHOPIFY_STATUS = {"completed": "paid", "pending": "pending", "cancelled": "voided", "returned": "refunded"}
SHOPIFY_SOURCE = {"web": "web", "store": "pos"}
ETSY_STATUS = {"completed": "Completed", "pending": "Open", "cancelled": "Canceled", "returned": "Refunded"}
MAILCHIMP_ACTION = {"sent": "sent", "opened": "open", "clicked": "click", "bounced": "bounce", "unsubscribed": "unsub"}


def read_entity(landing: Path, entity: str) -> pl.DataFrame:
    """Every file of an entity in the canonical layout, as text, each key once (the first)."""
    contract = CONTRACTS[entity]
    schema = dict.fromkeys(contract.column_names, pl.String)
    folder = landing / contract.source / entity
    frames = [
        pl.read_ndjson(path, schema=schema) if path.suffix == ".jsonl" else pl.read_csv(path, schema_overrides=schema)
        for path in sorted(folder.iterdir())
    ]
    return (
        pl.concat(frames, how="diagonal")
        .select(contract.column_names)
        .unique(list(contract.key), keep="first", maintain_order=True)
    )


@dataclass(frozen=True)
class Company:
    """The facts both layouts carry, in canonical columns (text, as exports hold them)."""

    customers: pl.DataFrame
    orders: pl.DataFrame  # with a `layout` column: shopify, etsy or stripe
    order_lines: pl.DataFrame
    email_events: pl.DataFrame


def _utc(column: str) -> pl.Expr:
    return pl.col(column).str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_unit="us")


def _iso(expression: pl.Expr) -> pl.Expr:
    return expression.dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def company_from(generated_landing: Path) -> Company:
    customers = read_entity(generated_landing, "customers")
    # Keyed by email, as the store and the CRM know them: an address missing or shared by two
    # records gets one of its own, so that no two customers merge.
    email = pl.col("email").str.strip_chars().str.to_lowercase()
    unique_email = pl.when(email.is_not_null() & (email.count().over(email) == 1)).then(email)
    customers = customers.with_columns(
        pl.coalesce(unique_email, pl.col("customer_id").str.to_lowercase() + "@customers.example").alias("new_id"),
        # The CRM writes creation times to the minute.
        _iso(_utc("created_at").dt.truncate("1m")).alias("created_at"),
    )
    new_id = dict(zip(customers["customer_id"], customers["new_id"], strict=True))
    customers = customers.with_columns(pl.col("new_id").alias("customer_id"), pl.col("new_id").alias("email")).drop(
        "new_id"
    )

    orders = read_entity(generated_landing, "orders")
    by_email = pl.col("customer_id").replace_strict(
        new_id, default=pl.col("customer_id").str.to_lowercase() + "@customers.example"
    )
    is_refund = pl.col("status") == "refunded"
    layout = (
        pl.when(is_refund | (pl.col("channel") == "phone"))
        .then(pl.lit("stripe"))
        .when(pl.col("channel") == "marketplace")
        .then(pl.lit("etsy"))
        .otherwise(pl.lit("shopify"))
    )
    orders = (
        orders.with_columns(layout.alias("layout"), pl.col("order_id").alias("generated_order_id"))
        # A phone order reaches the payment platform only once it is paid.
        .filter((pl.col("layout") != "stripe") | is_refund | (pl.col("status") == "completed"))
        .with_columns(
            pl.when(pl.col("layout") == "etsy")
            .then("9" + pl.col("customer_id").str.replace(r"^\D+", ""))
            .otherwise(by_email)
            .alias("customer_id"),
            pl.when(pl.col("layout") == "etsy")
            .then(_iso(_utc("ordered_at").dt.truncate("1d")))
            .otherwise(pl.col("ordered_at"))
            .alias("ordered_at"),
            # Each platform numbers orders its own way: #1001 in the store, ch_/re_ at the payment platform.
            pl.when(pl.col("layout") == "stripe")
            .then(pl.when(is_refund).then(pl.lit("re_")).otherwise(pl.lit("ch_")) + pl.col("order_id"))
            .when(pl.col("layout") == "shopify")
            .then("#" + (pl.col("order_id").str.replace(r"^\D+", "").cast(pl.Int64) + 1000).cast(pl.String))
            .otherwise(pl.col("order_id"))
            .alias("order_id"),
            pl.when(pl.col("layout") == "stripe").then(pl.lit("phone")).otherwise(pl.col("channel")).alias("channel"),
            # The payment platform writes a refund as a negative amount, and no discount.
            pl.when(is_refund)
            .then("-" + pl.col("total_amount").str.strip_prefix("-"))
            .otherwise(pl.col("total_amount"))
            .alias("total_amount"),
            pl.when(pl.col("layout") == "stripe")
            .then(None)
            .otherwise(pl.col("discount_amount"))
            .alias("discount_amount"),
        )
    )
    order_lines = (
        read_entity(generated_landing, "order_lines")
        .rename({"order_id": "generated_order_id"})
        .join(
            orders.filter(pl.col("layout") != "stripe").select("generated_order_id", "order_id"),
            on="generated_order_id",
        )
        .select(CONTRACTS["order_lines"].column_names)
        .sort("order_id", pl.col("line_number").cast(pl.Int64))
    )

    events = read_entity(generated_landing, "email_events")
    events = (
        events.filter(pl.col("event_type") != "delivered")  # the email platform does not report it
        .with_columns(pl.col("email").str.strip_chars().alias("as_loaded"))
        .unique(["as_loaded", "campaign_id", "event_type", "occurred_at"], keep="first", maintain_order=True)
        .drop("as_loaded")
    )
    return Company(customers=customers, orders=orders, order_lines=order_lines, email_events=events)


def _write_csv(frame: pl.DataFrame, path: Path, separator: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path, separator=separator)


def _copy_shared(generated_landing: Path, landing: Path) -> None:
    for entity in SHARED_ENTITIES:
        contract = CONTRACTS[entity]
        source = generated_landing / contract.source / entity
        if source.exists():
            shutil.copytree(source, landing / contract.source / entity)


def write_canonical(company: Company, generated_landing: Path, landing: Path) -> None:
    for entity in ("customers", "orders", "order_lines", "email_events"):
        contract = CONTRACTS[entity]
        frame = getattr(company, entity).select(contract.column_names)
        path = landing / contract.source / entity / f"{entity}.csv"
        _write_csv(frame, path)
    _copy_shared(generated_landing, landing)


def write_tool_layouts(company: Company, generated_landing: Path, data_dir: Path) -> None:
    """The exports in the tools' layouts under ``data_dir/landing``, and the configs (the
    examples shipped with the product, plus the canonical layout for the shared entities) in
    ``data_dir/sources``."""
    landing, sources = data_dir / "landing", data_dir / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    for name in (*TOOL_CONFIGS, "canonical.yml"):
        shutil.copy(BUILT_IN_CONFIG_DIR / name, sources / name)
    orders, lines = company.orders, company.order_lines
    _write_shopify(orders.filter(pl.col("layout") == "shopify"), lines, landing / "shopify")
    _write_etsy(orders.filter(pl.col("layout") == "etsy"), lines, landing / "etsy")
    _write_stripe(orders.filter(pl.col("layout") == "stripe"), landing / "stripe")
    _write_hubspot(company.customers, landing / "hubspot")
    _write_mailchimp(company.email_events, landing / "mailchimp")
    _copy_shared(generated_landing, landing)


def _write_shopify(orders: pl.DataFrame, lines: pl.DataFrame, folder: Path) -> None:
    local = (_utc("ordered_at") + SHOP_OFFSET).dt.strftime("%Y-%m-%d %H:%M:%S") + " -0500"
    rows = (
        orders.with_columns(local.alias("created"), pl.int_range(pl.len()).alias("order_position"))
        .join(lines, on="order_id", how="inner", suffix="_line")
        .sort("order_position", pl.col("line_number").cast(pl.Int64))
        .with_columns(
            (pl.col("line_number").cast(pl.Int64) == pl.col("line_number").cast(pl.Int64).min().over("order_id")).alias(
                "first"
            )
        )
    )

    def first_row_only(expression: pl.Expr) -> pl.Expr:
        return pl.when(pl.col("first")).then(expression)

    export = rows.select(
        pl.col("order_id").alias("Name"),
        pl.col("customer_id").alias("Email"),
        first_row_only(pl.col("status").replace_strict(SHOPIFY_STATUS)).alias("Financial Status"),
        first_row_only(pl.lit("no")).alias("Accepts Marketing"),
        first_row_only(pl.col("currency")).alias("Currency"),
        first_row_only(pl.col("total_amount")).alias("Subtotal"),
        first_row_only(pl.lit("0.00")).alias("Shipping"),
        first_row_only(pl.lit("0.00")).alias("Taxes"),
        first_row_only(pl.col("total_amount")).alias("Total"),
        first_row_only(pl.col("discount_amount")).alias("Discount Amount"),
        pl.col("created").alias("Created at"),
        pl.col("quantity").alias("Lineitem quantity"),
        ("Product " + pl.col("product_id")).alias("Lineitem name"),
        pl.col("unit_price").alias("Lineitem price"),
        pl.col("product_id").alias("Lineitem sku"),
        pl.lit("true").alias("Lineitem requires shipping"),
        first_row_only(pl.col("channel").replace_strict(SHOPIFY_SOURCE)).alias("Source"),
        pl.col("discount_amount_line").alias("Lineitem discount"),
    )
    # Exports come in pieces; an order never spans two files.
    half = export.filter(pl.col("Financial Status").is_not_null()).height // 2
    order_number = export.select(pl.col("Financial Status").is_not_null().cum_sum()).to_series()
    _write_csv(export.filter(order_number <= half), folder / "orders_export_1.csv")
    _write_csv(export.filter(order_number > half), folder / "orders_export_2.csv")


def _write_etsy(orders: pl.DataFrame, lines: pl.DataFrame, folder: Path) -> None:
    sale_date = _utc("ordered_at").dt.strftime("%m/%d/%y")
    item_count = lines.group_by("order_id").agg(pl.col("quantity").cast(pl.Int64).sum().alias("items"))
    sold_orders = orders.join(item_count, on="order_id", how="left").select(
        sale_date.alias("Sale Date"),
        pl.col("order_id").alias("Order ID"),
        pl.col("customer_id").alias("Buyer User ID"),
        pl.col("items").fill_null(0).alias("Number of Items"),
        pl.lit("Online").alias("Payment Method"),
        pl.col("currency").alias("Currency"),
        pl.col("discount_amount").alias("Discount Amount"),
        pl.lit("0.00").alias("Shipping"),
        pl.lit("0.00").alias("Sales Tax"),
        pl.col("total_amount").alias("Order Total"),
        pl.col("status").replace_strict(ETSY_STATUS).alias("Status"),
        ("buyer" + pl.col("customer_id")).alias("Buyer"),
    )
    items = lines.join(orders.select("order_id", "ordered_at", "currency"), on="order_id").select(
        sale_date.alias("Sale Date"),
        ("Product " + pl.col("product_id")).alias("Item Name"),
        pl.col("quantity").alias("Quantity"),
        pl.col("unit_price").alias("Price"),
        pl.col("discount_amount").alias("Discount Amount"),
        pl.col("currency").alias("Currency"),
        pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(9).alias("Transaction ID"),
        pl.col("order_id").alias("Order ID"),
        pl.col("product_id").alias("SKU"),
    )
    _write_csv(sold_orders, folder / "EtsySoldOrders2025.csv")
    _write_csv(items, folder / "EtsySoldOrderItems2025.csv")


def _write_stripe(orders: pl.DataFrame, folder: Path) -> None:
    report = orders.sort("ordered_at", "order_id").select(
        ("txn_" + pl.col("order_id").str.slice(3)).alias("balance_transaction_id"),
        _utc("ordered_at").dt.strftime("%Y-%m-%d %H:%M:%S").alias("created_utc"),
        pl.col("currency").str.to_lowercase().alias("currency"),
        pl.col("total_amount").alias("gross"),
        pl.lit("0.00").alias("fee"),
        pl.col("total_amount").alias("net"),
        pl.when(pl.col("status") == "refunded")
        .then(pl.lit("refund"))
        .otherwise(pl.lit("charge"))
        .alias("reporting_category"),
        pl.col("order_id").alias("source_id"),
        pl.lit("Invoice payment").alias("description"),
        pl.col("customer_id").alias("customer_email"),
    )
    _write_csv(report, folder / "balance_change_from_activity_itemized_2025.csv")


def _write_hubspot(customers: pl.DataFrame, folder: Path) -> None:
    export = customers.select(
        pl.int_range(100_001, 100_001 + pl.len()).alias("Record ID"),
        pl.col("first_name").alias("First Name"),
        pl.col("last_name").alias("Last Name"),
        pl.col("email").alias("Email"),
        pl.col("phone").alias("Phone Number"),
        pl.col("company_name").alias("Company Name"),
        pl.col("segment").replace_strict(SEGMENT_LABELS, default=None).alias("Customer Segment"),
        pl.col("country").replace_strict(COUNTRY_NAMES, default=None).alias("Country/Region"),
        pl.col("city").alias("City"),
        _utc("created_at").dt.strftime("%Y-%m-%d %H:%M").alias("Create Date"),
        pl.lit("customer").alias("Lifecycle Stage"),
    )
    _write_csv(export, folder / "hubspot-crm-exports-all-contacts-2025.csv")


def _write_mailchimp(events: pl.DataFrame, folder: Path) -> None:
    export = events.select(
        pl.col("email").alias("Email Address"),
        pl.col("campaign_id").alias("Campaign ID"),
        pl.col("event_type").replace_strict(MAILCHIMP_ACTION).alias("Action"),
        _utc("occurred_at").dt.strftime("%Y-%m-%d %H:%M:%S").alias("Timestamp"),
        pl.lit(None, dtype=pl.String).alias("URL"),
    )
    _write_csv(export, folder / "email_activity_2025.csv")
