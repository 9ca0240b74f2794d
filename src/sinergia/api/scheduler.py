"""Start the playbook scheduler (``sinergia.playbooks.scheduler``) with the app's lifespan.

``install_scheduler(app)`` wraps the app's lifespan: on startup, when ``app.state.scheduler_seconds`` (set by
``sinergia serve --scheduler-seconds``) or the environment variable ``SINERGIA_SCHEDULER_SECONDS`` is a
positive number, a :class:`PlaybookScheduler` thread starts (``app.state.scheduler``); it is stopped on shutdown.
Unset or 0 means off — the default for ``create_app``, so tests get no background work unless they enable it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

ENV_VAR = "SINERGIA_SCHEDULER_SECONDS"
log = logging.getLogger("sinergia.api.scheduler")


def scheduler_seconds(app: FastAPI) -> float:
    """The configured interval (app state first, then the environment); 0 = off."""
    value: Any = getattr(app.state, "scheduler_seconds", None)
    if value is None:
        value = os.environ.get(ENV_VAR) or 0
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"scheduler interval must be a number of seconds, not {value!r}") from None
    return max(seconds, 0.0)


def install_scheduler(app: FastAPI) -> None:
    """Wrap the app's lifespan so the scheduler starts and stops with it (when enabled)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        from sinergia.playbooks.scheduler import PlaybookScheduler

        scheduler = None
        seconds = scheduler_seconds(app)
        if seconds > 0:
            scheduler = PlaybookScheduler(app.state.workspace, interval_seconds=seconds,
                                          store_url=str(app.state.store_url))
            scheduler.start()
            log.info("playbook scheduler every %.1f s", seconds)
        app.state.scheduler = scheduler
        try:
            async with inner(application) as state:
                yield state
        finally:
            if scheduler is not None:
                scheduler.stop()

    app.router.lifespan_context = lifespan
