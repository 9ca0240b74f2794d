"""Web and API latency under concurrency: the real server, real HTTP clients, a 100k-account serving store.

What it measures (issue 5): p50 / p95 / p99 latency and requests per second of

* ``portfolio``: ``GET /portfolio`` (headline metric cards, health distribution, accounts at risk);
* ``customer 360``: ``GET /accounts/{id}`` over a seeded sample of accounts;
* ``risk list``: ``GET /accounts?sort=arr_at_risk&order=desc`` (the accounts page by ARR at risk);
* ``API accounts``: ``GET /api/v1/accounts?segment=S&sort=-churn_risk&limit=50`` with a Bearer token,
  rotating over the store's segments;
* ``baseline``: ``GET /api/v1/health`` (public, no store query) under the same concurrency, so the
  machine's own noise can be told apart from the pages' cost.

How: the server runs in a subprocess the way users run it — ``sinergia serve`` (one uvicorn process), and
``uvicorn --factory --workers N`` on the same app factory, with the playbook scheduler off unless
``--scheduler-seconds`` is given (``sinergia serve`` has no ``--workers``; this file's
:func:`app_from_env` does what ``serve`` does: ``create_app(workspace)`` and the scheduler interval). The
load is ``--clients`` (20) concurrent clients in one asyncio process (``httpx.AsyncClient``, one
keep-alive connection each), closed loop: each client sends its next request when the previous answer is
read. Page clients log in through the real login form (``GET /login`` for the CSRF cookie and field,
``POST /login``, session cookie); API clients send ``Authorization: Bearer`` with a token issued by
``sinergia user token``. Per target: ``--warmup`` untimed requests per client, then ``--requests`` timed
ones; RPS = timed requests / wall time of the timed phase. ``--rounds`` repeats every target in turn
(baseline included), so all targets see the same machine conditions; the table pools the rounds.
Every answer must be 200 (a redirect to the login page counts as an error).

The store: ``--workspace`` is a workspace whose serving store was written by ``sinergia recompute``. With
``--replicate-to N`` the benchmark first copies that workspace to ``--out`` and replicates the newest
recompute's account snapshots (with their journey events and score history) until the snapshot holds N
accounts: copy k of account ``A`` is ``A~k`` (name ``<name> ~k``), every other column unchanged; then
``ANALYZE``. Metric series are per portfolio/segment, not per account, and are not replicated.

``--profile`` also times each target in-process (sequential, one request at a time, through
``starlette.testclient``): total, SQL (every statement, via SQLAlchemy cursor events; the slowest
statements are listed) and template rendering (``sinergia.web.render.render``).

    .venv/bin/python benchmarks/web.py --workspace /tmp/ws2k --replicate-to 100000 --out /tmp/web100k
    .venv/bin/python benchmarks/web.py --workspace /tmp/web100k --workers 1 2 --rounds 3 --profile
    .venv/bin/python benchmarks/web.py --workspace /tmp/ws --clients 5 --requests 5 --rounds 1   # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SINERGIA = str(Path(sys.executable).with_name("sinergia"))
EMAIL = "bench-web@example.com"
PASSWORD = "bench-web-password-1"
GOAL_P95_MS = 100.0


# -- the app factory uvicorn imports for --workers N ---------------------------------------------------------
def app_from_env() -> Any:
    """What ``sinergia serve`` builds: ``create_app(workspace)`` with the scheduler interval (default 60 s)."""
    from sinergia.api import create_app

    app = create_app(os.environ["SINERGIA_WORKSPACE"])
    app.state.scheduler_seconds = float(os.environ.get("SINERGIA_BENCH_SCHEDULER_SECONDS", "60"))
    return app


# -- building the 100k store -----------------------------------------------------------------------------
def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def replicate_store(source: Path, out: Path, target: int) -> dict[str, Any]:
    """Copy the workspace ``source`` to ``out`` and grow its newest snapshot to ``target`` accounts."""
    if out.exists():
        shutil.rmtree(out)
    started = time.perf_counter()
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("*.sqlite-wal", "*.sqlite-shm", "demo-data"))
    # the WAL of a live store holds committed pages: checkpoint through a connection to the source first
    with contextlib.closing(sqlite3.connect(source / "store.sqlite")) as src:
        src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy2(source / "store.sqlite", out / "store.sqlite")
    db = sqlite3.connect(out / "store.sqlite")
    try:
        (as_of,) = db.execute("SELECT max(as_of) FROM recompute_runs").fetchone()
        if as_of is None:
            raise SystemExit(f"{source}: no recompute in the serving store; run 'sinergia recompute' first")
        (base,) = db.execute("SELECT count(*) FROM account_snapshots WHERE as_of = ?", (as_of,)).fetchone()
        if base == 0:
            raise SystemExit(f"{source}: the snapshot of {as_of} has no accounts")
        copies = -(-target // base)  # ceil
        snap_cols = [c for c in _columns(db, "account_snapshots") if c != "id"]
        event_cols = [c for c in _columns(db, "account_events") if c != "id"]
        score_cols = [c for c in _columns(db, "score_points") if c != "id"]

        def select_list(cols: list[str], renamed: dict[str, str]) -> str:
            return ", ".join(renamed.get(c, c) for c in cols)

        for k in range(1, copies):
            suffix = f"'~{k}'"
            remaining = target - base * k
            if remaining <= 0:
                break
            ids = (f"SELECT account_id FROM account_snapshots WHERE as_of = :as_of AND account_id NOT LIKE '%~%' "
                   f"ORDER BY account_id LIMIT {min(base, remaining)}")
            db.execute(
                f"INSERT INTO account_snapshots ({', '.join(snap_cols)}) SELECT "
                + select_list(snap_cols, {"account_id": f"account_id || {suffix}",
                                          "name": f"coalesce(name, account_id) || ' ' || {suffix}"})
                + f" FROM account_snapshots WHERE as_of = :as_of AND account_id IN ({ids})",
                {"as_of": as_of},
            )
            db.execute(
                f"INSERT INTO account_events ({', '.join(event_cols)}) SELECT "
                + select_list(event_cols, {"account_id": f"account_id || {suffix}"})
                + f" FROM account_events WHERE as_of = :as_of AND account_id IN ({ids})",
                {"as_of": as_of},
            )
            db.execute(
                f"INSERT INTO score_points ({', '.join(score_cols)}) SELECT "
                + select_list(score_cols, {"account_id": f"account_id || {suffix}"})
                + f" FROM score_points WHERE account_id IN ({ids})",
                {"as_of": as_of},
            )
            db.commit()
        db.execute("ANALYZE")
        db.commit()
        counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("account_snapshots", "account_events", "score_points", "metric_points")}
    finally:
        db.close()
    return {"source_accounts": base, "as_of": as_of, "copies": copies, "rows": counts,
            "seconds": round(time.perf_counter() - started, 1)}


# -- users, server ----------------------------------------------------------------------------------------
def ensure_user(workspace: Path) -> str:
    """A manager with a password (for the login form) and a fresh API token; returns the token."""
    env = {**os.environ, "SINERGIA_WORKSPACE": str(workspace)}
    listed = subprocess.run([SINERGIA, "user", "list", "-w", str(workspace), "-f", "json"], env=env,
                            capture_output=True, text=True, check=True)
    if EMAIL not in listed.stdout:
        subprocess.run([SINERGIA, "user", "create", "-w", str(workspace), "--email", EMAIL, "--role", "manager",
                        "--locale", "en", "--password-stdin"], input=PASSWORD + "\n", env=env,
                       capture_output=True, text=True, check=True)
    issued = subprocess.run([SINERGIA, "user", "token", "-w", str(workspace), "--email", EMAIL, "--name",
                             f"bench {dt.datetime.now(dt.UTC):%H%M%S}"], env=env, capture_output=True,
                            text=True, check=True)
    found = re.search(r"sng_[A-Za-z0-9_\-]+", issued.stdout)
    if found is None:
        raise SystemExit(f"no token in 'sinergia user token' output: {issued.stdout!r}")
    return found.group(0)


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(workspace: Path, workers: int, log: Path, scheduler_seconds: float) -> Iterator[str]:
    """``sinergia serve`` (workers = 1) or ``uvicorn --factory --workers N``; yields the base URL."""
    port = free_port()
    env = {**os.environ, "SINERGIA_WORKSPACE": str(workspace),
           "SINERGIA_BENCH_SCHEDULER_SECONDS": str(scheduler_seconds)}
    if workers == 1:
        cmd = [SINERGIA, "serve", "-w", str(workspace), "--port", str(port), "--log-level", "warning",
               "--scheduler-seconds", str(scheduler_seconds)]
    else:
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(HERE), "web:app_from_env",
               "--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"server did not answer within 120 s; see {log}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()  # uvicorn shuts its workers down on SIGTERM
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- load ---------------------------------------------------------------------------------------------------
@dataclass
class Target:
    name: str
    kind: str  # "web" (session cookie), "api" (Bearer token), "public"
    path: Callable[[int, int], str]  # (client, request number) -> path


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds
    wall: float = 0.0
    errors: int = 0
    bytes: int = 0
    rounds: list[dict[str, float]] = field(default_factory=list)


def sample_store(workspace: Path, n: int, seed: int) -> tuple[list[str], list[str]]:
    """``n`` account ids (seeded) and the segments of the newest snapshot."""
    with contextlib.closing(sqlite3.connect(f"file:{workspace / 'store.sqlite'}?mode=ro", uri=True)) as db:
        (as_of,) = db.execute("SELECT max(as_of) FROM recompute_runs").fetchone()
        ids = [r[0] for r in db.execute("SELECT account_id FROM account_snapshots WHERE as_of = ? ORDER BY id",
                                        (as_of,))]
        segments = [r[0] for r in db.execute(
            "SELECT DISTINCT segment FROM account_snapshots WHERE as_of = ? AND segment IS NOT NULL ORDER BY 1",
            (as_of,))]
    return random.Random(seed).sample(ids, min(n, len(ids))), segments


def targets(ids: list[str], segments: list[str]) -> list[Target]:
    from urllib.parse import quote, urlencode

    def account(c: int, i: int) -> str:
        return "/accounts/" + quote(ids[(c * 7919 + i) % len(ids)], safe="")

    def api_accounts(c: int, i: int) -> str:
        query = {"sort": "-churn_risk", "limit": 50}
        if segments:
            query["segment"] = segments[(c + i) % len(segments)]
        return "/api/v1/accounts?" + urlencode(query)

    return [
        Target("baseline: GET /api/v1/health", "public", lambda c, i: "/api/v1/health"),
        Target("portfolio: GET /portfolio", "web", lambda c, i: "/portfolio"),
        Target("customer 360: GET /accounts/{id}", "web", account),
        Target("risk list: GET /accounts?sort=arr_at_risk", "web",
               lambda c, i: "/accounts?sort=arr_at_risk&order=desc"),
        Target("API: GET /api/v1/accounts?segment&sort=-churn_risk", "api", api_accounts),
    ]


TARGET_KEYS = ("baseline", "portfolio", "c360", "risk", "api")  # the order of :func:`targets`


async def login(client: Any) -> None:
    """The real login form: GET /login (CSRF cookie + hidden field), POST /login, session cookie."""
    form = await client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if form.status_code != 200 or found is None:
        raise SystemExit(f"login form: HTTP {form.status_code}")
    answer = await client.post("/login", data={"email": EMAIL, "password": PASSWORD,
                                                "csrf_token": found.group(1), "next": "/portfolio"})
    if answer.status_code != 303 or "sinergia_session" not in client.cookies:
        raise SystemExit(f"login failed: HTTP {answer.status_code} {answer.text[:200]!r}")


async def run_load(base: str, token: str, plan: list[Target], clients: int, warmup: int, requests: int,
                   rounds: int) -> dict[str, Result]:
    import httpx

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(60.0)
    web = [httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) for _ in range(clients)]
    api = [httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout,
                             headers={"Authorization": f"Bearer {token}"}) for _ in range(clients)]
    public = [httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) for _ in range(clients)]
    results = {t.name: Result() for t in plan}
    try:
        for c in web:  # one at a time: argon2 verification is deliberately slow
            await login(c)
        pools = {"web": web, "api": api, "public": public}

        async def one(client: Any, target: Target, c: int, start: int, count: int, out: list[float] | None,
                      res: Result) -> None:
            for i in range(start, start + count):
                t0 = time.perf_counter()
                try:
                    answer = await client.get(target.path(c, i))
                    body, status = answer.content, answer.status_code
                except httpx.HTTPError:  # e.g. the server dropped the connection after an error
                    body, status = b"", 0
                elapsed = time.perf_counter() - t0
                if status != 200:
                    res.errors += 1
                if out is not None:
                    out.append(elapsed)
                    res.bytes += len(body)

        for r in range(rounds):
            for target in plan:
                res = results[target.name]
                pool = pools[target.kind]
                await asyncio.gather(*(one(pool[c], target, c, r * 10_000, warmup, None, res)
                                       for c in range(clients)))
                lat: list[float] = []
                t0 = time.perf_counter()
                await asyncio.gather(*(one(pool[c], target, c, r * 10_000 + warmup, requests, lat, res)
                                       for c in range(clients)))
                wall = time.perf_counter() - t0
                res.latencies.extend(lat)
                res.wall += wall
                res.rounds.append({"p50_ms": pct(lat, 50) * 1e3, "p95_ms": pct(lat, 95) * 1e3,
                                   "rps": len(lat) / wall})
    finally:
        for c in web + api + public:
            await c.aclose()
    return results


def pct(values: list[float], q: float) -> float:
    """The q-th percentile, linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# -- in-process profile ------------------------------------------------------------------------------------
