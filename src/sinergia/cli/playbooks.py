"""``sinergia playbooks``: validate, list and run the workspace's playbooks; explain a firing; deliver the outbox.

Playbook logic lives in ``sinergia.playbooks`` (config, runner, outbox); see docs/playbooks.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from sinergia.cli._output import Format, console, print_json, print_rows
from sinergia.errors import UsageError

app = typer.Typer(help="Playbooks: triggers, conditions and actions on scores, metrics and events.",
                  no_args_is_help=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current folder.",
                 show_default=False),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]


def _date(text: str | None) -> dt.date:
    if text is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of '{text}' is not a date (YYYY-MM-DD)") from None


@app.command()
def validate(workspace: WorkspaceOpt = None) -> None:
    """Check playbooks.yaml: structure, metric and score names, condition fields, milestones.

    Example: sinergia playbooks validate -w ./acme
    """
    from sinergia.playbooks.config import load_playbooks
    from sinergia.workspace import open_workspace

    ws = open_workspace(workspace)
    found = load_playbooks(ws.path, metric_settings=ws.config.metrics)
    console.print(f"{found.source}: {len(found.playbooks)} playbooks valid")


@app.command("list")
def list_playbooks(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.table) -> None:
    """List the playbooks (built-in and the workspace's) with trigger, conditions and actions."""
    from sinergia.playbooks.config import load_playbooks
    from sinergia.workspace import open_workspace

    ws = open_workspace(workspace)
    found = load_playbooks(ws.path, metric_settings=ws.config.metrics)
    locale = ws.config.locale
    rows = [{"id": p.id, "title": p.title.get(locale) or next(iter(p.title.values())), "enabled": p.enabled,
             "builtin": p.builtin, "trigger": p.trigger.kind, "conditions": len(p.conditions),
             "actions": ", ".join(a.kind for a in p.actions), "cooldown_days": p.cooldown_days}
            for p in found.playbooks]
    print_rows(rows, fmt, title=f"Playbooks ({found.source})")


@app.command()
def run(
    workspace: WorkspaceOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Evaluate as of this date (default: today UTC).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would fire and why; write nothing.")] = False,
    only: Annotated[list[str] | None, typer.Option("--only", help="Only this playbook id. Repeat.")] = None,
    deliver: Annotated[bool, typer.Option("--deliver", help="Deliver due outbox messages after the run.")] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Evaluate every enabled playbook as of a date; create tasks, queue messages, store each firing.

    Re-running the same date changes nothing (one firing per playbook, account and day).

    Example: sinergia playbooks run -w ./acme --as-of 2026-10-31 --dry-run
    """
    from sinergia.playbooks.runner import run_playbooks
    from sinergia.workspace import open_workspace

    ws = open_workspace(workspace)
    report = run_playbooks(ws, _date(as_of), dry_run=dry_run, only=only or ())
    delivered = None
    if deliver and not dry_run:
        from sinergia.playbooks.config import load_playbooks
        from sinergia.playbooks.outbox import deliver_due

        delivered = deliver_due(ws.store_url, settings=load_playbooks(ws.path).delivery).as_dict()
    if fmt is Format.json:
        print_json({"as_of": report.as_of.isoformat(), "dry_run": dry_run, "counts": report.summary(),
                    "warnings": report.warnings, "firings": [f.as_dict() for f in report.firings],
                    "delivery": delivered})
        return
    if fmt is Format.csv:
        print_rows([{k: v for k, v in f.as_dict().items() if k != "inputs"} for f in report.firings], fmt)
        return
    print_rows(report.summary(), fmt, title=f"{'Dry run — nothing written' if dry_run else 'Playbooks run'} "
                                            f"as of {report.as_of}")
    if report.firings:
        print_rows([{"playbook": f.playbook_id, "account": f.account_id, "why": f.reason,
                     "actions": ", ".join(str(a.get("result", a["kind"])) + f" {a['kind']}" for a in f.actions)}
                    for f in report.firings[:200]], fmt, title="Firings" + (" (first 200)"
                                                                            if len(report.firings) > 200 else ""))
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    if delivered is not None:
        console.print(f"Outbox: {delivered}")


@app.command()
def why(
    firing_id: Annotated[int, typer.Argument(help="Firing id (from 'run --format json' or the app).")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Why did this fire? The reason, every input it saw (as-of snapshot) and what its actions did."""
    from sinergia.playbooks.runner import why as explain
    from sinergia.workspace import open_workspace

    print_json(explain(open_workspace(workspace).store_url, firing_id))


@app.command()
def deliver(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Send due outbox messages (e-mail, webhooks, Slack) once; failures are retried later with backoff."""
    from sinergia.playbooks.config import load_playbooks
    from sinergia.playbooks.outbox import deliver_due
    from sinergia.store.migrate import upgrade_store
    from sinergia.workspace import open_workspace

    ws = open_workspace(workspace)
    upgrade_store(ws.store_url)
    report = deliver_due(ws.store_url, settings=load_playbooks(ws.path).delivery)
    if fmt is Format.json:
        print_json(report.as_dict())
        return
    print_rows([{k: v for k, v in report.as_dict().items() if k != "errors"}], fmt, title="Outbox delivery")
    for message_id, error in report.errors.items():
        console.print(f"[yellow]message {message_id}:[/yellow] {error}")


@app.command()
def failures(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Outbox messages that failed: waiting for a retry, or dead after the last attempt."""
    from sinergia.playbooks.outbox import failures as list_failures
    from sinergia.store.migrate import upgrade_store
    from sinergia.workspace import open_workspace

    ws = open_workspace(workspace)
    upgrade_store(ws.store_url)
    rows = list_failures(ws.store_url)
    if not rows and fmt is Format.table:
        console.print("No failed deliveries.")
        return
    print_rows(rows, fmt, title="Outbox failures")


@app.command()
def cases(
    workspace: WorkspaceOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Open cases for answers up to this date.")] = None,
    status: Annotated[str | None, typer.Option(help="Only cases with this status: open, escalated, closed.")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Closed loop: open a case for each low NPS/CSAT answer (48 h SLA), escalate by age, list the cases.

    Example: sinergia playbooks cases -w ./acme --as-of 2026-10-31
    """
    from sinergia.playbooks.closed_loop import escalate_cases, list_cases, open_cases
    from sinergia.playbooks.config import load_playbooks
    from sinergia.workspace import open_workspace

    ws = open_workspace(workspace)
    settings = load_playbooks(ws.path, metric_settings=ws.config.metrics).closed_loop
    opened = open_cases(ws, _date(as_of), settings=settings)
    escalated = escalate_cases(ws.store_url, settings=settings)
    rows = list_cases(ws.store_url, status=status)
    if fmt is Format.json:
        print_json({"opened": opened, "escalated": escalated, "cases": rows})
        return
    console.print(f"Opened {len(opened)} case(s); escalated {len(escalated)}.")
    print_rows(rows, fmt, title="Feedback cases")


@app.command("close-case")
def close_case_cmd(
    case_id: Annotated[int, typer.Argument(help="Case id.")],
    root_cause: Annotated[str, typer.Option("--root-cause", help="What caused the low score (required).")],
    action: Annotated[str, typer.Option("--action", help="What was done.")],
    workspace: WorkspaceOpt = None,
    follow_up: Annotated[bool, typer.Option("--follow-up", help="Queue a follow-up survey e-mail.")] = False,
) -> None:
    """Close a feedback case; a root cause is required."""
    import getpass

    from sinergia.playbooks.closed_loop import close_case
    from sinergia.playbooks.config import load_playbooks
    from sinergia.workspace import open_workspace

    ws = open_workspace(workspace)
    settings = load_playbooks(ws.path, metric_settings=ws.config.metrics).closed_loop
    print_json(close_case(ws.store_url, case_id, root_cause=root_cause, action=action,
                          actor=f"cli:{getpass.getuser()}", follow_up=follow_up, locale=ws.config.locale,
                          settings=settings))


@app.command("loop-metrics")
def loop_metrics_cmd(
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD) of the cases' opening.")],
    end: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD), inclusive.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Loop closure rate, time to close and SLA attainment of the cases opened in a date range."""
    from sinergia.playbooks.closed_loop import loop_metrics
    from sinergia.workspace import open_workspace

    print_json(loop_metrics(open_workspace(workspace).store_url, _date(start), _date(end)))


@app.command()
def effect(
    playbook: Annotated[str, typer.Option("--playbook", "-p", help="Playbook id (with a 'holdout' share).")],
    workspace: WorkspaceOpt = None,
    horizon: Annotated[int, typer.Option("--horizon", min=1, help="Days after the first firing to look at.")] = 90,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Last day with data (default: today UTC); firings whose horizon ends later are left out.")
    ] = None,
    min_group: Annotated[int, typer.Option("--min-group", min=1,
                                           help="Refuse with fewer observable accounts in either group.")] = 10,
    fmt: FormatOpt = Format.table,
) -> None:
    """Does the play work? Churn and expansion of treated vs held-out accounts after their first firing.

    Churned: paying when fired, MRR 0 at fired + horizon. Expanded: a higher MRR then. The difference
    (treated − held out) has a 95 % Newcombe hybrid score interval (from Wilson intervals). Needs
    'holdout: 0.1' (or another share) on the playbook in playbooks.yaml; see docs/playbooks.md.

    Example: sinergia playbooks effect -w ./acme --playbook renewal_red_health --horizon 90
    """
    from sinergia.playbooks.effect import play_effect
    from sinergia.workspace import open_workspace

    ws = open_workspace(workspace)
    report = play_effect(ws, playbook, horizon_days=horizon, end=_date(as_of) if as_of else None,
                         min_group=min_group)
    if fmt is Format.json:
        print_json(report.as_dict())
        return
    rows = []
    for outcome in ("churn", "expansion"):
        treated, control = report.groups["treated"][outcome], report.groups["held_out"][outcome]
        diff = report.differences[outcome]
        rows.append({"outcome": outcome, "treated": f"{treated['events']}/{treated['accounts']}",
                     "treated_rate": round(treated["rate"], 4),
                     "held_out": f"{control['events']}/{control['accounts']}",
                     "held_out_rate": round(control["rate"], 4), "difference": round(diff["difference"], 4),
                     "ci_low": round(diff["ci_low"], 4), "ci_high": round(diff["ci_high"], 4)})
    print_rows(rows, fmt, title=f"{playbook}: {horizon} days after the first firing (up to {report.end})")
    if fmt is Format.table:
        console.print(f"95 % interval of the difference: {report.method}. Left out: {report.excluded}.")
