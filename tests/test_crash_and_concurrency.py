"""The single-writer protocol under SIGKILL and under concurrent readers and writers.

An import either happened completely or not at all, whatever moment the writer dies at; readers never
wait for a writer and never see half of an import; writers queue on the workspace lock, and one that
waits too long gets a one-line error (exit code 3).

Everything runs real ``sinergia`` processes on a generated 300k-row usage-event file (~1.5–3 s of import).
Kill times come from a seeded RNG (stratified over a measured un-killed run) plus kills triggered by
what the writer is visibly doing: its private copy appearing (writing) and the live file being replaced
(committed). The outcome (before / after) is asserted never to be anything in between.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

import sinergia
from sinergia.engine.tables import TABLE_NAMES
from sinergia.errors import WorkspaceError
from sinergia.ingest import ingest_files
from sinergia.workspace.workspace import ENGINE_FILE, TMP_PREFIX

pytestmark = pytest.mark.slow

SEED = 20240611
B_ROWS = 300_000  # big file: ids 1000..300999, overlapping A on 1000..1999
B_CHANGED = (1500, 2000)  # ids whose quantity differs from A → updated
B_BAD_EVERY = 50_000  # every 50,000th row has an unreadable time → quarantined
C_ROWS = 60_000  # another file, ids disjoint from A and B
KILLS = 12  # kills at seeded random times, one per stratum of the measured duration

MAPPING = """\
source: segment
entity: usage_events
columns:
  event_id: messageId
  account_id: accountId
  contact_id: userId
  event: event
  feature: feature
  occurred_at: timestamp
  quantity: quantity
