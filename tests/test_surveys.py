"""Surveys: signed invitation links, throttling, outbox e-mail, the public page and the webhook landing as canonical
``survey_responses`` rows (read back from the workspace engine)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from sinergia.api import create_app
from sinergia.errors import ConfigError
from sinergia.ingest import ingest_files
from sinergia.playbooks.outbox import sign
from sinergia.store.db import dispose_engine, session_factory
from sinergia.surveys import core, tokens
from sinergia.surveys.config import SurveySettings
from sinergia.workspace import Workspace, init_workspace, open_workspace

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3Itc3VydmV5LXdlYmhvb2tz"  # base64 of "secret-key-for-survey-webhooks"
SURVEYS = {
    "base_url": "https://cx.example.com",
    "throttle_days": 90,
    "expiry_days": 30,
    "webhook_secret_env": "TEST_SURVEY_WEBHOOK_SECRET",
    "definitions": [
        {"name": "nps_onboarding", "kind": "nps", "touchpoint": "onboarding", "journey_stage": "during"},
        {"name": "csat_support", "kind": "csat", "scale": [1, 10], "touchpoint": "support", "journey_stage": "after",
         "question": {"en": "How did our support do?", "pt-BR": "Como foi o nosso suporte?"}},
    ],
}


def make_workspace(root: Path) -> Workspace:
    ws = init_workspace(root / "ws", name="Acme CX")
    config_path = ws.path / "sinergia.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["surveys"] = SURVEYS
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True))
    data = root / "in"
    data.mkdir()
    (data / "accounts.csv").write_text("account_id,name\nacc1,Acme\nacc2,Beta\n")
    (data / "contacts.csv").write_text(
        "contact_id,account_id,email,name,language\n"
        "c1,acc1,ana@acme.com,Ana,pt-BR\n"
        "c2,acc1,bob@acme.com,Bob,en\n"
        "c3,acc1,,Caio,pt\n"
        "c4,acc2,dora@beta.com,Dora,en\n"
    )
    ingest_files(ws, [data / "accounts.csv", data / "contacts.csv"], preset="sinergia")
    ws = open_workspace(ws.path)
    from sinergia.store.migrate import upgrade_store

    upgrade_store(ws.store_url)
    with session_factory(ws.store_url)() as session:
        core.sync_definitions(session, ws.config.surveys)
        session.commit()
    return ws


@pytest.fixture()
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv(tokens.ENV_VAR, raising=False)
    workspace = make_workspace(tmp_path)
    yield workspace
    dispose_engine(workspace.store_url)


def responses(ws: Workspace) -> list[dict[str, Any]]:
    table = ws.table("survey_responses")
    frame = table.order_by("response_id").to_pandas()
    return [dict(r) for r in frame.to_dict(orient="records")]


# -- tokens ----------------------------------------------------------------------------------------------
def test_token_round_trip_expiry_and_tamper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tokens.ENV_VAR, raising=False)
    key = tokens.secret_for(tmp_path)
    assert len(key) == 32 and (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert tokens.secret_for(tmp_path) == key  # the same key next time
    token = tokens.make(key, "abc", 2_000_000_000)
    assert tokens.parse(key, token, now=1_999_999_999) == tokens.Token("abc", 2_000_000_000)
    with pytest.raises(tokens.TokenError) as expired:
        tokens.parse(key, token, now=2_000_000_000)  # expiry is exclusive
    assert expired.value.reason == "expired"
    nonce, expires, signature = token.split(".")
    for forged in (f"abd.{expires}.{signature}",  # another invitation
                   f"{nonce}.{int(expires) + 86400}.{signature}",  # a later expiry
                   f"{nonce}.{expires}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
                   tokens.make(b"another-key-of-32-bytes-........", "abc", 2_000_000_000),
                   "garbage", f"{nonce}.{expires}"):
        with pytest.raises(tokens.TokenError) as bad:
            tokens.parse(key, forged, now=1_000_000_000)
        assert bad.value.reason == "invalid", forged
    monkeypatch.setenv(tokens.ENV_VAR, "a-team-wide-secret-value")
    assert tokens.secret_for(tmp_path) == b"a-team-wide-secret-value"
    monkeypatch.setenv(tokens.ENV_VAR, "short")
    with pytest.raises(ConfigError):
        tokens.secret_for(tmp_path)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="NPS is always asked on 0-10"):
        SurveySettings.model_validate({"definitions": [
            {"name": "x", "kind": "nps", "scale": [1, 5], "touchpoint": "t", "journey_stage": "after"}]})
    with pytest.raises(ValueError, match="missing: en"):
        SurveySettings.model_validate({"definitions": [
            {"name": "x", "kind": "csat", "question": {"pt-BR": "Oi?"}, "touchpoint": "t", "journey_stage": "after"}]})
    with pytest.raises(ValueError, match="journey_stage"):
        SurveySettings.model_validate({"definitions": [
            {"name": "x", "kind": "ces", "touchpoint": "t", "journey_stage": "later"}]})
    with pytest.raises(ValueError, match="defined twice"):
        SurveySettings.model_validate({"definitions": [
            {"name": "x", "kind": "ces", "touchpoint": "t", "journey_stage": "after"},
            {"name": "x", "kind": "nps", "touchpoint": "t", "journey_stage": "after"}]})
    ok = SurveySettings.model_validate({"definitions": [
        {"name": "ces_app", "kind": "ces", "touchpoint": "app", "journey_stage": "during"}]})
    assert (ok.definitions[0].scale_min, ok.definitions[0].scale_max) == (1, 7)  # CES default 1-7
    assert ok.throttle_days == 90
    # through the workspace config: one line per problem, with the key path
    from sinergia.workspace.config import parse_config

    with pytest.raises(ConfigError) as bad:
        parse_config({"surveys": {"throttle_days": -1, "definitions": [
            {"name": "Y Z", "kind": "csat", "touchpoint": "t", "journey_stage": "later"}]}}, "sinergia.yaml")
    lines = str(bad.value).splitlines()
    assert lines[0] == "sinergia.yaml: surveys.throttle_days: Input should be greater than or equal to 0"
    assert lines[2] == ("sinergia.yaml: surveys.definitions.0.journey_stage: "
                        "Input should be 'before', 'during' or 'after'")


# -- invitations -----------------------------------------------------------------------------------------
def test_invite_by_account_enqueues_email_and_throttles(ws: Workspace) -> None:
    from sinergia.store.playbook_models import OutboxMessage

    people = core.resolve_contacts(ws, account_id="acc1")
    t0 = dt.datetime(2026, 11, 1, 12, 0)
    with session_factory(ws.store_url)() as session:
        dry = core.invite(session, ws, "nps_onboarding", people, dry_run=True, now=t0)
        session.rollback()
        assert [(r.contact_id, r.status) for r in dry.results] == [
            ("c1", "would_invite"), ("c2", "would_invite"), ("c3", "refused")]
        assert session.scalar(select(OutboxMessage.id)) is None  # a dry run writes nothing
        report = core.invite(session, ws, "nps_onboarding", people, now=t0)
        session.commit()
    by_id = {r.contact_id: r for r in report.results}
    assert by_id["c3"].status == "refused" and by_id["c3"].reason == "no e-mail address"
    assert by_id["c1"].status == by_id["c2"].status == "invited"
    assert by_id["c1"].url is not None and by_id["c1"].url.startswith("https://cx.example.com/s/")
    with session_factory(ws.store_url)() as session:
        mails = {m.target: m for m in session.scalars(select(OutboxMessage))}
    assert set(mails) == {"ana@acme.com", "bob@acme.com"}
    ana, bob = mails["ana@acme.com"], mails["bob@acme.com"]
    assert ana.kind == "email" and ana.status == "pending" and ana.idempotency_key.startswith("survey:")
    assert "Qual a probabilidade de você recomendar a Acme CX" in ana.payload["body"]  # pt-BR contact
    assert by_id["c1"].url in ana.payload["body"]
    assert "How likely are you to recommend Acme CX" in bob.payload["body"]  # en contact
    assert "2026-12-01" in bob.payload["body"]  # expiry: 30 days after 2026-11-01

    # 89 days later: still inside the 90-day window, for any survey
    with session_factory(ws.store_url)() as session:
        again = core.invite(session, ws, "csat_support", people[:1], now=t0 + dt.timedelta(days=89))
        session.commit()
    refused = again.results[0]
    assert refused.status == "refused"
    assert refused.reason == ("throttled: invited on 2026-11-01; a contact is asked at most once every 90 days "
                              "(next from 2026-01-30)".replace("2026-01-30", "2027-01-30"))
    # 90 days later (2027-01-30 12:00): allowed again
    with session_factory(ws.store_url)() as session:
        later = core.invite(session, ws, "csat_support", people[:1], channel="in_app",
                            now=t0 + dt.timedelta(days=90))
        session.commit()
    assert later.results[0].status == "invited" and later.results[0].outbox_id is None  # in-app: no e-mail


def test_contacts_file_and_duplicates(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("contact_id,locale\nc4,pt-BR\nc4,\nzz9,\n")
    people = core.resolve_contacts(ws, rows=core.read_contacts_file(path))
    with session_factory(ws.store_url)() as session:
        report = core.invite(session, ws, "nps_onboarding", people, now=dt.datetime(2026, 11, 2))
        session.commit()
    assert [(r.contact_id, r.status, r.reason) for r in report.results] == [
        ("c4", "invited", ""), ("c4", "refused", "listed twice in this send"),
        ("zz9", "refused", "no e-mail address")]  # unknown contact: no address to send to
    assert report.results[0].locale == "pt-BR" and report.results[0].email == "dora@beta.com"


# -- public page -----------------------------------------------------------------------------------------
def _invite_one(ws: Workspace, contact: str, survey: str = "nps_onboarding", now: dt.datetime | None = None,
                channel: str = "in_app") -> str:
    people = core.resolve_contacts(ws, rows=[{"contact_id": contact}])
    with session_factory(ws.store_url)() as session:
        report = core.invite(session, ws, survey, people, channel=channel, now=now)
        session.commit()
    url = report.results[0].url
    assert url is not None, report.results[0]
    return url.split("/s/", 1)[1]


def test_public_page_answer_lands_in_survey_responses(ws: Workspace) -> None:
    token = _invite_one(ws, "c2")
    client = TestClient(create_app(ws))
    page = client.get(f"/s/{token}")
    assert page.status_code == 200
    assert "How likely are you to recommend Acme CX" in page.text  # c2 reads English
    assert page.text.count('name="score"') == 11  # 0..10
    assert "http://" not in page.text.replace('"http://www.w3.org', "") and "<script" not in page.text
    switched = client.get(f"/s/{token}?lang=pt-BR")
    assert "Qual a probabilidade" in switched.text and 'lang="pt-BR"' in switched.text

    missing = client.post(f"/s/{token}", data={"comment": "hi", "lang": "en"})
    assert missing.status_code == 422 and "Choose a score" in missing.text

    out_of_scale = client.post(f"/s/{token}", data={"score": "11", "lang": "en"})
    assert out_of_scale.status_code == 422

    done = client.post(f"/s/{token}", data={"score": "9", "comment": "Ótimo! Liguem 11 98765-4321", "lang": "pt-BR"})
    assert done.status_code == 200 and "Obrigado" in done.text
    again = client.post(f"/s/{token}", data={"score": "3", "lang": "en"})
    assert again.status_code == 409 and "already been answered" in again.text
    assert client.get(f"/s/{token}").status_code == 409

    rows = responses(ws)
    assert len(rows) == 1
    row = rows[0]
    assert row["response_id"] == f"inv_{token.split('.')[0]}"
    assert (row["contact_id"], row["account_id"], row["survey"], row["score"]) == ("c2", "acc1", "nps", 9.0)
    assert (row["scale_min"], row["scale_max"], row["touchpoint"], row["journey_stage"]) == (0, 10, "onboarding",
                                                                                             "during")
    assert row["channel"] == "in_app" and row["language"] == "pt-BR"
    assert "98765" not in row["comment"] and row["comment"].startswith("Ótimo! Liguem [")
    assert row["responded_at"] is not None and row["sent_at"] is not None

    with session_factory(ws.store_url)() as session:
        rate = core.response_rate(session, survey="nps_onboarding")
    assert (rate["sent"], rate["answered"], rate["response_rate"]) == (1, 1, 1.0)

    # the metrics registry reads the answer like any imported one: one promoter of one answer → NPS = 100 × 1/1
    from sinergia import metrics

    today = dt.datetime.now(dt.UTC).date()
    values = metrics.compute(ws, ["nps", "survey_response_rate"], as_of=today).set_index("metric")
    assert values.loc["nps", "value"] == 100.0 and values.loc["nps", "n"] == 1
    # the documented gap: only answers reach survey_responses, so the registry's rate reads 1 / 1
    assert values.loc["survey_response_rate", "value"] == 1.0


def test_invalid_and_expired_links(ws: Workspace) -> None:
    client = TestClient(create_app(ws))
    bad = client.get("/s/not-a-token")
    assert bad.status_code == 404 and "Link inválido" in bad.text  # workspace locale pt-BR
    token = _invite_one(ws, "c1", now=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=31))
    expired = client.get(f"/s/{token}?lang=en")
    assert expired.status_code == 410 and "Link expired" in expired.text
    assert client.post(f"/s/{token}", data={"score": "7", "lang": "en"}).status_code == 410
    assert responses(ws) == []


# -- webhook ---------------------------------------------------------------------------------------------
def _signed(body: bytes, secret: str = SECRET, msg_id: str = "msg_1", at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
            "webhook-signature": sign(secret, msg_id, stamp, body), "content-type": "application/json"}


def test_webhook_signature_good_and_bad(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(create_app(ws))
    body = json.dumps({"response_id": "ty-123", "survey": "csat_support", "score": 8, "contact_id": "c4",
                       "account_id": "acc2", "comment": "Bom, meu CPF 529.982.247-25",
                       "responded_at": "2026-11-10T10:00:00-03:00"}).encode()
    off = client.post("/api/v1/surveys/webhook", content=body, headers=_signed(body))
    assert off.status_code == 503  # no secret configured: the webhook is off
    monkeypatch.setenv("TEST_SURVEY_WEBHOOK_SECRET", SECRET)
    wrong = client.post("/api/v1/surveys/webhook", content=body,
                        headers=_signed(body, secret="whsec_" + "b3RoZXItc2VjcmV0LWtleS1vZi1hbm90aGVy"))
    assert wrong.status_code == 401
    tampered = client.post("/api/v1/surveys/webhook", content=body.replace(b'"score": 8', b'"score": 1'),
                           headers=_signed(body))
    assert tampered.status_code == 401
    stale = client.post("/api/v1/surveys/webhook", content=body, headers=_signed(body, at=int(time.time()) - 600))
    assert stale.status_code == 401
    unsigned = client.post("/api/v1/surveys/webhook", content=body, headers={"content-type": "application/json"})
    assert unsigned.status_code == 401
    assert responses(ws) == []

    good = client.post("/api/v1/surveys/webhook", content=body, headers=_signed(body))
    assert good.status_code == 201, good.text
    assert good.json()["response_id"] == "ext_ty-123"
    retry = client.post("/api/v1/surveys/webhook", content=body, headers=_signed(body))  # a redelivery
    assert retry.status_code == 201
    rows = responses(ws)
    assert len(rows) == 1  # upsert by response_id: the retry changes nothing
    row = rows[0]
    assert (row["survey"], row["score"], row["scale_min"], row["scale_max"]) == ("csat", 8.0, 1, 10)
    assert (row["touchpoint"], row["journey_stage"]) == ("support", "after")  # from the definition
    assert "529.982.247-25" not in row["comment"]
    assert str(row["responded_at"]).startswith("2026-11-10 13:00")  # -03:00 → UTC

    outside = json.dumps({"response_id": "ty-9", "survey": "csat_support", "score": 11}).encode()
    refused = client.post("/api/v1/surveys/webhook", content=outside, headers=_signed(outside, msg_id="m2"))
    assert refused.status_code == 422 and "outside the survey's scale 1-10" in refused.text


def test_routes_registered_as_public(ws: Workspace) -> None:
    app = create_app(ws)
    assert {"/s/{token}", "/api/v1/surveys/webhook"} <= app.state.public_paths


def test_migration_0004_matches_the_models(tmp_path: Path) -> None:
    """Alembic's autogenerate finds nothing to change in the survey tables after upgrading to head."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from sinergia.store.migrate import upgrade_store
    from sinergia.store.models import Base
    from sinergia.store.survey_models import SurveyDefinition, SurveyInvitation

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade_store(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    ours = {SurveyDefinition.__tablename__, SurveyInvitation.__tablename__}

    def touches(item: Any) -> bool:
        flat = item if isinstance(item, tuple) else (item,)
        text = repr(flat)
        return any(name in text for name in ours)

    assert [d for d in diff if touches(d)] == []


def test_two_simultaneous_submissions_store_one_answer(ws: Workspace) -> None:
    """Both requests pass the token check; the conditional claim lets exactly one write the canonical row."""
    import threading

    token = _invite_one(ws, "c1")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def submit(score: float) -> None:
        with session_factory(ws.store_url)() as session:
            barrier.wait()
            try:
                core.answer_invitation(session, ws, token, score, None)
                outcomes.append("stored")
            except core.InvitationState as state:
                outcomes.append(state.reason)

    threads = [threading.Thread(target=submit, args=(s,)) for s in (9.0, 2.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["answered", "stored"]
    rows = responses(ws)
    assert len(rows) == 1 and rows[0]["score"] in (9.0, 2.0)


def test_webhook_signed_by_the_reference_library(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request signed by the Standard Webhooks reference implementation (as another tool would) is accepted."""
    from standardwebhooks import Webhook

    monkeypatch.setenv("TEST_SURVEY_WEBHOOK_SECRET", SECRET)
    body = json.dumps({"response_id": "ext-77", "survey": "ces", "score": 6, "contact_id": "c1",
                       "touchpoint": "checkout", "journey_stage": "during", "channel": "web"})
    now = dt.datetime.now(dt.UTC)
    signature = Webhook(SECRET).sign("msg_ref_1", now, body)
    headers = {"webhook-id": "msg_ref_1", "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": signature, "content-type": "application/json"}
    answer = TestClient(create_app(ws)).post("/api/v1/surveys/webhook", content=body.encode(), headers=headers)
    assert answer.status_code == 201, answer.text
    row = responses(ws)[0]
    # a bare kind: CES default scale 1-7, touchpoint and stage from the body
    assert (row["response_id"], row["survey"], row["score"], row["scale_min"], row["scale_max"]) == (
        "ext_ext-77", "ces", 6.0, 1, 7)
    assert (row["touchpoint"], row["journey_stage"], row["channel"]) == ("checkout", "during", "web")


def test_invitations_and_answers_on_postgres(tmp_path: Path, postgres_server: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The serving store on PostgreSQL (SINERGIA_DATABASE_URL): migration 0004, throttling, single-use answer."""
    url = postgres_server.database()
    monkeypatch.setenv("SINERGIA_DATABASE_URL", url)
    monkeypatch.delenv(tokens.ENV_VAR, raising=False)
    workspace = make_workspace(tmp_path)
    assert workspace.store_url == url
    try:
        token = _invite_one(workspace, "c4", channel="email")
        people = core.resolve_contacts(workspace, rows=[{"contact_id": "c4"}])
        with session_factory(url)() as session:
            again = core.invite(session, workspace, "csat_support", people)
            session.commit()
        assert again.results[0].reason.startswith("throttled: invited on ")
        client = TestClient(create_app(workspace))
        assert client.post(f"/s/{token}", data={"score": "6", "lang": "en"}).status_code == 200
        assert client.post(f"/s/{token}", data={"score": "7", "lang": "en"}).status_code == 409
        rows = responses(workspace)
        assert [(r["contact_id"], r["score"], r["channel"]) for r in rows] == [("c4", 6.0, "email")]
        with session_factory(url)() as session:
            assert core.response_rate(session)["response_rate"] == 1.0
    finally:
        dispose_engine(url)


def test_secret_file_created_once_by_racing_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.delenv(tokens.ENV_VAR, raising=False)
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: tokens.secret_for(tmp_path), range(16)))
    assert len(keys) == 1 and len(next(iter(keys))) == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]  # no temporary file left behind


def test_api_links_and_definitions(ws: Workspace) -> None:
    """In-app links over the API for integrations (ingest:write), throttled like e-mail; definitions readable."""
    from sinergia.auth import core as auth
    from sinergia.store.db import transaction

    with transaction(ws.store_url) as session:
        admin = auth.issue_token(session, auth.create_user(session, "admin@x.com", "admin"), "app").secret
        viewer = auth.issue_token(session, auth.create_user(session, "viewer@x.com", "viewer"), "app").secret
    client = TestClient(create_app(ws))
    body = {"contact_ids": ["c1", "c1", "zz9"], "base_url": "https://app.example.com"}
    assert client.post("/api/v1/surveys/nps_onboarding/links", json=body).status_code == 401
    forbidden = client.post("/api/v1/surveys/nps_onboarding/links", json=body,
                            headers={"Authorization": f"Bearer {viewer}"})
    assert forbidden.status_code == 403
    answer = client.post("/api/v1/surveys/nps_onboarding/links", json=body,
                         headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    # in-app links need no e-mail address, so the unknown contact zz9 gets a link too (no account)
    assert [(r["contact_id"], r["status"]) for r in results] == [("c1", "invited"), ("c1", "refused"),
                                                                ("zz9", "invited")]
    assert results[0]["url"].startswith("https://app.example.com/s/") and results[0]["outbox_id"] is None
    again = client.post("/api/v1/surveys/nps_onboarding/links", json={"contact_ids": ["c1"]},
                        headers={"Authorization": f"Bearer {admin}"}).json()
    assert again["results"][0]["reason"].startswith("throttled: invited on ")
    listed = client.get("/api/v1/surveys", headers={"Authorization": f"Bearer {viewer}"})
    assert [(d["name"], d["scale_min"], d["scale_max"]) for d in listed.json()] == [
        ("csat_support", 1, 10), ("nps_onboarding", 0, 10)]
    # the answer of a contact the workspace does not know yet still lands (the loader does not require the contact)
    token = results[2]["url"].split("/s/", 1)[1]
    assert client.post(f"/s/{token}", data={"score": "8", "lang": "en"}).status_code == 200
    assert [(r["contact_id"], r["account_id"], r["score"]) for r in responses(ws)] == [("zz9", None, 8.0)]
