"""The `scored` marts (customer_360, crm_sync_customers) join the models' current score tables.

No Dagster run and no model training: the small generated export set is loaded into raw.*
with the ingestion loader and dbt builds the project, first without any ml table (the score
columns must be null and the marts still build), then, after the six ml.<table>_current tables
were created here by hand with known values for a few customers (each over a history table
holding an older run too, as dagster_project.core.model_store writes them), once more with
`--select tag:scored`. A copy of the warehouse taken between the two runs is what the unscored
check reads, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.contracts import CONTRACTS
from dagster_project.core.settings import Settings, load_settings
from dagster_project.core.warehouse import connect_warehouse
from dagster_project.ingestion import load_entity
from tests.pipeline import read_only, run_dbt

pytestmark = pytest.mark.e2e

LOADED_AT = datetime(2026, 7, 1, 6, 0)
OLD_RUN_AT = datetime(2026, 6, 1, 2, 0)
CURRENT_RUN_AT = datetime(2026, 7, 1, 2, 0)
SCORE_COLUMNS = (
    "churn_status",
    "churn_probability",
    "churn_risk_band",
    "churn_reason_1",
    "clv_usd",
    "next_best_offer_product_id",
    "next_best_offer_product_name",
    "behaviour_segment_id",
    "behaviour_segment_name",
    "average_feedback_sentiment",
    "churn_model_version",
    "clv_model_version",
)


# --- a warehouse built by dbt alone -------------------------------------------------------------


def dbt_build(settings: Settings, name: str, *selection: str) -> None:
    completed = run_dbt(settings, "build", *selection, name=name)
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-5000:]


def rows(connection: duckdb.DuckDBPyConnection, query: str, parameters: list | None = None) -> list[dict]:
    result = connection.execute(query, parameters or [])
    names = [column[0] for column in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


@dataclass(frozen=True)
class Unscored:
    settings: Settings  # the live data folder: the scored fixture adds the ml views to it
    snapshot: Path  # the warehouse right after the run without ml views


@pytest.fixture(scope="module")
def unscored(small_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Unscored:
    root = tmp_path_factory.mktemp("scored_marts")
    settings = load_settings({"CRM_DATA_DIR": str(root / "data")})
    shutil.copytree(small_export / "landing", settings.landing_dir)
    settings.ensure_directories()
    with connect_warehouse(settings) as connection:
        for contract in CONTRACTS.values():
            load_entity(connection, contract, settings.landing_dir, loaded_at=LOADED_AT)
    # The whole project with its tests (a selection of the scored marts' parents would still
    # pick up tests that read marts outside it).
    dbt_build(settings, "unscored")
    snapshot = root / "before_scores.duckdb"
    shutil.copyfile(settings.warehouse_path, snapshot)
    return Unscored(settings=settings, snapshot=snapshot)


# --- the model views, by hand -------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """What was written into the ml views, and what the marts should make of it."""

    analysis_date: date
    cutoff: datetime
    top: str  # customer with every score (a buyer with an email and a name)
    partial: str  # customer with a churn score and a CLV only (another such buyer)
    unscored: str  # customer in no view (no purchase, no feedback)
    prospect: str  # customer with a churn status of 'prospect' only (no purchase): no probability
    top_product: tuple[str, str]  # product_id, product_name of the top customer's rank 1 offer
    expected_sentiment: float
    partial_clv: float


def publish(connection: duckdb.DuckDBPyConnection, table: str, ddl: str, values: list[tuple]) -> None:
    """A history table ml.<table> and the table of its latest run, as dagster_project.core.model_store writes them."""
    connection.execute(f"create table ml.{table} ({ddl})")
    parameter_marks = ", ".join("?" for _ in ddl.split(","))  # one ? per column
    connection.executemany(f"insert into ml.{table} values ({parameter_marks})", values)
    connection.execute(
        f"create table ml.{table}_current as "
        f"select * from ml.{table} where scored_at = (select max(scored_at) from ml.{table})"
    )


def write_model_views(connection: duckdb.DuckDBPyConnection) -> Scores:
    analysis_date, cutoff = connection.execute(
        "select analysis_date, analysis_cutoff_at from intermediate.int_analysis_date"
    ).fetchone()
    buyers = connection.execute(
        "select customer_id, email_normalized is not null and full_name is not null as is_contactable"
        " from marts.customer_360 where revenue_generating_orders > 0 order by customer_id"
    ).fetchall()
    top, partial = [customer for customer, is_contactable in buyers if is_contactable][:2]
    unscored, prospect = (
        row[0]
        for row in connection.execute(
            "select customer_id from marts.customer_360 where lifetime_order_count = 0 order by customer_id limit 2"
        ).fetchall()
    )
    products = connection.execute(
        "select product_id, product_name from marts.dim_products where product_name is not null"
        " order by product_id limit 3"
    ).fetchall()
    as_of = analysis_date
    connection.execute("create schema ml")

    churn = "customer_id varchar, churn_status varchar, churn_probability double, churn_risk_band varchar, "
    churn += "churn_reason_1 varchar, churn_reason_2 varchar, churn_reason_3 varchar, as_of_date date, "
    churn += "model_version varchar, scored_at timestamp"
    current = (as_of, "churn-v2", CURRENT_RUN_AT)
    publish(
        connection,
        "churn_scores",
        churn,
        [
            # an older run: history only, never read by the marts
            (top, "active", 0.05, "low", None, None, None, as_of - timedelta(days=30), "churn-old", OLD_RUN_AT),
            (top, "active", 0.81, "high", "no order for 200 days", "opens fewer emails", None, *current),
            (partial, "active", 0.12, "low", None, None, None, *current),
            # a prospect has a status and no probability
            (prospect, "prospect", None, None, None, None, None, *current),
        ],
    )

    clv = "customer_id varchar, repeat_purchase_day_count bigint, days_first_to_last_purchase bigint, "
    clv += "days_since_first_purchase bigint, average_repeat_spend_usd double, p_alive double, "
    clv += "expected_purchases_next_365_days double, expected_spend_per_purchase_usd double, "
    clv += "clv_next_365_days_usd double, as_of_date date, model_version varchar, scored_at timestamp"
    # Every buyer gets a CLV (as the model does), in customer order, so the value tiers are known.
    clv_rows = [
        (customer, 1, 14, 21, 40.0, 0.5, 1.0, 40.0, float(index), as_of, "clv-v1", CURRENT_RUN_AT)
        if customer != top
        else (top, 3, 70, 140, 55.5, 0.875, 2.25, 60.0, 12345.678, as_of, "clv-v1", CURRENT_RUN_AT)
        for index, (customer, _) in enumerate(buyers)
    ]
    partial_clv = next(row[8] for row in clv_rows if row[0] == partial)
    publish(connection, "clv_scores", clv, clv_rows)

    offers = "customer_id varchar, offer_rank integer, product_id varchar, score double, reason varchar, "
    offers += "as_of_date date, model_version varchar, scored_at timestamp"
    publish(
        connection,
        "next_best_offers",
        offers,
        [
            # rank 2 first: the best offer is picked by rank, not by row order or score
            (top, 2, products[1][0], 0.9, "popular in garden", as_of, "nbo-v1", CURRENT_RUN_AT),
            (top, 1, products[0][0], 0.7, "bought with a kettle by similar customers", as_of, "nbo-v1", CURRENT_RUN_AT),
            (top, 3, products[2][0], 0.1, "best seller", as_of, "nbo-v1", CURRENT_RUN_AT),
        ],
    )

    segments = "customer_id varchar, segment_id bigint, segment_name varchar, segment_description varchar, "
    segments += "as_of_date date, model_version varchar, scored_at timestamp"
    publish(
        connection,
        "customer_segments",
        segments,
        [(top, 2, "bargain hunters", "buy mostly on discount", as_of, "seg-v1", CURRENT_RUN_AT)],
    )

    feedback = "feedback_id varchar, customer_id varchar, source varchar, text varchar, occurred_at timestamp, "
    feedback += "ticket_category varchar, sentiment_score double, sentiment_label varchar, topic varchar, "
    feedback += "as_of_date date, model_version varchar, scored_at timestamp"
    before, after = cutoff - timedelta(days=3), cutoff + timedelta(hours=1)

    def item(feedback_id: str, customer_id: str | None, text: str | None, at: datetime, score: float | None) -> tuple:
        label = None if score is None else ("positive" if score > 0.05 else "negative" if score < -0.05 else "neutral")
        source = "survey" if text else "ticket"
        return (
            feedback_id,
            customer_id,
            source,
            text,
            at,
            "billing",
            score,
            label,
            "billing",
            as_of,
            "fb-v1",
            CURRENT_RUN_AT,
        )

    publish(
        connection,
        "feedback_scores",
        feedback,
        [
            item("S1", top, "great", before, 0.6),
            item("S2", top, "bad", before, -0.2),
            item("T1", top, None, before, None),  # no text: no sentiment, does not count
            item("S3", top, "awful", after, -0.9),  # after the analysis date: does not count
            item("S4", None, "fine", before, 0.1),  # not resolved to a customer
        ],
    )

    forecast = "month date, forecast_revenue_usd double, lower_80_revenue_usd double, upper_80_revenue_usd double, "
    forecast += "lower_95_revenue_usd double, upper_95_revenue_usd double, "
    forecast += "as_of_date date, model_version varchar, scored_at timestamp"
    publish(
        connection,
        "sales_forecast",
        forecast,
        [(as_of.replace(day=1), 1000.0, 900.0, 1100.0, 800.0, 1200.0, as_of, "fc-v1", CURRENT_RUN_AT)],
    )
    return Scores(
        analysis_date=analysis_date,
        cutoff=cutoff,
        top=top,
        partial=partial,
        unscored=unscored,
        prospect=prospect,
        top_product=products[0],
        expected_sentiment=(0.6 - 0.2) / 2,
        partial_clv=partial_clv,
    )


@dataclass(frozen=True)
class Scored:
    settings: Settings
    scores: Scores
    buyers: int


@pytest.fixture(scope="module")
def scored(unscored: Unscored) -> Scored:
    settings = unscored.settings
    with connect_warehouse(settings) as connection:
        scores = write_model_views(connection)
        buyers = connection.execute("select count(*) from ml.clv_scores_current").fetchone()[0]
    dbt_build(settings, "scored", "--select", "tag:scored")
    return Scored(settings=settings, scores=scores, buyers=buyers)


# --- before any model has run -------------------------------------------------------------------


def test_without_model_views_the_scored_marts_build_with_null_scores(unscored: Unscored) -> None:
    with read_only(unscored.snapshot) as connection:
        customers = connection.execute("select count(*) from marts.dim_customers").fetchone()[0]
        assert customers > 0
        for mart in ("customer_360", "crm_sync_customers"):
            assert connection.execute(f"select count(*) from marts.{mart}").fetchone()[0] == customers, mart
        assert not connection.execute(
            "select count(*) from information_schema.schemata where schema_name = 'ml'"
        ).fetchone()[0]
        counts = connection.execute(
            "select " + ", ".join(f"count({column})" for column in SCORE_COLUMNS) + " from marts.customer_360"
        ).fetchone()
        assert dict(zip(SCORE_COLUMNS, counts, strict=True)) == dict.fromkeys(SCORE_COLUMNS, 0)
        assert connection.execute("select count(value_tier) from marts.crm_sync_customers").fetchone()[0] == 0


# --- with the model views ----------------------------------------------------------------------


def test_customer_360_joins_the_current_model_scores(scored: Scored) -> None:
    scores = scored.scores
    with read_only(scored.settings.warehouse_path) as connection:
        by_customer = {
            row["customer_id"]: row
            for row in rows(
                connection,
                "select * from marts.customer_360 where customer_id in (?, ?, ?, ?)",
                [scores.top, scores.partial, scores.unscored, scores.prospect],
            )
        }
        customers = connection.execute("select count(*) from marts.dim_customers").fetchone()[0]
        assert connection.execute("select count(*) from marts.customer_360").fetchone()[0] == customers

    top = by_customer[scores.top]
    # the current run of the churn model, not the older one kept in the history table
    assert (top["churn_status"], top["churn_probability"], top["churn_risk_band"]) == ("active", 0.81, "high")
    assert (top["churn_reason_1"], top["churn_reason_2"], top["churn_reason_3"]) == (
        "no order for 200 days",
        "opens fewer emails",
        None,
    )
    assert (top["churn_model_version"], top["churn_scored_at"]) == ("churn-v2", CURRENT_RUN_AT)
    assert float(top["clv_usd"]) == pytest.approx(12345.68)
    assert (top["p_alive"], top["expected_purchases_next_12_months"], top["clv_model_version"]) == (
        0.875,
        2.25,
        "clv-v1",
    )
    # offer rank 1, named from dim_products
    assert (top["next_best_offer_product_id"], top["next_best_offer_product_name"]) == scores.top_product
    assert top["next_best_offer_reason"] == "bought with a kettle by similar customers"
    assert top["next_best_offer_model_version"] == "nbo-v1"
    assert (top["behaviour_segment_id"], top["behaviour_segment_name"], top["behaviour_segment_description"]) == (
        2,
        "bargain hunters",
        "buy mostly on discount",
    )
    assert top["behaviour_segment_model_version"] == "seg-v1"
    # feedback with text on or before the analysis date only
    assert top["average_feedback_sentiment"] == pytest.approx(scores.expected_sentiment)
    # the commercial segment is still the sales system's
    assert top["segment"] != "bargain hunters"

    partial = by_customer[scores.partial]
    assert (partial["churn_probability"], partial["churn_risk_band"], partial["churn_reason_1"]) == (0.12, "low", None)
    assert float(partial["clv_usd"]) == pytest.approx(scores.partial_clv)
    assert partial["next_best_offer_product_id"] is None and partial["behaviour_segment_name"] is None
    assert partial["average_feedback_sentiment"] is None

    nothing = by_customer[scores.unscored]
    assert all(nothing[column] is None for column in SCORE_COLUMNS)

    prospect = by_customer[scores.prospect]
    assert prospect["churn_status"] == "prospect"
    assert (prospect["churn_probability"], prospect["churn_risk_band"], prospect["churn_reason_1"]) == (None,) * 3


def test_crm_sync_customers_has_one_row_per_customer_with_the_scores(scored: Scored) -> None:
    scores = scored.scores
    with read_only(scored.settings.warehouse_path) as connection:
        customers = connection.execute("select count(*) from marts.dim_customers").fetchone()[0]
        counts = connection.execute("select count(*), count(distinct customer_id) from marts.crm_sync_customers")
        assert counts.fetchone() == (customers, customers)
        # everything the sync carries is what customer_360 says
        assert not connection.execute(
            """
            select count(*)
            from marts.crm_sync_customers as sync
            join marts.customer_360 as c360 using (customer_id)
            where sync.email is distinct from c360.email_normalized
                or sync.churn_status is distinct from c360.churn_status
                or sync.churn_probability is distinct from c360.churn_probability
                or sync.clv_usd is distinct from c360.clv_usd
                or sync.next_best_offer_product_name is distinct from c360.next_best_offer_product_name
                or sync.behaviour_segment_name is distinct from c360.behaviour_segment_name
                or sync.rfm_segment is distinct from c360.rfm_segment
                or sync.lifetime_revenue_usd is distinct from c360.lifetime_revenue_usd
                or sync.last_order_at is distinct from c360.last_order_at
                or sync.as_of_date is distinct from c360.as_of_date
            """
        ).fetchone()[0]
        top = rows(connection, "select * from marts.crm_sync_customers where customer_id = ?", [scores.top])[0]
        prospect = rows(connection, "select * from marts.crm_sync_customers where customer_id = ?", [scores.prospect])[
            0
        ]
        unsubscribed = connection.execute(
            "select count(*) filter (where has_unsubscribed_from_email) from marts.crm_sync_customers"
        ).fetchone()[0]
        unsubscribed_by_events = connection.execute(
            """
            select count(distinct customer_id) from marts.fct_email_events
            where event_type = 'unsubscribed'
                and occurred_at < (select analysis_cutoff_at from intermediate.int_analysis_date)
            """
        ).fetchone()[0]
        tiers = dict(
            connection.execute(
                "select coalesce(value_tier, 'none'), count(*) from marts.crm_sync_customers group by all"
            ).fetchall()
        )
        # tiers follow CLV: every high above every medium above every low
        bounds = dict(
            connection.execute(
                "select value_tier, min(clv_usd) from marts.crm_sync_customers where value_tier is not null group by all"
            ).fetchall()
        )
        maxima = dict(
            connection.execute(
                "select value_tier, max(clv_usd) from marts.crm_sync_customers where value_tier is not null group by all"
            ).fetchall()
        )

    assert top["email"] is not None and top["full_name"] is not None
    assert unsubscribed == unsubscribed_by_events > 0
    assert (top["churn_status"], top["churn_probability"], top["churn_risk_band"], top["churn_reason_1"]) == (
        "active",
        0.81,
        "high",
        "no order for 200 days",
    )
    assert (prospect["churn_status"], prospect["churn_probability"], prospect["churn_risk_band"]) == (
        "prospect",
        None,
        None,
    )
    assert float(top["clv_usd"]) == pytest.approx(12345.68) and top["value_tier"] == "high"
    assert (top["next_best_offer_product_id"], top["next_best_offer_product_name"]) == scores.top_product
    assert (top["behaviour_segment_id"], top["behaviour_segment_name"]) == (2, "bargain hunters")
    assert top["as_of_date"] == scores.analysis_date
    assert (
        top["churn_model_version"],
        top["clv_model_version"],
        top["next_best_offer_model_version"],
        top["behaviour_segment_model_version"],
    ) == ("churn-v2", "clv-v1", "nbo-v1", "seg-v1")

    # CLV deciles among the scored customers (DuckDB's ntile: the first buyers % 10 deciles get
    # one more customer): deciles 9-10 high, 6-8 medium, 1-5 low
    size, extra = divmod(scored.buyers, 10)
    deciles = [size + (1 if decile <= extra else 0) for decile in range(1, 11)]
    assert (tiers["low"], tiers["medium"], tiers["high"]) == (sum(deciles[:5]), sum(deciles[5:8]), sum(deciles[8:]))
    assert tiers["none"] == customers - scored.buyers
    assert maxima["low"] < bounds["medium"] and maxima["medium"] < bounds["high"]
