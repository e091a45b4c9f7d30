"""Data for the tests, made and read independently of the pipeline.

Generated export sets for the tests that need their own (size, seed, period); the exports read
back straight from the files (as the tests compare the warehouse and the models with them);
hand-written export files; and simulated customer activity for the model library's tests.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dagster_project.core.contracts import CONTRACTS
from models_ml.features import CustomerActivity

# How the generator writes times: UTC, to the second.
EXPORT_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"
# Statuses of orders that bring no revenue, as the warehouse's is_revenue_generating says.
NOT_REVENUE = ("cancelled", "returned")


def generate_export_set(tmp_path_factory: pytest.TempPathFactory, name: str, **parameters) -> Path:
    """A generated export set in a temporary folder: ``landing/`` and ``ground_truth/``."""
    from dagster_project.synthetic import generate_exports

    root = tmp_path_factory.mktemp(name)
    generate_exports(out_dir=root / "landing", truth_dir=root / "ground_truth", **parameters)
    return root


def digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by path relative to it."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def write_export(landing: Path, entity: str, name: str, text: str) -> Path:
    """A hand-written export file of ``entity`` in its canonical folder under ``landing``."""
    contract = CONTRACTS[entity]
    path = landing / contract.source / entity / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- the generated exports, read straight from the files ------------------------------------------


def read_export_csvs(folder: Path, key: str) -> pl.DataFrame:
    """Every CSV file of an export folder as text; duplicates of a key are dropped (the first one is kept)."""
    frame = pl.read_csv(sorted(folder.glob("*.csv")), infer_schema=False)
    return frame.unique(subset=key, keep="first", maintain_order=True)


def normalised_email(column: str) -> pl.Expr:
    """An address as the warehouse matches it: trimmed, lower case."""
    return pl.col(column).str.strip_chars().str.to_lowercase()


def export_time(column: str) -> pl.Expr:
    """A generated export's timestamp column, parsed."""
    return pl.col(column).str.strptime(pl.Datetime("us"), EXPORT_TIMESTAMP)


def revenue_orders(landing: Path) -> pl.LazyFrame:
    """The orders of a generated export but the cancelled and returned ones (refund records
    included, with their amounts as exported), one row per order_id (the first delivery), as text."""
    return (
        pl.scan_csv(landing / "sales" / "orders" / "*.csv", infer_schema=False)
        .unique("order_id", keep="first")
        .filter(~pl.col("status").is_in(NOT_REVENUE).fill_null(False))
    )


def load_activity(landing: Path) -> CustomerActivity:
    """The CustomerActivity the warehouse would give, built straight from the exports: email
    events and key-less tickets are matched to a customer by address (only addresses that belong
    to one customer), cancelled and returned orders bring no revenue."""
    customers = read_export_csvs(landing / "sales" / "customers", "customer_id")
    by_email = (
        customers.filter(pl.col("email").is_not_null())
        .select(normalised_email("email").alias("email"), pl.col("customer_id").alias("customer_by_email"))
        .filter(pl.len().over("email") == 1)
    )
    orders = (
        read_export_csvs(landing / "sales" / "orders", "order_id")
        .filter(~pl.col("status").is_in(NOT_REVENUE))
        .select("customer_id", export_time("ordered_at"), pl.col("total_amount").cast(pl.Float64).alias("revenue_usd"))
    )
    first_orders = orders.group_by("customer_id").agg(pl.col("ordered_at").min().alias("first_order_at"))
    known = (
        customers.select("customer_id", export_time("created_at"))
        .join(first_orders, on="customer_id", how="full", coalesce=True)
        .select("customer_id", pl.min_horizontal("created_at", "first_order_at").alias("first_seen_at"))
        .filter(pl.col("first_seen_at").is_not_null())
    )
    schema = {name: pl.String for name in ("event_id", "email", "event_type", "occurred_at", "campaign_id")}
    events = (
        pl.concat(
            pl.read_ndjson(path, schema=schema)
            for path in sorted((landing / "marketing" / "email_events").glob("*.jsonl"))
        )
        .unique(subset="event_id", keep="first", maintain_order=True)
        .with_columns(normalised_email("email").alias("email"))
        .join(by_email, on="email", how="inner")
        .select(pl.col("customer_by_email").alias("customer_id"), "event_type", export_time("occurred_at"))
    )
    tickets = (
        read_export_csvs(landing / "support" / "tickets", "ticket_id")
        .with_columns(normalised_email("requester_email").alias("email"))
        .join(by_email, on="email", how="left")
        .select(
            "ticket_id", pl.coalesce("customer_id", "customer_by_email").alias("customer_id"), export_time("created_at")
        )
        .filter(pl.col("customer_id").is_not_null())
    )
    surveys = (
        read_export_csvs(landing / "support" / "satisfaction_surveys", "survey_id")
        .join(tickets.select("ticket_id", "customer_id"), on="ticket_id", how="inner")
        .select("customer_id", pl.col("score").cast(pl.Float64), export_time("responded_at"))
    )
    return CustomerActivity(
        customers=known, orders=orders, email_events=events, tickets=tickets.drop("ticket_id"), surveys=surveys
    )


