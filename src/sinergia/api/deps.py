"""Request dependencies: the store session, the authenticated user and the permission a route needs.

Credentials, in this order: ``Authorization: Bearer <api token>``, then the session cookie
(:data:`SESSION_COOKIE`). A cookie-authenticated request that changes something (POST, PUT, PATCH,
DELETE) must also carry the session's CSRF token, in the ``X-CSRF-Token`` header or a ``csrf_token``
form field. Bearer requests need no CSRF token (browsers never attach them on their own).

Every route except the public ones declares ``dependencies=[Depends(Permission("area:action"))]``;
the route-enumeration test relies on that.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sinergia.auth.core import SESSION_LIFETIME, check_csrf, require, session_user, user_for_token
from sinergia.auth.permissions import PERMISSIONS
from sinergia.store.db import session_factory
from sinergia.store.models import User, WebSession

from .errors import CsrfError, NotAuthenticated

SESSION_COOKIE = "sinergia_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user, and the web session when they came with the cookie."""

    user: User
    web_session: WebSession | None
    via: str  # "token" or "session"

    @property
    def actor(self) -> str:
        return f"{self.via}:{self.user.email}"


def store_url(request: Request) -> str:
    return str(request.app.state.store_url)


def db(request: Request) -> Iterator[Session]:
    """A store session for one request (endpoints commit what they change)."""
    with session_factory(store_url(request))() as session:
        yield session


def _resolve(url: str, bearer: str | None, cookie: str | None) -> Principal | None:
    with session_factory(url)() as session:
        if bearer:
            user = user_for_token(session, bearer)
            session.commit()  # last_used_at
            return Principal(user, None, "token") if user is not None else None
        if cookie:
            found = session_user(session, cookie)
            if found is not None:
                return Principal(found[0], found[1], "session")
    return None


async def authenticated(request: Request) -> Principal:
    """The calling user; 401 without valid credentials, 403 on a cookie change without the CSRF token."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    header = request.headers.get("authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
    if header and bearer is None:
        raise NotAuthenticated("unsupported Authorization scheme; use 'Bearer <token>'")
    cookie = request.cookies.get(SESSION_COOKIE)
    principal = await run_in_threadpool(_resolve, store_url(request), bearer, cookie)
    if principal is None:
        raise NotAuthenticated("authentication required: send 'Authorization: Bearer <token>' or log in")
    if principal.web_session is not None and request.method in UNSAFE_METHODS:
        token = request.headers.get(CSRF_HEADER)
        content_type = request.headers.get("content-type", "")
        if token is None and content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            token = value if isinstance(value, str) else None
        if not check_csrf(principal.web_session, token):
            raise CsrfError("missing or wrong CSRF token for this session")
    request.state.principal = principal
    return principal


class Permission:
    """A route dependency: the caller must be authenticated and hold ``permission`` (see the matrix)."""

    def __init__(self, permission: str) -> None:
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission '{permission}'")
        self.permission = permission

    async def __call__(self, principal: Principal = Depends(authenticated)) -> Principal:  # noqa: B008
        require(principal.user, self.permission)
        return principal

    def __repr__(self) -> str:
        return f"Permission({self.permission!r})"


def set_session_cookie(response: Response, cookie: str, *, secure: bool) -> None:
    """Put a session id (from :func:`sinergia.auth.core.open_session`) in the HttpOnly, SameSite=Lax cookie."""
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def client_ip(request: Request) -> str:
    """The peer address (no proxy headers are trusted)."""
    return request.client.host if request.client is not None else ""
