"""``sinergia recompute``: write what the app reads (snapshots, metric and score history, journey events)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from sinergia.cli._output import Format, console, print_json, print_rows
from sinergia.errors import UsageError


def recompute(
    as_of: Annotated[str, typer.Option("--as-of", help="Compute as of the end of this day (YYYY-MM-DD). Required.")],
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace", "-w", help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current folder."
        ),
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", help="Only these metrics' series (repeatable). Default: all.")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")] = (
        Format.table
    ),
    churn_horizon: Annotated[str, typer.Option(
        "--churn-horizon", help="Snapshot churn risk: the score churn_risk_<this> (else a fallback, see docs/app.md).",
    )] = "90d",
    clv_horizon: Annotated[str, typer.Option(
        "--clv-horizon", help="Snapshot CLV: the score clv_<this> (else a fallback, see docs/app.md).",
    )] = "12m",
    playbooks: Annotated[bool, typer.Option(
        "--playbooks/--no-playbooks",
        help="Then evaluate the playbooks as of the same date (tasks, messages, firings; see docs/playbooks.md).",
    )] = True,
) -> None:
    """Recompute the serving store for one as-of date: account snapshots, 24 months of every metric (overall
    and by segment; CX and support metrics also by their dimensions), score history and the journey timeline
    (tickets with their SLA status).

    Idempotent (re-running replaces that as-of) and atomic (one store transaction); the app keeps serving
    the previous state until it commits. See docs/app.md.

    Example: sinergia recompute --workspace ./acme --as-of 2026-10-31
    """
    import getpass

    from sinergia.serving.recompute import recompute as run
    from sinergia.store.migrate import upgrade_store
    from sinergia.workspace import open_workspace

    try:
        day = dt.date.fromisoformat(as_of)
    except ValueError:
        raise UsageError(f"--as-of must be a date YYYY-MM-DD, not '{as_of}'") from None
    ws = open_workspace(workspace)
    upgrade_store(ws.store_url)
    report = run(ws, day, metrics=metric, actor=f"cli:{getpass.getuser()}", churn_horizon=churn_horizon,
                 clv_horizon=clv_horizon)
    fired = None
    if playbooks:
        from sinergia.playbooks.runner import run_playbooks

        fired = run_playbooks(ws, day, actor=f"recompute:cli:{getpass.getuser()}")
    if fmt is Format.json:
        out = report.as_dict()
        if fired is not None:
            out["playbooks"] = {"counts": fired.summary(), "firings": len(fired.firings), "warnings": fired.warnings}
        print_json(out)
        return
    rows = [{"table": k, "rows": v, "seconds": report.seconds.get(k, 0.0)} for k, v in report.counts.items()]
    print_rows(rows, fmt, title=f"Recomputed as of {day.isoformat()}")
    if fmt is Format.table:
        console.print(f"Written in {report.seconds.get('write', 0.0):.2f} s (one transaction).")
        used = ", ".join(f"{k}: {v or 'none stored'}" for k, v in report.scores.items())
        console.print(f"Snapshot scores from {used}.")
    if fired is not None and fmt is Format.table:
        console.print(f"Playbooks as of {day.isoformat()}: {len(fired.firings)} firings "
                      "('sinergia playbooks run --dry-run' lists them; --no-playbooks skips this step).")
        for warning in fired.warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}")