"""


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("sinergia")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sinergia.cli.main"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SINERGIA_WORKSPACE", "SINERGIA_DATABASE_URL")}
    env["CI"] = "1"  # no progress bar
    return env


def _write_events(path: Path, first: int, count: int, *, changed: tuple[int, int] = (0, 0), bad_every: int = 0) -> None:
    """Segment-like usage events with ids first..first+count-1; deterministic content per id."""
    lo, hi = changed
    bad = f"i % {bad_every} = {bad_every - 1}" if bad_every else "FALSE"
    con = duckdb.connect()
    try:
        con.execute(
            f"""COPY (
              SELECT 'msg-' || lpad(i::VARCHAR, 9, '0') AS messageId,
                     'acc_' || (i % 997) AS accountId,
                     'usr_' || (i % 7919) AS userId,
                     ['login', 'view_report', 'export', 'share', 'invite'][1 + i % 5] AS event,
                     ['dashboards', 'reports', 'api', 'admin'][1 + i % 4] AS feature,
                     CASE WHEN {bad} THEN 'not a time'
                          ELSE strftime(TIMESTAMP '2024-01-01' + to_seconds(i * 37), '%Y-%m-%dT%H:%M:%SZ')
                     END AS timestamp,
                     (i % 10) + 1 + CASE WHEN i >= {lo} AND i < {hi} THEN 100 ELSE 0 END AS quantity
              FROM range({first}, {first + count}) t(i)
            ) TO '{path}' (HEADER, DELIMITER ',')"""
        )
    finally:
        con.close()


State = dict[str, int]


def _state(ws_path: Path) -> State:
    """Row count of every table, plus a content digest of usage_events, read like any reader would."""
    con = sinergia.connect(ws_path).duckdb_reader()
    try:
        state = {name: int(con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]) for name in TABLE_NAMES}
        digest = con.execute(
            "SELECT coalesce(bit_xor(hash(event_id, occurred_at, quantity)), 0) FROM usage_events"
        ).fetchone()[0]
        state["usage_events#digest"] = int(digest)
    finally:
        con.close()
    return state


def _leftovers(ws_path: Path) -> list[str]:
    return sorted(p.name for p in ws_path.iterdir() if p.name.startswith(TMP_PREFIX) or p.name.endswith(".wal"))


def _writing(ws_path: Path) -> bool:
    return any(p.name.startswith(TMP_PREFIX) for p in ws_path.iterdir())


def _ingest_cmd(ws_path: Path, data: Path, mapping: Path) -> list[str]:
    return [*_cli(), "ingest", str(data), "--workspace", str(ws_path), "--mapping", str(mapping), "--format", "json"]


def _counts(report: dict[str, Any]) -> tuple[int, ...]:
    return tuple(report[k] for k in ("read", "loaded", "updated", "unchanged", "merged", "quarantined"))


@dataclass
class Run:
    """What the watcher saw of one writer process."""

    returncode: int
    killed: bool
    at: float  # seconds from start to the kill (or to the exit)
    writing_seen: float | None  # when its private copy first appeared
    committed_seen: float | None  # when the live file was first seen replaced


def _watch(cmd: list[str], ws_path: Path, stop: Callable[[float, Run], bool] | None = None, stdout: Any = None) -> Run:
    """Run ``cmd``, polling the workspace every millisecond; SIGKILL it as soon as ``stop`` says so."""
    engine = ws_path / ENGINE_FILE
    inode = engine.stat().st_ino
    run = Run(returncode=0, killed=False, at=0.0, writing_seen=None, committed_seen=None)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=stdout or subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    try:
        while proc.poll() is None:
            now = time.monotonic() - start
            if run.writing_seen is None and _writing(ws_path):
                run.writing_seen = now
            if run.committed_seen is None and engine.stat().st_ino != inode:
                run.committed_seen = now
            if stop is not None and stop(now, run):
                proc.send_signal(signal.SIGKILL)
                run.killed = True
                break
            time.sleep(0.001)
        run.at = time.monotonic() - start
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run.returncode = proc.returncode
    if run.killed and proc.returncode != -signal.SIGKILL:  # it had already finished on its own
        run.killed = False
    if not run.killed:
        assert proc.returncode == 0, err.decode(errors="replace")
    return run


@dataclass
class Base:
    root: Path
    ws: Path  # workspace holding file A only (the "before" state)
    mapping: Path
    b_file: Path
    c_file: Path
    pre: State
    post: State  # after importing B into the "before" workspace
    b_report: dict[str, Any]
    reference: Run  # an un-killed import of B, with phase timings


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("crash")
    mapping = root / "segment.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    a_file, b_file, c_file = root / "a.csv", root / "b.csv", root / "c.csv"
    _write_events(a_file, 0, 2000)
    _write_events(b_file, 1000, B_ROWS, changed=B_CHANGED, bad_every=B_BAD_EVERY)
    _write_events(c_file, 10_000_000, C_ROWS)

    ws = root / "before"
    subprocess.run([*_cli(), "init", str(ws)], check=True, capture_output=True, env=_env())
    subprocess.run(_ingest_cmd(ws, a_file, mapping), check=True, capture_output=True, env=_env())
    pre = _state(ws)
    assert pre["usage_events"] == 2000 and pre["imports"] == 1 and pre["quarantine"] == 0

    ref_ws = root / "reference"
    shutil.copytree(ws, ref_ws)
    out = root / "reference.json"
    with out.open("wb") as handle:
        reference = _watch(_ingest_cmd(ref_ws, b_file, mapping), ref_ws, stdout=handle)
    report = json.loads(out.read_text(encoding="utf-8"))
    bad = B_ROWS // B_BAD_EVERY
    changed = B_CHANGED[1] - B_CHANGED[0]
    overlap = 2000 - 1000
    assert _counts(report) == (B_ROWS, B_ROWS - overlap - bad, changed, overlap - changed, 0, bad)
    post = _state(ref_ws)
    assert post["usage_events"] == 2000 + B_ROWS - overlap - bad
    assert post["imports"] == 2 and post["quarantine"] == bad
    assert reference.writing_seen is not None and reference.committed_seen is not None
    assert reference.writing_seen < reference.committed_seen < reference.at
    return Base(root, ws, mapping, b_file, c_file, pre, post, report, reference)


def _fresh(base: Base, name: str) -> Path:
    ws = base.root / name
    shutil.copytree(base.ws, ws)
    return ws


def _outcome(base: Base, state: State) -> str:
    if state == base.pre:
        return "before"
    if state == base.post:
        return "after"
    diff = {k: (base.pre[k], state[k], base.post[k]) for k in state if state[k] not in (base.pre[k], base.post[k])}
    pytest.fail(f"workspace is neither before nor after the import: (before, seen, after) {diff}")


# -- (a) SIGKILL at any moment ------------------------------------------------------------------------


def test_sigkill_at_any_moment_leaves_before_or_after(base: Base) -> None:
    ref = base.reference
    assert ref.writing_seen is not None and ref.committed_seen is not None
    rng = random.Random(SEED)
    duration = ref.at
    # One kill per stratum of [0, duration]: very early (before Python has started) to very late
    # (after the commit, while the audit log is written).
    plans: list[tuple[str, Callable[[float, Run], bool]]] = []
    for i in range(KILLS):
        at = (i + rng.random()) * duration / KILLS
        plans.append((f"random t={at:.3f}s", lambda now, run, at=at: now >= at))
    # Kills timed on what the writer visibly does.
    plans.append(("as soon as its copy appears", lambda now, run: run.writing_seen is not None))
    window = ref.committed_seen - ref.writing_seen
    for _ in range(2):
        extra = rng.uniform(0.2, 0.9) * window
        plans.append(
            (
                f"{extra:.3f}s into writing",
                lambda now, run, extra=extra: run.writing_seen is not None and now >= run.writing_seen + extra,
            )
        )
    plans.append(("as soon as the live file is replaced", lambda now, run: run.committed_seen is not None))
    late = rng.uniform(0.1, 0.6) * (ref.at - ref.committed_seen)  # while it writes the audit row
    plans.append(
        (
            f"{late:.3f}s after the commit",
            lambda now, run, late=late: run.committed_seen is not None and now >= run.committed_seen + late,
        )
    )

    seen: list[tuple[str, str, bool, bool, list[str]]] = []
    for n, (label, stop) in enumerate(plans):
        ws = _fresh(base, f"kill-{n}")
        inode = (ws / ENGINE_FILE).stat().st_ino
        run = _watch(_ingest_cmd(ws, base.b_file, base.mapping), ws, stop)
        left = _leftovers(ws)
        outcome = _outcome(base, _state(ws))
        replaced = (ws / ENGINE_FILE).stat().st_ino != inode
        assert (outcome == "after") == replaced, f"{label}: outcome {outcome} but live file replaced={replaced}"
        if run.killed and run.committed_seen is not None:
            assert outcome == "after", label
        if run.killed and run.writing_seen is None:
            assert outcome == "before", label
        seen.append((label, outcome, run.killed, run.writing_seen is not None, left))

        # The next writer cleans up after the dead one and the same import then completes.
        report = ingest_files(sinergia.connect(ws), [base.b_file], mapping=base.mapping).as_dict()
        assert _leftovers(ws) == [], f"{label}: leftovers after the next writer"
        expected = dict(base.post)
        if outcome == "before":
            assert _counts(report) == _counts(base.b_report), label
        else:  # the killed import had committed: this one is the idempotent re-import
            b = base.b_report
            stored = b["loaded"] + b["updated"] + b["unchanged"]
            assert _counts(report) == (b["read"], 0, 0, stored, 0, b["quarantined"]), label
            expected["imports"] += 1
        assert _state(ws) == expected, label
        shutil.rmtree(ws)

    summary = "\n".join(f"  {s[0]:<40} {s[1]:<7} killed={s[2]} writing={s[3]} leftovers={s[4]}" for s in seen)
    print(
        f"kills (reference run: writing at {ref.writing_seen:.2f}s, committed at {ref.committed_seen:.2f}s, "
        f"exit at {ref.at:.2f}s):\n{summary}"
    )
    outcomes = {s[1] for s in seen}
    assert outcomes == {"before", "after"}, f"need both outcomes across the kills:\n{summary}"
    mid_write = [s for s in seen if s[2] and s[3] and s[1] == "before"]
    assert mid_write, f"no kill landed while the writer was writing:\n{summary}"
    assert any(s[4] for s in mid_write), f"no killed writer left its copy behind (nothing to clean up):\n{summary}"


def test_next_writer_removes_a_killed_writers_copy_wal_and_spill_folder(base: Base) -> None:
    ws = _fresh(base, "leftovers")
    stale = ws / f"{TMP_PREFIX}999-dead.duckdb"
    shutil.copyfile(ws / ENGINE_FILE, stale)
    Path(f"{stale}.wal").write_bytes(b"\0" * 100)
    spill = Path(f"{stale}.tmp")  # DuckDB spills big sorts/joins here
    spill.mkdir()
    (spill / "duckdb_temp_storage-0.tmp").write_bytes(b"\0" * 100)
    result = subprocess.run(
        _ingest_cmd(ws, base.c_file, base.mapping), capture_output=True, text=True, env=_env(), check=False
    )
    assert result.returncode == 0, result.stderr
    assert _leftovers(ws) == []
    assert _state(ws)["usage_events"] == base.pre["usage_events"] + C_ROWS


# -- (b) readers while a writer writes; writers queue ---------------------------------------------------

READER = textwrap.dedent(
    """\
    import json, os, sys, time
    from pathlib import Path

    import sinergia

    ws_path, out, ready, stop = (Path(a) for a in sys.argv[1:5])
    reads = []

    def read():
        writing = any(p.name.startswith(".engine-writing-") for p in ws_path.iterdir())
        try:
            ws = sinergia.connect(ws_path)
            con = ws.connect()
            try:
                state = [int(con.table(t).count().execute()) for t in ("usage_events", "imports", "quarantine")]
            finally:
                con.disconnect()
            single = int(ws.table("usage_events").count().execute())
            reads.append({"writing": writing, "state": state, "single": single})
        except Exception as error:  # every read must succeed: report, do not die
            reads.append({"error": f"{type(error).__name__}: {error}"})

    read()
    ready.touch()
    deadline = time.monotonic() + 90
    while not stop.exists() and time.monotonic() < deadline:
        read()
        time.sleep(0.01)
    read()
    out.write_text(json.dumps(reads))
    """
)


def test_readers_never_block_and_see_before_or_after(base: Base) -> None:
    ws = _fresh(base, "readers")
    script, out, ready, stop = (base.root / n for n in ("reader.py", "reads.json", "reader.ready", "reader.stop"))
    script.write_text(READER, encoding="utf-8")
    reader = subprocess.Popen([sys.executable, str(script), str(ws), str(out), str(ready), str(stop)], env=_env())
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert reader.poll() is None and time.monotonic() < deadline, "reader process did not start"
            time.sleep(0.01)
        writer = subprocess.Popen(
            _ingest_cmd(ws, base.b_file, base.mapping), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
        )
        statuses: list[subprocess.CompletedProcess[str]] = []
        while writer.poll() is None:
            statuses.append(
                subprocess.run(
                    [*_cli(), "status", "--workspace", str(ws), "--format", "json"],
                    capture_output=True,
                    text=True,
                    env=_env(),
                    timeout=60,
                    check=False,
                )
            )
        writer_out, writer_err = writer.communicate(timeout=120)
        assert writer.returncode == 0, writer_err.decode(errors="replace")
        statuses.append(
            subprocess.run(
                [*_cli(), "status", "--workspace", str(ws), "--format", "json"],
                capture_output=True,
                text=True,
                env=_env(),
                timeout=60,
                check=False,
            )
        )
        stop.touch()
        assert reader.wait(timeout=60) == 0
    finally:
        stop.touch()
        if reader.poll() is None:
            reader.kill()
            reader.wait()

    keys = ("usage_events", "imports", "quarantine")
    before, after = [base.pre[k] for k in keys], [base.post[k] for k in keys]
    reads = json.loads(out.read_text(encoding="utf-8"))
    errors = [r["error"] for r in reads if "error" in r]
    assert not errors, errors
    states = [r["state"] for r in reads]
    assert all(s in (before, after) for s in states), states
    assert all(r["single"] in (before[0], after[0]) for r in reads)
    first_after = states.index(after)
    assert before in states[:first_after] and before not in states[first_after:], "a reader went back in time"
    assert sum(r["writing"] for r in reads) >= 3, f"too few reads overlapped the write: {len(reads)} reads"

    seen = set()
    for status in statuses:
        assert status.returncode == 0 and not status.stderr, status.stderr
        data = json.loads(status.stdout)
        seen.add((data["entities"]["usage_events"]["rows"], len(data["recent_imports"])))
    assert seen <= {(before[0], before[1]), (after[0], after[1])}, seen
    assert (after[0], after[1]) in seen
    assert _counts(json.loads(writer_out)) == _counts(base.b_report)


# `sinergia ingest ...` once `go` exists: Python start-up and imports are done before, so two of these start
# their imports within milliseconds of each other, whatever the machine's load.
STARTER = textwrap.dedent(
    """\
    import sys, time
    from pathlib import Path

    import sinergia.cli.main as cli
    import sinergia.ingest

    ready, go = Path(sys.argv[1]), Path(sys.argv[2])
    ready.touch()
    while not go.exists():
        time.sleep(0.001)
    sys.argv = ["sinergia", *sys.argv[3:]]
    cli.main()
    """
)


def test_two_imports_at_once_run_one_after_the_other(base: Base) -> None:
    ws = _fresh(base, "two-writers")
    starter, go = base.root / "starter.py", base.root / "two-writers.go"
    starter.write_text(STARTER, encoding="utf-8")
    procs, ready = [], []
    for n, data in enumerate((base.b_file, base.c_file)):
        ready.append(base.root / f"two-writers.ready-{n}")
        cmd = [
            sys.executable,
            str(starter),
            str(ready[-1]),
            str(go),
            *_ingest_cmd(ws, data, base.mapping)[len(_cli()) :],
        ]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()))
    copies: set[str] = set()
    most_at_once = 0
    try:
        deadline = time.monotonic() + 60
        while not all(r.exists() for r in ready):
            assert all(p.poll() is None for p in procs) and time.monotonic() < deadline, "starters did not start"
            time.sleep(0.005)
        go.touch()
        while any(p.poll() is None for p in procs):
            now = {p.name for p in ws.iterdir() if p.name.startswith(TMP_PREFIX) and p.suffix == ".duckdb"}
            copies |= now
            most_at_once = max(most_at_once, len(now))
            time.sleep(0.002)
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode(errors="replace")
    assert most_at_once == 1, (most_at_once, copies)  # a writer's private copy was seen, never two at once
    b_report, c_report = (json.loads(o) for o, _ in outputs)
    assert _counts(b_report) == _counts(base.b_report)
    assert _counts(c_report) == (C_ROWS, C_ROWS, 0, 0, 0, 0)
    state = _state(ws)
    assert state["usage_events"] == base.post["usage_events"] + C_ROWS  # nothing lost: neither overwrote the other
    assert state["imports"] == base.pre["imports"] + 2
    assert state["quarantine"] == base.post["quarantine"]
    assert _leftovers(ws) == []
    # The later import had started (before taking the lock) while the earlier one was still writing: it waited.
    con = sinergia.connect(ws).duckdb_reader()
    try:
        (_, second_start), (first_end, _) = con.execute(  # the two latest; file A's import came before
            "SELECT finished_at, started_at FROM imports ORDER BY finished_at DESC LIMIT 2"
        ).fetchall()
    finally:
        con.close()
    assert second_start < first_end


def test_writer_waiting_past_lock_timeout_gets_a_clear_error(base: Base) -> None:
    ws = _fresh(base, "lock-timeout")
    config = ws / "sinergia.yaml"
    text = config.read_text(encoding="utf-8")
    assert "lock_timeout_seconds: 600" in text
    config.write_text(text.replace("lock_timeout_seconds: 600", "lock_timeout_seconds: 0.5"), encoding="utf-8")
    workspace = sinergia.connect(ws)
    assert workspace.config.ingest.lock_timeout_seconds == 0.5

    # Another process is writing: it holds the lock for longer than the timeout.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sinergia, sys, time\nwith sinergia.connect(sys.argv[1]).lock():\n"
            "    print('locked', flush=True)\n    time.sleep(30)\n",
            str(ws),
        ],
        stdout=subprocess.PIPE,
        env=_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        start = time.monotonic()
        result = subprocess.run(
            _ingest_cmd(ws, base.c_file, base.mapping), capture_output=True, text=True, env=_env(), check=False
        )
        waited = time.monotonic() - start
        with pytest.raises(WorkspaceError, match="another process has been writing"):
            ingest_files(workspace, [base.c_file], mapping=base.mapping)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert result.returncode == 3, result.stderr
    assert "another process has been writing to" in result.stderr and "try again" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert 0.5 <= waited < 30
    assert _state(ws) == base.pre and _leftovers(ws) == []

    # The lock dies with its holder (even SIGKILLed): the next import goes through.
    result = subprocess.run(
        _ingest_cmd(ws, base.c_file, base.mapping), capture_output=True, text=True, env=_env(), check=False
    )
    assert result.returncode == 0, result.stderr
    assert _state(ws)["usage_events"] == base.pre["usage_events"] + C_ROWS


# -- (c) a reader's snapshot --------------------------------------------------------------------------


def test_open_connection_keeps_its_snapshot_new_connection_sees_the_import(base: Base) -> None:
    ws_path = _fresh(base, "snapshot")
    ws = sinergia.connect(ws_path)
    old = ws.connect()
    events = old.table("usage_events")

    def look(table: Any) -> tuple[int, float, list[tuple[str, int]]]:
        per_event = table.group_by("event").aggregate(n=table.count()).order_by("event").to_pandas()
        return (
            int(table.count().execute()),
            float(table.quantity.sum().execute()),
            [(str(e), int(n)) for e, n in zip(per_event["event"], per_event["n"], strict=True)],
        )

    snapshot = look(events)
    assert snapshot[0] == base.pre["usage_events"]
    result = subprocess.run(
        _ingest_cmd(ws_path, base.b_file, base.mapping), capture_output=True, text=True, env=_env(), check=False
    )
    assert result.returncode == 0, result.stderr

    for _ in range(3):  # the old connection keeps reading the snapshot it opened, consistently
        assert look(events) == snapshot
        assert int(old.table("imports").count().execute()) == base.pre["imports"]
    # New connections, in this same process and while the old one is open, see the import.
    fresh = sinergia.connect(ws_path)
    assert int(fresh.table("usage_events").count().execute()) == base.post["usage_events"]
    new = fresh.connect()
    assert look(new.table("usage_events"))[0] == base.post["usage_events"]
    assert int(new.table("imports").count().execute()) == base.post["imports"]
    assert _state(ws_path) == base.post
    assert look(events) == snapshot
    old.disconnect()
    new.disconnect()
