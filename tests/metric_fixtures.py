"""Tiny hand-made canonical workspaces for metric tests, on DuckDB or PySpark.

``make_source({"tickets": [{...}, ...]}, engine)`` creates every canonical table (empty unless given)
with the schema's types on the chosen engine and returns a :class:`TableSource`. Rows are dicts with
canonical field names; missing fields are null.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import ibis
import pandas as pd
import pytest

from sinergia.metrics.context import TableSource
from sinergia.schema import ENTITIES

IBIS_TYPES = {
    "string": "string",
    "integer": "int64",
    "double": "float64",
    "money": "decimal(18, 2)",
    "boolean": "boolean",
    "timestamp": "timestamp",
    "date": "date",
    "json": "string",
}

_SPARK: dict[str, Any] = {}


def spark_backend() -> Any:
    """One local PySpark session per test run (starting one takes seconds)."""
    if "backend" not in _SPARK:
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            if os.environ.get("CI"):
                pytest.fail("pyspark is not installed; CI installs sinergia[spark] (scripts/test.sh)")
            pytest.skip("pyspark not installed (pip install -e '.[spark]' to run the Spark parity tests)")
        import shutil

        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            if os.environ.get("CI"):
                pytest.fail("Java is missing; CI installs it (scripts/test.sh)")
            pytest.skip("Java not found: the PySpark tests need Java 17 (CI installs it)")
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        warehouse = tempfile.mkdtemp(prefix="sinergia-spark-")
        session = (
            SparkSession.builder.master("local[2]")
            .appName("sinergia-tests")
            .config("spark.sql.warehouse.dir", warehouse)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "1")
            .config("spark.default.parallelism", "1")
            .config("spark.driver.memory", "1g")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        _SPARK["backend"] = ibis.pyspark.connect(session)
    return _SPARK["backend"]


def frame(entity: str, rows: list[dict[str, Any]]) -> tuple[pd.DataFrame, dict[str, str]]:
    ent = ENTITIES[entity]
    unknown = {k for r in rows for k in r} - set(ent.field_names)
    if unknown:
        raise KeyError(f"{entity} has no fields {sorted(unknown)}")
    columns = list(ent.field_names)
    data = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    schema = {f.name: IBIS_TYPES[f.type] for f in ent.fields}
    for f in ent.fields:
        if f.type == "timestamp":
            data[f.name] = pd.to_datetime(data[f.name])
        elif f.type in ("integer", "double", "money"):
            # Python values with None: pandas' NaN would reach PySpark as a float NaN, which is not null
            # in a double column and nulls a whole integer column.
            cast = int if f.type == "integer" else float
            data[f.name] = pd.Series([None if pd.isna(v) else cast(v) for v in data[f.name]], dtype=object)
    return data, schema


def make_source(tables: dict[str, list[dict[str, Any]]], engine: str = "duckdb") -> TableSource:
    """A TableSource whose canonical tables hold exactly ``tables`` (others empty)."""
    if engine == "duckdb":
        backend = ibis.duckdb.connect()
    elif engine == "spark":
        backend = spark_backend()
    else:
        raise ValueError(engine)
    for name in ENTITIES:
        data, schema = frame(name, tables.get(name, []))
        memtable = ibis.memtable(data, schema=schema)
        if engine == "spark":
            backend.create_view(name, memtable, overwrite=True)
        else:
            backend.create_table(name, memtable, overwrite=True)
    return TableSource(backend)


ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]
