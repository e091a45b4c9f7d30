"""Numbers and labels written the way the page writes them."""

from __future__ import annotations


def short_money(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"${value / 1e9:.1f}B"
    if magnitude >= 1e6:
        return f"${value / 1e6:.1f}M"
    if magnitude >= 1e3:
        return f"${value / 1e3:.0f}k"
    return f"${value:.0f}"


def shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
