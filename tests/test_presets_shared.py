"""The dataset presets load the real files in ../shared/data in one command, and account for every row.

Each dataset is loaded once per module (twice, to check that a re-import changes nothing). Expected
numbers come from the datasets' SOURCE.md or are counted here with pandas straight from the files,
never from the loader's own output.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import sinergia
from sinergia.ingest import ImportReport, ingest_files
from sinergia.schema import ENTITIES
from sinergia.workspace import Workspace

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if not SHARED_DATA.is_dir():
    if os.environ.get("CI"):
        pytest.fail(f"{SHARED_DATA} is missing; CI must run with ../shared beside the checkout", pytrace=False)
    pytest.skip("../shared/data not found (it sits beside the checkout in CI)", allow_module_level=True)

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

TELCO = SHARED_DATA / "telco_churn"
TELCO_FILES = [
    TELCO / "WA_Fn-UseC_-Telco-Customer-Churn.train.csv",
    *(
        TELCO / "ibm_cognos_v11" / f"Telco_customer_churn{suffix}.train.csv"
        for suffix in ("", "_demographics", "_location", "_services", "_status")
    ),
]
OLIST = SHARED_DATA / "olist"
OLIST_CUSTOMERS = OLIST / "full_tables" / "olist_customers_dataset.csv.gz"
OLIST_ORDERS = OLIST / "order_sample_8k" / "olist_orders_dataset.csv"
OLIST_ITEMS = OLIST / "order_sample_8k" / "olist_order_items_dataset.csv"
OLIST_REVIEWS = [
    OLIST / "order_sample_8k" / "olist_order_reviews_dataset.train.csv",
    OLIST / "reviews_file_head" / "olist_order_reviews_head6k.train.csv",
]
OLIST_CLASSIFIED = OLIST / "classified_reviews_v1" / "olist_classified_public_dataset.train.csv"
# Orders before customers on purpose: the customer_id aliases must reach orders loaded earlier.
OLIST_FILES = [OLIST_ORDERS, OLIST_CUSTOMERS, OLIST_ITEMS, *OLIST_REVIEWS, OLIST_CLASSIFIED]
CDNOW_MASTER = SHARED_DATA / "cdnow" / "CDNOW_master.txt"
CDNOW_SAMPLE = SHARED_DATA / "cdnow" / "CDNOW_sample.txt"
RETAIL_I = SHARED_DATA / "online_retail" / "online_retail_I_2010-12_2011-12.csv.gz"
RETAIL_II = SHARED_DATA / "online_retail" / "online_retail_II_year2009-2010.csv.gz"
ITSM = SHARED_DATA / "support_tickets" / "itsm_incident_event_log" / "incident_event_log.train.csv.gz"
RAVEN = SHARED_DATA / "saas_subscription" / "ravenstack_SYNTHETIC"
RAVEN_FILES = [
    RAVEN / f"ravenstack_{name}.csv"
    for name in ("accounts", "subscriptions", "feature_usage", "support_tickets", "churn_events")
]
DATASETS = ["telco", "olist", "cdnow", "online_retail", "itsm", "ravenstack"]


def read_csv(path: Path) -> pd.DataFrame:
    """Every cell as the text in the file ('' when blank): an independent count of the file's records."""
    return _read_csv(path).copy()


@functools.cache
def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def read_cdnow(path: Path, header: bool) -> pd.DataFrame:
    names = None if header else ["customer_id", "sample_id", "date", "number_of_cds", "dollar_value"]
    return pd.read_csv(path, sep=r"\s+", dtype=str, header=0 if header else None, names=names)


def has_text(column: pd.Series) -> pd.Series:
    return column.str.strip() != ""


@dataclass
class Loaded:
    workspace: Workspace
    first: ImportReport
    second: ImportReport
    tables_after_first: dict[str, int]
    tables_after_second: dict[str, int]
    seconds: float

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        con = self.workspace.duckdb_reader()
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        return self.query(sql, params)[0][0]

    def reads(self) -> dict[tuple[str, str], int]:
        return {(Path(r.file).name, r.entity): r.counts.read for r in self.first.files}


