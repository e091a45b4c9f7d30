"""`crm customer <email or id>`: the card an agent sees, read from the serving file, and clear
answers for unknown, ambiguous and masked lookups."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from dagster_project.cli import main
from dagster_project.core.settings import Settings
from dagster_project.serve import pii
from dagster_project.serve.publish import publish_serving_file

KEY = "lookup-test-key-0123456789abcdef"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def built(published_pipeline) -> Settings:
    """The session's published run (unmasked); tests that need another serving file write a copy."""
    settings, _ = published_pipeline
    return settings


def lookup(data_dir: Path, who: str, **environment: str):
    """Run `crm customer` as an agent would; wide terminal so rich does not fold the numbers."""
    env = {"CRM_DATA_DIR": str(data_dir), "COLUMNS": "250", "CRM_PII_KEY": None, **environment}
    result = CliRunner().invoke(main, ["customer", who], env=env)
    return result.exit_code, " ".join(result.output.split())


def one(path: Path, sql: str, parameters: list | None = None) -> tuple:
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(sql, parameters or []).fetchall()
    assert rows, sql
    return rows[0]


@pytest.fixture(scope="module")
def agent_customer(built) -> dict:
    """A customer with an own email, scores, offers and preferably an open ticket."""
    row = one(
        built.serving_path,
        """
        select c.customer_id, c.email_normalized, c.full_name, c.churn_probability, c.churn_risk_band,
               c.churn_reason_1, c.clv_usd, c.lifetime_revenue_usd
        from marts.customer_360 c join marts.dim_customers d using (customer_id)
        where c.email_normalized is not null and not d.has_shared_email
          and c.churn_probability is not null and c.clv_usd is not null and c.churn_reason_1 is not null
        order by c.open_tickets desc, c.customer_id limit 1
        """,
    )
    names = ["customer_id", "email", "full_name", "churn", "band", "reason", "clv", "revenue"]
    return dict(zip(names, row, strict=True))


def assert_card_of(output: str, serving: Path, customer: dict) -> None:
    """The card shows this customer's numbers exactly as customer_360 and the scores hold them."""
    assert f"Customer {customer['customer_id']}" in output
    assert f"{customer['churn']:.3f} ({customer['churn']:.1%}), {customer['band']} risk" in output
    assert customer["reason"] in output
    assert f"${customer['clv']:,.2f}" in output
    assert f"Lifetime revenue ${customer['revenue']:,.2f}" in output
    with duckdb.connect(str(serving), read_only=True) as connection:
        # The offers model publishes scores only once it beats its baseline (not always on small data).
        has_offers = connection.execute(
            "select count(*) from information_schema.tables where table_name = 'next_best_offers_current'"
        ).fetchall() == [(1,)]
        offers = (
            connection.execute(
                "select p.product_name from ml.next_best_offers_current o join marts.dim_products p using (product_id) "
                "where customer_id = ? order by offer_rank limit 5",
                [customer["customer_id"]],
            ).fetchall()
            if has_offers
            else []
        )
    assert all(name in output for (name,) in offers)
    assert ("Next best offers: none scored" in output) == (not offers)
    (latest_record,) = one(
        serving,
        "select source_record_id from marts.fct_interactions where customer_id = ? "
        "order by occurred_at desc, interaction_id desc limit 1",
        [customer["customer_id"]],
    )
    assert latest_record in output
    with duckdb.connect(str(serving), read_only=True) as connection:
        open_tickets = connection.execute(
            "select ticket_id from marts.fct_tickets where customer_id = ? and is_open", [customer["customer_id"]]
        ).fetchall()
    assert f"Open tickets ({len(open_tickets)})" in output
    assert all(ticket in output for (ticket,) in open_tickets)


def test_lookup_by_email_ignores_case_and_spaces(built, agent_customer):
    code, output = lookup(built.data_dir, f"  {agent_customer['email'].swapcase()}  ")
    assert code == 0, output
    assert_card_of(output, built.serving_path, agent_customer)
    assert agent_customer["email"] in output and agent_customer["full_name"] in output
    assert "matched by email" in output and "masked" not in output


def test_lookup_by_customer_id(built, agent_customer):
    code, output = lookup(built.data_dir, agent_customer["customer_id"].lower())
    assert code == 0, output
    assert_card_of(output, built.serving_path, agent_customer)
    assert "matched by customer id" in output


@pytest.mark.parametrize("identity_type", ["lead", "ticket_requester"])
def test_lookup_by_a_source_system_id(built, identity_type):
    identity_key, customer_id = one(
        built.serving_path,
        "select identity_key, customer_id from marts.bridge_customer_identities "
        "where identity_type = ? and customer_id is not null order by identity_key limit 1",
        [identity_type],
    )
    code, output = lookup(built.data_dir, identity_key)
    assert code == 0, output
    assert f"Customer {customer_id}" in output and "matched by source id" in output


def test_an_unknown_input_says_so_and_what_can_be_looked_up(built):
    for who in ("nobody@nowhere.example", "X0000000"):
        code, output = lookup(built.data_dir, who)
        assert code == 1
        assert f"No customer matches '{who}'" in output and "Look up an email, a customer id" in output


def test_an_email_shared_by_several_customers_lists_them(built, agent_customer, tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "serving").mkdir(parents=True)
    copy = data_dir / "serving" / "crm.duckdb"
    shutil.copy(built.serving_path, copy)
    with duckdb.connect(str(copy)) as connection:  # a colleague registered with the same address
        connection.execute(
            "insert into marts.dim_customers select * replace ('C9999999' as customer_id, 'Sam Other' as full_name) "
            "from marts.dim_customers where customer_id = ?",
            [agent_customer["customer_id"]],
        )
    code, output = lookup(data_dir, agent_customer["email"].upper())
    assert code == 1
    assert f"'{agent_customer['email'].upper()}' matches 2 customers" in output
    assert agent_customer["customer_id"] in output and "C9999999" in output and "Sam Other" in output
    assert "look up one of these customer ids" in output


def test_without_a_serving_file_it_says_to_build(tmp_path):
    code, output = lookup(tmp_path, "C0000001")
    assert code == 1 and "run `crm build` first" in output


def test_lookup_by_email_on_a_masked_serving_file(built, agent_customer, tmp_path):
    from dagster_project.core.dbt_project import crm_dbt_project

    data_dir = tmp_path / "data"
    declared = pii.declared_personal_columns_from_file(crm_dbt_project().manifest_path)
    with duckdb.connect(str(built.warehouse_path), read_only=True) as connection:
        publish_serving_file(connection, data_dir / "serving" / "crm.duckdb", pii.PiiMasking(KEY, declared))

    code, output = lookup(data_dir, f" {agent_customer['email'].upper()} ", CRM_PII_KEY=KEY)
    assert code == 0, output
    assert_card_of(output, data_dir / "serving" / "crm.duckdb", agent_customer)
    assert "masked" in output and "email_" in output
    assert agent_customer["email"] not in output and agent_customer["full_name"] not in output

    code, output = lookup(data_dir, agent_customer["email"], CRM_PII_KEY="some-other-key-0123456789")
    assert code == 1 and "masked with another key" in output
    code, output = lookup(data_dir, agent_customer["email"])  # no CRM_PII_KEY, no key file
    assert code == 1 and "CRM_PII_KEY" in output
    # Ids are not personal data: they are looked up as they are.
    code, output = lookup(data_dir, agent_customer["customer_id"])
    assert code == 0 and f"Customer {agent_customer['customer_id']}" in output
