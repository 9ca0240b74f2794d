"""``sinergia``: the command line.

Exit codes: 0 success; 1 unexpected error; 2 bad usage or config (unknown preset, invalid mapping);
3 workspace problem (not initialised, locked); 4 unreadable input (file format, encoding, missing
columns, a bad row under ``--strict``). Errors print one line to stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sinergia.cli._output import Format, console, err_console, print_json, print_rows
from sinergia.errors import SinergiaError

app = typer.Typer(
    name="sinergia",
    help="Sinergia: one view of each customer for Customer Success, CX and Support.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
quarantine_app = typer.Typer(help="Rows that could not be loaded, with file, line, column and reason.")
app.add_typer(quarantine_app, name="quarantine")


def _add_metrics() -> None:
    from sinergia.cli.metrics import app as metrics_app

    app.add_typer(metrics_app, name="metrics")


_add_metrics()


def _add_clv() -> None:
    from sinergia.cli.clv import app as clv_app

    app.add_typer(clv_app, name="clv")


_add_clv()


def _add_churn() -> None:
    from sinergia.cli.churn import app as churn_app

    app.add_typer(churn_app, name="churn")


_add_churn()


def _add_expansion() -> None:
    from sinergia.cli.expansion import app as expansion_app

    app.add_typer(expansion_app, name="expansion")


_add_expansion()


def _add_survival() -> None:
    from sinergia.cli.survival import app as survival_app

    app.add_typer(survival_app, name="survival")


_add_survival()


def _add_health() -> None:
    from sinergia.cli.health import app as health_app

    app.add_typer(health_app, name="health")


_add_health()


def _add_signals_and_segments() -> None:
    from sinergia.cli.segments import app as segments_app
    from sinergia.cli.signals import app as signals_app

    app.add_typer(signals_app, name="signals")
    app.add_typer(segments_app, name="segments")


_add_signals_and_segments()


def _add_route() -> None:
    from sinergia.cli.route import app as route_app

    app.add_typer(route_app, name="route")


_add_route()


def _add_playbooks() -> None:
    from sinergia.cli.playbooks import app as playbooks_app

    app.add_typer(playbooks_app, name="playbooks")


_add_playbooks()


def _add_app() -> None:
    from sinergia.cli.recompute import recompute
    from sinergia.cli.serve import serve
    from sinergia.cli.user import app as user_app

    app.add_typer(user_app, name="user")
    app.command("recompute")(recompute)
    app.command("serve")(serve)


_add_app()


def _add_text() -> None:
    from sinergia.cli.text import app as text_app

    app.add_typer(text_app, name="text")


_add_text()


def _add_survey() -> None:
    from sinergia.cli.survey import app as survey_app

    app.add_typer(survey_app, name="survey")


_add_survey()

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current folder.",
        show_default=False,
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]

_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Folder to create (or complete).")],
    name: Annotated[str | None, typer.Option(help="Workspace name (default: the folder name).")] = None,
    timezone: Annotated[str, typer.Option(help="Time zone of local times in your sources.")] = "UTC",
    currency: Annotated[str, typer.Option(help="Default ISO-4217 currency.")] = "BRL",
) -> None:
    """Create a workspace: config file, DuckDB engine file and SQLite serving store.

    Running it again on an existing workspace adds what is missing and changes nothing else.

    Example: sinergia init ./acme --timezone America/Sao_Paulo
    """
    from sinergia.workspace import init_workspace

    ws = init_workspace(path, name=name, timezone=timezone, currency=currency)
    console.print(f"Workspace ready at [bold]{ws.path}[/bold]")


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Files to load (CSV, gzip, Parquet, JSON, NDJSON).")],
    workspace: WorkspaceOpt = None,
    preset: Annotated[str | None, typer.Option(help="A built-in preset (see 'sinergia presets').")] = None,
    mapping: Annotated[Path | None, typer.Option(help="A mapping YAML file (docs/ingestion.md).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and count; write nothing.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail the whole import on the first bad row.")] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Load files into the workspace. Every row is loaded, updated, unchanged, merged or quarantined.

    The import is atomic (all files or nothing) and idempotent (importing the same file again changes
    nothing). Rows that fail validation go to quarantine ('sinergia quarantine list').

    Example: sinergia ingest tickets.csv --preset zendesk --workspace ./acme
    """
    from sinergia.ingest import ingest_files
    from sinergia.workspace import open_workspace

    ws = open_workspace(workspace)
    with _progress(len(files), "Importing", fmt is Format.table) as advance:
        report = ingest_files(
            ws, files, preset=preset, mapping=mapping, dry_run=dry_run, strict=strict, progress=lambda _: advance()
        )
    if fmt is Format.json:
        print_json(report.as_dict())
        return
    rows = [{"entity": name, **counts.as_dict()} for name, counts in report.by_entity().items()]
    title = f"{'Dry run — nothing written' if dry_run else 'Imported'} ({report.import_id})"
    print_rows(rows, fmt, title=title)
    if fmt is Format.table and report.totals().quarantined:
        console.print("Quarantined rows: sinergia quarantine list" + (f" -w {workspace}" if workspace else ""))


@app.command()
def presets(fmt: FormatOpt = Format.table) -> None:
    """List the built-in presets for common exports and public datasets."""
    from sinergia.ingest import describe_presets

    print_rows([{"preset": k, "description": v} for k, v in describe_presets().items()], fmt)


