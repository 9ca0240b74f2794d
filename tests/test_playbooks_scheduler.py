"""The playbook scheduler inside a real app: started by the lifespan with a short interval, it runs the
schedule-triggered playbook once for the day, and the outbox webhook reaches a local receiver exactly once.
Without an interval the app starts no scheduler. The run skips (and retries later) while the workspace lock is
held by another writer."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from sinergia.api.app import create_app
from sinergia.ingest import ingest_files
from sinergia.playbooks.outbox import verify
from sinergia.playbooks.scheduler import PlaybookScheduler
from sinergia.store.db import dispose_engine
from sinergia.store.models import Task
from sinergia.store.playbook_models import OutboxMessage, PlaybookFiring
from sinergia.workspace import Workspace, init_workspace, open_workspace

SECRET = "whsec_" + base64.b64encode(b"scheduler-test-secret-32-bytes!!").decode()


class _Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        _Receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.got = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def _workspace(root: Path, hook: str) -> Workspace:
    ws = init_workspace(root / "ws")
    src = root / "src"
    src.mkdir()
    (src / "accounts.csv").write_text("account_id,name,created_at\na1,Alfa,2025-01-01\na2,Beta,2025-01-01\n",
                                      encoding="utf-8")
    ws = open_workspace(ws.path)
    ingest_files(ws, [src / "accounts.csv"], preset="sinergia")
    # every day, a task per account; a webhook for a1 only (the condition)
    (ws.path / "playbooks.yaml").write_text(f"""builtins: false
delivery: {{backoff_seconds: 1}}
playbooks:
  - id: daily_check
    title: {{en: Daily check}}
    trigger: {{kind: schedule, every: day}}
    actions:
      - {{kind: task, type: activity}}
  - id: daily_hook
    title: {{en: Daily hook}}
    trigger: {{kind: schedule, every: day}}
    conditions:
      - {{field: account_id, op: "==", value: a1}}
    actions:
      - {{kind: webhook, url: "{hook}", secret_env: SCHED_TEST_SECRET}}
""", encoding="utf-8")
    return ws


def _rows(ws: Workspace, model: type) -> list:  # type: ignore[type-arg]
    engine = create_engine(ws.store_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(model)))
    finally:
        engine.dispose()


def test_app_scheduler_runs_schedules_and_delivers(tmp_path: Path, receiver: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHED_TEST_SECRET", SECRET)
    monkeypatch.delenv("SINERGIA_SCHEDULER_SECONDS", raising=False)
    ws = _workspace(tmp_path, receiver)
    app = create_app(ws)
    app.state.scheduler_seconds = 0.2
    try:
        with TestClient(app) as client:
            scheduler = app.state.scheduler
            assert isinstance(scheduler, PlaybookScheduler) and scheduler.running
            deadline = time.monotonic() + 120
            while (scheduler.ticks < 3 or not _Receiver.got) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert client.get("/api/v1/health").status_code == 200  # the app serves meanwhile
            assert scheduler.last_error is None
            assert scheduler.ticks >= 3
        assert not scheduler.running  # stopped with the app
    finally:
        dispose_engine(app.state.store_url)
    today = dt.datetime.now(dt.UTC).date()
    firings = _rows(ws, PlaybookFiring)
    # one run for the day despite ≥ 3 ticks: daily_check for a1 and a2, daily_hook for a1
    assert sorted((f.playbook_id, f.account_id, f.as_of) for f in firings) == [
        ("daily_check", "a1", today), ("daily_check", "a2", today), ("daily_hook", "a1", today)]
    assert sorted(t.account_id for t in _rows(ws, Task)) == ["a1", "a2"]
    assert len(_Receiver.got) == 1  # delivered exactly once
    headers, body = _Receiver.got[0]
    assert verify(SECRET, headers, body)
    assert json.loads(body)["playbook"] == "daily_hook"
    assert [m.status for m in _rows(ws, OutboxMessage)] == ["delivered"]


def test_no_scheduler_unless_enabled(tmp_path: Path, receiver: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SINERGIA_SCHEDULER_SECONDS", raising=False)
    ws = _workspace(tmp_path, receiver)
    app = create_app(ws)
    try:
        with TestClient(app):
            assert app.state.scheduler is None
    finally:
        dispose_engine(app.state.store_url)


def test_busy_workspace_skips_the_run_until_the_lock_is_free(tmp_path: Path, receiver: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHED_TEST_SECRET", SECRET)
    ws = _workspace(tmp_path, receiver)
    scheduler = PlaybookScheduler(ws, interval_seconds=60)
    with ws.lock():
        busy = scheduler.tick()
    assert busy.skipped is not None and busy.skipped.startswith("workspace busy")
    assert busy.ran_playbooks == [] and _rows(ws, PlaybookFiring) == []
    free = scheduler.tick()
    assert free.ran_playbooks == ["daily_check", "daily_hook"] and free.fired == 3
    assert free.delivery["delivered"] == 1
    assert scheduler.tick().skipped == "already ran today"
