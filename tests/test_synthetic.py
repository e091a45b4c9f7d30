"""The synthetic export generator: contract shape, determinism, consistency, dirt and signal.

Small sizes keep the whole module well under the time budget; one generated set is shared by
most tests (module-scoped fixture) because generation is the slow part.
"""

from __future__ import annotations

import csv
import glob
import json
import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from dagster_project.core.contracts import CONTRACTS
from dagster_project.synthetic import GenerationSummary, generate_exports
from dagster_project.synthetic.contact_truth import CONTACT_TRUTH_COLUMNS as CONTACT_COLUMNS
from dagster_project.synthetic.vocabulary import COMMENT_ENDINGS, COMMENTS
from tests.generated import digest, normalised_email

CUSTOMERS = 1500
MONTHS = 12
CHUNK = 600  # three chunks of customers
DIRTY_RATE = 0.02
SEED = 3
END_DATE = date(2026, 10, 31)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
MONEY = re.compile(r"^\d+\.\d{2}$")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> GenerationSummary:
    root = tmp_path_factory.mktemp("synthetic")
    messages: list[str] = []
    summary = generate_exports(
        root / "landing",
        root / "ground_truth",
        customers=CUSTOMERS,
        months=MONTHS,
        seed=SEED,
        end_date=END_DATE,
        dirty_rate=DIRTY_RATE,
        chunk_customers=CHUNK,
        progress=messages.append,
    )
    assert messages, "progress callback was never called"
    return summary


def entity_files(summary: GenerationSummary, entity: str) -> list[Path]:
    contract = CONTRACTS[entity]
    return sorted(Path(p) for p in glob.glob(str(summary.out_dir / contract.source / entity / "*")))


def read_file(path: Path, entity: str) -> pl.DataFrame:
    schema = {name: pl.String for name in CONTRACTS[entity].column_names}
    if path.suffix == ".jsonl":
        return pl.read_ndjson(path, schema=schema)
    return pl.read_csv(path, schema=schema)


def read_entity(summary: GenerationSummary, entity: str, deduplicate: bool = True) -> pl.DataFrame:
    frame = pl.concat([read_file(path, entity) for path in entity_files(summary, entity)])
    return frame.unique(maintain_order=True) if deduplicate else frame


def truth(summary: GenerationSummary, name: str) -> pl.DataFrame:
    return pl.read_csv(summary.truth_dir / name, infer_schema=False)


def timestamps(column: str) -> pl.Expr:
    return pl.col(column).str.to_datetime("%Y-%m-%dT%H:%M:%SZ")


def customers_by_email(summary: GenerationSummary) -> pl.DataFrame:
    """Unambiguous address -> customer map (shared inboxes left out)."""
    customers = read_entity(summary, "customers")
    return (
        customers.filter(pl.col("email").is_not_null())
        .select(normalised_email("email").alias("key"), "customer_id")
        .unique()
        .filter(pl.col("key").is_unique())
    )


# --- shape of the exports -------------------------------------------------------------------


def test_every_entity_has_files_with_the_contract_header(generated: GenerationSummary) -> None:
    for entity, contract in CONTRACTS.items():
        files = entity_files(generated, entity)
        assert files, f"no files for {entity}"
        assert files == sorted(generated.files[entity])
        for path in files:
            if contract.file_format == "jsonl":
                assert path.suffix == ".jsonl"
                with path.open(encoding="utf-8") as handle:
                    for line in handle:
                        assert list(json.loads(line)) == contract.column_names
            else:
                with path.open(newline="", encoding="utf-8") as handle:
                    rows = list(csv.reader(handle))
                assert rows[0] == contract.column_names, path
                assert all(len(row) == len(contract.column_names) for row in rows), path


def test_file_layout_is_one_numbered_file_per_chunk(generated: GenerationSummary) -> None:
    landing = generated.out_dir
    assert (landing / "sales/products/products.csv").is_file()
    assert (landing / "marketing/campaigns/campaigns.csv").is_file()
    names = [path.name for path in entity_files(generated, "customers")]
    # Three chunks plus the catch-up file with the late duplicates of the last chunk.
    assert names == ["customers_0001.csv", "customers_0002.csv", "customers_0003.csv", "customers_0004.csv"]
    assert [p.name for p in entity_files(generated, "email_events")][0] == "email_events_0001.jsonl"
    assert [p.name for p in entity_files(generated, "satisfaction_surveys")][:3] == [
        f"satisfaction_surveys_000{n}.csv" for n in (1, 2, 3)
    ]


