"""Deliveries and feedback cases in the web app, in-process, per role: the outbox's messages with their attempts
and errors after a real failing delivery (a closed local port), "retry now" re-queues (CSRF, audited), open
feedback cases with SLA due and escalation level, closing needs a root cause (audited), the Customer 360 link,
the nav links per role and the Portuguese labels."""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sinergia.api.app import create_app
from sinergia.auth.core import create_user
from sinergia.playbooks import outbox
from sinergia.playbooks.config import DeliverySettings
from sinergia.store.db import dispose_engine, transaction
from sinergia.store.models import AccountSnapshot, AuditEntry, RecomputeRun, User
from sinergia.store.playbook_models import FeedbackCase, OutboxAttempt, OutboxMessage
from sinergia.workspace.workspace import init_workspace
from web_login import logged_in

PASSWORD = "correct horse battery"
ROLES = ("admin", "manager", "csm", "support", "viewer")
AS_OF = dt.date(2026, 3, 31)
T0 = dt.datetime(2026, 4, 1, 12, 0)


def _closed_port() -> int:
    """A local port nothing listens on: bind, read the port, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _seed(url: str) -> dict[str, int]:
    ids: dict[str, int] = {}
    with transaction(url) as s:
        s.add(RecomputeRun(as_of=AS_OF, started_at=dt.datetime(2026, 4, 1), finished_at=dt.datetime(2026, 4, 1),
                           counts={}))
        s.add(AccountSnapshot(as_of=AS_OF, account_id="A1", name="Acme", currency="BRL", mrr=100.0, arr=1200.0,
                              drivers={}, attributes={}))
        users = {role: create_user(s, f"{role}@example.com", role, password=PASSWORD, locale="en") for role in ROLES}
        s.flush()
        settings = DeliverySettings(max_attempts=2, backoff_seconds=60.0, http_timeout_seconds=2.0)
        port = _closed_port()
        failing = outbox.enqueue(s, key="test:failing", kind="slack", target=f"http://127.0.0.1:{port}/hook",
                                 payload={"body": {"text": "hello"}}, settings=settings)
        untried = outbox.enqueue(s, key="test:untried", kind="slack", target="http://127.0.0.1:9/never",
                                 payload={"body": {"text": "later"}}, settings=settings)
        ids["failing"], ids["untried"], ids["port"] = failing.id, untried.id, port
        for name, due, level, status, email in (("late", T0 - dt.timedelta(hours=1), 1, "escalated", None),
                                                ("fresh", T0 + dt.timedelta(days=3650), 0, "open", "c@x.com")):
            case = FeedbackCase(response_id=f"r-{name}", account_id="A1", survey="nps", score=3.0,
                                comment=f"comment {name}", opened_at=due - dt.timedelta(hours=48), sla_hours=48.0,
                                due_at=due, status=status, escalation_level=level, owner_id=users["csm"].id,
                                contact_email=email)
            s.add(case)
            s.flush()
            ids[name] = case.id
    # make the untried one not due (so the delivery runs below only try the failing one)
    with transaction(url) as s:
        row = s.get(OutboxMessage, ids["untried"])
        assert row is not None
        row.next_attempt_at = dt.datetime(2999, 1, 1)
    return ids


@pytest.fixture(scope="module")
def app_ids(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str, dict[str, int]]]:
    ws = init_workspace(tmp_path_factory.mktemp("weboutbox") / "ws")
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


def _message(url: str, message_id: int) -> OutboxMessage:
    with transaction(url) as s:
        row = s.get(OutboxMessage, message_id)
        assert row is not None
        s.expunge(row)
        return row


def test_pages_and_nav_links_per_role(app_ids: tuple[object, str, dict[str, int]]) -> None:
    app, _, _ = app_ids
    expected = {  # role -> (deliveries page, cases page, close form)
        "admin": (200, 200, True), "manager": (200, 200, True), "csm": (403, 200, True),
        "support": (403, 200, False), "viewer": (403, 403, False)}
    for role, (deliveries, cases, close_form) in expected.items():
        with _client(app, role) as client:
            assert client.get("/deliveries").status_code == deliveries, role
            page = client.get("/cases")
            assert page.status_code == cases, role
            if cases == 200:
                assert ("/close" in page.text) == close_form, role
            nav = client.get("/tasks").text
            assert ('id="nav-deliveries"' in nav) == (deliveries == 200), role
            assert ('id="nav-cases"' in nav) == (cases == 200), role


def test_failed_delivery_shows_dead_with_its_error_and_retry_requeues(
        app_ids: tuple[object, str, dict[str, int]]) -> None:
    app, url, ids = app_ids
    message_id, port = ids["failing"], ids["port"]
    first = outbox.deliver_due(url)  # enqueued at the current time: due now
    assert first.retrying == [message_id]
    with transaction(url) as s:
        tried = s.scalar(select(OutboxAttempt.at).where(OutboxAttempt.message_id == message_id))
    retry_at = _message(url, message_id).next_attempt_at
    assert tried is not None and retry_at == tried + dt.timedelta(seconds=60)  # 60 s × 2^(1−1) after the try
    with _client(app, "manager") as client:
        retrying = client.get("/deliveries?status=retrying").text
        assert re.findall(r'<tr id="delivery-(\d+)"', retrying) == [str(message_id)]
        assert ">retrying<" in retrying
    assert outbox.deliver_due(url, now=retry_at - dt.timedelta(seconds=1)).retrying == []  # not due yet
    second = outbox.deliver_due(url, now=retry_at)
    assert second.dead == [message_id]
    error = f"cannot reach http://127.0.0.1:{port}/hook"
    with _client(app, "manager") as client:
        page = client.get("/deliveries?status=dead").text
        assert re.findall(r'<tr id="delivery-(\d+)"', page) == [str(message_id)]
        assert f'id="delivery-{message_id}-status">dead<' in page
        assert page.count(error) == 2  # both attempts' errors
        assert "Attempt 1" in page and "Attempt 2" in page and "2 / 2" in page
        assert f"/deliveries/{message_id}/retry" in page
        everything = client.get("/deliveries").text
        assert f'id="delivery-{ids["untried"]}"' in everything and "Not tried yet." in everything
        assert f"/deliveries/{ids['untried']}/retry" not in everything  # nothing failed: no button
        assert client.get("/deliveries?status=nope").status_code == 400
        token = _csrf(page)
        no_token = client.post(f"/deliveries/{message_id}/retry", follow_redirects=False)
        assert no_token.status_code == 403
        refused = client.post(f"/deliveries/{ids['untried']}/retry", data={"csrf_token": token},
                              follow_redirects=False)
        assert refused.status_code == 400 and "has not failed" in refused.text
        done = client.post(f"/deliveries/{message_id}/retry",
                           data={"csrf_token": token, "next": "/deliveries?status=dead"}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/deliveries?status=dead"
    row = _message(url, message_id)
    assert (row.status, row.attempts, row.max_attempts) == ("pending", 2, 3)  # one more try allowed
    assert row.next_attempt_at <= dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with transaction(url) as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.target == f"outbox:{message_id}")).all()
        assert [(a.actor, a.action, a.details["status_before"], a.details["max_attempts"]) for a in audit] == [
            ("session:manager@example.com", "outbox.retry", "dead", 3)]
    # the re-queued message is due now: the next run tries it (attempt 3) and, still failing, it is dead again
    third = outbox.deliver_due(url)
    assert third.dead == [message_id]
    with transaction(url) as s:
        tries = s.scalars(select(OutboxAttempt.attempt).where(OutboxAttempt.message_id == message_id)
                          .order_by(OutboxAttempt.attempt)).all()
        assert tries == [1, 2, 3]


def test_cases_page_and_closing_needs_a_root_cause(app_ids: tuple[object, str, dict[str, int]]) -> None:
    app, url, ids = app_ids
    with _client(app, "csm") as client:
        page = client.get("/cases").text
        assert re.findall(r'<tr id="case-(\d+)"', page) == [str(ids["late"]), str(ids["fresh"])]  # due first
        late = page[page.index(f'id="case-{ids["late"]}"'):page.index(f'id="case-{ids["fresh"]}"')]
        assert "SLA breached" in late and "escalated" in late and "comment late" in late
        fresh = page[page.index(f'id="case-{ids["fresh"]}"'):]
        assert "SLA breached" not in fresh and 'name="follow_up"' in fresh
        assert 'name="follow_up"' not in late  # no respondent e-mail: no follow-up option
        token = _csrf(page)
        blank = client.post(f"/cases/{ids['late']}/close",
                            data={"csrf_token": token, "root_cause": "  ", "action": "called"},
                            follow_redirects=False)
        assert blank.status_code == 400
        assert "a case needs a root cause to close" in blank.text
        with transaction(url) as s:
            case = s.get(FeedbackCase, ids["late"])
            assert case is not None and case.status == "escalated"
        done = client.post(f"/cases/{ids['late']}/close",
                           data={"csrf_token": token, "root_cause": "slow export", "action": "fixed the index"},
                           follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/cases"
        after = client.get("/cases").text
        assert re.findall(r'<tr id="case-(\d+)"', after) == [str(ids["fresh"])]
    with transaction(url) as s:
        case = s.get(FeedbackCase, ids["late"])
        assert case is not None
        assert (case.status, case.root_cause, case.action_taken, case.closed_by) == (
            "closed", "slow export", "fixed the index", "session:csm@example.com")
        audit = s.scalars(select(AuditEntry).where(AuditEntry.target == f"case:{ids['late']}")).all()
        assert [(a.actor, a.action, a.details) for a in audit] == [
            ("session:csm@example.com", "case.close",
             {"root_cause": "slow export", "action": "fixed the index", "follow_up": False})]
    with _client(app, "support") as client:  # reads cases, may not close them
        token = _csrf(client.get("/cases").text)
        refused = client.post(f"/cases/{ids['fresh']}/close",
                              data={"csrf_token": token, "root_cause": "x", "action": "y"}, follow_redirects=False)
        assert refused.status_code == 403


def test_customer_360_links_to_the_accounts_cases(app_ids: tuple[object, str, dict[str, int]]) -> None:
    app, _, ids = app_ids
    with _client(app, "manager") as client:
        work = client.get("/accounts/A1").text
        assert 'id="account-cases-link"' in work and 'href="/cases?account=A1"' in work
        filtered = client.get("/cases?account=A1").text
        assert f'id="case-{ids["fresh"]}"' in filtered
        assert 'id="case-' not in client.get("/cases?account=OTHER").text
    with _client(app, "viewer") as client:
        assert 'id="account-cases-link"' not in client.get("/accounts/A1").text


def test_portuguese_labels(app_ids: tuple[object, str, dict[str, int]]) -> None:
    app, url, _ = app_ids
    with transaction(url) as s:
        user = s.scalar(select(User).where(User.email == "admin@example.com"))
        assert user is not None
        user.locale = "pt-BR"
    try:
        with _client(app, "admin") as client:
            deliveries = client.get("/deliveries").text
            assert "Entregas" in deliveries and "Próxima tentativa" in deliveries and "Tentativas" in deliveries
            cases = client.get("/cases").text
            assert "Casos de feedback" in cases and "Causa raiz" in cases and "Prazo do SLA" in cases
            assert "Encerrar caso" in cases
    finally:
        with transaction(url) as s:
            user = s.scalar(select(User).where(User.email == "admin@example.com"))
            assert user is not None
            user.locale = "en"
