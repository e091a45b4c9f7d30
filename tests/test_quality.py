"""Data quality checks: the suites, validate_entity on hand-made raw tables, and the Dagster checks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.core.contracts import CONTRACTS, ENTITIES
from dagster_project.ingestion import load_entity
from dagster_project.ingestion.ledger import ensure_raw_schema
from dagster_project.quality import SEVERE, SOFT, build_suites, validate_entity
from dagster_project.quality.suites import suite_name
from tests.generated import write_export

NOW = datetime(2026, 7, 1, 12, 0)
LOADED_AT = datetime(2026, 7, 1, 6, 0)

ORDERS_HEADER = "order_id,customer_id,ordered_at,status,channel,currency,total_amount,discount_amount\n"
CLEAN_ORDERS = ORDERS_HEADER + (
    "O1,C1,2026-06-01T10:00:00Z,completed,web,USD,100.50,0\n"
    "O2,C2,2026-06-02 11:30:00,completed,store,USD,20,5.25\n"
    "O3,C1,2026-06-03T08:00:00,pending,web,USD,1.00,\n"
    "O4,C3,2026-06-04T08:00:00,cancelled,phone,USD,45.10,0\n"
)
CUSTOMERS = (
    "customer_id,email,phone,first_name,last_name,company_name,segment,country,city,created_at\n"
    "C1,ann@example.com,,Ann,Lee,,consumer,US,Boston,2025-01-01\n"
    "C2,bob@example.com,,Bob,Ray,,consumer,US,Austin,2025-02-01\n"
    "C3,cy@example.com,,Cy,Ng,,small_business,CA,Toronto,2025-03-01\n"
)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


def load(connection, landing: Path, *entities: str, loaded_at: datetime = LOADED_AT) -> None:
    for entity in entities:
        load_entity(connection, CONTRACTS[entity], landing, loaded_at)


def failed_columns(result) -> set[str | None]:
    return {failure.column for failure in result.failed}


# --- the suites, without Great Expectations ---------------------------------------------------


def test_suites_follow_the_contracts():
    for entity in ENTITIES:
        contract = CONTRACTS[entity]
        suites = build_suites(entity, NOW, quarantine_limits={"crm": 0.2})
        # Blocking: only aggregates of the whole table and of each system's latest load.
        severe_columns = {s.kwargs["column"] for s in suites.severe}
        assert {f"rows_with_empty_{name}" for name in (*contract.key, *contract.required_columns)} <= severe_columns
        assert {"quarantined_share__crm", "empty_key_share__crm"} <= severe_columns, entity
        limit = next(s for s in suites.severe if s.kwargs["column"] == "quarantined_share__crm")
        assert limit.kwargs["max_value"] == 0.2
        # Warnings: shares of the latest load's rows breaking a value rule, its quarantined rows.
        soft_columns = {s.kwargs["column"] for s in suites.soft}
        assert {f"{c.name}__out_of_range_share" for c in contract.columns if c.type == "decimal"} <= soft_columns
        assert {f"{c.name}__implausible_share" for c in contract.columns if c.type == "timestamp"} <= soft_columns
        assert {f"{c.name}__unknown_value_share" for c in contract.columns if c.accepted_values} <= soft_columns
        assert {"quarantined_rows__crm", "redelivered_key_share"} <= soft_columns, entity
        assert all(s.expectation == "ExpectColumnValuesToBeBetween" for s in (*suites.severe, *suites.soft))
    orders_severe = {s.kwargs["column"]: s for s in build_suites("orders", NOW).severe}
    assert orders_severe["rows"].kwargs["min_value"] == 1
    assert "rows" not in {s.kwargs["column"] for s in build_suites("leads", NOW).severe}
    # A reference is only checked when its parent table has rows.
    assert not build_suites("orders", NOW, available_parents=set()).references
    assert [r.parent for r in build_suites("orders", NOW, available_parents={"customers"}).references] == ["customers"]


# --- validate_entity on small raw tables ------------------------------------------------------


def test_clean_data_passes_both_severities_and_writes_data_docs(connection, landing, tmp_path):
    write_export(landing, "orders", "orders_0001.csv", CLEAN_ORDERS)
    write_export(landing, "customers", "customers_0001.csv", CUSTOMERS)
    load(connection, landing, "orders", "customers")
    docs_dir = tmp_path / "docs"

    validation = validate_entity(connection, "orders", docs_dir, NOW)

    assert validation.severe.success, validation.severe.failures_in_words()
    assert validation.soft.success, validation.soft.failures_in_words()
    assert (validation.raw_rows, validation.rows_judged) == (4, 4)
    assert validation.severe.evaluated_expectations > 0 and validation.soft.evaluated_expectations > 0

    index = docs_dir / "great_expectations" / "index.html"
    assert validation.data_docs_index == index
    assert index.is_file()
    html = index.read_text()
    assert suite_name("orders", SEVERE) in html and suite_name("orders", SOFT) in html
    for result in (validation.severe, validation.soft):
        assert result.data_docs_page is not None and result.data_docs_page.is_file()
        assert result.data_docs_page.is_relative_to(docs_dir / "great_expectations")

    # Another entity validated later keeps the first one in the site's index.
    validate_entity(connection, "customers", docs_dir, NOW)
    html = index.read_text()
    assert suite_name("orders", SEVERE) in html and suite_name("customers", SOFT) in html


def test_a_few_bad_rows_are_quarantined_and_only_warn(connection, landing, tmp_path):
    # A refund (negative amount) is data; an infinite amount and a placeholder date are not.
    orders = (
        CLEAN_ORDERS.replace("USD,20,5.25", "USD,-20,5.25")
        + "O5,C1,2026-06-05T08:00:00,completed,web,USD,1e400,0\n"
        + "".join(f"O{n},C2,2026-06-{n:02d}T08:00:00,completed,web,USD,{n}.00,0\n" for n in range(6, 13))
        + "O13,C3,2099-12-31T00:00:00,completed,web,USD,13.00,0\n"
    )
    write_export(landing, "orders", "orders_0001.csv", orders)
    write_export(landing, "customers", "customers_0001.csv", CUSTOMERS)
    load(connection, landing, "orders", "customers")

    quarantined = connection.execute("select source_line, reason from raw._quarantine order by 1").fetchall()
    assert quarantined == [
        (6, "total_amount: '1e400' is not a finite number"),
        (14, "ordered_at: '2099-12-31T00:00:00' is not a plausible date (before 1900-01-01 or more than 2 days "
         "after the load)"),
    ]  # fmt: skip
    validation = validate_entity(connection, "orders", tmp_path / "docs", NOW)

    # 2 of 13 rows is 15%: above the default limit of 10%, so this load blocks...
    assert not validation.severe.success
    assert failed_columns(validation.severe) == {"quarantined_share__canonical"}
    blocked = "\n".join(validation.blocked_because())
    assert "2 of 13 rows quarantined" in blocked and "sales/orders/orders_0001.csv" in blocked
    assert "line 6: total_amount: '1e400' is not a finite number" in blocked and "Data Docs:" in blocked
    # ...unless the source config allows more; the quarantined rows then only warn.
    tolerant = validate_entity(connection, "orders", tmp_path / "docs", NOW, quarantine_limits={"canonical": 0.2})
    assert tolerant.severe.success, tolerant.severe.failures_in_words()
    assert failed_columns(tolerant.soft) == {"quarantined_rows__canonical"}
    assert tolerant.blocked_because() == []
    assert len(tolerant.quarantine_examples) == 2


def test_a_systemic_break_blocks_with_the_rule_rows_and_files(connection, landing, tmp_path):
    write_export(landing, "orders", "orders_0001.csv", CLEAN_ORDERS)
    load(connection, landing, "orders")
    # The next export changed its date format: every row fails, and half of them lost their key too.
    broken = ORDERS_HEADER + "".join(
        f"{'' if n % 2 else f'B{n}'},C1,06/{n:02d}/2026,completed,web,USD,10,0\n" for n in range(1, 11)
    )
    write_export(landing, "orders", "orders_0002.csv", broken)
    load(connection, landing, "orders", loaded_at=datetime(2026, 7, 1, 7, 0))

    validation = validate_entity(connection, "orders", tmp_path / "docs", NOW)

    assert not validation.severe.success
    assert failed_columns(validation.severe) == {"quarantined_share__canonical"}
    (load_,) = validation.loads
    assert (load_.rows_read, load_.rows_quarantined, load_.rows_without_key) == (10, 10, 5)
    assert [file.source_file for file in load_.files] == ["sales/orders/orders_0002.csv"]
    blocked = validation.blocked_because()
    assert blocked[0].startswith("raw.orders is blocked: quarantined_share__canonical: at most 10% of the rows")
    assert "observed 1.0" in blocked[0]
    assert any("sales/orders/orders_0002.csv: 10 of 10 rows quarantined" in line for line in blocked)


def test_future_timestamp_and_unknown_customer_fail_the_soft_suite_only(connection, landing, tmp_path):
    # Within the ingestion's tolerance (2 days after the load), beyond the warning's (1 day after now).
    orders = CLEAN_ORDERS.replace("O4,C3,2026-06-04T08:00:00", "O4,C404,2026-07-03T00:00:00")
    write_export(landing, "orders", "orders_0001.csv", orders)
    write_export(landing, "customers", "customers_0001.csv", CUSTOMERS)
    load(connection, landing, "orders", "customers")

    validation = validate_entity(connection, "orders", tmp_path / "docs", NOW)

    assert validation.severe.success, validation.severe.failures_in_words()
    assert not validation.soft.success
    assert failed_columns(validation.soft) == {"ordered_at__implausible_share", "customer_id__unknown_customers_share"}
    future = next(f for f in validation.soft.failed if f.column == "ordered_at__implausible_share")
    assert future.examples == (0.25,)  # one row of the four
    assert [str(value) for value in future.sample] == ["2026-07-03 00:00:00"]  # the row that breaks it
    unknown = next(f for f in validation.soft.failed if f.column == "customer_id__unknown_customers_share")
    assert unknown.sample == ("C404",) and "C404" in unknown.in_words()


def test_unknown_customers_are_not_judged_without_a_customer_export(connection, landing, tmp_path):
    write_export(landing, "orders", "orders_0001.csv", CLEAN_ORDERS)
    load(connection, landing, "orders", "customers")  # customers: an empty table

    validation = validate_entity(connection, "orders", tmp_path / "docs", NOW)

    assert validation.soft.success
    customers = validate_entity(connection, "customers", tmp_path / "docs", NOW)
    assert customers.severe.success and customers.soft.success
    assert customers.severe.skipped_reason and customers.rows_judged == 0


def test_duplicates_in_raw_that_dedupe_to_unique_keys_pass_the_severe_suite(connection, landing, tmp_path):
    # O2 arrives with a negative amount, then again corrected in a later file: the latest row wins.
    write_export(landing, "orders", "orders_0001.csv", CLEAN_ORDERS.replace("USD,20,5.25", "USD,-20,5.25"))
    load(connection, landing, "orders")
    write_export(
        landing, "orders", "orders_0002.csv", ORDERS_HEADER + "O2,C2,2026-06-02 11:30:00,completed,store,USD,20,5.25\n"
    )
    load(connection, landing, "orders", loaded_at=datetime(2026, 7, 1, 7, 0))

    validation = validate_entity(connection, "orders", tmp_path / "docs", NOW)

    # The soft suite judges the latest load: the one row of the second file.
    assert (validation.raw_rows, validation.rows_judged) == (5, 1)
    assert validation.severe.success, validation.severe.failures_in_words()
    # Its one row repeats a key delivered before: more than the 5% the soft suite tolerates.
    (failure,) = validation.soft.failed
    assert failure.column == "redelivered_key_share" and failure.examples == (1.0,)


def test_values_outside_the_vocabulary_and_empty_tables(connection, tmp_path):
    # Rows written straight to raw (ingestion would have quarantined the unknown status).
    contract = CONTRACTS["tickets"]
    ensure_raw_schema(connection, contract)
    connection.execute(
        "INSERT INTO raw.tickets (ticket_id, created_at, status, resolved_at, _source_file, _source_line, _loaded_at) "
        "VALUES ('T1', '2026-06-01 10:00', 'open', NULL, 'a.csv', 2, '2026-07-01'), "
        "('T2', '2026-06-01 10:00', 'escalated', '2026-06-01 09:00', 'a.csv', 3, '2026-07-01')"
    )
    validation = validate_entity(connection, "tickets", tmp_path / "docs", NOW)
    assert validation.severe.success
    # No load on record (rows written directly): the whole table is judged.
    assert failed_columns(validation.soft) == {"status__unknown_value_share", "resolved_at__before_created_at_share"}
    status = next(f for f in validation.soft.failed if f.column == "status__unknown_value_share")
    assert status.sample == ("escalated",) and status.examples == (0.5,)

    ensure_raw_schema(connection, CONTRACTS["orders"])
    orders = validate_entity(connection, "orders", tmp_path / "docs", NOW)
    assert not orders.severe.success  # the orders export is required
    assert orders.severe.failed[0].examples == (0,)
    assert orders.soft.success

    leads = validate_entity(connection, "leads", tmp_path / "docs", NOW)  # the table does not even exist
    assert leads.success and leads.severe.skipped_reason


# --- through Dagster --------------------------------------------------------------------------


@dg.asset(deps=[dg.AssetKey(["raw", "orders"])])
def downstream_of_orders() -> None:
    """Stands in for dbt staging: must not be built when the orders are broken."""


def materialise_with_checks(data_dir: Path) -> dg.ExecuteInProcessResult:
    from dagster_project.assets.ingestion import ingestion_assets
    from dagster_project.assets.quality_checks import quality_checks
    from dagster_project.orchestration.resources import WarehouseResource

    return dg.materialize(
        [*ingestion_assets, *quality_checks, downstream_of_orders],
        resources={"warehouse": WarehouseResource(data_dir=str(data_dir))},
        raise_on_error=False,
        instance=dg.DagsterInstance.ephemeral(),
    )


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def materialised(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {event.asset_key for event in result.get_asset_materialization_events()}


@pytest.mark.parametrize("broken", [True, False], ids=["dates_unreadable", "clean"])
def test_the_severe_check_blocks_downstream_assets(tmp_path, broken):
    data_dir = tmp_path / "data"
    orders = CLEAN_ORDERS.replace("T08:00:00", " at 8am") if broken else CLEAN_ORDERS
    write_export(data_dir / "landing", "orders", "orders_0001.csv", orders)
    write_export(data_dir / "landing", "customers", "customers_0001.csv", CUSTOMERS)

    result = materialise_with_checks(data_dir)

    checks = check_results(result)
    assert {f"{entity}_{severity}_expectations" for entity in ENTITIES for severity in (SEVERE, SOFT)} == set(checks)
    severe = checks["orders_severe_expectations"]
    assert dg.AssetKey(["raw", "orders"]) in materialised(result)
    assert checks["orders_soft_expectations"].passed is not broken  # quarantined rows warn
    assert all(check.passed for name, check in checks.items() if not name.startswith("orders_"))
    docs = severe.metadata["data_docs"].value
    assert Path(docs) == data_dir / "docs" / "great_expectations" / "index.html" and Path(docs).is_file()
    if broken:
        assert not result.success
        assert not severe.passed and severe.severity == dg.AssetCheckSeverity.ERROR
        assert "quarantined_share__canonical" in severe.metadata["failed_expectations"].value
        assert "2 of 4 rows quarantined" in severe.metadata["blocked_because"].value
        assert dg.AssetKey("downstream_of_orders") not in materialised(result)
    else:
        assert result.success
        assert severe.passed
        assert dg.AssetKey("downstream_of_orders") in materialised(result)
