"""Source configs: other systems' exports load by configuration alone; wrong configs are refused clearly."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.contracts import CONTRACTS
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
    assert {"canonical", "salesforce", "zendesk", "mailchimp", "shopify", "etsy", "hubspot", "stripe"} <= systems


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
                                                          "returned, pending, refunded, unknown")]  # fmt: skip
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


# --- Number formats and derived columns (issue 15, points 1 and 3) ---------------------------


def validated(tmp_path: Path, entity: str, mapping_yaml: str, csv: str, name: str = "export.csv"):
    """Read ``csv`` with the real reader and validate it under a one-entity config."""
    from dagster_project.ingestion.landing_files import LandingFile
    from dagster_project.ingestion.reading import read_as_text
    from dagster_project.ingestion.validation import validate_rows

    config = parse_source_config(f"system: test\nentities:\n  {entity}:\n{mapping_yaml}", "sources/test.yml")
    mapping = config.entities[entity]
    path = tmp_path / name
    path.write_text(csv, encoding="utf-8")
    landing_file = LandingFile(path=path, relative_path=name, content=path.read_bytes(), format="csv")
    return validate_rows(read_as_text(landing_file, mapping), CONTRACTS[entity], name, mapping, LOADED_AT)


def reasons(result) -> dict[int, str]:
    return dict(zip(result.quarantined["_source_line"], result.quarantined["_quarantine_reason"], strict=True))


ORDERS_CSV_HEADER = "order_id,customer_id,ordered_at,currency,total_amount\n"


def orders_csv(*amounts: str, currency: str = "") -> str:
    lines = [f'O{index},C1,2025-01-01,{currency},"{amount}"' for index, amount in enumerate(amounts, 1)]
    return ORDERS_CSV_HEADER + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("number_format", "text", "amount", "currency"),
    [
        ("", "$1,550.98", 1550.98, "USD"),  # the examples, with the default format
        ("", "(12.00)", -12.0, None),
        ("", "USD 12.00", 12.0, "USD"),
        ("", "12.00 GBP", 12.0, "GBP"),
        ("", "-£5", -5.0, "GBP"),
        ("", "¥1,000,000", 1_000_000.0, "JPY"),
        ("", "12.50-", -12.5, None),
        ("", "1,550,000", 1_550_000.0, None),  # a repeated comma can only group thousands
        ("", "1.550", 1.55, None),  # a point is the decimal separator, as always
        ("", "1e3", 1000.0, None),  # what a plain cast read before still reads the same
        ("    number_format: {decimal: ',', thousands: '.'}\n", "1.550,98 €", 1550.98, "EUR"),
        ("    number_format: {decimal: ',', thousands: '.'}\n", "(€ 3,50)", -3.5, "EUR"),
        ("    number_format: {decimal: ',', thousands: '.'}\n", "1.550", 1550.0, None),
        ("    number_format: {decimal: ',', thousands: ' '}\n", "1\u202f550,98 EUR", 1550.98, "EUR"),
        ("    number_format: {decimal: '.', thousands: \"'\"}\n", "CHF 1'550.98", 1550.98, "CHF"),
        ("    number_format: {decimal: '.', thousands: ','}\n", "1,550", 1550.0, None),
        ("    number_format: {decimal: ','}\n", "1.550,98", 1550.98, None),  # unambiguous without thousands
        ("    decimal_comma: true\n", "1.234,50", 1234.5, None),  # the old key keeps its meaning
        ("    numbers: {total_amount: {decimal: ',', thousands: '.'}}\n", "99,90", 99.9, None),
        ("    numbers: {total_amount: {currency_symbols: {'$': CAD}}}\n", "$12.00", 12.0, "CAD"),
    ],
)
def test_amounts_are_read_in_the_configured_format(tmp_path, number_format, text, amount, currency):
    result = validated(tmp_path, "orders", "    files: '*.csv'\n" + number_format, orders_csv(text))
    assert reasons(result) == {}
    assert result.loaded.select("total_amount", "currency").row(0) == (amount, currency)


@pytest.mark.parametrize(
    ("number_format", "text", "reason"),
    [
        ("", "1,550", "cannot parse '1,550' as decimal: a lone ',' may separate thousands or decimals: declare "
                      "decimal and thousands in number_format or numbers.total_amount"),
        ("", "99,90", "cannot parse '99,90' as decimal: does not match the number format "
                      "(decimal '.', thousands where unambiguous)"),
        ("", "1.550,98 €", "does not match the number format (decimal '.', thousands where unambiguous)"),
        ("    number_format: {decimal: ','}\n", "1.550", "a lone '.' may separate thousands or decimals"),
        ("    number_format: {decimal: ',', thousands: '.'}\n", "$1,550.98",
         "does not match the number format (decimal ',', thousands '.')"),
        ("    number_format: {thousands: ''}\n", "1,550.98", "(decimal '.', thousands none)"),
        ("", "twelve", "total_amount: cannot parse 'twelve' as decimal"),
        ("", "$ 1 2", "total_amount: cannot parse '$ 1 2' as decimal"),
        ("", "(12.00", "total_amount: cannot parse '(12.00' as decimal"),
        ("", "-(12.00)", "total_amount: cannot parse '-(12.00)' as decimal"),
        ("", "$12 €", "total_amount: cannot parse '$12 €' as decimal: written with two different currencies"),
        ("    number_format: {accounting_negatives: false}\n", "(12.00)", "cannot parse '(12.00)' as decimal"),
        ("    number_format: {currency_symbols: false}\n", "$12.00",
         "cannot parse '$12.00' as decimal: currency symbols and codes are turned off for this column"),
        ("    number_format: {currency: EUR}\n", "$12.00",
         "cannot parse '$12.00' as decimal: written in USD, but the format's currency is EUR"),
    ],
)  # fmt: skip
def test_unreadable_or_ambiguous_amounts_are_quarantined_with_the_column_and_why(tmp_path, number_format, text, reason):
    result = validated(tmp_path, "orders", "    files: '*.csv'\n" + number_format, orders_csv(text, "3"))
    assert result.loaded["order_id"].to_list() == ["O2"]
    [(line, why)] = reasons(result).items()
    assert line == 2 and why.startswith("total_amount: ") and reason in why


def test_a_currency_in_the_amount_fills_the_row_and_a_different_one_is_quarantined(tmp_path):
    csv = (
        "order_id,customer_id,ordered_at,currency,total_amount,discount_amount\n"
        "O1,C1,2025-01-01,,$12.00,\n"  # filled: USD
        "O2,C1,2025-01-01,usd,$12.00,$1.00\n"  # agrees (case aside): kept as given
        "O3,C1,2025-01-01,EUR,$12.00,\n"  # the row says EUR, the amount USD
        "O4,C1,2025-01-01,,12.00 EUR,$1.00\n"  # two amounts, two currencies
        "O5,C1,2025-01-01,GBP,12.00,\n"  # no currency in the text: nothing to check
    )
    result = validated(tmp_path, "orders", "    files: '*.csv'\n", csv)
    assert result.loaded.select("order_id", "currency", "total_amount").rows() == [
        ("O1", "USD", 12.0),
        ("O2", "usd", 12.0),
        ("O5", "GBP", 12.0),
    ]
    assert reasons(result) == {
        4: "currency: 'EUR' differs from the currency the amounts are written in (total_amount USD)",
        5: "amounts are written in different currencies (total_amount EUR, discount_amount USD)",
    }


def test_a_constant_currency_is_checked_against_the_amounts(tmp_path):
    result = validated(
        tmp_path, "orders", "    files: '*.csv'\n    constants: {currency: EUR}\n", orders_csv("€5.00", "$5.00", "5")
    )
    assert result.loaded.select("order_id", "currency").rows() == [("O1", "EUR"), ("O3", "EUR")]
    assert reasons(result) == {3: "currency: 'EUR' differs from the currency the amounts are written in "
                                  "(total_amount USD)"}  # fmt: skip


def test_an_amount_with_a_currency_but_nowhere_to_record_it_needs_the_currency_named(tmp_path):
    csv = "product_id,list_price\nP1,€650.00\nP2,650.00\n"
    refused = validated(tmp_path, "products", "    files: '*.csv'\n", csv)
    assert refused.loaded["product_id"].to_list() == ["P2"]
    assert reasons(refused) == {
        2: "list_price: cannot parse '€650.00' as decimal: written in EUR, but products has no currency column to "
        "record it in: name the currency of these amounts with numbers.list_price.currency or number_format.currency"
    }
    named = validated(tmp_path, "products", "    files: '*.csv'\n    numbers: {list_price: {currency: EUR}}\n", csv)
    assert named.loaded["list_price"].to_list() == [650.0, 650.0]


def test_whole_numbers_take_separators_but_no_currency(tmp_path):
    csv = 'order_id,line_number,product_id,quantity,unit_price\nO1,1,P1,"1.000","2,50"\nO1,2,P1,$3,1\nO1,3,P1,(2),1\n'
    result = validated(tmp_path, "order_lines", "    files: '*.csv'\n    decimal_comma: true\n", csv)
    assert result.loaded.select("line_number", "quantity", "unit_price").rows() == [(1, 1000, 2.5), (3, -2, 1.0)]
    assert reasons(result) == {3: "quantity: cannot parse '$3' as integer: a currency in a whole-number column"}


MAILER_CONFIG = """\
    files: '*.csv'
    columns: {email: Email, campaign_id: Campaign, event_type: Action, occurred_at: Time}
    derived:
      event_id: {hash: [email, campaign_id, event_type, occurred_at]}