def test_values_follow_the_contract(generated: GenerationSummary) -> None:
    for entity, contract in CONTRACTS.items():
        frame = read_entity(generated, entity, deduplicate=False)
        for column in contract.columns:
            values = frame.get_column(column.name)
            if column.required:
                assert values.null_count() == 0, f"{entity}.{column.name} has blanks"
            present = values.drop_nulls()
            if column.accepted_values:
                assert set(present.unique().to_list()) <= set(column.accepted_values), f"{entity}.{column.name}"
            if column.type == "timestamp":
                assert present.str.contains(TIMESTAMP.pattern).all(), f"{entity}.{column.name}"
            if column.type == "integer":
                assert present.str.contains(r"^\d+$").all(), f"{entity}.{column.name}"
    refunds = read_entity(generated, "orders").filter(pl.col("status") == "refunded")
    assert refunds.height and refunds["total_amount"].str.contains(r"^-?\d+\.\d{2}$").all()
    assert refunds["total_amount"].str.starts_with("-").any() and not refunds["total_amount"].str.starts_with("-").all()
    for entity, columns in {
        "orders": ("discount_amount",),
        "order_lines": ("unit_price", "discount_amount"),
        "products": ("list_price", "unit_cost"),
        "campaigns": ("cost",),
    }.items():
        frame = read_entity(generated, entity)
        for column in columns:
            assert frame.get_column(column).drop_nulls().str.contains(MONEY.pattern).all(), f"{entity}.{column}"
    orders = read_entity(generated, "orders")
    assert set(orders["currency"].unique()) == {"USD"}
    window_end = pl.datetime(END_DATE.year, END_DATE.month, END_DATE.day) + pl.duration(days=1)
    pending = orders.filter(pl.col("status") == "pending").select(timestamps("ordered_at"))
    assert pending.height > 0
    assert pending.filter(pl.col("ordered_at") < window_end - pl.duration(days=3)).height == 0


def test_ground_truth_is_written_outside_the_landing_folder(generated: GenerationSummary, tmp_path: Path) -> None:
    names = {path.name for path in generated.truth_files}
    assert names == {
        "customers_truth.csv",
        "contacts_truth.csv",
        "product_affinities.csv",
        "campaign_lift.csv",
        "summary.json",
    }
    for path in generated.truth_files:
        assert path.is_file()
        assert generated.out_dir.resolve() not in path.resolve().parents
    assert not list(generated.out_dir.rglob("*truth*")) and not list(generated.out_dir.rglob("summary.json"))
    with pytest.raises(ValueError):
        generate_exports(tmp_path / "landing", tmp_path / "landing" / "truth", customers=10, months=2)


# --- determinism ----------------------------------------------------------------------------


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    arguments = dict(customers=300, months=6, end_date=END_DATE, chunk_customers=200)
    generate_exports(tmp_path / "a" / "landing", tmp_path / "a" / "truth", seed=5, **arguments)
    generate_exports(tmp_path / "b" / "landing", tmp_path / "b" / "truth", seed=5, **arguments)
    generate_exports(tmp_path / "c" / "landing", tmp_path / "c" / "truth", seed=6, **arguments)
    first, second, other = (digest(tmp_path / name) for name in ("a", "b", "c"))
    assert first == second
    assert first.keys() == other.keys()
    assert first["landing/sales/orders/orders_0001.csv"] != other["landing/sales/orders/orders_0001.csv"]
    assert first["truth/customers_truth.csv"] != other["truth/customers_truth.csv"]


def test_rerun_overwrites_its_own_files_and_removes_stale_ones(tmp_path: Path) -> None:
    landing, truth_dir = tmp_path / "landing", tmp_path / "truth"
    generate_exports(landing, truth_dir, customers=200, months=3, chunk_customers=50)
    foreign = landing / "sales" / "orders" / "from_another_system.csv"
    foreign.write_text("order_id,customer_id,ordered_at\n")
    assert len(list((landing / "sales" / "orders").glob("orders_*.csv"))) == 5
    summary = generate_exports(landing, truth_dir, customers=200, months=3, chunk_customers=500)
    orders = sorted(path.name for path in (landing / "sales" / "orders").glob("orders_*.csv"))
    assert orders == ["orders_0001.csv", "orders_0002.csv"]
    assert foreign.exists()
    assert not [path for path in tmp_path.rglob("*") if path.name.endswith(".partial")]
    fresh = tmp_path / "fresh"
    generate_exports(fresh / "landing", fresh / "truth", customers=200, months=3, chunk_customers=500)
    assert digest(fresh / "truth") == digest(truth_dir)
    assert summary.files["orders"] == [landing / "sales/orders" / name for name in orders]


