"""The durable outbox: e-mails, signed webhooks and Slack messages, delivered with retries and exactly-once intent.

* :func:`enqueue` adds a message inside the caller's transaction (so a firing and its messages commit together).
  The **idempotency key** is unique: enqueuing the same key again returns the existing message, never a second one.
* :func:`deliver_due` claims due messages (``status`` pending and ``next_attempt_at`` ≤ now) by setting
  ``status = sending`` with a lease (``locked_until``) in its own short transaction, so two workers never send the
  same message; then sends each one and records the attempt (``outbox_attempts``: ok, HTTP status, error, time).
  Success → ``delivered``. Failure → ``pending`` again with ``next_attempt_at = now + min(backoff × 2^(attempt−1),
  max_backoff)``; after ``max_attempts`` tries → ``dead`` (visible with :func:`failures`). A lease that expired
  (a worker killed mid-send) makes the message due again.
* Webhooks follow **Standard Webhooks** v1: headers ``webhook-id`` (the message's idempotency key, the same on every
  retry so receivers can de-duplicate), ``webhook-timestamp`` (Unix seconds at send time) and
  ``webhook-signature`` = ``v1,`` + base64(HMAC-SHA256(key, ``{id}.{timestamp}.{body}``)) where the key is the
  base64-decoded part of a ``whsec_…`` secret read from the environment variable the action names (the secret
  itself is never stored). Slack-compatible messages are a JSON ``{"text": …}`` POST. E-mail goes over SMTP.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from sinergia.errors import ConfigError, UsageError
from sinergia.playbooks.config import DeliverySettings, SmtpSettings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sinergia.store.playbook_models import OutboxMessage

KINDS = ("email", "webhook", "slack")
LEASE_SECONDS = 300


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# -- Standard Webhooks ------------------------------------------------------------------------------------
def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional, as the spec's libraries accept)."""
    raw = secret.strip().removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        raise ConfigError("a webhook secret must be 'whsec_' followed by base64 (e.g. whsec_MfKQ9r8GKYqrTwjUPD8ILP"
                          "ZIo2LaLaSw)") from None


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, tolerance_seconds: int = 300,
           now: float | None = None) -> bool:
    """Check a Standard Webhooks request (any of the space-separated ``v1`` signatures; timestamp tolerance)."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        message_id, timestamp = lower["webhook-id"], int(lower["webhook-timestamp"])
        signatures = lower["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, message_id, timestamp, body).split(",", 1)[1]
    return any(s.startswith("v1,") and hmac.compare_digest(s.split(",", 1)[1], expected) for s in signatures)


# -- enqueue ----------------------------------------------------------------------------------------------
def enqueue(session: Session, *, key: str, kind: str, target: str, payload: dict[str, Any],
            firing_id: int | None = None, settings: DeliverySettings | None = None) -> OutboxMessage:
    """Add a message (or return the one already stored under ``key``). The caller commits."""
    from sqlalchemy import select

    from sinergia.store.playbook_models import OutboxMessage

    if kind not in KINDS:
        raise UsageError(f"outbox kind '{kind}' is not one of {', '.join(KINDS)}")
    if not key or len(key) > 300:
        raise UsageError("an outbox message needs an idempotency key of 1-300 characters")
    existing = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
    if existing is not None:
        return existing
    config = settings or DeliverySettings()
    now = _now()
    message = OutboxMessage(idempotency_key=key, kind=kind, target=target, payload=payload, status="pending",
                            attempts=0, max_attempts=config.max_attempts, backoff_seconds=config.backoff_seconds,
                            max_backoff_seconds=config.max_backoff_seconds, next_attempt_at=now, created_at=now,
                            firing_id=firing_id)
    session.add(message)
    session.flush()
    return message


# -- delivery ---------------------------------------------------------------------------------------------
class DeliveryFailed(Exception):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass
class DeliveryReport:
    delivered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"delivered": len(self.delivered), "retrying": len(self.retrying), "dead": len(self.dead),
                "errors": {str(k): v for k, v in self.errors.items()}}


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "sinergia-outbox",
                                              **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as error:
        raise DeliveryFailed(f"HTTP {error.code} from {url}", error.code) from None
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise DeliveryFailed(f"cannot reach {url}: {getattr(error, 'reason', error)}") from None
    if not 200 <= status < 300:
        raise DeliveryFailed(f"HTTP {status} from {url}", status)
    return status


def _send_email(message: OutboxMessage, smtp: SmtpSettings) -> None:
    email = EmailMessage()
    email["From"] = smtp.sender
    email["To"] = message.target
    email["Subject"] = str(message.payload.get("subject", ""))
    email["Message-ID"] = f"<{hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:32]}@sinergia>"
    email.set_content(str(message.payload.get("body", "")))
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.username_env:
                client.login(os.environ.get(smtp.username_env, ""), os.environ.get(smtp.password_env or "", ""))
            client.send_message(email)
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(f"SMTP {smtp.host}:{smtp.port}: {error}") from None


def _secret(name: str, secrets: Mapping[str, str] | None) -> str:
    value = (secrets or {}).get(name) or os.environ.get(name)
    if not value:
        raise DeliveryFailed(f"webhook secret variable {name} is not set")
    return value


def _send(message: OutboxMessage, settings: DeliverySettings, secrets: Mapping[str, str] | None) -> int | None:
    if message.kind == "email":
        _send_email(message, settings.smtp)
        return None
    body = json.dumps(message.payload.get("body", {}), ensure_ascii=False, sort_keys=True).encode()
    headers: dict[str, str] = {}
    if message.kind == "webhook":
        timestamp = int(time.time())
        try:
            signature = sign(_secret(str(message.payload.get("secret_env", "")), secrets),
                             message.idempotency_key, timestamp, body)
        except ConfigError as error:
            raise DeliveryFailed(str(error)) from None
        headers = {"webhook-id": message.idempotency_key, "webhook-timestamp": str(timestamp),
                   "webhook-signature": signature}
    return _post(message.target, body, headers, settings.http_timeout_seconds)


def backoff(message: OutboxMessage) -> float:
    """Seconds before the next try after ``message.attempts`` failed tries: base × 2^(attempts−1), capped."""
    return float(min(message.backoff_seconds * 2 ** max(message.attempts - 1, 0), message.max_backoff_seconds))


def deliver_due(store_url: str, *, settings: DeliverySettings | None = None, now: dt.datetime | None = None,
                secrets: Mapping[str, str] | None = None, limit: int = 100) -> DeliveryReport:
    """Send every due message once (at most ``limit``); record each attempt; schedule retries or give up."""
    from sqlalchemy import or_, select, update
    from sqlalchemy.orm import Session

    from sinergia.store.db import make_engine
    from sinergia.store.playbook_models import OutboxAttempt, OutboxMessage

    config = settings or DeliverySettings()
    report = DeliveryReport()
    engine = make_engine(store_url)
    try:
        clock = now or _now()
        with Session(engine) as session, session.begin():
            due = select(OutboxMessage.id).where(
                or_(OutboxMessage.status == "pending",
                    (OutboxMessage.status == "sending") & (OutboxMessage.locked_until < clock)),
                OutboxMessage.next_attempt_at <= clock).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            ids = list(session.scalars(due.limit(limit)))
            claimed = []
            for message_id in ids:  # claim one by one: a concurrent worker's claim makes rowcount 0
                result = session.execute(update(OutboxMessage).where(
                    OutboxMessage.id == message_id,
                    or_(OutboxMessage.status == "pending",
                        (OutboxMessage.status == "sending") & (OutboxMessage.locked_until < clock)),
                ).values(status="sending", locked_until=clock + dt.timedelta(seconds=LEASE_SECONDS)))
                if getattr(result, "rowcount", 0) == 1:
                    claimed.append(message_id)
        for message_id in claimed:
            with Session(engine) as session, session.begin():
                message = session.get(OutboxMessage, message_id)
                if message is None:
                    continue
                started = time.perf_counter()
                status_code: int | None = None
                error: str | None = None
                try:
                    status_code = _send(message, config, secrets)
                except DeliveryFailed as failure:
                    error, status_code = str(failure), failure.status_code
                message.attempts += 1
                finished = now or _now()
                session.add(OutboxAttempt(message_id=message.id, attempt=message.attempts, at=finished,
                                          ok=error is None, status_code=status_code, error=error,
                                          duration_ms=round((time.perf_counter() - started) * 1000, 1)))
                message.locked_until = None
                if error is None:
                    message.status, message.delivered_at, message.last_error = "delivered", finished, None
                    report.delivered.append(message.id)
                    continue
                message.last_error = error
                report.errors[message.id] = error
                if message.attempts >= message.max_attempts:
                    message.status = "dead"
                    report.dead.append(message.id)
                else:
                    message.status = "pending"
                    message.next_attempt_at = finished + dt.timedelta(seconds=backoff(message))
                    report.retrying.append(message.id)
    finally:
        engine.dispose()
    return report


def failures(store_url: str, *, include_retrying: bool = True, limit: int = 100) -> list[dict[str, Any]]:
    """Messages that failed: dead ones, and (by default) those waiting for a retry, newest error first."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from sinergia.store.db import make_engine
    from sinergia.store.playbook_models import OutboxMessage

    engine = make_engine(store_url)
    try:
        with Session(engine) as session:
            query = select(OutboxMessage).where(OutboxMessage.last_error.is_not(None))
            if not include_retrying:
                query = query.where(OutboxMessage.status == "dead")
            rows = session.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit))
            return [{"id": m.id, "key": m.idempotency_key, "kind": m.kind, "target": m.target, "status": m.status,
                     "attempts": m.attempts, "max_attempts": m.max_attempts, "last_error": m.last_error,
                     "next_attempt_at": m.next_attempt_at.isoformat() if m.status == "pending" else None}
                    for m in rows]
    finally:
        engine.dispose()


RETRYABLE = ("dead", "pending")


def requeue(session: Session, message_id: int, *, now: dt.datetime | None = None) -> OutboxMessage:
    """Make a failed message due now (the "retry now" of the app). The caller commits.

    A ``dead`` message goes back to ``pending`` with one more try allowed (``max_attempts`` becomes
    ``attempts + 1`` if it was used up), so a new failure makes it dead again; a message waiting for a retry
    (``pending`` with an error) is just made due now. Delivered or sending messages, and pending ones that have not
    failed, are refused.
    """
    from sinergia.store.playbook_models import OutboxMessage

    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise UsageError(f"no outbox message with id {message_id}")
    if message.status not in RETRYABLE or message.last_error is None:
        raise UsageError(f"outbox message {message_id} is {message.status} and has not failed: nothing to retry")
    message.status = "pending"
    message.max_attempts = max(message.max_attempts, message.attempts + 1)
    message.next_attempt_at = now or _now()
    message.locked_until = None
    session.flush()
    return message
