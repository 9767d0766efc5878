"""Pytest fixtures for the engines tables can live in (register with `pytest_plugins`).

`postgres` is one real PostgreSQL 15 server for the session (tests/pg_server.py); `spark` is
one local-mode SparkSession for the session: a JVM start is the expensive part, so every
Spark test shares it (mlci's own `getOrCreate` joins it), with two shuffle partitions and
no UI so small tables stay fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.pg_server import PostgreSQL


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgreSQL]:
    """Yield a started PostgreSQL server; it stops at the end of the session."""
    with PostgreSQL() as server:
        yield server


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """Yield a local[1] SparkSession; it stops at the end of the session."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("mlci-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "1")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
