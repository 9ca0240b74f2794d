"""What an import does to the workspace: counts, idempotence, updates, dry runs, identity, quarantine, audit.

Every import in this file checks the counts invariant read = loaded + updated + unchanged + merged +
quarantined, per file, per entity and in total.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sinergia.ingest import ImportReport, ingest_files
from sinergia.ingest.loader import COUNT_KEYS
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


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
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


def counts(report: ImportReport, entity: str | None = None) -> dict[str, int]:
    c = report.totals() if entity is None else report.by_entity()[entity]
    return c.as_dict()


def rows(ws: Workspace, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = ws.duckdb_reader()
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def count(ws: Workspace, table: str) -> int:
    return int(rows(ws, f'SELECT count(*) FROM "{table}"')[0][0])


def table_counts(ws: Workspace) -> dict[str, int]:
    names = [r[0] for r in rows(ws, "SELECT table_name FROM information_schema.tables ORDER BY 1")]
    return {n: count(ws, n) for n in names}


def c(
    read: int = 0, loaded: int = 0, updated: int = 0, unchanged: int = 0, merged: int = 0, quarantined: int = 0
) -> dict[str, int]:
    return {
        "read": read,
        "loaded": loaded,
        "updated": updated,
        "unchanged": unchanged,
        "merged": merged,
        "quarantined": quarantined,
    }


ACCOUNTS = (
    "account_id,name,segment,employees\n"
    "a1,Acme,SMB,10\n"
    "a2,Beta,SMB,x\n"  # quarantined: not a whole number
    "a3,Gamma,ENT,300\n"
    "a3,Gamma,ENT,300\n"  # identical repeat: merged
    "a4,Delta,SMB,5\n"
)


# -- idempotence and updates ---------------------------------------------------------------------------------


def test_first_import_counts(ws: Workspace, tmp_path: Path) -> None:
    report = ingest(ws, write(tmp_path / "accounts.csv", ACCOUNTS))
    assert counts(report) == c(read=5, loaded=3, merged=1, quarantined=1)
    assert count(ws, "accounts") == 3


def test_reimporting_the_same_file_changes_nothing(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.csv", ACCOUNTS)
    ingest(ws, path)
    stored = rows(ws, "SELECT * EXCLUDE (_import_id, _loaded_at) FROM accounts ORDER BY account_id")
    loaded_at = rows(ws, "SELECT account_id, _import_id, _loaded_at FROM accounts ORDER BY 1")
    quarantined = count(ws, "quarantine")
    assert quarantined == 1

    report = ingest(ws, path)

    assert counts(report) == c(read=5, unchanged=3, merged=1, quarantined=1)
    assert rows(ws, "SELECT * EXCLUDE (_import_id, _loaded_at) FROM accounts ORDER BY account_id") == stored
    assert rows(ws, "SELECT account_id, _import_id, _loaded_at FROM accounts ORDER BY 1") == loaded_at
    assert count(ws, "quarantine") == quarantined  # not doubled


def test_a_changed_file_updates_exactly_the_changed_rows_and_keeps_unmapped_columns(
    ws: Workspace, tmp_path: Path
) -> None:
    ingest(
        ws, write(tmp_path / "v1" / "accounts.csv", "account_id,name,segment\na1,Acme,SMB\na2,Beta,SMB\na3,Gama,ENT\n")
    )
    # Another source fills a column the first file does not have.
    enrich = write(tmp_path / "crm.csv", "id,ind,emp\na1,Tech,10\na2,Retail,20\na3,Health,30\n")
    mapping = write(
        tmp_path / "crm.yaml", "entity: accounts\ncolumns:\n  account_id: id\n  industry: ind\n  employees: emp\n"
    )
    assert counts(ingest(ws, enrich, mapping=mapping)) == c(read=3, updated=3)

    v2 = write(
        tmp_path / "v2" / "accounts.csv",
        "account_id,name,segment\na1,Acme Ltda,SMB\na2,Beta,ENT\na3,Gama,ENT\na4,Delta,SMB\n",
    )
    report = ingest(ws, v2)

    assert counts(report) == c(read=4, loaded=1, updated=2, unchanged=1)
    assert rows(ws, "SELECT account_id, name, segment, industry, employees FROM accounts ORDER BY 1") == [
        ("a1", "Acme Ltda", "SMB", "Tech", 10),
        ("a2", "Beta", "ENT", "Retail", 20),
        ("a3", "Gama", "ENT", "Health", 30),
        ("a4", "Delta", "SMB", None, None),
    ]
    # Only the rows written by this import carry its id.
    assert rows(ws, "SELECT account_id FROM accounts WHERE _import_id = ? ORDER BY 1", [report.import_id]) == [
        ("a1",),
        ("a2",),
        ("a4",),
    ]


def test_dry_run_reports_the_same_counts_and_writes_nothing(ws: Workspace, tmp_path: Path) -> None:
    ingest(ws, write(tmp_path / "v1" / "accounts.csv", "account_id,name\na1,Acme\na2,Beta\n"))
    path = write(tmp_path / "accounts.csv", ACCOUNTS)
    before_bytes, before_mtime = ws.engine_path.read_bytes(), ws.engine_path.stat().st_mtime_ns
    before = table_counts(ws)
    audits = _audit_rows(ws)

    dry = ingest(ws, path, dry_run=True)

    assert dry.dry_run is True
    assert ws.engine_path.read_bytes() == before_bytes
    assert ws.engine_path.stat().st_mtime_ns == before_mtime
    assert table_counts(ws) == before
    assert _audit_rows(ws) == audits
    assert sorted(p.name for p in ws.path.iterdir() if p.name.startswith(".engine-writing-")) == []

    real = ingest(ws, path)
    assert counts(dry) == counts(real) == c(read=5, loaded=2, updated=1, merged=1, quarantined=1)
    assert [(f.file, f.entity, f.counts) for f in dry.files] == [(f.file, f.entity, f.counts) for f in real.files]


# -- identity resolution -------------------------------------------------------------------------------------


def test_contact_under_a_new_id_with_a_known_email_merges_and_references_follow(ws: Workspace, tmp_path: Path) -> None:
    ingest(ws, write(tmp_path / "accounts.csv", "account_id,name\nA1,Acme\n"))
    ingest(ws, write(tmp_path / "contacts.csv", "contact_id,account_id,email,name\nc1,A1,Ana@Acme.com,Ana\n"))
    crm = write(tmp_path / "crm.csv", 'id,mail,title\nz9,"  ANA@acme.COM ",CFO\n')
    mapping = write(
        tmp_path / "crm.yaml", "entity: contacts\ncolumns:\n  contact_id: id\n  email: mail\n  title: title\n"
    )

    report = ingest(ws, crm, mapping=mapping)

    assert counts(report) == c(read=1, updated=1)  # the row landed on the stored contact c1
    assert report.aliases == {"contacts": 1}
    assert rows(ws, "SELECT contact_id, account_id, email, name, title FROM contacts") == [
        ("c1", "A1", "ana@acme.com", "Ana", "CFO")
    ]
    ((alias, canonical, reason, source, import_id),) = rows(
        ws, "SELECT alias_id, canonical_id, reason, source, import_id FROM identity_map WHERE entity = 'contacts'"
    )
    assert (alias, canonical, source, import_id) == ("z9", "c1", "crm", report.import_id)
    assert reason == "same email ana@acme.com"

    # A later file that knows the person by the new id points at the canonical contact.
    events = write(
        tmp_path / "usage_events.csv", "contact_id,event,occurred_at\nz9,login,2024-01-01 10:00\nc1,login,2024-01-02\n"
    )
    assert counts(ingest(ws, events)) == c(read=2, loaded=2)
    assert rows(ws, "SELECT DISTINCT contact_id FROM usage_events") == [("c1",)]
    # Importing the merged file again is a no-op.
    assert counts(ingest(ws, crm, mapping=mapping)) == c(read=1, unchanged=1)
    assert count(ws, "identity_map") == 1


def test_accounts_merge_by_domain(ws: Workspace, tmp_path: Path) -> None:
    ingest(ws, write(tmp_path / "accounts.csv", "account_id,name,domain\nA1,Acme,https://www.Acme.com/\n"))
    assert rows(ws, "SELECT domain FROM accounts") == [("acme.com",)]
    billing = write(tmp_path / "billing.csv", "customer,site,plan\nB7,acme.com,Pro\n")
    mapping = write(
        tmp_path / "billing.yaml", "entity: accounts\ncolumns:\n  account_id: customer\n  domain: site\n  plan: plan\n"
    )

    report = ingest(ws, billing, mapping=mapping)

    assert counts(report) == c(read=1, updated=1)
    assert rows(ws, "SELECT account_id, name, domain, plan FROM accounts") == [("A1", "Acme", "acme.com", "Pro")]
    assert rows(ws, "SELECT alias_id, canonical_id, reason FROM identity_map") == [("B7", "A1", "same domain acme.com")]
    subs = write(tmp_path / "subscriptions.csv", "subscription_id,account_id,started_at,mrr\ns1,B7,2024-01-01,10\n")
    ingest(ws, subs)
    assert rows(ws, "SELECT account_id FROM subscriptions") == [("A1",)]


def test_two_ids_with_one_email_in_the_same_file_fold_into_the_first(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "contacts.csv", "contact_id,email,name\nc1,ana@x.com,Ana\nc2,ANA@x.com,Ana Maria\n")
    report = ingest(ws, path)
    assert counts(report) == c(read=2, loaded=1, merged=1)
    assert rows(ws, "SELECT contact_id, name FROM contacts") == [("c1", "Ana Maria")]
    assert rows(ws, "SELECT alias_id, canonical_id FROM identity_map") == [("c2", "c1")]


EXTERNAL = "entity: accounts\nexternal_id: billing_id\ncolumns:\n  account_id: id\n  name: name\n"


def test_external_id_resolves_references_loaded_before_the_alias(ws: Workspace, tmp_path: Path) -> None:
    subs = write(tmp_path / "subscriptions.csv", "subscription_id,account_id,started_at,mrr\ns1,bill-1,2024-01-01,10\n")
    ingest(ws, subs)
    assert rows(ws, "SELECT account_id FROM subscriptions") == [("bill-1",)]

    crm = write(tmp_path / "crm.csv", "id,name,billing_id\ncrm-1,Acme,bill-1\n")
    report = ingest(ws, crm, mapping=write(tmp_path / "crm.yaml", EXTERNAL))

    assert report.aliases == {"accounts": 1}
    assert rows(ws, "SELECT account_id FROM subscriptions") == [("crm-1",)]
    assert rows(ws, "SELECT alias_id, canonical_id, reason FROM identity_map") == [
        ("bill-1", "crm-1", "external id from crm")
    ]


def test_external_id_resolves_references_loaded_after_the_alias(ws: Workspace, tmp_path: Path) -> None:
    ingest(
        ws,
        write(tmp_path / "crm.csv", "id,name,billing_id\ncrm-1,Acme,bill-1\n"),
        mapping=write(tmp_path / "crm.yaml", EXTERNAL),
    )
    subs = write(tmp_path / "subscriptions.csv", "subscription_id,account_id,started_at,mrr\ns1,bill-1,2024-01-01,10\n")
    ingest(ws, subs)
    assert rows(ws, "SELECT account_id FROM subscriptions") == [("crm-1",)]
    # A later row for the alias id updates the canonical record instead of creating a second one.
    ingest(ws, write(tmp_path / "more" / "accounts.csv", "account_id,name\nbill-1,Acme (billing)\n"))
    assert rows(ws, "SELECT account_id, name FROM accounts") == [("crm-1", "Acme (billing)")]


@pytest.mark.parametrize("order", ["references-first", "alias-first"])
def test_external_id_is_load_order_independent_within_one_import(ws: Workspace, tmp_path: Path, order: str) -> None:
    preset = write(
        tmp_path / "combo.yaml",
        "files:\n"
        "  - match: 'subs*.csv'\n    entity: subscriptions\n    columns:\n      subscription_id: id\n"
        "      account_id: customer\n      started_at: start\n      mrr: mrr\n"
        "  - match: 'crm*.csv'\n    entity: accounts\n    external_id: billing_id\n"
        "    columns:\n      account_id: id\n      name: name\n",
    )
    subs = write(tmp_path / "subs.csv", "id,customer,start,mrr\ns1,bill-1,2024-01-01,10\ns2,crm-2,2024-01-01,20\n")
    crm = write(tmp_path / "crm.csv", "id,name,billing_id\ncrm-1,Acme,bill-1\ncrm-2,Beta,bill-2\n")
    files = [subs, crm] if order == "references-first" else [crm, subs]

    ingest(ws, *files, mapping=preset)

    assert rows(ws, "SELECT subscription_id, account_id FROM subscriptions ORDER BY 1") == [
        ("s1", "crm-1"),
        ("s2", "crm-2"),
    ]


# -- in-file duplicates and content keys ---------------------------------------------------------------------


def test_identical_duplicate_rows_count_as_merged(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "tickets.csv",
        "ticket_id,created_at,status\nt1,2024-01-01,open\nt1,2024-01-01,open\nt1,2024-01-01,open\nt2,2024-01-02,new\n",
    )
    report = ingest(ws, path)
    assert counts(report) == c(read=4, loaded=2, merged=2)
    assert count(ws, "quarantine") == 0


def test_last_wins_keeps_the_last_row_of_a_repeated_key(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "export.csv", "id,opened,status\nt1,2024-01-01,new\nt1,2024-01-01,open\nt1,2024-01-01,solved\n"
    )
    mapping = write(
        tmp_path / "m.yaml",
        "entity: tickets\nduplicate_keys: last_wins\n"
        "columns:\n  ticket_id: id\n  created_at: opened\n  status: status\n",
    )
    report = ingest(ws, path, mapping=mapping)
    assert counts(report) == c(read=3, loaded=1, merged=2)
    assert rows(ws, "SELECT status FROM tickets") == [("solved",)]


def test_usage_events_without_event_id_get_a_content_key(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "usage_events.csv",
        "account_id,event,occurred_at\n"
        "a1,login,2024-01-01 10:00\n"
        "a1,login,2024-01-01 11:00\n"
        "a1,login,2024-01-01 10:00\n",  # same content as row 1
    )
    report = ingest(ws, path)
    assert counts(report) == c(read=3, loaded=2, quarantined=1)
    keys = [r[0] for r in rows(ws, "SELECT event_id FROM usage_events")]
    assert len(set(keys)) == 2
    assert all(len(k) == 32 for k in keys)
    assert rows(ws, "SELECT row_number, line, column_name, reason FROM quarantine") == [
        (3, 4, "event_id", "same content as row 1 (no event_id to tell the rows apart)")
    ]
    # The key depends on the content only: the same events from another file are unchanged.
    again = write(tmp_path / "again" / "usage_events.csv", "account_id,event,occurred_at\na1,login,2024-01-01 11:00\n")
    assert counts(ingest(ws, again)) == c(read=1, unchanged=1)


# -- quarantine ----------------------------------------------------------------------------------------------


def test_quarantine_rows_carry_file_line_column_reason_and_raw_row(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "subscriptions.csv",
        "subscription_id,account_id,started_at,mrr\n"  # line 1
        "s1,a1,2024-01-01,10\n"  # line 2
        "s2,a1,2024-01-01,-1\n"  # line 3: bad mrr
        "s3,a1,2024-01-01,5,extra\n"  # line 4: malformed
        "s4,a1,yesterday,5\n",  # line 5: bad date
    )
    report = ingest(ws, path)
    assert counts(report) == c(read=4, loaded=1, quarantined=3)
    got = rows(
        ws,
        "SELECT import_id, file, file_sha256, entity, row_number, line, column_name, reason, raw FROM quarantine "
        "ORDER BY line",
    )
    assert [r[:2] for r in got] == [(report.import_id, str(path))] * 3
    assert len({r[2] for r in got}) == 1
    assert [r[3:8] for r in got] == [
        ("subscriptions", 2, 3, "mrr", "mrr: must be ≥ 0, got -1"),
        ("subscriptions", 3, 4, None, "malformed CSV line: TOO MANY COLUMNS: Expected Number of Columns: 4 Found: 5"),
        ("subscriptions", 4, 5, "started_at", "started_at: yesterday is not a date"),
    ]
    assert json.loads(got[0][8]) == {
        "subscription_id": "s2",
        "account_id": "a1",
        "started_at": "2024-01-01",
        "mrr": "-1",
    }
    assert got[1][8] == "s3,a1,2024-01-01,5,extra"
    assert json.loads(got[2][8])["started_at"] == "yesterday"


def test_line_numbers_are_exact_in_a_file_read_in_parallel_chunks(ws: Workspace, tmp_path: Path) -> None:
    n = 300_000
    bad = {250_001: "x", 299_990: "-3"}
    path = tmp_path / "subscriptions.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("subscription_id,account_id,started_at,mrr\n")
        for i in range(1, n + 1):
            if i == 280_000:
                out.write("broken,line,with,too,many\n")
            out.write(f"s{i},a{i % 100},2024-01-01,{bad.get(i, '10.5')}\n")

    report = ingest(ws, path)

    assert counts(report) == c(read=n + 1, loaded=n - 2, quarantined=3)
    # data row r sits on line r + 1; the broken line is data row 280,000, pushing later rows one down.
    sql = (
        "SELECT row_number, line, column_name, "
        "CASE WHEN json_valid(raw) THEN json_extract_string(raw, '$.subscription_id') ELSE raw END "
        "FROM quarantine ORDER BY line"
    )
    assert rows(ws, sql) == [
        (250_001, 250_002, "mrr", "s250001"),
        (280_000, 280_001, None, "broken,line,with,too,many"),
        (299_991, 299_992, "mrr", "s299990"),
    ]


# -- bookkeeping: imports table and audit log ----------------------------------------------------------------


def test_imports_table_has_one_row_per_file_and_entity_with_the_report_counts(ws: Workspace, tmp_path: Path) -> None:
    accounts = write(tmp_path / "accounts.csv", ACCOUNTS)
    tickets = write(tmp_path / "tickets.csv", "ticket_id,created_at\nt1,2024-01-01\nt2,bad\n")
    report = ingest(ws, accounts, tickets)

    got = rows(
        ws,
        f"SELECT import_id, source, file, file_sha256, entity, {', '.join(COUNT_KEYS)}, started_at <= finished_at "
        "FROM imports ORDER BY entity",
    )
    assert len(got) == 2
    by_entity = {r[4]: r for r in got}
    for result in report.files:
        row = by_entity[result.entity]
        assert row[0] == report.import_id
        assert row[1] == "sinergia"
        assert row[2] == result.file
        assert len(row[3]) == 64
        assert dict(zip(COUNT_KEYS, row[5:11], strict=True)) == result.counts.as_dict()
        assert row[11] is True


def _audit_rows(ws: Workspace) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(ws.store_url)
    try:
        with engine.connect() as con:
            return [tuple(r) for r in con.execute(sa.text("SELECT action, target, details FROM audit_log ORDER BY id"))]
    finally:
        engine.dispose()


def test_audit_log_gets_one_row_per_real_import(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.csv", ACCOUNTS)
    assert _audit_rows(ws) == []
    ingest(ws, path, dry_run=True)
    assert _audit_rows(ws) == []
    first = ingest(ws, path)
    second = ingest(ws, path)
    audit = _audit_rows(ws)
    assert len(audit) == 2
    for (action, target, details), report in zip(audit, [first, second], strict=True):
        assert action == "ingest"
        assert str(path) in target
        data = details if isinstance(details, dict) else json.loads(details)
        assert data["import_id"] == report.import_id
        assert {k: data[k] for k in COUNT_KEYS} == counts(report)


def test_loaded_at_is_utc_and_recent(ws: Workspace, tmp_path: Path) -> None:
    report = ingest(ws, write(tmp_path / "accounts.csv", "account_id\na1\n"))
    ((loaded_at, import_id, source),) = rows(ws, "SELECT _loaded_at, _import_id, _source FROM accounts")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert abs((now - loaded_at).total_seconds()) < 120
    assert (import_id, source) == (report.import_id, "sinergia")


def test_canonical_files_are_utc_whatever_the_workspace_zone(tmp_path: Path) -> None:
    """The 'sinergia' preset reads canonical-shape files, whose times are UTC by definition (the demo's)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import sinergia
    from sinergia.ingest import ingest_files

    ws = sinergia.init_workspace(tmp_path / "ws", timezone="America/Sao_Paulo")
    path = tmp_path / "touchpoints.parquet"
    table = pa.table(
        {
            "touchpoint_id": ["t1"],
            "account_id": ["a1"],
            "name": ["kickoff"],
            "occurred_at": pa.array([dt.datetime(2024, 1, 2, 12, 0)], type=pa.timestamp("us")),
        }
    )
    pq.write_table(table, path)
    ingest_files(ws, [path], preset="sinergia")
    con = ws.duckdb_reader()
    try:
        stored = con.execute("SELECT occurred_at FROM touchpoints").fetchone()
    finally:
        con.close()
    assert stored == (dt.datetime(2024, 1, 2, 12, 0),)