class _Attribution:
    """Wall time per part of a request: each wrapped function's time goes to its part, nested calls to the
    outermost wrapped caller (sequential requests only)."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}
        self.depth = 0
        self.undo: list[tuple[Any, str, Any]] = []

    def wrap(self, module: Any, name: str, part: str) -> None:
        original = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if self.depth:
                return original(*args, **kwargs)
            self.depth += 1
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.depth -= 1
                self.parts[part] = self.parts.get(part, 0.0) + time.perf_counter() - t0

        setattr(module, name, timed)
        self.undo.append((module, name, original))

    def wrap_functions(self, module: Any, part: str, names: list[str] | None = None) -> None:
        import inspect

        for name, value in list(vars(module).items()):
            if (names is None or name in names) and inspect.isfunction(value) and value.__module__ == module.__name__ \
                    and not name.startswith("__"):
                self.wrap(module, name, part)

    def restore(self) -> None:
        for module, name, original in reversed(self.undo):
            setattr(module, name, original)


def profile(workspace: Path, plan: list[Target], token: str, repeats: int) -> dict[str, Any]:
    """Sequential in-process timing per target, split into store reads (the ``views``/``repo`` functions the
    pages call: SQL, fetching, ORM objects), SQL statements alone (SQLAlchemy cursor events; fetching is
    outside them), chart specs (``charts``), the metric registry, template rendering and the rest (auth,
    routing, response)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from starlette.testclient import TestClient

    import sinergia.web.tasks as web_tasks
    from sinergia.api import create_app
    from sinergia.store import repo
    from sinergia.web import charts, pages, views

    sql: list[tuple[str, float]] = []
    starts: dict[int, float] = {}

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        starts[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        sql.append((" ".join(statement.split())[:160], time.perf_counter() - starts.pop(id(cursor), 0.0)))

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    attribution = _Attribution()
    attribution.wrap_functions(views, "store")
    attribution.wrap_functions(repo, "store")
    attribution.wrap_functions(web_tasks, "store", ["account_work"])
    attribution.wrap_functions(charts, "charts")
    for module in (pages, web_tasks):
        if hasattr(module, "render"):
            attribution.wrap(module, "render", "render")
        if hasattr(module, "all_metrics"):
            attribution.wrap(module, "all_metrics", "registry")
    out: dict[str, Any] = {}
    try:
        app = create_app(workspace)
        app.state.scheduler_seconds = 0
        with TestClient(app) as client:
            form = client.get("/login")
            found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert found is not None
            client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": found.group(1)},
                        follow_redirects=False)
            for target in plan:
                headers = {"Authorization": f"Bearer {token}"} if target.kind == "api" else {}
                rows: list[dict[str, float]] = []
                per_statement: dict[str, list[float]] = {}
                for i in range(repeats + 3):
                    sql.clear()
                    attribution.parts.clear()
                    t0 = time.perf_counter()
                    answer = client.get(target.path(0, i), headers=headers, follow_redirects=False)
                    total = time.perf_counter() - t0
                    assert answer.status_code == 200, (target.name, answer.status_code)
                    if i < 3:  # warm-up
                        continue
                    parts = dict(attribution.parts)
                    row = {"total": total, "sql": sum(s for _, s in sql), **parts}
                    row["rest"] = total - sum(parts.values())
                    rows.append(row)
                    for statement, seconds in sql:
                        per_statement.setdefault(statement, []).append(seconds)
                slowest = sorted(per_statement.items(), key=lambda kv: -sum(kv[1]))[:4]
                keys = ("total", "store", "sql", "charts", "registry", "render", "rest")
                out[target.name] = {
                    **{f"{k}_ms": statistics.median(r.get(k, 0.0) for r in rows) * 1e3 for k in keys},
                    "statements": round(sum(len(v) for v in per_statement.values()) / repeats, 1),
                    "slowest_sql": [{"ms_per_request": sum(v) / repeats * 1e3, "sql": s} for s, v in slowest],
                }
    finally:
        attribution.restore()
        event.remove(Engine, "before_cursor_execute", before)
        event.remove(Engine, "after_cursor_execute", after)
    return out


