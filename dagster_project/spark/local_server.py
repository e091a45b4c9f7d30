"""A Spark SQL server on this machine, for `CRM_ENGINE=spark` without a cluster.

One JVM serves both protocols the pipeline speaks: the Thrift (HiveServer2) endpoint dbt-spark
builds through, and the Spark Connect endpoint the Python side reads marts from and writes scores
to as Arrow (transfer.py). Both see the same catalog, kept in ``<data>/spark/`` (a Derby
metastore and the managed tables' warehouse), so the tables of one run are there for the next.

It is what pyspark's package ships: ``spark-submit`` of the Thrift server class with the Spark
Connect plugin, ``master local[<cores>]``. Development, tests and the benchmark use it; a company
that runs Spark points CRM_SPARK_HOST and CRM_SPARK_CONNECT_URL at its cluster instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from dagster_project.core.settings import Settings

# Spark's own start-up is 15-25 s on the reference machine; a loaded machine takes longer.
START_TIMEOUT_SECONDS = 180.0
THRIFT_SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
CONNECT_PLUGIN = "org.apache.spark.sql.connect.SparkConnectPlugin"


class SparkUnavailable(RuntimeError):
    """Something the local server needs is missing from this machine; the message says what to install."""


@dataclass(frozen=True)
class SparkEndpoints:
    host: str
    thrift_port: int
    connect_url: str

    def environment(self) -> dict[str, str]:
        """The variables dbt's profile (spark target) and the settings read."""
        return {
            "CRM_SPARK_HOST": self.host,
            "CRM_SPARK_PORT": str(self.thrift_port),
            "CRM_SPARK_CONNECT_URL": self.connect_url,
        }


def spark_home() -> Path:
    """pyspark's package folder: it holds bin/spark-submit and the jars (Thrift server, Connect)."""
    try:
        import pyspark
    except ImportError as error:
        raise SparkUnavailable(
            "pyspark is not installed: install the project with its spark extra (uv sync --extra spark)"
        ) from error
    return Path(pyspark.__file__).parent


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise SparkUnavailable(
            "Java is missing; Spark needs Java 17 or 21. On Debian or Ubuntu: "
            "sudo apt-get install openjdk-17-jre-headless"
        )
    return found


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accepts(port: int) -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def server_command(spark_dir: Path, thrift_port: int, connect_port: int, driver_memory: str) -> list[str]:
    home = spark_home()
    return [
        str(home / "bin" / "spark-submit"),
        "--class", THRIFT_SERVER_CLASS,
        "--master", f"local[{os.cpu_count() or 1}]",
        "--driver-memory", driver_memory,
        "--conf", f"spark.plugins={CONNECT_PLUGIN}",
        "--conf", f"spark.connect.grpc.binding.port={connect_port}",
        # Times are UTC end to end, as on DuckDB (the marts' timestamps, the analysis date).
        "--conf", "spark.sql.session.timeZone=UTC",
        "--conf", f"spark.sql.warehouse.dir={spark_dir / 'warehouse'}",
        # Derby keeps the catalog (metastore_db) and its log under this folder, not the working one.
        "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={spark_dir / 'metastore'}",
        "--conf", "spark.ui.showConsoleProgress=false",
        "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
        "--hiveconf", f"hive.server2.thrift.port={thrift_port}",
    ]  # fmt: skip


@contextmanager
def local_spark_server(spark_dir: Path, driver_memory: str = "3g") -> Iterator[SparkEndpoints]:
    """Start the server, wait until both endpoints answer, and stop it when the block ends.

    Its log is ``<spark_dir>/server.log``; a server that does not come up raises with the log's end."""
    java = java_executable()
    home = spark_home()
    for folder in (spark_dir / "warehouse", spark_dir / "metastore"):
        folder.mkdir(parents=True, exist_ok=True)
    thrift_port, connect_port = _free_port(), _free_port()
    log_path = spark_dir / "server.log"
    environment = {**os.environ, "SPARK_HOME": str(home), "JAVA_HOME": str(Path(java).resolve().parents[1])}
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            server_command(spark_dir, thrift_port, connect_port, driver_memory),
            cwd=spark_dir,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops the JVM spark-submit starts
        )
    try:
        _wait_until_up(server, (thrift_port, connect_port), log_path)
        yield SparkEndpoints("127.0.0.1", thrift_port, f"sc://127.0.0.1:{connect_port}")
    finally:
        _stop(server)


@contextmanager
def spark_for_run(settings: Settings) -> Iterator[SparkEndpoints | None]:
    """What a `crm` run needs of Spark: nothing with CRM_ENGINE=duckdb or a CRM_SPARK_HOST given;
    otherwise a local server for the run, announced in the environment to dbt and the steps."""
    if settings.engine != "spark" or settings.spark_host:
        yield None
        return
    with local_spark_server(settings.spark_dir, settings.spark_driver_memory) as endpoints:
        before = {name: os.environ.get(name) for name in endpoints.environment()}
        os.environ.update(endpoints.environment())
        try:
            yield endpoints
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _wait_until_up(server: subprocess.Popen, ports: tuple[int, ...], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not all(_accepts(port) for port in ports):
        if server.poll() is not None or time.monotonic() > deadline:
            what = "stopped" if server.poll() is not None else f"did not answer in {START_TIMEOUT_SECONDS:.0f} s"
            tail = log_path.read_text(errors="replace").splitlines()[-25:]
            raise SparkUnavailable(f"The local Spark server {what}; the end of {log_path}:\n" + "\n".join(tail))
        time.sleep(1.0)


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
