"""Ingestion functions, without Dagster: contract checks, quarantine, ledger, idempotence."""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from dagster_project.core.contracts import CONTRACTS, ENTITIES
from dagster_project.ingestion import load_entity
from dagster_project.ingestion.ledger import next_load_time
from tests.generated import write_export

LOADED_AT = datetime(2026, 1, 1, 12, 0)
ORDERS = CONTRACTS["orders"]


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    (folder / "sales" / "orders").mkdir(parents=True)
    return folder


def write(landing: Path, name: str, text: str, entity: str = "orders") -> Path:
    return write_export(landing, entity, name, text)


def rows(connection, query: str) -> list[tuple]:
    return connection.execute(query).fetchall()


GOOD_ORDERS = (
    "order_id,customer_id,ordered_at,status,channel,currency,total_amount,discount_amount\n"
    "O1,C1,2025-01-05T10:00:00Z,completed,web,USD,100.50,0\n"
    "O2,C2,2025-01-06 11:30:00,Completed,store,USD,20,5.25\n"
    "O3,C1,2025-01-07T08:00:00+02:00,pending,web,USD,1.00,\n"
)


def test_loads_a_csv_with_types_and_lineage(landing, connection):
    write(landing, "orders_1.csv", GOOD_ORDERS)
    result = load_entity(connection, ORDERS, landing, LOADED_AT)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 3, 0)
    loaded = rows(
        connection,
        "select order_id, ordered_at, status, total_amount, discount_amount, _source_file, _source_line, "
        "_loaded_at from raw.orders order by order_id",
    )
    assert loaded[0] == (
        "O1",
        datetime(2025, 1, 5, 10),
        "completed",
        100.5,
        0.0,
        "sales/orders/orders_1.csv",
        2,
        LOADED_AT,
    )
    assert loaded[1][2] == "completed"  # enum values are normalised to lower case
    assert loaded[2][1] == datetime(2025, 1, 7, 6)  # offsets converted to UTC
    assert loaded[2][4] is None  # blank optional value is NULL, not 0 or ''


def test_bad_rows_are_quarantined_with_file_line_and_column(landing, connection):
    write(
        landing,
        "orders_bad.csv",
        GOOD_ORDERS
        + "O4,,2025-01-08T00:00:00Z,completed,web,USD,10,0\n"
        + "O5,C3,not-a-date,completed,web,USD,10,0\n"
        + "O6,C3,2025-01-08T00:00:00Z,shipped,web,USD,ten,0\n",
    )
    result = load_entity(connection, ORDERS, landing, LOADED_AT)

    assert result.rows_read == result.rows_loaded + result.rows_quarantined == 6
    assert result.rows_quarantined == 3
    quarantined = rows(
        connection,
        "select source_file, source_line, reason, raw_record from raw._quarantine order by source_line",
    )
    assert [(q[0], q[1]) for q in quarantined] == [("sales/orders/orders_bad.csv", line) for line in (5, 6, 7)]
    assert quarantined[0][2] == "customer_id: required value is missing"
    assert quarantined[1][2] == "ordered_at: cannot parse 'not-a-date' as timestamp"
    assert "status: 'shipped' is not one of" in quarantined[2][2]
    assert "total_amount: cannot parse 'ten' as decimal" in quarantined[2][2]
    assert json.loads(quarantined[2][3])["total_amount"] == "ten"
    assert rows(connection, "select count(*) from raw.orders") == [(3,)]


def test_same_content_under_another_name_is_loaded_once(landing, connection):
    write(landing, "orders_1.csv", GOOD_ORDERS)
    write(landing, "orders_1_copy.csv", GOOD_ORDERS)
    first = load_entity(connection, ORDERS, landing, LOADED_AT)
    second = load_entity(connection, ORDERS, landing, LOADED_AT)

    assert [f.status for f in first.files] == ["loaded", "duplicate"]
    assert first.files[1].duplicate_of == "sales/orders/orders_1.csv"
    assert [f.status for f in second.files] == ["unchanged", "unchanged"]
    assert rows(connection, "select count(*) from raw.orders") == [(3,)]
    assert rows(connection, "select source_file, status, rows_loaded, error from raw._file_ledger order by 1") == [
        ("sales/orders/orders_1.csv", "loaded", 3, None),
        ("sales/orders/orders_1_copy.csv", "duplicate", 0, "same content as sales/orders/orders_1.csv"),
    ]


