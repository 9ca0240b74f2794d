"""The distributed path: the workspace's canonical tables on a PySpark session, for the same Ibis code.

Needs the ``spark`` extra (``pip install 'sinergia[spark]'``) and Java 17. For a workspace that fits on one
machine this mostly proves the code is portable; at scale, point the session at the cluster and the
canonical tables at the warehouse instead of exporting them from DuckDB.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from sinergia.errors import UsageError
from sinergia.schema import ENTITIES


def local_session(app_name: str = "sinergia", warehouse: Path | None = None) -> Any:
    """A local PySpark session in UTC, sized for a small machine."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UsageError(
            "the Spark engine needs the spark extra: pip install 'sinergia[spark]' (and Java 17)"
        ) from None
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    warehouse = warehouse or Path(tempfile.mkdtemp(prefix="sinergia-spark-"))
    session = (
        SparkSession.builder.master(os.environ.get("SINERGIA_SPARK_MASTER", "local[2]"))
        .appName(app_name)
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", os.environ.get("SINERGIA_SPARK_PARTITIONS", "4"))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def workspace_on_spark(workspace: Any, session: Any | None = None) -> Any:
    """A TableSource whose canonical tables are the workspace's, read by Spark from a Parquet export."""
    import ibis

    from sinergia.metrics.context import TableSource

    session = session or local_session()
    export = Path(tempfile.mkdtemp(prefix="sinergia-export-"))
    con = workspace.duckdb_reader()
    try:
        for name in ENTITIES:
            target = export / f"{name}.parquet"
            # Spark reads DuckDB's JSON columns as text; TIMESTAMP stays a timestamp (UTC).
            con.execute(f"COPY (SELECT * FROM \"{name}\") TO '{target}' (FORMAT parquet)")
    finally:
        con.close()
    for name in ENTITIES:
        session.read.parquet(str(export / f"{name}.parquet")).createOrReplaceTempView(name)
    return TableSource(ibis.pyspark.connect(session))