# --- simulated customer activity --------------------------------------------------------------------

SIMULATION_START = datetime(2024, 1, 1)


def simulated_activity(customers: int = 400, seed: int = 3) -> CustomerActivity:
    """Customers who buy every few weeks; the disengaged ones open fewer emails and stop buying.
    Every customer is known from before SIMULATION_START + 200 days; a tenth never buy."""
    rng = np.random.default_rng(seed)
    start = SIMULATION_START
    known, orders, emails, tickets, surveys = [], [], [], [], []
    for index in range(customers):
        customer_id = f"C{index:04d}"
        known.append((customer_id, start + timedelta(days=int(rng.integers(-300, 200)))))
        if index % 10 == 0:  # signed up, never bought
            continue
        engaged = rng.random() < 0.6
        stops_at = start + timedelta(days=int(rng.integers(200, 700))) if not engaged else None
        day = int(rng.integers(0, 60))
        while day < 720:
            at = start + timedelta(days=day)
            if stops_at is not None and at >= stops_at:
                break
            orders.append((customer_id, at, float(rng.lognormal(4, 0.5))))
            emails.append((customer_id, "delivered", at - timedelta(days=3)))
            if rng.random() < (0.7 if engaged else 0.15):
                emails.append((customer_id, "opened", at - timedelta(days=2)))
            if not engaged and rng.random() < 0.3:
                tickets.append((customer_id, at + timedelta(days=1)))
                surveys.append((customer_id, 2, at + timedelta(days=3)))
            day += int(rng.integers(14, 60))
    return CustomerActivity(
        customers=pl.DataFrame(known, schema=["customer_id", "first_seen_at"], orient="row"),
        orders=pl.DataFrame(orders, schema=["customer_id", "ordered_at", "revenue_usd"], orient="row"),
        email_events=pl.DataFrame(emails, schema=["customer_id", "event_type", "occurred_at"], orient="row"),
        tickets=pl.DataFrame(tickets, schema=["customer_id", "created_at"], orient="row"),
        surveys=pl.DataFrame(surveys, schema=["customer_id", "score", "responded_at"], orient="row"),
    )


# The churn population, as the README states it: a customer is active (scored) with a revenue-
# generating order in the last 360 days (four 90-day horizons), lapsed without one, a prospect
# who never ordered.
ACTIVE_WITHIN_DAYS = 360


def expected_churn_statuses(activity: CustomerActivity, cutoff: datetime) -> pl.DataFrame:
    """customer_id, status of every customer known before ``cutoff``: worked out from the orders,
    independently of the features."""
    last_orders = (
        activity.orders.filter(pl.col("ordered_at") < cutoff)
        .group_by("customer_id")
        .agg(pl.col("ordered_at").max().alias("last_ordered_at"))
    )
    # Lapsed: the last order is more than 360 whole days before the cutoff.
    lapsed_before = cutoff - timedelta(days=ACTIVE_WITHIN_DAYS + 1)
    return (
        activity.customers.filter(pl.col("first_seen_at") < cutoff)
        .join(last_orders, on="customer_id", how="left")
        .select(
            "customer_id",
            pl.when(pl.col("last_ordered_at").is_null())
            .then(pl.lit("prospect"))
            .when(pl.col("last_ordered_at") <= lapsed_before)
            .then(pl.lit("lapsed"))
            .otherwise(pl.lit("active"))
            .alias("status"),
        )
    )
