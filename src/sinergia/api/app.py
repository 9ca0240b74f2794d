"""The FastAPI app factory: ``create_app(workspace)`` gives the REST API under ``/api/v1`` and, when the web
package provides ``sinergia.web.mount(app)``, the web pages on the same app.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sinergia.store.migrate import upgrade_store
from sinergia.workspace import Workspace, open_workspace

from .errors import envelope, install_error_handlers

API_PREFIX = "/api/v1"
#: Requests larger than this are refused with 413 before the body is read.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: Paths anyone may call without credentials (exact paths).
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/health", f"{API_PREFIX}/auth/login", f"{API_PREFIX}/openapi.json"})

log = logging.getLogger("sinergia.api")


class _BodyLimit:
    """Refuse bodies over the limit: by ``Content-Length`` before reading; a chunked body (no length) is
    read up to the limit and refused as soon as it passes it, so a huge body is never read whole."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB; send smaller batches"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > MAX_BODY_BYTES
                except ValueError:
                    await envelope(400, "bad_request", "Content-Length is not a number")(scope, receive, send)
                    return
                if too_big:
                    await envelope(413, "payload_too_large", message)(scope, receive, send)
                    return
                await self.app(scope, receive, send)  # the server delivers at most that many bytes
                return
        # no length (chunked): read up to the limit, then replay what was read to the app
        chunks: list[bytes] = []
        seen = 0
        while True:
            incoming = await receive()
            if incoming["type"] != "http.request":
                await self.app(scope, _replay([], incoming, receive), send)
                return
            body = incoming.get("body", b"")
            seen += len(body)
            if seen > MAX_BODY_BYTES:
                await envelope(413, "payload_too_large", message)(scope, receive, send)
                return
            chunks.append(body)
            if not incoming.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that first gives the buffered body (as one message), then defers to the real one."""
    state = {"sent": False}

    async def replay() -> Message:
        if not state["sent"]:
            state["sent"] = True
            if pending is not None:
                return pending
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        return await receive()

    return replay


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
    from sinergia.surveys.http import mount as mount_surveys

    mount_surveys(app)  # /s/{token} and the survey webhook: public by design (token / signature)
    if mount_web:
        _mount_web(app)
    from .scheduler import install_scheduler

    install_scheduler(app)  # playbook schedules + outbox delivery in the background; off unless enabled
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
