"""The web app: server-rendered pages (Jinja2), pt-BR and en, assets served from installed packages.

``mount(app)`` adds the pages and ``/static`` to the FastAPI app made by ``sinergia.api.create_app``.
"""

from __future__ import annotations

from fastapi import FastAPI

#: Page paths anyone may open without logging in (everything else redirects to /login).
PUBLIC_WEB_PATHS = frozenset({"/", "/login", "/static/{path:path}"})


def mount(app: FastAPI) -> None:
    """Add the web pages and static assets to ``app`` (the API's app factory calls this)."""
    from sinergia.web.assets import router as assets_router
    from sinergia.web.pages import router as pages_router
    from sinergia.web.tasks import router as tasks_router

    app.include_router(assets_router)
    app.include_router(pages_router)
    app.include_router(tasks_router)
    from sinergia.web.outbox import router as outbox_router  # deliveries and feedback cases

    app.include_router(outbox_router)
    from sinergia.web.errors import error_page

    app.state.html_error_page = error_page  # browsers get HTML error pages (sinergia.api.errors)
    public = getattr(app.state, "public_paths", None)
    if isinstance(public, set):
        public.update(PUBLIC_WEB_PATHS)
    else:
        app.state.public_paths = set(PUBLIC_WEB_PATHS)


__all__ = ["PUBLIC_WEB_PATHS", "mount"]