def _table_counts(workspace: Workspace) -> dict[str, int]:
    con = workspace.duckdb_reader()
    try:
        names = [*ENTITIES, "quarantine", "identity_map"]
        return {n: int(con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}
    finally:
        con.close()


def _load(tmp_path_factory: pytest.TempPathFactory, preset: str, files: list[Path]) -> Loaded:
    workspace = sinergia.init_workspace(tmp_path_factory.mktemp(preset) / "ws")
    started = time.perf_counter()
    first = ingest_files(workspace, files, preset=preset)
    seconds = time.perf_counter() - started
    after_first = _table_counts(workspace)
    second = ingest_files(workspace, files, preset=preset)
    return Loaded(workspace, first, second, after_first, _table_counts(workspace), seconds)


@pytest.fixture(scope="module")
def telco(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    return _load(tmp_path_factory, "telco", TELCO_FILES)


@pytest.fixture(scope="module")
def olist(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    return _load(tmp_path_factory, "olist", OLIST_FILES)


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    return _load(tmp_path_factory, "cdnow", [CDNOW_MASTER, CDNOW_SAMPLE])


@pytest.fixture(scope="module")
def online_retail(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    return _load(tmp_path_factory, "online-retail", [RETAIL_II, RETAIL_I])


@pytest.fixture(scope="module")
def itsm(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    return _load(tmp_path_factory, "itsm", [ITSM])


@pytest.fixture(scope="module")
def ravenstack(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    return _load(tmp_path_factory, "ravenstack", RAVEN_FILES)


# -- expected reads, counted from the files --------------------------------------------------------------


def _expected_reads(dataset: str) -> dict[tuple[str, str], int]:
    """(file name, entity) → rows that target reads: all the file's records, or those its `where` selects."""
    if dataset == "telco":
        return {(f.name, "accounts"): len(read_csv(f)) for f in TELCO_FILES}
    if dataset == "olist":
        reads = {
            (OLIST_CUSTOMERS.name, "accounts"): len(read_csv(OLIST_CUSTOMERS)),
            (OLIST_ORDERS.name, "orders"): len(read_csv(OLIST_ORDERS)),
            (OLIST_ITEMS.name, "order_lines"): len(read_csv(OLIST_ITEMS)),
        }
        for path in OLIST_REVIEWS:
            reviews = read_csv(path)
            reads[(path.name, "survey_responses")] = len(reviews)
            reads[(path.name, "feedback")] = int(has_text(reviews["review_comment_message"]).sum())
        classified = read_csv(OLIST_CLASSIFIED)
        reads[(OLIST_CLASSIFIED.name, "feedback")] = int(has_text(classified["review_comment_message"]).sum())
        return reads
    if dataset == "cdnow":
        master, sample = read_cdnow(CDNOW_MASTER, header=True), read_cdnow(CDNOW_SAMPLE, header=False)
        return {
            (CDNOW_MASTER.name, "accounts"): len(master),
            (CDNOW_MASTER.name, "orders"): len(master),
            (CDNOW_SAMPLE.name, "accounts"): len(sample),
            (CDNOW_SAMPLE.name, "orders"): len(sample),
        }
    if dataset == "online_retail":
        return {(f.name, "order_lines"): len(read_csv(f)) for f in (RETAIL_I, RETAIL_II)}
    if dataset == "itsm":
        events = len(read_csv(ITSM))
        return {(ITSM.name, "tickets"): events, (ITSM.name, "ticket_events"): events}
    assert dataset == "ravenstack"
    entities = ["accounts", "subscriptions", "usage_events", "tickets", "subscription_changes"]
    reads = {(f.name, e): len(read_csv(f)) for f, e in zip(RAVEN_FILES, entities, strict=True)}
    churn = read_csv(RAVEN_FILES[-1])
    reads[(RAVEN_FILES[-1].name, "feedback")] = int(has_text(churn["feedback_text"]).sum())
    return reads


# -- every dataset ---------------------------------------------------------------------------------------


@pytest.fixture(params=DATASETS)
def loaded(request: pytest.FixtureRequest) -> Iterator[Loaded]:
    yield request.getfixturevalue(request.param)


def test_every_row_is_accounted_for_and_none_is_quarantined(loaded: Loaded) -> None:
    for report in (loaded.first, loaded.second):
        for result in report.files:
            c = result.counts
            assert c.read == c.loaded + c.updated + c.unchanged + c.merged + c.quarantined, result
            # Every dataset loads clean: no row breaks a rule. (Repeated keys are folded on purpose and
            # counted as merged; see the per-dataset tests.)
            assert c.quarantined == 0, result
    assert loaded.tables_after_second["quarantine"] == 0


@pytest.mark.parametrize("dataset", DATASETS)
def test_reads_equal_the_rows_in_the_files(dataset: str, request: pytest.FixtureRequest) -> None:
    result: Loaded = request.getfixturevalue(dataset)
    assert result.reads() == _expected_reads(dataset)
    assert {(Path(r.file).name, r.entity): r.counts.read for r in result.second.files} == result.reads()


def test_a_second_import_changes_nothing(loaded: Loaded) -> None:
    for result in loaded.second.files:
        assert (result.counts.loaded, result.counts.updated) == (0, 0), result
    assert loaded.tables_after_second == loaded.tables_after_first
    assert loaded.second.aliases == {}


# -- telco -----------------------------------------------------------------------------------------------


def test_telco_customers_become_accounts_with_each_files_columns(telco: Loaded) -> None:
    classic = read_csv(TELCO_FILES[0]).set_index("customerID")
    assert telco.tables_after_first["accounts"] == len(classic) == 5282  # SOURCE.md: 75 % of 7,043
    row = telco.query(
        "SELECT country, region, lifecycle_stage, created_at, attributes FROM accounts WHERE account_id = ?",
        ["7590-VHVEG"],
    )
    assert len(row) == 1
    country, region, stage, created_at, attributes = row[0]
    attrs = json.loads(attributes)
    assert attrs["classic"]["MonthlyCharges"] == classic.loc["7590-VHVEG", "MonthlyCharges"] == "29.85"
    assert attrs["classic"]["Churn"] == "No" and stage == "customer"
    assert sorted(attrs) == ["classic", "cognos", "demographics", "location", "services", "status"]
    status = read_csv(TELCO_FILES[5]).set_index("Customer ID")
    assert attrs["status"]["Satisfaction Score"] == status.loc["7590-VHVEG", "Satisfaction Score"]
    assert (country, region) == ("United States", "California")
    assert created_at is None  # no signup date in the data, so none is invented
    churned = int((classic["Churn"] == "Yes").sum())
    assert telco.scalar("SELECT count(*) FROM accounts WHERE lifecycle_stage = 'churned'") == churned
    # No dates anywhere: no subscriptions, no survey answers.
    assert telco.tables_after_first["subscriptions"] == telco.tables_after_first["survey_responses"] == 0
    # A file's disagreeing spelling stays in its own section (classic "Month-to-month", services "Month-to-Month").
    assert (attrs["classic"]["Contract"], attrs["services"]["Contract"]) == ("Month-to-month", "Month-to-Month")


# -- olist -----------------------------------------------------------------------------------------------


def test_olist_orders_resolve_to_the_person(olist: Loaded) -> None:
    customers = read_csv(OLIST_CUSTOMERS)
    person_of = dict(zip(customers["customer_id"], customers["customer_unique_id"], strict=True))
    assert olist.tables_after_first["accounts"] == customers["customer_unique_id"].nunique() == 96096
    # Every customer_id is an alias of its person, also for persons with several customer rows.
    assert olist.tables_after_first["identity_map"] == len(customers) == 99441
    orders = read_csv(OLIST_ORDERS)
    stored = dict(olist.query("SELECT order_id, account_id FROM orders"))
    assert stored == {o: person_of[c] for o, c in zip(orders["order_id"], orders["customer_id"], strict=True)}
    # A person who ordered twice: both orders on one account.
    repeat = orders.assign(person=orders["customer_id"].map(person_of)).groupby("person")["order_id"].nunique()
    person = repeat[repeat > 1].index[0]
    assert olist.scalar("SELECT count(*) FROM orders WHERE account_id = ?", [person]) == repeat[person]


def test_olist_order_lines_and_reviews(olist: Loaded) -> None:
    items = read_csv(OLIST_ITEMS)
    first = items.iloc[0]
    line = olist.query(
        "SELECT product_id, quantity, unit_price::VARCHAR, amount::VARCHAR, currency, attributes->>'freight_value' "
        "FROM order_lines WHERE order_id = ? AND line_number = ?",
        [first["order_id"], int(first["order_item_id"])],
    )
    price = f"{float(first['price']):.2f}"
    assert line == [(first["product_id"], 1.0, price, price, "BRL", first["freight_value"])]
    assert float(olist.scalar("SELECT sum(amount) FROM order_lines")) == pytest.approx(
        items["price"].astype(float).sum(), abs=0.01
    )
    reviews = pd.concat([read_csv(p) for p in OLIST_REVIEWS]).drop_duplicates()
    # review_id repeats (one review for several orders); (review_id, order_id) does not.
    assert reviews["review_id"].duplicated().any()
    assert not reviews.duplicated(["review_id", "order_id"]).any()
    assert olist.tables_after_first["survey_responses"] == len(reviews)
    mean, low, high, scale = olist.query(
        "SELECT avg(score), min(scale_min), max(scale_max), count(DISTINCT survey) FROM survey_responses"
    )[0]
    assert mean == pytest.approx(reviews["review_score"].astype(int).mean())
    assert (low, high, scale) == (1, 5, 1)
    with_text = int(has_text(reviews["review_comment_message"]).sum())
    classified = len(read_csv(OLIST_CLASSIFIED))
    assert olist.tables_after_first["feedback"] == with_text + classified
    # Local Brazilian time → UTC: 2018-08-15 04:10:37 in São Paulo (UTC-3) is 07:10:37 UTC.
    sample = read_csv(OLIST_REVIEWS[0]).iloc[0]
    assert sample["review_answer_timestamp"] == "2018-08-15 04:10:37"
    responded = olist.scalar(
        "SELECT strftime(responded_at, '%Y-%m-%d %H:%M:%S') FROM survey_responses WHERE response_id = ?",
        [f"{sample['review_id']}-{sample['order_id']}"],
    )
    assert responded == "2018-08-15 07:10:37"


# -- cdnow -----------------------------------------------------------------------------------------------


def test_cdnow_matches_the_published_totals(cdnow: Loaded) -> None:
    # SOURCE.md: 69,659 transactions, 23,570 customers, total $2,500,315.63, 1997-01-01 … 1998-06-30.
    orders, customers, total, first, last = cdnow.query(
        "SELECT count(*), count(DISTINCT account_id), sum(amount), min(ordered_at), max(ordered_at) FROM orders"
    )[0]
    assert (orders, customers, str(total)) == (69659, 23570, "2500315.63")
    assert (str(first.date()), str(last.date())) == ("1997-01-01", "1998-06-30")
    assert cdnow.tables_after_first["accounts"] == 23570
    # Rows that are exact copies are separate purchases and stay separate orders.
    master = read_cdnow(CDNOW_MASTER, header=True)
    assert master.duplicated().sum() == 255
    # The sample is a subset of the master: it adds no order and names its customers' sample ids.
    sample = read_cdnow(CDNOW_SAMPLE, header=False)
    counts = {Path(r.file).name: r.counts for r in cdnow.first.files if r.entity == "orders"}
    assert counts[CDNOW_SAMPLE.name].unchanged == len(sample) == 6919
    assert cdnow.scalar("SELECT count(*) FROM accounts WHERE attributes->>'cdnow_sample_id' IS NOT NULL") == 2357
    # The cohort: everyone's first purchase is in Q1 1997, and that is when they became a customer.
    assert [str(d.date()) for d in cdnow.query("SELECT min(created_at), max(created_at) FROM accounts")[0]] == [
        "1997-01-01",
        "1997-03-25",
    ]


# -- online retail ---------------------------------------------------------------------------------------


def test_online_retail_overlap_week_is_loaded_once(online_retail: Loaded) -> None:
    one, two = read_csv(RETAIL_I), read_csv(RETAIL_II)
    assert (len(one), len(two)) == (541909, 525461)  # SOURCE.md
    two.columns = one.columns
    # Lines per invoice in each file; the overlapping invoices hold the same lines in both (checked below),
    # so the distinct (invoice, line) pairs are, per invoice, the larger of the two counts.
    per_invoice = pd.concat([one["InvoiceNo"].value_counts(), two["InvoiceNo"].value_counts()], axis=1).fillna(0)
    shared = per_invoice[(per_invoice > 0).all(axis=1)].index
    assert len(shared) == 1088
    blank = {"Unknown": "", "nan": ""}
    same = [
        f[f["InvoiceNo"].isin(shared)].replace({"Description": blank}).sort_values(list(f.columns))
        for f in (one, two)
    ]
    same = [f.reset_index(drop=True) for f in same]
    pd.testing.assert_frame_equal(same[0], same[1])
    expected_lines = int(per_invoice.max(axis=1).sum())
    assert expected_lines == len(one) + len(two) - 22523
    assert online_retail.tables_after_first["order_lines"] == expected_lines
    assert online_retail.scalar("SELECT count(DISTINCT order_id) FROM order_lines") == len(per_invoice)
    counts = {Path(r.file).name: r.counts for r in online_retail.first.files}
    assert counts[RETAIL_I.name].unchanged == len(same[0]) == 22523


def test_online_retail_values(online_retail: Loaded) -> None:
    one = read_csv(RETAIL_I)
    lines = online_retail.query(
        "SELECT product_id, quantity, unit_price, amount, account_id, currency FROM order_lines "
        "WHERE order_id = '536365' ORDER BY line_number"
    )
    source = one[one["InvoiceNo"] == "536365"].sort_values("StockCode")
    assert [r[0] for r in lines] == list(source["StockCode"])
    assert {(r[1], float(r[2]), float(r[3]), r[4], r[5]) for r in lines} == {
        (float(q), float(p), round(float(q) * float(p), 2), c, "GBP")
        for q, p, c in zip(source["Quantity"], source["UnitPrice"], source["CustomerID"], strict=True)
    }
    cancelled = online_retail.scalar("SELECT count(*) FROM order_lines WHERE order_id LIKE 'C%' AND quantity < 0")
    assert cancelled > 9288  # SOURCE.md: 9,288 cancellation lines in file I alone; they all stay
    two = read_csv(RETAIL_II)
    overlap = one[one["InvoiceNo"].isin(set(two["Invoice"]))]
    no_customer = online_retail.scalar("SELECT count(*) FROM order_lines WHERE account_id IS NULL")
    assert no_customer == (
        (one["CustomerID"] == "").sum() + (two["Customer ID"] == "").sum() - (overlap["CustomerID"] == "").sum()
    )


# -- itsm ------------------------------------------------------------------------------------------------


def test_itsm_tickets_and_status_history(itsm: Loaded) -> None:
    log = read_csv(ITSM)
    assert len(log) == 113232 and log["number"].nunique() == 19934  # SOURCE.md (train split)
    assert itsm.tables_after_first["tickets"] == 19934
    assert itsm.tables_after_first["ticket_events"] == len(log)
    history = itsm.query(
        "SELECT source_status, status, sequence FROM ticket_events WHERE ticket_id = 'INC0000045' "
        "ORDER BY occurred_at, sequence"
    )
    source = log[log["number"] == "INC0000045"]
    assert [h[0] for h in history] == list(source["incident_state"]) == ["New", "Resolved", "Resolved", "Closed"]
    assert [h[1] for h in history] == ["new", "solved", "solved", "closed"]
    ticket = itsm.query(
        "SELECT status, reopens, channel, priority, created_at, solved_at, closed_at FROM tickets "
        "WHERE ticket_id = 'INC0000045'"
    )[0]
    assert ticket[:4] == ("closed", 0, "phone", "normal")
    assert [str(t) for t in ticket[4:]] == ["2016-02-29 01:16:00", "2016-02-29 11:29:00", "2016-03-05 12:00:00"]
    # The most reopened incident: its final reopen count, and one event per row of its history.
    last = log.groupby("number").tail(1).set_index("number")
    reopened = last["reopen_count"].astype(int).idxmax()
    assert itsm.scalar("SELECT reopens FROM tickets WHERE ticket_id = ?", [reopened]) == int(
        last.loc[reopened, "reopen_count"]
    ) > 0
    assert itsm.scalar("SELECT count(*) FROM ticket_events WHERE ticket_id = ?", [reopened]) == int(
        (log["number"] == reopened).sum()
    )
    # The final state of every incident is its last row: all end Closed (SOURCE.md), and the last row is
    # the incident's latest update and highest sys_mod_count.
    assert itsm.query("SELECT DISTINCT status FROM tickets") == [("closed",)]
    updated = pd.to_datetime(log["sys_updated_at"], format="%d/%m/%Y %H:%M").groupby(log["number"]).max()
    mod_count = log["sys_mod_count"].astype(int).groupby(log["number"]).max()
    stored = {
        number: (at, int(count))
        for number, at, count in itsm.query("SELECT ticket_id, updated_at, attributes->>'sys_mod_count' FROM tickets")
    }
    assert stored == {n: (updated[n].to_pydatetime(), int(mod_count[n])) for n in updated.index}
    # made_sla = true for 63.8 % of incidents (SOURCE.md, last event per incident).
    sla = itsm.scalar("SELECT avg(CASE WHEN attributes->>'made_sla' = 'true' THEN 1 ELSE 0 END) FROM tickets")
    assert sla == pytest.approx(0.638, abs=0.001)
    # '?' is missing: 19,934 incidents, some never resolved.
    never_resolved = int((last["resolved_at"] == "?").sum())
    assert itsm.scalar("SELECT count(*) FROM tickets WHERE solved_at IS NULL") == never_resolved


# -- ravenstack ------------------------------------------------------------------------------------------


def test_ravenstack_tables(ravenstack: Loaded) -> None:
    accounts, subscriptions, usage, tickets, churn = (read_csv(f) for f in RAVEN_FILES)
    counts = ravenstack.tables_after_first
    assert (counts["accounts"], counts["subscriptions"], counts["usage_events"], counts["tickets"]) == (
        500, 5000, 25000, 2000,
    )
    # usage_id repeats for unrelated rows (random short ids); no usage row is lost for it.
    assert usage["usage_id"].duplicated().sum() == 21
    assert float(ravenstack.scalar("SELECT sum(mrr) FROM subscriptions")) == pytest.approx(
        subscriptions["mrr_amount"].astype(float).sum()
    )
    rated = tickets[tickets["satisfaction_score"] != ""]
    assert ravenstack.query("SELECT count(csat_score), avg(csat_score), max(csat_scale) FROM tickets")[0] == (
        len(rated), pytest.approx(rated["satisfaction_score"].astype(float).mean()), 5,
    )
    assert counts["subscription_changes"] == len(churn) == 600
    assert ravenstack.scalar("SELECT count(DISTINCT kind) FROM subscription_changes") == 1
    assert ravenstack.scalar("SELECT count(*) FROM usage_events WHERE account_id IS NOT NULL") == 0
    trial_or_churned = (accounts["churn_flag"] == "TRUE") | (accounts["is_trial"] == "TRUE")
    assert ravenstack.scalar("SELECT count(*) FROM accounts WHERE lifecycle_stage = 'customer'") == int(
        (~trial_or_churned).sum()
    )
