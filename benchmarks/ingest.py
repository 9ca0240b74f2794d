"""Ingestion throughput: ``sinergia ingest`` against DuckDB loading the same file on its own.

Generates a usage-event file (Segment-like: messageId-style ``event_id``, account, user, event, feature,
ISO time, quantity) as CSV and as Parquet with DuckDB, then for each format measures, each in a fresh
process (so peak RSS is per run):

* **DuckDB**: ``CREATE TABLE t AS SELECT * FROM read_csv(...)`` / ``read_parquet(...)`` into a fresh DuckDB
  *file*, plus ``CHECKPOINT`` and close (we persist too, so DuckDB persists);
* **sinergia**: :func:`sinergia.ingest.ingest_files` with a mapping YAML into a fresh workspace — the whole
  command: lock, copy of the engine file, read + validate + quarantine + dedupe + upsert, checkpoint, fsync,
  atomic rename, audit row;
* **re-import**: the same file again into that workspace (idempotent path: every row unchanged).

It prints markdown: rows/s, the ratio sinergia/DuckDB (goal ≥ 0.5), CPU seconds, peak RSS, and where the
import's time goes (timed around the workspace writer and each SQL statement the loader runs).

The machine may be shared: with ``--repeat K`` every measurement runs K times, interleaved, and the table
reports the best (minimum) wall time; the load average before and after is printed with the results.

    .venv/bin/python benchmarks/ingest.py                    # 10M rows, temp dir removed afterwards
    .venv/bin/python benchmarks/ingest.py --rows 1000000 --repeat 3 --out /tmp/ingest-bench
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAPPING = """\
# benchmarks/ingest.py: Segment-like usage events
source: benchmark
entity: usage_events
columns:
  event_id: event_id
  account_id: account_id
  contact_id: contact_id
  event: event
  feature: feature
  occurred_at: occurred_at
  quantity: quantity