@pytest.mark.parametrize(
    ("content", "expected_error"),
    [
        ("", "sales/orders/broken.csv: the file is empty"),
        ("order_id,customer_id\nO1,C1\n", "sales/orders/broken.csv: missing required column(s) ordered_at"),
    ],
)
def test_unreadable_file_is_rejected_by_name_and_others_still_load(landing, connection, content, expected_error):
    write(landing, "broken.csv", content)
    write(landing, "orders_1.csv", GOOD_ORDERS)
    result = load_entity(connection, ORDERS, landing, LOADED_AT)

    rejected = result.files_with_status("rejected")
    assert len(rejected) == 1 and rejected[0].error.startswith(expected_error)
    assert rows(connection, "select count(*) from raw.orders") == [(3,)]
    assert rows(connection, "select status, error from raw._file_ledger where source_file like '%broken%'")[0][0] == (
        "rejected"
    )


def test_undecodable_file_names_the_file(landing, connection):
    path = landing / "sales" / "orders" / "latin1.csv"
    path.write_bytes("order_id,customer_id,ordered_at\nO1,Jos\xe9,2025-01-01\n".encode("latin-1"))
    result = load_entity(connection, ORDERS, landing, LOADED_AT)
    assert "sales/orders/latin1.csv: line 2: cannot be decoded as utf-8" in result.files[0].error


def test_jsonl_parquet_and_gzip_are_read(landing, connection):
    frame = pl.DataFrame(
        {
            "order_id": ["P1"],
            "customer_id": ["C9"],
            "ordered_at": ["2025-02-01T00:00:00Z"],
            "total_amount": [9.5],
        }
    )
    frame.write_parquet(landing / "sales" / "orders" / "orders.parquet")
    (landing / "sales" / "orders" / "orders.jsonl.gz").write_bytes(
        gzip.compress(b'{"order_id": "J1", "customer_id": "C8", "ordered_at": "2025-02-02", "total_amount": 3}\n')
    )
    load_entity(connection, ORDERS, landing, LOADED_AT)
    assert rows(connection, "select order_id, total_amount from raw.orders order by 1") == [
        ("J1", 3.0),
        ("P1", 9.5),
    ]


