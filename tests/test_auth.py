"""Auth core: password hashes, tokens, sessions, CSRF, the login rate limit and the permission matrix."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from sinergia.auth import core
from sinergia.auth.permissions import MATRIX, PERMISSIONS, has_permission, matrix_markdown, roles_with
from sinergia.errors import UsageError
from sinergia.store.db import dispose_engine, transaction
from sinergia.store.migrate import upgrade_store
from sinergia.store.models import ROLES, ApiToken, AuditEntry, LoginAttempt


@pytest.fixture
def url(tmp_path: Path) -> str:
    store = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade_store(store)
    yield store
    dispose_engine(store)


def test_password_hash_is_argon2id_and_verifies(url: str) -> None:
    with transaction(url) as s:
        user = core.create_user(s, " Ana@Example.COM ", "csm", password="correct horse", actor="test")
        assert user.email == "ana@example.com"
        assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
        assert "correct horse" not in user.password_hash
        assert core.verify_password(user.password_hash, "correct horse")
        assert not core.verify_password(user.password_hash, "wrong horse")
        assert not core.verify_password(None, "anything")
    with transaction(url) as s:
        audit = s.scalars(select(AuditEntry)).all()
        assert [(a.action, a.target, a.actor) for a in audit] == [("user.create", "user:ana@example.com", "test")]


def test_user_validation(url: str) -> None:
    with transaction(url) as s:
        with pytest.raises(UsageError, match="unknown role"):
            core.create_user(s, "a@x.com", "boss")
        with pytest.raises(UsageError, match="not an e-mail"):
            core.create_user(s, "nobody", "csm")
        with pytest.raises(UsageError, match="too short"):
            core.create_user(s, "a@x.com", "csm", password="short")
        core.create_user(s, "a@x.com", "csm")
        with pytest.raises(UsageError, match="already exists"):
            core.create_user(s, "A@x.com", "viewer")


def test_rate_limit_counts_failures_per_email_and_ip_within_the_window(url: str) -> None:
    t0 = dt.datetime(2026, 11, 1, 12, 0, 0)
    with transaction(url) as s:
        core.create_user(s, "ana@x.com", "csm", password="right-password")
    for i in range(core.MAX_FAILURES):  # 5 failures, one a minute: 12:00 … 12:04
        with transaction(url) as s, pytest.raises(core.AuthenticationError):
            core.authenticate(s, "ana@x.com", "wrong", "10.0.0.1", now=t0 + dt.timedelta(minutes=i))
    # the 6th try, even with the right password, is refused; the oldest failure (12:00) leaves the
    # 15-minute window at 12:15, so at 12:05 the wait is 10 minutes = 600 s (+1 s rounding up)
    with transaction(url) as s, pytest.raises(core.RateLimited) as refused:
        core.authenticate(s, "ana@x.com", "right-password", "10.0.0.1", now=t0 + dt.timedelta(minutes=5))
    assert refused.value.retry_after == 601
    # another address is not limited; the limit is per e-mail AND ip
    with transaction(url) as s:
        assert core.authenticate(s, "ana@x.com", "right-password", "10.0.0.2", now=t0 + dt.timedelta(minutes=5))
    # at 12:15:01 only 4 failures (12:01-12:04) are in the window: allowed again
    with transaction(url) as s:
        user = core.authenticate(
            s, "ana@x.com", "right-password", "10.0.0.1", now=t0 + dt.timedelta(minutes=15, seconds=1)
        )
        assert user.email == "ana@x.com"
    # a success resets the count: 4 new failures are still under the limit
    for i in range(core.MAX_FAILURES - 1):
        with transaction(url) as s, pytest.raises(core.AuthenticationError) as failed:
            core.authenticate(s, "ana@x.com", "wrong", "10.0.0.1", now=t0 + dt.timedelta(minutes=16 + i))
        assert not isinstance(failed.value, core.RateLimited)
    with transaction(url) as s:
        assert s.scalar(select(LoginAttempt).where(LoginAttempt.success.is_(True)).limit(1)) is not None


def test_unknown_email_and_wrong_password_fail_alike(url: str) -> None:
    with transaction(url) as s:
        core.create_user(s, "ana@x.com", "csm", password="right-password")
    messages = []
    for email in ("ana@x.com", "ghost@x.com"):
        with transaction(url) as s, pytest.raises(core.AuthenticationError) as failed:
            core.authenticate(s, email, "nope-nope", "1.1.1.1")
        messages.append(str(failed.value))
    assert messages[0] == messages[1] == "wrong e-mail or password"


def test_tokens_are_stored_hashed_and_can_be_revoked(url: str) -> None:
    with transaction(url) as s:
        user = core.create_user(s, "bot@x.com", "viewer")
        issued = core.issue_token(s, user, "sync")
        secret = issued.secret
    assert secret.startswith("sng_") and len(secret) > 40
    with transaction(url) as s:
        row = s.scalars(select(ApiToken)).one()
        assert row.token_hash == core.sha256(secret) and secret not in row.token_hash
        assert row.prefix == secret[:12]
        assert core.user_for_token(s, secret) is not None
        assert row.last_used_at is not None
        assert core.user_for_token(s, secret + "x") is None
        assert core.user_for_token(s, "not-a-token") is None
        core.revoke_token(s, row, actor="test")
    with transaction(url) as s:
        assert core.user_for_token(s, secret) is None


def test_sessions_expire_and_csrf_is_checked(url: str) -> None:
    t0 = dt.datetime(2026, 11, 1, 8, 0)
    with transaction(url) as s:
        user = core.create_user(s, "ana@x.com", "csm", password="right-password")
        opened = core.open_session(s, user, "1.2.3.4", now=t0)
        cookie, csrf = opened.cookie, opened.row.csrf_token
    with transaction(url) as s:
        found = core.session_user(s, cookie, now=t0 + dt.timedelta(hours=11))
        assert found is not None and found[0].email == "ana@x.com"
        assert core.check_csrf(found[1], csrf)
        assert not core.check_csrf(found[1], csrf[:-1] + "x")
        assert not core.check_csrf(found[1], None)
        assert core.session_user(s, cookie, now=t0 + core.SESSION_LIFETIME) is None  # expired
        assert core.session_user(s, "forged", now=t0) is None
        core.close_session(s, cookie)
    with transaction(url) as s:
        assert core.session_user(s, cookie, now=t0) is None


def test_inactive_users_cannot_log_in_or_use_tokens(url: str) -> None:
    with transaction(url) as s:
        user = core.create_user(s, "ana@x.com", "csm", password="right-password")
        secret = core.issue_token(s, user, "t").secret
        core.update_user(s, user, actor="admin", active=False)
    with transaction(url) as s:
        assert core.user_for_token(s, secret) is None
        with pytest.raises(core.AuthenticationError):
            core.authenticate(s, "ana@x.com", "right-password", "1.1.1.1")


def test_permission_matrix() -> None:
    assert set(MATRIX) == set(ROLES)
    assert MATRIX["admin"] == frozenset(PERMISSIONS)
    # viewers only read
    assert all(p.endswith(":read") for p in MATRIX["viewer"])
    assert roles_with("users:admin") == ["admin"]
    assert roles_with("ingest:write") == ["admin"]
    assert roles_with("tasks:write") == ["admin", "manager", "csm", "support"]
    assert roles_with("audit:read") == ["admin", "manager"]
    assert not has_permission("nobody", "accounts:read")
    with pytest.raises(ValueError, match="unknown permission"):
        has_permission("admin", "accounts:delete")
    table = matrix_markdown()
    assert table.count("\n") == len(PERMISSIONS) + 1


def test_docs_show_the_permission_matrix() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "app.md"
    assert matrix_markdown() in docs.read_text(encoding="utf-8")
