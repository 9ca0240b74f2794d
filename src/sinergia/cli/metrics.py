"""``sinergia metrics``: list, show, compute and drill into the registered metrics."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from sinergia.cli._output import Format, console, print_json, print_rows
from sinergia.errors import UsageError

app = typer.Typer(help="Metrics: definitions, values as of a date, and the rows behind them.", no_args_is_help=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current folder."),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]
AsOfOpt = Annotated[str, typer.Option("--as-of", help="Compute as of the end of this day (YYYY-MM-DD). Required.")]
PeriodOpt = Annotated[str, typer.Option(help="day, week, month, quarter or year.")]
CountOpt = Annotated[int, typer.Option(min=1, help="How many periods, ending with the one containing --as-of.")]
StartOpt = Annotated[str | None, typer.Option(help="First day of a time series (overrides --count).")]
EngineOpt = Annotated[str, typer.Option(help="duckdb (default) or spark (needs sinergia[spark] and Java).")]


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} must be a date like 2026-10-31, got '{value}'") from None


def _source(workspace: Path | None, engine: str) -> Any:
    from sinergia.workspace import open_workspace

    ws = open_workspace(workspace)
    if engine == "duckdb":
        return ws
    if engine == "spark":
        from sinergia.engine.spark import workspace_on_spark
        from sinergia.metrics.context import TableSource

        source: TableSource = workspace_on_spark(ws)
        return _SparkWorkspace(source, ws)
    raise UsageError(f"unknown engine '{engine}'; engines: duckdb, spark")


class _SparkWorkspace:
    """A TableSource that also carries the workspace's metric settings and currency."""

    def __init__(self, source: Any, workspace: Any) -> None:
        self.source, self.workspace = source, workspace


def _records(frame: Any) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict("records"):
        clean = {}
        for key, raw in row.items():
            value = raw
            if hasattr(raw, "isoformat"):
                value = raw.isoformat()
            elif isinstance(raw, float) and math.isnan(raw):
                value = None
            clean[key] = value
        out.append(clean)
    return out


@app.command("list")
def list_(
    family: Annotated[str | None, typer.Option(help="revenue, lifecycle, support or cx.")] = None,
    lang: Annotated[str, typer.Option(help="Title language: en or pt-BR.")] = "en",
    fmt: FormatOpt = Format.table,
) -> None:
    """Every registered metric, with its family, unit and title."""
    from sinergia.metrics import list_metrics
    from sinergia.metrics.registry import FAMILIES

    if family is not None and family not in FAMILIES:
        raise UsageError(f"unknown family '{family}'; families: {', '.join(FAMILIES)}")
    if lang not in ("en", "pt-BR"):
        raise UsageError("lang must be en or pt-BR")
    rows = [
        {"name": m.name, "family": m.family, "unit": m.unit, "direction": m.direction, "title": m.title[lang]}
        for m in list_metrics()
        if family is None or m.family == family
    ]
    print_rows(rows, fmt, title=f"{len(rows)} metrics")


@app.command()
def show(name: Annotated[str, typer.Argument(help="Metric name.")], fmt: FormatOpt = Format.table) -> None:
    """The definition card of a metric: formula, variant, edge cases, inputs, dimensions."""
    from sinergia.metrics import definition

    card = definition(name)
    if fmt is not Format.table:
        print_json(card)
        return
    console.print(f"[bold]{card['name']}[/bold] — {card['title']['en']} / {card['title']['pt-BR']}")
    for label, key in (("family", "family"), ("unit", "unit"), ("better when", "direction"),
                       ("aggregation", "aggregation"), ("formula", "formula"), ("variant", "variant")):
        if card[key]:
            console.print(f"  {label}: {card[key]}", highlight=False)
    console.print(f"  inputs: {', '.join(card['inputs'])}", highlight=False)
    if card["derived_from"]:
        console.print(f"  derived from: {', '.join(card['derived_from'])}", highlight=False)
    split = card["dimensions"] + (["account attributes"] if card["account_attributes"] else [])
    console.print(f"  split by: {', '.join(split) or '-'}", highlight=False)
    for edge in card["edge_cases"]:
        console.print(f"  edge case: {edge}", highlight=False)


@app.command()
def compute(
    names: Annotated[list[str], typer.Argument(help="One or more metric names.")],
    as_of: AsOfOpt,
    workspace: WorkspaceOpt = None,
    period: PeriodOpt = "month",
    count: CountOpt = 1,
    start: StartOpt = None,
    by: Annotated[list[str] | None, typer.Option(help="Split by an attribute (repeatable).")] = None,
    engine: EngineOpt = "duckdb",
    fmt: FormatOpt = Format.table,
) -> None:
    """Values per period (and group), with 95 % intervals where they apply.

    Example: sinergia metrics compute nrr grr --as-of 2026-10-31 --period month --count 12 --by segment
    """
    from sinergia.metrics import compute as compute_metrics

    source = _source(workspace, engine)
    kwargs: dict[str, Any] = {}
    if isinstance(source, _SparkWorkspace):
        kwargs = {"settings": source.workspace.config.metrics, "currency": source.workspace.config.currency}
        source = source.source
    frame = compute_metrics(
        source, names, as_of=_date(as_of, "--as-of"), period=period, count=count,
        start=_date(start, "--start") if start else None, by=by or [], **kwargs,
    )
    records = _records(frame)
    if fmt is Format.table:
        records = [_human(r, by or []) for r in records]
    print_rows(records, fmt, title=f"as of {as_of}")


def _number(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:,.4g}" if abs(value) < 10 else f"{value:,.2f}"


def _human(record: dict[str, Any], by: list[str]) -> dict[str, Any]:
    notes = [n for n, flag in (("partial", record["partial"]), ("small sample", record["small_sample"])) if flag]
    interval = "" if record["ci_low"] is None else f"{_number(record['ci_low'])} – {_number(record['ci_high'])}"
    return {
        "metric": record["metric"],
        "period": str(record["period_start"])[:10],
        **{b: record[b] for b in by},
        "value": _number(record["value"]),
        "95% interval": interval,
        "n": record["n"],
        "notes": ", ".join(notes),
    }


@app.command()
def rows(
    name: Annotated[str, typer.Argument(help="Metric name.")],
    as_of: AsOfOpt,
    workspace: WorkspaceOpt = None,
    period: PeriodOpt = "month",
    count: CountOpt = 1,
    start: StartOpt = None,
    where: Annotated[list[str] | None, typer.Option(help="attribute=value filter (repeatable).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 100,
    fmt: FormatOpt = Format.table,
) -> None:
    """The rows behind a metric's value (its observations), for checking a number by hand.

    Example: sinergia metrics rows nrr --as-of 2026-10-31 --where segment=SMB
    """
    from sinergia.metrics import rows as metric_rows

    filters: dict[str, Any] = {}
    for item in where or []:
        if "=" not in item:
            raise UsageError(f"--where takes attribute=value, got '{item}'")
        key, value = item.split("=", 1)
        filters[key.strip()] = value
    frame = metric_rows(
        _source(workspace, "duckdb"), name, as_of=_date(as_of, "--as-of"), period=period, count=count,
        start=_date(start, "--start") if start else None, where=filters, limit=limit,
    )
    print_rows(_records(frame), fmt, title=f"{name}: rows behind the value")
