"""A catalogue of broken export files, each with what the pipeline must make of it.

Landed beside a clean generated export set (tests/test_broken_exports.py), the run must complete
and publish: every good row of these files in fct_orders once, every bad row in quarantine with
its reason, every file that cannot be read rejected (or skipped) with a ledger row that says
why. Order ids start with X and the kind's number, so each file's rows are easy to follow.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

ORDERS_HEADER = "order_id,customer_id,ordered_at,status,channel,currency,total_amount,discount_amount"
CUSTOMER = "C0000001"  # a customer of the generated export set


def order(
    order_id: str,
    at: str = "2026-06-10T10:00:00Z",
    status: str = "completed",
    amount: str = "10.00",
    customer: str = CUSTOMER,
    channel: str = "web",
    discount: str = "0",
) -> str:
    return f"{order_id},{customer},{at},{status},{channel},USD,{amount},{discount}"


def csv_text(*rows: str, header: str = ORDERS_HEADER, newline: str = "\n") -> bytes:
    return (newline.join([header, *rows]) + newline).encode()


@dataclass(frozen=True)
class BrokenFile:
    kind: str  # what is wrong with it, in words
    path: str  # relative to the landing folder
    content: bytes | Callable[[Path], None]  # the bytes, or a writer given the file's full path
    status: str = "loaded"  # its ledger status: loaded | rejected | skipped | duplicate
    # Rows that must reach the warehouse: order id -> (status, net revenue) in fct_orders, where
    # the file is an orders file; for other entities, the number of rows loaded.
    good_orders: dict[str, tuple[str | None, float | None]] = field(default_factory=dict)
    rows_loaded: int | None = None
    quarantined: dict[int, str] = field(default_factory=dict)  # line -> a fragment of its reason
    error: str = ""  # rejected or skipped: a fragment of the ledger's error

    @property
    def entity(self) -> str:
        return self.path.split("/")[1]


def _orders(name: str) -> str:
    return f"sales/orders/{name}"


def _nested_parquet(path: Path) -> None:
    pl.DataFrame(
        {
            "order_id": ["X25001", "X25002"],
            "customer_id": [CUSTOMER, CUSTOMER],
            "ordered_at": ["2026-06-11T09:00:00Z", "2026-06-11T10:00:00Z"],
            "total_amount": [12.5, 7.25],
            "tags": [["gift", "rush"], []],  # a list column: kept as JSON in _extra_columns
            "shipping": [{"city": "Boston", "zip": "02101"}, None],
        }
    ).write_parquet(path)


def _corrupt_parquet(path: Path) -> None:
    buffer = io.BytesIO()
    pl.DataFrame({"order_id": ["X26001"], "customer_id": [CUSTOMER], "ordered_at": ["2026-06-11"]}).write_parquet(
        buffer
    )
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


def _truncated_gzip(path: Path) -> None:
    packed = gzip.compress(csv_text(order("X14001"), order("X14002")))
    path.write_bytes(packed[: len(packed) - 12])


def _copy_of_a_clean_export(path: Path) -> None:
    """The generator's first orders file delivered again under another name."""
    clean = sorted(p for p in path.parent.glob("orders_*.csv"))[0]
    path.write_bytes(clean.read_bytes())


def _symlink(path: Path) -> None:
    target = path.parent.parent.parent.parent / "outside_the_landing_folder.csv"
    target.write_bytes(csv_text(order("X27001")))
    path.symlink_to(target)


