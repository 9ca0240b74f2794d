"""The demo generator: deterministic, canonical, internally consistent and causally meaningful."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sinergia.demo import generate
from sinergia.schema.entities import ENTITIES

END = dt.date(2026, 10, 31)
WINDOW_START = dt.datetime(2024, 11, 1)
WINDOW_END = dt.datetime(2026, 11, 1)
ENTITY_NAMES = (
    "accounts", "contacts", "subscriptions", "subscription_changes", "orders", "usage_events", "tickets",
    "ticket_events", "survey_responses", "feedback", "touchpoints",
)  # fmt: skip
ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "double": pa.float64(),
    "money": pa.decimal128(18, 2),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us"),
    "json": pa.string(),
}
#: Timestamp columns that must fall inside the window (creation dates of older customers and the next
#: renewal date are exempt by design).
IN_WINDOW = {
    "usage_events": ("occurred_at",),
    "tickets": ("created_at", "first_reply_at", "solved_at", "closed_at", "updated_at"),
    "ticket_events": ("occurred_at",),
    "survey_responses": ("sent_at", "responded_at"),
    "feedback": ("created_at",),
    "touchpoints": ("occurred_at",),
    "orders": ("ordered_at",),
    "subscriptions": ("ended_at",),
}
SMALL = 300


def _read(paths: dict[str, Path]) -> dict[str, pa.Table]:
    return {name: pq.read_table(path) for name, path in paths.items()}


@pytest.fixture(scope="module")
def small_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return generate(tmp_path_factory.mktemp("small"), accounts=SMALL, seed=7)


@pytest.fixture(scope="module")
def small(small_paths: dict[str, Path]) -> dict[str, pa.Table]:
    return _read(small_paths)


@pytest.fixture(scope="module")
def large_db(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    paths = generate(tmp_path_factory.mktemp("large"), accounts=2000, seed=11)
    con = duckdb.connect()
    for name, path in paths.items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con


# --- Determinism and streaming ----------------------------------------------------------------------


def test_same_arguments_give_byte_identical_files(small_paths: dict[str, Path], tmp_path: Path) -> None:
    again = generate(tmp_path, accounts=SMALL, seed=7)
    assert sorted(again) == sorted(ENTITY_NAMES)
    for name in ENTITY_NAMES:
        assert again[name].read_bytes() == small_paths[name].read_bytes(), name
        assert again[name].name == f"{name}.parquet"
    assert not list(tmp_path.glob("*.tmp"))


def test_chunk_size_does_not_change_the_data(small: dict[str, pa.Table], tmp_path: Path) -> None:
    calls: list[int] = []
    chunked = _read(generate(tmp_path, accounts=SMALL, seed=7, chunk_size=70, progress=calls.append))
    assert calls == [70, 70, 70, 70, 20]
    for name in ENTITY_NAMES:
        assert chunked[name].equals(small[name]), name


def _per_account(table: pa.Table) -> dict[str, int]:
    counts = table.group_by("account_id").aggregate([("account_id", "count")])
    ids, n = counts.column("account_id").to_pylist(), counts.column("account_id_count").to_pylist()
    return dict(zip(ids, n, strict=True))


def test_volume_knobs_thin_usage_and_answers_per_account(small: dict[str, pa.Table], tmp_path: Path) -> None:
    scaled = _read(generate(tmp_path, accounts=SMALL, seed=7, usage_scale=0.25, survey_scale=0.5))
    # Every other table is unchanged (the thinned events' random draws are still consumed).
    for name in ("accounts", "contacts", "subscriptions", "subscription_changes", "tickets", "ticket_events"):
        assert scaled[name].equals(small[name]), name
    # Each account keeps round(n x scale) rows: the error-diffused running total ends at floor(n x scale + 1/2).
    for name, scale in (("usage_events", 0.25), ("survey_responses", 0.5)):
        full, thin = _per_account(small[name]), _per_account(scaled[name])
        expected = {a: int(n * scale + 0.5) for a, n in full.items() if int(n * scale + 0.5) > 0}
        assert thin == expected, name
    with pytest.raises(ValueError, match="between 0 and 1"):
        generate(tmp_path / "bad", accounts=1, usage_scale=1.5)


def test_another_seed_gives_other_data(small: dict[str, pa.Table], tmp_path: Path) -> None:
    other = _read(generate(tmp_path, accounts=SMALL, seed=8))
    assert other["accounts"].column("name") != small["accounts"].column("name")
    assert other["usage_events"].num_rows != small["usage_events"].num_rows
    assert not other["tickets"].equals(small["tickets"])


def test_window_follows_the_arguments(tmp_path: Path) -> None:
    tables = _read(generate(tmp_path, accounts=40, seed=3, months=6, end=dt.date(2025, 3, 15)))
    events = tables["usage_events"].column("occurred_at")
    assert pc.min(events).as_py() >= dt.datetime(2024, 10, 1)
    assert pc.max(events).as_py() < dt.datetime(2025, 3, 16)


def test_a_failure_leaves_no_partial_files(tmp_path: Path) -> None:
    def stop(_: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path, accounts=20, chunk_size=10, progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_zero_accounts_writes_empty_files(tmp_path: Path) -> None:
    tables = _read(generate(tmp_path, accounts=0))
    assert all(t.num_rows == 0 for t in tables.values())
    assert tables["accounts"].schema.field("account_id").type == pa.string()


# --- Schema conformance -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_files_follow_the_canonical_schema(small: dict[str, pa.Table], name: str) -> None:
    entity, data = ENTITIES[name], small[name]
    assert data.num_rows > 0
    assert set(data.column_names) <= set(entity.field_names)
    assert set(entity.required) <= set(data.column_names)
    assert not any(c.startswith("_") for c in data.column_names)
    for column in data.column_names:
        spec = entity.field(column)
        values = data.column(column)
        assert values.type == ARROW_TYPES[spec.type], column
        if spec.required:
            assert values.null_count == 0, column
        if spec.allowed:
            present = set(pc.unique(values.drop_null()).to_pylist())
            assert present <= set(spec.allowed), (column, present - set(spec.allowed))
        if spec.minimum is not None and len(values.drop_null()):
            assert pc.min(values).as_py() >= spec.minimum, column
    key = data.select(list(entity.key))
    assert key.group_by(list(entity.key)).aggregate([]).num_rows == data.num_rows


def test_references_point_to_existing_rows(small: dict[str, pa.Table]) -> None:
    accounts = set(small["accounts"].column("account_id").to_pylist())
    contacts = set(small["contacts"].column("contact_id").to_pylist())
    tickets = set(small["tickets"].column("ticket_id").to_pylist())
    owners = {"account_id": "accounts", "contact_id": "contacts", "ticket_id": "tickets"}
    targets = {"account_id": accounts, "contact_id": contacts, "ticket_id": tickets}
    for name in ENTITY_NAMES:
        for column in set(small[name].column_names) & set(owners):
            if owners[column] != name:
                assert set(small[name].column(column).drop_null().to_pylist()) <= targets[column], (name, column)
    parents = set(small["accounts"].column("parent_account_id").drop_null().to_pylist())
    assert parents and parents <= accounts
    assert set(small["contacts"].column("account_id").to_pylist()) == accounts


def test_identities_are_unique_and_readable(small: dict[str, pa.Table]) -> None:
    accounts, contacts = small["accounts"], small["contacts"]
    domains = accounts.column("domain").to_pylist()
    emails = contacts.column("email").to_pylist()
    assert len(set(domains)) == len(domains)
    assert len(set(emails)) == len(emails)
    assert all(e.split("@")[1] in set(domains) and e == e.lower() for e in emails)
    assert accounts.column("account_id")[0].as_py() == "acc_000001"
    assert small["usage_events"].column("event_id")[0].as_py().startswith("evt_000001_")
    counts = pc.value_counts(contacts.column("account_id")).field("counts").to_pylist()
    assert min(counts) >= 2 and max(counts) <= 15


def test_values_look_like_a_brazilian_b2b_saas(small: dict[str, pa.Table]) -> None:
    accounts = small["accounts"].to_pylist()
    share = {s: sum(a["segment"] == s for a in accounts) / len(accounts) for s in ("SMB", "Mid-Market", "Enterprise")}
    assert share["SMB"] > share["Mid-Market"] > share["Enterprise"] > 0.03
    assert sum(a["country"] == "BR" for a in accounts) / len(accounts) > 0.6
    assert {a["currency"] for a in accounts} >= {"BRL", "USD"}
    assert {a["plan"] for a in accounts} == {"Starter", "Growth", "Enterprise"}
    assert len({a["owner"] for a in accounts}) == 8
    created = [a["created_at"] for a in accounts]
    assert min(created) < WINDOW_START < max(created) < WINDOW_END
    events = small["usage_events"]
    assert 8 <= len(pc.unique(events.column("feature"))) <= 15
    languages = set(small["survey_responses"].column("language").to_pylist())
    assert languages == {"pt-BR", "en"}


@pytest.mark.parametrize("name", sorted(IN_WINDOW))
def test_timestamps_fall_inside_the_window(small: dict[str, pa.Table], name: str) -> None:
    for column in IN_WINDOW[name]:
        values = small[name].column(column).drop_null()
        assert pc.min(values).as_py() >= WINDOW_START, column
        assert pc.max(values).as_py() < WINDOW_END, column


# --- Internal consistency ---------------------------------------------------------------------------


def test_subscription_mrr_is_start_plus_every_movement(small: dict[str, pa.Table]) -> None:
    changes: dict[str, list[dict[str, Any]]] = {}
    for row in (
        small["subscription_changes"]
        .sort_by([("subscription_id", "ascending"), ("changed_at", "ascending")])
        .to_pylist()
    ):
        changes.setdefault(str(row["subscription_id"]), []).append(row)
    kinds: set[str] = set()
    for sub in small["subscriptions"].to_pylist():
        history = changes[sub["subscription_id"]]
        assert history[0]["kind"] == "new" and history[0]["mrr_before"] == 0
        assert history[0]["changed_at"] == sub["started_at"]
        for previous, current in itertools.pairwise(history):
            assert current["mrr_before"] == previous["mrr_after"]
        total = sum((Decimal(c["mrr_after"]) - Decimal(c["mrr_before"]) for c in history), Decimal(0))
        assert total == sub["mrr"]
        if sub["status"] == "canceled":
            assert history[-1]["kind"] == "churn" and sub["mrr"] == 0
            assert sub["ended_at"] == history[-1]["changed_at"]
        else:
            assert sub["ended_at"] is None and sub["mrr"] > 0
        kinds.update(c["kind"] for c in history)
    assert kinds == {"new", "expansion", "contraction", "churn", "reactivation"}


def test_monthly_invoices_bill_the_current_mrr(small: dict[str, pa.Table]) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for row in small["orders"].sort_by("ordered_at").to_pylist():
        latest[str(row["account_id"])] = row
    subs = [s for s in small["subscriptions"].to_pylist() if s["status"] == "active" and s["billing_period"] == "month"]
    assert subs
    for sub in subs:
        assert latest[sub["account_id"]]["amount"] == sub["mrr"]
    kinds = set(small["orders"].column("kind").to_pylist())
    assert kinds == {"invoice"}


def test_ticket_history_matches_the_ticket(small: dict[str, pa.Table]) -> None:
    events: dict[str, list[dict[str, Any]]] = {}
    for row in small["ticket_events"].to_pylist():
        events.setdefault(str(row["ticket_id"]), []).append(row)
    tickets = small["tickets"].to_pylist()
    assert {t["ticket_id"] for t in tickets} == set(events)
    reopened = 0
    for t in tickets:
        history = events[t["ticket_id"]]
        assert [e["sequence"] for e in history] == list(range(1, len(history) + 1))
        times = [e["occurred_at"] for e in history]
        assert times == sorted(times)
        assert history[0]["status"] == "new" and history[0]["occurred_at"] == t["created_at"]
        assert history[-1]["status"] == t["status"] and history[-1]["occurred_at"] == t["updated_at"]
        statuses = [e["status"] for e in history if e["kind"] == "status"]
        reopens = sum(a == "solved" and b == "open" for a, b in itertools.pairwise(statuses))
        assert reopens == t["reopens"]
        replies = [e for e in history if e["kind"] == "public_reply"]
        assert len(replies) == t["replies"]
        assert t["first_reply_at"] == (replies[0]["occurred_at"] if replies else None)
        assert (t["closed_at"] is not None) == (t["status"] == "closed")
        if t["status"] in ("solved", "closed"):
            solved = [e["occurred_at"] for e in history if e["status"] == "solved" and e["kind"] == "status"]
            assert t["solved_at"] == solved[-1]
        reopened += t["reopens"] > 0
        assert t["csat_score"] is None or t["status"] in ("solved", "closed")
    assert 0.03 < reopened / len(tickets) < 0.4


def test_ticket_times_follow_the_business_day(small: dict[str, pa.Table]) -> None:
    created = small["tickets"].column("created_at")
    hours = pc.hour(created).to_pylist()
    weekdays = pc.day_of_week(created).to_pylist()  # Monday = 0
    business = sum(12 <= h < 21 for h in hours) / len(hours)
    assert business > 0.6
    assert sum(d < 5 for d in weekdays) / len(weekdays) > 0.9
    rated = small["tickets"].column("csat_score").drop_null()
    assert 0.1 < len(rated) / len(created) < 0.6
    assert set(rated.to_pylist()) <= {1.0, 2.0, 3.0, 4.0, 5.0}


STAGE_OF = {
    "website": "before", "demo": "before", "onboarding": "during", "support": "after", "billing": "after",
    "renewal": "after", "product": "after",
}  # fmt: skip
SCALE_OF = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


def test_survey_answers_are_consistent(small: dict[str, pa.Table]) -> None:
    rows = small["survey_responses"].to_pylist()
    for r in rows:
        assert r["journey_stage"] == STAGE_OF[r["touchpoint"]]
        low, high = SCALE_OF[r["survey"]]
        assert (r["scale_min"], r["scale_max"]) == (low, high)
        assert low <= r["score"] <= high and r["score"] == int(r["score"])
        assert r["sent_at"] <= r["responded_at"]
        assert (r["ticket_id"] is not None) == (r["touchpoint"] == "support")
    assert {r["touchpoint"] for r in rows} == set(STAGE_OF)
    tickets = {t["ticket_id"]: t["csat_score"] for t in small["tickets"].to_pylist()}
    for r in rows:
        if r["survey"] == "csat" and r["ticket_id"]:
            assert tickets[r["ticket_id"]] == r["score"]
    comments = [r for r in rows if r["comment"]]
    assert len({r["comment"] for r in comments}) > len(comments) * 0.3
    detractor = [r["comment"] for r in comments if r["survey"] == "nps" and r["score"] <= 6]
    promoter = [r["comment"] for r in comments if r["survey"] == "nps" and r["score"] >= 9]
    assert detractor and promoter and not set(detractor) & set(promoter)


def test_touchpoints_cover_the_journey(small: dict[str, pa.Table]) -> None:
    rows = small["touchpoints"].to_pylist()
    stages = {(r["name"], r["journey_stage"]) for r in rows}
    assert {("demo", "before"), ("kickoff", "during"), ("qbr", "after"), ("renewal_call", "after")} <= stages
    assert {s for _, s in stages} == {"before", "during", "after"}


# --- Causality ----------------------------------------------------------------------------------------


def test_logo_churn_and_expansion_rates_are_plausible(large_db: duckdb.DuckDBPyConnection) -> None:
    rows = large_db.execute(
        """
        WITH months AS (
            SELECT unnest(generate_series(TIMESTAMP '2025-01-01', TIMESTAMP '2026-10-01', INTERVAL 1 MONTH)) AS m
        ), base AS (
            SELECT m, (SELECT count(*) FROM subscriptions s WHERE s.started_at < m
                       AND (s.ended_at IS NULL OR s.ended_at >= m)) AS active,
                   (SELECT count(*) FROM subscription_changes c WHERE c.kind = 'churn'
                       AND c.changed_at >= m AND c.changed_at < m + INTERVAL 1 MONTH) AS churned,
                   (SELECT count(*) FROM subscription_changes c WHERE c.kind = 'expansion'
                       AND c.changed_at >= m AND c.changed_at < m + INTERVAL 1 MONTH) AS expanded
            FROM months
        )
        SELECT avg(churned / active), min(expanded) FROM base
        """
    ).fetchone()
    assert rows is not None
    churn_rate, min_expansions = rows
    assert 0.01 <= churn_rate <= 0.035
    assert min_expansions >= 5
    nps = large_db.execute(
        "SELECT 100 * (avg((score >= 9)::INT) - avg((score <= 6)::INT)) FROM survey_responses WHERE survey = 'nps'"
    ).fetchone()
    assert nps is not None and 15 <= nps[0] <= 50


def test_churned_accounts_used_less_per_licence_before_leaving(large_db: duckdb.DuckDBPyConnection) -> None:
    rows = large_db.execute(
        """
        WITH churn AS (
            SELECT account_id, min(changed_at) AS t FROM subscription_changes WHERE kind = 'churn' GROUP BY 1
        ), churned AS (
            SELECT a.segment, count(u.event_id) / 3.0 / a.licenses AS ratio
            FROM churn c JOIN accounts a USING (account_id)
            LEFT JOIN usage_events u ON u.account_id = c.account_id
                AND u.occurred_at >= c.t - INTERVAL 90 DAY AND u.occurred_at < c.t
            WHERE c.t >= TIMESTAMP '2025-03-01'
            GROUP BY a.account_id, a.segment, a.licenses
        ), retained AS (
            SELECT a.segment, count(u.event_id) / 3.0 / a.licenses AS ratio
            FROM accounts a
            LEFT JOIN usage_events u ON u.account_id = a.account_id AND u.occurred_at >= TIMESTAMP '2026-08-02'
            WHERE a.account_id NOT IN (SELECT account_id FROM churn) AND a.created_at < TIMESTAMP '2026-04-01'
            GROUP BY a.account_id, a.segment, a.licenses
        )
        SELECT c.segment, c.n, c.ratio, r.ratio
        FROM (SELECT segment, count(*) AS n, avg(ratio) AS ratio FROM churned GROUP BY 1) c
        JOIN (SELECT segment, avg(ratio) AS ratio FROM retained GROUP BY 1) r USING (segment)
        """
    ).fetchall()
    by_segment = {segment: (n, churned, retained) for segment, n, churned, retained in rows}
    for segment in ("SMB", "Mid-Market"):
        n, churned, retained = by_segment[segment]
        assert n >= 30, segment
        assert churned < 0.7 * retained, (segment, churned, retained)


def test_churned_accounts_were_detractors_with_worse_tickets(large_db: duckdb.DuckDBPyConnection) -> None:
    churn = "SELECT account_id, min(changed_at) AS t FROM subscription_changes WHERE kind = 'churn' GROUP BY 1"
    nps = dict(
        large_db.execute(
            f"""
            SELECT c.account_id IS NOT NULL, avg(s.score)
            FROM survey_responses s LEFT JOIN ({churn}) c USING (account_id)
            WHERE s.survey = 'nps' AND (c.t IS NULL OR s.responded_at >= c.t - INTERVAL 180 DAY)
            GROUP BY 1
            """
        ).fetchall()
    )
    reopens = dict(
        large_db.execute(
            f"""
            SELECT c.account_id IS NOT NULL, avg(t.reopens)
            FROM tickets t LEFT JOIN ({churn}) c USING (account_id)
            WHERE c.t IS NULL OR t.created_at >= c.t - INTERVAL 180 DAY
            GROUP BY 1
            """
        ).fetchall()
    )
    assert nps[True] < nps[False] - 0.7
    assert reopens[True] > 1.3 * reopens[False]
