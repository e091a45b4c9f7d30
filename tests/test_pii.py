"""Personal data in the serving file: masked with a keyed, consistent hash when CRM_SERVING_MASK_PII
is on (joins and counts unchanged), real in the outbox for operational tools, real when off."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.core.settings import Settings, load_settings
from dagster_project.serve import pii
from dagster_project.serve.publish import publish_serving_file
from tests.pipeline import query

KEY = "test-key-0123456789abcdef"
CONTACT_SURVEY_ID = "S09999999"
CONTACT_COMMENT = "Still waiting! Call me on (212) 555-0187 or write to Ann.Moss@example.org, order O00000042."
CONTACT_COMMENT_MASKED = "Still waiting! Call me on [phone] or write to [email], order O00000042."
OTHER_KEY = "another-key-0123456789abcdef"

# Every personal value the source systems sent, normalised (lower + trim; phones also as digits).
RAW_PERSONAL_VALUES = r"""
    create temp table personal_values as
    with raw_values as (
        select email as v from build.raw.customers union all select phone from build.raw.customers
        union all select first_name from build.raw.customers union all select last_name from build.raw.customers
        union all select first_name || ' ' || last_name from build.raw.customers
        union all select email from build.raw.email_events
        union all select email from build.raw.leads union all select phone from build.raw.leads
        union all select requester_email from build.raw.tickets
    )
    select distinct lower(trim(v)) as v from raw_values where trim(v) <> ''
    union
    select distinct regexp_replace(v, '[^0-9]', '', 'g') from raw_values
    where length(regexp_replace(v, '[^0-9]', '', 'g')) >= 7 and not regexp_matches(v, '[A-Za-z]')
"""
EMAIL_LOOKING = r"[^@\s]+@[^@\s]+\.[a-z]{2,}"


def personal_values_served(serving: Path, build: Path) -> dict[str, int]:
    """Per served text column, the rows whose value is a raw email, phone or name, or looks like an
    email: scans every VARCHAR column of every served table, declared or not."""
    with duckdb.connect() as connection:
        connection.execute(f"ATTACH '{build}' AS build (READ_ONLY)")
        connection.execute(f"ATTACH '{serving}' AS served (READ_ONLY)")
        connection.execute(RAW_PERSONAL_VALUES)
        columns = connection.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where database_name = 'served' and data_type = 'VARCHAR'"
        ).fetchall()
        assert len(columns) > 50  # the scan covers the whole file
        found = {}
        for schema, table, column in columns:
            quoted = f'"{column}"'
            rows = connection.execute(
                f"select count(*) from served.{schema}.{table} where lower(trim({quoted})) in "
                f"(select v from personal_values) or regexp_matches({quoted}, '{EMAIL_LOOKING}')"
            ).fetchall()[0][0]
            if rows:
                found[f"{schema}.{table}.{column}"] = rows
    return found


@pytest.fixture(scope="module")
def masked_build(small_export, tmp_path_factory) -> Settings:
    """One full run with masking on (the serving asset masks; the outbox reads the build file)."""
    from dagster_project.runner import run_full_pipeline

    data_dir = tmp_path_factory.mktemp("pii") / "data"
    shutil.copytree(small_export / "landing", data_dir / "landing")
    # A customer who wrote their contact details into a survey comment.
    (data_dir / "landing" / "support" / "satisfaction_surveys" / "late_answers.csv").write_text(
        f"survey_id,ticket_id,score,responded_at,comment\n{CONTACT_SURVEY_ID},T00000001,2,2026-06-01T10:00:00Z,"
        f'"{CONTACT_COMMENT}"\n'
    )
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("CRM_DATA_DIR", str(data_dir))
        environment.setenv("DAGSTER_HOME", str(data_dir / "dagster"))
        environment.setenv("CRM_SERVING_MASK_PII", "1")
        environment.setenv("CRM_PII_KEY", KEY)
        environment.delenv("CRM_ANALYSIS_DATE", raising=False)
        settings = load_settings()
        assert settings.serving_mask_pii
        outcome = run_full_pipeline(settings)
        assert outcome.success, outcome.failure_messages
        yield settings


def declared() -> dict:
    from dagster_project.core.dbt_project import crm_dbt_project

    return pii.declared_personal_columns_from_file(crm_dbt_project().manifest_path)


def publish(settings: Settings, path: Path, key: str | None) -> None:
    """Publish the serving file again from the run's build file, masked with ``key`` (None: unmasked)."""
    masking = pii.PiiMasking(key, declared()) if key else None
    with duckdb.connect(str(settings.warehouse_path)) as connection:
        publish_serving_file(connection, path, masking)


# ---------------------------------------------------------------- without a pipeline


