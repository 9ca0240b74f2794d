"""The REST API in-process, on SQLite and on a real PostgreSQL (started by the test session).

Covers: every route refuses anonymous callers and wrong roles (per the permission matrix), accounts
(filter / sort / paginate), the 360, tasks and notes with their audit rows, metrics, session-cookie login
with CSRF and the rate limit, tokens, and one error envelope for every error.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from sinergia.api import create_app
from sinergia.api.deps import Permission, authenticated
from sinergia.auth import core
from sinergia.auth.permissions import MATRIX
from sinergia.ingest import ingest_files
from sinergia.scores.history import write_scores
from sinergia.serving.recompute import recompute
from sinergia.store.db import dispose_engine, transaction
from sinergia.store.models import ROLES, AccountSnapshot, AuditEntry
from sinergia.workspace import Workspace, init_workspace

AS_OF = dt.date(2026, 10, 31)
METRICS = ["mrr", "nrr", "nps", "logo_churn_rate"]
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from sinergia.demo import generate

    root = tmp_path_factory.mktemp("api")
    ws = init_workspace(root / "ws", timezone="America/Sao_Paulo")
    files = generate(root / "data", accounts=30, seed=5, months=24)
    ingest_files(ws, list(files.values()), preset="sinergia")
    ids = [f"acc_{i:06d}" for i in range(1, 31)]
    write_scores(
        ws,
        pd.DataFrame({"account_id": ids, "as_of": [AS_OF] * 30, "value": [float(i % 10) / 10 for i in range(30)]}),
        score="churn_risk",
    )
    return ws


@dataclass
class Env:
    app: FastAPI
    url: str
    tokens: dict[str, str]
    backend: str

    def client(self, **kw: Any) -> TestClient:
        return TestClient(self.app, **kw)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, demo_ws: Workspace) -> Iterator[Env]:
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        url = server.database()
    else:
        url = demo_ws.store_url
    app = create_app(demo_ws, store_url=url)
    recompute(demo_ws, AS_OF, store_url=url, metrics=METRICS)
    tokens = {}
    with transaction(url) as s:
        for role in ROLES:
            user = core.create_user(s, f"{role}@test.com", role, password=PASSWORD, actor="test")
            tokens[role] = core.issue_token(s, user, "tests").secret
    yield Env(app, url, tokens, request.param)
    dispose_engine(url)


# -- every route --------------------------------------------------------------------------------------------
def _permission(route: Any) -> str | bool | None:
    """The route's Permission, True if it only needs a login, None if it declares neither."""
    found: str | bool | None = None
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Permission):
            return dep.call.permission
        if dep.call is authenticated:
            found = True
        stack.extend(dep.dependencies)
    return found


