"""The card and the list of candidates, as rich renderables for the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dagster_project.serve.lookup.find import (
    Candidate,
    CustomerCard,
)
from dagster_project.serve.lookup.values import as_text, money_text, number_text, yes_no_text

# Why a customer has no churn probability (models_ml.features.churn_status).
UNSCORED_CHURN_STATUSES = {
    "prospect": "not scored: a prospect (no order yet)",
    "lapsed": "not scored: lapsed (no order for over 360 days), a win-back target",
}


def churn_line(churn: dict[str, Any]) -> str:
    if churn["probability"] is None:
        return UNSCORED_CHURN_STATUSES.get(churn.get("status"), "not scored")
    return f"{churn['probability']:.3f} ({churn['probability']:.1%}), {churn['band']} risk"


def clv_line(value: dict[str, Any]) -> str:
    if value["clv_usd"] is None:
        return "not scored (no purchase yet)"
    parts = [money_text(value["clv_usd"])]
    if value["value_tier"]:
        parts.append(f"{value['value_tier']} value tier")
    if value["p_alive"] is not None:
        parts.append(f"P(alive) {value['p_alive']:.2f}")
    if value["expected_purchases_next_12_months"] is not None:
        parts.append(f"{value['expected_purchases_next_12_months']:.1f} purchases expected in 12 months")
    return ", ".join(parts)


def _table(title: str, columns: list[str], rows: list[list[Any]], empty: str) -> RenderableType:
    if not rows:
        return Text(f"{title}: {empty}", style="dim")
    table = Table(title=title, title_justify="left", expand=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(as_text(value) for value in row))
    return table


def render_card(card: CustomerCard) -> RenderableType:
    parts: list[RenderableType] = []
    if card.is_masked:
        parts.append(
            Text(
                "Personal data in this serving file is masked (CRM_SERVING_MASK_PII): name, email and phone "
                "show as keyed tokens.",
                style="yellow",
            )
        )
    parts += [
        Panel(_profile_grid(card), title=f"Customer {card.customer_id}", subtitle=f"matched by {card.matched_by}"),
        Panel(_scores_grid(card), title="Risk and value"),
        Text(f"Interactions by channel: {_channels_line(card) or 'none'}"),
        _recent_interactions_table(card),
        _open_tickets_table(card),
        _offers_table(card),
    ]
    return Group(*parts)


def _label_grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    return grid


def _profile_grid(card: CustomerCard) -> Table:
    profile = _label_grid()
    for label, shown in card.profile.items():
        profile.add_row(label, as_text(shown))
    return profile


def _scores_grid(card: CustomerCard) -> Table:
    """Churn risk with its reasons, CLV, and the model versions behind them."""
    scores = _label_grid()
    scores.add_row("Churn risk", churn_line(card.churn))
    for position, reason in enumerate(card.churn["reasons"], start=1):
        scores.add_row(f"  reason {position}", reason)
    scores.add_row("CLV", clv_line(card.value))
    models = [version for version in (card.churn["model_version"], card.value["model_version"]) if version]
    if models:
        scores.add_row("Models", ", ".join(models))
    return scores


def _channels_line(card: CustomerCard) -> str:
    return ", ".join(
        f"{row['channel']} {row['interactions']:,} (last {as_text(row['last_at'])})"
        for row in card.interactions_by_channel
    )


def _recent_interactions_table(card: CustomerCard) -> RenderableType:
    return _table(
        f"Recent interactions (last {len(card.recent_interactions)})",
        ["when", "channel", "type", "record", "revenue", "satisfaction"],
        [
            [
                row["occurred_at"],
                row["channel"],
                row["type"],
                row["source_record_id"],
                money_text(row["revenue_usd"]),
                row["satisfaction_score"],
            ]
            for row in card.recent_interactions
        ],  # fmt: skip
        "none",
    )


def _open_tickets_table(card: CustomerCard) -> RenderableType:
    return _table(
        f"Open tickets ({len(card.open_tickets)})",
        ["ticket", "opened", "status", "priority", "category", "channel", "agent", "SLA breached"],
        [
            [
                row["ticket_id"],
                row["created_at"],
                row["status"],
                row["priority"],
                row["category"],
                row["channel"],
                row["agent_id"],
                yes_no_text(row["sla_breached"]),
            ]
            for row in card.open_tickets
        ],  # fmt: skip
        "none",
    )


def _offers_table(card: CustomerCard) -> RenderableType:
    return _table(
        "Next best offers",
        ["rank", "product", "name", "category", "score", "why"],
        [
            [
                row["offer_rank"],
                row["product_id"],
                row["product_name"],
                row["category"],
                number_text(row["score"], 3),
                row["reason"],
            ]
            for row in card.offers
        ],  # fmt: skip
        "none scored",
    )


def render_candidates(candidates: list[Candidate]) -> RenderableType:
    return _table(
        "Candidates",
        ["customer id", "name", "email", "last order"],
        [[c.customer_id, c.full_name, c.email, c.last_order_at] for c in candidates],
        "none",
    )