# --- consistency ----------------------------------------------------------------------------


def test_order_totals_equal_the_sum_of_their_lines(generated: GenerationSummary) -> None:
    orders = read_entity(generated, "orders")
    refunds = orders.filter(pl.col("status") == "refunded")
    orders = orders.filter(pl.col("status") != "refunded")  # refund records have no lines of their own
    # Each refund follows a completed order of the same customer (R + its number) and is at most its total.
    refunded = refunds.with_columns(("O" + pl.col("order_id").str.slice(1)).alias("order_id")).join(
        orders, on="order_id", suffix="_order"
    )
    assert refunded.height == refunds.height and (refunded["status_order"] == "completed").all()
    assert (refunded["customer_id"] == refunded["customer_id_order"]).all()
    assert (refunded["total_amount"].cast(pl.Float64).abs() <= refunded["total_amount_order"].cast(pl.Float64)).all()
    lines = read_entity(generated, "order_lines").with_columns(
        pl.col("quantity").cast(pl.Int64),
        pl.col("line_number").cast(pl.Int64),
        (pl.col("unit_price").cast(pl.Float64) * 100).round().cast(pl.Int64).alias("price_cents"),
        (pl.col("discount_amount").cast(pl.Float64) * 100).round().cast(pl.Int64).alias("discount_cents"),
    )
    per_order = lines.group_by("order_id").agg(
        (pl.col("quantity") * pl.col("price_cents") - pl.col("discount_cents")).sum().alias("net_cents"),
        pl.col("discount_cents").sum().alias("line_discount_cents"),
        pl.len().alias("lines"),
        pl.col("line_number").max().alias("last_line"),
    )
    joined = orders.join(per_order, on="order_id", how="left").with_columns(
        (pl.col("total_amount").cast(pl.Float64) * 100).round().cast(pl.Int64).alias("total_cents"),
        (pl.col("discount_amount").cast(pl.Float64) * 100).round().cast(pl.Int64).alias("discount_cents"),
    )
    assert joined["lines"].null_count() == 0, "an order without lines"
    assert (joined["lines"] == joined["last_line"]).all(), "line numbers are not 1..n"
    assert (joined["total_cents"] == joined["net_cents"]).all()
    assert (joined["discount_cents"] == joined["line_discount_cents"]).all()
    assert set(lines["order_id"].unique()) <= set(orders["order_id"])
    assert lines.select("order_id", "product_id").is_unique().all(), "a product twice in one order"


def test_every_order_customer_exists_and_was_created_before_ordering(generated: GenerationSummary) -> None:
    customers = read_entity(generated, "customers").select("customer_id", timestamps("created_at"))
    first_orders = (
        read_entity(generated, "orders")
        .group_by("customer_id")
        .agg(timestamps("ordered_at").min().alias("first_order"))
    )
    joined = first_orders.join(customers, on="customer_id", how="left")
    assert joined["created_at"].null_count() == 0
    assert (joined["created_at"] <= joined["first_order"]).all()
    tickets = read_entity(generated, "tickets")
    assert set(tickets["customer_id"].drop_nulls()) <= set(customers["customer_id"])
    surveys = read_entity(generated, "satisfaction_surveys")
    assert set(surveys["ticket_id"]) <= set(tickets["ticket_id"])


def test_keys_are_unique_across_chunks_and_match_the_summary(generated: GenerationSummary) -> None:
    summary = json.loads((generated.truth_dir / "summary.json").read_text())
    for entity, contract in CONTRACTS.items():
        raw = read_entity(generated, entity, deduplicate=False)
        deduplicated = raw.unique()
        keys = deduplicated.select(contract.key)
        # Duplicates are exact copies: dropping identical rows leaves every key once.
        assert keys.is_unique().all(), f"{entity}: one key with different values"
        assert raw.height == summary["entities"][entity]["rows_written"] == generated.rows_written[entity]
        assert deduplicated.height == summary["entities"][entity]["unique_keys"] == generated.unique_keys[entity]
    customers = read_entity(generated, "customers")
    assert customers.height == CUSTOMERS
    assert customers["customer_id"].sort().to_list() == [f"C{n:07d}" for n in range(1, CUSTOMERS + 1)]
    truth_ids = truth(generated, "customers_truth.csv")["customer_id"]
    assert truth_ids.to_list() == customers["customer_id"].sort().to_list()