@app.command()
def status(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Show what the workspace holds: rows per entity, quarantine, identity merges, recent imports."""
    from sinergia.engine.inspect import workspace_status
    from sinergia.workspace import open_workspace

    data = workspace_status(open_workspace(workspace))
    if fmt is Format.json:
        print_json(data)
        return
    rows = [
        {
            "entity": name,
            "rows": info["rows"],
            "quarantined": data["quarantined"].get(name, 0),
            "aliases": data["identity_aliases"].get(name, 0),
            "last loaded (UTC)": info["last_loaded_at"] or "",
        }
        for name, info in data["entities"].items()
    ]
    if fmt is Format.table:
        console.print(f"[bold]{data['name']}[/bold] — {data['workspace']} ({data['engine_bytes'] / 1e6:,.1f} MB)")
    print_rows(rows, fmt, title="Canonical tables")


@quarantine_app.command("list")
def quarantine_list(
    workspace: WorkspaceOpt = None,
    entity: Annotated[str | None, typer.Option(help="Only this entity.")] = None,
    import_id: Annotated[str | None, typer.Option("--import", help="Only this import id.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 50,
    fmt: FormatOpt = Format.table,
) -> None:
    """List quarantined rows: file, line, column and reason, with the raw row."""
    from sinergia.engine.inspect import quarantine_rows
    from sinergia.workspace import open_workspace

    rows = quarantine_rows(open_workspace(workspace), entity=entity, import_id=import_id, limit=limit)
    if fmt is Format.table:
        rows = [{k: v for k, v in r.items() if k not in ("import_id", "row")} for r in rows]
        if not rows:
            console.print("No quarantined rows.")
            return
    print_rows(rows, fmt, title="Quarantine")


@app.command()
def demo(
    workspace: WorkspaceOpt = None,
    accounts: Annotated[int, typer.Option(min=1, help="How many customer accounts.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 7,
    months: Annotated[int, typer.Option(min=1, max=120, help="Months of history.")] = 24,
    fmt: FormatOpt = Format.table,
) -> None:
    """Generate a believable B2B SaaS (deterministic) and load it into the workspace.

    Creates the workspace if needed (a new one gets the demo company's support SLA policy in
    sinergia.yaml), writes Parquet files to WORKSPACE/demo-data and ingests them
    with the 'sinergia' preset. Churn and expansion follow signals in the data (docs/demo-data.md).

    Example: sinergia demo --workspace ./demo --accounts 2000 --seed 1
    """
    from sinergia.demo import generate
    from sinergia.ingest import ingest_files
    from sinergia.workspace import init_workspace, resolve_workspace_path

    root = resolve_workspace_path(workspace)
    ws = init_workspace(root, timezone="America/Sao_Paulo") if not (root / "sinergia.yaml").exists() else None
    if ws is not None:  # a new workspace gets the demo company's SLA policy (an existing config is left alone)
        from sinergia.demo.workspace_config import config_section

        with (root / "sinergia.yaml").open("a", encoding="utf-8") as config:
            config.write(config_section())
    from sinergia.workspace import open_workspace

    ws = open_workspace(root)
    out = ws.path / "demo-data"
    out.mkdir(exist_ok=True)
    with _progress(accounts, "Generating accounts", fmt is Format.table) as advance:
        files = generate(out, accounts=accounts, seed=seed, months=months, progress=advance)
    with _progress(len(files), "Importing", fmt is Format.table) as advance:
        report = ingest_files(ws, list(files.values()), preset="sinergia", progress=lambda _: advance())
    if fmt is Format.json:
        print_json(report.as_dict())
        return
    rows = [{"entity": name, **counts.as_dict()} for name, counts in report.by_entity().items()]
    print_rows(rows, fmt, title=f"Demo data imported into {ws.path}")


class _progress:
    """A Rich progress bar for people; silent for scripts and when output is not a terminal."""

    def __init__(self, total: int, label: str, show: bool) -> None:
        self.show = show and sys.stderr.isatty() and not os.environ.get("CI")
        self.total, self.label = total, label
        self.bar: Progress | None = None

    def __enter__(self) -> Callable[..., None]:
        if not self.show:
            return lambda n=1: None
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err_console, transient=True,
        )
        self.bar.start()
        task = self.bar.add_task(self.label, total=self.total)
        bar = self.bar
        return lambda n=1: bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def main() -> None:
    """Entry point: run the app, turning expected errors into one line and an exit code."""
    try:
        app(standalone_mode=False)
    except SinergiaError as error:
        if _state["debug"]:
            traceback.print_exc()
        err_console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except (typer.Exit, SystemExit) as done:
        code = getattr(done, "exit_code", getattr(done, "code", 0))
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as error:  # click's usage errors arrive here with standalone_mode=False
        # click.ClickException; recent typer vendors click (typer._click), so match by shape, not import.
        show, exit_code = getattr(error, "show", None), getattr(error, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            sys.exit(exit_code)
        if _state["debug"]:
            raise
        err_console.print(f"[red]unexpected error:[/red] {type(error).__name__}: {error} (rerun with --debug)")
        sys.exit(1)


if __name__ == "__main__":
    main()
