"""The pieces of CRM_ENGINE=spark that need no Spark: what is copied, timestamps, missing Java.
The whole run on Spark is tests/test_spark_engine.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from dagster_project.spark import local_server
from dagster_project.spark.transfer import _with_timestamps_as, relations_read_by_python


def test_the_python_side_gets_the_marts_and_the_analysis_date_not_the_rest():
    built = [
        ["staging", "stg_sales__orders"],
        ["intermediate", "int_analysis_date"],
        ["intermediate", "int_identity_links"],
        ["marts", "fct_orders"],
        ["marts", "customer_360"],
        ["reference", "channels"],
    ]
    assert relations_read_by_python(built) == [
        "intermediate.int_analysis_date",
        "marts.customer_360",
        "marts.fct_orders",
    ]


def test_instants_and_utc_wall_clock_times_convert_without_moving():
    instant = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # the night Europe moves its clocks
    from_spark = pa.table({"at": pa.array([instant, None], pa.timestamp("us", tz="UTC")), "n": [1, 2]})
    wall_clock = _with_timestamps_as(from_spark, timezone=None)
    assert wall_clock.schema.field("at").type == pa.timestamp("us")
    assert wall_clock.column("at").to_pylist() == [datetime(2026, 3, 29, 1, 30), None]
    back = _with_timestamps_as(wall_clock, timezone="UTC")
    assert back.column("at").to_pylist() == [instant, None]
    assert back.column("n").to_pylist() == [1, 2]


def test_a_machine_without_java_is_told_which_package_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(local_server.SparkUnavailable, match="apt-get install openjdk-17-jre-headless"):
        local_server.local_spark_server(tmp_path / "spark").__enter__()
    assert not (tmp_path / "spark").exists()  # nothing started, nothing written


def test_a_server_that_stops_at_once_shows_the_end_of_its_log(monkeypatch, tmp_path):
    monkeypatch.setattr(
        local_server,
        "server_command",
        lambda *arguments: ["sh", "-c", "echo 'Error: could not bind the metastore' >&2; exit 3"],
    )
    with (
        pytest.raises(local_server.SparkUnavailable, match="stopped(.|\n)*could not bind the metastore"),
        local_server.local_spark_server(tmp_path / "spark"),
    ):
        pass