def test_duplicates_come_at_the_dirty_rate_and_some_arrive_late(generated: GenerationSummary) -> None:
    for entity in ("customers", "orders", "order_lines", "email_events", "tickets"):
        raw = generated.rows_written[entity]
        unique = generated.unique_keys[entity]
        share = (raw - unique) / unique
        assert 0.4 * DIRTY_RATE < share < 2.0 * DIRTY_RATE, f"{entity}: duplicate share {share:.4f}"
    for entity in ("orders", "email_events"):
        key = CONTRACTS[entity].key[0]
        seen: dict[str, int] = {}
        late = 0
        for position, path in enumerate(entity_files(generated, entity)):
            for value in read_file(path, entity)[key].to_list():
                if value in seen and seen[value] < position:
                    late += 1
                seen.setdefault(value, position)
        assert late > 0, f"{entity}: no duplicate arrived in a later file"


def test_summary_revenue_equals_the_deduplicated_orders(generated: GenerationSummary) -> None:
    summary = json.loads((generated.truth_dir / "summary.json").read_text())
    orders = read_entity(generated, "orders")
    revenue_cents = int((orders["total_amount"].cast(pl.Float64) * 100).round().cast(pl.Int64).sum())
    assert summary["unique_orders"] == orders.height == generated.unique_orders
    assert round(summary["total_revenue"] * 100) == revenue_cents
    assert generated.total_revenue == summary["total_revenue"]
    assert summary["parameters"] == {
        "seed": SEED,
        "customers": CUSTOMERS,
        "months": MONTHS,
        "end_date": END_DATE.isoformat(),
        "dirty_rate": DIRTY_RATE,
        "chunk_customers": CHUNK,
        "window_start": "2025-11-01",
    }


# --- identity mess --------------------------------------------------------------------------


def test_identity_mess_is_present(generated: GenerationSummary) -> None:
    customers = read_entity(generated, "customers")
    known = set(customers["email"].drop_nulls().str.to_lowercase())
    events = read_entity(generated, "email_events")
    event_emails = events["email"]
    assert (event_emails != event_emails.str.strip_chars()).any(), "no stray spaces"
    assert (event_emails.str.strip_chars() != event_emails.str.strip_chars().str.to_lowercase()).any()
    normalised = set(event_emails.str.strip_chars().str.to_lowercase())
    assert normalised - known, "no email events for prospects"
    tickets = read_entity(generated, "tickets")
    blank_share = tickets["customer_id"].null_count() / tickets.height
    assert 0.2 < blank_share < 0.4
    orphan = tickets.filter(pl.col("customer_id").is_null())
    assert orphan["requester_email"].null_count() == 0
    assert customers["email"].null_count() > 0
    shared = customers.filter(pl.col("email").is_not_null()).group_by(normalised_email("email")).len()
    assert shared.filter(pl.col("len") == 2).height >= 1, "no shared inbox"
    assert shared["len"].max() <= 2


def test_leads_convert_into_customer_emails(generated: GenerationSummary) -> None:
    leads = read_entity(generated, "leads")
    known = set(customers_by_email(generated)["key"])
    converted = leads.filter(pl.col("status") == "converted")
    assert converted.height > 0 and converted["converted_at"].null_count() == 0
    converted_keys = converted.select(normalised_email("email"))["email"]
    # A few customer records lost their email to the dirty blanks.
    assert converted_keys.is_in(list(known)).mean() > 1 - 5 * DIRTY_RATE
    others = leads.filter(pl.col("status") != "converted")
    assert others["converted_at"].null_count() == others.height
    assert not set(others.select(normalised_email("email"))["email"].drop_nulls()) & known


