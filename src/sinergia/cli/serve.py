"""``sinergia serve``: run the app (REST API and web pages) with uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sinergia.cli._output import console


def serve(
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace", "-w", help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current folder."
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0 for every interface).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    scheduler_seconds: Annotated[float, typer.Option(
        "--scheduler-seconds", min=0,
        help="Every this many seconds run due schedule-triggered playbooks (once a day), escalate feedback cases "
             "and deliver the outbox, in a background thread. 0 = off.")] = 60.0,
) -> None:
    """Serve the app: the REST API under /api/v1 (OpenAPI at /api/v1/openapi.json) and the web pages.

    Reads the serving store written by 'sinergia recompute'; create users with 'sinergia user create'.

    Example: sinergia serve --workspace ./acme --port 8000
    """
    import uvicorn

    from sinergia.api import create_app

    app = create_app(workspace)
    app.state.scheduler_seconds = scheduler_seconds
    console.print(f"Sinergia on http://{host}:{port}/  (API: http://{host}:{port}/api/v1/docs)")
    uvicorn.run(app, host=host, port=port, log_level=log_level)
