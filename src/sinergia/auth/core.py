"""Authentication without a web framework: users, password hashes, API tokens, sessions, CSRF, rate limit.

- Passwords: argon2id (``argon2-cffi`` defaults), rehashed on login when the parameters change.
- API tokens: ``sng_`` + 32 random bytes (URL-safe base64), shown once; the store keeps the SHA-256 and the
  first 12 characters (``prefix``) so people can tell tokens apart.
- Sessions: server-side rows (``web_sessions``). The cookie carries a random 32-byte id; the row keeps its
  SHA-256, the user, the expiry and the session's CSRF token. Logging out deletes the row, so a stolen
  cookie dies with the session and nothing depends on a server secret.
- CSRF: one random token per session; form posts send it back (hidden field or ``X-CSRF-Token`` header)
  and :func:`check_csrf` compares in constant time.
- Login rate limit: every attempt is a ``login_attempts`` row (so the limit survives restarts and holds
  across workers). After :data:`MAX_FAILURES` failures for the same e-mail and IP within
  :data:`FAILURE_WINDOW` (counted since the last success), further tries are refused until the oldest
  counted failure leaves the window.

Every change (user created, role changed, token issued or revoked) writes the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from sinergia.auth.permissions import has_permission
from sinergia.errors import SinergiaError, UsageError
from sinergia.store.models import LOCALES, ROLES, ApiToken, AuditEntry, LoginAttempt, User, WebSession, utcnow

MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
SESSION_LIFETIME = dt.timedelta(hours=12)
TOKEN_PREFIX = "sng_"
MIN_PASSWORD_LENGTH = 8

_HASHER = PasswordHasher()


class AuthenticationError(SinergiaError):
    """Wrong e-mail or password, an unknown/revoked token, an expired session, an inactive user."""

    exit_code = 2


class PermissionDenied(SinergiaError):
    """The user is known but their role does not hold the permission."""

    exit_code = 2


class RateLimited(AuthenticationError):
    """Too many failed logins for this e-mail and address; ``retry_after`` seconds until the next try."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_audit(session: Session, actor: str, action: str, target: str, details: dict[str, Any]) -> None:
    """Add one audit row in the caller's transaction (it commits or rolls back with the change)."""
    session.add(AuditEntry(at=utcnow(), actor=actor, action=action, target=target, details=details))


# -- passwords -----------------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsageError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- users ---------------------------------------------------------------------------------------------
def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if "@" not in value or value.startswith("@") or value.endswith("@") or len(value) > 320:
        raise UsageError(f"not an e-mail address: '{email}'")
    return value


def get_user(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email.strip().lower())).first()


def create_user(
    session: Session,
    email: str,
    role: str,
    *,
    name: str = "",
    password: str | None = None,
    locale: str = "pt-BR",
    actor: str = "system",
) -> User:
    """Add a user (the caller commits). A user without a password can only use API tokens."""
    address = normalise_email(email)
    if role not in ROLES:
        raise UsageError(f"unknown role '{role}'; roles: {', '.join(ROLES)}")
    if locale not in LOCALES:
        raise UsageError(f"unknown locale '{locale}'; locales: {', '.join(LOCALES)}")
    if get_user(session, address) is not None:
        raise UsageError(f"a user with e-mail {address} already exists")
    user = User(
        email=address,
        name=name or address.split("@")[0],
        role=role,
        password_hash=hash_password(password) if password is not None else None,
        locale=locale,
        active=True,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    record_audit(session, actor, "user.create", f"user:{address}", {"role": role, "locale": locale})
    return user


def update_user(
    session: Session,
    user: User,
    *,
    actor: str,
    role: str | None = None,
    name: str | None = None,
    locale: str | None = None,
    active: bool | None = None,
    password: str | None = None,
) -> User:
    """Change a user's fields (only those given) and audit which ones changed (never the password itself)."""
    changed: dict[str, Any] = {}
    if role is not None and role != user.role:
        if role not in ROLES:
            raise UsageError(f"unknown role '{role}'; roles: {', '.join(ROLES)}")
        changed["role"] = [user.role, role]
        user.role = role
    if locale is not None and locale != user.locale:
        if locale not in LOCALES:
            raise UsageError(f"unknown locale '{locale}'; locales: {', '.join(LOCALES)}")
        changed["locale"] = [user.locale, locale]
        user.locale = locale
    if name is not None and name != user.name:
        changed["name"] = [user.name, name]
        user.name = name
    if active is not None and active != user.active:
        changed["active"] = [user.active, active]
        user.active = active
    if password is not None:
        user.password_hash = hash_password(password)
        changed["password"] = "changed"
    if changed:
        record_audit(session, actor, "user.update", f"user:{user.email}", changed)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def can(user: User, permission: str) -> bool:
    return user.active and has_permission(user.role, permission)


def require(user: User, permission: str) -> None:
    """Raise :class:`PermissionDenied` unless the user's role holds ``permission``."""
    if not can(user, permission):
        raise PermissionDenied(f"role '{user.role}' may not {permission}")


# -- login and rate limit ------------------------------------------------------------------------------
def _failures(session: Session, email: str, ip: str, now: dt.datetime) -> list[dt.datetime]:
    since = now - FAILURE_WINDOW
    last_success = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email, LoginAttempt.ip == ip, LoginAttempt.success.is_(True)
        )
    )
    if last_success is not None and last_success > since:
        since = last_success
    return list(
        session.scalars(
            select(LoginAttempt.at)
            .where(
                LoginAttempt.email == email,
                LoginAttempt.ip == ip,
                LoginAttempt.success.is_(False),
                LoginAttempt.at > since,
            )
            .order_by(LoginAttempt.at)
        )
    )