def test_contacts_truth_names_the_customer_behind_every_email_event_and_ticket(generated: GenerationSummary) -> None:
    contacts = pl.read_csv(
        generated.truth_dir / "contacts_truth.csv", schema={name: pl.String for name in CONTACT_COLUMNS}
    )
    assert contacts.columns == list(CONTACT_COLUMNS)
    assert set(contacts["record_type"]) == {"email_event", "ticket"}
    assert contacts.select("record_type", "record_id").is_unique().all()
    assert set(contacts["is_email_shared"]) == {"true", "false"}
    events = read_entity(generated, "email_events").select(pl.col("event_id").alias("record_id"), "email")
    tickets = read_entity(generated, "tickets").select(
        pl.col("ticket_id").alias("record_id"), pl.col("requester_email").alias("email"), "customer_id"
    )
    event_truth = contacts.filter(pl.col("record_type") == "email_event")
    ticket_truth = contacts.filter(pl.col("record_type") == "ticket")
    # Every deduplicated record exactly once, with the address exactly as exported.
    assert sorted(event_truth["record_id"]) == sorted(events["record_id"])
    assert sorted(ticket_truth["record_id"]) == sorted(tickets["record_id"])
    joined_events = event_truth.join(events, on="record_id")
    assert joined_events.height == events.height
    assert (joined_events["email_as_exported"] == joined_events["email"]).all()
    joined_tickets = ticket_truth.join(tickets, on="record_id")
    assert joined_tickets.select(pl.col("email_as_exported").eq_missing(pl.col("email")).all()).item()
    # A ticket that carries its customer id names that customer; every ticket has one.
    assert joined_tickets["true_customer_id"].null_count() == 0
    with_id = joined_tickets.filter(pl.col("customer_id").is_not_null())
    assert (with_id["true_customer_id"] == with_id["customer_id"]).all()

    customers = read_entity(generated, "customers").filter(pl.col("email").is_not_null())
    owners = customers.group_by(normalised_email("email").alias("key")).agg(
        pl.col("customer_id").alias("owners"), pl.len().alias("owner_count")
    )
    records = (
        contacts.filter(pl.col("email_as_exported").is_not_null())
        .with_columns(normalised_email("email_as_exported").alias("key"))
        .join(owners, on="key", how="left")
    )
    # Prospects: no customer has their address, and they have no true customer.
    prospects = records.filter(pl.col("true_customer_id").is_null())
    assert prospects.height > 0 and (prospects["record_type"] == "email_event").all()
    assert prospects["owners"].null_count() == prospects.height
    assert prospects["key"].str.contains("_").all()
    # Addresses spelled differently from the customer record still belong to the true customer:
    # the normalised address is one of that customer's (only a few lost theirs to dirty blanks).
    customer_records = records.filter(pl.col("true_customer_id").is_not_null())
    mismatched = customer_records.filter(pl.col("email_as_exported") != pl.col("key"))
    assert mismatched.height > 0.2 * customer_records.height
    found = mismatched.filter(pl.col("owners").is_not_null())
    assert found.height > (1 - 5 * DIRTY_RATE) * mismatched.height
    assert found.select(pl.col("owners").list.contains(pl.col("true_customer_id")).all()).item()
    # Shared inboxes: flagged exactly when the address sits on two customer records.
    exported_twice = customer_records.filter(pl.col("owner_count") == 2)
    assert exported_twice.height > 0 and (exported_twice["is_email_shared"] == "true").all()
    shared = customer_records.filter(pl.col("is_email_shared") == "true")
    assert shared["owner_count"].drop_nulls().is_in([1, 2]).all()
    single = customer_records.filter(pl.col("is_email_shared") == "false")
    assert (single["owner_count"].drop_nulls() == 1).all()


# --- behaviour the models will be scored on -------------------------------------------------


def test_churners_engage_less_and_score_lower_before_churn(generated: GenerationSummary) -> None:
    customer_truth = truth(generated, "customers_truth.csv").with_columns(
        pl.col("churned_at").str.to_date().cast(pl.Datetime("us"))
    )
    events = (
        read_entity(generated, "email_events")
        .with_columns(normalised_email("email").alias("key"), timestamps("occurred_at"))
        .join(customers_by_email(generated), on="key")
        .join(customer_truth, on="customer_id")
        .filter(pl.col("churned_at").is_null() | (pl.col("occurred_at") < pl.col("churned_at")))
    )
    rates = events.group_by("is_churned").agg(
        ((pl.col("event_type") == "opened").sum() / (pl.col("event_type") == "delivered").sum()).alias("open_rate")
    )
    open_rate = dict(rates.iter_rows())
    assert open_rate["true"] < 0.8 * open_rate["false"]

    tickets = read_entity(generated, "tickets").select("ticket_id", "customer_id")
    surveys = (
        read_entity(generated, "satisfaction_surveys")
        .with_columns(pl.col("score").cast(pl.Int64), timestamps("responded_at"))
        .join(tickets, on="ticket_id")
        .join(customer_truth, on="customer_id")
        .filter(pl.col("churned_at").is_null() | (pl.col("responded_at") < pl.col("churned_at")))
    )
    scores = dict(surveys.group_by("is_churned").agg(pl.col("score").mean()).iter_rows())
    assert scores["true"] < scores["false"] - 0.3


