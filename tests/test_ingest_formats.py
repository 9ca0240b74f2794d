"""Ingestion reads every supported file shape correctly: delimiters, encodings, numbers, dates, formats.

Each test writes real files under ``tmp_path``, imports them into a fresh workspace and reads the
canonical tables back. Every import also checks the counts invariant
(read = loaded + updated + unchanged + merged + quarantined).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sinergia.ingest import ImportReport, ingest_files
from sinergia.ingest.loader import COUNT_KEYS
from sinergia.ingest.sniff import sniff
from sinergia.workspace import Workspace, init_workspace, open_workspace

# -- helpers -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised workspace per module; each test gets a copy (init costs more than a copy)."""
    return init_workspace(tmp_path_factory.mktemp("template") / "ws").path


@pytest.fixture
def ws(tmp_path: Path, template: Path) -> Workspace:
    shutil.copytree(template, tmp_path / "ws")
    return open_workspace(tmp_path / "ws")


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


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


def rows(ws: Workspace, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = ws.duckdb_reader()
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def quarantine(ws: Workspace) -> list[tuple[Any, ...]]:
    return rows(ws, "SELECT row_number, line, column_name, reason FROM quarantine ORDER BY line")


def mapping(tmp_path: Path, text: str, name: str = "mapping.yaml") -> Path:
    return write(tmp_path / name, text)


# -- CSV dialects and encodings ------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"])
def test_csv_delimiter_is_detected(ws: Workspace, tmp_path: Path, delimiter: str) -> None:
    lines = [
        ["account_id", "name", "segment", "employees"],
        ["a1", "Acme Ltda", "Mid Market", "10"],
        ["a2", "Beta e Filhos", "SMB", "7"],
    ]
    path = write(tmp_path / "accounts.csv", "".join(delimiter.join(r) + "\n" for r in lines))

    assert sniff(path).delimiter == delimiter
    report = ingest(ws, path)

    assert report.totals().loaded == 2
    assert rows(ws, "SELECT account_id, name, segment, employees FROM accounts ORDER BY 1") == [
        ("a1", "Acme Ltda", "Mid Market", 10),
        ("a2", "Beta e Filhos", "SMB", 7),
    ]


def test_utf8_accents(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.csv", "account_id,name,industry\na1,João,ação\n")
    ingest(ws, path)
    assert rows(ws, "SELECT name, industry FROM accounts") == [("João", "ação")]


def test_utf8_bom_is_not_part_of_the_first_column_name(ws: Workspace, tmp_path: Path) -> None:
    # The first column is not a canonical field, so it lands in `attributes` under its own name.
    path = write(tmp_path / "accounts.csv", "\ufefftier,account_id,name\ngold,a1,João\n")
    ingest(ws, path)
    ((name, attributes),) = rows(ws, "SELECT name, attributes FROM accounts")
    assert name == "João"
    assert json.loads(attributes) == {"tier": "gold"}


def test_utf8_bom_first_column_resolves_in_a_mapping(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "crm.csv", "\ufeffid;nome\nc1;Conceição\n")
    m = mapping(tmp_path, "entity: accounts\ncolumns:\n  account_id: id\n  name: nome\n")
    ingest(ws, path, mapping=m)
    assert rows(ws, "SELECT account_id, name FROM accounts") == [("c1", "Conceição")]


def test_latin1_file_reads_accents_right(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.csv", "account_id;name;industry\na1;João;ação\na2;Açaí;Educação\n", "latin-1")
    assert sniff(path).encoding == "latin-1"
    ingest(ws, path)
    assert rows(ws, "SELECT account_id, name, industry FROM accounts ORDER BY 1") == [
        ("a1", "João", "ação"),
        ("a2", "Açaí", "Educação"),
    ]


# -- numbers -------------------------------------------------------------------------------------------------


def test_decimal_comma_and_thousands_dots_in_a_semicolon_file(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "subscriptions.csv",
        "subscription_id;account_id;started_at;mrr;quantity\n"
        "s1;a1;2024-01-01;1.234,56;1.000\n"
        "s2;a1;2024-01-01;10,5;3\n"
        "s3;a1;2024-01-01;R$ 2.000.000,00;2\n",
    )
    report = ingest(ws, path)
    assert report.totals().loaded == 3
    assert rows(ws, "SELECT subscription_id, mrr, quantity FROM subscriptions ORDER BY 1") == [
        ("s1", Decimal("1234.56"), 1000),
        ("s2", Decimal("10.50"), 3),
        ("s3", Decimal("2000000.00"), 2),
    ]


def test_currency_symbol_and_thousands_commas_in_a_comma_file(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "subscriptions.csv",
        'subscription_id,account_id,started_at,mrr\ns1,a1,2024-01-01,"$1,234.50"\ns2,a1,2024-01-01,99.9\n',
    )
    ingest(ws, path)
    assert rows(ws, "SELECT subscription_id, mrr FROM subscriptions ORDER BY 1") == [
        ("s1", Decimal("1234.50")),
        ("s2", Decimal("99.90")),
    ]


def test_decimal_option_in_a_mapping_overrides_the_delimiter_rule(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "billing.csv", "id;acc;start;value\ns1;a1;2024-01-01;1,234.50\n")
    m = mapping(
        tmp_path,
        'entity: subscriptions\ndecimal: "."\ncolumns:\n  subscription_id: id\n  account_id: acc\n'
        "  started_at: start\n  mrr: value\n",
    )
    ingest(ws, path, mapping=m)
    assert rows(ws, "SELECT mrr FROM subscriptions") == [(Decimal("1234.50"),)]


# -- dates and time zones ------------------------------------------------------------------------------------


def _tickets(tmp_path: Path, values: list[str], name: str = "tickets.csv") -> Path:
    body = "".join(f"t{i},{v}\n" for i, v in enumerate(values, 1))
    return write(tmp_path / name, "ticket_id,created_at\n" + body)


def _created(ws: Workspace) -> dict[str, dt.datetime]:
    return dict(rows(ws, "SELECT ticket_id, created_at FROM tickets"))


def test_day_first_dates_by_default(ws: Workspace, tmp_path: Path) -> None:
    ingest(ws, _tickets(tmp_path, ["31/12/2024 23:10", "02/03/2024 08:00", "02/03/2024"]))
    assert _created(ws) == {
        "t1": dt.datetime(2024, 12, 31, 23, 10),
        "t2": dt.datetime(2024, 3, 2, 8, 0),
        "t3": dt.datetime(2024, 3, 2),
    }


def test_ambiguous_dates_are_month_first_with_day_first_false_in_the_mapping(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "export.csv", "id,opened\nt1,02/03/2024\nt2,12/25/2024 10:30\n")
    m = mapping(tmp_path, "entity: tickets\nday_first: false\ncolumns:\n  ticket_id: id\n  created_at: opened\n")
    ingest(ws, path, mapping=m)
    assert _created(ws) == {"t1": dt.datetime(2024, 2, 3), "t2": dt.datetime(2024, 12, 25, 10, 30)}


def test_day_first_false_in_the_workspace_config(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    init_workspace(root)
    config = root / "sinergia.yaml"
    config.write_text(config.read_text().replace("day_first: true", "day_first: false"))
    ws = open_workspace(root)
    assert ws.config.ingest.day_first is False
    ingest(ws, _tickets(tmp_path, ["02/03/2024"]))
    assert _created(ws) == {"t1": dt.datetime(2024, 2, 3)}


def test_unambiguous_values_beat_the_day_first_preference(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "export.csv", "id,opened\nt1,02/03/2024\nt2,25/12/2024\nt3,31/01/2024\n")
    m = mapping(tmp_path, "entity: tickets\nday_first: false\ncolumns:\n  ticket_id: id\n  created_at: opened\n")
    ingest(ws, path, mapping=m)
    assert _created(ws)["t1"] == dt.datetime(2024, 3, 2)


def test_iso_with_z_and_offsets_is_converted_to_utc(ws: Workspace, tmp_path: Path) -> None:
    ingest(
        ws,
        _tickets(
            tmp_path,
            ["2024-01-02T03:04:05-03:00", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05+0100", "2024-01-02 03:04:05"],
        ),
    )
    assert _created(ws) == {
        "t1": dt.datetime(2024, 1, 2, 6, 4, 5),
        "t2": dt.datetime(2024, 1, 2, 3, 4, 5),
        "t3": dt.datetime(2024, 1, 2, 2, 4, 5),
        "t4": dt.datetime(2024, 1, 2, 3, 4, 5),
    }


def test_iso_offsets_still_apply_when_some_values_are_bad(ws: Workspace, tmp_path: Path) -> None:
    report = ingest(ws, _tickets(tmp_path, ["2024-01-02T03:04:05-03:00", "apple", "2024-01-02T03:04:05+01:00"]))
    assert report.totals().quarantined == 1
    assert _created(ws) == {"t1": dt.datetime(2024, 1, 2, 6, 4, 5), "t3": dt.datetime(2024, 1, 2, 2, 4, 5)}


SAO_PAULO = "entity: tickets\ntimezone: America/Sao_Paulo\ncolumns:\n  ticket_id: id\n  created_at: opened\n"


def test_mapping_timezone_converts_naive_local_times_to_utc(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "export.csv",
        "id,opened\n"
        "t1,2024-05-10 10:00:00\n"  # UTC-3 (no DST since 2019)
        "t2,2018-12-15 10:00:00\n"  # Brazilian summer time 2018/19: UTC-2
        "t3,2018-06-15 10:00:00\n"  # winter 2018: UTC-3
        "t4,2018-02-10 10:00:00\n"  # summer time 2017/18 (ended 18 Feb 2018): UTC-2
        "t5,2024-05-10T10:00:00Z\n",  # an explicit offset wins over the zone
    )
    ingest(ws, path, mapping=mapping(tmp_path, SAO_PAULO))
    assert _created(ws) == {
        "t1": dt.datetime(2024, 5, 10, 13, 0),
        "t2": dt.datetime(2018, 12, 15, 12, 0),
        "t3": dt.datetime(2018, 6, 15, 13, 0),
        "t4": dt.datetime(2018, 2, 10, 12, 0),
        "t5": dt.datetime(2024, 5, 10, 10, 0),
    }


def test_mapping_timezone_applies_to_day_first_dates(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "export.csv", "id,opened\nt1,15/12/2018 10:00\nt2,10/05/2024 10:00\n")
    ingest(ws, path, mapping=mapping(tmp_path, SAO_PAULO))
    assert _created(ws) == {"t1": dt.datetime(2018, 12, 15, 12, 0), "t2": dt.datetime(2024, 5, 10, 13, 0)}


def test_workspace_timezone_is_the_default_for_naive_times(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", timezone="America/Sao_Paulo")
    plain = mapping(tmp_path, "entity: tickets\ncolumns: {ticket_id: ticket_id, created_at: created_at}\n")
    ingest(ws, _tickets(tmp_path, ["2024-05-10 10:00:00"]), mapping=plain)
    assert _created(ws) == {"t1": dt.datetime(2024, 5, 10, 13, 0)}


def test_canonical_preset_reads_naive_times_as_utc(tmp_path: Path) -> None:
    # Files in the canonical shape hold canonical values, and canonical times are UTC.
    ws = init_workspace(tmp_path / "ws", timezone="America/Sao_Paulo")
    ingest(ws, _tickets(tmp_path, ["2024-05-10 10:00:00"]))
    assert _created(ws) == {"t1": dt.datetime(2024, 5, 10, 10, 0)}


def test_epoch_seconds_and_milliseconds(tmp_path: Path) -> None:
    # Epoch numbers are absolute: a local workspace time zone must not shift them.
    ws = init_workspace(tmp_path / "ws", timezone="America/Sao_Paulo")
    ingest(ws, _tickets(tmp_path / "s", ["1704164645", "1704164646"]))
    ingest(ws, write(tmp_path / "ms" / "tickets.csv", "ticket_id,created_at\nm1,1704164645123\nm2,1704164646000\n"))
    assert _created(ws) == {
        "t1": dt.datetime(2024, 1, 2, 3, 4, 5),
        "t2": dt.datetime(2024, 1, 2, 3, 4, 6),
        "m1": dt.datetime(2024, 1, 2, 3, 4, 5, 123000),
        "m2": dt.datetime(2024, 1, 2, 3, 4, 6),
    }


def test_epoch_column_with_a_bad_value_quarantines_only_that_row(ws: Workspace, tmp_path: Path) -> None:
    report = ingest(ws, _tickets(tmp_path, ["1704164645", "soon", "1704164646"]))
    assert (report.totals().loaded, report.totals().quarantined) == (2, 1)
    assert quarantine(ws) == [(2, 3, "created_at", "created_at: soon is not a date")]


def test_explicit_format_in_the_mapping(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "export.csv", "id,opened\nt1,2024|03|02 10h15\n")
    m = mapping(
        tmp_path,
        "entity: tickets\ncolumns:\n  ticket_id: id\n  created_at: {column: opened, format: '%Y|%m|%d %Hh%M'}\n",
    )
    ingest(ws, path, mapping=m)
    assert _created(ws) == {"t1": dt.datetime(2024, 3, 2, 10, 15)}


# -- file formats --------------------------------------------------------------------------------------------


def test_gzip_csv(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv.gz"
    path.write_bytes(gzip.compress("account_id;name;employees\ng1;Açaí;1.234\ng2;Beta;x\ng3;Gama;5\n".encode()))
    report = ingest(ws, path)
    assert (report.totals().loaded, report.totals().quarantined) == (2, 1)
    assert rows(ws, "SELECT account_id, name, employees FROM accounts ORDER BY 1") == [
        ("g1", "Açaí", 1234),
        ("g3", "Gama", 5),
    ]
    assert quarantine(ws) == [(2, 3, "employees", "employees: x is not a whole number")]


def test_parquet_with_typed_columns(ws: Workspace, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "subscription_id": pa.array([1, 2, 3], pa.int64()),
            "account_id": pa.array(["a1", "a2", "a1"]).dictionary_encode(),
            "started_at": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5)] * 3, pa.timestamp("us")),
            "ended_at": pa.array(
                [dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC), None, None], pa.timestamp("ns", tz="UTC")
            ),
            "mrr": pa.array([Decimal("1234.56"), Decimal("0.10"), Decimal("-1.00")], pa.decimal128(12, 2)),
            "quantity": pa.array([3, 4, 5], pa.int32()),
            "is_trial": pa.array([False, True, False]),
            "seats_note": pa.array(["x", "y", "z"]),
        }
    )
    path = tmp_path / "subscriptions.parquet"
    pq.write_table(table, path)

    report = ingest(ws, path)

    assert (report.totals().loaded, report.totals().quarantined) == (2, 1)
    assert rows(
        ws,
        "SELECT subscription_id, account_id, started_at, ended_at, mrr, quantity, is_trial, attributes "
        "FROM subscriptions ORDER BY 1",
    ) == [
        (
            "1",
            "a1",
            dt.datetime(2024, 1, 2, 3, 4, 5),
            dt.datetime(2024, 3, 1, 12),
            Decimal("1234.56"),
            3,
            False,
            '{"seats_note":"x"}',
        ),
        ("2", "a2", dt.datetime(2024, 1, 2, 3, 4, 5), None, Decimal("0.10"), 4, True, '{"seats_note":"y"}'),
    ]
    ((row, column, reason, raw),) = rows(ws, "SELECT row_number, column_name, reason, raw FROM quarantine")
    assert (row, column, reason) == (3, "mrr", "mrr: must be ≥ 0, got -1.00")
    assert json.loads(raw)["subscription_id"] == 3


def test_parquet_from_pandas_with_time_zone_aware_nanoseconds(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    ws = init_workspace(tmp_path / "ws", timezone="America/Sao_Paulo")
    frame = pd.DataFrame(
        {
            "ticket_id": ["t1", "t2"],
            "created_at": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 00:00"]).tz_localize("UTC"),
            "replies": [1, 2],
        }
    )
    path = tmp_path / "tickets.parquet"
    frame.to_parquet(path)
    ingest(ws, path)
    # Aware timestamps are instants: the workspace time zone does not shift them.
    assert rows(ws, "SELECT ticket_id, created_at, replies FROM tickets ORDER BY 1") == [
        ("t1", dt.datetime(2024, 1, 1, 10, 0), 1),
        ("t2", dt.datetime(2024, 1, 2, 0, 0), 2),
    ]


CONTACTS_BY_PATH = (
    "entity: contacts\ncolumns:\n  contact_id: user.id\n  email: user.email\n  account_id: org.id\n"
    "  name: user.profile.name\n"
)


def test_json_array_with_dotted_paths(ws: Workspace, tmp_path: Path) -> None:
    records = [
        {"user": {"id": "c1", "email": " Ana@X.com ", "profile": {"name": "Ana"}}, "org": {"id": "a1"}},
        {"user": {"id": "c2", "email": "bia@x.com", "profile": {"name": "Bia"}}, "org": {"id": "a2"}},
    ]
    path = write(tmp_path / "people.json", json.dumps(records, indent=2))
    assert sniff(path).format == "json"
    report = ingest(ws, path, mapping=mapping(tmp_path, CONTACTS_BY_PATH))
    assert report.totals().loaded == 2
    assert rows(ws, "SELECT contact_id, email, account_id, name FROM contacts ORDER BY 1") == [
        ("c1", "ana@x.com", "a1", "Ana"),
        ("c2", "bia@x.com", "a2", "Bia"),
    ]


def test_ndjson_with_dotted_paths_and_a_broken_line(ws: Workspace, tmp_path: Path) -> None:
    lines = [
        json.dumps({"user": {"id": "c1", "email": "ana@x.com", "profile": {"name": "Ana"}}, "org": {"id": "a1"}}),
        "",
        "{not json",
        json.dumps({"user": {"id": "c2", "email": "bia@x.com"}, "org": {"id": "a2"}}),
    ]
    path = write(tmp_path / "people.ndjson", "\n".join(lines) + "\n")
    assert sniff(path).format == "ndjson"
    report = ingest(ws, path, mapping=mapping(tmp_path, CONTACTS_BY_PATH))
    assert (report.totals().loaded, report.totals().quarantined) == (2, 1)
    assert rows(ws, "SELECT contact_id, email, account_id, name FROM contacts ORDER BY 1") == [
        ("c1", "ana@x.com", "a1", "Ana"),
        ("c2", "bia@x.com", "a2", None),
    ]
    assert rows(ws, "SELECT row_number, line, reason FROM quarantine") == [(2, 3, "row is not valid JSON: {not json")]


def test_json_named_after_an_entity_loads_with_the_canonical_preset(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "accounts.json",
        json.dumps([{"account_id": "j1", "name": "Acme", "employees": 12, "tier": "gold"}, {"account_id": "j2"}]),
    )
    report = ingest(ws, path)
    assert report.totals().loaded == 2
    assert rows(ws, "SELECT account_id, name, employees, attributes->>'tier' FROM accounts ORDER BY 1") == [
        ("j1", "Acme", 12, "gold"),
        ("j2", None, None, None),
    ]


def test_whitespace_separated_text_with_a_header(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "events.txt",
        "user   event     when\n"
        "u1     login     2024-01-01T10:00:00Z\n"
        "u2  logout 2024-01-01T11:00:00Z\n"
        "u3\tlogin\t2024-01-02T09:30:00Z\n",
    )
    assert sniff(path).format == "whitespace"
    m = mapping(tmp_path, "entity: usage_events\ncolumns:\n  contact_id: user\n  event: event\n  occurred_at: when\n")
    report = ingest(ws, path, mapping=m)
    assert report.totals().loaded == 3
    assert rows(ws, "SELECT contact_id, event, occurred_at FROM usage_events ORDER BY 1") == [
        ("u1", "login", dt.datetime(2024, 1, 1, 10)),
        ("u2", "logout", dt.datetime(2024, 1, 1, 11)),
        ("u3", "login", dt.datetime(2024, 1, 2, 9, 30)),
    ]


def test_whitespace_text_with_a_row_of_the_wrong_width(ws: Workspace, tmp_path: Path) -> None:
    body = "".join(f"u{i} login 2024-01-0{i}T10:00:00Z\n" for i in range(1, 8))
    path = write(tmp_path / "events.txt", "user event when\n" + body + "\nu9 login 2024-01-01T10:00:00Z extra\n")
    assert sniff(path).format == "whitespace"
    m = mapping(tmp_path, "entity: usage_events\ncolumns:\n  contact_id: user\n  event: event\n  occurred_at: when\n")
    report = ingest(ws, path, mapping=m)
    assert (report.totals().loaded, report.totals().quarantined) == (7, 1)
    # header = line 1, seven rows on lines 2-8, a blank line 9, the bad row on line 10 (data row 8)
    assert rows(ws, "SELECT row_number, line, reason FROM quarantine") == [(8, 10, "row has 4 fields, the header 3")]


def test_encoding_in_the_mapping_reads_latin1_bytes_beyond_the_detection_sample(ws: Workspace, tmp_path: Path) -> None:
    # Detection reads the first MB; a Latin-1 byte after it is a bad row unless the mapping names the encoding.
    path = tmp_path / "accounts.csv"
    with path.open("wb") as out:
        out.write(b"account_id;name\n")
        out.writelines(b"a%d;Plain ASCII name %d\n" % (i, i) for i in range(60_000))
        out.write("z1;João\n".encode("latin-1"))
    assert path.stat().st_size > 1 << 20

    report = ingest(ws, path)
    assert (report.totals().loaded, report.totals().quarantined) == (60_000, 1)
    ((row, line, reason),) = rows(ws, "SELECT row_number, line, reason FROM quarantine")
    assert (row, line) == (60_001, 60_002)
    assert "not utf-8 encoded" in reason

    m = mapping(tmp_path, "entity: accounts\nencoding: latin-1\ncolumns:\n  account_id: account_id\n  name: name\n")
    report = ingest(ws, path, mapping=m)
    assert (report.totals().loaded, report.totals().unchanged) == (1, 60_000)
    assert rows(ws, "SELECT name FROM accounts WHERE account_id = 'z1'") == [("João",)]


# -- the user guide matches the code ---------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_ingestion_guide_documents_every_mapping_key_and_date_format() -> None:
    import re

    from sinergia.ingest import expressions, mapping

    text = (DOCS / "ingestion.md").read_text(encoding="utf-8")
    models = (
        mapping.ReadOptions,
        mapping.Mapping,
        mapping.Target,
        mapping.ColumnSpec,
        mapping.PresetFile,
        mapping.Preset,
    )
    for model in models:
        for key in model.model_fields:
            assert re.search(rf"`(files\[\]\.)?{re.escape(key)}:?`", text), f"docs/ingestion.md lacks `{key}`"
    for fmt in (*expressions.DAY_FIRST, *expressions.MONTH_FIRST, *expressions.OTHER):
        assert f"`{fmt}`" in text, fmt
    for word in (*expressions.TRUE_WORDS, *expressions.FALSE_WORDS):
        assert re.search(rf"`[^`]*\b{re.escape(word)}\b[^`]*`", text), word
    for literal in ("utf-8-sig", "latin-1", "last_wins", "epoch_ms", "whitespace", "ndjson"):
        assert literal in text


def test_windows_1252_export_is_read(tmp_path: Path) -> None:
    # Excel's "CSV" on Windows: cp1252 puts “curly quotes”, – and € in bytes 0x80-0x9F, which are not Latin-1.
    ws = init_workspace(tmp_path / "ws")
    text = "account_id;name;segment\na1;Ação “Premium” – São Paulo;€ 1\na2;Beta;SMB\n"
    accounts = tmp_path / "accounts.csv"
    accounts.write_bytes(text.encode("cp1252"))
    ingest(ws, accounts)
    assert dict(rows(ws, "SELECT account_id, name FROM accounts")) == {
        "a1": "Ação “Premium” – São Paulo",
        "a2": "Beta",
    }
    assert dict(rows(ws, "SELECT account_id, segment FROM accounts"))["a1"] == "€ 1"


def test_windows_1252_quarantine_lines_refer_to_the_original_file(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    path = tmp_path / "accounts.csv"
    path.write_bytes("account_id;name;employees\na1;“A”;1\na2;B;muitos\n".encode("cp1252"))
    ingest(ws, path)
    assert rows(ws, "SELECT file, line, column_name FROM quarantine") == [(str(path), 3, "employees")]
