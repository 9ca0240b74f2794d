"""``sinergia user``: people who can log in to the app, and their API tokens."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sinergia.cli._output import Format, console, print_json, print_rows
from sinergia.errors import UsageError

app = typer.Typer(
    help="Users of the app (roles admin, manager, csm, support, viewer) and their API tokens.", no_args_is_help=True
)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current folder."),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]


def _store(workspace: Path | None) -> str:
    from sinergia.store.migrate import upgrade_store
    from sinergia.workspace import open_workspace

    url = open_workspace(workspace).store_url
    upgrade_store(url)
    return url


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


@app.command("create")
def create(
    email: Annotated[str, typer.Option("--email", help="Login e-mail (unique).")],
    role: Annotated[str, typer.Option("--role", help="admin, manager, csm, support or viewer.")],
    workspace: WorkspaceOpt = None,
    name: Annotated[str, typer.Option("--name", help="Display name (default: the part before @).")] = "",
    locale: Annotated[str, typer.Option("--locale", help="Language of the app: pt-BR or en.")] = "pt-BR",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (first line).")
    ] = False,
) -> None:
    """Create a user. Without --password-stdin the user has no password and can only use API tokens.

    Example: echo 's3cret-pass' | sinergia user create -w ./acme --email ana@acme.com --role csm --password-stdin
    """
    from sinergia.auth import core
    from sinergia.store.db import transaction

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin given but standard input was empty")
    with transaction(_store(workspace)) as session:
        user = core.create_user(session, email, role, name=name, password=password, locale=locale, actor=_actor())
        summary = f"Created {user.email} ({user.role})" + ("" if password else " without a password (tokens only)")
    console.print(summary)


@app.command("token")
def token(
    email: Annotated[str, typer.Option("--email", help="The user the token acts as.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for (e.g. 'zendesk sync').")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Issue an API token and print it once (only its SHA-256 is stored). Use: Authorization: Bearer <token>."""
    from sinergia.auth import core
    from sinergia.store.db import transaction

    with transaction(_store(workspace)) as session:
        user = core.get_user(session, email)
        if user is None:
            raise UsageError(f"no user with e-mail {email}; create one with 'sinergia user create'")
        issued = core.issue_token(session, user, name, actor=_actor())
        secret = issued.secret
    sys.stdout.write(secret + "\n")


@app.command("list")
def list_(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.table) -> None:
    """List users with their role, language and status."""
    from sinergia.auth import core
    from sinergia.store.db import transaction

    with transaction(_store(workspace)) as session:
        rows = [
            {
                "email": u.email,
                "name": u.name,
                "role": u.role,
                "locale": u.locale,
                "active": u.active,
                "password": bool(u.password_hash),
                "created (UTC)": u.created_at.isoformat(timespec="seconds"),
            }
            for u in core.list_users(session)
        ]
    if fmt is Format.json:
        print_json(rows)
        return
    if not rows and fmt is Format.table:
        console.print("No users yet: sinergia user create --email E --role admin --password-stdin")
        return
    print_rows(rows, fmt, title="Users")