def test_survey_comments_match_topic_and_score(generated: GenerationSummary) -> None:
    surveys = read_entity(generated, "satisfaction_surveys").join(
        read_entity(generated, "tickets").select("ticket_id", "category"), on="ticket_id"
    )
    assert surveys["score"].cast(pl.Int64).is_between(1, 5).all()
    with_comment = surveys.filter(pl.col("comment").is_not_null() & pl.col("category").is_not_null())
    assert with_comment.height > 20
    assert with_comment["comment"].str.contains(",").any() and with_comment["comment"].str.contains('"').any()
    for category, score, comment in with_comment.select("category", "score", "comment").iter_rows():
        sentiment = "negative" if int(score) <= 2 else "neutral" if int(score) == 3 else "positive"
        candidates = {t + e for t in COMMENTS[category][sentiment] for e in COMMENT_ENDINGS[sentiment]}
        assert comment in candidates, (category, score, comment)


def test_targeted_customers_buy_the_offer_more_during_the_campaign(generated: GenerationSummary) -> None:
    campaigns = read_entity(generated, "campaigns").with_columns(timestamps("started_at"), timestamps("ended_at"))
    lift = truth(generated, "campaign_lift.csv")
    assert lift["campaign_id"].to_list() == campaigns["campaign_id"].to_list()
    assert (lift["true_purchase_rate_multiplier"].cast(pl.Float64) > 1).all()
    segments = truth(generated, "customers_truth.csv").select("customer_id", "segment")
    sent = (
        read_entity(generated, "email_events")
        .filter(pl.col("event_type") == "sent")
        .with_columns(normalised_email("email").alias("key"), timestamps("occurred_at"))
        .join(customers_by_email(generated), on="key")
    )
    bought = read_entity(generated, "order_lines").join(
        read_entity(generated, "orders").with_columns(timestamps("ordered_at")), on="order_id"
    )
    targeted_buys = targeted_count = holdout_buys = holdout_count = 0
    for campaign in campaigns.iter_rows(named=True):
        targeted = set(sent.filter(pl.col("campaign_id") == campaign["campaign_id"])["customer_id"])
        # Comparable: same segment, on the mailing list (got a newsletter in the month before).
        subscribed = set(
            sent.filter(
                pl.col("campaign_id").is_null()
                & pl.col("occurred_at").is_between(
                    campaign["started_at"] - pl.duration(days=30), campaign["started_at"]
                )
            )["customer_id"]
        )
        in_segment = set(segments.filter(pl.col("segment") == campaign["target_segment"])["customer_id"])
        holdout = (subscribed & in_segment) - targeted
        buyers = bought.filter(
            (pl.col("product_id") == campaign["offer_product_id"])
            & pl.col("ordered_at").is_between(campaign["started_at"], campaign["ended_at"])
        )
        targeted_buys += buyers.filter(pl.col("customer_id").is_in(list(targeted)))["order_id"].n_unique()
        holdout_buys += buyers.filter(pl.col("customer_id").is_in(list(holdout)))["order_id"].n_unique()
        targeted_count += len(targeted)
        holdout_count += len(holdout)
    assert targeted_count and holdout_count
    assert targeted_buys / targeted_count > 1.3 * holdout_buys / holdout_count


