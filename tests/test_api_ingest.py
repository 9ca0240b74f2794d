"""Ingestion endpoints: a Segment batch and entity upserts, with quarantined rows — the same outcome as the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sinergia.api import create_app
from sinergia.auth import core
from sinergia.engine.inspect import quarantine_rows
from sinergia.ingest import ingest_files
from sinergia.store.db import dispose_engine, transaction
from sinergia.workspace import Workspace, init_workspace

BATCH = {
    "batch": [
        {
            "type": "group",
            "groupId": "acme",
            "userId": "u1",
            "messageId": "m0",
            "traits": {"name": "Acme", "plan": "pro"},
            "timestamp": "2026-10-01T12:00:00Z",
        },
        {
            "type": "identify",
            "userId": "u1",
            "messageId": "m1",
            "traits": {"email": "ana@acme.com", "name": "Ana"},
            "context": {"groupId": "acme"},
            "timestamp": "2026-10-01T12:00:01Z",
        },
        {
            "type": "track",
            "userId": "u1",
            "event": "Report Created",
            "messageId": "m2",
            "context": {"groupId": "acme"},
            "properties": {"feature": "reports"},
            "timestamp": "2026-10-02T09:00:00Z",
        },
        {
            "type": "track",
            "userId": "u1",
            "event": "Report Viewed",
            "messageId": "m3",
            "context": {"groupId": "acme"},
            "timestamp": "2026-10-02T09:05:00Z",
        },
        # no timestamp that parses: quarantined, the rest loads
        {
            "type": "track",
            "userId": "u1",
            "event": "Report Viewed",
            "messageId": "m4",
            "context": {"groupId": "acme"},
            "timestamp": "yesterday-ish",
        },
    ],
    "sentAt": "2026-10-02T09:06:00Z",
}

ACCOUNTS = {
    "records": [
        {"account_id": "a1", "name": "Alpha", "segment": "SMB", "employees": 12},
        {"account_id": "a2", "name": "Beta", "segment": "Enterprise", "employees": "lots"},  # not an integer
    ]
}


@pytest.fixture
def app_and_token(tmp_path: Path) -> tuple[TestClient, Workspace, dict[str, str]]:
    ws = init_workspace(tmp_path / "ws")
    app = create_app(ws, mount_web=False)
    tokens = {}
    with transaction(ws.store_url) as s:
        for role in ("admin", "manager"):
            tokens[role] = core.issue_token(s, core.create_user(s, f"{role}@x.com", role), "ingest").secret
    yield TestClient(app), ws, tokens
    dispose_engine(ws.store_url)


def _cli_equivalent(tmp_path: Path, name: str, records: list[dict[str, object]], preset: str) -> dict[str, object]:
    ws = init_workspace(tmp_path / f"cli-{name}")
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    report = ingest_files(ws, [path], preset=preset)
    reasons = sorted((q["entity"], q["reason"]) for q in quarantine_rows(ws, import_id=report.import_id))
    dispose_engine(ws.store_url)
    counts = {k: v for k, v in report.as_dict().items() if isinstance(v, int) and not isinstance(v, bool)}
    return {"counts": counts, "reasons": reasons}


def test_segment_batch_quarantines_like_the_cli(
    app_and_token: tuple[TestClient, Workspace, dict[str, str]], tmp_path: Path
) -> None:
    client, ws, tokens = app_and_token
    answer = client.post("/api/v1/ingest/events", json=BATCH, headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # group → 1 account, identify → 1 contact, 3 track → 2 usage events + 1 quarantined
    assert body["entities"]["accounts"]["loaded"] == 1
    assert body["entities"]["contacts"]["loaded"] == 1
    assert body["entities"]["usage_events"]["loaded"] == 2
    assert body["entities"]["usage_events"]["quarantined"] == 1
    assert len(body["quarantined"]) == 1 and body["quarantined"][0]["entity"] == "usage_events"
    assert (ws.path / body["file"]).is_file()  # the landing file quarantine rows point at
    cli = _cli_equivalent(tmp_path, "events.ndjson", BATCH["batch"], "segment")
    assert body["counts"] == cli["counts"]
    assert sorted((q["entity"], q["reason"]) for q in body["quarantined"]) == cli["reasons"]
    con = ws.duckdb_reader()
    try:
        assert con.execute("SELECT count(*) FROM usage_events").fetchone() == (2,)
    finally:
        con.close()
    # the same batch again (Segment retries): keyed by messageId, nothing new
    again = client.post("/api/v1/ingest/events", json=BATCH, headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert again.json()["entities"]["usage_events"]["loaded"] == 0


def test_entity_upsert_quarantines_like_the_cli(
    app_and_token: tuple[TestClient, Workspace, dict[str, str]], tmp_path: Path
) -> None:
    client, ws, tokens = app_and_token
    auth = {"Authorization": f"Bearer {tokens['admin']}"}
    answer = client.post("/api/v1/ingest/accounts", json=ACCOUNTS, headers=auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["entities"]["accounts"] == {**body["entities"]["accounts"], "loaded": 1, "quarantined": 1}
    assert body["quarantined"][0]["column"] == "employees"
    cli = _cli_equivalent(tmp_path, "accounts.ndjson", ACCOUNTS["records"], "sinergia")
    assert body["counts"] == cli["counts"]
    assert sorted((q["entity"], q["reason"]) for q in body["quarantined"]) == cli["reasons"]
    # an upsert: the same key with a new name updates the row
    update = client.post(
        "/api/v1/ingest/accounts", json={"records": [{"account_id": "a1", "name": "Alpha SA"}]}, headers=auth
    )
    assert update.json()["entities"]["accounts"]["updated"] == 1
    dry = client.post("/api/v1/ingest/accounts?dry_run=true", json={"records": [{"account_id": "a9"}]}, headers=auth)
    assert dry.json()["dry_run"] is True and dry.json()["entities"]["accounts"]["loaded"] == 1
    con = ws.duckdb_reader()
    try:
        assert con.execute("SELECT account_id, name FROM accounts ORDER BY 1").fetchall() == [("a1", "Alpha SA")]
    finally:
        con.close()


def test_ingest_refusals(app_and_token: tuple[TestClient, Workspace, dict[str, str]]) -> None:
    client, _ws, tokens = app_and_token
    manager = {"Authorization": f"Bearer {tokens['manager']}"}
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    assert client.post("/api/v1/ingest/accounts", json=ACCOUNTS, headers=manager).status_code == 403
    unknown = client.post("/api/v1/ingest/planets", json=ACCOUNTS, headers=admin)
    assert unknown.status_code == 404 and "unknown entity" in unknown.json()["error"]["message"]
    empty = client.post("/api/v1/ingest/accounts", json={"records": []}, headers=admin)
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "validation_error"
    extra = client.post("/api/v1/ingest/events", json={**BATCH, "apiKey": "x"}, headers=admin)
    assert extra.status_code == 422
    too_many = client.post("/api/v1/ingest/accounts", json={"records": [{"account_id": "x"}] * 10_001}, headers=admin)
    assert too_many.status_code == 422
