"""The presets for the exports users have: Segment, HubSpot, Zendesk, Stripe and survey CSVs.

Each test ingests hand-written fixtures in ``tests/fixtures/exports/`` — shaped like the real exports,
warts included — and checks values computed by hand (the arithmetic is in the comments), the counts
invariant read = loaded + updated + unchanged + merged + quarantined, and that importing the same files
again loads and updates nothing. The workspace's time zone is America/Sao_Paulo (UTC-3, no DST in 2024),
so local times without an offset move three hours forward to UTC.

The last section tests the ingestion-core features these presets need: rows no target takes, JSON
documents that wrap or nest their records, and ``{{a|b}}`` column alternatives in SQL.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sinergia.errors import InputError, StrictModeError
from sinergia.ingest import ImportReport, ingest_files
from sinergia.ingest.loader import COUNT_KEYS
from sinergia.workspace import Workspace, init_workspace

EXPORTS = Path(__file__).resolve().parent / "fixtures" / "exports"
T = dt.datetime

# -- helpers -------------------------------------------------------------------------------------------------


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "ws", timezone="America/Sao_Paulo")


def assert_balanced(report: ImportReport) -> None:
    for counts in [*(f.counts for f in report.files), *report.by_entity().values(), report.totals()]:
        c = counts.as_dict()
        assert c["read"] == sum(c[k] for k in COUNT_KEYS if k != "read"), c


def ingest(ws: Workspace, preset: str | None, *names: str | Path, **kw: Any) -> ImportReport:
    files = [n if isinstance(n, Path) else EXPORTS / n for n in names]
    report = ingest_files(ws, files, preset=preset, **kw)
    assert_balanced(report)
    return report


def per_file(report: ImportReport) -> dict[tuple[str, str], dict[str, int]]:
    """Counts keyed by (file name, entity)."""
    return {(Path(f.file).name, f.entity): f.counts.as_dict() for f in report.files}


def counts(**given: int) -> dict[str, int]:
    """A counts dict: the given counts, zero for the others."""
    return {k: given.get(k, 0) for k in COUNT_KEYS}


def assert_idempotent(ws: Workspace, preset: str, *names: str) -> ImportReport:
    """Importing the same files again changes nothing: no row loaded or updated."""
    again = ingest(ws, preset, *names)
    for f in again.files:
        assert (f.counts.loaded, f.counts.updated) == (0, 0), (f.file, f.entity, f.counts)
    return again


def rows(ws: Workspace, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = ws.duckdb_reader()
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def one(ws: Workspace, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
    result = rows(ws, sql, params)
    assert len(result) == 1, result
    return result[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- Segment -------------------------------------------------------------------------------------------------


def test_segment_routes_each_call_to_its_entity(ws: Workspace) -> None:
    report = ingest(ws, "segment", "segment-events.ndjson")
    # 12 lines: 1 blank; 2 identify, 2 group, 4 track (one a retry), 1 page, 1 screen, 1 alias.
    assert per_file(report) == {
        # The alias call is taken by no target: quarantined, counted with the first target (contacts).
        ("segment-events.ndjson", "contacts"): counts(read=3, loaded=2, quarantined=1),
        ("segment-events.ndjson", "accounts"): counts(read=2, loaded=2),
        # track ×4 (one retried) + page + screen = 6 read; the retry is merged, 5 events loaded.
        ("segment-events.ndjson", "usage_events"): counts(read=6, loaded=5, merged=1),
    }
    assert rows(
        ws, "SELECT contact_id, account_id, email, name, title, language, created_at FROM contacts ORDER BY 1"
    ) == [
        # e-mail lower-cased; account from context.groupId; createdAt "2023-11-02T12:00:00Z".
        ("u_ana", "grp_acme", "ana.souza@acme.com.br", "Ana Souza", "Head of CS", "pt-BR", T(2023, 11, 2, 12)),
        # name from traits.firstName + traits.lastName.
        ("u_bruno", "grp_globex", "bruno@globex.io", "Bruno Lima", None, "en-US", None),
    ]
    assert rows(ws, "SELECT account_id, name, domain, plan, employees, industry, country FROM accounts ORDER BY 1") == [
        # website "https://www.acme.com.br/" → domain "acme.com.br"; employees given as a number.
        ("grp_acme", "Acme Ltda", "acme.com.br", "enterprise", 250, "Retail", "Brazil"),
        # employees given as the string "40".
        ("grp_globex", "Globex", "globex.io", "pro", 40, "Software", None),
    ]


def test_segment_usage_events_are_utc_and_deduplicated(ws: Workspace) -> None:
    ingest(ws, "segment", "segment-events.ndjson")
    assert rows(
        ws,
        "SELECT event_id, event, contact_id, account_id, feature, occurred_at FROM usage_events ORDER BY occurred_at",
    ) == [
        # 10:15-03:00 → 13:15 UTC. Delivered twice (same messageId, later sentAt/receivedAt): one row.
        ("ajs-next-3c1f0b2e-0005", "Report Exported", "u_ana", "grp_acme", "reports", T(2024, 3, 1, 13, 15)),
        # 23:30+05:30 → 18:00 UTC; the account comes from properties.groupId (no context.groupId).
        ("ajs-next-3c1f0b2e-0006", "Dashboard Viewed", "u_bruno", "grp_globex", "dashboards", T(2024, 3, 1, 18, 0)),
        # page "Pricing" → "Viewed Pricing Page"; Z is UTC already.
        ("ajs-next-3c1f0b2e-0007", "Viewed Pricing Page", "u_ana", "grp_acme", None, T(2024, 3, 2, 8, 0)),
        # screen "Home"; the milliseconds are kept.
        ("ios-7f9d2a10-0008", "Viewed Home Screen", "u_bruno", "grp_globex", "home", T(2024, 3, 2, 8, 5, 0, 250000)),
        # anonymous track (no userId): no contact; 09:00-03:00 → 12:00 UTC.
        ("ajs-next-3c1f0b2e-0010", "Signed Up", None, None, None, T(2024, 3, 2, 12, 0)),
    ]
    props, attrs = one(ws, "SELECT properties, attributes FROM usage_events WHERE event_id = 'ajs-next-3c1f0b2e-0005'")
    assert json.loads(props) == {"feature": "reports", "format": "csv", "rows": 1200}
    kept = json.loads(attrs)  # the message minus its transport fields and the properties stored beside it
    assert kept["anonymousId"] == "anon-123" and kept["context"]["page"]["path"] == "/reports/42"
    assert "sentAt" not in kept and "receivedAt" not in kept and "properties" not in kept


def test_segment_alias_is_quarantined_not_lost(ws: Workspace) -> None:
    ingest(ws, "segment", "segment-events.ndjson")
    entity, row, line, column, reason, raw = one(
        ws, "SELECT entity, row_number, line, column_name, reason, raw FROM quarantine"
    )
    # The alias is the 10th message, on line 11 (line 9 is blank).
    assert (entity, row, line, column) == ("contacts", 10, 11, None)
    assert reason.startswith("no target takes this row")
    assert json.loads(raw)["type"] == "alias"


def test_segment_batch_file_and_cross_file_retry(ws: Workspace) -> None:
    ingest(ws, "segment", "segment-events.ndjson")
    # A pretty-printed {"batch": [...]} document: its two messages are the rows. One is the retried
    # "Report Exported" again (no sentAt/receivedAt this time): unchanged, not a second event.
    report = ingest(ws, "segment", "segment-batch.json")
    assert per_file(report)[("segment-batch.json", "usage_events")] == counts(read=2, loaded=1, unchanged=1)
    assert one(ws, "SELECT count(*) FROM usage_events WHERE event_id = 'ajs-next-3c1f0b2e-0005'") == (1,)
    # 14:00+01:00 → 13:00 UTC
    assert one(ws, "SELECT event, occurred_at FROM usage_events WHERE event_id = 'ajs-next-3c1f0b2e-0011'") == (
        "Report Scheduled",
        T(2024, 3, 3, 13, 0),
    )


def test_segment_is_idempotent(ws: Workspace) -> None:
    ingest(ws, "segment", "segment-events.ndjson", "segment-batch.json")
    again = assert_idempotent(ws, "segment", "segment-events.ndjson", "segment-batch.json")
    # The retried delivery is merged again; the alias is quarantined again, once in the table.
    assert per_file(again)[("segment-events.ndjson", "usage_events")] == counts(read=6, unchanged=5, merged=1)
    assert one(ws, "SELECT count(*) FROM quarantine") == (1,)


# -- HubSpot -------------------------------------------------------------------------------------------------

COMPANIES = "hubspot-crm-exports-all-companies-2024-03-05.csv"
CONTACTS = "hubspot-crm-exports-all-contacts-2024-03-05.csv"


def test_hubspot_companies_dedupe_by_domain_and_map_lifecycle(ws: Workspace) -> None:
    report = ingest(ws, "hubspot", COMPANIES)
    # 9001 (www.acme.com.br) and 9002 (acme.com.br) are one company: 9002 becomes an alias of 9001, the
    # first seen, and its row folds into it (merged); the later row's values win.
    assert per_file(report) == {(COMPANIES, "accounts"): counts(read=5, loaded=4, merged=1)}
    assert rows(ws, "SELECT entity, alias_id, canonical_id, reason, source FROM identity_map") == [
        ("accounts", "9002", "9001", "same domain acme.com.br", "hubspot"),
    ]
    assert rows(
        ws,
        "SELECT account_id, name, domain, industry, employees, lifecycle_stage, owner, country, created_at "
        "FROM accounts ORDER BY 1",
    ) == [
        # 9002's row: "1,200" employees; Opportunity → prospect; 2024-01-15 09:00 local → 12:00 UTC.
        ("9001", "ACME Brasil", "acme.com.br", "Retail", 1200, "prospect", "Carla Dias", "Brazil", T(2024, 1, 15, 12)),
        # Marketing Qualified Lead → prospect; 11:45 local → 14:45 UTC.
        (
            "9003",
            "Initech",
            "initech.com",
            "Computer Software",
            80,
            "prospect",
            "Diego Reis",
            "United States",
            T(2024, 2, 20, 14, 45),
        ),
        # "https://umbrella.co/about" → umbrella.co; Evangelist → customer.
        ("9004", "Umbrella", "umbrella.co", "Pharmaceuticals", None, "customer", None, None, T(2022, 5, 5, 11)),
        # Other → no stage; no domain.
        ("9005", "Hooli", None, "Computer Software", 500, None, None, "United States", T(2024, 2, 1, 13)),
    ]
    # Columns the model does not name are kept.
    (attrs,) = one(ws, "SELECT attributes FROM accounts WHERE account_id = '9005'")
    assert json.loads(attrs)["Annual Revenue"] == "250000000"


def test_hubspot_contacts(ws: Workspace) -> None:
    report = ingest(ws, "hubspot", COMPANIES, CONTACTS)
    assert per_file(report)[(CONTACTS, "contacts")] == counts(read=4, loaded=4)
    assert rows(ws, "SELECT contact_id, account_id, email, name, title, created_at FROM contacts ORDER BY 1") == [
        ("501", "9001", "ana.souza@acme.com.br", "Ana Souza", "Head of CS", T(2023, 10, 2, 13)),
        ("502", "9003", "carlos@initech.com", "Carlos Pereira", "CTO", T(2024, 2, 21, 19, 20)),
        ("503", "9004", "dana@umbrella.co", "Dana Kim", None, T(2022, 5, 6, 12, 10)),
        # Associated with 9002, which the companies file made an alias of 9001. No last name.
        ("504", "9001", "eduardo@acme.com.br", "Eduardo", "Analyst", T(2024, 1, 16, 11)),
    ]
    (attrs,) = one(ws, "SELECT attributes FROM contacts WHERE contact_id = '503'")
    assert json.loads(attrs)["Lifecycle Stage"] == "Evangelist"  # contacts have no lifecycle field: kept


def test_hubspot_matches_segment_people_and_companies(ws: Workspace) -> None:
    ingest(ws, "segment", "segment-events.ndjson")
    report = ingest(ws, "hubspot", COMPANIES, CONTACTS)
    assert report.aliases == {"accounts": 2, "contacts": 1}
    assert rows(ws, "SELECT entity, alias_id, canonical_id, reason FROM identity_map ORDER BY 1, 2") == [
        # Segment's group call stored grp_acme with domain acme.com.br (from its website).
        ("accounts", "9001", "grp_acme", "same domain acme.com.br"),
        ("accounts", "9002", "grp_acme", "same domain acme.com.br"),
        # "ANA.SOUZA@acme.com.br" in HubSpot is Segment's "Ana.Souza@Acme.com.br".
        ("contacts", "501", "u_ana", "same email ana.souza@acme.com.br"),
    ]
    # HubSpot's values land on the Segment records; the company references follow the aliases.
    assert one(ws, "SELECT account_id, title, _source FROM contacts WHERE contact_id = 'u_ana'") == (
        "grp_acme",
        "Head of CS",
        "hubspot",
    )
    assert one(ws, "SELECT account_id FROM contacts WHERE contact_id = '504'") == ("grp_acme",)
    assert one(ws, "SELECT count(*) FROM accounts WHERE domain = 'acme.com.br'") == (1,)
    assert_idempotent(ws, "hubspot", COMPANIES, CONTACTS)


def test_hubspot_is_idempotent(ws: Workspace) -> None:
    ingest(ws, "hubspot", COMPANIES, CONTACTS)
    again = assert_idempotent(ws, "hubspot", COMPANIES, CONTACTS)
    # 9002 is now a known alias of 9001: rewritten before the fold, so it is merged again.
    assert per_file(again)[(COMPANIES, "accounts")] == counts(read=5, unchanged=4, merged=1)


# -- Zendesk -------------------------------------------------------------------------------------------------

ZD_FILES = ("zendesk-tickets.json", "zendesk-ticket_metrics.json", "zendesk-ticket-audits.json")


def test_zendesk_tickets(ws: Workspace) -> None:
    report = ingest(ws, "zendesk", "zendesk-tickets.json")  # a pretty-printed {"tickets": [...]} response
    assert per_file(report) == {("zendesk-tickets.json", "tickets"): counts(read=3, loaded=3)}
    assert rows(
        ws,
        "SELECT ticket_id, account_id, contact_id, channel, priority, status, type, team, assignee, created_at, "
        "updated_at, csat_score, csat_scale, tags FROM tickets ORDER BY 1",
    ) == [
        # via.channel email; CSAT "bad" = 1 on the 1–2 scale; tags ["export", "bug"].
        (
            "1001",
            "8001",
            "7001",
            "email",
            "high",
            "solved",
            "incident",
            "3001",
            "4001",
            T(2024, 3, 1, 12),
            T(2024, 3, 4, 14),
            1.0,
            2,
            "export,bug",
        ),
        # voice → phone; "unoffered" = not rated; no tags.
        (
            "1002",
            "8002",
            "7002",
            "phone",
            None,
            "solved",
            "question",
            "3002",
            "4002",
            T(2024, 3, 2, 9, 30),
            T(2024, 3, 2, 10),
            None,
            None,
            None,
        ),
        # native_messaging → chat; "offered" = not rated; no organization, no assignee.
        (
            "1003",
            None,
            "7003",
            "chat",
            "normal",
            "pending",
            None,
            "3001",
            None,
            T(2024, 3, 3, 18, 20),
            T(2024, 3, 3, 18, 25),
            None,
            None,
            "vip",
        ),
    ]
    (attrs,) = one(ws, "SELECT attributes FROM tickets WHERE ticket_id = '1001'")
    assert json.loads(attrs)["custom_fields"] == [{"id": 360001, "value": "relatorios"}]


def test_zendesk_metrics_enrich_tickets_without_erasing_them(ws: Workspace) -> None:
    ingest(ws, "zendesk", "zendesk-tickets.json")
    report = ingest(ws, "zendesk", "zendesk-ticket_metrics.json")
    assert per_file(report) == {("zendesk-ticket_metrics.json", "tickets"): counts(read=3, updated=3)}
    assert rows(
        ws,
        "SELECT ticket_id, subject, status, channel, first_reply_at, solved_at, reopens, replies FROM tickets "
        "ORDER BY 1",
    ) == [
        # created 12:00 + reply_time_in_minutes.calendar 45 → first reply 12:45; reopened once.
        ("1001", "Não consigo exportar o relatório", "solved", "email", T(2024, 3, 1, 12, 45), T(2024, 3, 4, 14), 1, 3),
        # 09:30 + 10 minutes → 09:40.
        ("1002", "Como alterar o plano?", "solved", "phone", T(2024, 3, 2, 9, 40), T(2024, 3, 2, 10), 0, 1),
        # No reply yet (reply time null) and not solved.
        ("1003", "Conversa com Bruno", "pending", "chat", None, None, 0, 0),
    ]
    # The ticket's attributes stay; the other metrics are kept beside them, under "metrics".
    (attrs,) = one(ws, "SELECT attributes FROM tickets WHERE ticket_id = '1001'")
    kept = json.loads(attrs)
    assert kept["custom_fields"] == [{"id": 360001, "value": "relatorios"}]
    assert kept["metrics"]["requester_wait_time_in_minutes"] == {"calendar": 1500, "business": 600}


def test_zendesk_metrics_before_tickets_give_the_same_rows(ws: Workspace, tmp_path: Path) -> None:
    ingest(ws, "zendesk", "zendesk-tickets.json", "zendesk-ticket_metrics.json")
    other = init_workspace(tmp_path / "other", timezone="America/Sao_Paulo")
    ingest(other, "zendesk", "zendesk-ticket_metrics.json", "zendesk-tickets.json")
    query = "SELECT * EXCLUDE (_import_id, _loaded_at, attributes) FROM tickets ORDER BY ticket_id"
    assert rows(ws, query) == rows(other, query)
    # The attributes hold the same keys and values (in another order: the files merged them in another order).
    query = "SELECT ticket_id, attributes FROM tickets ORDER BY ticket_id"
    assert [(t, json.loads(a)) for t, a in rows(ws, query)] == [(t, json.loads(a)) for t, a in rows(other, query)]


def test_zendesk_audits_give_the_status_history_with_the_reopen(ws: Workspace) -> None:
    report = ingest(ws, "zendesk", *ZD_FILES)
    # Ticket 1001: audits of 5 + 3 + 1 + 2 + 2 events; ticket 1002 (second page, next line): 3 + 1.
    assert per_file(report)[("zendesk-ticket-audits.json", "ticket_events")] == counts(read=17, loaded=17)
    history = rows(
        ws,
        "SELECT ticket_id, occurred_at, status, actor FROM ticket_events WHERE kind = 'status' "
        "ORDER BY ticket_id, occurred_at, event_id",
    )
    assert history == [
        ("1001", T(2024, 3, 1, 12), "new", "7001"),
        ("1001", T(2024, 3, 1, 12, 45), "open", "4001"),
        ("1001", T(2024, 3, 2, 10), "solved", "4001"),
        ("1001", T(2024, 3, 3, 11), "open", "7001"),  # the requester wrote back: reopened
        ("1001", T(2024, 3, 4, 14), "solved", "4001"),
        ("1002", T(2024, 3, 2, 9, 30), "open", "4002"),
        ("1002", T(2024, 3, 2, 10), "solved", "4002"),
    ]
    # solved → open transitions in the history = the help desk's own reopens count.
    reopens = sum(
        1
        for (t1, _, s1, _), (t2, _, s2, _) in itertools.pairwise(history)
        if t1 == t2 and (s1, s2) == ("solved", "open")
    )
    assert reopens == one(ws, "SELECT reopens FROM tickets WHERE ticket_id = '1001'")[0] == 1
    assert dict(rows(ws, "SELECT kind, count(*) FROM ticket_events GROUP BY ALL")) == {
        "status": 7,
        "assignment": 2,  # assignee_id (1001) and group_id (1002)
        "field": 2,  # priority and subject set on creation
        "public_comment": 3,
        "internal_note": 1,
        "notification": 1,
        "voice_comment": 1,
    }
    assert one(ws, "SELECT assignee FROM ticket_events WHERE event_id = '91008'") == ("4001",)
    assert one(ws, "SELECT team FROM ticket_events WHERE event_id = '91022'") == ("3002",)
    (attrs,) = one(ws, "SELECT attributes FROM ticket_events WHERE event_id = '91011'")
    assert json.loads(attrs)["events"]["previous_value"] == "solved"


def test_zendesk_is_idempotent(ws: Workspace) -> None:
    ingest(ws, "zendesk", *ZD_FILES)
    again = assert_idempotent(ws, "zendesk", *ZD_FILES)
    assert sum(f.counts.unchanged for f in again.files) == 3 + 3 + 17


def test_zendesk_csv_export_and_incremental_ticket_events(ws: Workspace) -> None:
    report = ingest(ws, "zendesk", "zendesk-export-2024-03-05.csv", "zendesk-incremental-ticket_events.json")
    assert per_file(report) == {
        ("zendesk-export-2024-03-05.csv", "tickets"): counts(read=2, loaded=2),
        # Two updates with 3 + 1 child events.
        ("zendesk-incremental-ticket_events.json", "ticket_events"): counts(read=4, loaded=4),
    }
    assert rows(
        ws,
        "SELECT ticket_id, contact_id, channel, status, priority, type, team, assignee, created_at, first_reply_at, "
        "solved_at, reopens, replies, csat_score, csat_scale, tags FROM tickets ORDER BY 1",
    ) == [
        # "Mail" → email; local 14:20 → 17:20 UTC; first reply 30 minutes later; "Good" = 2 of 2.
        (
            "2001",
            "7001",
            "email",
            "solved",
            "normal",
            "question",
            "Suporte N1",
            "Paula Agent",
            T(2024, 3, 5, 17, 20),
            T(2024, 3, 5, 17, 50),
            T(2024, 3, 6, 12),
            0,
            2,
            2.0,
            2,
            "billing,refund",
        ),
        # "Web Form" → web; "Not Offered" = not rated.
        (
            "2002",
            "7003",
            "web",
            "open",
            "urgent",
            "incident",
            "Suporte N2",
            None,
            T(2024, 3, 5, 19),
            None,
            None,
            0,
            0,
            None,
            None,
            None,
        ),
    ]
    assert rows(ws, "SELECT event_id, kind, status, team, actor, occurred_at FROM ticket_events ORDER BY 1") == [
        ("92002", "public_comment", None, None, "7003", T(2024, 3, 3, 18, 20)),
        ("92003", "status", "new", None, "7003", T(2024, 3, 3, 18, 20)),
        ("92004", "assignment", None, "3001", "7003", T(2024, 3, 3, 18, 20)),
        ("92006", "status", "pending", None, "4001", T(2024, 3, 3, 18, 25)),
    ]
    assert_idempotent(ws, "zendesk", "zendesk-export-2024-03-05.csv", "zendesk-incremental-ticket_events.json")


# -- Stripe --------------------------------------------------------------------------------------------------


def test_stripe_subscriptions_mrr(ws: Workspace) -> None:
    report = ingest(ws, "stripe", "stripe-subscriptions.json")  # pretty-printed {"object": "list", "data": [...]}
    assert per_file(report) == {("stripe-subscriptions.json", "subscriptions"): counts(read=8, loaded=8)}
    assert rows(
        ws,
        "SELECT subscription_id, account_id, plan, status, mrr, currency, quantity, billing_period, is_trial "
        "FROM subscriptions ORDER BY 1",
    ) == [
        # monthly 4900 cents × 3 seats / 100 = 147.00
        ("sub_1A", "cus_A", "Pro Mensal", "active", Decimal("147.00"), "BRL", 3, "month", False),
        # annual 120000 cents / 100 / 12 = 100.00
        ("sub_1B", "cus_B", "Enterprise Anual", "active", Decimal("100.00"), "USD", 1, "year", False),
        # canceled: its MRR is the plan's, 9900 / 100 = 99.00 (ended_at says it stopped)
        ("sub_1C", "cus_C", "Standard", "canceled", Decimal("99.00"), "USD", 1, "month", False),
        # every 3 months: 30000 / 100 / 3 = 100.00; trialing
        ("sub_1D", "cus_D", "Quarterly", "trialing", Decimal("100.00"), "USD", 1, "quarter", True),
        # weekly: 1000 / 100 × 52 / 12 = 43.333… → 43.33
        ("sub_1E", "cus_E", "Weekly", "active", Decimal("43.33"), "USD", 1, "other", False),
        # two items: 2000 × 2 / 100 = 40.00 monthly + 12000 / 100 / 12 = 10.00 from the annual one = 50.00
        ("sub_1F", "cus_F", "Team + Storage Annual", "active", Decimal("50.00"), "USD", 3, "other", False),
        # JPY has no minor unit: 5000 yen = 5000.00
        ("sub_1G", "cus_G", "Tokyo", "active", Decimal("5000.00"), "JPY", 1, "month", False),
        # set to cancel at the period's end: 2900 / 100 = 29.00, still running
        ("sub_1H", "cus_A", "Add-on", "active", Decimal("29.00"), "BRL", 1, "month", False),
    ]
    # Epoch seconds → UTC: 1704067200 = 2024-01-01 00:00; 1709251200 = 2024-03-01 00:00.
    assert rows(
        ws,
        "SELECT subscription_id, started_at, ended_at FROM subscriptions WHERE subscription_id IN "
        "('sub_1A', 'sub_1C', 'sub_1H') ORDER BY 1",
    ) == [
        ("sub_1A", T(2024, 1, 1), None),
        ("sub_1C", T(2023, 1, 1), T(2024, 3, 1)),  # canceled and ended 2024-03-01
        ("sub_1H", T(2024, 2, 1), None),  # canceled_at is set, but it runs until the period ends
    ]
    (attrs,) = one(ws, "SELECT attributes FROM subscriptions WHERE subscription_id = 'sub_1H'")
    assert json.loads(attrs)["canceled_at"] == 1709251200


def test_stripe_invoices(ws: Workspace) -> None:
    report = ingest(ws, "stripe", "stripe-invoices.json")
    assert per_file(report) == {("stripe-invoices.json", "orders"): counts(read=4, loaded=4)}
    assert rows(
        ws, "SELECT order_id, account_id, kind, status, ordered_at, amount, currency FROM orders ORDER BY 1"
    ) == [
        ("in_1001", "cus_A", "invoice", "paid", T(2024, 2, 1), Decimal("147.00"), "BRL"),  # 14700 / 100
        ("in_1002", "cus_B", "invoice", "paid", T(2024, 1, 1), Decimal("1200.00"), "USD"),  # 120000 / 100
        ("in_1003", "cus_C", "invoice", "open", T(2024, 3, 1), Decimal("99.00"), "USD"),  # 9900 / 100
        ("in_1004", "cus_G", "invoice", "paid", T(2024, 3, 1), Decimal("5000.00"), "JPY"),  # zero-decimal
    ]


def test_stripe_dashboard_csv_exports(ws: Workspace) -> None:
    report = ingest(ws, "stripe", "stripe-subscriptions-dashboard.csv", "stripe-invoices-dashboard.csv")
    assert per_file(report) == {
        ("stripe-subscriptions-dashboard.csv", "subscriptions"): counts(read=2, loaded=2),
        ("stripe-invoices-dashboard.csv", "orders"): counts(read=1, loaded=1),
    }
    # Dashboard amounts are in dollars already, and its dates are UTC (not the workspace's zone).
    assert rows(
        ws,
        "SELECT subscription_id, account_id, status, started_at, ended_at, mrr, currency, quantity, billing_period "
        "FROM subscriptions ORDER BY 1",
    ) == [
        # 59.00 × 2 seats = 118.00
        ("sub_2H", "cus_H", "active", T(2024, 2, 10, 13, 45), None, Decimal("118.00"), "USD", 2, "month"),
        # 1188.00 a year / 12 = 99.00; canceled and ended 2024-03-01 12:00 UTC
        ("sub_2I", "cus_I", "canceled", T(2023, 3, 1, 12), T(2024, 3, 1, 12), Decimal("99.00"), "USD", 1, "year"),
    ]
    assert one(ws, "SELECT order_id, account_id, ordered_at, amount, currency, status FROM orders") == (
        "in_2001",
        "cus_H",
        T(2024, 3, 10, 13, 45),
        Decimal("118.00"),
        "USD",
        "paid",
    )


def test_stripe_is_idempotent(ws: Workspace) -> None:
    files = (
        "stripe-subscriptions.json",
        "stripe-invoices.json",
        "stripe-subscriptions-dashboard.csv",
        "stripe-invoices-dashboard.csv",
    )
    ingest(ws, "stripe", *files)
    assert_idempotent(ws, "stripe", *files)


# -- surveys -------------------------------------------------------------------------------------------------

PESQUISA = "pesquisa-satisfacao-2024-03.csv"


def test_survey_pt_br_file(ws: Workspace) -> None:
    # Latin-1, ';' separated, decimal comma, day-first dates, Portuguese headers and values.
    report = ingest(ws, "surveys", PESQUISA)
    assert per_file(report) == {
        # Three respondents have an e-mail: registered as contacts under it (no contact_id column).
        (PESQUISA, "contacts"): counts(read=3, loaded=3),
        (PESQUISA, "survey_responses"): counts(read=4, loaded=4),
    }
    assert rows(
        ws,
        "SELECT response_id, contact_id, account_id, survey, score, scale_min, scale_max, comment, touchpoint, "
        "journey_stage, channel, responded_at FROM survey_responses ORDER BY 1",
    ) == [
        # NPS → scale 0–10; "depois" → after; "e-mail" → email; 15/03/2024 14:30 local → 17:30 UTC.
        (
            "R-001",
            "ana.souza@acme.com.br",
            "grp_acme",
            "nps",
            9.0,
            0,
            10,
            "Ótimo atendimento, parabéns à equipe!",
            "suporte",
            "after",
            "email",
            T(2024, 3, 15, 17, 30),
        ),
        # "4,5" → 4.5; CSAT → 1–5; "pós-compra" → after.
        (
            "R-002",
            "bruno@globex.io",
            "grp_globex",
            "csat",
            4.5,
            1,
            5,
            "Entrega rápida, mas a nota fiscal veio errada",
            "entrega",
            "after",
            "whatsapp",
            T(2024, 3, 16, 12, 5),
        ),
        # CES → 1–7; anonymous; the comment holds the ';' inside quotes.
        (
            "R-003",
            None,
            None,
            "ces",
            6.0,
            1,
            7,
            "Processo de cadastro confuso; pedi ajuda duas vezes",
            "onboarding",
            "before",
            "web",
            T(2024, 3, 17, 21),
        ),
        # No score: unrated, not zero. The e-mail is lower-cased into the id.
        (
            "R-004",
            "carla@nova.com.br",
            None,
            "nps",
            None,
            0,
            10,
            "Não quis dar nota",
            "suporte",
            "after",
            "in_app",
            T(2024, 3, 18, 13),
        ),
    ]


def test_survey_respondents_link_to_known_contacts_by_email(ws: Workspace) -> None:
    ingest(ws, "segment", "segment-events.ndjson")  # u_ana and u_bruno, with their e-mails
    report = ingest(ws, "surveys", PESQUISA)
    # Ana and Bruno are known under their Segment ids: their e-mail ids become aliases; Carla is new.
    assert per_file(report)[(PESQUISA, "contacts")] == counts(read=3, loaded=1, unchanged=2)
    assert rows(ws, "SELECT alias_id, canonical_id, reason FROM identity_map ORDER BY 1") == [
        ("ana.souza@acme.com.br", "u_ana", "same email ana.souza@acme.com.br"),
        ("bruno@globex.io", "u_bruno", "same email bruno@globex.io"),
    ]
    assert rows(ws, "SELECT response_id, contact_id FROM survey_responses ORDER BY 1") == [
        ("R-001", "u_ana"),
        ("R-002", "u_bruno"),
        ("R-003", None),
        ("R-004", "carla@nova.com.br"),
    ]
    assert_idempotent(ws, "surveys", PESQUISA)


def test_survey_english_file_keeps_its_own_scale(ws: Workspace) -> None:
    report = ingest(ws, "surveys", "survey-responses-en.csv")
    # No e-mail column: no respondent to register, the contacts target reads nothing.
    assert per_file(report)[("survey-responses-en.csv", "contacts")] == counts()
    assert rows(
        ws,
        "SELECT response_id, contact_id, survey, score, scale_min, scale_max, language, sent_at, responded_at "
        "FROM survey_responses ORDER BY 1",
    ) == [
        # The file's 1–10 CSAT scale wins over the 1–5 default; 15:30-03:00 → 18:30 UTC.
        ("S-100", "u_bruno", "csat", 8.0, 1, 10, "en", T(2024, 3, 18, 12), T(2024, 3, 18, 18, 30)),
        # Blank scale cells → the CES default 1–7.
        ("S-101", None, "ces", 2.0, 1, 7, "en", None, T(2024, 3, 19, 10)),
    ]
    assert_idempotent(ws, "surveys", "survey-responses-en.csv")


# -- the ingestion core: what these presets need -------------------------------------------------------------

TWO_TARGETS = """
source: test
targets:
  - entity: accounts
    where: "kind = 'company'"
    columns: {account_id: id, name: name}
  - entity: contacts
    where: "kind = 'person'"
    columns: {contact_id: id, name: name}
