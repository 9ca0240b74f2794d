"""``sinergia survival``: how long accounts keep paying (Kaplan-Meier) and what changes the churn hazard (Cox).

Lifetimes are rebuilt from the workspace on every call, as of ``--as-of``; nothing is persisted. Definitions
and formulas live in ``sinergia.models.survival``; see docs/survival.md.
"""

from __future__ import annotations

import datetime as dt
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from sinergia.cli._output import Format, console, print_json, print_rows
from sinergia.errors import UsageError

app = typer.Typer(
    help="Survival of paying accounts: Kaplan-Meier curves and Cox hazard ratios, as of a date.",
    no_args_is_help=True,
)


class Lives(StrEnum):
    all = "all"
    first = "first"


WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current folder."),
]
AsOfOpt = Annotated[str, typer.Option("--as-of", help="Lifetimes as of the end of this day (YYYY-MM-DD). Required.")]
LivesOpt = Annotated[
    Lives, typer.Option(help="all: every paying spell (a reactivation starts a new life); first: first spell only.")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]


def _lifetimes(workspace: Path | None, as_of: str, attributes: list[str], lives: Lives) -> Any:
    from sinergia.models.survival import account_lifetimes
    from sinergia.workspace import open_workspace

    try:
        day = dt.date.fromisoformat(as_of)
    except ValueError:
        raise UsageError(f"--as-of must be a date like 2026-10-31, got '{as_of}'") from None
    return account_lifetimes(open_workspace(workspace), day, by=attributes, lives=lives.value)


@app.command()
def km(
    as_of: AsOfOpt,
    workspace: WorkspaceOpt = None,
    by: Annotated[list[str] | None, typer.Option(help="Split by an account attribute (segment, plan, ...).")] = None,
    time: Annotated[
        list[float] | None, typer.Option("--time", help="Days at which to report survival (repeatable).")
    ] = None,
    lives: LivesOpt = Lives.all,
    fmt: FormatOpt = Format.table,
) -> None:
    """Kaplan-Meier survival of paying accounts at 30, 90, 180, 365 and 730 days, with 95 % intervals and medians.

    A life starts when an account's MRR goes above zero and ends when it falls back to zero; lives still
    paying at the end of --as-of are censored there. JSON/CSV: one row per group and time (survival, ci_low,
    ci_high, at_risk, and the group's median with its interval; null = not reached or beyond follow-up).

    Example: sinergia survival km --workspace ./demo --as-of 2026-10-31 --by segment
    """
    from sinergia.models.survival import DEFAULT_TIMES, kaplan_meier

    groups = list(by or [])
    table = kaplan_meier(_lifetimes(workspace, as_of, groups, lives), by=groups, times=time or DEFAULT_TIMES)
    records = _records(table)
    if fmt is not Format.table:
        print_rows(records, fmt)
        return
    rows: list[dict[str, Any]] = []
    medians: list[dict[str, Any]] = []
    for record in records:
        rows.append(
            {
                **{g: record[g] for g in groups},
                "days": f"{record['time']:g}",
                "at risk": record["at_risk"],
                "survival": _pct(record["survival"]),
                "95% CI": _interval(record["ci_low"], record["ci_high"]),
            }
        )
        group = {g: record[g] for g in groups}
        if not medians or any(medians[-1][g] != v for g, v in group.items()):
            medians.append(
                {
                    **group,
                    "lives": record["n"],
                    "churned": record["events"],
                    "median days": "not reached" if record["median"] is None else f"{record['median']:,.0f}",
                    "95% CI": _interval(record["median_ci_low"], record["median_ci_high"], days=True),
                }
            )
    print_rows(rows, fmt, title=f"Survival of paying accounts as of {as_of}")
    print_rows(medians, fmt, title="Median survival")


@app.command()
def cox(
    as_of: AsOfOpt,
    covariate: Annotated[list[str], typer.Option(help="Account attribute in the model (repeatable).")],
    workspace: WorkspaceOpt = None,
    lives: LivesOpt = Lives.all,
    fmt: FormatOpt = Format.table,
) -> None:
    """Cox proportional-hazards model of churn: hazard ratios with 95 % intervals and p-values.

    Each level of a covariate is compared with its most common level (the reference, named in the output).
    A hazard ratio of 2 means that level churns at twice the reference's rate at any moment of the life.

    Example: sinergia survival cox --workspace ./demo --as-of 2026-10-31 --covariate segment --covariate plan
    """
    from sinergia.models.survival import cox_hazard_ratios

    names = list(dict.fromkeys(covariate))
    result = cox_hazard_ratios(_lifetimes(workspace, as_of, names, lives), names)
    records = _records(result.hazard_ratios)
    if fmt is Format.json:
        print_json(
            {
                "as_of": as_of,
                "n": result.n,
                "events": result.events,
                "concordance": _number(result.concordance),
                "log_likelihood": _number(result.log_likelihood),
                "hazard_ratios": records,
            }
        )
        return
    if fmt is Format.csv:
        print_rows(records, fmt)
        return
    rows = [
        {
            "covariate": r["covariate"],
            "level": r["level"] or "(per unit)",
            "vs": r["reference"] or "",
            "hazard ratio": f"{r['hazard_ratio']:.3g}",
            "95% CI": f"{r['ci_low']:.3g} – {r['ci_high']:.3g}",
            "p": f"{r['p_value']:.2g}",
        }
        for r in records
    ]
    print_rows(rows, fmt, title=f"Cox hazard ratios as of {as_of}")
    console.print(
        f"{result.n:,} lives, {result.events:,} churned; concordance {result.concordance:.3f}", highlight=False
    )


def _number(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


def _records(frame: Any) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict("records"):
        clean: dict[str, Any] = {}
        for key, raw in row.items():
            value = raw.item() if hasattr(raw, "item") else raw
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            clean[str(key)] = _number(value)
        out.append(clean)
    return out


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def _interval(low: float | None, high: float | None, days: bool = False) -> str:
    if low is None and high is None:
        return ""

    def show(value: float) -> str:
        return f"{value:,.0f}" if days else f"{100 * value:.1f}%"

    return f"{'?' if low is None else show(low)} – {'not reached' if high is None else show(high)}"
