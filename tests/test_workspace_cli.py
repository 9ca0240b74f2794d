"""The workspace folder and the command line: init, workspace resolution, status, quarantine, ingest output, help.

Commands run as a user runs them (``python -m sinergia.cli.main`` in a subprocess), so exit codes and
stdout are the real ones. ``--help`` is checked in-process for every command the app declares.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import sinergia
from sinergia.errors import UsageError
from sinergia.workspace import Workspace, init_workspace, open_workspace

# -- helpers -------------------------------------------------------------------------------------------------


def cli(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("SINERGIA_WORKSPACE", "SINERGIA_DATABASE_URL")}
    full_env.update(env or {})
    full_env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "sinergia.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def rows(ws: Workspace, sql: str) -> list[tuple[Any, ...]]:
    con = ws.duckdb_reader()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


ACCOUNTS = "account_id,name,employees\na1,Acme,10\na2,Beta,x\na3,Gama,3\n"
TICKETS = "ticket_id,account_id,created_at\nt1,a1,2024-01-01\nt2,a9,2024-01-02\n"


@pytest.fixture
def loaded(tmp_path: Path) -> Workspace:
    """A workspace with 2 accounts (1 quarantined) and 2 tickets."""
    ws = init_workspace(tmp_path / "ws")
    from sinergia.ingest import ingest_files

    ingest_files(
        ws, [write(tmp_path / "accounts.csv", ACCOUNTS), write(tmp_path / "tickets.csv", TICKETS)], preset="sinergia"
    )
    return ws


# -- init ----------------------------------------------------------------------------------------------------


def test_init_creates_config_engine_and_store_at_the_alembic_head(tmp_path: Path) -> None:
    root = tmp_path / "acme"
    out = ok(cli("init", root, "--timezone", "America/Sao_Paulo", "--currency", "usd", "--name", "Acme CS"))
    assert str(root) in out

    assert (root / "sinergia.yaml").is_file()
    assert (root / "engine.duckdb").is_file()
    assert (root / "store.sqlite").is_file()
    ws = open_workspace(root)
    assert (ws.config.name, ws.config.timezone, ws.config.currency) == ("Acme CS", "America/Sao_Paulo", "USD")
    tables = {r[0] for r in rows(ws, "SELECT table_name FROM information_schema.tables")}
    assert {"accounts", "contacts", "usage_events", "imports", "quarantine", "identity_map"} <= tables

    from alembic.script import ScriptDirectory

    from sinergia.store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(ws.store_url)).get_current_head()
    engine = sa.create_engine(ws.store_url)
    try:
        with engine.connect() as con:
            assert con.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == head
            assert con.execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one() == 0
    finally:
        engine.dispose()


def test_init_is_idempotent_and_keeps_data_and_config(loaded: Workspace) -> None:
    config = loaded.path / "sinergia.yaml"
    config.write_text(config.read_text().replace("locale: pt-BR", "locale: en"))
    before = rows(loaded, "SELECT * FROM accounts ORDER BY account_id")
    quarantined = rows(loaded, "SELECT count(*) FROM quarantine")

    ok(cli("init", loaded.path, "--timezone", "Europe/Lisbon"))

    again = open_workspace(loaded.path)
    assert again.config.locale == "en"
    assert again.config.timezone == "UTC"  # an existing config is never overwritten
    assert rows(again, "SELECT * FROM accounts ORDER BY account_id") == before
    assert rows(again, "SELECT count(*) FROM quarantine") == quarantined


def test_init_rejects_a_bad_time_zone_without_creating_a_config(tmp_path: Path) -> None:
    result = cli("init", tmp_path / "x", "--timezone", "Mars/Olympus")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "unknown time zone 'Mars/Olympus'" in result.stderr
    assert not (tmp_path / "x" / "sinergia.yaml").exists()


# -- which workspace -----------------------------------------------------------------------------------------


def test_workspace_option_beats_the_environment_which_beats_the_current_folder(tmp_path: Path) -> None:
    for name in ("here", "from-env", "from-option"):
        init_workspace(tmp_path / name, name=name)

    def name_of(*args: str | Path, env: dict[str, str] | None = None) -> str:
        return str(json.loads(ok(cli("status", "--format", "json", *args, cwd=tmp_path / "here", env=env)))["name"])

    env = {"SINERGIA_WORKSPACE": str(tmp_path / "from-env")}
    assert name_of() == "here"
    assert name_of(env=env) == "from-env"
    assert name_of("--workspace", tmp_path / "from-option", env=env) == "from-option"
    assert name_of("-w", tmp_path / "from-option") == "from-option"


def test_database_url_environment_variable_moves_the_serving_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    monkeypatch.setenv("SINERGIA_DATABASE_URL", url)
    ws = init_workspace(tmp_path / "ws")
    assert ws.store_url == url
    assert (tmp_path / "elsewhere.sqlite").is_file()
    assert not (tmp_path / "ws" / "store.sqlite").exists()


# -- status, quarantine, ingest output -----------------------------------------------------------------------


def test_status_json_has_the_documented_keys_and_counts(loaded: Workspace) -> None:
    data = json.loads(ok(cli("status", "--workspace", loaded.path, "--format", "json")))

    assert set(data) == {
        "workspace",
        "name",
        "timezone",
        "currency",
        "engine_bytes",
        "entities",
        "quarantined",
        "identity_aliases",
        "recent_imports",
    }
    assert data["workspace"] == str(loaded.path)
    assert (data["name"], data["timezone"], data["currency"]) == ("ws", "UTC", "BRL")
    assert data["engine_bytes"] == loaded.engine_path.stat().st_size
    assert data["entities"]["accounts"]["rows"] == 2
    assert data["entities"]["tickets"]["rows"] == 2
    assert data["entities"]["contacts"] == {"rows": 0, "last_loaded_at": None}
    assert data["entities"]["accounts"]["last_loaded_at"]
    assert data["quarantined"] == {"accounts": 1}
    assert data["identity_aliases"] == {}
    (last,) = data["recent_imports"]
    assert (last["files"], last["read"], last["loaded"], last["updated"], last["quarantined"]) == (2, 5, 4, 0, 1)
    assert set(last) == {"import_id", "finished_at", "source", "files", "read", "loaded", "updated", "quarantined"}


def test_status_table_output(loaded: Workspace) -> None:
    out = ok(cli("status", "--workspace", loaded.path))
    assert "accounts" in out
    assert "tickets" in out


def test_quarantine_list_json_and_csv_parse(loaded: Workspace) -> None:
    as_json = json.loads(ok(cli("quarantine", "list", "--workspace", loaded.path, "--format", "json")))
    assert len(as_json) == 1
    (entry,) = as_json
    assert set(entry) == {"import_id", "file", "entity", "row", "line", "column", "reason", "raw"}
    assert (entry["entity"], entry["row"], entry["line"], entry["column"]) == ("accounts", 2, 3, "employees")
    assert json.loads(entry["raw"])["employees"] == "x"

    as_csv = list(csv.DictReader(io.StringIO(ok(cli("quarantine", "list", "-w", loaded.path, "-f", "csv")))))
    assert len(as_csv) == 1
    assert as_csv[0]["reason"] == entry["reason"]
    assert as_csv[0]["line"] == "3"

    assert json.loads(ok(cli("quarantine", "list", "-w", loaded.path, "-f", "json", "--entity", "tickets"))) == []
    result = cli("quarantine", "list", "-w", loaded.path, "--entity", "clients")
    assert result.returncode == 2
    assert "unknown entity 'clients'" in result.stderr


def test_ingest_json_output(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    accounts = write(tmp_path / "accounts.csv", ACCOUNTS)
    tickets = write(tmp_path / "tickets.csv", TICKETS)

    data = json.loads(ok(cli("ingest", accounts, tickets, "--preset", "sinergia", "-w", ws.path, "--format", "json")))

    parts = ("loaded", "updated", "unchanged", "merged", "quarantined")
    for c in [data, *data["entities"].values(), *data["files"]]:
        assert c["read"] == sum(c[k] for k in parts), c

    for key in ("read", "loaded", "updated", "unchanged", "merged", "quarantined", "entities", "files"):
        assert key in data
    assert {k: data[k] for k in ("read", "loaded", "updated", "unchanged", "merged", "quarantined")} == {
        "read": 5,
        "loaded": 4,
        "updated": 0,
        "unchanged": 0,
        "merged": 0,
        "quarantined": 1,
    }
    assert data["entities"]["accounts"] == {
        "read": 3,
        "loaded": 2,
        "updated": 0,
        "unchanged": 0,
        "merged": 0,
        "quarantined": 1,
    }
    assert [(f["file"], f["entity"], f["read"]) for f in data["files"]] == [
        (str(accounts), "accounts", 3),
        (str(tickets), "tickets", 2),
    ]
    assert data["dry_run"] is False
    assert data["import_id"].startswith("imp_")

    again = json.loads(
        ok(cli("ingest", accounts, "--preset", "sinergia", "-w", ws.path, "--format", "json", "--dry-run"))
    )
    assert again["dry_run"] is True
    assert (again["read"], again["unchanged"], again["quarantined"]) == (3, 2, 1)


def test_ingest_table_output_mentions_the_quarantine(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    out = ok(cli("ingest", write(tmp_path / "accounts.csv", ACCOUNTS), "--preset", "sinergia", "-w", ws.path))
    assert "accounts" in out
    assert "sinergia quarantine list" in out


def test_presets_lists_the_canonical_preset(tmp_path: Path) -> None:
    listed = json.loads(ok(cli("presets", "--format", "json")))
    names = [p["preset"] for p in listed]
    assert "sinergia" in names
    assert names == sorted(names)
    assert all(p["description"] for p in listed)
    assert "sinergia" in ok(cli("presets"))


# -- help ----------------------------------------------------------------------------------------------------


def _command_paths() -> list[list[str]]:
    import typer.main

    from sinergia.cli.main import app

    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: Any, prefix: list[str]) -> None:  # a click command (typer may vendor click)
        paths.append(prefix)
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, [*prefix, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "sinergia")
def test_help_works_for_every_command(path: list[str]) -> None:
    from typer.testing import CliRunner

    from sinergia.cli.main import app

    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_expected_commands_exist() -> None:
    paths = {" ".join(p) for p in _command_paths()}
    assert {"init", "ingest", "presets", "status", "quarantine", "quarantine list"} <= paths


def test_help_through_the_console_entry_point() -> None:
    out = ok(cli("--help"))
    for command in ("init", "ingest", "presets", "status", "quarantine"):
        assert command in out


def test_no_arguments_shows_usage() -> None:
    result = cli()
    assert "Traceback" not in result.stderr
    assert "Usage" in result.stdout + result.stderr


def test_unknown_option_is_a_usage_error() -> None:
    result = cli("status", "--colour")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--colour" in result.stderr


# -- Python API ----------------------------------------------------------------------------------------------


def test_connect_returns_ibis_tables_with_the_right_counts(loaded: Workspace) -> None:
    ws = sinergia.connect(loaded.path)
    accounts = ws.table("accounts")
    assert accounts.count().execute() == 2
    assert ws.table("tickets").count().execute() == 2
    assert ws.table("quarantine").count().execute() == 1
    assert sorted(accounts.account_id.execute().tolist()) == ["a1", "a3"]


def test_connect_unknown_table_is_a_clear_error(loaded: Workspace) -> None:
    ws = sinergia.connect(loaded.path)
    with pytest.raises(UsageError, match=r"unknown table 'clients'; tables: accounts, contacts"):
        ws.table("clients")


def test_connect_uses_the_environment_variable(loaded: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINERGIA_WORKSPACE", str(loaded.path))
    assert sinergia.connect().path == loaded.path


def test_reader_sees_the_new_snapshot_after_an_import(loaded: Workspace, tmp_path: Path) -> None:
    ws = sinergia.connect(loaded.path)
    before = ws.table("accounts")
    assert before.count().execute() == 2
    from sinergia.ingest import ingest_files

    ingest_files(loaded, [write(tmp_path / "more" / "accounts.csv", "account_id\na9\n")], preset="sinergia")
    assert ws.table("accounts").count().execute() == 3


# -- the guide matches the code --------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_workspace_guide_documents_every_config_key_and_status_key(loaded: Workspace) -> None:
    from sinergia.engine.inspect import workspace_status
    from sinergia.workspace.config import IngestSettings, WorkspaceConfig

    text = (DOCS / "workspace.md").read_text(encoding="utf-8")
    for key in WorkspaceConfig.model_fields:
        assert f"`{key}`" in text or f"`{key}." in text, key
    for key in IngestSettings.model_fields:
        assert f"`ingest.{key}`" in text, key
    for key in workspace_status(loaded):
        assert f"`{key}`" in text, key
    for variable in ("SINERGIA_WORKSPACE", "SINERGIA_DATABASE_URL"):
        assert f"`{variable}`" in text