"""

# Step names of the breakdown, in pipeline order.
STEPS = (
    "lock + copy of the engine file",
    "file sha256",
    "open + sniff + date detection",
    "stage build (read, parse, validate)",
    "valid-rows table",
    "in-file dedupe",
    "identity + references",
    "upsert (compare + write)",
    "quarantine + bookkeeping",
    "commit (checkpoint, fsync, rename)",
    "other (Python between statements)",
    "mapping + audit log (outside the writer)",
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- data -----------------------------------------------------------------------------------------------


def _events_sql(rows: int, naive: bool, typed_time: bool) -> str:
    text = "'%Y-%m-%d %H:%M:%S'" if naive else "'%Y-%m-%dT%H:%M:%SZ'"
    at = "TIMESTAMP '2023-01-01' + to_seconds((i * 3)::BIGINT)"
    occurred = at if typed_time else f"strftime({at}, {text})"
    return f"""
        SELECT 'ajs-' || md5(i::VARCHAR) AS event_id,
               'acc_' || lpad((hash(i) % 20000)::VARCHAR, 5, '0') AS account_id,
               'usr_' || lpad((hash(i + 1) % 200000)::VARCHAR, 6, '0') AS contact_id,
               ['login', 'view_report', 'export', 'share', 'invite', 'search', 'create_dashboard', 'api_call']
                   [1 + (hash(i + 2) % 8)::INT] AS event,
               ['dashboards', 'reports', 'api', 'admin', 'search'][1 + (hash(i + 3) % 5)::INT] AS feature,
               {occurred} AS occurred_at,
               1 + (hash(i + 4) % 10)::INT AS quantity
        FROM range({rows}) t(i)"""


def generate(out: Path, rows: int, naive: bool) -> dict[str, Path]:
    """The CSV and Parquet files (reused when already generated with the same options)."""
    import duckdb

    tag = f"{rows}{'-naive' if naive else ''}"
    files = {"csv": out / f"usage_events-{tag}.csv", "parquet": out / f"usage_events-{tag}.parquet"}
    con = duckdb.connect()
    try:
        for fmt, path in files.items():
            done = path.with_name(path.name + ".done")
            if path.exists() and done.exists():
                continue
            start = time.perf_counter()
            options = "HEADER" if fmt == "csv" else "FORMAT parquet"
            sql = _events_sql(rows, naive, typed_time=fmt == "parquet")
            con.execute(f"COPY ({sql}) TO '{path}' ({options})")
            done.touch()
            print(f"generated {path.name}: {path.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - start:.1f} s")
    finally:
        con.close()
    return files


# -- children: one measurement each, in its own process -------------------------------------------------


class _Timings:
    def __init__(self) -> None:
        self.wall: dict[str, float] = dict.fromkeys(STEPS, 0.0)
        self.cpu: dict[str, float] = dict.fromkeys(STEPS, 0.0)
        self.writer_wall = 0.0
        self.writer_cpu = 0.0

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), _cpu()
        try:
            yield
        finally:
            self.wall[name] += time.perf_counter() - wall
            self.cpu[name] += _cpu() - cpu


def _classify(sql: str) -> str:
    head = " ".join(sql.split())[:300]
    if "CREATE TEMP TABLE _stage" in head:
        return "stage build (read, parse, validate)"
    if "CREATE TEMP TABLE _valid" in head:
        return "valid-rows table"
    if "_dupkeys" in head or "_ranked" in head or "DISTINCT hash(" in head or "HAVING count(*) > 1" in head:
        return "in-file dedupe"
    if "identity_map" in head or "_aliases" in head:
        return "identity + references"
    if "_status" in head or "INSERT INTO \"" in head or "UPDATE \"" in head:
        return "upsert (compare + write)"
    if "quarantine" in head or "INSERT INTO imports" in head:
        return "quarantine + bookkeeping"
    if "_date_sample" in head or "_src_" in head or "DESCRIBE" in head or "LIMIT 200000" in head:
        return "open + sniff + date detection"
    return "other (Python between statements)"


class _TimedConnection:
    """Wraps the writer's DuckDB connection; times every statement under its pipeline step."""

    def __init__(self, con: Any, timings: _Timings) -> None:
        self._con, self._timings = con, timings

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        with self._timings.step(_classify(sql)):
            return self._con.execute(sql, *args, **kwargs)

    def executemany(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        with self._timings.step(_classify(sql)):
            return self._con.executemany(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _instrument(timings: _Timings) -> None:
    """Time the writer (copy, commit), the file hash and each statement. Only in benchmark children."""
    from sinergia.ingest import loader
    from sinergia.workspace import workspace as ws_module

    original_writer = ws_module.Workspace.writer

    @contextlib.contextmanager
    def writer(self: Any, *, commit: bool = True) -> Iterator[Any]:
        entered = False
        wall, cpu = time.perf_counter(), _cpu()
        with timings.step("lock + copy of the engine file"):
            manager = original_writer(self, commit=commit)
            con = manager.__enter__()
            entered = True
        try:
            yield _TimedConnection(con, timings)
        except BaseException:
            if entered and not manager.__exit__(*sys.exc_info()):
                raise
        else:
            with timings.step("commit (checkpoint, fsync, rename)"):
                manager.__exit__(None, None, None)
        finally:
            timings.writer_wall += time.perf_counter() - wall
            timings.writer_cpu += _cpu() - cpu

    ws_module.Workspace.writer = writer  # type: ignore[method-assign]
    original_sha = loader.file_sha256

    def file_sha256(path: Path) -> str:
        with timings.step("file sha256"):
            return original_sha(path)

    loader.file_sha256 = file_sha256


def child_sinergia(data: Path, workspace: Path, mapping: Path, fresh: bool) -> dict[str, Any]:
    from sinergia.ingest import ingest_files
    from sinergia.workspace import init_workspace, open_workspace

    ws = init_workspace(workspace) if fresh else open_workspace(workspace)
    timings = _Timings()
    _instrument(timings)
    wall, cpu = time.perf_counter(), _cpu()
    report = ingest_files(ws, [data], mapping=mapping)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    # Inside the writer, what no timed step covers is Python between statements; outside it, ingest_files
    # reads the mapping before and writes the audit row to the serving store after.
    other = "other (Python between statements)"
    timings.wall[other] += timings.writer_wall - sum(timings.wall.values())
    timings.cpu[other] += timings.writer_cpu - sum(timings.cpu.values())
    timings.wall["mapping + audit log (outside the writer)"] = wall - timings.writer_wall
    timings.cpu["mapping + audit log (outside the writer)"] = cpu - timings.writer_cpu
    totals = report.totals().as_dict()
    return {
        "wall": wall,
        "cpu": cpu,
        "rss_mb": _peak_rss_mb(),
        "counts": totals,
        "steps_wall": timings.wall,
        "steps_cpu": timings.cpu,
        "engine_mb": ws.engine_path.stat().st_size / 1e6,
    }


def child_duckdb(data: Path, database: Path) -> dict[str, Any]:
    import duckdb

    reader = "read_parquet" if data.suffix == ".parquet" else "read_csv"
    wall, cpu = time.perf_counter(), _cpu()
    con = duckdb.connect(str(database))
    con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}('{data}')")
    con.execute("CHECKPOINT")
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    return {"wall": time.perf_counter() - wall, "cpu": _cpu() - cpu, "rss_mb": _peak_rss_mb(), "rows": rows}


def _run_child(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"benchmark child {args[0]} failed:\n{result.stderr}")
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


# -- the report -------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    import duckdb

    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        mem = f"{kib / 1024 / 1024:.0f} GiB"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": f"{os.cpu_count()} ({model})",
        "memory": mem,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds / 1e6:.2f} M/s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows in the generated file (default 10M)")
    parser.add_argument("--repeat", type=int, default=1, help="run every measurement K times; report the best")
    parser.add_argument("--out", type=Path, help="keep generated files here (reused by the next run)")
    parser.add_argument("--formats", default="csv,parquet", help="comma-separated: csv, parquet")
    parser.add_argument("--naive", action="store_true", help="CSV times without the Z (naive local times)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        if kind == "duckdb":
            print(json.dumps(child_duckdb(Path(rest[0]), Path(rest[1]))))
        else:
            data, workspace, mapping = (Path(p) for p in rest)
            print(json.dumps(child_sinergia(data, workspace, mapping, fresh=kind == "sinergia")))
        return

    info = machine()
    temp = None
    if args.out is None:
        temp = tempfile.mkdtemp(prefix="sinergia-bench-")
        out = Path(temp)
    else:
        out = args.out
        out.mkdir(parents=True, exist_ok=True)
    try:
        files = generate(out, args.rows, args.naive)
        mapping = out / "usage_events.yaml"
        mapping.write_text(MAPPING, encoding="utf-8")
        formats = [f.strip() for f in args.formats.split(",") if f.strip()]
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            f: {"duckdb": [], "sinergia": [], "reimport": []} for f in formats
        }
        for rep in range(args.repeat):
            for fmt in formats:
                data = files[fmt]
                database = out / f"duckdb-{fmt}.duckdb"
                for leftover in (database, Path(f"{database}.wal")):
                    leftover.unlink(missing_ok=True)
                runs[fmt]["duckdb"].append(_run_child("duckdb", str(data), str(database)))
                database.unlink(missing_ok=True)
                workspace = out / f"workspace-{fmt}"
                shutil.rmtree(workspace, ignore_errors=True)
                first = _run_child("sinergia", str(data), str(workspace), str(mapping))
                again = _run_child("reimport", str(data), str(workspace), str(mapping))
                shutil.rmtree(workspace, ignore_errors=True)
                assert first["counts"]["loaded"] == args.rows, first["counts"]
                assert again["counts"]["unchanged"] == args.rows, again["counts"]
                runs[fmt]["sinergia"].append(first)
                runs[fmt]["reimport"].append(again)
                print(
                    f"[{rep + 1}/{args.repeat}] {fmt}: duckdb {runs[fmt]['duckdb'][-1]['wall']:.1f} s, "
                    f"sinergia {first['wall']:.1f} s, re-import {again['wall']:.1f} s",
                    flush=True,
                )
        info["load after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print()
        print(render(info, args.rows, files, runs))
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


def render(
    info: dict[str, str], rows: int, files: dict[str, Path], runs: dict[str, dict[str, list[dict[str, Any]]]]
) -> str:
    lines = [
        f"Machine: {info['cpus']}, {info['memory']} RAM; Python {info['python']}, DuckDB {info['duckdb']}; "
        f"{info['date']}; load average before {info['load']}, after {info.get('load after', '?')}.",
        "",
        "| format | rows | DuckDB CTAS + CHECKPOINT | sinergia ingest | ratio (rows/s) | re-import (unchanged) "
        "| CPU s DuckDB / sinergia | peak RSS DuckDB / sinergia |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for fmt, kinds in runs.items():
        best = {k: min(v, key=lambda r: r["wall"]) for k, v in kinds.items()}
        duck, ours, again = best["duckdb"], best["sinergia"], best["reimport"]
        size = files[fmt].stat().st_size / 1e6
        lines.append(
            f"| {fmt} ({size:,.0f} MB) | {rows:,} | {duck['wall']:.1f} s ({_rate(rows, duck['wall'])}) "
            f"| {ours['wall']:.1f} s ({_rate(rows, ours['wall'])}) | **{duck['wall'] / ours['wall']:.2f}** "
            f"| {again['wall']:.1f} s ({_rate(rows, again['wall'])}) | {duck['cpu']:.1f} / {ours['cpu']:.1f} "
            f"| {duck['rss_mb']:,.0f} / {ours['rss_mb']:,.0f} MB |"
        )
    repeats = max(len(v["sinergia"]) for v in runs.values())
    if repeats > 1:
        lines += ["", f"Best of {repeats}; medians (wall s, DuckDB / sinergia / re-import):"]
        for fmt, kinds in runs.items():
            med = [statistics.median(r["wall"] for r in kinds[k]) for k in ("duckdb", "sinergia", "reimport")]
            lines.append(f"- {fmt}: {med[0]:.1f} / {med[1]:.1f} / {med[2]:.1f}")
    for fmt, kinds in runs.items():
        for kind, title in (("sinergia", "first import"), ("reimport", "re-import")):
            run = min(kinds[kind], key=lambda r: r["wall"])
            lines += [
                "",
                f"Where the time goes — {fmt}, {title} ({run['wall']:.1f} s wall, {run['cpu']:.1f} s CPU):",
                "",
                "| step | wall s | share | CPU s |",
                "|---|---:|---:|---:|",
            ]
            for step in STEPS:
                wall, cpu = run["steps_wall"].get(step, 0.0), run["steps_cpu"].get(step, 0.0)
                if wall >= 0.005:
                    lines.append(f"| {step} | {wall:.2f} | {wall / run['wall']:.0%} | {cpu:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