def test_truth_files_describe_the_simulation(generated: GenerationSummary) -> None:
    customer_truth = truth(generated, "customers_truth.csv")
    assert customer_truth.columns[:6] == ["customer_id", "segment", "engagement", "value", "is_churned", "churned_at"]
    churned = customer_truth.filter(pl.col("is_churned") == "true")
    assert 0.1 < churned.height / customer_truth.height < 0.6
    assert churned["churned_at"].null_count() == 0
    stayed = customer_truth.filter(pl.col("is_churned") == "false")
    assert stayed["churned_at"].null_count() == stayed.height
    # Churned customers never order after their churn date (a refund may come after it).
    orders = (
        read_entity(generated, "orders").filter(pl.col("status") != "refunded").with_columns(timestamps("ordered_at"))
    )
    late_orders = orders.join(churned.with_columns(pl.col("churned_at").str.to_date()), on="customer_id").filter(
        pl.col("ordered_at").dt.date() > pl.col("churned_at")
    )
    assert late_orders.height == 0
    affinities = truth(generated, "product_affinities.csv").with_columns(pl.col("affinity").cast(pl.Float64))
    categories = set(read_entity(generated, "products")["category"])
    assert set(affinities["category_a"]) == categories and affinities.height == len(categories) ** 2
    pair = affinities.filter((pl.col("category_a") == "cameras") & (pl.col("category_b") == "lenses"))["affinity"][0]
    assert pair > 2 > affinities.filter(pl.col("category_a") != pl.col("category_b"))["affinity"].median()
    # Revenue is concentrated: the top 5% of customers bring well over a quarter of it.
    revenue = (
        orders.group_by("customer_id")
        .agg(pl.col("total_amount").cast(pl.Float64).sum())
        .sort("total_amount", descending=True)["total_amount"]
    )
    assert revenue.head(CUSTOMERS // 20).sum() > 0.25 * revenue.sum()


@pytest.mark.parametrize(("customers", "months", "dirty_rate", "chunk"), [(1, 1, 0.0, 10), (7, 2, 0.3, 3)])
def test_tiny_runs_still_follow_the_contract(
    tmp_path: Path, customers: int, months: int, dirty_rate: float, chunk: int
) -> None:
    summary = generate_exports(
        tmp_path / "landing",
        tmp_path / "truth",
        customers=customers,
        months=months,
        dirty_rate=dirty_rate,
        chunk_customers=chunk,
    )
    assert summary.unique_keys["customers"] == customers
    for entity, contract in CONTRACTS.items():
        for path in summary.files[entity]:
            if contract.file_format == "csv":
                assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(contract.column_names)


# --- the next days of an existing set (simulated nightly deliveries) ------------------------

NEXT_DAY_SET = {"customers": 3000, "months": 3, "seed": 4, "end_date": date(2026, 6, 30)}


@pytest.fixture(scope="module")
def next_days(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    from dagster_project.synthetic.next_day import generate_next_day

    root = tmp_path_factory.mktemp("next_days")
    generate_exports(out_dir=root / "landing", truth_dir=root / "truth", **NEXT_DAY_SET)
    days = [generate_next_day(root / "landing", root / "truth") for _ in range(3)]
    return root / "landing", root / "truth", days


def read_folder(landing: Path, entity: str, pattern: str = "*") -> pl.DataFrame:
    contract = CONTRACTS[entity]
    paths = sorted((landing / contract.source / entity).glob(f"{pattern}.{contract.file_format}"))
    schema = {name: pl.String for name in contract.column_names}
    read = pl.read_ndjson if contract.file_format == "jsonl" else pl.read_csv
    return pl.concat([read(path, schema=schema) for path in paths])


def test_next_days_follow_the_window_and_the_contract(next_days) -> None:
    landing, truth, days = next_days
    assert [day.day for day in days] == [date(2026, 7, 1), date(2026, 7, 2), date(2026, 7, 3)]
    recorded = json.loads((truth / "next_days.json").read_text())["days"]
    assert [entry["day"] for entry in recorded] == ["2026-07-01", "2026-07-02", "2026-07-03"]
    for day in days:
        assert sorted(day.files) == sorted(
            ["customers", "orders", "order_lines", "email_events", "tickets", "satisfaction_surveys", "leads"]
        )
        for entity, path in day.files.items():
            contract = CONTRACTS[entity]
            frame = read_folder(landing, entity, path.stem)
            assert frame.height == day.rows_written[entity]
            for column in contract.columns:
                present = frame.get_column(column.name).drop_nulls()
                if column.required:
                    assert frame.get_column(column.name).null_count() == 0, f"{path.name}: {column.name}"
                if column.accepted_values:
                    assert set(present.unique()) <= set(column.accepted_values), f"{path.name}: {column.name}"
                if column.type == "timestamp":
                    assert present.str.contains(TIMESTAMP.pattern).all(), f"{path.name}: {column.name}"
        orders = read_folder(landing, "orders", day.files["orders"].stem)
        new = orders.filter(pl.col("order_id").str.starts_with(f"O{day.day:%Y%m%d}"))
        assert new.height > 10 and (new["ordered_at"].str.slice(0, 10) == day.day.isoformat()).all()


def test_next_days_continue_the_same_customers_with_fresh_keys(next_days) -> None:
    landing, _, days = next_days
    customers = set(read_folder(landing, "customers")["customer_id"])
    history_customers = set(read_folder(landing, "customers", "customers_0*")["customer_id"])
    for entity, key in (("orders", "order_id"), ("email_events", "event_id"), ("tickets", "ticket_id")):
        history = set(read_folder(landing, entity, f"{entity}_0*")[key])
        for day in days:
            delivered = read_folder(landing, entity, day.files[entity].stem)[key]
            fresh = delivered.filter(delivered.str.contains(f"{day.day:%Y%m%d}"))
            assert fresh.n_unique() == fresh.len() and fresh.len() > 0, entity
            assert not set(fresh) & history, f"{entity}: a new key repeats the history"
    day_orders = read_folder(landing, "orders", "orders_day_*")
    assert set(day_orders["customer_id"]) <= customers
    # mostly the history's customers keep buying; a few new ones place a first order
    assert day_orders["customer_id"].is_in(list(history_customers)).mean() > 0.8
    lines = read_folder(landing, "order_lines", "order_lines_day_*")
    totals = lines.group_by("order_id").agg(
        (pl.col("quantity").cast(pl.Int64) * (pl.col("unit_price").cast(pl.Float64) * 100).round()).sum().alias("cents")
    )
    placed = day_orders.filter(pl.col("order_id").str.starts_with("O2026")).join(totals, on="order_id")
    assert (
        placed.height and ((pl.Series(placed["total_amount"]).cast(pl.Float64) * 100).round() == placed["cents"]).all()
    )


def test_next_days_bring_corrections_and_late_records(next_days) -> None:
    landing, _, days = next_days
    second = read_folder(landing, "orders", days[1].files["orders"].stem)
    first = read_folder(landing, "orders", days[0].files["orders"].stem)
    # pending orders of the first day are re-exported, settled, the next day
    pending_first = set(first.filter(pl.col("status") == "pending")["order_id"])
    settled = second.filter(pl.col("order_id").is_in(list(pending_first)))
    assert settled.height == len(pending_first) > 0
    assert set(settled["status"]) <= {"completed", "cancelled"}
    # tickets opened on one day are re-exported as solved on a later one
    tickets = read_folder(landing, "tickets", "tickets_day_*")
    solved = tickets.filter(pl.col("status") == "solved")
    assert solved.height and solved["resolved_at"].is_not_null().all()
    assert solved["ticket_id"].is_in(tickets.filter(pl.col("status") == "open")["ticket_id"].to_list()).all()
    events = read_folder(landing, "email_events", "email_events_day_*")
    dated = events.with_columns(
        pl.col("occurred_at").str.slice(0, 10).alias("date"), pl.col("event_id").str.slice(1, 8)
    )
    late = dated.filter(pl.col("date") < pl.col("event_id").str.strptime(pl.Date, "%Y%m%d").cast(pl.String))
    assert 0 < late.height < 0.1 * events.height


def test_a_next_day_is_deterministic_and_a_new_set_removes_the_days(tmp_path: Path, next_days) -> None:
    from dagster_project.synthetic.next_day import generate_next_day

    landing, truth, _ = next_days
    generate_exports(out_dir=tmp_path / "landing", truth_dir=tmp_path / "truth", **NEXT_DAY_SET)
    for _ in range(3):
        generate_next_day(tmp_path / "landing", tmp_path / "truth")
    assert digest(tmp_path / "landing") == digest(landing)
    generate_exports(out_dir=tmp_path / "landing", truth_dir=tmp_path / "truth", **NEXT_DAY_SET)
    assert not list((tmp_path / "landing").rglob("*_day_*"))
    assert not (tmp_path / "truth" / "next_days.json").exists()
    with pytest.raises(FileNotFoundError, match="crm generate"):
        generate_next_day(tmp_path / "empty", tmp_path / "no_truth")
