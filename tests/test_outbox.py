"""The outbox against real receivers: an SMTP server (aiosmtpd) and an HTTP server that checks the Standard
Webhooks signature with the reference ``standardwebhooks`` library; failures → retries with backoff → success."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from sinergia.playbooks.config import DeliverySettings, SmtpSettings
from sinergia.playbooks.outbox import deliver_due, enqueue, failures, sign, verify
from sinergia.store.migrate import upgrade_store
from sinergia.store.playbook_models import OutboxAttempt, OutboxMessage

SECRET = "whsec_" + base64.b64encode(b"sinergia-test-secret-0123456789ab").decode()


def test_signature_known_vector() -> None:
    """The example of the Standard Webhooks reference libraries (secret, id, timestamp, payload → signature)."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    reference = Webhook(secret).sign("msg_p5jXN8AQM9LWM0D4loKWxJek",
                                     dt.datetime.fromtimestamp(1614265330, dt.UTC), body.decode())
    assert reference == signature
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": f"v1,bm90LXRoaXM= {signature}"}  # any one of several signatures may match
    assert verify(secret, headers, body, now=1614265330 + 299)
    assert not verify(secret, headers, body, now=1614265330 + 301)  # outside the ±5 min tolerance
    assert not verify(secret, headers, body + b" ", now=1614265330)


class _Collector:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Collector, int]]:
    collector = _Collector()
    with socket.socket() as probe:  # a free port (the controller's readiness check cannot use port 0)
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield collector, port
    finally:
        controller.stop()