def test_the_dbt_yml_declares_every_personal_column_of_the_marts():
    columns = declared()
    assert columns[("marts", "dim_customers")] == {
        "email_normalized": "email", "phone": "phone", "phone_normalized": "phone",
        "first_name": "name", "last_name": "name", "full_name": "name",
    }  # fmt: skip
    assert columns[("marts", "crm_sync_customers")] == {"email": "email", "full_name": "name"}
    assert columns[("marts", "bridge_customer_identities")]["identity_id"] == "identity"
    # What customers wrote: emails and phones in it are redacted.
    assert columns[("marts", "fct_survey_responses")]["comment"] == "free_text"
    assert columns[("ml", "feedback_scores_current")] == {"text": "free_text"}
    # Names of products, campaigns and segments are not personal data.
    flat = {(table, column) for (_, table), names in columns.items() for column in names}
    assert ("dim_products", "product_name") not in flat and ("dim_campaigns", "campaign_name") not in flat


def test_the_mask_is_keyed_consistent_and_normalises_before_hashing():
    with duckdb.connect() as connection:

        def token(value, kind, key=KEY):
            return pii.mask_value(connection, value, kind, key)

        assert token(" Ann.Lee@Mail.COM ", "email") == token("ann.lee@mail.com", "email")
        assert token("ann.lee@mail.com", "email").startswith("email_")
        assert token("ann.lee@mail.com", "email") != token("ann.lee@mail.com", "email", OTHER_KEY)
        assert token("(212) 555-0100", "phone") == token("+1 212 555 0100", "phone") == token("12125550100", "phone")
        assert token("Ann  Lee", "name") == token("ann lee", "name") != token("Ann Lea", "name")
        assert token(None, "email") is None
        assert token("", "name") == ""
        # Identity ids: the email part is masked exactly as the email column, record ids stay.
        email_token = token("ann.lee@mail.com", "email")
        assert token("marketing:email_contact:ann.lee@mail.com", "identity") == f"marketing:email_contact:{email_token}"
        assert token("marketing:lead:L0000042", "identity") == "marketing:lead:L0000042"
        assert connection.execute(f"select getvariable('{pii.KEY_VARIABLE}')").fetchall() == [(None,)]
        # Free text: contact details inside it are redacted; record ids, dates and amounts stay.
        assert token(CONTACT_COMMENT, "free_text") == CONTACT_COMMENT_MASKED
        for phone in ("+1 212 555 0100", "212-555-0100", "2125550100", "+44 20 7946 0958", "0049 30 1234567"):
            assert token(f"call {phone} now", "free_text") == "call [phone] now", phone
        kept = "Order O00043787 of 2025-01-31 for $1,299.00 arrived at 12:30, 5 stars"
        assert token(kept, "free_text") == kept


def test_the_key_is_generated_once_private_and_reused(tmp_path: Path):
    settings = load_settings({"CRM_DATA_DIR": str(tmp_path)})
    first = pii.load_pii_key(settings)
    assert stat.S_IMODE(os.stat(settings.pii_key_path).st_mode) == 0o600
    assert pii.load_pii_key(settings) == first and len(first) >= 32
    assert pii.load_pii_key(load_settings({"CRM_DATA_DIR": str(tmp_path), "CRM_PII_KEY": KEY})) == KEY
    with pytest.raises(ValueError, match="too short"):
        pii.load_pii_key(load_settings({"CRM_DATA_DIR": str(tmp_path), "CRM_PII_KEY": "short"}))
    with pytest.raises(FileNotFoundError, match="CRM_PII_KEY"):
        pii.load_pii_key(load_settings({"CRM_DATA_DIR": str(tmp_path / "other")}), create=False)
    assert "pii_key" not in repr(load_settings({"CRM_PII_KEY": KEY})).replace("pii_key_path", "")
    with pytest.raises(ValueError, match="CRM_SERVING_MASK_PII"):
        load_settings({"CRM_SERVING_MASK_PII": "maybe"})


def test_publishing_refuses_an_undeclared_column_that_looks_personal(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "build.duckdb")) as connection:
        connection.execute(
            "create schema marts; create table marts.leads as select 'L1' as lead_id, 'a@b.com' as contact_email"
        )
        masking = pii.PiiMasking(KEY, {("marts", "leads"): {"lead_id": "identity"}})
        with pytest.raises(pii.PiiDeclarationError, match=r"marts.leads.contact_email looks personal"):
            publish_serving_file(connection, tmp_path / "serving.duckdb", masking)
    assert not (tmp_path / "serving.duckdb").exists()


# ---------------------------------------------------------------- on a built warehouse


@pytest.mark.e2e
def test_no_personal_value_reaches_the_masked_serving_file(masked_build, tmp_path):
    unmasked = tmp_path / "unmasked.duckdb"
    publish(masked_build, unmasked, key=None)

    assert personal_values_served(masked_build.serving_path, masked_build.warehouse_path) == {}
    # The scan does find them in the unmasked file, and only in declared columns.
    leaked = personal_values_served(unmasked, masked_build.warehouse_path)
    declared_names = {f"{schema}.{table}.{column}" for (schema, table), cols in declared().items() for column in cols}
    assert {"marts.dim_customers.email_normalized", "marts.crm_sync_customers.full_name"} <= set(leaked)
    assert set(leaked) <= declared_names
    # Every masked column is marked as such in the file's catalog, with the key's id.
    with duckdb.connect(str(masked_build.serving_path), read_only=True) as connection:
        marked = pii.masked_columns_in(connection)
    assert {f"{c.schema}.{c.relation}.{c.column}" for c in marked} == declared_names
    assert {c.key_id for c in marked} == {pii.key_id(KEY)}