BROKEN_FILES: tuple[BrokenFile, ...] = (
    BrokenFile(
        "UTF-8 byte-order mark and Windows line endings",
        _orders("broken_01_bom_crlf.csv"),
        b"\xef\xbb\xbf" + csv_text(order("X01001"), order("X01002", amount="20.00"), newline="\r\n"),
        good_orders={"X01001": ("completed", 10.0), "X01002": ("completed", 20.0)},
    ),
    BrokenFile(
        "Windows-1252 bytes in a UTF-8 export",
        _orders("broken_02_cp1252.csv"),
        (ORDERS_HEADER + ",note\n" + order("X02001") + ",Café au lait\n").encode("cp1252"),
        status="rejected",
        error="line 2: cannot be decoded as utf-8",
    ),
    BrokenFile(
        "ragged lines: one field too many, one too few",
        _orders("broken_03_ragged.csv"),
        csv_text(order("X03001"), order("X03002") + ",surplus", "X03003,C0000001,2026-06-10", order("X03004")),
        good_orders={"X03001": ("completed", 10.0), "X03004": ("completed", 10.0)},
        quarantined={3: "it has 9 fields, the header has 8", 4: "it has 3 fields, the header has 8"},
    ),
    BrokenFile(
        "numbers that are not numbers: decimal comma, text, another currency, overflow, NaN; a dollar amount is one",
        _orders("broken_04_bad_numbers.csv"),
        csv_text(
            order("X04001", amount='"12,50"'),
            order("X04002", amount="abc"),
            order("X04003", amount="$12.00"),  # written in USD, the row's currency: read as 12.00
            order("X04004", amount="1e400"),
            order("X04005", amount="NaN"),
            order("X04006", amount="12.5"),
            order("X04007", amount="12.00 EUR"),  # the row says USD
        ),
        good_orders={"X04003": ("completed", 12.0), "X04006": ("completed", 12.5)},
        quarantined={
            2: "cannot parse '12,50' as decimal",
            3: "cannot parse 'abc' as decimal",
            5: "'1e400' is not a finite number",
            6: "'NaN' is not a finite number",
            8: "currency: 'USD' differs from the currency the amounts are written in (total_amount EUR)",
        },
    ),
    BrokenFile(
        "absurd amounts: five billion, a negative discount",
        _orders("broken_05_absurd_amounts.csv"),
        csv_text(order("X05001", amount="5000000000"), order("X05002", discount="-3"), order("X05003")),
        good_orders={"X05003": ("completed", 10.0)},
        quarantined={2: "total_amount: '5000000000' is outside", 3: "discount_amount: '-3' is outside 0 to"},
    ),
    BrokenFile(
        "dates that are not dates, and a missing one",
        _orders("broken_06_bad_dates.csv"),
        csv_text(
            order("X06001", at="31/02/2026"),
            order("X06002", at="2026-13-01"),
            order("X06003", at="yesterday"),
            order("X06004", at=""),
            order("X06005", at="2026-06-12"),
        ),
        good_orders={"X06005": ("completed", 10.0)},
        quarantined={
            2: "cannot parse '31/02/2026' as timestamp",
            3: "cannot parse '2026-13-01' as timestamp",
            4: "cannot parse 'yesterday' as timestamp",
            5: "ordered_at: required value is missing",
        },
    ),
    BrokenFile(
        "placeholder and typo dates: 1899, 2099, 9999",
        _orders("broken_07_implausible_dates.csv"),
        csv_text(
            order("X07001", at="1899-12-31"),
            order("X07002", at="2099-12-31T00:00:00Z"),
            order("X07003", at="9999-12-31"),
            order("X07004", at="2026-06-13"),
        ),
        good_orders={"X07004": ("completed", 10.0)},
        quarantined={
            2: "'1899-12-31' is not a plausible date",
            3: "'2099-12-31T00:00:00Z' is not a plausible date",
            4: "'9999-12-31' is not a plausible date",
        },
    ),
    BrokenFile(
        "refunds and credit notes: negative amounts, a positive one marked refunded, two without status",
        _orders("broken_08_refunds.csv"),
        csv_text(
            order("X08001", amount="100.00"),
            order("X08002", at="2026-06-15T10:00:00Z", status="refunded", amount="-30.00"),
            order("X08003", at="2026-06-16T10:00:00Z", status="refunded", amount="20.00"),
            order("X08004", at="2026-06-17T10:00:00Z", status="", amount="-5.00"),
            order("X08005", status="returned", amount="40.00"),
            order("X08006", at="2026-06-18T10:00:00Z", status="", amount="25.00"),
        ),
        # A blank status is 'unknown': a negative amount is still a refund, a positive one adds nothing.
        good_orders={
            "X08001": ("completed", 100.0),
            "X08002": ("refunded", -30.0),
            "X08003": ("refunded", -20.0),
            "X08004": ("unknown", -5.0),
            "X08005": ("returned", 0.0),
            "X08006": ("unknown", 0.0),
        },
    ),
    BrokenFile(
        "the same order twice in one file: the later line wins",
        _orders("broken_09_duplicate_rows.csv"),
        csv_text(order("X09001", amount="10.00"), order("X09001", amount="11.00")),
        good_orders={"X09001": ("completed", 11.0)},
    ),
    BrokenFile(
        "a clean export delivered again under another name",
        _orders("redelivered_10_orders_copy.csv"),
        _copy_of_a_clean_export,
        status="duplicate",
        error="same content as sales/orders/orders_0001.csv",
    ),
    BrokenFile(
        "a corrected re-export in a later file: the order was cancelled",
        _orders("broken_99_corrected_redelivery.csv"),
        csv_text(order("X01002", status="cancelled", amount="20.00")),
        good_orders={"X01002": ("cancelled", 0.0)},
    ),
    BrokenFile(
        "gzip-compressed export",
        _orders("broken_12_compressed.csv.gz"),
        gzip.compress(csv_text(order("X12001"), order("X12002"))),
        good_orders={"X12001": ("completed", 10.0), "X12002": ("completed", 10.0)},
    ),
    BrokenFile(
        "named .gz but not compressed",
        _orders("broken_13_not_gzip.csv.gz"),
        csv_text(order("X13001")),
        status="rejected",
        error="not a valid gzip file",
    ),
    BrokenFile(
        "truncated gzip (an upload cut short)",
        _orders("broken_14_truncated.csv.gz"),
        _truncated_gzip,
        status="rejected",
        error="not a valid gzip file",
    ),
    BrokenFile("an empty file", _orders("broken_15_empty.csv"), b"", status="rejected", error="the file is empty"),
    BrokenFile("a header and no rows", _orders("broken_16_header_only.csv"), csv_text()),
    BrokenFile(
        "a required column missing",
        _orders("broken_17_missing_column.csv"),
        csv_text("X17001,C0000001,completed", header="order_id,customer_id,status"),
        status="rejected",
        error="missing required column(s) ordered_at",
    ),
    BrokenFile(
        "the same column name twice in the header",
        _orders("broken_18_duplicate_header.csv"),
        csv_text("X18001,C0000001,2026-06-10,2026-06-11", header="order_id,customer_id,ordered_at,ordered_at"),
        status="rejected",
        error="duplicate column name(s) ordered_at",
    ),
    BrokenFile(
        "an empty column name in the header",
        _orders("broken_19_empty_header_name.csv"),
        csv_text("X19001,C0000001,2026-06-10,x", header="order_id,customer_id,ordered_at,"),
        status="rejected",
        error="the header has an empty column name",
    ),
    BrokenFile(
        "columns reordered, names and values padded with spaces, an unknown column",
        _orders("broken_20_reordered_padded.csv"),
        csv_text(
            " 2026-06-14T08:00:00Z , X20001 ,  C0000001, 42.00 , Store ,WINTER",
            header=" ordered_at , order_id , customer_id , total_amount , channel , coupon",
        ),
        good_orders={"X20001": (None, 42.0)},
    ),
    BrokenFile(
        "a quote that is never closed",
        _orders("broken_21_unterminated_quote.csv"),
        csv_text(order("X21001"), 'X21002,"C0000001,2026-06-10,completed,web,USD,10,0', order("X21003")),
        good_orders={"X21001": ("completed", 10.0), "X21003": ("completed", 10.0)},
        quarantined={3: "a quote that is never closed"},
    ),
    BrokenFile(
        "blank lines between the rows",
        _orders("broken_22_blank_lines.csv"),
        csv_text(order("X22001"), "", "", order("X22002"), ""),
        good_orders={"X22001": ("completed", 10.0), "X22002": ("completed", 10.0)},
    ),
    BrokenFile(
        "required values missing: the key, the customer",
        _orders("broken_23_missing_values.csv"),
        csv_text(order(""), order("X23002", customer=""), order("X23003")),
        good_orders={"X23003": ("completed", 10.0)},
        quarantined={2: "order_id: required value is missing", 3: "customer_id: required value is missing"},
    ),
    BrokenFile(
        "values outside their enumeration",
        _orders("broken_24_unknown_values.csv"),
        csv_text(order("X24001", status="shipped"), order("X24002", channel="fax"), order("X24003", status="PENDING")),
        good_orders={"X24003": ("pending", 10.0)},
        quarantined={2: "status: 'shipped' is not one of", 3: "channel: 'fax' is not one of"},
    ),
    BrokenFile(
        "Parquet with a list and a struct column",
        _orders("broken_25_nested.parquet"),
        _nested_parquet,
        good_orders={"X25001": (None, 12.5), "X25002": (None, 7.25)},
    ),
    BrokenFile(
        "a truncated Parquet file",
        _orders("broken_26_truncated.parquet"),
        _corrupt_parquet,
        status="rejected",
        error="cannot be read as parquet",
    ),
    BrokenFile(
        "a symbolic link to a file outside the landing folder",
        _orders("broken_27_link.csv"),
        _symlink,
        status="skipped",
        error="a symbolic link: not followed",
    ),
    BrokenFile(
        "a spreadsheet instead of an export",
        _orders("broken_28_orders.xlsx"),
        b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64,
        status="skipped",
        error="not a supported format (.xlsx)",
    ),
    BrokenFile(
        "JSON lines with a broken line and a line that is not an object",
        _orders("broken_29_orders.jsonl"),
        b'{"order_id": "X29001", "customer_id": "C0000001", "ordered_at": "2026-06-18T10:00:00Z", '
        b'"total_amount": 5}\n'
        b'{"order_id": "X29002", "customer_id": "C0000001", "ordered_at": \n'
        b'["X29003", "C0000001"]\n'
        b'{"order_id": "X29004", "customer_id": "C0000001", "ordered_at": "2026-06-18T11:00:00Z"}\n',
        good_orders={"X29001": (None, 5.0), "X29004": (None, None)},
        quarantined={2: "line is not valid JSON", 3: "line is not a JSON object"},
    ),
    BrokenFile(
        "semicolon-delimited without a source config",
        _orders("broken_30_semicolons.csv"),
        csv_text(order("X30001").replace(",", ";"), header=ORDERS_HEADER.replace(",", ";")),
        status="rejected",
        error="missing required column(s) order_id",
    ),
    BrokenFile(
        "timestamps with offsets and fractions of a second",
        _orders("broken_31_offsets.csv"),
        csv_text(order("X31001", at="2026-06-19T23:30:00+02:00"), order("X31002", at="2026-06-19 08:00:00.250Z")),
        good_orders={"X31001": ("completed", 10.0), "X31002": ("completed", 10.0)},
    ),
    BrokenFile(
        "mixed line endings",
        _orders("broken_32_mixed_endings.csv"),
        (ORDERS_HEADER + "\r\n" + order("X32001") + "\n" + order("X32002") + "\r\n").encode(),
        good_orders={"X32001": ("completed", 10.0), "X32002": ("completed", 10.0)},
    ),
    BrokenFile(
        "satisfaction scores out of range",
        "support/satisfaction_surveys/broken_33_scores.csv",
        csv_text(
            "XS1,T00000001,7,2026-06-20T10:00:00Z,great",
            "XS2,T00000001,0,2026-06-20T10:00:00Z,awful",
            "XS3,T00000001,4,2026-06-20T10:00:00Z,fine",
            header="survey_id,ticket_id,score,responded_at,comment",
        ),
        rows_loaded=1,
        quarantined={2: "score: '7' is outside 1 to 5", 3: "score: '0' is outside 1 to 5"},
    ),
    BrokenFile(
        "order line quantities out of range, a negative unit price",
        "sales/order_lines/broken_34_lines.csv",
        csv_text(
            "X01001,1,P0001,1000000,5.00,0",
            "X01001,2,P0001,1,-5.00,0",
            "X01001,3,P0001,-1,5.00,0",
            header="order_id,line_number,product_id,quantity,unit_price,discount_amount",
        ),
        rows_loaded=1,
        quarantined={2: "quantity: '1000000' is outside -100,000 to 100,000", 3: "unit_price: '-5.00' is outside 0 to"},
    ),
)


def land_broken_files(landing: Path) -> None:
    """Write every broken file into the landing folder (beside the clean export set)."""
    for broken in BROKEN_FILES:
        path = landing / broken.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(broken.content):
            broken.content(path)
        else:
            path.write_bytes(broken.content)