class Receiver:
    """An HTTP receiver that fails the first ``fail_first`` requests, then verifies and accepts each webhook once."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.requests = 0
        self.accepted: dict[str, Any] = {}
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests += 1
                if receiver.requests <= receiver.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                if self.path == "/hook":
                    try:
                        payload = Webhook(SECRET).verify(body, dict(self.headers.items()))
                    except Exception:
                        receiver.bad_signatures += 1
                        self.send_response(401)
                        self.end_headers()
                        return
                    receiver.accepted.setdefault(self.headers["webhook-id"], payload)
                else:
                    receiver.accepted.setdefault(f"slack-{receiver.requests}", json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade_store(url)
    return url


def _enqueue(url: str, **kwargs: Any) -> int:
    engine = create_engine(url)
    try:
        with Session(engine) as session, session.begin():
            return enqueue(session, **kwargs).id
    finally:
        engine.dispose()


def _rows(url: str, model: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(model).order_by(model.id)))
    finally:
        engine.dispose()


def test_email_and_webhook_arrive_exactly_once_after_failures(tmp_path: Path, smtp: tuple[_Collector, int]) -> None:
    collector, port = smtp
    receiver = Receiver(fail_first=2)
    try:
        url = _store(tmp_path)
        settings = DeliverySettings(smtp=SmtpSettings(host="127.0.0.1", port=port, sender="cs@sinergia.test"),
                                    max_attempts=5, backoff_seconds=30, max_backoff_seconds=3600)
        body = {"type": "playbook.fired", "account_id": "a1", "reason": "NPS 3"}
        webhook_id = _enqueue(url, key="detractor:a1:2026-06-30:1", kind="webhook", target=f"{receiver.url}/hook",
                              payload={"secret_env": "TEST_HOOK_SECRET", "body": body}, settings=settings)
        # the same idempotency key again returns the same message: no second delivery is ever queued
        assert _enqueue(url, key="detractor:a1:2026-06-30:1", kind="webhook", target="http://elsewhere",
                        payload={}, settings=settings) == webhook_id
        _enqueue(url, key="detractor:a1:2026-06-30:0", kind="email", target="ana@x.com",
                 payload={"subject": "Detrator: Alfa", "body": "NPS 3 em 29/06"}, settings=settings)
        secrets = {"TEST_HOOK_SECRET": SECRET}
        t0 = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=1)

        first = deliver_due(url, settings=settings, now=t0, secrets=secrets)
        # e-mail delivered; webhook got 503 → retry in 30 s (backoff 30 × 2^0)
        assert (len(first.delivered), len(first.retrying), len(first.dead)) == (1, 1, 0)
        assert first.errors[webhook_id].startswith("HTTP 503")
        webhook = _rows(url, OutboxMessage)[0]
        assert (webhook.status, webhook.attempts) == ("pending", 1)
        assert webhook.next_attempt_at == t0 + dt.timedelta(seconds=30)

        assert deliver_due(url, settings=settings, now=t0 + dt.timedelta(seconds=29), secrets=secrets).as_dict()[
            "retrying"] == 0  # not due yet: nothing sent
        second = deliver_due(url, settings=settings, now=t0 + dt.timedelta(seconds=30), secrets=secrets)
        assert second.retrying == [webhook_id]
        webhook = _rows(url, OutboxMessage)[0]
        # second failure: 30 × 2^1 = 60 s after the second try
        assert webhook.next_attempt_at == t0 + dt.timedelta(seconds=90)
        assert [f["id"] for f in failures(url)] == [webhook_id]  # failures are visible while retrying

        third = deliver_due(url, settings=settings, now=t0 + dt.timedelta(seconds=90), secrets=secrets)
        assert third.delivered == [webhook_id]
        assert deliver_due(url, settings=settings, now=t0 + dt.timedelta(hours=5), secrets=secrets).as_dict() == {
            "delivered": 0, "retrying": 0, "dead": 0, "errors": {}}

        # the receiver verified the signature and accepted the event exactly once, under the stable id
        assert receiver.bad_signatures == 0
        assert receiver.accepted == {"detractor:a1:2026-06-30:1": body}
        assert len(collector.messages) == 1
        mail = message_from_bytes(collector.messages[0])
        assert (mail["Subject"], mail["To"], mail["From"]) == ("Detrator: Alfa", "ana@x.com", "cs@sinergia.test")
        attempts = [(a.message_id, a.attempt, a.ok, a.status_code) for a in _rows(url, OutboxAttempt)]
        assert attempts == [(1, 1, False, 503), (2, 1, True, None), (1, 2, False, 503), (1, 3, True, 204)]
        assert failures(url) == []
    finally:
        receiver.close()


def test_gives_up_after_max_attempts_and_slack(tmp_path: Path) -> None:
    receiver = Receiver(fail_first=10**6)
    ok_receiver = Receiver(fail_first=0)
    try:
        url = _store(tmp_path)
        settings = DeliverySettings(max_attempts=3, backoff_seconds=10, max_backoff_seconds=15)
        dead_id = _enqueue(url, key="k-dead", kind="slack", target=f"{receiver.url}/slack",
                           payload={"body": {"text": "x"}}, settings=settings)
        _enqueue(url, key="k-slack", kind="slack", target=f"{ok_receiver.url}/slack",
                 payload={"body": {"text": "Saúde de Alfa caiu"}}, settings=settings)
        t0 = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=1)
        deliver_due(url, settings=settings, now=t0)
        # delays: 10 s after try 1, min(10 × 2, 15) = 15 s after try 2 (capped), then dead after try 3
        assert _rows(url, OutboxMessage)[0].next_attempt_at == t0 + dt.timedelta(seconds=10)
        deliver_due(url, settings=settings, now=t0 + dt.timedelta(seconds=10))
        assert _rows(url, OutboxMessage)[0].next_attempt_at == t0 + dt.timedelta(seconds=25)
        last = deliver_due(url, settings=settings, now=t0 + dt.timedelta(seconds=25))
        assert last.dead == [dead_id]
        dead = failures(url, include_retrying=False)
        assert [(f["id"], f["status"], f["attempts"]) for f in dead] == [(dead_id, "dead", 3)]
        assert dead[0]["last_error"].startswith("HTTP 503")
        assert list(ok_receiver.accepted.values()) == [{"text": "Saúde de Alfa caiu"}]
        assert deliver_due(url, settings=settings, now=t0 + dt.timedelta(days=1)).as_dict()["dead"] == 0
    finally:
        receiver.close()
        ok_receiver.close()


def test_missing_secret_is_a_recorded_failure(tmp_path: Path) -> None:
    url = _store(tmp_path)
    _enqueue(url, key="k", kind="webhook", target="http://127.0.0.1:9/hook",
             payload={"secret_env": "SINERGIA_TEST_UNSET_SECRET", "body": {}})
    report = deliver_due(url, now=dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=1))
    assert list(report.errors.values()) == ["webhook secret variable SINERGIA_TEST_UNSET_SECRET is not set"]


def test_playbook_messages_arrive_once_end_to_end(tmp_path: Path, smtp: tuple[_Collector, int],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """run_playbooks queues an e-mail to the account owner and a signed webhook; the receiver fails the first try;
    re-running the playbooks the same day queues nothing new; each message arrives exactly once."""
    from sinergia.playbooks.config import load_playbooks
    from sinergia.playbooks.runner import run_playbooks
    from test_playbooks import AS_OF, make_workspace

    collector, port = smtp
    receiver = Receiver(fail_first=1)
    try:
        yaml_text = f"""builtins: false
