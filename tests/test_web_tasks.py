"""Tasks in the web app, in-process, per role: "My tasks" grouped by due date relative to today (UTC) and
filtered, complete and snooze with a reason (CSRF, permission matrix, audit), the task's "why did this fire?"
from its stored playbook firing, and the Customer 360's open tasks and open feedback cases."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sinergia.api.app import create_app
from sinergia.auth.core import create_user
from sinergia.store.db import dispose_engine, transaction
from sinergia.store.models import AccountSnapshot, AuditEntry, RecomputeRun, Task, User, utcnow
from sinergia.store.playbook_models import FeedbackCase, PlaybookFiring
from sinergia.workspace.workspace import init_workspace
from web_login import logged_in

PASSWORD = "correct horse battery"
ROLES = ("admin", "manager", "csm", "support", "viewer")
TODAY = dt.datetime.now(dt.UTC).date()
AS_OF = dt.date(2026, 3, 31)


def _seed(url: str) -> dict[str, int]:
    """Tasks of csm@: overdue (yesterday, from a playbook), today, upcoming (+5 days, expansion), done; one of
    manager@; one to complete, one to snooze. Returns name → task id."""
    ids: dict[str, int] = {}
    with transaction(url) as s:
        s.add(RecomputeRun(as_of=AS_OF, started_at=dt.datetime(2026, 4, 1), finished_at=dt.datetime(2026, 4, 1),
                           counts={}))
        for account_id, name in (("A1", "Acme"), ("A2", "Beta")):
            s.add(AccountSnapshot(as_of=AS_OF, account_id=account_id, name=name, currency="BRL", mrr=100.0,
                                  arr=1200.0, drivers={}, attributes={}))
        users = {role: create_user(s, f"{role}@example.com", role, password=PASSWORD, locale="en") for role in ROLES}
        s.flush()
        csm, manager = users["csm"].id, users["manager"].id
        now = utcnow()

        def task(name: str, owner: int, due: dt.date | None, type_: str = "risk", status: str = "open",
                 account: str = "A1", by: str = "csm@example.com", reason: str = "") -> None:
            row = Task(account_id=account, type=type_, title=f"Task {name}", owner_id=owner, status=status,
                       priority="high", due=due, reason=reason, created_at=now, updated_at=now, created_by=by,
                       completion_note="all good" if status == "done" else None)
            s.add(row)
            s.flush()
            ids[name] = row.id

        task("overdue", csm, TODAY - dt.timedelta(days=1), by="playbook:renewal_red_health",
             reason="playbook:renewal_red_health")
        task("today", csm, TODAY)
        task("upcoming", csm, TODAY + dt.timedelta(days=5), type_="expansion", account="A2")
        task("done", csm, TODAY - dt.timedelta(days=3), status="done")
        task("managers", manager, TODAY)
        task("to_complete", csm, TODAY + dt.timedelta(days=1))
        task("to_snooze", users["support"].id, TODAY + dt.timedelta(days=1))
        s.add(PlaybookFiring(
            playbook_id="renewal_red_health", account_id="A1", as_of=AS_OF, trigger_kind="renewal",
            reason="renewal on 2026-04-30 in 30 days (≤ 90); band:health='red' in ['red']",
            inputs={"as_of": AS_OF.isoformat(), "evidence": {"renewal_at": "2026-04-30", "days_to_renewal": 30},
                    "conditions": ["band:health='red' in ['red']: yes"],
                    "account": {"account_id": "A1", "name": "Acme", "mrr": 100.0, "band:health": "red"}},
            actions=[{"kind": "task", "task_id": ids["overdue"], "result": "created"}]))
        s.add(FeedbackCase(response_id="r1", account_id="A1", survey="nps", score=2.0, comment="Muito lento",
                           opened_at=dt.datetime(2026, 3, 30, 10), sla_hours=48.0,
                           due_at=dt.datetime(2026, 4, 1, 10), status="open"))
        s.add(FeedbackCase(response_id="r2", account_id="A1", survey="nps", score=1.0, comment="Closed one",
                           opened_at=dt.datetime(2026, 3, 1), sla_hours=48.0, due_at=dt.datetime(2026, 3, 3),
                           status="closed"))
    return ids


@pytest.fixture(scope="module")
def app_ids(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str, dict[str, int]]]:
    ws = init_workspace(tmp_path_factory.mktemp("webtasks") / "ws")
    app = create_app(ws)
    url = app.state.store_url
    ids = _seed(url)
    yield app, url, ids
    dispose_engine(url)


def _client(app: object, role: str) -> TestClient:
    return logged_in(app, f"{role}@example.com", PASSWORD, "/tasks")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def _section(html: str, group: str) -> str:
    found = re.search(rf'<div class="panel" id="tasks-{group}">(.*?)</table>', html, re.S)
    return found.group(1) if found else ""


def _task(url: str, task_id: int) -> Task:
    with transaction(url) as s:
        row = s.get(Task, task_id)
        assert row is not None
        s.expunge(row)
        return row


def test_every_role_reads_my_tasks_and_only_writers_get_forms(app_ids: tuple[object, str, dict[str, int]]) -> None:
    app, _, ids = app_ids
    for role in ROLES:
        with _client(app, role) as client:
            page = client.get("/tasks?owner=all")
            assert page.status_code == 200, role
            assert f'id="task-{ids["overdue"]}"' in page.text
            has_forms = f'/tasks/{ids["overdue"]}/complete' in page.text
            assert has_forms == (role != "viewer"), role
            assert 'id="nav-tasks"' in page.text


def test_my_tasks_groups_and_filters(app_ids: tuple[object, str, dict[str, int]]) -> None:
    app, _, ids = app_ids
    with _client(app, "csm") as client:
        html = client.get("/tasks").text  # mine, open or snoozed
        assert f'id="task-{ids["overdue"]}"' in _section(html, "overdue")
        assert f'id="task-{ids["today"]}"' in _section(html, "today")
        assert f'id="task-{ids["upcoming"]}"' in _section(html, "upcoming")
        assert f'id="task-{ids["managers"]}"' not in html  # someone else's
        assert f'id="task-{ids["done"]}"' not in html  # done is not open
        typed = client.get("/tasks?type=expansion").text
        assert re.findall(r'<tr id="task-(\d+)"', typed) == [str(ids["upcoming"])]
        done = client.get("/tasks?status=done").text
        assert re.findall(r'<tr id="task-(\d+)"', done) == [str(ids["done"])]
        assert "all good" in done
        assert client.get("/tasks?status=nope").status_code == 400


def test_viewer_cannot_complete(app_ids: tuple[object, str, dict[str, int]]) -> None:
    app, url, ids = app_ids
    with _client(app, "viewer") as client:
        token = _csrf(client.get("/tasks").text)
        refused = client.post(f"/tasks/{ids['to_complete']}/complete", data={"csrf_token": token, "reason": "x"},
                              follow_redirects=False)
        assert refused.status_code == 403
    assert _task(url, ids["to_complete"]).status == "open"


def test_complete_needs_csrf_then_is_done_and_audited(app_ids: tuple[object, str, dict[str, int]]) -> None:
    app, url, ids = app_ids
    task_id = ids["to_complete"]
    with _client(app, "csm") as client:
        no_token = client.post(f"/tasks/{task_id}/complete", data={"reason": "called them"}, follow_redirects=False)
        assert no_token.status_code == 403
        token = _csrf(client.get("/tasks").text)
        blank = client.post(f"/tasks/{task_id}/complete", data={"csrf_token": token, "reason": ""},
                            follow_redirects=False)
        assert blank.status_code in (400, 422)
        done = client.post(f"/tasks/{task_id}/complete",
                           data={"csrf_token": token, "reason": "called them", "next": "/tasks?owner=all"},
                           follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/tasks?owner=all"
    row = _task(url, task_id)
    assert (row.status, row.completion_note) == ("done", "called them")
    with transaction(url) as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.target == f"task:{task_id}")).all()
        assert [(a.actor, a.action, a.details) for a in audit] == [
            ("session:csm@example.com", "task.complete", {"note": "called them"})]


def test_snooze_with_a_reason(app_ids: tuple[object, str, dict[str, int]]) -> None:
    app, url, ids = app_ids
    task_id = ids["to_snooze"]
    until = TODAY + dt.timedelta(days=7)
    with _client(app, "support") as client:
        token = _csrf(client.get("/tasks").text)
        past = client.post(f"/tasks/{task_id}/snooze", data={"csrf_token": token, "reason": "later",
                                                             "until": TODAY.isoformat()}, follow_redirects=False)
        assert past.status_code == 400  # until must be after today
        ok = client.post(f"/tasks/{task_id}/snooze", data={"csrf_token": token, "reason": "customer on holiday",
                                                           "until": until.isoformat()}, follow_redirects=False)
        assert ok.status_code == 303
        # a snoozed task is listed by its snooze end (7 days ahead: upcoming)
        assert f'id="task-{task_id}"' in _section(client.get("/tasks").text, "upcoming")
    row = _task(url, task_id)
    assert (row.status, row.snooze_until) == ("snoozed", until)
    with transaction(url) as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.target == f"task:{task_id}")
                          .order_by(AuditEntry.id)).all()
        assert [(a.action, a.details) for a in audit] == [
            ("task.snooze", {"until": until.isoformat()}),
            ("task.note", {"on": "snooze", "until": until.isoformat(), "reason": "customer on holiday"})]


def test_task_page_explains_the_firing(app_ids: tuple[object, str, dict[str, int]]) -> None:
    app, _, ids = app_ids
    with _client(app, "viewer") as client:
        page = client.get(f"/tasks/{ids['overdue']}")
        assert page.status_code == 200
        assert "Why did this fire?" in page.text
        assert "renewal on 2026-04-30 in 30 days" in page.text
        assert "band:health=&#39;red&#39; in [&#39;red&#39;]: yes" in page.text
        assert "days_to_renewal" in page.text
        assert f"/tasks/{ids['overdue']}/complete" not in page.text  # a viewer gets no form
        plain = client.get(f"/tasks/{ids['today']}")
        assert "This task was not created by a playbook." in plain.text
        assert client.get("/tasks/999999").status_code == 404


def test_customer_360_shows_open_tasks_and_feedback_cases(app_ids: tuple[object, str, dict[str, int]]) -> None:
    app, _, ids = app_ids
    with _client(app, "manager") as client:
        page = client.get("/accounts/A1").text
        work = page[page.index('id="account-work"'):]
        assert f'id="account-task-{ids["overdue"]}"' in work
        assert f'id="account-task-{ids["done"]}"' not in work
        assert f"/tasks/{ids['overdue']}/complete" in work
        assert "Muito lento" in work and "Closed one" not in work
    with _client(app, "viewer") as client:
        work = client.get("/accounts/A1").text
        assert "Muito lento" in work and f"/tasks/{ids['overdue']}/complete" not in work


def test_portuguese_labels(app_ids: tuple[object, str, dict[str, int]]) -> None:
    app, url, _ = app_ids
    with transaction(url) as s:
        user = s.scalar(select(User).where(User.email == "admin@example.com"))
        assert user is not None
        user.locale = "pt-BR"
    try:
        with _client(app, "admin") as client:
            page = client.get("/tasks?owner=all").text
            assert "Minhas tarefas" in page and "Atrasadas" in page and "Concluir ou adiar" in page
    finally:
        with transaction(url) as s:
            user = s.scalar(select(User).where(User.email == "admin@example.com"))
            assert user is not None
            user.locale = "en"
