"""``sinergia survey``: survey definitions, invitations (e-mail through the outbox, or in-app links), response rate.

The work lives in ``sinergia.surveys`` (docs/surveys.md); these commands parse options, call it and render.
Definitions from the ``surveys:`` section of ``sinergia.yaml`` are written to the serving store before every command.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sinergia.cli._output import Format, console, print_json, print_rows
from sinergia.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sinergia.workspace import Workspace

app = typer.Typer(help="Surveys (NPS, CSAT, CES): definitions, signed invitation links, response rate.",
                  no_args_is_help=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current folder.",
                 show_default=False),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]
SurveyOpt = Annotated[str, typer.Option("--survey", "-s", help="Survey name (surveys: in sinergia.yaml, or created).")]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option("--base-url", help="Public address of the app for the links. Default: surveys.base_url.",
                 show_default=False),
]


@contextmanager
def _store(workspace: Path | None) -> Iterator[tuple[Workspace, Session]]:
    """The workspace and a store session, with the config's definitions synced (committed by the caller)."""
    from sinergia.store.db import dispose_engine, session_factory
    from sinergia.store.migrate import upgrade_store
    from sinergia.surveys.core import sync_definitions
    from sinergia.workspace import open_workspace

    ws = open_workspace(workspace)
    upgrade_store(ws.store_url)
    try:
        with session_factory(ws.store_url)() as session:
            sync_definitions(session, ws.config.surveys)
            session.commit()
            yield ws, session
    finally:
        dispose_engine(ws.store_url)


