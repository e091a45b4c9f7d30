"""The first CSV reader tried, the fast path: records split on the bytes with numpy, parsed by polars.

It takes UTF-8 files without carriage returns and vouches for every line by finding each record's
end and field count itself (:func:`read_csv_vectorised` says how). When a file needs more
judgement than that, it returns None and the DuckDB reader (:mod:`.csv_duckdb`) takes the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import polars as pl

from dagster_project.ingestion.landing_files import LandingFile
from dagster_project.ingestion.reading.shared import MALFORMED_SCHEMA, TextRows, csv_header, physical_line_count
from dagster_project.ingestion.source_config import EntityMapping

# Whitespace that str.strip_chars() removes, as ASCII bytes (besides the line feed).
_ASCII_WHITESPACE = (b" ", b"\t", b"\r", b"\x0b", b"\x0c")


def _has_padding(content: bytes, delimiter: bytes) -> bool:
    """Whether any value of an ASCII, quote-free file may start or end with whitespace."""
    present = [space for space in _ASCII_WHITESPACE if space in content]
    if not present:
        return False
    if content[:1] in present or content[-1:] in present:
        return True
    return any(
        pattern in content
        for space in present
        for pattern in (delimiter + space, space + delimiter, b"\n" + space, space + b"\n")
    )


def read_csv_vectorised(landing_file: LandingFile, mapping: EntityMapping) -> TextRows | None:
    """The fast path for UTF-8 files: records split on the bytes with numpy, parsed by polars.

    A quote character toggles "inside a value"; a delimiter or line break counts only outside
    one. That gives every record's field count and first physical line without parsing it, so
    ragged records are set aside as malformed with their line numbers and polars parses the
    rest. Returns None (another reader takes the file) when the file needs the slower readers'
    judgement: another encoding, carriage returns, an unterminated quote, a header that is not
    plain, or a polars result that does not match the record count.
    """
    decoded = _plain_utf8(landing_file.content, mapping)
    if decoded is None:
        return None
    content, is_ascii = decoded
    header = csv_header(content[:65536].decode("utf-8", errors="replace"), mapping)
    if not header or len(set(header)) != len(header) or any(not column for column in header):
        return None
    delimiter, quote = mapping.delimiter.encode(), mapping.quote.encode()
    if len(delimiter) != 1 or len(quote) != 1:
        return None
    has_quotes = quote in content
    line_count = physical_line_count(content)

    if not has_quotes and content.count(delimiter) == line_count * (len(header) - 1):
        # The common, clean file: polars refuses a line with too many fields, so when it parses
        # the file and the delimiter total is exactly (fields - 1) per line, no line has too few.
        frame = _polars_records(content, mapping, header, has_quotes, line_count - 1)
        if frame is not None:
            source_lines = pl.int_range(2, frame.height + 2, dtype=pl.Int64, eager=True).alias("_source_line")
            return TextRows(
                frame.with_columns(source_lines),
                pl.DataFrame(schema=MALFORMED_SCHEMA),
                may_have_padding=not is_ascii or _has_padding(content, delimiter),
            )

    records = _records(content, delimiter[0], quote[0], has_quotes)
    if records is None:
        return None  # an unterminated quote: the strict reader names its line
    blank = records.ends == records.starts  # an empty line is not a record
    good = (records.fields == len(header)) & ~blank
    if not good[0]:
        return None
    ragged = np.flatnonzero(~good & ~blank)
    if has_quotes and ragged.size and records.span_lines(ragged):
        # A ragged record spanning lines is most likely a quote left open: the strict reader
        # quarantines only its first line and reads the lines it swallowed.
        return None
    malformed = records.ragged_frame(content, ragged, len(header))
    if not good.all():  # polars gets the good records only: the bytes between the others
        content = records.without(content, np.flatnonzero(~good))
    frame = _polars_records(content, mapping, header, has_quotes, int(good.sum()) - 1)
    if frame is None:
        return None
    source_lines = pl.Series("_source_line", records.start_lines[good][1:], dtype=pl.Int64)
    return TextRows(
        frame.with_columns(source_lines),
        malformed,
        may_have_padding=has_quotes or not is_ascii or _has_padding(content, delimiter),
    )


def _plain_utf8(content: bytes, mapping: EntityMapping) -> tuple[bytes, bool] | None:
    """The content without a BOM, and whether it is ASCII; None when it is not UTF-8 without
    carriage returns (another reader judges the encoding and the line ends)."""
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]  # a BOM is not part of the first column's name
    if mapping.encoding != "utf-8" or b"\r" in content:
        return None
    is_ascii = content.isascii()
    if not is_ascii:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return None  # the strict reader names the line that cannot be decoded
    return content, is_ascii


def _polars_records(
    content: bytes, mapping: EntityMapping, header: list[str], has_quotes: bool, expected: int
) -> pl.DataFrame | None:
    """Polars' parse of the records, named as the header; None unless it holds exactly the
    records expected under that header."""
    try:
        frame = pl.read_csv(
            content, separator=mapping.delimiter, quote_char=mapping.quote if has_quotes else None, infer_schema=False
        )
    except pl.exceptions.PolarsError:
        return None
    if frame.height != expected or [column.strip() for column in frame.columns] != header:
        return None
    frame.columns = header
    return frame


@dataclass(frozen=True)
class _Records:
    """Where every record of a CSV file starts and ends, found on the bytes."""

    newlines: np.ndarray  # byte offsets of every line break, inside values too
    starts: np.ndarray  # byte offset of each record's first byte
    ends: np.ndarray  # byte offset of the line break ending each record (the file's length for the last)
    fields: np.ndarray  # fields per record
    start_lines: np.ndarray  # the physical line each record starts on

    def span_lines(self, indexes: np.ndarray) -> bool:
        """Whether any of these records holds a line break."""
        inner_breaks = np.searchsorted(self.newlines, self.ends[indexes]) - np.searchsorted(
            self.newlines, self.starts[indexes]
        )
        return bool((inner_breaks > 0).any())

    def ragged_frame(self, content: bytes, ragged: np.ndarray, header_fields: int) -> pl.DataFrame:
        """The malformed records: their line, why, and their text."""
        return pl.DataFrame(
            [
                (
                    int(self.start_lines[index]),
                    f"line does not match the header (it has {int(self.fields[index])} fields, "
                    f"the header has {header_fields})",
                    json.dumps(content[self.starts[index] : self.ends[index]].decode("utf-8")),
                )
                for index in ragged
            ],
            schema=MALFORMED_SCHEMA,
            orient="row",
        )

    def without(self, content: bytes, dropped: np.ndarray) -> bytes:
        """The content with these records (and their line breaks) cut out."""
        kept_from = np.concatenate(([0], self.ends[dropped] + 1))
        kept_to = np.append(self.starts[dropped], len(content))
        return b"".join(content[start:end] for start, end in zip(kept_from, kept_to, strict=True))


def _records(content: bytes, delimiter: int, quote: int, has_quotes: bool) -> _Records | None:
    """Record boundaries and field counts; None when a quote is left open at the end of the file."""
    data = np.frombuffer(content, dtype=np.uint8)
    newlines = np.flatnonzero(data == ord("\n"))
    delimiters = np.flatnonzero(data == delimiter)
    if has_quotes:
        # Parity of the quotes before each byte: odd means inside a quoted value ("" keeps it).
        inside = np.bitwise_xor.accumulate((data == quote).view(np.uint8))
        if inside[-1]:
            return None
        record_ends = newlines[inside[newlines] == 0]
        delimiters = delimiters[inside[delimiters] == 0]
    else:
        record_ends = newlines
    if not content.endswith(b"\n"):
        record_ends = np.append(record_ends, len(data))
    record_starts = np.concatenate(([0], record_ends[:-1] + 1))
    fields = np.diff(np.searchsorted(delimiters, record_ends), prepend=0) + 1
    # A record's first physical line: one plus the line breaks (inside values too) before it.
    start_lines = np.searchsorted(newlines, record_starts) + 1 if has_quotes else np.arange(1, len(record_starts) + 1)
    return _Records(newlines, record_starts, record_ends, fields, start_lines)
