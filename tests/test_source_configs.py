"""Source configs: other systems' exports load by configuration alone; wrong configs are refused clearly."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.contracts import CONTRACTS
from dagster_project.ingestion import load_entity
from dagster_project.ingestion.source_config import (
    BUILT_IN_CONFIG_DIR,
    SourceConfigError,
    active_source_configs,
    load_source_config,
    mappings_for,
    parse_source_config,
)

LOADED_AT = datetime(2026, 1, 1)

SALESFORCE_FILES = {
    "Accounts 2025.csv": (
        "Account ID;Account Name;Email;Phone;Type;Billing Country Code;Billing City;Created Date;Rating\n"
        "001A;Müller GmbH;einkauf@mueller.de;+49 30 1234;Customer - Direct;DE;Berlin;05.01.2024 09:30;Hot\n"
        "001B;Søren & Co;;;Customer - Channel;DK;København;06.01.2024;Warm\n"
    ),
    "Orders 2025.csv": (
        "Order Number;Account ID;Order Start Date;Status;Order Amount;Order Currency\n"
        "00000101;001A;15.07.2025 14:00;Activated;1.234,50;EUR\n"
        "00000102;001B;31.12.2025 23:30;Draft;99,90;EUR\n"
        "00000103;001A;01.02.2025 10:00;Shipped;10,00;EUR\n"
    ),
    "Order Products 2025.csv": (
        "Order Number;Line Item;Product ID;Quantity;Sales Price\n00000101;1;01tX;2;617,25\n00000102;1;01tY;1;99,90\n"
    ),
    "Products.csv": (
        "Product ID;Product Code;Product Name;Product Family;List Price;Cost\n"
        "01tX;CAM-1;Kamera;Cameras;650,00;400,00\n"
        "01tY;LEN-1;Objektiv;Lenses;99,90;50,00\n"
    ),
}

ZENDESK_TICKETS = [
    {"id": 9001, "created_at": "2025-03-01T09:00:00+01:00", "requester_email": " Einkauf@Mueller.de ",
     "via": "web_form", "priority": "high", "type": "problem", "status": "hold", "solved_at": None,
     "assignee_id": 77, "tags": ["delivery", "late"]},
    {"id": 9002, "created_at": "2025-03-02T10:00:00Z", "requester_email": "x@example.com", "via": "mail",
     "priority": "low", "type": "question", "status": "solved", "solved_at": "2025-03-02T12:00:00Z",
     "assignee_id": None, "tags": []},
]  # fmt: skip
ZENDESK_RATINGS = (
    "Rating ID,Ticket ID,Score,Created at,Comment\n"
    '501,9002,good,2025-03-03T08:00:00Z,"Quick, friendly help"\n'
    "502,9001,bad,2025-03-04T08:00:00Z,Still waiting\n"
)


def write_salesforce_and_zendesk_exports(landing: Path) -> None:
    salesforce = landing / "salesforce"
    salesforce.mkdir(parents=True)
    for name, text in SALESFORCE_FILES.items():
        (salesforce / name).write_bytes(text.encode("cp1252"))
    zendesk = landing / "zendesk"
    zendesk.mkdir(parents=True)
    (zendesk / "tickets_2025-03.json").write_text("\n".join(json.dumps(ticket) for ticket in ZENDESK_TICKETS) + "\n")
    (zendesk / "satisfaction_ratings_2025-03.csv").write_text(ZENDESK_RATINGS)


@pytest.fixture
def configured(tmp_path: Path):
    landing = tmp_path / "landing"
    sources = tmp_path / "sources"
    sources.mkdir()
    for name in ("salesforce_style.yml", "zendesk_style.yml"):
        shutil.copy(BUILT_IN_CONFIG_DIR / name, sources / name)
    write_salesforce_and_zendesk_exports(landing)
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    configs = active_source_configs(sources)

    def load(entity: str):
        return load_entity(connection, CONTRACTS[entity], landing, LOADED_AT, sources=mappings_for(configs, entity))

    yield connection, load
    connection.close()


def test_every_shipped_config_is_valid():
    systems = {load_source_config(path).system for path in BUILT_IN_CONFIG_DIR.glob("*.yml")}
    assert {"canonical", "salesforce", "zendesk"} <= systems


def test_without_configs_the_canonical_layout_applies(tmp_path: Path):
    configs = active_source_configs(tmp_path / "no-such-folder")
    assert [config.system for config in configs] == ["canonical"]
    assert set(configs[0].entities) == set(CONTRACTS)


def test_salesforce_style_orders_load_with_local_time_decimal_commas_and_value_maps(configured):
    connection, load = configured
    result = load("orders")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    rows = connection.execute(
        "select order_id, customer_id, ordered_at, status, total_amount, currency, channel "
        "from raw.orders order by order_id"
    ).fetchall()
    assert rows == [
        ("00000101", "001A", datetime(2025, 7, 15, 12, 0), "completed", 1234.5, "EUR", "phone"),  # CEST = UTC+2
        ("00000102", "001B", datetime(2025, 12, 31, 22, 30), "pending", 99.9, "EUR", "phone"),  # CET = UTC+1
    ]
    reason = connection.execute("select source_file, source_line, reason from raw._quarantine").fetchall()
    assert reason == [("salesforce/Orders 2025.csv", 4, "status: 'Shipped' is not one of completed, cancelled, "
                                                          "returned, pending, refunded")]  # fmt: skip
    ledger = connection.execute("select source_system, status from raw._file_ledger").fetchall()
    assert ledger == [("salesforce", "loaded")]


def test_salesforce_style_customers_keep_unknown_columns_as_json(configured):
    connection, load = configured
    result = load("customers")
    assert result.files[0].extra_columns == ("Rating",)
    rows = connection.execute(
        "select customer_id, company_name, segment, created_at, _extra_columns->>'Rating' from raw.customers order by 1"
    ).fetchall()
    assert rows[0] == ("001A", "Müller GmbH", "small_business", datetime(2024, 1, 5, 8, 30), "Hot")
    assert rows[1][2:4] == ("enterprise", datetime(2024, 1, 5, 23, 0))


def test_zendesk_style_tickets_and_ratings_load(configured):
    connection, load = configured
    assert load("tickets").rows_loaded == 2
    assert load("satisfaction_surveys").rows_loaded == 2
    tickets = connection.execute(
        "select ticket_id, created_at, channel, status, agent_id, _extra_columns->>'tags' from raw.tickets order by 1"
    ).fetchall()
    assert tickets[0] == ("9001", datetime(2025, 3, 1, 8, 0), "web", "pending", "77", '["delivery","late"]')
    assert tickets[1][2:5] == ("email", "solved", None)
    scores = connection.execute("select survey_id, score, comment from raw.satisfaction_surveys order by 1").fetchall()
    assert scores == [("501", 5, "Quick, friendly help"), ("502", 1, "Still waiting")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("system: x\nentities:\n  ordrs:\n    files: 'a/*'\n", "entities.ordrs: unknown entity"),
        (
            "system: x\nentities:\n  orders:\n    files: 'a/*'\n    columns: {order_idd: Id}\n",
            "entities.orders.columns.order_idd: not a column of orders",
        ),
        ("system: x\nentities:\n  orders:\n    files: '../etc/*'\n", "entities.orders.files: '../etc/*' must be"),
        ("system: x\nentities:\n  orders:\n    files: '/etc/*'\n", "entities.orders.files: '/etc/*' must be"),
        (
            "system: x\nentities:\n  orders:\n    files: 'a/*'\n    timezone: Mars/Olympus\n",
            "entities.orders.timezone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            "system: x\nentities:\n  orders:\n    files: 'a/*'\n    encoding: klingon\n",
            "entities.orders.encoding: 'klingon' is not an encoding",
        ),
        (
            "system: x\nentities:\n  orders:\n    files: 'a/*'\n    delimiter: ';;'\n",
            "entities.orders.delimiter: ';;' must be a single character",
        ),
        ("system: x\nentities:\n  orders:\n    file: 'a/*'\n", "entities.orders.files: Field required"),
        ("system: x\nentities:\n  orders:\n    files: 'a/*'\n    colums: {}\n", "entities.orders.colums: Extra inputs"),
        ("system: x\nentities: [orders\n", "not valid YAML"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_wrong_config_names_the_file_and_the_key(text: str, expected: str):
    with pytest.raises(SourceConfigError) as raised:
        parse_source_config(text, "sources/x.yml")
    assert str(raised.value).startswith("sources/x.yml: ")
    assert expected in str(raised.value)


def test_two_files_with_the_same_system_name_are_refused(tmp_path: Path):
    for name in ("a.yml", "b.yml"):
        (tmp_path / name).write_text("system: same\nentities:\n  orders:\n    files: 'x/*'\n")
    with pytest.raises(SourceConfigError, match="system name\\(s\\) same used by more than one file"):
        active_source_configs(tmp_path)