"""


def test_rows_no_target_takes_are_quarantined(ws: Workspace, tmp_path: Path) -> None:
    mapping = write(tmp_path / "m.yaml", TWO_TARGETS)
    data = write(
        tmp_path / "mixed.csv", "kind,id,name\ncompany,a1,Acme\nperson,p1,Ana\nrobot,r1,R2D2\ncompany,a2,Globex\n"
    )
    report = ingest(ws, None, data, mapping=mapping)
    assert per_file(report) == {
        ("mixed.csv", "accounts"): counts(read=3, loaded=2, quarantined=1),  # the robot, with the first target
        ("mixed.csv", "contacts"): counts(read=1, loaded=1),
    }
    entity, row, line, reason, raw = one(ws, "SELECT entity, row_number, line, reason, raw FROM quarantine")
    assert (entity, row, line) == ("accounts", 3, 4)
    assert reason == "no target takes this row (it matches none of: kind = 'company' | kind = 'person')"
    assert json.loads(raw) == {"kind": "robot", "id": "r1", "name": "R2D2"}
    with pytest.raises(StrictModeError, match="row 3: no target takes this row"):
        ingest_files(ws, [data], mapping=mapping, strict=True)


def test_a_target_whose_where_matches_nothing_is_not_an_empty_file(ws: Workspace, tmp_path: Path) -> None:
    mapping = write(tmp_path / "m.yaml", TWO_TARGETS)
    people = write(tmp_path / "people.csv", "kind,id,name\nperson,p1,Ana\n")
    report = ingest(ws, None, people, mapping=mapping)
    assert per_file(report) == {
        ("people.csv", "accounts"): counts(),
        ("people.csv", "contacts"): counts(read=1, loaded=1),
    }
    header_only = write(tmp_path / "empty.csv", "kind,id,name\n")
    with pytest.raises(InputError, match="no data rows"):
        ingest_files(ws, [header_only], mapping=mapping)


def test_json_documents_records_and_unnest(ws: Workspace, tmp_path: Path) -> None:
    mapping = write(
        tmp_path / "m.yaml",
        """
