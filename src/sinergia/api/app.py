"""The FastAPI app factory: ``create_app(workspace)`` gives the REST API under ``/api/v1`` and, when the web
package provides ``sinergia.web.mount(app)``, the web pages on the same app.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from sinergia.store.migrate import upgrade_store
from sinergia.workspace import Workspace, open_workspace

from .errors import envelope, install_error_handlers

API_PREFIX = "/api/v1"
#: Requests larger than this are refused with 413 before the body is read.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: Paths anyone may call without credentials (exact paths).
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/health", f"{API_PREFIX}/auth/login", f"{API_PREFIX}/openapi.json"})

log = logging.getLogger("sinergia.api")


class _BodyLimit(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length is not None:
            try:
                too_big = int(length) > MAX_BODY_BYTES
            except ValueError:
                return envelope(400, "bad_request", "Content-Length is not a number")
            if too_big:
                return envelope(
                    413,
                    "payload_too_large",
                    f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB; send smaller batches",
                )
        return await call_next(request)


def create_app(
    workspace: Workspace | Path | str | None = None,
    *,
    store_url: str | None = None,
    migrate: bool = True,
    mount_web: bool = True,
) -> FastAPI:
    """The app for one workspace. ``store_url`` overrides the workspace's serving store (tests, PostgreSQL).

    The store is migrated to the newest schema first (idempotent). With ``mount_web`` the web pages are
    added when ``sinergia.web`` provides ``mount(app)``.
    """
    ws = workspace if isinstance(workspace, Workspace) else open_workspace(workspace)
    url = store_url or ws.store_url
    if migrate:
        upgrade_store(url)
    app = FastAPI(
        title="Sinergia",
        version="1",
        summary="Customer Success, CX and Support in one view.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        swagger_ui_oauth2_redirect_url=f"{API_PREFIX}/docs/oauth2-redirect",
        redoc_url=None,
    )
    app.state.workspace = ws
    app.state.store_url = url
    app.state.login_path = "/login"
    app.state.public_paths = set(PUBLIC_PATHS) | {f"{API_PREFIX}/docs", f"{API_PREFIX}/docs/oauth2-redirect"}
    app.add_middleware(_BodyLimit)
    install_error_handlers(app)

    from .routes import api_router

    app.include_router(api_router, prefix=API_PREFIX)
    if mount_web:
        _mount_web(app)
    return app


def _mount_web(app: FastAPI) -> None:
    try:
        web: Any = importlib.import_module("sinergia.web")
    except ImportError as error:
        log.info("web pages not mounted: %s", error)
        return
    mount = getattr(web, "mount", None)
    if callable(mount):
        mount(app)
