"""Health, login/logout, the current user, users and tokens (admin), the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sinergia.auth import core
from sinergia.auth.permissions import MATRIX
from sinergia.store import repo
from sinergia.store.models import ApiToken, User

from ..deps import Permission, Principal, authenticated, clear_session_cookie, client_ip, db, set_session_cookie
from ..schemas import (
    AuditOut,
    IssuedTokenOut,
    LoginIn,
    MeOut,
    MePatch,
    PageOut,
    RecomputeRunOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPatch,
)

router = APIRouter()
DB = Annotated[Session, Depends(db)]


@router.get("/health", tags=["system"])
def health(session: DB) -> dict[str, object]:
    """Public liveness check: the store answers and the newest recompute date."""
    session.execute(select(func.count()).select_from(User))
    as_of = repo.latest_as_of(session)
    return {"status": "ok", "as_of": as_of.isoformat() if as_of else None}


@router.post("/auth/login", tags=["auth"])
def login(body: LoginIn, request: Request, response: Response, session: DB) -> MeOut:
    """Log in with e-mail and password: sets the session cookie, returns the user and the CSRF token."""
    try:
        user = core.authenticate(session, body.email, body.password, client_ip(request))
    except core.RateLimited:
        raise
    except core.AuthenticationError:
        session.commit()  # keep the failed attempt: it counts toward the rate limit
        raise
    opened = core.open_session(session, user, client_ip(request))
    core.record_audit(session, f"session:{user.email}", "auth.login", f"user:{user.email}", {"ip": client_ip(request)})
    session.commit()
    set_session_cookie(response, opened.cookie, secure=request.url.scheme == "https")
    return MeOut(
        user=UserOut.model_validate(user), permissions=sorted(MATRIX[user.role]), csrf_token=opened.row.csrf_token
    )


@router.post("/auth/logout", tags=["auth"], status_code=204)
def logout(request: Request, principal: Annotated[Principal, Depends(authenticated)], session: DB) -> Response:
    """End the session behind the cookie (a Bearer caller has nothing to end)."""
    response = Response(status_code=204)
    cookie = request.cookies.get("sinergia_session")
    if cookie:
        core.close_session(session, cookie)
        core.record_audit(session, principal.actor, "auth.logout", f"user:{principal.user.email}", {})
        session.commit()
    clear_session_cookie(response)
    return response


@router.get("/me", tags=["auth"])
def me(principal: Annotated[Principal, Depends(authenticated)]) -> MeOut:
    csrf = principal.web_session.csrf_token if principal.web_session is not None else None
    return MeOut(
        user=UserOut.model_validate(principal.user), permissions=sorted(MATRIX[principal.user.role]), csrf_token=csrf
    )


@router.patch("/me", tags=["auth"])
def update_me(body: MePatch, principal: Annotated[Principal, Depends(authenticated)], session: DB) -> UserOut:
    """Change your own language or display name."""
    user = session.get(User, principal.user.id)
    assert user is not None
    core.update_user(session, user, actor=principal.actor, locale=body.locale, name=body.name)
    session.commit()
    return UserOut.model_validate(user)


@router.get("/me/tokens", tags=["auth"])
def my_tokens(principal: Annotated[Principal, Depends(authenticated)], session: DB) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in core.list_tokens(session, principal.user)]


@router.post("/me/tokens", tags=["auth"], status_code=201)
def new_token(body: TokenIn, principal: Annotated[Principal, Depends(authenticated)], session: DB) -> IssuedTokenOut:
    """Issue an API token for yourself; the secret is in this answer only."""
    issued = core.issue_token(session, principal.user, body.name, actor=principal.actor)
    session.commit()
    return IssuedTokenOut(token=issued.secret, info=TokenOut.model_validate(issued.token))


@router.delete("/me/tokens/{token_id}", tags=["auth"], status_code=204)
def revoke_my_token(token_id: int, principal: Annotated[Principal, Depends(authenticated)], session: DB) -> Response:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != principal.user.id:
        raise repo.NotFound(f"no token {token_id} of yours")
    core.revoke_token(session, token, actor=principal.actor)
    session.commit()
    return Response(status_code=204)


@router.get("/users", tags=["users"], dependencies=[Depends(Permission("users:admin"))])
def users(session: DB) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in core.list_users(session)]


@router.post("/users", tags=["users"], status_code=201)
def create_user(
    body: UserIn, principal: Annotated[Principal, Depends(Permission("users:admin"))], session: DB
) -> UserOut:
    user = core.create_user(
        session,
        body.email,
        body.role,
        name=body.name,
        password=body.password,
        locale=body.locale,
        actor=principal.actor,
    )
    session.commit()
    return UserOut.model_validate(user)


@router.patch("/users/{user_id}", tags=["users"])
def update_user(
    user_id: int, body: UserPatch, principal: Annotated[Principal, Depends(Permission("users:admin"))], session: DB
) -> UserOut:
    user = session.get(User, user_id)
    if user is None:
        raise repo.NotFound(f"no user with id {user_id}")
    core.update_user(
        session, user, actor=principal.actor, role=body.role, name=body.name, locale=body.locale, active=body.active
    )
    session.commit()
    return UserOut.model_validate(user)


@router.get("/audit", tags=["system"], dependencies=[Depends(Permission("audit:read"))])
def audit_log(
    session: DB,
    action: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PageOut[AuditOut]:
    page = repo.list_audit(session, limit=limit, offset=offset, action=action)
    return PageOut[AuditOut](
        items=[AuditOut.model_validate(a) for a in page.items], total=page.total, limit=page.limit, offset=page.offset
    )


@router.get("/recomputes", tags=["system"], dependencies=[Depends(Permission("metrics:read"))])
def recomputes(session: DB) -> list[RecomputeRunOut]:
    """Every recompute the store holds, newest first."""
    return [RecomputeRunOut.model_validate(r) for r in repo.recompute_runs(session)]