source: test
records: [items]
unnest: lines
entity: order_lines
columns:
  order_id: id
  ordered_at: created
  line_number: lines.n
  product_id: lines.sku
""",
    )
    # Pretty-printed (the first line is not JSON on its own): read as a document, not line by line.
    o1 = {"id": "o1", "created": "2024-03-01T10:00:00Z", "lines": [{"n": 1, "sku": "A"}, {"n": 2, "sku": "B"}]}
    o2 = {"id": "o2", "created": "2024-03-02T10:00:00Z", "lines": [{"n": 1, "sku": "C"}]}
    pretty = write(tmp_path / "orders.json", json.dumps({"items": [o1, o2], "next_page": None}, indent=2))
    report = ingest(ws, None, pretty, mapping=mapping)
    assert per_file(report) == {("orders.json", "order_lines"): counts(read=3, loaded=3)}
    assert rows(ws, "SELECT order_id, line_number, product_id, ordered_at FROM order_lines ORDER BY 1, 2") == [
        ("o1", 1, "A", T(2024, 3, 1, 10)),
        ("o1", 2, "B", T(2024, 3, 1, 10)),
        ("o2", 1, "C", T(2024, 3, 2, 10)),
    ]


def test_ndjson_with_a_broken_first_line_is_still_read_line_by_line(ws: Workspace, tmp_path: Path) -> None:
    mapping = write(tmp_path / "m.yaml", "source: test\nentity: accounts\ncolumns: {account_id: id, name: name}\n")
    lines = '{"id": "a1", "na\n{"id": "a2", "name": "B"}\n{"id": "a3", "name": "C"}\n'
    data = write(tmp_path / "accounts.ndjson", lines)
    report = ingest(ws, None, data, mapping=mapping)
    assert per_file(report) == {("accounts.ndjson", "accounts"): counts(read=3, loaded=2, quarantined=1)}
    assert one(ws, "SELECT line, reason FROM quarantine")[0] == 1


def test_column_alternatives_in_sql(ws: Workspace, tmp_path: Path) -> None:
    mapping = write(
        tmp_path / "m.yaml",
        """