def check_rate_limit(session: Session, email: str, ip: str, now: dt.datetime | None = None) -> None:
    """Raise :class:`RateLimited` when this e-mail and IP have used up their failed tries."""
    moment = now or utcnow()
    failures = _failures(session, email.strip().lower(), ip, moment)
    if len(failures) >= MAX_FAILURES:
        oldest = failures[-MAX_FAILURES]
        retry = max(1, int((oldest + FAILURE_WINDOW - moment).total_seconds()) + 1)
        raise RateLimited(f"too many failed logins; try again in {retry // 60 + 1} minute(s)", retry_after=retry)


def authenticate(session: Session, email: str, password: str, ip: str, now: dt.datetime | None = None) -> User:
    """Check e-mail and password, recording the attempt (the caller commits, also on failure).

    Raises :class:`RateLimited` before checking anything when the limit is reached, and
    :class:`AuthenticationError` with the same message for an unknown e-mail and a wrong password.
    """
    moment = now or utcnow()
    address = email.strip().lower()
    check_rate_limit(session, address, ip, moment)
    user = get_user(session, address)
    ok = user is not None and user.active and verify_password(user.password_hash, password)
    session.add(LoginAttempt(email=address, ip=ip, at=moment, success=ok))
    if not ok or user is None:
        raise AuthenticationError("wrong e-mail or password")
    if user.password_hash and _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    return user


def prune_login_attempts(session: Session, now: dt.datetime | None = None) -> int:
    """Delete attempts older than the window (they no longer count); returns how many."""
    cutoff = (now or utcnow()) - FAILURE_WINDOW
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


# -- API tokens ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once; never stored


def issue_token(session: Session, user: User, name: str, *, actor: str = "system") -> IssuedToken:
    """A new API token for ``user``; the returned ``secret`` is the only copy of it."""
    if not name.strip():
        raise UsageError("a token needs a name (what it is for)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id, name=name.strip(), prefix=secret[:12], token_hash=sha256(secret), created_at=utcnow()
    )
    session.add(row)
    session.flush()
    record_audit(session, actor, "token.issue", f"user:{user.email}", {"name": row.name, "prefix": row.prefix})
    return IssuedToken(row, secret)


def revoke_token(session: Session, token: ApiToken, *, actor: str) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record_audit(session, actor, "token.revoke", f"token:{token.prefix}", {"name": token.name})


def user_for_token(session: Session, secret: str, *, touch: bool = True) -> User | None:
    """The active user owning the (unrevoked) token, or None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == sha256(secret))).first()
    if row is None or row.revoked_at is not None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if touch:
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
            row.last_used_at = now  # at most one write a minute per token
    return user


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


# -- sessions and CSRF ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenedSession:
    row: WebSession
    cookie: str  # the value to put in the session cookie


def open_session(session: Session, user: User, ip: str = "", now: dt.datetime | None = None) -> OpenedSession:
    moment = now or utcnow()
    cookie = secrets.token_urlsafe(32)
    row = WebSession(
        user_id=user.id,
        token_hash=sha256(cookie),
        csrf_token=secrets.token_urlsafe(32),
        created_at=moment,
        expires_at=moment + SESSION_LIFETIME,
        ip=ip[:64],
    )
    session.add(row)
    session.flush()
    return OpenedSession(row, cookie)


def session_user(session: Session, cookie: str, now: dt.datetime | None = None) -> tuple[User, WebSession] | None:
    """The user and session row behind a session cookie, or None when unknown or expired."""
    if not cookie:
        return None
    row = session.scalars(select(WebSession).where(WebSession.token_hash == sha256(cookie))).first()
    if row is None or row.expires_at <= (now or utcnow()):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return user, row


def close_session(session: Session, cookie: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == sha256(cookie)))


def check_csrf(row: WebSession, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(row.csrf_token.encode(), (token or "").encode())