def _concrete(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(0)
        if name in ("{task_id}", "{user_id}", "{token_id}"):
            return "1"
        return "acc_000001" if name == "{account_id}" else "mrr" if name == "{name}" else "x"

    return re.sub(r"\{[^}]+\}", value, path)


def _routes(app: FastAPI) -> list[tuple[str, str, Any]]:
    """Every (method, path, route) of the app, routers included at any depth (web pages too)."""
    out = []
    for context in iter_route_contexts(app.routes):
        methods = context.methods or set()
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            out.append((method, str(context.path), context))
    return out


def test_every_route_refuses_anonymous_and_wrong_roles(env: Env) -> None:
    client = env.client()
    public = env.app.state.public_paths
    checked = 0
    for method, path, route in _routes(env.app):
        if path in public:
            continue
        assert isinstance(route.original_route, APIRoute), f"{method} {path} is not public and has no auth"
        needed = _permission(route)
        assert needed is not None, f"{method} {path} declares no Permission and is not public"
        url = _concrete(path)
        anonymous = client.request(method, url, json={}, follow_redirects=False)
        if path.startswith("/api/"):
            assert anonymous.status_code == 401, (method, path, anonymous.status_code)
            assert anonymous.json()["error"]["code"] == "unauthenticated"
        else:  # a web page sends the browser to the login page
            assert anonymous.status_code in (401, 303), (method, path, anonymous.status_code)
        if isinstance(needed, str):
            for role in ROLES:
                answer = client.request(method, url, json={}, headers=env.auth(role), follow_redirects=False)
                if needed in MATRIX[role]:
                    assert answer.status_code not in (401, 403), (method, path, role, answer.status_code)
                else:
                    assert answer.status_code == 403, (method, path, role, answer.status_code)
                    assert answer.json()["error"]["code"] == "forbidden"
        checked += 1
    assert checked >= 25


def test_health_and_openapi_are_public(env: Env) -> None:
    client = env.client()
    assert client.get("/api/v1/health").json() == {"status": "ok", "as_of": AS_OF.isoformat()}
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/accounts" in spec["paths"] and spec["info"]["title"] == "Sinergia"


# -- accounts -----------------------------------------------------------------------------------------------
def test_accounts_sort_filter_paginate(env: Env) -> None:
    client = env.client(headers=env.auth("viewer"))
    page = client.get("/api/v1/accounts", params={"sort": "-arr", "limit": 7}).json()
    with transaction(env.url) as s:
        everything = s.scalars(select(AccountSnapshot).where(AccountSnapshot.as_of == AS_OF)).all()
        expected = sorted(everything, key=lambda a: (a.arr, a.account_id), reverse=True)  # ties: id, descending
    assert page["total"] == len(everything) == 30
    assert [a["account_id"] for a in page["items"]] == [a.account_id for a in expected[:7]]
    second = client.get("/api/v1/accounts", params={"sort": "-arr", "limit": 7, "offset": 7}).json()
    assert [a["account_id"] for a in second["items"]] == [a.account_id for a in expected[7:14]]
    segment = expected[0].segment
    filtered = client.get("/api/v1/accounts", params={"segment": segment, "limit": 500}).json()
    assert filtered["total"] == sum(1 for a in everything if a.segment == segment)
    risky = client.get("/api/v1/accounts", params={"min_churn_risk": 0.5, "sort": "churn_risk", "limit": 500}).json()
    risks = [a["churn_risk"] for a in risky["items"]]
    assert risks == sorted(risks) and all(r >= 0.5 for r in risks)
    assert risky["total"] == 15  # value = (i % 10) / 10 for i in 0..29: 5 of each tenth, 0.5..0.9 → 15
    at_risk = client.get("/api/v1/predictions", params={"limit": 500}).json()["items"]
    arr_at_risk = [a["arr"] * (a["churn_risk"] or 0) for a in at_risk]
    assert arr_at_risk == sorted(arr_at_risk, reverse=True) and all(a["mrr"] > 0 for a in at_risk)
    bad = client.get("/api/v1/accounts", params={"sort": "password"})
    assert bad.status_code == 400 and "cannot sort by" in bad.json()["error"]["message"]


def test_account_360(env: Env) -> None:
    client = env.client(headers=env.auth("csm"))
    body = client.get("/api/v1/accounts/acc_000003").json()
    assert body["account"]["account_id"] == "acc_000003"
    assert body["account"]["churn_risk"] == pytest.approx(0.2)  # i = 2 → 2 / 10
    assert body["account"]["arr"] == pytest.approx(12 * body["account"]["mrr"])
    assert {e["stage"] for e in body["events"]} <= {"before", "during", "after"} and body["events"]
    assert [s["score"] for s in body["scores"]] == ["churn_risk"]
    for stage in ("before", "during", "after"):
        staged = client.get("/api/v1/accounts/acc_000003/events", params={"stage": stage}).json()
        assert staged == [e for e in body["events"] if e["stage"] == stage]
    assert client.get("/api/v1/accounts/acc_000003/events", params={"stage": "later"}).status_code == 400
    bands = client.get("/api/v1/portfolio/health").json()
    with transaction(env.url) as s:
        paying = [a for a in s.scalars(select(AccountSnapshot).where(AccountSnapshot.as_of == AS_OF)) if a.arr > 0]
    assert bands == {"unscored": {"accounts": len(paying), "arr": pytest.approx(sum(a.arr for a in paying))}}
    missing = client.get("/api/v1/accounts/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


# -- tasks and notes ----------------------------------------------------------------------------------------
def test_tasks_lifecycle_is_audited(env: Env) -> None:
    client = env.client(headers=env.auth("csm"))
    created = client.post(
        "/api/v1/tasks",
        json={
            "account_id": "acc_000002",
            "type": "risk",
            "title": "Call about usage drop",
            "priority": "high",
            "due": "2026-11-10",
        },
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert (task["status"], task["priority"], task["created_by"]) == ("open", "high", "token:csm@test.com")
    tid = task["id"]
    patched = client.patch(f"/api/v1/tasks/{tid}", json={"priority": "urgent"}).json()
    assert patched["priority"] == "urgent"
    snoozed = client.post(f"/api/v1/tasks/{tid}/snooze", json={"until": "2099-01-01"}).json()
    assert (snoozed["status"], snoozed["snooze_until"]) == ("snoozed", "2099-01-01")
    done = client.post(f"/api/v1/tasks/{tid}/complete", json={"note": "Customer is fine"}).json()
    assert (done["status"], done["completion_note"]) == ("done", "Customer is fine")
    again = client.post(f"/api/v1/tasks/{tid}/complete", json={})
    assert again.status_code == 400
    listed = client.get("/api/v1/tasks", params={"account_id": "acc_000002"}).json()
    assert tid in [t["id"] for t in listed["items"]]
    with transaction(env.url) as s:
        actions = [
            a.action
            for a in s.scalars(select(AuditEntry).where(AuditEntry.target == f"task:{tid}").order_by(AuditEntry.id))
        ]
    assert actions == ["task.create", "task.update", "task.snooze", "task.complete"]
    viewer = env.client(headers=env.auth("viewer"))
    assert (
        viewer.post("/api/v1/tasks", json={"account_id": "acc_000002", "type": "risk", "title": "x"}).status_code == 403
    )
    unknown = client.post("/api/v1/tasks", json={"account_id": "ghost", "type": "risk", "title": "x"})
    assert unknown.status_code == 404


def test_notes(env: Env) -> None:
    client = env.client(headers=env.auth("support"))
    note = client.post("/api/v1/accounts/acc_000004/notes", json={"body": "Asked for a training session."})
    assert note.status_code == 201 and note.json()["author"] == "support@test.com"
    listed = client.get("/api/v1/accounts/acc_000004/notes").json()
    assert listed[0]["body"] == "Asked for a training session."
    with transaction(env.url) as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "note.create")).first() is not None


# -- metrics ------------------------------------------------------------------------------------------------
def test_metrics_endpoints(env: Env) -> None:
    client = env.client(headers=env.auth("viewer"))
    names = {m["name"] for m in client.get("/api/v1/metrics").json()}
    assert {"mrr", "nrr", "nps"} <= names
    card = client.get("/api/v1/metrics/nrr").json()
    assert card["name"] == "nrr" and card["formula"]
    values = client.get("/api/v1/metrics/mrr/values").json()
    assert len(values["points"]) == 24 and values["groups"][0] == ""
    # the last stored value equals the sum of the snapshots' MRR (both: MRR in force at the end of Oct 31)
    with transaction(env.url) as s:
        total = sum(a.mrr for a in s.scalars(select(AccountSnapshot).where(AccountSnapshot.as_of == AS_OF)))
    assert values["points"][-1]["value"] == pytest.approx(total, abs=0.01 * 30)
    rows = client.get("/api/v1/metrics/mrr/rows", params={"limit": 5}).json()
    assert rows["rows"] and len(rows["rows"]) <= 5 and "account_id" in rows["columns"]
    assert client.get("/api/v1/metrics/nope").status_code == 404


# -- sessions, CSRF, rate limit, tokens ---------------------------------------------------------------------
def test_cookie_login_needs_csrf_for_changes(env: Env) -> None:
    client = env.client()
    login = client.post("/api/v1/auth/login", json={"email": "manager@test.com", "password": PASSWORD})
    assert login.status_code == 200
    csrf = login.json()["csrf_token"]
    assert "httponly" in login.headers["set-cookie"].lower()
    assert client.get("/api/v1/me").json()["user"]["role"] == "manager"
    body = {"account_id": "acc_000005", "type": "activity", "title": "QBR"}
    refused = client.post("/api/v1/tasks", json=body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert client.post("/api/v1/tasks", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    assert client.patch("/api/v1/me", json={"locale": "en"}, headers={"X-CSRF-Token": csrf}).json()["locale"] == "en"
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/v1/me").status_code == 401
    with transaction(env.url) as s:
        query = select(AuditEntry.action).where(AuditEntry.target == "user:manager@test.com").order_by(AuditEntry.id)
        actions = list(s.scalars(query))
    assert actions[-3:] == ["auth.login", "user.update", "auth.logout"]


def test_login_rate_limit_survives_a_restart(env: Env, demo_ws: Workspace) -> None:
    with transaction(env.url) as s:
        core.create_user(s, f"victim-{env.backend}@test.com", "viewer", password=PASSWORD)
    client = env.client()
    creds = {"email": f"victim-{env.backend}@test.com", "password": "wrong-password"}
    for _ in range(core.MAX_FAILURES):
        answer = client.post("/api/v1/auth/login", json=creds)
        assert answer.status_code == 401 and answer.json()["error"]["message"] == "wrong e-mail or password"
    restarted = TestClient(create_app(demo_ws, store_url=env.url))  # a new process would see the same rows
    blocked = restarted.post("/api/v1/auth/login", json={**creds, "password": PASSWORD})
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "rate_limited"
    assert int(blocked.headers["retry-after"]) > 0


def test_my_tokens_and_revocation(env: Env) -> None:
    client = env.client(headers=env.auth("support"))
    issued = client.post("/api/v1/me/tokens", json={"name": "script"})
    assert issued.status_code == 201
    secret, info = issued.json()["token"], issued.json()["info"]
    other = env.client(headers={"Authorization": f"Bearer {secret}"})
    assert other.get("/api/v1/me").json()["user"]["email"] == "support@test.com"
    assert secret not in str(client.get("/api/v1/me/tokens").json())
    assert client.delete(f"/api/v1/me/tokens/{info['id']}").status_code == 204
    assert other.get("/api/v1/me").status_code == 401
    assert env.client(headers={"Authorization": "Basic abc"}).get("/api/v1/me").status_code == 401


def test_admin_manages_users(env: Env) -> None:
    admin = env.client(headers=env.auth("admin"))
    made = admin.post("/api/v1/users", json={"email": f"new-{env.backend}@test.com", "role": "viewer"})
    assert made.status_code == 201
    uid = made.json()["id"]
    assert admin.patch(f"/api/v1/users/{uid}", json={"role": "csm"}).json()["role"] == "csm"
    dup = admin.post("/api/v1/users", json={"email": f"new-{env.backend}@test.com", "role": "viewer"})
    assert dup.status_code == 400 and "already exists" in dup.json()["error"]["message"]
    log = admin.get("/api/v1/audit", params={"action": "user.update"}).json()
    assert log["items"][0]["details"] == {"role": ["viewer", "csm"]}


# -- one error envelope -------------------------------------------------------------------------------------
def _is_envelope(body: Any) -> bool:
    return isinstance(body, dict) and set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])


def test_error_envelope_everywhere(env: Env) -> None:
    client = env.client(headers=env.auth("admin"))
    cases = {
        "unknown route": (client.get("/api/v1/nope"), 404, "not_found"),
        "wrong method": (client.delete("/api/v1/health"), 405, "method_not_allowed"),
        "malformed json": (
            client.post("/api/v1/tasks", content=b'{"title": ', headers={"content-type": "application/json"}),
            422,
            "validation_error",
        ),
        "wrong type": (
            client.post("/api/v1/tasks", json={"account_id": 5, "type": "risk", "title": []}),
            422,
            "validation_error",
        ),
        "unknown field": (
            client.post("/api/v1/tasks", json={"account_id": "a", "type": "risk", "title": "t", "colour": "red"}),
            422,
            "validation_error",
        ),
        "bad enum": (
            client.post("/api/v1/tasks", json={"account_id": "a", "type": "party", "title": "t"}),
            422,
            "validation_error",
        ),
        "bad query": (client.get("/api/v1/accounts", params={"limit": "many"}), 422, "validation_error"),
        "huge payload": (
            client.post(
                "/api/v1/accounts/acc_000001/notes",
                content=b"x" * (11 * 1024 * 1024),
                headers={"content-type": "application/json"},
            ),
            413,
            "payload_too_large",
        ),
        "not a json object": (client.post("/api/v1/tasks", json=[1, 2]), 422, "validation_error"),
    }
    for name, (answer, status, code) in cases.items():
        assert answer.status_code == status, (name, answer.status_code, answer.text[:200])
        assert _is_envelope(answer.json()), name
        assert answer.json()["error"]["code"] == code, name

    def chunks() -> Iterator[bytes]:  # chunked upload: no Content-Length, counted as it streams
        for _ in range(12):
            yield b" " * (1024 * 1024)

    streamed = client.post(
        "/api/v1/accounts/acc_000001/notes", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "payload_too_large"
    unknown_field = cases["unknown field"][0].json()["error"]
    assert unknown_field["details"][0]["loc"] == ["body", "colour"]


def test_unhandled_error_is_an_envelope(demo_ws: Workspace, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    app = create_app(demo_ws, store_url=url, mount_web=False)

    @app.get("/api/v1/_boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    answer = TestClient(app, raise_server_exceptions=False).get("/api/v1/_boom")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "secret internals" not in answer.text
    dispose_engine(url)