"""
MAILER_ACTIVITY = (
    "Email,Campaign,Action,Time\n"
    "a@x.com,C1,opened,2025-01-01 10:00\n"
    "a@x.com,C1,clicked,2025-01-01 10:00\n"
    "a@x.com,,opened,2025-01-01 10:00\n"  # no campaign: another event than the first
    "b@x.com,C1,opened,2025-01-01 10:00\n"
)


def test_a_hashed_event_id_is_stable_across_reads_and_distinct_per_event(tmp_path):
    first = validated(tmp_path, "email_events", MAILER_CONFIG, MAILER_ACTIVITY)
    again = validated(tmp_path, "email_events", MAILER_CONFIG, MAILER_ACTIVITY)
    ids = first.loaded["event_id"].to_list()
    assert ids == again.loaded["event_id"].to_list()
    assert len(set(ids)) == 4 and all(len(event_id) == 32 for event_id in ids)
    # Documented exactly: SHA-256 of the values as loaded, each <length>:<text> or ~ when missing, joined by |.
    import hashlib

    expected = hashlib.sha256(b"7:a@x.com|2:C1|6:opened|26:2025-01-01T10:00:00.000000").hexdigest()[:32]
    assert ids[0] == expected
    assert ids[2] == hashlib.sha256(b"7:a@x.com|~|6:opened|26:2025-01-01T10:00:00.000000").hexdigest()[:32]
    # A re-export in another order, another spelling of the same time and value, gives the same ids.
    reexport = "Email,Campaign,Action,Time\nb@x.com,C1,Opened,2025-01-01T10:00:00\na@x.com,C1,opened,2025-01-01 10:00\n"
    assert validated(tmp_path, "email_events", MAILER_CONFIG, reexport).loaded["event_id"].to_list() == [
        ids[3],
        ids[0],
    ]


def test_a_redelivered_activity_export_is_a_correction_of_the_same_events(tmp_path):
    """Loaded twice under two names with a changed campaign name column, the derived keys match,
    so staging sees a correction of the same events rather than new ones."""
    landing = tmp_path / "landing"
    (landing / "mailer").mkdir(parents=True)
    (landing / "mailer" / "activity_1.csv").write_text(MAILER_ACTIVITY)
    (landing / "mailer" / "activity_2.csv").write_text(MAILER_ACTIVITY.replace("Time\n", "Time,Note\n", 1)
                                                       .replace("10:00\n", "10:00,resent\n"))  # fmt: skip
    config = parse_source_config("system: mailer\nentities:\n  email_events:\n" + MAILER_CONFIG.replace(
        "'*.csv'", "'mailer/*.csv'"), "sources/mailer.yml")  # fmt: skip
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        result = load_entity(
            connection, CONTRACTS["email_events"], landing, LOADED_AT, sources=mappings_for([config], "email_events")
        )
        assert [file.status for file in result.files] == ["loaded", "loaded"]
        per_file = connection.execute(
            "select _source_file, list(event_id order by _source_line) from raw.email_events group by 1 order by 1"
        ).fetchall()
    assert per_file[0][1] == per_file[1][1] and len(set(per_file[0][1])) == 4


def test_concatenated_and_numbered_columns(tmp_path):
    csv = (
        "Invoice,Product,Qty,Price\n"
        "INV-7,P2,1,10\n"
        "INV-8,P1,1,10\n"
        "INV-7,P1,2,10\n"
        "INV-7,P1,3,10\n"  # the same product as the line before: a tie, numbered in file order
        "INV-8,P9,1,10\n"
    )
    config = (
        "    files: '*.csv'\n"
        "    columns: {order_id: Invoice, product_id: Product, quantity: Qty, unit_price: Price}\n"
        "    derived:\n"
        "      line_number: {row_number: {within: [order_id]}}\n"
    )
    in_file_order = validated(tmp_path, "order_lines", config, csv)
    assert in_file_order.loaded.select("order_id", "line_number").rows() == [
        ("INV-7", 1),
        ("INV-8", 1),
        ("INV-7", 2),
        ("INV-7", 3),
        ("INV-8", 2),
    ]
    by_product = validated(
        tmp_path, "order_lines", config.replace("[order_id]", "[order_id], order_by: [product_id]"), csv
    )
    assert by_product.loaded.select("product_id", "quantity", "line_number").rows() == [
        ("P2", 1, 3),
        ("P1", 1, 1),
        ("P1", 2, 1),
        ("P1", 3, 2),
        ("P9", 1, 2),
    ]
    # Numbered from the file alone: the same file gives the same numbers.
    assert validated(tmp_path, "order_lines", config, csv).loaded.equals(in_file_order.loaded)

    concat = (
        "    files: '*.csv'\n"
        "    columns: {order_id: Invoice, quantity: Qty, unit_price: Price}\n"
        "    derived:\n"
        "      line_number: {row_number: {within: [order_id]}}\n"
        "      product_id: {concat: [{literal: SKU}, order_id, quantity], separator: '-'}\n"
    )
    concatenated = validated(tmp_path, "order_lines", concat, csv)
    assert concatenated.loaded["product_id"].to_list()[:2] == ["SKU-INV-7-1", "SKU-INV-8-1"]
    assert concatenated.extra_columns == ["Product"]


def test_a_concatenation_with_a_missing_part_is_missing(tmp_path):
    config = "    files: '*.csv'\n    derived:\n      customer_id: {concat: [country, email], separator: ':'}\n"
    csv = "email,country\na@x.com,DE\nb@x.com,\n"
    result = validated(tmp_path, "customers", config, csv)
    assert result.loaded.select("customer_id", "email").rows() == [("DE:a@x.com", "a@x.com")]
    assert reasons(result) == {3: "customer_id: required value is missing"}


def test_one_header_feeds_two_canonical_columns(tmp_path):
    config = "    files: '*.csv'\n    columns: {customer_id: Email, email: Email, first_name: First}\n"
    result = validated(tmp_path, "customers", config, "Email,First,Owner\nada@x.com,Ada,Bob\n")
    assert result.loaded.select("customer_id", "email", "first_name").rows() == [("ada@x.com", "ada@x.com", "Ada")]
    assert result.extra_columns == ["Owner"]


def test_a_file_without_a_column_a_derivation_needs_is_rejected(tmp_path):
    from dagster_project.ingestion.validation import ContractViolationError

    with pytest.raises(ContractViolationError, match=r"export.csv: event_id is derived \(hash\) from campaign_id "
                                                     r"\(header 'Campaign'\), which the file does not have"):  # fmt: skip
        validated(tmp_path, "email_events", MAILER_CONFIG, "Email,Action,Time\na@x.com,opened,2025-01-01\n")


@pytest.mark.parametrize(
    ("entity_yaml", "expected"),
    [
        ("derived: {event_id: {hash: [email, campaign]}}",
         "entities.email_events.derived.event_id.hash: 'campaign' is not a column of email_events"),
        ("derived: {evnt_id: {hash: [email]}}", "entities.email_events.derived.evnt_id: not a column of email_events"),
        ("derived: {event_id: {hash: [email], concat: [email]}}",
         "entities.email_events.derived.event_id: give exactly one of hash, concat, row_number (got hash, concat)"),
        ("derived: {event_id: {}}", "entities.email_events.derived.event_id: give exactly one of hash, concat"),
        ("derived: {event_id: {hash: []}}", "entities.email_events.derived.event_id.hash: "),
        ("derived: {event_id: {hash: [email], separator: '-'}}", "separator belongs to concat"),
        ("derived: {event_id: {sha1: [email]}}", "entities.email_events.derived.event_id.sha1: Extra inputs"),
        ("derived: {event_id: {hash: [event_id]}}", "derived.event_id.hash: 'event_id' refers to the column itself"),
        ("derived: {event_id: {hash: [email]}, campaign_id: {concat: [event_id]}}",
         "derived.campaign_id.concat: 'event_id' is derived too"),
        ("columns: {event_id: Id}\n    derived: {event_id: {hash: [email]}}",
         "entities.email_events.derived.event_id: also given in columns"),
        ("derived: {event_id: {row_number: {within: [email], order_by: [sent_at]}}}",
         "derived.event_id.row_number: 'sent_at' is not a column of email_events"),
        ("derived: {event_id: {concat: [email, {text: x}]}}", "entities.email_events.derived.event_id.concat"),
        ("numbers: {email: {decimal: ','}}", "entities.email_events.numbers.email: a string column, not a number"),
        ("derived: {event_id: {hash: [email]}}\n    values: {event_id: {a: b}}",
         "entities.email_events.values.event_id: event_id is derived; value maps apply to file columns"),
    ],
)  # fmt: skip
def test_wrong_derivations_and_formats_are_refused_naming_the_entity_and_key(entity_yaml, expected):
    text = f"system: x\nentities:\n  email_events:\n    files: 'a/*'\n    {entity_yaml}\n"
    with pytest.raises(SourceConfigError) as raised:
        parse_source_config(text, "sources/x.yml")
    assert str(raised.value).startswith("sources/x.yml: ")
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    ("entity_yaml", "expected"),
    [
        ("derived: {line_number: {hash: [order_id]}}", "derived.line_number: a hash is text, but line_number is a"),
        ("derived: {unit_price: {row_number: {}}}", "derived.unit_price: a row number is a whole number"),
        ("number_format: {decimal: ',', thousands: ','}", "entities.order_lines.number_format: decimal and thousands separators are both ','"),
        ("number_format: {decimal: ';'}", "entities.order_lines.number_format.decimal: Input should be"),
        ("number_format: {currency: euro}", "entities.order_lines.number_format.currency: String should match"),
        ("numbers: {unit_price: {currency_symbols: {'$': dollar}}}", "'dollar' is not a three-letter ISO 4217 code"),
        ("numbers: {unit_price: {currency_symbols: {'1': USD}}}", "'1' cannot be a currency symbol"),
        ("numbers: {unit_pric: {decimal: ','}}", "entities.order_lines.numbers.unit_pric: not a column of order_lines"),
        ("decimal_comma: true\n    number_format: {decimal: '.'}", "decimal_comma: true contradicts"),
    ],
)  # fmt: skip
def test_wrong_number_formats_are_refused(entity_yaml, expected):
    text = f"system: x\nentities:\n  order_lines:\n    files: 'a/*'\n    {entity_yaml}\n"
    with pytest.raises(SourceConfigError) as raised:
        parse_source_config(text, "sources/x.yml")
    assert str(raised.value).startswith("sources/x.yml: ")
    assert expected in str(raised.value)


def test_mailchimp_style_activity_and_audience_load_with_derived_ids(tmp_path: Path):
    landing = tmp_path / "landing"
    (landing / "mailchimp").mkdir(parents=True)
    (landing / "mailchimp" / "email_activity_2025-03.csv").write_text(
        "Email Address,Campaign ID,Action,Timestamp,URL\n"
        "ada@x.com,CMP1,open,2025-03-01 09:00:00,\n"
        "ada@x.com,CMP1,click,03/01/2025 09:05 AM,https://shop.example/offer\n"
    )
    (landing / "mailchimp" / "members_audience_export.csv").write_text(
        "Email Address,First Name,Last Name,CC,OPTIN_TIME,MEMBER_RATING\nada@x.com,Ada,Lovelace,GB,2024-01-02 08:00:00,4\n"
    )
    configs = [load_source_config(BUILT_IN_CONFIG_DIR / "mailchimp_style.yml")]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        for entity in ("email_events", "customers"):
            result = load_entity(
                connection, CONTRACTS[entity], landing, LOADED_AT, sources=mappings_for(configs, entity)
            )
            assert result.rows_quarantined == 0
        events = connection.execute(
            "select event_id, event_type, occurred_at from raw.email_events order by 3"
        ).fetchall()
        customers = connection.execute("select customer_id, email, first_name from raw.customers").fetchall()
    assert [(kind, at) for _, kind, at in events] == [
        ("opened", datetime(2025, 3, 1, 9, 0)),
        ("clicked", datetime(2025, 3, 1, 9, 5)),
    ]
    assert len({event_id for event_id, _, _ in events}) == 2
    assert customers == [("ada@x.com", "ada@x.com", "Ada")]


# --- statuses the vocabulary does not name ---------------------------------------------------


def test_a_blank_status_is_unknown_and_a_file_without_statuses_leaves_it_empty(tmp_path):
    with_statuses = (
        "order_id,customer_id,ordered_at,status\nO1,C1,2025-01-01,completed\nO2,C1,2025-01-02,\nO3,C1,2025-01-03,  \n"
    )
    result = validated(tmp_path, "orders", "    files: '*.csv'\n", with_statuses)
    assert result.loaded.select("order_id", "status").rows() == [
        ("O1", "completed"),
        ("O2", "unknown"),
        ("O3", "unknown"),
    ]
    without = validated(
        tmp_path, "orders", "    files: '*.csv'\n", "order_id,customer_id,ordered_at\nO1,C1,2025-01-01\n"
    )
    assert without.loaded["status"].to_list() == [None]


def test_a_value_map_fallback_loads_the_words_it_does_not_name_as_unknown(tmp_path):
    csv = (
        "order_id,customer_id,ordered_at,status\n"
        "O1,C1,2025-01-01,paid\nO2,C1,2025-01-02,voided\nO3,C1,2025-01-03,Partially Paid\n"
        "O4,C1,2025-01-04,Refunded\nO5,C1,2025-01-05,\n"
    )
    mapping = "    files: '*.csv'\n    values: {status: {paid: completed, voided: cancelled, '*': unknown}}\n"
    result = validated(tmp_path, "orders", mapping, csv)
    assert result.quarantined.is_empty()
    assert result.loaded.select("order_id", "status").rows() == [
        ("O1", "completed"),
        ("O2", "cancelled"),
        ("O3", "unknown"),  # a word the map does not name
        ("O4", "refunded"),  # already a word of the vocabulary
        ("O5", "unknown"),  # blank
    ]
    # Without the fallback, a word outside the vocabulary is quarantined with its reason, as before.
    strict = validated(tmp_path, "orders", "    files: '*.csv'\n    values: {status: {paid: completed}}\n", csv)
    assert set(reasons(strict)) == {3, 4}
    assert "status: 'Partially Paid' is not one of" in reasons(strict)[4]


# --- crm sources check --------------------------------------------------------------------------


def test_sources_check_says_what_each_file_would_load_as_and_writes_nothing(tmp_path):
    from dagster_project.ingestion.source_check import check_sources
    from tests.pipeline import run_crm

    data = tmp_path / "data"
    landing, sources = data / "landing", data / "sources"
    sources.mkdir(parents=True)
    for name in ("salesforce_style.yml", "zendesk_style.yml"):
        shutil.copy(BUILT_IN_CONFIG_DIR / name, sources / name)
    write_salesforce_and_zendesk_exports(landing)
    (landing / "salesforce" / "Opportunities 2025.csv").write_text("Id;Amount\n1;2\n")  # no config reads it

    checks = {check.relative_path: check for check in check_sources(landing, sources, LOADED_AT)}
    orders = checks["salesforce/Orders 2025.csv"]
    assert (orders.system, orders.entity, orders.outcome) == ("salesforce", "orders", "would load")
    assert (orders.rows_read, orders.rows_loaded, orders.rows_quarantined) == (3, 2, 1)
    assert orders.quarantined == [(4, "status: 'Shipped' is not one of completed, cancelled, returned, pending, "
                                      "refunded, unknown")]  # fmt: skip
    sources_of = dict(orders.columns)
    assert sources_of["order_id"] == "header 'Order Number'"
    assert sources_of["channel"] == "constant 'phone'"
    assert sources_of["status"].startswith("header 'Status', values mapped")
    assert sources_of["discount_amount"] == "not in the file"
    assert orders.preview["order_id"].to_list() == ["00000101", "00000102"]
    assert checks["salesforce/Opportunities 2025.csv"].outcome == "unmatched"
    assert checks["zendesk/tickets_2025-03.json"].entity == "tickets"
    assert not list(data.rglob("*.duckdb"))  # nothing written

    result = run_crm(data, "sources", "check", "--rows", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    output = " ".join(result.stdout.split())
    assert "salesforce/Orders 2025.csv (would load) salesforce / orders" in output
    assert "3 rows: 2 would load, 1 rows quarantined" in output and "line 4: status: 'Shipped'" in output
    assert "salesforce/Opportunities 2025.csv (unmatched) no config matches it" in output
    assert not list(data.rglob("*.duckdb"))

    (sources / "broken.yml").write_text(
        "system: broken\nentities:\n  orders:\n    files: '*.csv'\n    timezone: Mars/Olympus\n"
    )
    refused = run_crm(data, "sources", "check")
    assert refused.returncode != 0 and "Mars/Olympus" in refused.stderr


# --- Line-item layouts (issue 15, point 2) ----------------------------------------------------

# A store platform's order export: one row per line item; the order number, email and date on
# every row, the order-level fields on the first row of each order only.
LINE_ITEM_EXPORT = (
    "Name,Email,Financial Status,Currency,Total,Created at,Lineitem quantity,Lineitem sku,Lineitem price\n"
    "#1001,ada@x.com,paid,EUR,30.00,2025-01-02 10:00:00,1,P1,10.00\n"
    "#1001,ada@x.com,,,,2025-01-02 10:00:00,2,P2,10.00\n"
    "#1002,bob@x.com,voided,EUR,5.00,2025-01-03 11:00:00,1,P1,5.00\n"
    "#1003,cy@x.com,refunded,EUR,12.00,2025-01-04 12:00:00,1,P3,12.00\n"
    "#1003,cy@x.com,,,,2025-01-04 12:00:00,1,P4,0.00\n"
    "#1003,cy@x.com,,,,2025-01-04 12:00:00,1,P5,0.00\n"
    "#1004,dee@x.com,,EUR,7.00,2025-01-05 09:00:00,1,P1,7.00\n"
)
LINE_ITEM_ORDERS = (
    "    files: '*.csv'\n"
    "    columns: {order_id: Name, customer_id: Email, status: Financial Status, currency: Currency,\n"
    "              total_amount: Total, ordered_at: Created at}\n"
    "    values: {status: {paid: completed, voided: cancelled, refunded: returned}}\n"
    "    line_items: {order: [order_id]}\n"
)
LINE_ITEM_LINES = (
    "    files: '*.csv'\n"
    "    columns: {order_id: Name, quantity: Lineitem quantity, product_id: Lineitem sku, unit_price: Lineitem price}\n"
    "    line_items: {order: [order_id]}\n"
    "    derived: {line_number: {row_number: {within: [order_id]}}}\n"
)


def test_a_line_item_export_reads_as_one_order_per_order_and_as_numbered_lines(tmp_path):
    orders = validated(tmp_path, "orders", LINE_ITEM_ORDERS, LINE_ITEM_EXPORT)
    assert orders.quarantined.is_empty()
    assert orders.loaded.select(
        "order_id", "customer_id", "status", "currency", "total_amount", "_source_line"
    ).rows() == [
        ("#1001", "ada@x.com", "completed", "EUR", 30.0, 2),
        ("#1002", "bob@x.com", "cancelled", "EUR", 5.0, 4),
        ("#1003", "cy@x.com", "returned", "EUR", 12.0, 5),
        # No status on any of its rows: an order of unknown fate, not a sale.
        ("#1004", "dee@x.com", "unknown", "EUR", 7.0, 8),
    ]
    lines = validated(tmp_path, "order_lines", LINE_ITEM_LINES, LINE_ITEM_EXPORT)
    assert lines.quarantined.is_empty()
    assert lines.loaded.select("order_id", "line_number", "product_id", "quantity").rows() == [
        ("#1001", 1, "P1", 1),
        ("#1001", 2, "P2", 2),
        ("#1002", 1, "P1", 1),
        ("#1003", 1, "P3", 1),
        ("#1003", 2, "P4", 1),
        ("#1003", 3, "P5", 1),
        ("#1004", 1, "P1", 1),
    ]
    # Re-reading the same file gives the same records: a re-delivery is recognised.
    assert validated(tmp_path, "orders", LINE_ITEM_ORDERS, LINE_ITEM_EXPORT).loaded.equals(orders.loaded)


def test_an_order_total_can_be_the_sum_of_its_item_prices(tmp_path):
    marketplace = (
        "order-id\tbuyer-email\tpurchase-date\torder-status\tsku\tquantity\titem-price\n"
        "113-1\tada@x.com\t2025-01-02T10:00:00+00:00\tShipped\tP1\t2\t20.00\n"
        "113-1\tada@x.com\t2025-01-02T10:00:00+00:00\tShipped\tP2\t1\t5.50\n"
        "113-2\tbob@x.com\t2025-01-03T10:00:00+00:00\tShipped\tP1\t1\t\n"
    )
    config = (
        "    files: '*.csv'\n    delimiter: \"\\t\"\n"
        "    columns: {order_id: order-id, customer_id: buyer-email, ordered_at: purchase-date, status: order-status,\n"
        "              total_amount: item-price}\n"
        "    values: {status: {Shipped: completed}}\n"
        "    line_items: {order: [order_id], sum: [total_amount]}\n"
    )
    orders = validated(tmp_path, "orders", config, marketplace)
    assert orders.loaded.select("order_id", "total_amount").rows() == [("113-1", 25.5), ("113-2", None)]


def test_an_order_named_on_its_first_row_only_fills_down(tmp_path):
    report = (
        "Order,Customer,Date,Item,Qty,Price\n"
        "A-1,C1,2025-01-02,P1,1,3.00\n"
        ",,,P2,2,4.00\n"
        "A-2,C2,2025-01-03,P3,1,5.00\n"
        ",,,P1,1,3.00\n"
    )
    lines = validated(
        tmp_path,
        "order_lines",
        "    files: '*.csv'\n"
        "    columns: {order_id: Order, product_id: Item, quantity: Qty, unit_price: Price}\n"
        "    line_items: {order: [order_id], fill_down: [order_id]}\n"
        "    derived: {line_number: {row_number: {within: [order_id]}}}\n",
        report,
    )
    assert lines.loaded.select("order_id", "line_number", "product_id").rows() == [
        ("A-1", 1, "P1"),
        ("A-1", 2, "P2"),
        ("A-2", 1, "P3"),
        ("A-2", 2, "P1"),
    ]
    orders = validated(
        tmp_path,
        "orders",
        "    files: '*.csv'\n"
        "    columns: {order_id: Order, customer_id: Customer, ordered_at: Date}\n"
        "    line_items: {order: [order_id], fill_down: [order_id, customer_id]}\n",
        report,
    )
    assert orders.loaded.select("order_id", "customer_id").rows() == [("A-1", "C1"), ("A-2", "C2")]


def test_an_order_whose_rows_disagree_or_fail_is_quarantined_whole(tmp_path):
    export = LINE_ITEM_EXPORT.replace("#1001,ada@x.com,,,,", "#1001,ada@x.com,refunded,,,").replace(
        "#1003,cy@x.com,,,,2025-01-04 12:00:00,1,P5", "#1003,cy@x.com,,,,2025-13-04 12:00:00,1,P5"
    )
    export += ",zed@x.com,paid,EUR,1.00,2025-01-06 09:00:00,1,P1,1.00\n"  # a row without its order
    orders = validated(tmp_path, "orders", LINE_ITEM_ORDERS, export)
    assert orders.loaded["order_id"].to_list() == ["#1002", "#1004"]
    assert reasons(orders) == {
        2: "order_id '#1001': its rows disagree on status (this row: 'completed')",
        3: "order_id '#1001': its rows disagree on status (this row: 'returned')",
        5: "order_id '#1003': quarantined with the rest of its order (line 7 fails)",
        6: "order_id '#1003': quarantined with the rest of its order (line 7 fails)",
        7: "ordered_at: cannot parse '2025-13-04 12:00:00' as timestamp",
        9: "order_id: required value is missing; the row names no order (order_id); for an export that names the "
        "order on its first row only, list it under line_items.fill_down",
    }
    # Every row of the file is in a loaded order (one row each here) or quarantined.
    assert orders.loaded.height + orders.quarantined.height == export.count("\n") - 1


@pytest.mark.parametrize(
    ("entity_yaml", "expected"),
    [
        ("line_items: {order: []}", "entities.order_lines.line_items.order: "),
        ("line_items: {order: [order_no]}", "line_items.order: 'order_no' is not a column of order_lines"),
        ("line_items: {order: [order_id], sum: [unit_price]}", "line_items.sum: columns add up only when the file is read per order"),
        ("line_items: {order: [order_id], fill_down: [line_number]}\n    derived: {line_number: {row_number: {within: [order_id]}}}",
         "line_items.fill_down: 'line_number' is not read from the file"),
        ("line_items: {order: [order_id], fill: down}", "entities.order_lines.line_items.fill: Extra inputs"),
    ],
)  # fmt: skip
def test_wrong_line_item_settings_are_refused(entity_yaml, expected):
    text = f"system: x\nentities:\n  order_lines:\n    files: 'a/*'\n    {entity_yaml}\n"
    with pytest.raises(SourceConfigError) as raised:
        parse_source_config(text, "sources/x.yml")
    assert expected in str(raised.value)


def test_orders_summing_a_text_column_is_refused():
    text = (
        "system: x\nentities:\n  orders:\n    files: 'a/*'\n"
        "    line_items: {order: [order_id], sum: [status, order_id]}\n"
    )
    with pytest.raises(SourceConfigError) as raised:
        parse_source_config(text, "sources/x.yml")
    assert "line_items.sum: 'status' is a string column, not a number" in str(raised.value)
    assert "line_items.sum: 'order_id' names the order" in str(raised.value)


def test_sources_check_shows_one_file_read_as_orders_and_as_lines(tmp_path):
    from dagster_project.ingestion.source_check import check_sources
    from tests.pipeline import run_crm

    data = tmp_path / "data"
    (data / "landing" / "shop").mkdir(parents=True)
    (data / "sources").mkdir()
    (data / "landing" / "shop" / "orders_export.csv").write_text(LINE_ITEM_EXPORT)
    (data / "sources" / "shop.yml").write_text(
        "system: shop\nentities:\n  orders:\n"
        + LINE_ITEM_ORDERS.replace("'*.csv'", "'shop/orders_export*.csv'")
        + "  order_lines:\n"
        + LINE_ITEM_LINES.replace("'*.csv'", "'shop/orders_export*.csv'")
    )
    checks = check_sources(data / "landing", data / "sources", LOADED_AT)
    by_entity = {check.entity: check for check in checks}
    assert [check.relative_path for check in checks] == ["shop/orders_export.csv"] * 2
    orders, lines = by_entity["orders"], by_entity["order_lines"]
    assert (orders.per_order, orders.rows_read, orders.rows_loaded, orders.rows_quarantined) == (True, 7, 4, 0)
    assert (lines.per_order, lines.rows_read, lines.rows_loaded) == (False, 7, 7)
    assert dict(lines.columns)["line_number"] == "derived: row_number of order_id"

    output = " ".join(run_crm(data, "sources", "check").stdout.split())
    assert "7 rows: 4 orders (line items folded per order) would load, 0 rows quarantined" in output
    assert "7 rows: 7 would load, 0 rows quarantined" in output
