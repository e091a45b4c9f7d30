"""Files with one row per line item of an order (``line_items:`` in the source config).

Store platforms and marketplaces export orders this way: the order number (and often the email
and date) on every row, the order-level fields (status, total, currency) on the first row of each
order only, or repeated on every row, or (for a total) not at all but as one price per item.
The same file can then be read twice:

* as the entity keyed by the order (orders): its rows fold into one record per order. Each column
  takes the order's first non-empty value; the ``sum`` columns add up over its rows. Rows that give
  one order two different values of a column are all quarantined, as is every row of an order one
  of whose rows fails its contract: a partial order would load a wrong total without a word.
* as any other entity (order lines): one record per row, with line numbers from a ``row_number``
  derivation within the order.

``fill_down`` columns take, when empty, the value of the row above within the order, for exports
that name the order (or another field) on its first row only.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dagster_project.core.contracts import Column, EntityContract
from dagster_project.ingestion.source_config import EntityMapping, LineItems

IS_BAD = "__is_bad"
ORDER_REASON = "__order_reason"


def fill_down(mapped: pl.DataFrame, line_items: LineItems) -> pl.DataFrame:
    """Empty cells of the ``fill_down`` columns take the value of the row above in the same order.

    The order columns themselves fill first and across the file: a row that names no order
    continues the one above it."""
    order = list(line_items.order)
    order_columns = [name for name in line_items.fill_down if name in order]
    other_columns = [name for name in line_items.fill_down if name not in order]
    if order_columns:
        mapped = mapped.with_columns(pl.col(name).forward_fill() for name in order_columns)
    if other_columns:
        mapped = mapped.with_columns(pl.col(name).forward_fill().over(order) for name in other_columns)
    return mapped


@dataclass(frozen=True)
class FoldedOrders:
    loaded: pl.DataFrame  # one row per order: __typed_<column>, _extra_columns, _source_line
    rows: pl.DataFrame  # the file's rows with __is_bad (own failures or their order's) and __order_reason


def fold_orders(
    flagged: pl.DataFrame,
    contract: EntityContract,
    mapping: EntityMapping,
    filled_when_empty: list[Column],
    extra_columns: str,
) -> FoldedOrders:
    """Fold line-item rows into one record per order.

    ``flagged`` holds every row's text (canonical names), typed values (``__typed_<column>``) and
    ``__is_bad`` (the row breaks a row rule). ``filled_when_empty``: columns whose blank stands for
    a value (an order status left blank is 'unknown'), judged on the folded order, since later
    line-item rows leave them blank as a matter of course.
    """
    assert mapping.line_items is not None
    rows = _judge_orders(flagged, contract, mapping.line_items)
    rows = rows.with_columns((pl.col(IS_BAD) | pl.col(ORDER_REASON).is_not_null()).alias(IS_BAD))
    loaded = _fold(rows, contract, mapping.line_items, filled_when_empty, extra_columns)
    return FoldedOrders(loaded=loaded, rows=rows)


def _typed_order_key(line_items: LineItems) -> list[str]:
    return [f"__typed_{name}" for name in line_items.order]


def _judge_orders(flagged: pl.DataFrame, contract: EntityContract, line_items: LineItems) -> pl.DataFrame:
    """The rows with ``__order_reason``: why the row's whole order cannot load, if it cannot.

    Each column's disagreement within an order is a window over the order, computed once into a
    scratch column that both the reason text and the ``__disagrees`` flag read.
    """
    order = _typed_order_key(line_items)
    keyed = set(line_items.order)
    summed = set(line_items.sum)
    single_valued = [name for name in contract.column_names if name not in keyed and name not in summed]
    scratch = {name: f"__disagrees_on_{name}" for name in single_valued}
    rows = flagged.with_columns(_disagrees(name, order).alias(flag) for name, flag in scratch.items())
    disagreements = [
        pl.when(pl.col(flag)).then(pl.format("{} (this row: '{}')", pl.lit(name), pl.col(name).fill_null("")))
        for name, flag in scratch.items()
    ]
    rows = rows.with_columns(
        pl.concat_str(disagreements, separator=", ", ignore_nulls=True).alias("__disagreement"),
        pl.any_horizontal(pl.lit(False), *(pl.col(flag) for flag in scratch.values())).alias("__disagrees"),
        pl.concat_str(
            [
                pl.when(pl.col(f"__typed_{name}").is_null().all().over(order)).then(pl.lit(name))
                for name in contract.required_columns
                if name not in keyed
            ]
            or [pl.lit(None, dtype=pl.String)],
            separator=", ",
            ignore_nulls=True,
        ).alias("__missing"),
        pl.when(pl.col(IS_BAD)).then(pl.col("_source_line")).min().over(order).alias("__first_bad_line"),
    ).drop(list(scratch.values()))
    return rows.with_columns(_order_reason(line_items).alias(ORDER_REASON))


def _disagrees(name: str, order: list[str]) -> pl.Expr:
    """The order's rows hold two or more different values of the column (blanks do not count)."""
    typed = pl.col(f"__typed_{name}")
    distinct_values = typed.n_unique() - typed.null_count().gt(0).cast(pl.UInt32)
    return distinct_values.over(order) > 1


