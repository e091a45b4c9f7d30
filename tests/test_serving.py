"""The serving file: what it holds, that a reader holding it open never errors while a run
publishes a new one, and that a failed run publishes nothing. (Older DuckDB clients and the BI
tools' settings: test_bi_clients.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.serve import pii
from dagster_project.serve.publish import publish_serving_file


def _build_file(path: Path) -> None:
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            """
            create schema raw; create schema marts; create schema ml;
            create table raw.orders as select 'O1' as order_id;
            create table marts.fct_orders as select 'O1' as order_id, 10.5::decimal(18, 2) as total_amount_usd;
            create view marts.sales_view as select sum(total_amount_usd) as revenue from marts.fct_orders;
            create table ml.churn_scores as
                select * from (values ('C1', 0.2::double, timestamp '2026-01-01'), ('C1', 0.7::double, timestamp '2026-01-02'))
                as t(customer_id, churn_probability, scored_at);
            create table ml.churn_scores_current as
                select * from ml.churn_scores where scored_at = (select max(scored_at) from ml.churn_scores);
            create table ml.model_runs as select 'churn' as model_name, '{"roc_auc": 0.8}'::json as metrics;
            """
        )


def test_the_serving_file_holds_marts_and_current_scores_only(tmp_path):
    build, serving = tmp_path / "build.duckdb", tmp_path / "serving" / "crm.duckdb"
    _build_file(build)
    with duckdb.connect(str(build)) as connection:
        published = publish_serving_file(connection, serving)
    assert {(table.schema, table.name, table.rows) for table in published} == {
        ("marts", "fct_orders", 1),
        ("marts", "sales_view", 1),
        ("ml", "churn_scores_current", 1),
        ("ml", "model_runs", 1),
    }
    assert not list(serving.parent.glob("*.partial*"))
    with duckdb.connect(str(serving), read_only=True) as connection:
        schemas = {
            row[0]
            for row in connection.execute("select distinct table_schema from information_schema.tables").fetchall()
        }
        assert schemas == {"marts", "ml"}
        assert connection.execute("select churn_probability from ml.churn_scores_current").fetchall() == [(0.7,)]
        assert connection.execute("select revenue from marts.sales_view").fetchall()[0][0] == 10.5


EVENTS = "marts.fct_events"


def _build_with_stamped_facts(path: Path, rows: int = 1000) -> None:
    """A build file with a fact an incremental model writes (key, _processed_at) and a dimension."""
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            f"""
            create schema marts;
            create table marts.fct_events as
                select 'E' || i as event_id, 'C' || (i % 50) as customer_id, 'a' || (i % 7) || '@x.com' as email,
                       timestamp '2026-01-01 02:00:00' as _processed_at
                from range({rows}) as t(i);
            create table marts.dim_customers as select 'C' || i as customer_id from range(50) as t(i);
            """
        )


def _night(build: Path, stamp: str, first: int) -> int:
    """What a nightly dbt run does to the fact: relinks 10 events, adds 5, deletes 3 (unlinked).
    Returns the rows written with the new stamp."""
    with duckdb.connect(str(build)) as connection:
        connection.execute(
            f"update marts.fct_events set customer_id = 'C0', _processed_at = timestamp '{stamp}' "
            f"where event_id in (select 'E' || i from range({first}, {first + 10}) as t(i))"
        )
        connection.execute(
            f"insert into marts.fct_events select 'N{stamp}-' || i, 'C1', 'new@x.com', timestamp '{stamp}' from range(5) t(i)"
        )
        connection.execute(
            f"delete from marts.fct_events where event_id in (select 'E' || i from range({first + 10}, {first + 13}) as t(i))"
        )
    return 15


def _served_rows(serving: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(serving), read_only=True) as connection:
        return connection.execute(query).fetchall()


def test_large_facts_are_updated_in_place_and_end_equal_to_the_build(tmp_path):
    build, serving = tmp_path / "build.duckdb", tmp_path / "serving" / "crm.duckdb"
    _build_with_stamped_facts(build)
    keys = {("marts", "fct_events"): "event_id"}
    everything = f"select * from {EVENTS} order by all"

    def publish(masking=None):
        with duckdb.connect(str(build)) as connection:
            return {
                f"{table.schema}.{table.name}": table
                for table in publish_serving_file(connection, serving, masking, keys)
            }

    first = publish()
    assert first[EVENTS].rows_written is None and first[EVENTS].rows == 1000  # nothing served yet: written whole

    # A reader holds the served file through the next publish and keeps reading what it opened.
    reader = duckdb.connect(str(serving), read_only=True)
    try:
        written = _night(build, "2026-01-02 02:00:00", first=0)
        second = publish()
        assert second[EVENTS].rows_written == written
        assert second["marts.dim_customers"].rows_written is None  # no stamp: copied whole
        assert reader.execute(f"select count(*), count(*) filter (customer_id = 'C0') from {EVENTS}").fetchall() == [
            (1000, 20)
        ]
    finally:
        reader.close()
    assert _served_rows(serving, everything) == _served_rows(build, everything)
    assert _served_rows(serving, f"select count(*) from {EVENTS}") == [(1002,)]

    # Masking the email: the served rows were not masked, so the table is written whole once...
    masking = pii.PiiMasking(key="k" * 32, columns={("marts", "fct_events"): {"email": "email"}})
    assert publish(masking)[EVENTS].rows_written is None
    # ...and updated in place after the next night, every row masked like a whole copy masks it.
    written = _night(build, "2026-01-03 02:00:00", first=100)
    assert publish(masking)[EVENTS].rows_written == written
    in_place = _served_rows(serving, everything)
    serving.unlink()
    assert publish(masking)[EVENTS].rows_written is None
    assert in_place == _served_rows(serving, everything)
    assert not any(row[2].endswith("@x.com") for row in in_place)

    # A build rebuilt from scratch (all rows stamped anew) is written whole again.
    with duckdb.connect(str(build)) as connection:
        connection.execute("update marts.fct_events set _processed_at = timestamp '2026-01-04 02:00:00'")
    assert publish(masking)[EVENTS].rows_written is None
    assert _served_rows(serving, everything) != in_place


HOLD_OPEN = textwrap.dedent(
    """
    import sys, duckdb
    held = duckdb.connect(sys.argv[1], read_only=True)
    print(held.execute("select count(*) from marts.fct_events").fetchall()[0][0], flush=True)
    sys.stdin.readline()  # until the test says so
    print(held.execute("select count(*) from marts.fct_events").fetchall()[0][0], flush=True)
    """
)


def test_the_file_served_before_is_updated_in_place_unless_a_reader_still_holds_it(tmp_path):
    """Publishes alternate between two files: the served one and the standby (the one served
    before it), which is updated in place instead of copying the served file, unless a reader
    that opened it while it was served still holds it (then the served file is copied)."""
    build, serving = tmp_path / "build.duckdb", tmp_path / "serving" / "crm.duckdb"
    standby = serving.with_name("crm.duckdb.standby")
    # Big enough that a night's changes do not grow the file by a quarter (then it is written whole).
    _build_with_stamped_facts(build, rows=300_000)
    keys = {("marts", "fct_events"): "event_id"}
    everything = f"select * from {EVENTS} order by all"

    def publish_night(stamp: str, first: int) -> tuple[int, int | None]:
        """The served file's inode after the publish, and the fact's rows it wrote in place."""
        _night(build, stamp, first)
        with duckdb.connect(str(build)) as connection:
            published = publish_serving_file(connection, serving, incremental_keys=keys)
        assert _served_rows(serving, everything) == _served_rows(build, everything)
        return serving.stat().st_ino, next(table.rows_written for table in published if table.name == "fct_events")

    with duckdb.connect(str(build)) as connection:
        publish_serving_file(connection, serving, incremental_keys=keys)
    first = serving.stat().st_ino
    assert not standby.exists()  # nothing was served before
    # No standby yet: a copy of the served file, updated with the night's 15 rows.
    second, written = publish_night("2026-01-02 02:00:00", first=0)
    assert (second != first, written, standby.stat().st_ino) == (True, 15, first)
    # The standby, updated in place with the rows of the two nights since it was served.
    third, written = publish_night("2026-01-03 02:00:00", first=100)
    assert (third, written, standby.stat().st_ino) == (first, 30, second)

    # A reader opened the file served now; after the next publish it is the standby, still held.
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, str(serving)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        rows_seen = reader.stdout.readline().strip()
        fourth, written = publish_night("2026-01-04 02:00:00", first=200)
        assert (fourth, written, standby.stat().st_ino) == (second, 30, third)
        # The standby is held: the served file is copied and updated with one night.
        fifth, written = publish_night("2026-01-05 02:00:00", first=300)
        assert (fifth not in (first, second), written, standby.stat().st_ino) == (True, 15, fourth)
        output, _ = reader.communicate("go\n", timeout=30)
    finally:
        reader.kill()
    assert reader.returncode == 0
    assert output.split() == [rows_seen]  # what the reader opened did not change under it


def _land_all_but_the_biggest_order_lines_file(small_export: Path, settings, waiting_dir: Path) -> tuple[Path, Path]:
    """Copy the export set into the landing folder, except the biggest order-lines file, which
    waits in ``waiting_dir`` to arrive after the first run: (its landing path, where it waits)."""
    shutil.copytree(small_export / "landing", settings.landing_dir)
    held_back = max(
        (settings.landing_dir / "sales" / "order_lines").glob("*.csv"), key=lambda path: path.stat().st_size
    )
    waiting = waiting_dir / held_back.name
    shutil.move(held_back, waiting)
    return held_back, waiting


def _order_lines_in(*files: Path) -> int:
    """The order lines in these order-lines exports, each (order_id, line_number) once: what
    fct_order_lines holds once they are loaded (re-delivered lines are exact copies)."""
    keys = [pl.read_csv(path, infer_schema=False).select("order_id", "line_number") for path in files]
    return pl.concat(keys).unique().height


def _order_lines_before_and_after(settings, waiting: Path) -> tuple[int, int]:
    """The order lines of the landed exports, without and with the file that waits."""
    landed = sorted((settings.landing_dir / "sales" / "order_lines").glob("*.csv"))
    return _order_lines_in(*landed), _order_lines_in(*landed, waiting)


READER = textwrap.dedent(
    """
    import sys, time, duckdb
    path, stop_file = sys.argv[1], sys.argv[2]
    held = duckdb.connect(path, read_only=True)   # held open for the whole run
    queries = errors = 0
    while True:
        try:
            held.execute("select count(*), sum(revenue_usd) from marts.fct_order_lines").fetchall()
            queries += 1
        except Exception as error:
            errors += 1
            print("ERROR", error, flush=True)
        if __import__("os").path.exists(stop_file):
            break
        time.sleep(0.05)
    print("DONE", queries, errors, flush=True)
    """
)


@pytest.mark.e2e
def test_a_reader_holding_the_serving_file_never_errors_while_a_run_publishes(
    small_export, data_dir_settings, tmp_path
):
    from dagster_project.runner import run_full_pipeline

    settings = data_dir_settings
    held_back, waiting = _land_all_but_the_biggest_order_lines_file(small_export, settings, tmp_path)
    exported_before, exported_after = _order_lines_before_and_after(settings, waiting)

    first = run_full_pipeline(settings)
    assert first.success, first.failure_messages
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        lines_before = connection.execute("select count(*) from marts.fct_order_lines").fetchall()[0][0]
        sync_before = connection.sql("select * exclude (as_of_date) from marts.crm_sync_customers").pl()

    stop_file = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(settings.serving_path), str(stop_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(1)
        shutil.move(waiting, held_back)
        second = run_full_pipeline(settings)
        assert second.success, second.failure_messages
    finally:
        stop_file.touch()
        output, _ = reader.communicate(timeout=60)

    assert reader.returncode == 0, output
    assert "ERROR" not in output, output
    queries, errors = (int(value) for value in output.split("DONE")[1].split())
    assert queries > 10 and errors == 0
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        lines_after = connection.execute("select count(*) from marts.fct_order_lines").fetchall()[0][0]
        schemas = {
            row[0]
            for row in connection.execute("select distinct table_schema from information_schema.tables").fetchall()
        }
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        lines_in_build = connection.execute("select count(*) from marts.fct_order_lines").fetchall()[0][0]
    assert lines_after == lines_in_build > lines_before
    # The first run served the lines landed before it; the second, those and the late file's.
    assert (lines_before, lines_after) == (exported_before, exported_after)
    assert schemas == {"marts", "ml"}

    # The activation exports follow the serving file: a snapshot of every customer, and a delta
    # holding exactly the rows that changed between the two runs (the analysis date aside).
    manifest = json.loads((settings.outbox_dir / "manifest.json").read_text())
    assert manifest["run_id"] == second.run_id
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        sync_after = connection.sql("select * exclude (as_of_date) from marts.crm_sync_customers").pl()
    changed = sync_after.join(sync_before, on=sync_after.columns, how="anti", nulls_equal=True)
    gone = sync_before.join(sync_after, on="customer_id", how="anti")
    snapshot = pl.read_parquet(settings.outbox_dir / "crm_sync_customers" / "snapshot.parquet")
    delta = pl.read_parquet(settings.outbox_dir / "crm_sync_customers" / "delta.parquet")
    assert snapshot.height == sync_after.height
    assert sorted(delta["customer_id"]) == sorted([*changed["customer_id"], *gone["customer_id"]])


@pytest.mark.e2e
def test_a_failed_run_publishes_nothing(small_export, data_dir_settings, tmp_path, monkeypatch):
    """A step failing halfway (the churn model, after ingestion and dbt succeeded with new data)
    stops everything downstream: the serving file, the outbox and the scored marts stay as the
    last successful run left them."""
    from dagster_project.modelling import lifecycle
    from dagster_project.runner import run_full_pipeline

    settings = data_dir_settings
    held_back, waiting = _land_all_but_the_biggest_order_lines_file(small_export, settings, tmp_path)
    exported_before, exported_after = _order_lines_before_and_after(settings, waiting)
    first = run_full_pipeline(settings)
    assert first.success, first.failure_messages
    serving_bytes = settings.serving_path.read_bytes()
    outbox_before = {path: path.read_bytes() for path in settings.outbox_dir.rglob("*") if path.is_file()}

    real_train_or_score = lifecycle.train_or_score

    def churn_breaks(log, run_id, policy, models_dir, connection, model_name, *args, **kwargs):
        if model_name == "churn":
            raise RuntimeError("simulated failure while scoring churn")
        return real_train_or_score(log, run_id, policy, models_dir, connection, model_name, *args, **kwargs)

    monkeypatch.setattr(lifecycle, "train_or_score", churn_breaks)
    shutil.move(waiting, held_back)
    second = run_full_pipeline(settings)

    assert not second.success
    assert second.failed_steps == ["ml__churn_scores"]
    assert "simulated failure while scoring churn" in second.failure_messages[0]
    # The new order lines reached the build file's marts (dbt ran) ...
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        lines_in_build = connection.execute("select count(*) from marts.fct_order_lines").fetchall()[0][0]
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        lines_served = connection.execute("select count(*) from marts.fct_order_lines").fetchall()[0][0]
    assert lines_in_build > lines_served
    assert (lines_served, lines_in_build) == (exported_before, exported_after)
    # ... but nothing was published: same serving file byte for byte, same outbox, no partial files.
    assert settings.serving_path.read_bytes() == serving_bytes
    assert {path: path.read_bytes() for path in settings.outbox_dir.rglob("*") if path.is_file()} == outbox_before
    assert json.loads((settings.outbox_dir / "manifest.json").read_text())["run_id"] == first.run_id
    assert not list(settings.serving_path.parent.glob("*.partial*"))
