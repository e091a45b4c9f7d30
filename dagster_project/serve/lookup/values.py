"""How the card writes values: money, numbers, shares, yes and no, and empty ones."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any


def money_text(value: Decimal | float | None) -> str | None:
    return None if value is None else f"${value:,.2f}"


def number_text(value: float | None, digits: int) -> str | None:
    return None if value is None else f"{value:.{digits}f}"


def percent_text(value: float | None) -> str | None:
    return None if value is None else f"{value:.1%}"


def yes_no_text(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def as_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour, value.minute) != (0, 0) else f"{value:%Y-%m-%d}"
    return str(value)
