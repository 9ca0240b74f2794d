"""``sinergia signals``: rule-based signals per account, as of a date (``sinergia signals expansion``).

The rules and their thresholds live in ``sinergia.models.signals`` and the workspace's ``signals:`` section;
see docs/expansion.md. Nothing is persisted.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from sinergia.cli._output import Format, console, print_json, print_rows
from sinergia.errors import UsageError

app = typer.Typer(help="Rule-based account signals (expansion: usage above licences, seat growth, ...).",
                  no_args_is_help=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current folder."),
]
AsOfOpt = Annotated[str, typer.Option("--as-of", help="Evaluate as of the end of this day (YYYY-MM-DD). Required.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]


def parse_day(value: str, option: str = "--as-of") -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} must be a date like 2026-10-31, got '{value}'") from None


@app.command()
def expansion(
    as_of: AsOfOpt,
    workspace: WorkspaceOpt = None,
    signal: Annotated[
        list[str] | None,
        typer.Option(help="Only this signal (repeatable): usage_above_licences, seat_growth, promoter_healthy, "
                          "cross_sell."),
    ] = None,
    account: Annotated[list[str] | None, typer.Option(help="Only this account id (repeatable).")] = None,
    fired_only: Annotated[bool, typer.Option("--fired-only", help="Only the signals that fired.")] = False,
    lang: Annotated[str, typer.Option(help="Message language: en or pt-BR.")] = "en",
    fmt: FormatOpt = Format.table,
) -> None:
    """Expansion signals for every account paying at the end of --as-of: fired or not, and why.

    Rules (thresholds in the workspace's signals: section, docs/expansion.md): usage_above_licences (active
    users / licences >= 90 %), seat_growth (active users or seats +20 % over 90 days), promoter_healthy (last
    NPS >= 9 and a green health score; "unknown" without a health score), cross_sell (uses a feature of a plan
    it does not have). JSON/CSV rows carry the evidence: the numbers and the rows behind them.

    Example: sinergia signals expansion --workspace ./demo --as-of 2026-10-31 --fired-only
    """
    from sinergia.models.signals import check_signal, expansion_signals
    from sinergia.workspace import open_workspace

    if lang not in ("en", "pt-BR"):
        raise UsageError(f"--lang must be en or pt-BR, got '{lang}'")
    day = parse_day(as_of)
    wanted = [check_signal(s) for s in signal or []]
    ws = open_workspace(workspace)
    table = expansion_signals(ws, day, accounts=list(account) if account else None)
    if wanted:
        table = table[table["signal"].isin(wanted)]
    if fired_only:
        table = table[table["fired"]]
    message = "message" if lang == "en" else "message_pt"
    records = []
    for row in table.to_dict("records"):
        records.append({
            "account_id": row["account_id"], "signal": row["signal"], "fired": bool(row["fired"]),
            "status": row["status"], "value": _num(row["value"]), "threshold": _num(row["threshold"]),
            "message": row[message],
            "evidence": row["evidence"] if fmt is Format.json else json.dumps(row["evidence"], ensure_ascii=False,
                                                                                default=str),
        })
    if fmt is Format.json:
        print_json(records)
        return
    if fmt is Format.csv:
        print_rows(records, fmt)
        return
    shown = [{**{k: v for k, v in r.items() if k != "evidence"}, "fired": "yes" if r["fired"] else "no"}
             for r in records]
    fired = sum(1 for r in records if r["fired"])
    print_rows(shown, fmt, title=f"Expansion signals as of {day}: {fired:,} fired of {len(records):,}")
    console.print("Evidence (rows behind each signal): --format json", highlight=False)


def _num(value: Any) -> Any:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return None if not math.isfinite(number) else round(number, 6)
