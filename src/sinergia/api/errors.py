"""One error envelope for every error: ``{"error": {"code", "message", "details"}}``.

``code`` is a stable machine word (``not_found``, ``validation_error``, ``unauthenticated``, ``forbidden``,
``rate_limited``, ``method_not_allowed``, ``payload_too_large``, ``bad_request``, ``conflict``,
``workspace_busy``, ``internal_error`` …); ``message`` is one human line; ``details`` is a list or object.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sinergia.auth.core import AuthenticationError, PermissionDenied, RateLimited
from sinergia.errors import ConfigError, InputError, SinergiaError, UsageError, WorkspaceError
from sinergia.store.repo import NotFound as NotFoundError

log = logging.getLogger("sinergia.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "workspace_busy",
}


class ConflictError(UsageError):
    """The change conflicts with the current state (e.g. a duplicate)."""


class CsrfError(PermissionDenied):
    """A cookie-authenticated change came without the session's CSRF token."""


class NotAuthenticated(AuthenticationError):
    """No credentials were sent (or they are not valid)."""


def envelope(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response:
    body = {"error": {"code": code, "message": message, "details": jsonable_encoder(details) if details else []}}
    return JSONResponse(body, status_code=status, headers=headers)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def respond(request: Request, status: int, code: str, message: str, details: Any = None,
            headers: dict[str, str] | None = None) -> Response:
    """The JSON envelope; for a web page (:func:`_wants_html`) the HTML page ``app.state.html_error_page``
    renders when the web app set one (``sinergia.web.mount``)."""
    page = getattr(request.app.state, "html_error_page", None)
    if page is not None and _wants_html(request):
        response: Response = page(request, status, code, message, headers)
        return response
    return envelope(status, code, message, details, headers)


def status_for(error: SinergiaError) -> tuple[int, str]:
    if isinstance(error, RateLimited):
        return 429, "rate_limited"
    if isinstance(error, CsrfError):
        return 403, "csrf_failed"
    if isinstance(error, AuthenticationError):
        return 401, "unauthenticated"
    if isinstance(error, PermissionDenied):
        return 403, "forbidden"
    if isinstance(error, NotFoundError):
        return 404, "not_found"
    if isinstance(error, ConflictError):
        return 409, "conflict"
    if isinstance(error, WorkspaceError):
        return 503, "workspace_busy"
    if isinstance(error, (InputError, ConfigError)):
        return 422, "invalid_input"
    if isinstance(error, UsageError):
        return 400, "bad_request"
    return 500, "internal_error"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SinergiaError)
    async def _sinergia(request: Request, error: SinergiaError) -> Response:
        status, code = status_for(error)
        if status == 401 and _wants_html(request):
            login = getattr(request.app.state, "login_path", "/login")
            return RedirectResponse(f"{login}?next={request.url.path}", status_code=303)
        headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
        if status == 401 and headers is None:
            headers = {"WWW-Authenticate": "Bearer"}
        return respond(request, status, code, str(error), headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(error.status_code, "http_error")
        message = str(error.detail) if error.detail else code.replace("_", " ")
        if error.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        if error.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return respond(request, error.status_code, code, message, headers=getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> Response:
        details: list[dict[str, Any]] = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in error.errors()
        ]
        if not details:
            return respond(request, 422, "validation_error", "invalid request")
        where = ".".join(str(p) for p in details[0]["loc"])
        message = str(details[0]["msg"])
        return respond(request, 422, "validation_error", f"{where}: {message}" if where else message, details)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return respond(request, 500, "internal_error", f"unexpected error ({type(error).__name__}); see the server log")