# -- main ----------------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import fastapi
    import httpx
    import sqlalchemy
    import uvicorn

    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "uvicorn": uvicorn.__version__, "fastapi": fastapi.__version__, "sqlalchemy": sqlalchemy.__version__,
            "httpx": httpx.__version__, "sqlite": sqlite3.sqlite_version}


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, required=True, help="workspace with a recomputed serving store")
    parser.add_argument("--replicate-to", type=int, default=0,
                        help="first copy the workspace to --out and grow its snapshot to this many accounts")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "web-ws", help="where --replicate-to writes")
    parser.add_argument("--build-only", action="store_true", help="stop after --replicate-to")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2],
                        help="server processes to measure (none: only --profile)")
    parser.add_argument("--scheduler-seconds", type=float, default=0.0,
                        help="the server's playbook scheduler interval (serve's default is 60; 0 = off, see "
                             "docs/benchmarks.md: with it on, the first tick runs the scheduled playbooks "
                             "inside the server process)")
    parser.add_argument("--targets", nargs="+", choices=TARGET_KEYS, default=list(TARGET_KEYS),
                        help="which targets to load (the baseline is always measured)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per client and target")
    parser.add_argument("--requests", type=int, default=10, help="timed requests per client, target and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sample", type=int, default=500, help="accounts the Customer 360 requests cycle over")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="also time SQL and rendering in-process")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                              "machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}}
    workspace = args.workspace.resolve()
    if args.replicate_to:
        built = replicate_store(workspace, args.out.resolve(), args.replicate_to)
        print(f"store: {built}")
        report["store_build"] = built
        workspace = args.out.resolve()
        if args.build_only:
            return 0
    token = ensure_user(workspace)
    ids, segments = sample_store(workspace, args.sample, args.seed)
    chosen = {"baseline", *args.targets}
    plan = [t for key, t in zip(TARGET_KEYS, targets(ids, segments), strict=True) if key in chosen]
    report["runs"] = []
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "sinergia-bench-web-server.log"
    print(f"{report['date']}  machine: {report['machine']}")
    for workers in args.workers:
        before = loadavg()
        with server(workspace, workers, log, args.scheduler_seconds) as base:
            started = time.perf_counter()
            results = asyncio.run(run_load(base, token, plan, args.clients, args.warmup, args.requests,
                                           args.rounds))
            seconds = time.perf_counter() - started
        after = loadavg()
        baseline = results[plan[0].name]
        base_p95 = pct(baseline.latencies, 95)
        rows: list[dict[str, Any]] = []
        for target in plan:
            res = results[target.name]
            p95 = pct(res.latencies, 95)
            rows.append({"target": target.name, "requests": len(res.latencies), "errors": res.errors,
                         "p50_ms": pct(res.latencies, 50) * 1e3, "p95_ms": p95 * 1e3,
                         "p99_ms": pct(res.latencies, 99) * 1e3, "max_ms": max(res.latencies) * 1e3,
                         "rps": len(res.latencies) / res.wall, "kb": res.bytes / max(len(res.latencies), 1) / 1024,
                         "p95_minus_baseline_ms": (p95 - base_p95) * 1e3, "rounds": res.rounds})
        run = {"workers": workers, "load_before": before, "load_after": after, "seconds": round(seconds, 1),
               "rows": rows}
        report["runs"].append(run)
        server_kind = "sinergia serve (1 process)" if workers == 1 else f"uvicorn --workers {workers}"
        print(f"\n### {server_kind}: {args.clients} clients, {args.rounds} round(s) x {args.requests} timed "
              f"requests per client and target; load average before {before}, after {after}; {seconds:.0f} s\n")
        print("| target | requests | errors | p50 ms | p95 ms | p99 ms | req/s | KB | p95 goal (100 ms) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for row in rows:
            goal = "—" if row is rows[0] else ("met" if row["p95_ms"] < GOAL_P95_MS else "missed")
            print(f"| {row['target']} | {row['requests']} | {row['errors']} | {row['p50_ms']:.0f} | "
                  f"{row['p95_ms']:.0f} | {row['p99_ms']:.0f} | {row['rps']:.1f} | {row['kb']:.1f} | {goal} |")
        print("\nper round (p50 / p95 ms, req/s): " + "; ".join(
            f"{row['target'].split(':')[0]}: " + ", ".join(
                f"{r['p50_ms']:.0f}/{r['p95_ms']:.0f}/{r['rps']:.1f}" for r in row["rounds"]) for row in rows))
    if args.profile:
        prof = profile(workspace, plan, token, repeats=10)
        report["profile"] = prof
        print("\n### in-process, sequential (medians of 10 requests after 3 warm-up), ms\n")
        print("| target | total | store reads | of which SQL execute | statements | charts | metric registry | "
              "rendering | rest | slowest statement (ms per request) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name, p in prof.items():
            top: dict[str, Any] = p["slowest_sql"][0] if p["slowest_sql"] else {"ms_per_request": 0.0, "sql": ""}
            print(f"| {name} | {p['total_ms']:.1f} | {p['store_ms']:.1f} | {p['sql_ms']:.1f} | {p['statements']} | "
                  f"{p['charts_ms']:.1f} | {p['registry_ms']:.1f} | {p['render_ms']:.1f} | {p['rest_ms']:.1f} | "
                  f"{top['ms_per_request']:.1f}: `{top['sql'][:90]}` |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
