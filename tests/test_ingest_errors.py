"""Bad input gives one clear line, the documented exit code and no traceback — or a precise quarantine row.

Whole-file problems are run through the real command line (``python -m sinergia.cli.main``) so the
message, the exit code (2 usage/config, 3 workspace, 4 input) and the absence of a traceback are what a
user sees. Row-level problems are checked in the quarantine table: row, line, column and reason.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sinergia.errors import ConfigError, InputError, StrictModeError, UsageError, WorkspaceError
from sinergia.ingest import ImportReport, ingest_files
from sinergia.ingest.loader import COUNT_KEYS
from sinergia.workspace import Workspace, init_workspace, open_workspace

# -- helpers -------------------------------------------------------------------------------------------------

EXIT_USAGE, EXIT_WORKSPACE, EXIT_INPUT = 2, 3, 4


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised workspace per module; each test gets a copy (init costs more than a copy)."""
    return init_workspace(tmp_path_factory.mktemp("template") / "ws").path


@pytest.fixture
def ws(tmp_path: Path, template: Path) -> Workspace:
    shutil.copytree(template, tmp_path / "ws")
    return open_workspace(tmp_path / "ws")


def write(path: Path, data: str | bytes, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


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


def one_line_error(result: subprocess.CompletedProcess[str], exit_code: int) -> str:
    """The single error line of a failed command, after checking the exit code and the absence of a traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == exit_code, (result.returncode, result.stderr, result.stdout)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def assert_balanced(report: ImportReport) -> None:
    for counts in [*(f.counts for f in report.files), *report.by_entity().values(), report.totals()]:
        c = counts.as_dict()
        assert c["read"] == sum(c[k] for k in COUNT_KEYS if k != "read"), c


def ingest(ws: Workspace, *files: Path, **kw: Any) -> ImportReport:
    if "mapping" not in kw and "preset" not in kw:
        kw["preset"] = "sinergia"
    report = ingest_files(ws, list(files), **kw)
    assert_balanced(report)
    return report


def rows(ws: Workspace, sql: str) -> list[tuple[Any, ...]]:
    con = ws.duckdb_reader()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def quarantine(ws: Workspace) -> list[tuple[Any, ...]]:
    return rows(ws, "SELECT row_number, line, column_name, reason FROM quarantine ORDER BY line")


def table_counts(ws: Workspace) -> dict[str, int]:
    con = ws.duckdb_reader()
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return {n: int(con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}  # type: ignore[index]
    finally:
        con.close()


# -- whole-file errors through the command line --------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """Files to write (name → content), the arguments after ``ingest``, the exit code and message parts."""

    files: dict[str, str | bytes]
    args: tuple[str, ...]
    exit_code: int
    expected: tuple[str, ...]


def _parquet_bytes() -> bytes:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"account_id": ["a1"], "name": ["Acme"]}), sink)
    return bytes(sink.getvalue().to_pybytes())


def _truncated_gzip() -> bytes:
    data = gzip.compress(b"account_id,name\n" + b"".join(b"a%d,n%d\n" % (i, i) for i in range(20_000)))
    return data[: len(data) // 2]


def _zip_bytes(tmp: Path) -> bytes:
    path = tmp / "book.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("accounts.csv", "account_id,name\na1,Acme\n")
    return path.read_bytes()


CANONICAL = ("--preset", "sinergia")
MAP = ("--mapping", "map.yaml")

CASES: dict[str, Case] = {
    "missing required column (preset)": Case(
        {"subscriptions.csv": "id,nome,valor\ns1,x,10\n"},
        ("subscriptions.csv", *CANONICAL),
        EXIT_INPUT,
        ("missing required column(s) for subscriptions", "subscription_id", "mrr", "columns found: id, nome, valor"),
    ),
    "missing required column (mapping)": Case(
        {
            "export.csv": "ticket,opened\nt1,2024-01-01\n",
            "map.yaml": "entity: tickets\ncolumns:\n  ticket_id: id\n  created_at: opened\n",
        },
        ("export.csv", *MAP),
        EXIT_INPUT,
        ("missing required column(s) for tickets: id", "columns found: ticket, opened"),
    ),
    "unknown preset": Case(
        {"accounts.csv": "account_id\na1\n"},
        ("accounts.csv", "--preset", "nope"),
        EXIT_USAGE,
        ("unknown preset 'nope'", "presets: ", "sinergia"),
    ),
    "file not named after an entity (canonical preset)": Case(
        {"clientes.csv": "account_id\na1\n"},
        ("clientes.csv", *CANONICAL),
        EXIT_USAGE,
        ("'clientes.csv' is not one of: accounts, contacts",),
    ),
    "unknown entity in a mapping": Case(
        {"export.csv": "id\n1\n", "map.yaml": "entity: clients\ncolumns:\n  account_id: id\n"},
        ("export.csv", *MAP),
        EXIT_USAGE,
        ("map.yaml", "unknown entity 'clients'", "entities: accounts, contacts, subscriptions"),
    ),
    "unknown field in a mapping": Case(
        {"export.csv": "id\n1\n", "map.yaml": "entity: accounts\ncolumns:\n  account_id: id\n  revenue: id\n"},
        ("export.csv", *MAP),
        EXIT_USAGE,
        ("accounts has no field(s) revenue", "fields: account_id, name, domain"),
    ),
    "unknown key in a mapping": Case(
        {"export.csv": "id\n1\n", "map.yaml": "entity: accounts\ncolumns:\n  account_id: {column: id, colour: red}\n"},
        ("export.csv", *MAP),
        EXIT_USAGE,
        ("map.yaml: targets.0.columns.account_id.colour: unknown key",),
    ),
    "invalid YAML": Case(
        {"export.csv": "id\n1\n", "map.yaml": "entity: accounts\ncolumns:\n  account_id: id\n\tname: nome\n"},
        ("export.csv", *MAP),
        EXIT_USAGE,
        ("map.yaml: not valid YAML (line 4)",),
    ),
    "mapping file not found": Case(
        {"export.csv": "id\n1\n"},
        ("export.csv", "--mapping", "missing.yaml"),
        EXIT_USAGE,
        ("missing.yaml: mapping file not found",),
    ),
    "UTF-16 text": Case(
        {"accounts.csv": "account_id,name\na1,Acme\n".encode("utf-16")},
        ("accounts.csv", *CANONICAL),
        EXIT_INPUT,
        ("accounts.csv: is UTF-16 text", "save it as UTF-8"),
    ),
    "undecodable bytes (C1 controls)": Case(
        {"accounts.csv": b"account_id,name\na1,Acme\na2,\x81\x8d\x90\x9d\n"},
        ("accounts.csv", *CANONICAL),
        EXIT_INPUT,
        # 0x81, 0x8D, 0x90 and 0x9D are the bytes Windows-1252 leaves undefined
        ("accounts.csv: undecodable bytes (0x81 at line 3)", "neither UTF-8, Latin-1 nor Windows-1252"),
    ),
    "random binary without NUL bytes": Case(
        {"accounts.csv": bytes(range(1, 256)) * 8},
        ("accounts.csv", *CANONICAL),
        EXIT_INPUT,
        ("accounts.csv: undecodable bytes (0x80 at line 2)",),
    ),
    "binary file": Case(
        {"accounts.csv": bytes(range(256)) * 8},
        ("accounts.csv", *CANONICAL),
        EXIT_INPUT,
        ("accounts.csv: is a binary file, not text",),
    ),
    "dates unparseable in the whole column": Case(
        {"tickets.csv": "ticket_id,created_at\nt1,soon\nt2,later\nt3,never\n"},
        ("tickets.csv", *CANONICAL),
        EXIT_INPUT,
        ("column 'created_at'", "tickets.created_at", "no value parses as a date (e.g. 'soon')", "format:"),
    ),
    "empty file": Case(
        {"accounts.csv": b""}, ("accounts.csv", *CANONICAL), EXIT_INPUT, ("the file is empty (0 bytes)",)
    ),
    "header only": Case(
        {"accounts.csv": "account_id,name\n"},
        ("accounts.csv", *CANONICAL),
        EXIT_INPUT,
        ("accounts.csv: no data rows", "header"),
    ),
    "whitespace only": Case(
        {"accounts.csv": "  \n\n\t \n"},
        ("accounts.csv", *CANONICAL),
        EXIT_INPUT,
        ("the file is empty (only blank lines)",),
    ),
    ".parquet that is CSV": Case(
        {"accounts.parquet": "account_id,name\na1,Acme\n"},
        ("accounts.parquet", *CANONICAL),
        EXIT_INPUT,
        ("accounts.parquet: is not a Parquet file",),
    ),
    ".csv that is Parquet": Case(
        {"accounts.csv": b"PARQUET"},  # replaced by real Parquet bytes in the test
        ("accounts.csv", *CANONICAL),
        EXIT_INPUT,
        ("accounts.csv: is a Parquet file, not csv",),
    ),
    ".csv that is a zip": Case(
        {"accounts.csv": b"ZIP"},  # replaced by a real zip archive in the test
        ("accounts.csv", *CANONICAL),
        EXIT_INPUT,
        ("accounts.csv: is a ZIP archive",),
    ),
    ".json that is not JSON": Case(
        {"accounts.json": "account_id,name\na1,Acme\n"},
        ("accounts.json", *CANONICAL),
        EXIT_INPUT,
        ("accounts.json: is not JSON",),
    ),
    ".json with a truncated array": Case(
        {"accounts.json": '[{"account_id": "a1", "name": '},
        ("accounts.json", *CANONICAL),
        EXIT_INPUT,
        ("accounts.json: is not valid JSON",),
    ),
    ".gz that is not gzip": Case(
        {"accounts.csv.gz": "account_id,name\na1,Acme\n"},
        ("accounts.csv.gz", *CANONICAL),
        EXIT_INPUT,
        ("accounts.csv.gz: named .gz but is not gzip-compressed",),
    ),
    "truncated gzip": Case(
        {"accounts.csv.gz": b"TRUNCATED-GZIP"},  # replaced in the test
        ("accounts.csv.gz", *CANONICAL),
        EXIT_INPUT,
        ("accounts.csv.gz", "GZIP"),
    ),
    "a folder instead of a file": Case(
        {"accounts.csv/.keep": ""}, ("accounts.csv", *CANONICAL), EXIT_INPUT, ("accounts.csv: is a folder, not a file",)
    ),
    "file that does not exist": Case({}, ("accounts.csv", *CANONICAL), EXIT_INPUT, ("accounts.csv: file not found",)),
    "preset and mapping together": Case(
        {"accounts.csv": "account_id\na1\n", "map.yaml": "entity: accounts\ncolumns:\n  account_id: account_id\n"},
        ("accounts.csv", *CANONICAL, *MAP),
        EXIT_USAGE,
        ("give either a preset",),
    ),
}

SPECIAL_CONTENT: dict[str, Callable[[Path], bytes]] = {
    ".csv that is Parquet": lambda tmp: _parquet_bytes(),
    ".csv that is a zip": _zip_bytes,
    "truncated gzip": lambda tmp: _truncated_gzip(),
}


@pytest.mark.parametrize("name", list(CASES))
def test_whole_file_error_is_one_line_with_the_documented_exit_code(ws: Workspace, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for file_name, content in case.files.items():
        special = SPECIAL_CONTENT.get(name)
        write(data_dir / file_name, special(tmp_path) if special else content)
    before = table_counts(ws)

    result = cli("ingest", *case.args, "--workspace", ws.path, cwd=data_dir)

    line = one_line_error(result, case.exit_code)
    for part in case.expected:
        assert part in line, (part, line)
    assert table_counts(ws) == before


def test_uninitialised_workspace_exits_3_with_a_hint(tmp_path: Path) -> None:
    write(tmp_path / "accounts.csv", "account_id\na1\n")
    result = cli("ingest", "accounts.csv", "--preset", "sinergia", "--workspace", tmp_path / "nowhere", cwd=tmp_path)
    line = one_line_error(result, EXIT_WORKSPACE)
    assert "is not a Sinergia workspace" in line
    assert "sinergia init" in line

    result = cli("status", cwd=tmp_path)  # the current folder is not a workspace either
    line = one_line_error(result, EXIT_WORKSPACE)
    assert "(from the current folder)" in line
    assert "sinergia init" in line


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("version: 1\ncolour: blue\n", "sinergia.yaml: colour: unknown key"),
        ("version: 1\ningest:\n  day_frist: true\n", "sinergia.yaml: ingest.day_frist: unknown key"),
        ("version: 1\ntimezone: Mars/Olympus\n", "sinergia.yaml: timezone: unknown time zone 'Mars/Olympus'"),
        ("version: 1\nlocale: fr\n", "sinergia.yaml: locale: locale 'fr' is not supported"),
        ("version: 1\ningest:\n  lock_timeout_seconds: -1\n", "sinergia.yaml: ingest.lock_timeout_seconds:"),
        ("version: 1\ningest: [\n", "sinergia.yaml: not valid YAML (line 3)"),
    ],
    ids=["unknown-key", "unknown-nested-key", "bad-time-zone", "bad-locale", "bad-timeout", "bad-yaml"],
)
def test_invalid_workspace_config_names_the_key_path(ws: Workspace, tmp_path: Path, config: str, expected: str) -> None:
    (ws.path / "sinergia.yaml").write_text(config)
    result = cli("status", "--workspace", ws.path)
    line = one_line_error(result, EXIT_USAGE)
    assert expected in line


def test_strict_fails_on_the_first_bad_row_and_leaves_the_workspace_unchanged(ws: Workspace, tmp_path: Path) -> None:
    ingest(ws, write(tmp_path / "first" / "accounts.csv", "account_id,name\na0,Zero\n"))
    path = write(
        tmp_path / "subscriptions.csv",
        "subscription_id,account_id,started_at,mrr\n"
        "s1,a1,2024-01-01,10\n"
        "s2,a1,2024-01-01,-5\n"  # line 3: the first bad row
        "s3,a1,2024-01-01,abc\n",
    )
    before_bytes, before_mtime = ws.engine_path.read_bytes(), ws.engine_path.stat().st_mtime_ns
    before = table_counts(ws)

    result = cli("ingest", path, "--preset", "sinergia", "--strict", "--workspace", ws.path)

    line = one_line_error(result, EXIT_INPUT)
    assert "subscriptions.csv: line 3 (row 2), column mrr" in line
    assert "-5" in line
    assert ws.engine_path.read_bytes() == before_bytes
    assert ws.engine_path.stat().st_mtime_ns == before_mtime
    assert table_counts(ws) == before

    with pytest.raises(StrictModeError, match=r"line 3 \(row 2\), column mrr"):
        ingest(ws, path, strict=True)
    assert table_counts(ws) == before


def test_strict_names_a_malformed_line_and_a_duplicate(ws: Workspace, tmp_path: Path) -> None:
    malformed = write(tmp_path / "a" / "accounts.csv", "account_id,name\na1,A\na2,B,extra\n")
    with pytest.raises(StrictModeError, match=r"line 3 \(row 2\).*malformed CSV line"):
        ingest(ws, malformed, strict=True)
    duplicate = write(tmp_path / "b" / "accounts.csv", "account_id,name\na1,A\na1,B\n")
    with pytest.raises(StrictModeError, match=r"line 3 \(row 2\).*first at row 1"):
        ingest(ws, duplicate, strict=True)


def test_core_errors_are_typed_with_their_exit_codes(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown preset"):
        ingest(ws, write(tmp_path / "accounts.csv", "account_id\na1\n"), preset="nope")
    with pytest.raises(ConfigError, match="unknown entity"):
        ingest(ws, tmp_path / "accounts.csv", mapping=write(tmp_path / "m.yaml", "entity: x\ncolumns: {}\n"))
    with pytest.raises(InputError, match="file not found"):
        ingest(ws, tmp_path / "nope.csv")
    with pytest.raises(WorkspaceError):
        open_workspace(tmp_path / "nowhere")
    assert (UsageError.exit_code, ConfigError.exit_code, WorkspaceError.exit_code, InputError.exit_code) == (2, 2, 3, 4)


# -- row-level problems: quarantine --------------------------------------------------------------------------


def test_a_few_bad_dates_are_quarantined_with_row_line_column_and_reason(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "tickets.csv",
        "ticket_id,created_at\nt1,31/12/2024 23:10\nt2,someday\nt3,01/02/2024 10:00\nt4,32/13/2024\n",
    )
    report = ingest(ws, path)
    assert (report.totals().loaded, report.totals().quarantined) == (2, 2)
    assert quarantine(ws) == [
        (2, 3, "created_at", "created_at: someday is not a date"),
        (4, 5, "created_at", "created_at: 32/13/2024 is not a date"),
    ]
    ((file, raw),) = rows(ws, "SELECT file, raw FROM quarantine WHERE row_number = 2")
    assert file == str(path)
    assert json.loads(raw) == {"ticket_id": "t2", "created_at": "someday"}


def test_unparseable_numbers_are_quarantined_not_coerced(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "subscriptions.csv",
        "subscription_id,account_id,started_at,mrr,quantity\n"
        "s1,a1,2024-01-01,abc,1\n"
        "s2,a1,2024-01-01,1x2,1\n"
        "s3,a1,2024-01-01,12..5,1\n"
        "s4,a1,2024-01-01,10,2.5\n"
        "s5,a1,2024-01-01,10,3\n",
    )
    report = ingest(ws, path)
    assert (report.totals().loaded, report.totals().quarantined) == (1, 4)
    assert quarantine(ws) == [
        (1, 2, "mrr", "mrr: abc is not a number"),
        (2, 3, "mrr", "mrr: 1x2 is not a number"),
        (3, 4, "mrr", "mrr: 12..5 is not a number"),
        (4, 5, "quantity", "quantity: 2.5 is not a whole number"),
    ]


def test_negative_mrr_is_quarantined_with_a_reason_naming_mrr_and_the_value(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "subscriptions.csv",
        "subscription_id,account_id,started_at,mrr\ns1,a1,2024-01-01,-49.90\ns2,a1,2024-01-01,49.90\n",
    )
    report = ingest(ws, path)
    assert (report.totals().loaded, report.totals().quarantined) == (1, 1)
    ((row, line, column, reason),) = quarantine(ws)
    assert (row, line, column) == (1, 2, "mrr")
    assert "mrr" in reason
    assert "-49.90" in reason


def test_values_outside_an_allowed_list_are_quarantined(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "tickets.csv", "ticket_id,created_at,channel\nt1,2024-01-01,email\nt2,2024-01-01,pigeon\n")
    ingest(ws, path)
    ((row, line, column, reason),) = quarantine(ws)
    assert (row, line, column) == (2, 3, "channel")
    assert reason.startswith("channel: value pigeon is not one of email, chat")


def test_duplicate_ids_point_at_the_first_row_even_after_a_malformed_line(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "accounts.csv",
        "account_id,name\n"
        "m1,too,many,fields\n"  # line 2, row 1: malformed
        "a1,Acme\n"  # line 3, row 2: first a1
        "a2,Beta\n"  # line 4, row 3
        "a1,Acme Ltda\n"  # line 5, row 4: same id, other values
        "a2,Beta\n",  # line 6, row 5: identical repeat → merged
    )
    report = ingest(ws, path)
    counts = report.totals()
    assert (counts.read, counts.loaded, counts.merged, counts.quarantined) == (5, 2, 1, 2)
    assert quarantine(ws) == [
        (1, 2, None, "malformed CSV line: TOO MANY COLUMNS: Expected Number of Columns: 2 Found: 4"),
        (4, 5, "account_id", 'duplicate key {"account_id":"a1"} with different values (first at row 2)'),
    ]
    assert rows(ws, "SELECT account_id, name FROM accounts ORDER BY 1") == [("a1", "Acme"), ("a2", "Beta")]


def test_line_numbers_count_blank_lines(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "accounts.csv",
        "account_id,employees\n"  # line 1
        "a1,1\n"  # line 2, row 1
        "\n"  # line 3
        "a2,1,z\n"  # line 4, row 2: malformed
        "\n"  # line 5
        "a3,w\n"  # line 6, row 3: bad number
        "a1,2\n"  # line 7, row 4: duplicate of row 1
        "a4\n",  # line 8, row 5: malformed
    )
    report = ingest(ws, path)
    assert (report.totals().read, report.totals().loaded, report.totals().quarantined) == (5, 1, 4)
    assert [(r, ln, c) for r, ln, c, _ in quarantine(ws)] == [
        (2, 4, None),
        (3, 6, "employees"),
        (4, 7, "account_id"),
        (5, 8, None),
    ]
    assert "first at row 1" in quarantine(ws)[2][3]
    assert rows(ws, "SELECT raw FROM quarantine WHERE line = 4") == [("a2,1,z",)]


def test_quarantine_lists_through_the_cli(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "subscriptions.csv", "subscription_id,account_id,started_at,mrr\ns1,a1,2024-01-01,-5\n")
    result = cli("ingest", path, "--preset", "sinergia", "--workspace", ws.path, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["quarantined"] == 1
    listed = json.loads(cli("quarantine", "list", "--workspace", ws.path, "--format", "json").stdout)
    assert [(r["file"], r["row"], r["line"], r["column"]) for r in listed] == [(str(path), 1, 2, "mrr")]
    assert "mrr" in listed[0]["reason"]
    assert "-5" in listed[0]["reason"]
    assert json.loads(listed[0]["raw"])["mrr"] == "-5"