source: test
entity: accounts
where: "{{Tipo|kind}} = 'empresa'"
columns:
  account_id: id
  name: {sql: "upper({{Full Name|nome}})"}
  region: {sql: "COALESCE({{estado|state}}, 'none')"}
""",
    )
    # "NOME" matches nome (case aside); no estado/state column: NULL.
    data = write(tmp_path / "a.csv", "id,TIPO,NOME\na1,empresa,Acme\na2,empresa,Globex\n")
    ingest(ws, None, data, mapping=mapping)
    assert rows(ws, "SELECT account_id, name, region FROM accounts ORDER BY 1") == [
        ("a1", "ACME", "none"),
        ("a2", "GLOBEX", "none"),
    ]
    # In JSON, the first path with a value, row by row.
    json_mapping = write(
        tmp_path / "j.yaml",
        "source: test\nentity: contacts\ncolumns:\n"
        '  contact_id: id\n  email: {sql: "{{traits.email|context.traits.email}}"}\n',
    )
    people = write(
        tmp_path / "p.ndjson",
        '{"id": "c1", "traits": {"email": "A@x.io"}}\n{"id": "c2", "context": {"traits": {"email": "b@y.io"}}}\n',
    )
    ingest(ws, None, people, mapping=json_mapping)
    assert rows(ws, "SELECT contact_id, email FROM contacts ORDER BY 1") == [("c1", "a@x.io"), ("c2", "b@y.io")]


def test_sql_specs_are_evaluated_once_under_the_stage(tmp_path: Path) -> None:
    """A `sql` spec is read by the value and by every check of its field; it is computed once, in a column
    under the stage, so a large expression (lambdas over JSON arrays) is bound once, not dozens of times."""
    import duckdb

    from sinergia.ingest.loader import ImportContext, compile_target, open_source
    from sinergia.ingest.mapping import Mapping

    heavy = "list_sum(list_transform([1, 2, 3], lambda x: x * {{n}}))"
    mapping = Mapping.model_validate(
        {
            "source": "t",
            "entity": "subscriptions",
            "columns": {
                "subscription_id": "id",
                "account_id": "id",
                "started_at": {"value": "2024-01-01"},
                "mrr": {"sql": heavy},
            },
        }
    )
    data = write(tmp_path / "s.csv", "id,n\ns1,2\n")
    con = duckdb.connect()
    opened, _ = open_source(con, data, mapping)
    ct = compile_target(con, opened, mapping.targets[0], mapping, ImportContext.new("UTC", True), data)
    ((column, sql),) = ct.precomputed
    assert "list_transform" in sql and '"n"' in sql  # {{n}} resolved to the column
    mrr = next(c for c in ct.fields if c.field == "mrr")
    assert column in mrr.value and "list_transform" not in f"{mrr.value} {mrr.error} {mrr.reason}"