@pytest.mark.e2e
def test_contact_details_in_comments_are_redacted_in_the_masked_file_only(masked_build):
    survey = f"select comment from marts.fct_survey_responses where survey_id = '{CONTACT_SURVEY_ID}'"
    feedback = f"select text from ml.feedback_scores_current where feedback_id = '{CONTACT_SURVEY_ID}'"
    assert query(masked_build.serving_path, survey) == [(CONTACT_COMMENT_MASKED,)]
    assert query(masked_build.serving_path, feedback) == [(CONTACT_COMMENT_MASKED,)]
    assert query(masked_build.warehouse_path, survey) == [(CONTACT_COMMENT,)]


@pytest.mark.e2e
def test_counts_and_joins_on_masked_columns_match_the_real_values(masked_build, tmp_path):
    unmasked = tmp_path / "unmasked.duckdb"
    publish(masked_build, unmasked, key=None)
    checks = [
        "select count(distinct email_normalized), count(email_normalized) from marts.dim_customers",
        "select count(distinct email), count(distinct full_name) from marts.crm_sync_customers",
        "select count(*) from marts.customer_360 c join marts.crm_sync_customers s on s.email = c.email_normalized",
        "select count(*) from marts.fct_interactions i join marts.bridge_customer_identities b using (identity_id)",
        "select count(*) from marts.fct_email_events e join marts.dim_customers d using (email_normalized)",
    ]
    for sql in checks:
        assert query(masked_build.serving_path, sql) == query(unmasked, sql), sql
    assert query(unmasked, checks[2])[0][0] > 0
    # A phone as typed and its normalised form give the same token.
    assert query(
        masked_build.serving_path,
        "select count(*) filter (where phone = phone_normalized), count(phone_normalized) from marts.dim_customers",
    ) == query(unmasked, "select count(phone_normalized), count(phone_normalized) from marts.dim_customers")


@pytest.mark.e2e
def test_the_same_key_gives_the_same_tokens_and_another_key_other_tokens(masked_build, tmp_path):
    again, other = tmp_path / "again.duckdb", tmp_path / "other.duckdb"
    publish(masked_build, again, KEY)
    publish(masked_build, other, OTHER_KEY)
    sql = "select customer_id, email_normalized, phone, full_name from marts.dim_customers order by customer_id"
    served = query(masked_build.serving_path, sql)
    assert query(again, sql) == served
    different = query(other, sql)
    assert [row[0] for row in different] == [row[0] for row in served]
    for (_, *tokens), (_, *other_tokens) in zip(served, different, strict=True):
        for token, other_token in zip(tokens, other_tokens, strict=True):
            assert token is None and other_token is None or token != other_token


@pytest.mark.e2e
def test_the_outbox_keeps_real_emails_while_the_serving_file_is_masked(masked_build):
    real = dict(query(masked_build.warehouse_path, "select customer_id, email from marts.crm_sync_customers"))
    served = dict(query(masked_build.serving_path, "select customer_id, email from marts.crm_sync_customers"))
    assert served.keys() == real.keys() and not (set(served.values()) & set(real.values())) - {None}
    assert sum("@" in (email or "") for email in real.values()) > 100
    for name in ("snapshot.parquet", "snapshot.csv"):
        path = masked_build.outbox_dir / "crm_sync_customers" / name
        frame = pl.read_parquet(path) if name.endswith(".parquet") else pl.read_csv(path, infer_schema=False)
        assert dict(zip(frame["customer_id"], frame["email"], strict=True)) == real
        assert not frame["email"].drop_nulls().str.starts_with("email_").any()
    manifest = json.loads((masked_build.outbox_dir / "manifest.json").read_text())
    assert manifest["datasets"]["crm_sync_customers"]["files"]


@pytest.mark.e2e
def test_with_masking_off_the_serving_file_holds_the_real_values(masked_build, tmp_path):
    unmasked = tmp_path / "unmasked.duckdb"
    publish(masked_build, unmasked, key=None)
    sql = "select customer_id, email_normalized, phone, full_name from marts.dim_customers order by customer_id"
    with duckdb.connect(str(masked_build.warehouse_path), read_only=True) as build:
        assert query(unmasked, sql) == build.execute(sql).fetchall()
    assert query(unmasked, "select count(*) from marts.dim_customers where email_normalized like '%@%'")[0][0] > 100
    with duckdb.connect(str(unmasked), read_only=True) as connection:
        assert pii.masked_columns_in(connection) == []