def _order_reason(line_items: LineItems) -> pl.Expr:
    """The first that applies: no order named, rows that disagree, a required value missing on
    every row, or another row of the order that fails."""
    has_order = pl.all_horizontal(pl.col(name).is_not_null() for name in _typed_order_key(line_items))
    order_named = pl.concat_str([pl.col(name) for name in line_items.order], separator=", ")
    return (
        pl.when(~has_order)
        .then(
            pl.lit(
                f"the row names no order ({', '.join(line_items.order)}); for an export that names the "
                "order on its first row only, list it under line_items.fill_down"
            )
        )
        .when(has_order & pl.col("__disagrees"))
        .then(
            pl.format(
                "{} '{}': its rows disagree on {}",
                pl.lit(line_items.order[0]),
                order_named,
                pl.col("__disagreement"),
            )
        )
        .when(has_order & (pl.col("__missing") != ""))
        .then(
            pl.format(
                "{} '{}': required value missing on every row of the order ({})",
                pl.lit(line_items.order[0]),
                order_named,
                pl.col("__missing"),
            )
        )
        .when(has_order & ~pl.col(IS_BAD) & pl.col("__first_bad_line").is_not_null())
        .then(
            pl.format(
                "{} '{}': quarantined with the rest of its order (line {} fails)",
                pl.lit(line_items.order[0]),
                order_named,
                pl.col("__first_bad_line"),
            )
        )
    )


def _fold(
    rows: pl.DataFrame,
    contract: EntityContract,
    line_items: LineItems,
    filled_when_empty: list[Column],
    extra_columns: str,
) -> pl.DataFrame:
    """One record per order from its good rows: each column's first non-empty value, the ``sum``
    columns added up (empty when every row is), the first row's extra columns and line."""
    summed = set(line_items.sum)

    def folded(name: str) -> pl.Expr:
        typed = pl.col(f"__typed_{name}")
        if name in summed:
            return pl.when(typed.count() > 0).then(typed.sum()).alias(f"__typed_{name}")
        return typed.drop_nulls().first().alias(f"__typed_{name}")

    return (
        rows.filter(~pl.col(IS_BAD))
        .group_by(_typed_order_key(line_items), maintain_order=True)
        .agg(
            *(folded(name) for name in contract.column_names if name not in line_items.order),
            pl.col(extra_columns).first(),
            pl.col("_source_line").min(),
        )
        .with_columns(
            pl.col(f"__typed_{column.name}").fill_null(pl.lit(column.when_empty)) for column in filled_when_empty
        )
    )
