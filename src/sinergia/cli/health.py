"""``sinergia health``: health scores from the workspace's scorecards, their daily history and explanations.

Formulas and config live in ``sinergia.scores`` (docs/health.md); this module parses, calls and renders.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from sinergia.cli._output import Format, console, print_json, print_rows
from sinergia.errors import UsageError

app = typer.Typer(
    help="Health scores: score accounts with the workspace's scorecards, store daily history, explain a score.",
    no_args_is_help=True,
)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current folder."),
]
AsOfOpt = Annotated[str, typer.Option("--as-of", help="Score as of the end of this day (YYYY-MM-DD). Required.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]
LangOpt = Annotated[str, typer.Option("--lang", help="Language of labels and summaries: pt-BR or en.")]


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} must be a date like 2026-10-31, got '{value}'") from None


def _lang(value: str) -> str:
    if value not in ("pt-BR", "en"):
        raise UsageError(f"--lang must be pt-BR or en, got '{value}'")
    return value


def _num(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 2)


@app.command()
def score(
    as_of: AsOfOpt,
    workspace: WorkspaceOpt = None,
    scorecard: Annotated[
        str | None, typer.Option(help="Score every account with this scorecard instead of the assigned one.")
    ] = None,
    lang: LangOpt = "pt-BR",
    fmt: FormatOpt = Format.table,
) -> None:
    """Health of every scored account on --as-of: score (0–100), band, trend and what pulled it down.

    JSON carries the full explanation per account (measures, raw values, measure scores, weights,
    contributions, points lost); table and CSV show the summary. Nothing is stored (see 'health history').

    Example: sinergia health score --workspace ./demo --as-of 2026-10-31 --format json
    """
    from sinergia.scores.health import score_accounts
    from sinergia.workspace import open_workspace

    language = _lang(lang)
    frame = score_accounts(open_workspace(workspace), _date(as_of, "--as-of"), scorecard=scorecard)
    if fmt is Format.json:
        print_json(
            [
                {
                    "account_id": r["account_id"],
                    "scorecard": r["scorecard"],
                    "score": _num(r["score"]),
                    "band": r["band"],
                    "trend": r["trend"],
                    "explanation": r["explanation"],
                }
                for r in frame.to_dict("records")
            ]
        )
        return
    rows = []
    for r in frame.to_dict("records"):
        band = r["explanation"].get("band")
        rows.append(
            {
                "account_id": r["account_id"],
                "scorecard": r["scorecard"],
                "score": _num(r["score"]),
                "band": r["band"] if fmt is Format.csv else (band["label"][language] if band else ""),
                "trend": r["trend"],
                "summary": r["explanation"]["summary"][language],
            }
        )
    print_rows(rows, fmt, title=f"Health as of {as_of} ({len(rows)} accounts)")


@app.command()
def history(
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD), inclusive.")],
    workspace: WorkspaceOpt = None,
    every_days: Annotated[int, typer.Option("--every-days", min=1, help="Score every N days.")] = 1,
    fmt: FormatOpt = Format.table,
) -> None:
    """Compute health for every day from --from to --to and store it in the workspace (score 'health').

    Re-running a day replaces its rows; the write is atomic. Other commands and the app read the stored
    history (per account and day, with band, trend and explanation).

    Example: sinergia health history --workspace ./demo --from 2026-08-01 --to 2026-10-31
    """
    from sinergia.scores.health import compute_history
    from sinergia.workspace import open_workspace

    first, last = _date(start, "--from"), _date(end, "--to")
    written = compute_history(open_workspace(workspace), first, last, every_days=every_days)
    days = (last - first).days // every_days + 1 if last >= first else 0
    result = {
        "score": "health",
        "from": first.isoformat(),
        "to": last.isoformat(),
        "days": days,
        "rows_written": written,
    }
    if fmt is Format.table:
        console.print(f"Stored {written:,} health scores for {days} day(s), {first} to {last}.")
        return
    print_rows([result], fmt)


@app.command()
def explain(
    account_id: Annotated[str, typer.Argument(help="The account's id.")],
    as_of: AsOfOpt,
    workspace: WorkspaceOpt = None,
    lang: LangOpt = "pt-BR",
    fmt: FormatOpt = Format.table,
) -> None:
    """Why an account has its health score on --as-of: every measure's raw value, score, weight, contribution
    and points lost (weighted style), the rule that matched (rules style) or the criteria and points (points style).

    Example: sinergia health explain ACME --workspace ./demo --as-of 2026-10-31
    """
    from sinergia.scores.health import explain as explain_account
    from sinergia.workspace import open_workspace

    language = _lang(lang)
    info = explain_account(open_workspace(workspace), account_id, _date(as_of, "--as-of"))
    if fmt is Format.json:
        print_json(info)
        return
    if info["style"] == "points":
        rows = [
            {
                "criterion": c["name"],
                "value": c["value"],
                "holds": c["holds"],
                "points": c["points"],
                "awarded": c["awarded"],
                "points_lost": c["points_lost"],
            }
            for c in info["criteria"]
        ]
    elif info["style"] == "rules":
        rows = [
            {
                "rule": r["name"],
                "band": r["band"],
                "matched": r["matched"],
                "conditions": "; ".join(
                    f"{c['measure']} {c['op']} {c['threshold'] if c['threshold'] is not None else ''}"
                    f" (value {c['value']}: {'yes' if c['holds'] else 'no'})"
                    for c in r["conditions"]
                ),
            }
            for r in info["rules_checked"]
        ]
    else:
        rows = [
            {
                "measure": m["title"][language],
                "value": m["value"],
                "score": _num(m["score"]),
                "weight": m["weight"],
                "effective_weight": _num(100 * m["effective_weight"]) if m["effective_weight"] is not None else None,
                "contribution": _num(m["contribution"]),
                "points_lost": _num(m["points_lost"]),
            }
            for m in info["measures"]
        ]
    if fmt is Format.csv:
        print_rows(rows, fmt)
        return
    print_rows(rows, fmt, title=f"{account_id} — {info['scorecard_title'][language]} — {info['as_of']}")
    console.print(info["summary"][language])
    trend = info.get("trend") or {}
    if trend.get("previous") is not None:
        console.print(
            f"trend: {trend['direction']} ({trend['previous']:.1f} {trend['days']} days earlier; "
            f"±{trend['tolerance']:g} is 'same')"
        )
    if info.get("note"):
        console.print(info["note"][language])
