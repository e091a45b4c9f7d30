"""The entry point: generate a full set of exports and the ground truth behind them.

Customers are processed in chunks so memory stays flat however many customers are asked for:
each chunk is simulated end to end (customers, leads, mailings, orders, tickets), written to its
own numbered files and dropped. Only small things cross chunk boundaries: the running id
counters, the late duplicates held for the next file, and the counts for the summary.

The ground truth, written to ``truth_dir``:

- ``customers_truth.csv``: segment; ``engagement`` in (0, 1) (logistic of the latent
  standard-normal trait); ``value`` (lognormal, mean 1, multiplies the order rate);
  ``is_churned`` and ``churned_at`` (the date the customer stopped buying for good, empty if
  not within the window).
- ``contacts_truth.csv``: one row per email event and per ticket (each key once, duplicates
  left out): ``record_type`` (``email_event`` or ``ticket``), ``record_id`` (event_id or
  ticket_id), ``true_customer_id`` (the customer the record really belongs to; empty for a
  prospect who is not a customer), ``email_as_exported`` (the address exactly as written in
  the export: other case, stray spaces; empty when the ticket carries none) and
  ``is_email_shared`` (the address belongs to more than one customer, a shared inbox: an
  identity resolution should flag it rather than pick one). Rows come chunk by chunk, each
  chunk's email events then its tickets.
- ``product_affinities.csv``: for every ordered pair of categories the affinity weight of
  the basket model (P(next line in b | line in a) is proportional to demand(b) x affinity)
  and that resulting ``follow_probability``.
- ``campaign_lift.csv``: per campaign the true multiplier of targeted customers' rate of
  orders containing the offer product during the window, the targeted count and the
  eligible count (eligible minus targeted is a random holdout).
- ``summary.json``: parameters, rows written and unique keys per entity, total revenue
  (sum of total_amount over unique orders, every status) and the unique order count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from dagster_project.core.contracts import CONTRACTS

from .campaigns import CampaignPlan, plan_campaigns
from .catalogue import SEGMENTS, Catalogue, build_catalogue
from .customers import CustomerChunk, generate_customers
from .dirty_records import DUPLICATED_ENTITIES, arrange, blank_optional_fields, split_duplicates
from .leads import generate_leads
from .marketing import SendSchedule, Targeting, run_marketing, send_schedule
from .purchases import issue_refunds, simulate_purchases
from .randomness import random_stream
from .support import simulate_support
from .timeline import Timeline, build_timeline
from .writer import CsvAppender, ExportWriter, write_csv, write_json

CHUNKED_ENTITIES: tuple[str, ...] = (
    "customers",
    "orders",
    "order_lines",
    "email_events",
    "leads",
    "tickets",
    "satisfaction_surveys",
)


@dataclass
class GenerationSummary:
    out_dir: Path
    truth_dir: Path
    files: dict[str, list[Path]]  # entity -> export files written, in order
    truth_files: list[Path]
    rows_written: dict[str, int]  # duplicates included
    unique_keys: dict[str, int]
    total_revenue: float  # sum of total_amount over unique order records, refunds included (as exported)
    unique_orders: int
    elapsed_seconds: float
    parameters: dict[str, object] = field(default_factory=dict)

    @property
    def paths(self) -> list[Path]:
        return [path for entity in self.files for path in self.files[entity]] + list(self.truth_files)


def _check_arguments(
    out_dir: Path, truth_dir: Path, customers: int, months: int, dirty_rate: float, chunk_customers: int
) -> None:
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if customers > 9_999_990:
        raise ValueError("customers must stay below 10 million (id and email token width)")
    if months < 1:
        raise ValueError("months must be at least 1")
    if not 0.0 <= dirty_rate < 0.5:
        raise ValueError("dirty_rate must be in [0, 0.5)")
    if chunk_customers < 1:
        raise ValueError("chunk_customers must be at least 1")
    out_resolved, truth_resolved = out_dir.resolve(), truth_dir.resolve()
    if truth_resolved == out_resolved or out_resolved in truth_resolved.parents:
        raise ValueError("truth_dir must not be inside out_dir: the pipeline would ingest the answers")


def generate_exports(
    out_dir: Path,
    truth_dir: Path,
    customers: int = 10_000,
    months: int = 24,
    seed: int = 7,
    end_date: date = date(2026, 10, 31),
    dirty_rate: float = 0.01,
    chunk_customers: int = 25_000,
    progress: Callable[[str], None] | None = None,
) -> GenerationSummary:
    """Write a deterministic synthetic set of sales, marketing and support exports.

    Same arguments give byte-identical files. Exports go to ``out_dir/<source>/<entity>/``
    (one numbered file per chunk, plus a catch-up file holding the last chunk's late
    duplicates); the ground truth (listed in this module's docstring) goes to ``truth_dir``,
    which must not be inside ``out_dir``.
    """
    started = time.perf_counter()
    out_dir, truth_dir = Path(out_dir), Path(truth_dir)
    _check_arguments(out_dir, truth_dir, customers, months, dirty_rate, chunk_customers)
    report = progress or (lambda message: None)

    world = _draw_world(seed, end_date, months, customers, dirty_rate)
    writer = ExportWriter(out_dir)
    tally = _Tally.empty(len(world.plan))
    for entity, frame in (("products", world.catalogue.products), ("campaigns", world.plan.campaigns)):
        writer.write(entity, frame)
        tally.rows_written[entity] = tally.unique_keys[entity] = frame.height
    truth_files = _write_chunks(world, customers, chunk_customers, writer, truth_dir, tally, report)
    writer.remove_stale_files()

    parameters = {
        "seed": seed,
        "customers": customers,
        "months": months,
        "end_date": end_date.isoformat(),
        "dirty_rate": dirty_rate,
        "chunk_customers": chunk_customers,
        "window_start": world.timeline.start_date.isoformat(),
    }
    total_revenue = round(tally.revenue_cents / 100, 2)
    truth_files += _write_whole_set_truth(world, writer, tally, truth_dir, parameters, total_revenue)
    # A new history: the next days generated after the previous one no longer follow it.
    (truth_dir / "next_days.json").unlink(missing_ok=True)
    elapsed = time.perf_counter() - started
    report(f"wrote {sum(tally.rows_written.values())} rows in {elapsed:.1f} s")
    return GenerationSummary(
        out_dir=out_dir,
        truth_dir=truth_dir,
        files={entity: list(paths) for entity, paths in writer.files.items()},
        truth_files=truth_files,
        rows_written=tally.rows_written,
        unique_keys=tally.unique_keys,
        total_revenue=total_revenue,
        unique_orders=tally.unique_keys["orders"],
        elapsed_seconds=elapsed,
        parameters=parameters,
    )


@dataclass(frozen=True)
class _World:
    """What every chunk is simulated against. Drawn once, before the first chunk, from streams of
    its own, so the catalogue and campaigns do not depend on how the customers are chunked."""

    seed: int
    timeline: Timeline
    catalogue: Catalogue
    plan: CampaignPlan
    schedule: SendSchedule
    dirty_rate: float


def _draw_world(seed: int, end_date: date, months: int, customers: int, dirty_rate: float) -> _World:
    timeline = build_timeline(end_date, months)
    catalogue = build_catalogue(random_stream(seed, "catalogue"))
    plan = plan_campaigns(random_stream(seed, "campaigns"), timeline, catalogue, customers)
    return _World(seed, timeline, catalogue, plan, send_schedule(timeline, plan), dirty_rate)


@dataclass
class _Tally:
    """The counters that cross chunk boundaries: the summary's counts and the id sequences."""

    rows_written: dict[str, int]  # duplicates included
    unique_keys: dict[str, int]
    # Ids run on across chunks: each chunk numbers its rows from where the previous one stopped.
    next_number: dict[str, int]
    targeted_counts: np.ndarray  # per campaign
    eligible_counts: np.ndarray  # per campaign
    revenue_cents: int = 0

    @classmethod
    def empty(cls, campaigns: int) -> _Tally:
        return cls(
            rows_written={entity: 0 for entity in CONTRACTS},
            unique_keys={entity: 0 for entity in CONTRACTS},
            next_number={
                entity: 0 for entity in ("orders", "email_events", "leads", "tickets", "satisfaction_surveys")
            },
            targeted_counts=np.zeros(campaigns, dtype=np.int64),
            eligible_counts=np.zeros(campaigns, dtype=np.int64),
        )


def _write_chunks(
    world: _World,
    customers: int,
    chunk_customers: int,
    writer: ExportWriter,
    truth_dir: Path,
    tally: _Tally,
    report: Callable[[str], None],
) -> list[Path]:
    """Every chunk's exports, the catch-up files and the two truth files that grow chunk by chunk.

    The truth files are renamed into place only when every chunk is written, so a generation that
    fails half-way leaves the previous truth, not a partial one.
    """
    truth_customers = CsvAppender(truth_dir / "customers_truth.csv")
    truth_contacts = CsvAppender(truth_dir / "contacts_truth.csv")
    late: dict[str, pl.DataFrame | None] = {entity: None for entity in DUPLICATED_ENTITIES}
    chunk_count = math.ceil(customers / chunk_customers)
    try:
        for chunk in range(chunk_count):
            first = chunk * chunk_customers
            size = min(chunk_customers, customers - first)
            counts = _generate_chunk(world, chunk, first, size, writer, truth_customers, truth_contacts, late, tally)
            report(f"chunk {chunk + 1}/{chunk_count}: {counts}")
        _write_catch_up_files(writer, late, world.dirty_rate, chunk_count + 1, tally)
        return [truth_customers.close(), truth_contacts.close()]
    except BaseException:
        truth_customers.abandon()
        truth_contacts.abandon()
        raise


def _generate_chunk(
    world: _World,
    chunk: int,
    first: int,
    size: int,
    writer: ExportWriter,
    truth_customers: CsvAppender,
    truth_contacts: CsvAppender,
    late: dict[str, pl.DataFrame | None],
    tally: _Tally,
) -> str:
    """Simulate, write and count one chunk; returns its counts in words for the progress report.

    Everything the chunk made is let go when this returns: that is what keeps memory flat.
    """
    simulated = _simulate_chunk(world, chunk, first, size, tally.next_number, truth_contacts)
    _write_chunk_files(writer, world, chunk, simulated, late, tally)
    truth_customers.append(simulated.people.truth(world.timeline))
    tally.targeted_counts += simulated.targeting.targeted.sum(axis=0)
    tally.eligible_counts += simulated.targeting.eligible.sum(axis=0)
    tally.revenue_cents += simulated.revenue_cents
    return (
        f"{size} customers, {simulated.orders_simulated} orders, "
        f"{simulated.frames['email_events'].height} email events, {simulated.frames['tickets'].height} tickets"
    )


@dataclass
class _SimulatedChunk:
    people: CustomerChunk
    frames: dict[str, pl.DataFrame]  # entity -> the chunk's records, before dirt and duplicates
    targeting: Targeting
    orders_simulated: int  # refunds left out: they are numbered after their order, not in the sequence
    revenue_cents: int  # every order record's amount as exported, refunds included


def _simulate_chunk(
    world: _World,
    chunk: int,
    first: int,
    size: int,
    next_number: dict[str, int],
    truth_contacts: CsvAppender,
) -> _SimulatedChunk:
    """The chunk's business, each part from its own random stream of the chunk.

    The email events' contact truth is written as soon as it is made (and dropped): it is the
    chunk's largest frame. It is built from the chunk's own rows, before duplicates, so every key
    appears once; the tickets' contact truth follows it.
    """
    seed, timeline, catalogue, plan = world.seed, world.timeline, world.catalogue, world.plan
    people = generate_customers(random_stream(seed, "customers", chunk), first, size, timeline, catalogue)
    leads = generate_leads(random_stream(seed, "leads", chunk), people, timeline, next_number["leads"])
    events, targeting, event_contacts = run_marketing(
        random_stream(seed, "marketing", chunk),
        people,
        leads,
        plan,
        world.schedule,
        timeline,
        next_number["email_events"],
    )
    truth_contacts.append(event_contacts)
    del event_contacts
    purchases = simulate_purchases(
        random_stream(seed, "purchases", chunk), people, catalogue, plan, targeting, timeline, next_number["orders"]
    )
    support = simulate_support(
        random_stream(seed, "support", chunk),
        people,
        timeline,
        next_number["tickets"],
        next_number["satisfaction_surveys"],
    )
    truth_contacts.append(support.contacts)
    refunds = issue_refunds(random_stream(seed, "refunds", chunk), purchases.orders, timeline)
    frames = {
        "customers": people.customers,
        "orders": pl.concat([purchases.orders, refunds]),
        "order_lines": purchases.order_lines,
        "email_events": events,
        "leads": leads.leads,
        "tickets": support.tickets,
        "satisfaction_surveys": support.satisfaction_surveys,
    }
    # Refunds count at their amount as exported (negative unless marked).
    refund_cents = int((refunds["total_amount"].cast(pl.Float64) * 100).round().sum())
    return _SimulatedChunk(people, frames, targeting, purchases.orders.height, purchases.revenue_cents + refund_cents)


def _write_chunk_files(
    writer: ExportWriter,
    world: _World,
    chunk: int,
    simulated: _SimulatedChunk,
    late: dict[str, pl.DataFrame | None],
    tally: _Tally,
) -> None:
    """The chunk's numbered files, dirt included: blanked optional fields, duplicates in the same
    file, and duplicates held back for the next file (``late``, swapped for this chunk's)."""
    dirt = random_stream(world.seed, "dirty_records", chunk)
    for entity in CHUNKED_ENTITIES:
        frame = blank_optional_fields(dirt, entity, simulated.frames[entity], world.dirty_rate)
        parts = [frame]
        if entity in DUPLICATED_ENTITIES:
            same_file, held_back = split_duplicates(dirt, frame, world.dirty_rate)
            parts += [same_file, late[entity]]
            late[entity] = held_back
        file_frame = arrange(entity, parts)
        writer.write(entity, file_frame, chunk + 1)
        tally.rows_written[entity] += file_frame.height
        tally.unique_keys[entity] += frame.height
        if entity in tally.next_number:
            # Refunds are numbered after their order (R + its number), not in the sequence.
            tally.next_number[entity] += simulated.orders_simulated if entity == "orders" else frame.height


def _write_catch_up_files(
    writer: ExportWriter, late: dict[str, pl.DataFrame | None], dirty_rate: float, number: int, tally: _Tally
) -> None:
    """Duplicates held back from the last chunk arrive in a catch-up file of their own. It is
    written even when empty so the file layout depends on the arguments, not on the draws."""
    for entity, held_back in late.items():
        if held_back is not None and dirty_rate > 0:
            writer.write(entity, arrange(entity, [held_back]), number)
            tally.rows_written[entity] += held_back.height


def _write_whole_set_truth(
    world: _World,
    writer: ExportWriter,
    tally: _Tally,
    truth_dir: Path,
    parameters: dict[str, object],
    total_revenue: float,
) -> list[Path]:
    """The truth files that need the whole set first: affinities, campaign lift and the summary."""
    return [
        write_csv(world.catalogue.affinity_frame(), truth_dir / "product_affinities.csv"),
        write_csv(_campaign_lift(world, tally), truth_dir / "campaign_lift.csv"),
        write_json(_summary_document(writer, tally, parameters, total_revenue), truth_dir / "summary.json"),
    ]


def _campaign_lift(world: _World, tally: _Tally) -> pl.DataFrame:
    plan = world.plan
    return pl.DataFrame(
        {
            "campaign_id": plan.campaign_ids.astype(str),
            "target_segment": np.array(SEGMENTS)[plan.target_segment].astype(str),
            "offer_product_id": world.catalogue.product_ids[plan.offer_product].astype(str),
            "true_purchase_rate_multiplier": plan.multiplier,
            "targeted_customers": tally.targeted_counts,
            "eligible_customers": tally.eligible_counts,
        },
        schema_overrides={"campaign_id": pl.String, "target_segment": pl.String, "offer_product_id": pl.String},
    )


def _summary_document(
    writer: ExportWriter, tally: _Tally, parameters: dict[str, object], total_revenue: float
) -> dict[str, object]:
    return {
        "parameters": parameters,
        "entities": {
            entity: {
                "files": len(writer.files[entity]),
                "rows_written": tally.rows_written[entity],
                "unique_keys": tally.unique_keys[entity],
                "duplicate_rows": tally.rows_written[entity] - tally.unique_keys[entity],
            }
            for entity in CONTRACTS
        },
        "total_revenue": total_revenue,
        "unique_orders": tally.unique_keys["orders"],
    }