@app.command("list")
def list_surveys(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.table) -> None:
    """List the survey definitions: kind, scale, touchpoint, journey stage, questions.

    Example: sinergia survey list -w ./acme
    """
    from sqlalchemy import select

    from sinergia.store.survey_models import SurveyDefinition

    with _store(workspace) as (_ws, session):
        rows = [{"name": d.name, "kind": d.kind, "scale": f"{d.scale_min}-{d.scale_max}", "touchpoint": d.touchpoint,
                 "journey_stage": d.journey_stage, "source": d.source, "question_pt_br": d.questions.get("pt-BR"),
                 "question_en": d.questions.get("en")}
                for d in session.scalars(select(SurveyDefinition).order_by(SurveyDefinition.name))]
    print_rows(rows, fmt, title="Surveys")


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="Survey name: lower-case letters, digits, _ and -.")],
    kind: Annotated[str, typer.Option("--kind", help="nps (0-10), csat (1-5 default) or ces (1-7 default).")],
    touchpoint: Annotated[str, typer.Option("--touchpoint", help="Touchpoint asked about (onboarding, support...).")],
    stage: Annotated[str, typer.Option("--stage", help="Journey stage: before, during or after.")],
    scale_min: Annotated[int | None, typer.Option("--scale-min", help="Lowest score (csat/ces only).")] = None,
    scale_max: Annotated[int | None, typer.Option("--scale-max", help="Highest score (csat/ces only).")] = None,
    question_en: Annotated[str | None, typer.Option("--question-en", help="Question in English.")] = None,
    question_pt: Annotated[str | None, typer.Option("--question-pt", help="Question in Brazilian Portuguese.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Change an existing survey of that name.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create a survey in the serving store (the standard question of its kind unless both texts are given).

    Example: sinergia survey create -w ./acme --name ces_app --kind ces --touchpoint app --stage during
    """
    from pydantic import ValidationError

    from sinergia.surveys.config import SurveyDefinitionConfig
    from sinergia.surveys.core import create_definition

    spec: dict[str, Any] = {"name": name, "kind": kind, "touchpoint": touchpoint, "journey_stage": stage}
    if (scale_min is None) != (scale_max is None):
        raise UsageError("give both --scale-min and --scale-max, or neither")
    if scale_min is not None:
        spec["scale"] = (scale_min, scale_max)
    if question_en or question_pt:
        spec["question"] = {"en": question_en or "", "pt-BR": question_pt or ""}
    try:
        definition = SurveyDefinitionConfig.model_validate(spec)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'survey'}: {e['msg']}" for e in error.errors())
        raise UsageError(problems) from None
    with _store(workspace) as (_ws, session):
        row = create_definition(session, definition, replace=replace)
        session.commit()
        console.print(f"survey {row.name}: {row.kind} {row.scale_min}-{row.scale_max}, {row.touchpoint} "
                      f"({row.journey_stage})")


def _results(report: Any, fmt: Format, title: str) -> None:
    rows = [r.as_dict() for r in report.results]
    if fmt is Format.json:
        print_json({"survey": report.survey, "channel": report.channel, "dry_run": report.dry_run,
                    "invited": report.invited, "refused": report.refused, "results": rows})
        return
    print_rows(rows, fmt, title=title)
    if fmt is Format.table:
        verb = "would invite" if report.dry_run else "invited"
        console.print(f"{verb} {report.invited}, refused {report.refused}")


@app.command()
def send(
    survey: SurveyOpt,
    contacts: Annotated[
        Path | None,
        typer.Option("--contacts", help="CSV with a contact_id column (optional: email, account_id, name, locale).",
                     show_default=False),
    ] = None,
    account: Annotated[str | None, typer.Option("--account", help="Invite every contact of this account.",
                                                show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show who would be invited; write nothing.")] = False,
    base_url: BaseUrlOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """E-mail survey invitations (one signed link each) through the outbox; throttled contacts are refused.

    The e-mails go out with 'sinergia playbooks deliver' (the outbox worker).
    Example: sinergia survey send -w ./acme --survey nps_onboarding --account acc_000123 --dry-run
    """
    from sinergia.surveys.core import invite, read_contacts_file, resolve_contacts

    with _store(workspace) as (ws, session):
        rows = read_contacts_file(contacts) if contacts is not None else None
        people = resolve_contacts(ws, rows=rows, account_id=account)
        report = invite(session, ws, survey, people, channel="email", base_url=base_url, dry_run=dry_run)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    _results(report, fmt, f"{'Dry run — ' if dry_run else ''}Survey {survey} by e-mail")


@app.command()
def link(
    survey: SurveyOpt,
    contact: Annotated[list[str], typer.Option("--contact", help="Contact id (repeat for several).")],
    base_url: BaseUrlOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Signed survey links for in-app use (no e-mail); throttled contacts are refused.

    Example: sinergia survey link -w ./acme --survey csat_support --contact ct_000042 -f json
    """
    from sinergia.surveys.core import invite, resolve_contacts

    with _store(workspace) as (ws, session):
        people = resolve_contacts(ws, rows=[{"contact_id": c} for c in contact])
        report = invite(session, ws, survey, people, channel="in_app", base_url=base_url)
        session.commit()
    _results(report, fmt, f"Survey {survey} links")


@app.command()
def rate(
    survey: Annotated[str | None, typer.Option("--survey", "-s", help="One survey (default: all).",
                                               show_default=False)] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day of sends (YYYY-MM-DD).",
                                              show_default=False)] = None,
    end: Annotated[str | None, typer.Option("--to", help="Day after the last day of sends (YYYY-MM-DD).",
                                            show_default=False)] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Response rate of invitations: answered / sent in [--from, --to), counted from the store's invitations.

    Example: sinergia survey rate -w ./acme --survey nps_onboarding --from 2026-11-01 --to 2026-12-01
    """
    from sinergia.surveys.core import response_rate

    def day(text: str | None, flag: str) -> dt.date | None:
        if text is None:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise UsageError(f"{flag} '{text}' is not a date (YYYY-MM-DD)") from None

    with _store(workspace) as (_ws, session):
        print_json(response_rate(session, survey=survey, start=day(start, "--from"), end=day(end, "--to")))