def test_json_lines_keep_a_key_that_first_appears_deep_in_the_file_and_numbers_as_written(landing, connection):
    """The reader lists the keys of every line, not of a sample: a key first seen on line 4,000
    still loads (here into the extra columns). Numbers keep their text: an id written as 7 in
    one line and 7.5 in another is "7", not the "7.0" of a column typed as float."""
    lines = [
        {"order_id": f"J{index}", "customer_id": "C1", "ordered_at": "2025-02-02", "total_amount": index % 7}
        for index in range(5_000)
    ]
    lines[3_999]["gift_note"] = "for Ada"
    lines[10]["customer_id"], lines[11]["customer_id"] = 7, 7.5
    (landing / "sales" / "orders" / "orders.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = load_entity(connection, ORDERS, landing, LOADED_AT)
    assert (result.rows_loaded, result.rows_quarantined) == (5_000, 0)
    assert result.files[0].extra_columns == ("gift_note",)
    noted = "select order_id, _extra_columns ->> 'gift_note' from raw.orders where _extra_columns ->> 'gift_note' <> ''"
    assert rows(connection, noted) == [("J3999", "for Ada")]
    assert rows(connection, "select customer_id from raw.orders where order_id in ('J10', 'J11') order by 1") == [
        ("7",),
        ("7.5",),
    ]
    assert rows(connection, "select sum(total_amount) from raw.orders") == [(sum(index % 7 for index in range(5_000)),)]


def test_json_lines_with_nested_values_keep_them_as_compact_json(landing, connection):
    (landing / "sales" / "orders" / "orders.jsonl").write_text(
        '{"order_id": "J1", "customer_id": "C1", "ordered_at": "2025-02-02", "tags": ["a", "b"]}\n'
        '{"order_id": "J2", "customer_id": "C1", "ordered_at": "2025-02-03", "tags": {"k": [1, 2]}}\n'
    )
    load_entity(connection, ORDERS, landing, LOADED_AT)
    assert rows(connection, "select order_id, _extra_columns from raw.orders order by 1") == [
        ("J1", '{"tags":"[\\"a\\",\\"b\\"]"}'),
        ("J2", '{"tags":"{\\"k\\":[1,2]}"}'),
    ]


def test_optional_entity_without_files_gets_an_empty_table(landing, connection):
    for entity in ENTITIES:
        load_entity(connection, CONTRACTS[entity], landing, LOADED_AT)
    assert rows(connection, "select count(*) from raw.tickets") == [(0,)]
    columns = [row[0] for row in rows(connection, "describe raw.tickets")]
    assert columns == [
        *CONTRACTS["tickets"].column_names,
        "_extra_columns",
        "_source_file",
        "_source_line",
        "_loaded_at",
    ]


def test_hostile_header_is_data_not_sql(landing, connection):
    write(
        landing,
        "orders_1.csv",
        'order_id,customer_id,ordered_at,amount"; drop table raw.orders; --\nO1,C1,2025-01-01,1\n',
    )
    result = load_entity(connection, ORDERS, landing, LOADED_AT)
    assert result.files[0].extra_columns == ('amount"; drop table raw.orders; --',)
    assert rows(connection, "select count(*) from raw.orders") == [(1,)]


def test_symlinks_out_of_the_landing_folder_are_not_read(landing, connection, tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text(GOOD_ORDERS)
    (landing / "sales" / "orders" / "link.csv").symlink_to(outside)
    result = load_entity(connection, ORDERS, landing, LOADED_AT)
    assert [(file.source_file, file.status) for file in result.files] == [("sales/orders/link.csv", "skipped")]
    assert rows(connection, "select count(*) from raw.orders") == [(0,)]
    # The ledger says why, once however often the file is seen.
    load_entity(connection, ORDERS, landing, LOADED_AT)
    assert rows(connection, "select source_file, status, error from raw._file_ledger") == [
        ("sales/orders/link.csv", "skipped", "sales/orders/link.csv: a symbolic link: not followed "
         "(copy the file into the landing folder instead)")
    ]  # fmt: skip


def test_ragged_line_is_quarantined_and_the_rest_loads(landing, connection):
    write(
        landing,
        "orders_1.csv",
        GOOD_ORDERS + "O9,C9,2025-01-09,completed\n" + "O10,C9,2025-01-10,completed,web,USD,5,0\n",
    )
    result = load_entity(connection, ORDERS, landing, LOADED_AT)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (5, 4, 1)
    assert rows(connection, "select source_line, reason from raw._quarantine") == [
        (5, "line does not match the header (it has 4 fields, the header has 8)")
    ]


def test_binary_file_named_csv_is_rejected_and_the_rest_loads(landing, connection):
    (landing / "sales" / "orders" / "photo.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    write(landing, "orders_1.csv", GOOD_ORDERS)
    result = load_entity(connection, ORDERS, landing, LOADED_AT)
    [rejected] = result.files_with_status("rejected")
    assert rejected.error.startswith("sales/orders/photo.csv: line 1: cannot be decoded as utf-8")
    assert rows(connection, "select count(*) from raw.orders") == [(3,)]


def test_a_panic_inside_a_reader_rejects_that_file_and_the_others_load(landing, connection, monkeypatch):
    """A panic in polars' Rust code reaches Python as pyo3's PanicException, a BaseException that
    ``except Exception`` lets through: it must cost one file, not the whole load."""
    from dagster_project.ingestion import loader

    real_validate = loader.validate_rows

    def validate_or_panic(text, contract, file_name, *args):
        if file_name.endswith("a_panics.csv"):
            raise pl.exceptions.PanicException("assertion failed: i < self.len()")
        return real_validate(text, contract, file_name, *args)

    monkeypatch.setattr(loader, "validate_rows", validate_or_panic)
    write(landing, "a_panics.csv", GOOD_ORDERS)
    write(landing, "b_orders.csv", GOOD_ORDERS.replace("O1", "O7").replace("O2", "O8").replace("O3", "O9"))
    result = load_entity(connection, ORDERS, landing, LOADED_AT)
    assert [(file.source_file, file.status) for file in result.files] == [
        ("sales/orders/a_panics.csv", "rejected"),
        ("sales/orders/b_orders.csv", "loaded"),
    ]
    assert "PanicException: assertion failed" in result.files[0].error
    assert rows(connection, "select count(*) from raw.orders") == [(3,)]


def test_undecodable_file_does_not_stop_the_others(landing, connection):
    (landing / "sales" / "orders" / "a_latin1.csv").write_bytes(
        "order_id,customer_id,ordered_at\nO9,Jos\xe9,2025-01-01\n".encode("latin-1")
    )
    write(landing, "b_orders.csv", GOOD_ORDERS)
    result = load_entity(connection, ORDERS, landing, LOADED_AT)
    assert [file.status for file in result.files] == ["rejected", "loaded"]
    assert rows(connection, "select count(*) from raw.orders") == [(3,)]


def test_an_unterminated_quote_quarantines_its_line_and_the_lines_it_would_swallow_load(landing, connection):
    write(
        landing,
        "orders_1.csv",
        GOOD_ORDERS + 'O7,"C7,2025-01-09,completed,web,USD,5,0\nO8,C8,2025-01-10,completed,web,USD,6,0\n',
    )
    result = load_entity(connection, ORDERS, landing, LOADED_AT)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (5, 4, 1)
    [(line, reason, raw)] = rows(connection, "select source_line, reason, raw_record from raw._quarantine")
    assert line == 5 and reason == "line has a quote that is never closed: it would swallow the lines after it"
    assert "O7" in raw and "O8" not in raw
    assert rows(connection, "select order_id, _source_line from raw.orders where order_id = 'O8'") == [("O8", 6)]


def test_broken_json_line_is_quarantined_by_line_number(landing, connection):
    contract = CONTRACTS["email_events"]
    folder = landing / "marketing" / "email_events"
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_text(
        '{"event_id": "E1", "email": "a@x.com", "event_type": "sent", "occurred_at": "2025-01-01T00:00:00Z"}\n'
        '{"event_id": "E2", "email": "a@x.com", "event_type": "opened", "occurred_at": \n'
        '["not", "an", "object"]\n'
        '{"event_id": "E3", "email": "b@x.com", "event_type": "clicked", "occurred_at": "2025-01-02T00:00:00Z"}\n'
    )
    result = load_entity(connection, contract, landing, LOADED_AT)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    quarantined = rows(connection, "select source_file, source_line, reason from raw._quarantine order by 2")
    assert quarantined[0][:2] == ("marketing/email_events/events.jsonl", 2)
    assert quarantined[0][2].startswith("line is not valid JSON")
    assert quarantined[1][1:] == (3, "line is not a JSON object")


def test_every_line_number_is_the_physical_line_even_with_quoted_line_breaks(landing, connection):
    write(
        landing,
        "orders_1.csv",
        "order_id,customer_id,ordered_at,status\n"
        'O1,"C1\nsecond line",2025-01-01,completed\n'
        "O2,C2,2025-01-02,completed,extra\n"
        "O3,C3,2025-01-03,bogus\n"
        "O4,C4,2025-01-04,completed\n",
    )
    result = load_entity(connection, ORDERS, landing, LOADED_AT)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    assert rows(connection, "select order_id, _source_line from raw.orders order by 1") == [("O1", 2), ("O4", 6)]
    assert [line for (line,) in rows(connection, "select source_line from raw._quarantine order by 1")] == [4, 5]


@pytest.mark.parametrize(
    "text",
    [
        GOOD_ORDERS,
        'order_id,customer_id\nO1,"multi\nline\nvalue"\nO2,C2,extra\nO3,"quoted ""x"""\nO4\nO5,C5\n',
        'a,b\n"1\n2",3\n4,5,6\n7,"8\n9"\n10,11\n',
        # quote-free: ragged lines both ways, a blank line, no final line break
        "a,b,c\n1,2,3\n4,5\n6,7,8,9\n\n10,11,12\n13,14,15",
        # one too many and one too few: the delimiter total alone would match
        "a,b,c\n1,2,3,4\n5,6\n7,8,9\n",
        # quoted delimiters, an escaped quote, an empty quoted value, padding
        'a,b\n"x,y", 2\n"say ""hi""",\n"",3\n 4 ,"5"\n',
        # a byte-order mark before the header
        "\ufeffa,b\n1,2\n3,4\n",
    ],
)
def test_vectorised_fast_and_strict_csv_readers_agree(tmp_path, text):
    from dagster_project.ingestion.landing_files import LandingFile
    from dagster_project.ingestion.reading import CsvScratch
    from dagster_project.ingestion.reading.csv_duckdb import read_csv_duckdb
    from dagster_project.ingestion.reading.csv_strict import read_csv_strict
    from dagster_project.ingestion.reading.csv_vectorised import read_csv_vectorised
    from dagster_project.ingestion.source_config import EntityMapping

    path = tmp_path / "f.csv"
    path.write_text(text)
    landing_file = LandingFile(path=path, relative_path="f.csv", content=path.read_bytes(), format="csv")
    mapping = EntityMapping(files="*.csv")
    strict = read_csv_strict(landing_file, mapping)
    with CsvScratch() as scratch:
        fast = read_csv_duckdb(landing_file, mapping, scratch)
    vectorised = read_csv_vectorised(landing_file, mapping)
    assert vectorised is not None

    # The readers leave empty cells and padding to validation, which treats '' and NULL alike.
    def blank_as_null(frame):
        return frame.with_columns(pl.col(pl.String).str.strip_chars().replace("", None))

    for other in (fast, vectorised):
        if other is None:  # DuckDB's reader gives up on blank lines and BOMs: the strict one takes over
            assert other is fast and ("\n\n" in text or text.startswith("\ufeff"))
            continue
        assert blank_as_null(other.frame).equals(blank_as_null(strict.frame))
        assert other.malformed["_source_line"].to_list() == strict.malformed["_source_line"].to_list()
    assert vectorised.malformed["_quarantine_reason"].to_list() == strict.malformed["_quarantine_reason"].to_list()
    if vectorised.may_have_padding is False:
        assert vectorised.frame.equals(blank_as_null(vectorised.frame))


def test_vectorised_reader_leaves_unterminated_quotes_and_carriage_returns_to_the_others(tmp_path):
    from dagster_project.ingestion.landing_files import LandingFile
    from dagster_project.ingestion.reading.csv_vectorised import read_csv_vectorised
    from dagster_project.ingestion.source_config import EntityMapping

    for text in ('a,b\n1,"2\n3,4\n', "a,b\r\n1,2\r\n"):
        path = tmp_path / "f.csv"
        path.write_text(text, newline="")
        landing_file = LandingFile(path=path, relative_path="f.csv", content=path.read_bytes(), format="csv")
        assert read_csv_vectorised(landing_file, EntityMapping(files="*.csv")) is None


def test_a_symlinked_folder_inside_the_landing_folder_is_not_followed(landing, connection, tmp_path):
    outside = tmp_path / "elsewhere" / "orders"
    outside.mkdir(parents=True)
    (outside / "secret.csv").write_text(GOOD_ORDERS)
    (landing / "sales" / "orders" / "linked").symlink_to(outside, target_is_directory=True)
    from dagster_project.ingestion.source_config import EntityMapping

    sources = [("test", EntityMapping(files="sales/orders/**/*.csv"))]
    result = load_entity(connection, ORDERS, landing, LOADED_AT, sources=sources)
    assert result.files == []


def test_loads_are_stamped_in_order_even_when_the_clock_goes_back(landing, connection):
    """Incremental dbt models take the rows loaded after the latest load they hold, so a load
    must never be stamped earlier than one the warehouse already has."""
    assert next_load_time(connection, LOADED_AT) == LOADED_AT  # nothing loaded yet
    write(landing, "a.csv", "order_id,customer_id,ordered_at\nO1,C1,2025-12-01 10:00:00\n")
    load_entity(connection, ORDERS, landing, loaded_at=LOADED_AT)
    set_back = LOADED_AT - timedelta(hours=1)
    assert next_load_time(connection, set_back) == LOADED_AT + timedelta(microseconds=1)
    later = LOADED_AT + timedelta(days=1)
    assert next_load_time(connection, later) == later


def test_files_seen_before_are_not_read_again_until_they_change(landing, connection, monkeypatch):
    """A night must not re-read the whole history to hash it: files whose size and modification
    time are what they were when loaded are settled without opening them."""
    import dagster_project.ingestion.loader as loader

    first_file = write(landing, "orders_1.csv", GOOD_ORDERS)
    write(landing, "orders_1_copy.csv", GOOD_ORDERS)
    load_entity(connection, ORDERS, landing, LOADED_AT)

    opened: list[str] = []
    real_open = loader.open_landing_file
    monkeypatch.setattr(loader, "open_landing_file", lambda path, *a: opened.append(path.name) or real_open(path, *a))
    again = load_entity(connection, ORDERS, landing, LOADED_AT)
    assert [f.status for f in again.files] == ["unchanged", "unchanged"] and opened == []

    # Same size, new content and modification time: read, and its new rows loaded.
    changed = GOOD_ORDERS.replace("O1,", "O9,")
    assert len(changed) == len(GOOD_ORDERS)
    first_file.write_text(changed)
    stat = first_file.stat()
    os.utime(first_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    later = load_entity(connection, ORDERS, landing, LOADED_AT + timedelta(days=1))
    assert opened == ["orders_1.csv"]
    assert [f.status for f in later.files] == ["loaded", "unchanged"]
    assert rows(connection, "select count(*) from raw.orders where order_id = 'O9'") == [(1,)]