delivery:
  smtp: {{host: 127.0.0.1, port: {port}, sender: cs@sinergia.test}}
  backoff_seconds: 5
playbooks:
  - id: renewal_alert
    title: {{en: Renewal}}
    trigger: {{kind: renewal, within_days: 30}}
    actions:
      - kind: email
        subject: {{pt-BR: "Renovação de {{account_name}} em {{days_to_renewal:.0f}} dias"}}
        body: {{pt-BR: "Motivo: {{reason}}"}}
      - {{kind: webhook, url: "{receiver.url}/hook", secret_env: E2E_HOOK_SECRET}}
"""
        ws = make_workspace(tmp_path, yaml_text)
        monkeypatch.setenv("E2E_HOOK_SECRET", SECRET)
        settings = load_playbooks(ws.path).delivery
        report = run_playbooks(ws, AS_OF)
        # renewals within 30 days of 06-30: a1 (07-30, 30 days) and a3 (07-20, 20 days)
        assert sorted(f.account_id for f in report.firings) == ["a1", "a3"]
        t0 = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=1)
        first = deliver_due(ws.store_url, settings=settings, now=t0)
        assert (len(first.delivered), len(first.retrying)) == (3, 1)  # 2 e-mails + 1 webhook; 1 webhook got 503
        assert run_playbooks(ws, AS_OF).firings == []  # same day again: nothing new queued
        second = deliver_due(ws.store_url, settings=settings, now=t0 + dt.timedelta(seconds=5))
        assert (len(second.delivered), len(second.retrying)) == (1, 0)
        assert receiver.bad_signatures == 0
        assert sorted(receiver.accepted) == ["renewal_alert:a1:2026-06-30:1", "renewal_alert:a3:2026-06-30:1"]
        assert {p["account_id"] for p in receiver.accepted.values()} == {"a1", "a3"}
        subjects = sorted(message_from_bytes(m, policy=policy.default)["Subject"] for m in collector.messages)
        assert subjects == ["Renovação de Alfa em 30 dias", "Renovação de Gama em 20 dias"]
        assert {message_from_bytes(m)["To"] for m in collector.messages} == {"ana@x.com"}  # both owned by ana
    finally:
        receiver.close()


def test_playbooks_and_outbox_on_postgres(tmp_path: Path, postgres_server: Any,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The same flow with the serving store on PostgreSQL (SINERGIA_DATABASE_URL): migrations, firings, tasks,
    idempotent messages, claims and retries."""
    from sinergia.playbooks.runner import run_playbooks
    from sinergia.store.models import Task
    from test_playbooks import AS_OF, make_workspace

    url = postgres_server.database()
    monkeypatch.setenv("SINERGIA_DATABASE_URL", url)
    receiver = Receiver(fail_first=1)
    try:
        yaml_text = f"""builtins: [renewal_red_health]
playbooks:
  - id: renewal_hook
    title: {{en: Renewal}}
    trigger: {{kind: renewal, within_days: 30}}
    actions: [{{kind: webhook, url: "{receiver.url}/hook", secret_env: PG_HOOK_SECRET}}]
"""
        ws = make_workspace(tmp_path, yaml_text)
        assert ws.store_url == url
        report = run_playbooks(ws, AS_OF)
        assert sorted((f.playbook_id, f.account_id) for f in report.firings) == [
            ("renewal_hook", "a1"), ("renewal_hook", "a3"), ("renewal_red_health", "a1")]
        assert len(_rows(url, Task)) == 2  # renewal_red_health: the task and its step
        assert run_playbooks(ws, AS_OF).firings == []
        secrets = {"PG_HOOK_SECRET": SECRET}
        t0 = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=1)
        assert len(deliver_due(url, now=t0, secrets=secrets).retrying) == 1
        assert len(deliver_due(url, now=t0 + dt.timedelta(seconds=30), secrets=secrets).delivered) == 1
        assert sorted(receiver.accepted) == ["renewal_hook:a1:2026-06-30:0", "renewal_hook:a3:2026-06-30:0"]
        assert receiver.bad_signatures == 0
    finally:
        receiver.close()
