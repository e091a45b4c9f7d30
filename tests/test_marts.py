"""Issue 4: the star schema and the analytical marts, checked against the exports and the ground truth.

One pipeline run on the small generated export set (``small_export``) serves most tests: it is
module-scoped, and a copy of the warehouse taken right after it is what the read-only checks
open, so the incremental test can change the live data folder without disturbing them. The
orders-only run and the incremental-versus-full-refresh check add one run each.

Everything the marts are compared with is computed here, independently, in polars from the
export files (deduplicated by key, the last delivery wins) and from the generator's ground truth.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dagster_project.core.contracts import CONTRACTS
from dagster_project.core.settings import REPOSITORY_ROOT, Settings
from tests.generated import normalised_email
from tests.pipeline import assert_same_rows, full_refresh, read_only, run_dbt, run_pipeline, snapshot_tables

pytestmark = pytest.mark.e2e

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
NOT_REVENUE_STATUSES = ("cancelled", "returned", "unknown")
MIN_PRECISION = 0.99
MIN_RECALL = 0.95
RFM_BUCKETS = 5
ANALYSES = sorted((REPOSITORY_ROOT / "dbt" / "analyses").glob("*.sql"))
INCREMENTAL_MODELS = (
    "staging.stg_marketing__email_events",
    "staging.stg_sales__orders",
    "staging.stg_sales__order_lines",
    "intermediate.int_identity_links",
    "intermediate.int_order_lines__costed",
    "marts.fct_orders",
    "marts.fct_order_lines",
    "marts.fct_email_events",
    "marts.fct_interactions",
)
ORDERS_ONLY_MARTS = ("customer_rfm", "cohort_retention", "sales_daily", "customer_360", "customer_profitability")
NEW_ORDERS = 50
NEW_EMAIL_EVENTS = 50


# --- running the pipeline in a data folder of its own -----------------------------------------


def copy_warehouse(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    wal = source.with_name(source.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + ".wal"))
    return target


@dataclass(frozen=True)
class BuiltWarehouse:
    settings: Settings  # the live data folder (the incremental test adds exports to it)
    snapshot: Path  # the warehouse as the first run left it, opened read-only by the checks
    landing: Path  # the export set as generated: never changed
    truth: Path


@pytest.fixture(scope="module")
def built(small_export: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    root = tmp_path_factory.mktemp("marts")
    data_dir = root / "data"
    shutil.copytree(small_export / "landing", data_dir / "landing")
    settings = run_pipeline(data_dir)
    snapshot = copy_warehouse(settings.warehouse_path, root / "after_first_run.duckdb")
    return BuiltWarehouse(
        settings=settings, snapshot=snapshot, landing=small_export / "landing", truth=small_export / "ground_truth"
    )


@pytest.fixture(scope="module")
def orders_only(small_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("orders_only") / "data"
    orders = Path("sales") / "orders"
    shutil.copytree(small_export / "landing" / orders, data_dir / "landing" / orders)
    return run_pipeline(data_dir)


# --- the exports, read independently ---------------------------------------------------------


def read_export(landing: Path, entity: str) -> pl.DataFrame:
    """Every file of an entity as strings, deduplicated by key: the last delivered row wins."""
    contract = CONTRACTS[entity]
    schema = {name: pl.String for name in contract.column_names}
    frames = []
    for path in sorted((landing / contract.source / entity).iterdir()):
        if path.suffix == ".jsonl":
            frames.append(pl.read_ndjson(path, schema=schema))
        elif path.suffix == ".csv":
            frames.append(pl.read_csv(path, schema=schema))
    return pl.concat(frames).unique(subset=list(contract.key), keep="last", maintain_order=True)


def timestamp(column: str) -> pl.Expr:
    return pl.col(column).str.to_datetime(TIMESTAMP_FORMAT, time_unit="us")


def cents(column: str) -> pl.Expr:
    return (pl.col(column).cast(pl.Float64) * 100).round().cast(pl.Int64)


def typed_orders(orders: pl.DataFrame) -> pl.DataFrame:
    """The contract's revenue rules (docs/export_contracts.md), written again independently: a
    refund is status refunded or a negative amount and takes its absolute amount off revenue;
    cancelled and returned orders add nothing, nor does a positive amount of unknown status."""
    status = pl.col("status").str.strip_chars().str.to_lowercase()
    # The export has a status column, so a blank status is 'unknown' and brings no revenue.
    no_revenue = status.is_in(NOT_REVENUE_STATUSES).fill_null(True)
    is_refund = ((status == "refunded").fill_null(False) | (pl.col("total_cents") < 0).fill_null(False)).alias(
        "is_refund"
    )
    return (
        orders.with_columns(timestamp("ordered_at"), cents("total_amount").alias("total_cents"))
        .with_columns(is_refund, (~is_refund & ~no_revenue).alias("is_revenue_generating"))
        .with_columns(
            pl.when(status.is_in(("cancelled", "returned")).fill_null(False))
            .then(0)
            .when(pl.col("is_refund"))
            .then(-pl.col("total_cents").abs())
            .when(no_revenue)
            .then(0)
            .otherwise(pl.col("total_cents"))
            .alias("net_cents")
        )
    )


@dataclass(frozen=True)
class Exports:
    orders: pl.DataFrame  # typed: ordered_at, total_cents, is_revenue_generating, is_refund, net_cents
    email_events: pl.DataFrame
    tickets: pl.DataFrame
    customers: pl.DataFrame

    @property
    def analysis_date(self) -> date:
        """The latest event in the data: orders, email events and tickets."""
        latest = max(
            self.orders["ordered_at"].max(),
            self.email_events.select(timestamp("occurred_at").max()).item(),
            self.tickets.select(timestamp("created_at").max()).item(),
        )
        return latest.date()


@pytest.fixture(scope="module")
def exports(small_export: Path) -> Exports:
    landing = small_export / "landing"
    return Exports(
        orders=typed_orders(read_export(landing, "orders")),
        email_events=read_export(landing, "email_events"),
        tickets=read_export(landing, "tickets"),
        customers=read_export(landing, "customers"),
    )


# --- independent computations of the analytical marts ----------------------------------------


def ntile(buckets: int, rows: int) -> pl.Series:
    """DuckDB's ntile(buckets) over ``rows`` ordered rows: the first rows % buckets get one extra."""
    size, extra = divmod(rows, buckets)
    values = []
    for position in range(rows):
        if position < extra * (size + 1):
            values.append(position // (size + 1) + 1)
        else:
            values.append(extra + (position - extra * (size + 1)) // size + 1)
    return pl.Series(values, dtype=pl.Int64)


def expected_rfm(orders: pl.DataFrame, analysis_date: date) -> pl.DataFrame:
    revenue = pl.col("is_revenue_generating")
    per_customer = (
        orders.filter(revenue | pl.col("is_refund"))
        .group_by("customer_id")
        .agg(
            pl.col("ordered_at").filter(revenue).max().dt.date().alias("last_order_date"),
            revenue.sum().cast(pl.Int64).alias("frequency"),
            pl.col("net_cents").sum().alias("monetary_cents"),
        )
        .filter(pl.col("frequency") > 0)
        .with_columns((pl.lit(analysis_date) - pl.col("last_order_date")).dt.total_days().alias("recency_days"))
    )

    def score(frame: pl.DataFrame, by: str, descending: bool, name: str) -> pl.DataFrame:
        ordered = frame.sort([by, "customer_id"], descending=[descending, False])
        return ordered.with_columns(ntile(RFM_BUCKETS, ordered.height).alias(name))

    scored = score(per_customer, "recency_days", True, "recency_score")
    scored = score(scored, "frequency", False, "frequency_score")
    scored = score(scored, "monetary_cents", False, "monetary_score")
    return scored.sort("customer_id")


def expected_acquisitions(orders: pl.DataFrame, customers: pl.DataFrame) -> pl.DataFrame:
    """customer_id, cohort_month and is_new: the first revenue-generating order, and whether it is an
    acquisition inside the data window (the earliest order's day on). Customers created before that
    day, or without a created_at and first ordering on that very day, may have bought before."""
    window_start = orders["ordered_at"].min().date()
    created = customers.select("customer_id", timestamp("created_at").dt.date().alias("created_on"))
    return (
        orders.filter(pl.col("is_revenue_generating"))
        .group_by("customer_id")
        .agg(pl.col("ordered_at").min().alias("first_order_at"))
        .join(created, on="customer_id", how="left")
        .with_columns(
            pl.col("first_order_at").dt.truncate("1mo").dt.date().alias("cohort_month"),
            pl.when(pl.col("created_on").is_not_null())
            .then(pl.col("created_on") >= window_start)
            .otherwise(pl.col("first_order_at").dt.date() > window_start)
            .alias("is_new"),
        )
    )


def expected_cohorts(orders: pl.DataFrame, customers: pl.DataFrame) -> pl.DataFrame:
    revenue_orders = orders.filter(pl.col("is_revenue_generating") | pl.col("is_refund")).with_columns(
        pl.col("ordered_at").dt.truncate("1mo").dt.date().alias("order_month")
    )
    cohorts = expected_acquisitions(orders, customers).filter("is_new").select("customer_id", "cohort_month")
    sizes = cohorts.group_by("cohort_month").agg(pl.len().cast(pl.Int64).alias("cohort_size"))
    return (
        revenue_orders.join(cohorts, on="customer_id")
        .with_columns(
            (
                (pl.col("order_month").dt.year() - pl.col("cohort_month").dt.year()) * 12
                + pl.col("order_month").dt.month().cast(pl.Int32)
                - pl.col("cohort_month").dt.month().cast(pl.Int32)
            )
            .cast(pl.Int64)
            .alias("months_since_first_order")
        )
        # A refund of an order placed before the customer's first month has no cohort month.
        .filter(pl.col("months_since_first_order") >= 0)
        .group_by("cohort_month", "months_since_first_order")
        .agg(
            pl.col("customer_id")
            .filter(pl.col("is_revenue_generating"))
            .n_unique()
            .cast(pl.Int64)
            .alias("active_customers"),
            pl.col("net_cents").sum().alias("revenue_cents"),
        )
        .filter(pl.col("active_customers") > 0)
        .join(sizes, on="cohort_month")
        .with_columns((pl.col("active_customers") / pl.col("cohort_size")).alias("retention_rate"))
        .sort("cohort_month", "months_since_first_order")
    )


def mart_rfm(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return connection.sql(
        "select customer_id, cast(recency_days as bigint) as recency_days, cast(frequency as bigint) as frequency,"
        " cast(round(monetary_usd * 100) as bigint) as monetary_cents,"
        " cast(recency_score as bigint) as recency_score, cast(frequency_score as bigint) as frequency_score,"
        " cast(monetary_score as bigint) as monetary_score"
        " from marts.customer_rfm order by customer_id"
    ).pl()


def mart_cohorts(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return connection.sql(
        "select cast(cohort_month as date) as cohort_month,"
        " cast(months_since_first_order as bigint) as months_since_first_order,"
        " cast(cohort_size as bigint) as cohort_size, cast(active_customers as bigint) as active_customers,"
        " cast(retention_rate as double) as retention_rate,"
        " cast(round(revenue_usd * 100) as bigint) as revenue_cents"
        " from marts.cohort_retention"
    ).pl()


def assert_cohorts_match(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    """cohort_retention's months with an active customer are those expected_cohorts works out."""
    active = actual.filter(pl.col("active_customers") > 0).sort("cohort_month", "months_since_first_order")
    columns = ["cohort_month", "months_since_first_order", "cohort_size", "active_customers", "revenue_cents"]
    assert_frame_equal(active.select(columns), expected.select(columns))
    assert_frame_equal(
        active.select("retention_rate"), expected.select("retention_rate"), check_exact=False, abs_tol=1e-9
    )


RFM_COLUMNS = [
    "customer_id",
    "recency_days",
    "frequency",
    "monetary_cents",
    "recency_score",
    "frequency_score",
    "monetary_score",
]


def assert_rfm_matches(connection: duckdb.DuckDBPyConnection, orders: pl.DataFrame, analysis_date: date) -> None:
    expected = expected_rfm(orders, analysis_date).select(RFM_COLUMNS)
    actual = mart_rfm(connection)
    assert actual["customer_id"].to_list() == expected["customer_id"].to_list(), "customers in customer_rfm"
    for column in RFM_COLUMNS[1:]:
        differ = actual.join(expected, on="customer_id", suffix="_expected").filter(
            pl.col(column) != pl.col(f"{column}_expected")
        )
        assert differ.is_empty(), f"{column} differs for {differ.height} customers:\n{differ.head(10)}"


# --- reconciliation ---------------------------------------------------------------------------


def test_order_counts_and_revenue_reconcile_with_fct_orders_and_the_sales_marts(built, exports) -> None:
    orders = exports.orders
    all_cents = orders["total_cents"].sum()
    revenue_cents = orders["net_cents"].sum()
    refunds = orders.filter(pl.col("is_refund"))
    refunded_cents = -refunds["net_cents"].sum()
    assert refunds.height > 0 and refunded_cents > 0, "the generated exports hold refunds"
    with read_only(built.snapshot) as connection:
        fct_orders = connection.execute(
            "select count(*), count(distinct order_id), cast(sum(total_amount_usd) * 100 as bigint),"
            " cast(sum(net_revenue_usd) * 100 as bigint), count(*) filter (where is_refund)"
            " from marts.fct_orders"
        ).fetchall()[0]
        sales = {
            mart: connection.execute(
                f"select cast(sum(orders) as bigint), cast(sum(refunds) as bigint),"
                f" cast(sum(revenue_usd) * 100 as bigint), cast(sum(refunded_usd) * 100 as bigint) from marts.{mart}"
            ).fetchall()[0]
            for mart in ("sales_daily", "sales_monthly")
        }
        customer_revenue = {
            mart: connection.execute(
                f"select cast(sum(lifetime_revenue_usd) * 100 as bigint) from marts.{mart}"
            ).fetchall()[0][0]
            for mart in ("customer_360", "dim_customers")
        }
        profitability = connection.execute(
            "select cast(sum(revenue_usd) * 100 as bigint) from marts.customer_profitability"
        ).fetchall()[0][0]
    print(
        f"\nreconciliation: {orders.height} orders, net revenue {revenue_cents / 100:.2f} USD after "
        f"{refunds.height} refunds of {refunded_cents / 100:.2f} (all amounts {all_cents / 100:.2f}); "
        f"fct_orders {fct_orders}; {sales}"
    )
    assert fct_orders == (orders.height, orders.height, all_cents, revenue_cents, refunds.height)
    for mart, (order_count, refund_count, revenue, refunded) in sales.items():
        assert (order_count, refund_count) == (orders.height - refunds.height, refunds.height), mart
        assert (revenue, refunded) == (revenue_cents, refunded_cents), mart
    # Every customer-level revenue figure nets the same refunds.
    assert customer_revenue == {"customer_360": revenue_cents, "dim_customers": revenue_cents}
    assert profitability == revenue_cents


def test_email_sends_reconcile_with_fct_email_events_and_campaign_performance(built, exports) -> None:
    sent = exports.email_events.filter(pl.col("event_type").str.strip_chars().str.to_lowercase() == "sent")
    campaign_sent = sent.filter(pl.col("campaign_id").str.strip_chars().str.len_chars() > 0)
    with read_only(built.snapshot) as connection:
        fct_sent = connection.execute(
            "select count(*) from marts.fct_email_events where event_type = 'sent'"
        ).fetchall()[0][0]
        campaign_performance_sent = connection.execute(
            "select cast(sum(sent) as bigint) from marts.campaign_performance"
        ).fetchall()[0][0]
    print(f"\nemail sends: {sent.height} in the exports, {campaign_sent.height} of them for campaigns")
    assert campaign_sent.height > 0
    assert fct_sent == sent.height
    assert campaign_performance_sent == campaign_sent.height


def test_ticket_counts_reconcile_with_fct_tickets(built, exports) -> None:
    with read_only(built.snapshot) as connection:
        rows, tickets = connection.execute(
            "select count(*), count(distinct ticket_id) from marts.fct_tickets"
        ).fetchall()[0]
    assert rows == tickets == exports.tickets["ticket_id"].n_unique()


# --- identity resolution ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def contact_links(built) -> pl.DataFrame:
    """Ground truth of every email event and ticket next to the customer the warehouse linked."""
    truth = pl.read_csv(built.truth / "contacts_truth.csv", infer_schema=False).with_columns(
        pl.col("is_email_shared") == "true"
    )
    with read_only(built.snapshot) as connection:
        links = connection.sql(
            "select 'email_event' as record_type, email_event_id as record_id,"
            " customer_id as linked_customer_id, identity_id from marts.fct_email_events"
            " union all"
            " select 'ticket', ticket_id, customer_id, identity_id from marts.fct_tickets"
        ).pl()
    assert links.select("record_type", "record_id").is_unique().all()
    missing = truth.join(links, on=["record_type", "record_id"], how="anti")
    assert missing.is_empty(), f"records missing from the marts:\n{missing.head()}"
    return truth.join(links, on=["record_type", "record_id"], how="left", validate="1:1")


def test_identity_resolution_links_records_to_their_true_customer(contact_links) -> None:
    correct = (pl.col("linked_customer_id") == pl.col("true_customer_id")).fill_null(False)
    linked = contact_links.filter(pl.col("linked_customer_id").is_not_null())
    with_customer = contact_links.filter(pl.col("true_customer_id").is_not_null())
    precision = linked.select(correct.mean()).item()
    recall = with_customer.select(correct.mean()).item()
    per_type = (
        contact_links.group_by("record_type")
        .agg(
            pl.len().alias("records"),
            pl.col("true_customer_id").is_not_null().sum().alias("with_true_customer"),
            pl.col("linked_customer_id").is_not_null().sum().alias("linked"),
            correct.sum().alias("linked_correctly"),
        )
        .sort("record_type")
    )
    print(
        f"\nidentity resolution: precision {precision:.4f} ({linked.height} linked records), "
        f"recall {recall:.4f} ({with_customer.height} records with a true customer)\n{per_type}"
    )
    assert precision >= MIN_PRECISION
    assert recall >= MIN_RECALL
    # Prospects are nobody's customer: they stay unknown contacts.
    prospects = contact_links.filter(pl.col("true_customer_id").is_null())
    assert prospects.height > 0 and prospects["linked_customer_id"].null_count() == prospects.height


def test_shared_emails_are_flagged_ambiguous_and_not_linked(built, exports, contact_links) -> None:
    # Shared as the warehouse sees it: the address sits on two exported customer records (a dirty
    # blank can leave only one of them, and then linking to it is right).
    owners = (
        exports.customers.filter(pl.col("email").is_not_null())
        .group_by(normalised_email("email").alias("email_normalized"))
        .agg(pl.col("customer_id").n_unique().alias("owners"))
    )
    shared_addresses = owners.filter(pl.col("owners") > 1)["email_normalized"]
    assert shared_addresses.len() > 0, "the test data has no shared inbox"
    tickets_with_id = exports.tickets.filter(pl.col("customer_id").is_not_null())["ticket_id"]
    by_email_only = contact_links.with_columns(normalised_email("email_as_exported").alias("email_normalized")).filter(
        pl.col("is_email_shared")
        & pl.col("email_normalized").is_in(shared_addresses.implode())
        # a ticket that carries its customer id is linked by the id, which is right
        & ~((pl.col("record_type") == "ticket") & pl.col("record_id").is_in(tickets_with_id.implode()))
    )
    assert by_email_only.height > 0, "no record reaches a shared inbox by email alone"
    linked = by_email_only.filter(pl.col("linked_customer_id").is_not_null())
    assert linked.is_empty(), f"records with a shared email linked to a customer:\n{linked.head()}"

    # Their identity in the bridge is flagged ambiguous and resolves to no customer.
    with read_only(built.snapshot) as connection:
        bridge = connection.sql(
            "select identity_id, customer_id as bridge_customer_id, is_ambiguous from marts.bridge_customer_identities"
        ).pl()
    identities = by_email_only.join(bridge, on="identity_id", how="left")
    wrong = identities.filter(
        pl.col("is_ambiguous").is_null() | ~pl.col("is_ambiguous") | pl.col("bridge_customer_id").is_not_null()
    )
    assert wrong.is_empty(), f"shared emails not flagged ambiguous in bridge_customer_identities:\n{wrong.head()}"
    flagged = set(bridge.join(identities.select("identity_id"), on="identity_id")["identity_id"])
    print(
        f"\nshared inboxes: {shared_addresses.len()} addresses, {by_email_only.height} records reach them by email alone, "
        f"{len(flagged)} ambiguous identities"
    )


# --- RFM and cohorts --------------------------------------------------------------------------


def test_customer_rfm_matches_an_independent_polars_computation(built, exports) -> None:
    with read_only(built.snapshot) as connection:
        assert_rfm_matches(connection, exports.orders, exports.analysis_date)


def test_cohort_retention_matches_an_independent_polars_computation(built, exports) -> None:
    expected = expected_cohorts(exports.orders, exports.customers)
    with read_only(built.snapshot) as connection:
        actual = mart_cohorts(connection)
    assert actual.select("cohort_month", "months_since_first_order").is_unique().all()
    month_zero = actual.filter(pl.col("months_since_first_order") == 0)
    assert month_zero.height == expected["cohort_month"].n_unique()
    assert (month_zero["retention_rate"] == 1.0).all()
    assert (month_zero["active_customers"] == month_zero["cohort_size"]).all()

    assert_cohorts_match(actual, expected)


def test_customers_from_before_the_data_window_are_in_no_cohort_and_never_new(built, exports) -> None:
    """One definition of a new customer: the cohorts' sizes and sales_monthly's / sales_daily's new
    customers count the same acquisitions, and the customers who existed before the export began
    (most of the first month's buyers) are none of them."""
    acquisitions = expected_acquisitions(exports.orders, exports.customers)
    window_start = exports.orders["ordered_at"].min()
    first_month = acquisitions.filter(pl.col("cohort_month") == window_start.date().replace(day=1))
    assert first_month.filter(~pl.col("is_new")).height > first_month.filter("is_new").height > 0
    new = acquisitions.filter("is_new")
    with read_only(built.snapshot) as connection:
        cohort_sizes = dict(
            connection.execute(
                "select cohort_month, cohort_size from marts.cohort_retention where months_since_first_order = 0"
            ).fetchall()
        )
        monthly_new = dict(connection.execute("select date_month, new_customers from marts.sales_monthly").fetchall())
        daily_new = connection.execute("select sum(new_customers) from marts.sales_daily").fetchone()[0]
        statuses = dict(
            connection.execute(
                "select acquisition, count(*) from intermediate.int_customer_acquisition group by 1"
            ).fetchall()
        )
    expected_sizes = dict(new.group_by("cohort_month").len().iter_rows())
    assert cohort_sizes == expected_sizes
    assert {month: count for month, count in monthly_new.items() if count} == expected_sizes
    assert daily_new == new.height == sum(cohort_sizes.values())
    assert statuses == {"in_window": new.height, "before_window": acquisitions.height - new.height}


# --- analyst questions ------------------------------------------------------------------------


def test_there_are_at_least_eight_analyst_questions() -> None:
    assert len(ANALYSES) >= 8, [path.name for path in ANALYSES]


@pytest.mark.parametrize("analysis", ANALYSES, ids=[path.stem for path in ANALYSES])
def test_analyst_question_answers_from_the_marts(built, analysis: Path) -> None:
    with read_only(built.snapshot) as connection:
        rows = connection.execute(analysis.read_text(encoding="utf-8")).fetchall()
    assert rows, f"{analysis.name} returned no row"


# --- orders only ------------------------------------------------------------------------------


def test_orders_alone_build_the_customer_marts(orders_only: Settings, exports) -> None:
    with read_only(orders_only.warehouse_path) as connection:
        counts = {
            mart: connection.execute(f"select count(*) from marts.{mart}").fetchall()[0][0]
            for mart in ORDERS_ONLY_MARTS
        }
        assert all(counts.values()), counts
        # With orders alone the analysis date is the latest order.
        assert_rfm_matches(connection, exports.orders, exports.orders["ordered_at"].max().date())
        # Every customer who placed an order is a customer, each with a row in customer_360.
        assert counts["customer_360"] == exports.orders["customer_id"].n_unique()
        # No customer export, so no creation dates: a customer whose first order falls on the
        # first day of the data may have bought before it; one who first ordered later is new.
        no_customers = exports.customers.clear()
        assert_cohorts_match(mart_cohorts(connection), expected_cohorts(exports.orders, no_customers))


# --- incremental = full refresh ---------------------------------------------------------------


def shifted(column: str, days: pl.Expr) -> pl.Expr:
    return (timestamp(column) + pl.duration(days=days)).dt.strftime(TIMESTAMP_FORMAT)


def write_export(frame: pl.DataFrame, landing: Path, entity: str, name: str) -> None:
    contract = CONTRACTS[entity]
    folder = landing / contract.source / entity
    frame = frame.select(contract.column_names)
    if contract.file_format == "jsonl":
        frame.write_ndjson(folder / f"{name}.jsonl")
    else:
        frame.write_csv(folder / f"{name}.csv")


@dataclass(frozen=True)
class Delivery:
    order_ids: list[str]
    email_event_ids: list[str]
    returned_order_id: str  # re-exported as returned: its lines stop generating revenue
    corrected_line: tuple[str, int, int]  # order_id, line_number, corrected quantity
    clicked_event_id: str  # re-exported as clicked
    new_customer_id: str
    new_customer_email: str  # a recipient nobody had before
    earlier_order: tuple[str, str, str]  # order_id, customer_id, the customer's first order before it
    moved_order: tuple[str, str, str]  # order_id (the first order of the customer it leaves), from, to


def deliver_new_exports(landing: Path) -> Delivery:
    """A later delivery: new orders with their lines and new email events for known contacts,
    half after the last event so far and half late-arriving inside the history, plus a corrected
    re-export of one order (now returned), of one order line (one more unit) and of one email
    event (now a click), and a new customer record whose email so far belonged to nobody: the
    events sent to it, loaded long before, must now link to that customer."""
    orders = read_export(landing, "orders")
    lines = read_export(landing, "order_lines")
    events = read_export(landing, "email_events")
    half_late = pl.when(pl.int_range(pl.len()) % 2 == 0).then(1).otherwise(-45)

    # Orders with lines: refund records are orders of their own without any.
    picked = orders.filter(pl.col("status") != "refunded").sort("ordered_at", "order_id").tail(NEW_ORDERS)
    renamed = picked.select(
        "order_id", (pl.lit("O9") + pl.int_range(pl.len()).cast(pl.String).str.zfill(7)).alias("new_order_id")
    )
    new_orders = (
        picked.join(renamed, on="order_id")
        .with_columns(pl.col("new_order_id").alias("order_id"), shifted("ordered_at", half_late))
        .drop("new_order_id")
    )
    new_lines = lines.join(renamed, on="order_id").with_columns(pl.col("new_order_id").alias("order_id"))
    corrected_order = orders.filter(pl.col("status") == "completed").sort("order_id").head(1)
    corrected_order = corrected_order.with_columns(pl.lit("returned").alias("status"))
    # A late record dated before a customer's first order (it becomes their first order), and a
    # correction that gives another customer's first order to a third: both change is_first_order
    # of orders loaded before.
    repeat_buyers = (
        orders.filter(pl.col("order_id") != corrected_order["order_id"].item())
        .group_by("customer_id")
        .len()
        .filter(pl.col("len") >= 2)
        .sort("customer_id")["customer_id"]
    )
    earlier_customer, moved_from, moved_to = repeat_buyers[0], repeat_buyers[1], repeat_buyers[2]
    earliest_order = (
        orders.filter(pl.col("customer_id") == earlier_customer).sort(timestamp("ordered_at"), "order_id").head(1)
    )
    earlier_order = earliest_order.with_columns(
        pl.lit("O8000001").alias("order_id"), shifted("ordered_at", pl.lit(-30)), pl.lit("completed").alias("status")
    )
    moved_order = (
        orders.filter(pl.col("customer_id") == moved_from)
        .sort(timestamp("ordered_at"), "order_id")
        .head(1)
        .with_columns(pl.lit(moved_to).alias("customer_id"))
    )
    corrected_line = lines.sort("order_id", "line_number", descending=True).head(1)
    corrected_line = corrected_line.with_columns((pl.col("quantity").cast(pl.Int64) + 1).cast(pl.String))

    picked_events = (
        events.filter(pl.col("campaign_id").is_null()).sort("occurred_at", "event_id").tail(NEW_EMAIL_EVENTS)
    )
    new_events = picked_events.with_columns(
        (pl.lit("E9") + pl.int_range(pl.len()).cast(pl.String).str.zfill(8)).alias("event_id"),
        shifted("occurred_at", half_late),
    )
    write_export(
        pl.concat([new_orders, corrected_order, earlier_order, moved_order]), landing, "orders", "orders_late_delivery"
    )
    write_export(
        pl.concat([new_lines.drop("new_order_id"), corrected_line]), landing, "order_lines", "order_lines_late_delivery"
    )
    corrected_event = events.filter(pl.col("event_type") == "opened").sort("event_id").head(1)
    corrected_event = corrected_event.with_columns(pl.lit("clicked").alias("event_type"))
    write_export(pl.concat([new_events, corrected_event]), landing, "email_events", "email_events_late_delivery")

    customers = read_export(landing, "customers")
    known = set(customers["email"].drop_nulls().str.strip_chars().str.to_lowercase())
    recipients = events["email"].drop_nulls().str.strip_chars().str.to_lowercase()
    stranger = sorted(set(recipients) - known)[0]
    new_customer = customers.head(1).with_columns(
        pl.lit("C9000001").alias("customer_id"), pl.lit(stranger).alias("email"), pl.lit(None, pl.String).alias("phone")
    )
    write_export(new_customer, landing, "customers", "customers_late_delivery")
    order_id, line_number, quantity = corrected_line.select("order_id", "line_number", "quantity").row(0)
    return Delivery(
        order_ids=new_orders["order_id"].to_list(),
        email_event_ids=new_events["event_id"].to_list(),
        returned_order_id=corrected_order["order_id"].item(),
        corrected_line=(order_id, int(line_number), int(quantity)),
        clicked_event_id=corrected_event["event_id"].item(),
        new_customer_id="C9000001",
        new_customer_email=stranger,
        earlier_order=("O8000001", earlier_customer, earliest_order["order_id"].item()),
        moved_order=(moved_order["order_id"].item(), moved_from, moved_to),
    )


def snapshot_facts(warehouse: Path) -> dict[str, pl.DataFrame]:
    return snapshot_tables(warehouse, INCREMENTAL_MODELS)


def test_an_incremental_run_after_new_exports_equals_a_full_refresh(built) -> None:
    settings = built.settings
    delivered = deliver_new_exports(settings.landing_dir)
    run_pipeline(settings.data_dir)
    incremental = snapshot_facts(settings.warehouse_path)
    lines = incremental["marts.fct_order_lines"]
    events = incremental["marts.fct_email_events"]
    assert set(delivered.order_ids) <= set(lines["order_id"]), "new orders missing after the incremental run"
    assert set(delivered.email_event_ids) <= set(events["email_event_id"])
    assert events.filter(pl.col("email_event_id") == delivered.clicked_event_id)["event_type"].to_list() == ["clicked"]
    # Events loaded before the customer existed, now linked to them in both facts.
    stranger_events = events.filter(pl.col("email_normalized") == delivered.new_customer_email)
    assert stranger_events.height > 0
    assert set(stranger_events["customer_id"]) == {delivered.new_customer_id}
    linked = incremental["marts.fct_interactions"].filter(
        (pl.col("customer_id") == delivered.new_customer_id) & (pl.col("interaction_channel") == "email")
    )
    assert linked.height == stranger_events.height
    # The corrections won over the rows loaded before them.
    order_id, line_number, quantity = delivered.corrected_line
    corrected = lines.filter((pl.col("order_id") == order_id) & (pl.col("line_number") == line_number))
    assert corrected["quantity"].to_list() == [quantity]
    returned = lines.filter(pl.col("order_id") == delivered.returned_order_id)
    assert returned.height > 0 and not returned["is_revenue_generating"].any()
    # The customers' first orders moved with the late record and the corrected customer.
    orders = incremental["marts.fct_orders"]
    first_orders = dict(orders.filter("is_first_order").select("customer_id", "order_id").iter_rows())
    earlier_order_id, earlier_customer, previous_first = delivered.earlier_order
    assert first_orders[earlier_customer] == earlier_order_id
    assert orders.filter(pl.col("order_id") == previous_first)["is_first_order"].to_list() == [False]
    moved_order_id, moved_from, moved_to = delivered.moved_order
    assert orders.filter(pl.col("order_id") == moved_order_id)["customer_id"].to_list() == [moved_to]
    assert first_orders[moved_from] != moved_order_id
    assert orders.group_by("customer_id").agg(pl.col("is_first_order").sum())["is_first_order"].max() == 1

    result = full_refresh(settings)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    refreshed = snapshot_facts(settings.warehouse_path)
    for name in INCREMENTAL_MODELS:
        assert_same_rows(name, incremental[name], refreshed[name])

    # The reconciliation tests compare fingerprints, not rows: one changed link must fail them.
    with duckdb.connect(str(settings.warehouse_path)) as connection:
        connection.execute(
            "update marts.fct_email_events set customer_id = null where email_event_id = ?",
            [delivered.email_event_ids[0]],
        )
        connection.execute(
            "update marts.fct_interactions set occurred_at = occurred_at + interval 1 second "
            "where interaction_id = (select min(interaction_id) from marts.fct_interactions)"
        )
    tested = run_dbt(
        settings,
        "test",
        "--select",
        "assert_fct_email_events_match_their_sources assert_fct_interactions_match_their_sources",
    )
    assert tested.returncode != 0
    # fct_interactions: the shifted row, and the unlinked event (its source is fct_email_events)
    assert "Got 1 result" in tested.stdout and "Got 2 results" in tested.stdout, tested.stdout[-3000:]
