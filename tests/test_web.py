"""Web pages in-process: login (CSRF, wrong password, rate limit), roles, languages, the pages' numbers, assets.

The store is seeded by hand with a small snapshot whose expected figures are computed next to the data.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sinergia.api.app import create_app
from sinergia.auth.core import create_user
from sinergia.store.db import dispose_engine, transaction
from sinergia.store.models import (
    AccountEvent,
    AccountSnapshot,
    AuditEntry,
    MetricPoint,
    Note,
    RecomputeRun,
    ScorePoint,
    User,
)
from sinergia.workspace.workspace import init_workspace

AS_OF = dt.date(2026, 3, 31)
PASSWORD = "correct horse battery"
NBSP = "\xa0"
PAGES = ("/portfolio", "/accounts", "/accounts/A1", "/cx", "/support", "/metrics", "/metrics/nrr")

# (account_id, name, segment, arr, churn_risk, health, band); ARR at risk = arr × churn_risk:
#   A1 120 000 × 0.5 = 60 000;  A3 50 000 × 0.9 = 45 000;  A2 200 000 × 0.1 = 20 000;  A4 is not paying.
ACCOUNTS = [
    ("A1", "Acme", "Enterprise", 120_000.0, 0.5, 40.0, "red"),
    ("A2", "Beta", "Enterprise", 200_000.0, 0.1, 80.0, "green"),
    ("A3", "Gama", "SMB", 50_000.0, 0.9, 30.0, "red"),
    ("A4", "Delta", "SMB", 0.0, None, None, None),
]


def _month(m: int) -> tuple[dt.date, dt.date]:
    start = dt.date(2026, m, 1)
    end = dt.date(2026, m + 1, 1)
    return start, end


def _seed(url: str) -> None:
    with transaction(url) as s:
        s.add(RecomputeRun(as_of=AS_OF, started_at=dt.datetime(2026, 4, 1, 1), finished_at=dt.datetime(2026, 4, 1, 2),
                           counts={}))
        for account_id, name, segment, arr, risk, health, band in ACCOUNTS:
            drivers = {}
            if account_id == "A1":
                # the shapes the recompute stores: {"as_of", "explanation"} around the score's own explanation
                drivers = {
                    "health": {"as_of": "2026-03-31", "explanation": {
                        "style": "weighted", "formula": "score = Σ weight × measure score",
                        "measures": [
                            {"name": "nps", "title": {"en": "NPS", "pt-BR": "NPS"}, "value": 6, "points_lost": 3.0},
                            {"name": "usage_trend", "title": {"en": "Usage trend", "pt-BR": "Tendência de uso"},
                             "value": -0.4, "points_lost": 12.0},
                        ]}},
                    "churn_risk": {"as_of": "2026-03-31", "explanation": {"drivers": [
                        {"feature": "tickets_90d", "label_en": "Tickets in 90 days", "label_pt": "Tickets em 90 dias",
                         "value": 9, "contribution": 0.21}]}},
                    "clv": {"as_of": "2026-03-31", "explanation": {"model": "sbg", "formula": "MRR × margin × Σ",
                                                                   "mrr": 10000.0, "margin": 0.8}},
                }
            s.add(AccountSnapshot(
                as_of=AS_OF, account_id=account_id, name=name, segment=segment, plan="Pro", owner="ana@example.com",
                currency="BRL", mrr=arr / 12, arr=arr, health_score=health, health_band=band, churn_risk=risk,
                clv=arr * 3 if arr else None, open_tickets=2 if account_id == "A1" else 0, drivers=drivers,
                attributes={"active_users_30d": 17} if account_id == "A1" else {},
                # the stored sort key of the risk list (the recompute writes ARR × risk, 0 when unknown)
                arr_at_risk=arr * (risk or 0.0),
            ))
        # NRR: Jan 1.02, Feb 1.05 (CI 0.98–1.12), Mar still open (partial) → the card shows Feb, +3 points vs Jan.
        for month, value, low, high, partial in ((1, 1.02, None, None, False), (2, 1.05, 0.98, 1.12, False),
                                                 (3, 0.90, None, None, True)):
            start, end = _month(month)
            s.add(MetricPoint(as_of=AS_OF, metric="nrr", period="month", period_start=start, period_end=end,
                              partial=partial, group_key="", value=value, numerator=value * 1000, denominator=1000,
                              n=3, ci_low=low, ci_high=high))
        start, end = _month(2)
        for group, value, n in (("", 0.8, 50), ("touchpoint=onboarding", 0.9, 20), ("touchpoint=billing", 0.6, 30)):
            s.add(MetricPoint(as_of=AS_OF, metric="csat", period="month", period_start=start, period_end=end,
                              partial=False, group_key=group, value=value, n=n))
        s.add(MetricPoint(as_of=AS_OF, metric="first_reply_time", period="month", period_start=start,
                          period_end=end, partial=False, group_key="channel=email", value=5.25, n=12))
        s.add(AccountEvent(as_of=AS_OF, account_id="A1", at=dt.datetime(2025, 1, 10), kind="deal", stage="before",
                           title="Demo call", details={}))
        s.add(AccountEvent(as_of=AS_OF, account_id="A1", at=dt.datetime(2025, 2, 1), kind="subscription_new",
                           stage="during", title="Subscribed to Pro",
                           details={"kind": "new", "mrr_before": 0.0, "mrr_after": 10_000.0}))
        s.add(AccountEvent(as_of=AS_OF, account_id="A1", at=dt.datetime(2026, 2, 3, 9, 30), kind="ticket",
                           stage="after", title="Export is broken",
                           details={"ticket_id": "T1", "channel": "email", "priority": "high", "solved_at": None,
                                    "sla": {"status": "breached", "targets": [
                                        {"policy": "Std", "metric": "first_reply_time", "target_hours": 4.0,
                                         "status": "breached", "measured_hours": 6.5}]}}))
        s.add(AccountEvent(as_of=AS_OF, account_id="A1", at=dt.datetime(2026, 2, 20), kind="survey", stage="after",
                           title="NPS 6", details={"survey": "nps", "score": 6, "scale_max": 10,
                                                   "touchpoint": "support", "comment": "Suporte demorou demais"}))
        # A4 has no churn risk in its snapshot, only in the score history (a horizon-named score): the page shows
        # the newest one on or before the as-of date (0.33, not the later 0.99)
        s.add(ScorePoint(account_id="A4", score="churn_risk_90d", as_of=dt.date(2026, 3, 30), value=0.33,
                         explanation={"drivers": [{"feature": "seats", "label_en": "Seats", "label_pt": "Assentos",
                                                   "value": 3, "contribution": -0.4}]}))
        s.add(ScorePoint(account_id="A4", score="churn_risk_90d", as_of=dt.date(2026, 4, 30), value=0.99,
                         explanation={}))
        for role in ("admin", "manager", "csm", "support", "viewer"):
            create_user(s, f"{role}@example.com", role, password=PASSWORD, locale="en")
        create_user(s, "pt@example.com", "viewer", password=PASSWORD, locale="pt-BR")
        create_user(s, "locked@example.com", "manager", password=PASSWORD, locale="en")  # the rate-limit test's


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str]]:
    ws = init_workspace(tmp_path_factory.mktemp("web") / "ws")
    app = create_app(ws)
    url = app.state.store_url
    _seed(url)
    yield app, url
    dispose_engine(url)


@pytest.fixture
def client(app_url: tuple[object, str]) -> Iterator[TestClient]:
    app, _ = app_url
    with TestClient(app, headers={"accept": "text/html"}) as c:  # type: ignore[arg-type]
        yield c


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD, ip_headers: dict[str, str] | None = None
          ) -> object:
    form = client.get("/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": _csrf(form.text),
                                       "next": "/portfolio"}, follow_redirects=False)


def test_anonymous_pages_redirect_to_login(client: TestClient) -> None:
    for path in PAGES:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")


def test_login_logout_and_session_cookie(client: TestClient) -> None:
    response = login(client, "viewer@example.com")
    assert response.status_code == 303
    assert response.headers["location"] == "/portfolio"
    assert "sinergia_session" in client.cookies
    assert client.get("/portfolio").status_code == 200
    page = client.get("/portfolio").text
    out = client.post("/logout", data={"csrf_token": _csrf(page)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/portfolio", follow_redirects=False).status_code == 303


def test_wrong_password_shows_the_error_and_opens_no_session(client: TestClient, app_url: tuple[object, str]
                                                            ) -> None:
    response = login(client, "support@example.com", "wrong password!")
    assert response.status_code == 401
    assert "Wrong e-mail or password." in response.text
    assert "sinergia_session" not in client.cookies
    assert client.get("/portfolio", follow_redirects=False).status_code == 303


def test_login_without_the_form_token_is_refused(client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"email": "viewer@example.com", "password": PASSWORD, "csrf_token": "x"},
                           follow_redirects=False)
    assert response.status_code == 403
    assert "sinergia_session" not in client.cookies


def test_login_is_rate_limited_after_five_failures(client: TestClient) -> None:
    for _ in range(5):
        assert login(client, "locked@example.com", "nope nope nope").status_code == 401
    blocked = login(client, "locked@example.com", PASSWORD)  # even the right password waits
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "Too many failed attempts" in blocked.text
    assert "sinergia_session" not in client.cookies


def test_login_only_follows_local_next_paths(client: TestClient) -> None:
    form = client.get("/login?next=//evil.example/x")
    assert 'value="/portfolio"' in form.text
    response = client.post("/login", data={"email": "admin@example.com", "password": PASSWORD,
                                           "csrf_token": _csrf(form.text), "next": "https://evil.example/"},
                           follow_redirects=False)
    assert response.headers["location"] == "/portfolio"


def test_portfolio_cards_and_risk_list_in_english(client: TestClient) -> None:
    login(client, "viewer@example.com")
    html = client.get("/portfolio").text
    # NRR card: the newest complete period (Feb) = 105.0 %, interval 98.0 %–112.0 %, change 1.05 − 1.02 = +3.0 pp
    card = html[html.index('data-metric="nrr"'):]
    card = card[: card.index("</div>\n</div>") if "</div>\n</div>" in card else 2000]
    assert "105.0%" in card
    assert "98.0% – 112.0%" in card
    assert "+3.0 pp" in card
    # accounts at risk ordered by ARR × risk: Acme 60 000, Gama 45 000, Beta 20 000 (Delta pays nothing)
    risk = html[html.index('id="at-risk"'):]
    order = [risk.index(name) for name in ("Acme", "Gama", "Beta")]
    assert order == sorted(order)
    assert "Delta" not in risk[: risk.index("</table>")]
    assert "R$60,000" in risk and "R$45,000" in risk
    # health distribution (paying accounts): red 2 accounts (120 000 + 50 000 = 170 000 ARR), green 1
    bands = html[html.index('id="health-bands"'):]
    assert re.search(r"red</span></td><td class=\"num\">2</td><td class=\"num\">R\$170,000", bands)


def test_portuguese_user_gets_portuguese_labels_and_numbers(client: TestClient) -> None:
    login(client, "pt@example.com")
    response = client.get("/portfolio")
    html = response.text
    assert response.headers["content-language"] == "pt-BR"
    assert "<h1>Carteira</h1>" in html
    assert "Contas em risco" in html
    assert "105,0%" in html
    assert "+3,0 p.p." in html
    assert f"R${NBSP}60.000" in html
    assert "Dados de 31 de mar. de 2026" in html


def test_language_switch_needs_csrf_and_is_saved_and_audited(client: TestClient, app_url: tuple[object, str]
                                                            ) -> None:
    _, url = app_url
    login(client, "support@example.com", PASSWORD)
    page = client.get("/portfolio").text
    refused = client.post("/locale", data={"locale": "pt-BR", "next": "/portfolio"}, follow_redirects=False)
    assert refused.status_code == 403
    switched = client.post("/locale", data={"locale": "pt-BR", "next": "/cx", "csrf_token": _csrf(page)},
                           follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/cx"
    assert "Experiência do cliente" in client.get("/cx").text
    with transaction(url) as s:
        user = s.scalars(select(User).where(User.email == "support@example.com")).one()
        assert user.locale == "pt-BR"
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "user.update",
                                                   AuditEntry.target == "user:support@example.com")).one()
        assert entry.details == {"locale": ["en", "pt-BR"]}
        user.locale = "en"


def test_login_page_language_from_query_then_browser(client: TestClient) -> None:
    assert "Entrar" in client.get("/login?lang=pt-BR").text
    client.cookies.clear()
    assert "Entrar" in client.get("/login", headers={"accept-language": "pt-BR,pt;q=0.9"}).text
    client.cookies.clear()
    assert "Sign in" in client.get("/login", headers={"accept-language": "de,en;q=0.5"}).text


def test_customer_360_shows_reasons_tickets_surveys_journey(client: TestClient) -> None:
    login(client, "csm@example.com")
    html = client.get("/accounts/A1").text
    assert "<h1>Acme" in html
    # health reasons ordered by absolute effect: usage trend (−12 points) before NPS (−3)
    reasons = html[html.index('id="reasons-health"'):]
    assert reasons.index("Usage trend") < reasons.index("NPS")
    assert "-12.00" in reasons and "-3.00" in reasons
    assert "score = Σ weight × measure score" in html  # the health formula as the card's note
    assert "Tickets in 90 days" in html[html.index('id="reasons-churn_risk"'):]
    clv = html[html.index('id="reasons-clv"'):]
    assert "margin" in clv and "0.80" in clv
    tickets = html[html.index('id="tickets"'):]
    assert "Export is broken" in tickets and "breached" in tickets
    assert 'title="first_reply_time: breached (6.50 / 4.00 h)"' in tickets  # the stored per-target status
    assert "Suporte demorou demais" in html
    assert ">6 / 10<" in html[html.index('id="surveys"'):]
    # revenue history: 0 before the first subscription, 10 000 after it, held to the as-of date at the snapshot MRR
    chart = html[html.index('id="revenue-history"'):]
    assert '"y": [0.0, 10000.0, 10000.0]' in chart
    assert '"2026-03-31T00:00:00"' in chart
    journey = html[html.index('id="journey"'):]
    assert journey.index("Demo call") < journey.index("Subscribed to Pro") < journey.index("Export is broken")
    assert "active_users_30d" in html
    assert 'id="add-note"' in html  # a CSM may write notes
    assert client.get("/accounts/NOPE").status_code == 404
    a4 = client.get("/accounts/A4").text
    card = a4[a4.index('id="card-churn_risk"'):]
    assert "33.0%" in card and "churn_risk_90d of Mar 30, 2026" in card
    assert "Seats" in a4[a4.index('id="reasons-churn_risk"'):]


def test_notes_csm_posts_with_csrf_viewer_cannot(client: TestClient, app_url: tuple[object, str]) -> None:
    _, url = app_url
    login(client, "viewer@example.com")
    page = client.get("/accounts/A1").text
    assert 'id="add-note"' not in page
    refused = client.post("/accounts/A1/notes", data={"body": "viewer note", "csrf_token": _csrf(page)},
                          follow_redirects=False)
    assert refused.status_code == 403
    client.cookies.clear()
    login(client, "csm@example.com")
    page = client.get("/accounts/A1").text
    no_token = client.post("/accounts/A1/notes", data={"body": "no token"}, follow_redirects=False)
    assert no_token.status_code == 403
    posted = client.post("/accounts/A1/notes", data={"body": "Ligar para o sponsor", "csrf_token": _csrf(page)},
                         follow_redirects=False)
    assert posted.status_code == 303
    assert "Ligar para o sponsor" in client.get("/accounts/A1").text
    with transaction(url) as s:
        notes = s.scalars(select(Note).where(Note.account_id == "A1")).all()
        assert [n.body for n in notes] == ["Ligar para o sponsor"]
        assert notes[0].author == "csm@example.com"
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "note.create")).all()
        assert len(audit) == 1 and audit[0].actor == "session:csm@example.com"


def test_accounts_filter_sort_paginate(client: TestClient) -> None:
    login(client, "viewer@example.com")
    html = client.get("/accounts?segment=SMB&sort=name&order=asc").text
    table = html[html.index('id="accounts"'):]
    assert table.index("Delta") < table.index("Gama")
    assert "Acme" not in table
    assert "2 of 2 accounts" in html
    searched = client.get("/accounts?q=bet").text
    assert "Beta" in searched and "Acme" not in searched[searched.index('id="accounts"'):]
    assert client.get("/accounts?order=sideways").status_code == 422


def test_cx_and_support_breakdowns(client: TestClient) -> None:
    login(client, "support@example.com")
    cx = client.get("/cx").text
    section = cx[cx.index('id="section-touchpoint"'):]
    assert "onboarding" in section and "90.0%" in section and "billing" in section and "60.0%" in section
    support = client.get("/support").text
    channel = support[support.index('id="section-channel"'):]
    # 5.25 h with one decimal: Babel rounds half to even → 5.2
    assert "email" in channel and ">5.2 <" in channel


def test_metric_page_definition_values_and_csv(client: TestClient) -> None:
    login(client, "viewer@example.com")
    html = client.get("/metrics/nrr").text
    assert 'id="definition"' in html
    assert "Formula" in html
    values = html[html.index('id="metric-values"'):]
    assert values.index("Mar") < values.index("Feb") < values.index("Jan")  # newest first
    assert client.get("/metrics/no_such_metric").status_code == 404
    csv = client.get("/metrics/nrr/rows.csv?period=2026-02-01")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert 'filename="nrr-2026-02-01.csv"' in csv.headers["content-disposition"]
    header = csv.text.splitlines()[0].split(",")
    assert "period_start" in header and "account_id" in header
    assert client.get("/metrics/nrr/rows.csv?period=2020-01-01").status_code == 404


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(str(values["src"]))
        if tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))


def test_every_asset_is_served_by_the_app_no_external_host(client: TestClient) -> None:
    login(client, "admin@example.com")
    seen: set[str] = set()
    for path in ("/login", *PAGES):
        parser = _Assets()
        parser.feed(client.get(path).text)
        assert parser.urls, path
        for url in parser.urls:
            parsed = urlparse(url)
            assert not parsed.scheme and not parsed.netloc, f"{path} loads {url} from another host"
            seen.add(url)
    for url in seen:
        response = client.get(url)
        assert response.status_code == 200, url
        assert len(response.content) > 100
    assert any("plotly.min.js" in u for u in seen)
    assert client.get("/static/../pages.py").status_code == 404
    assert client.get("/static/nope.js").status_code == 404


def test_page_sources_have_no_external_urls() -> None:
    templates = Path(__file__).parents[1] / "src" / "sinergia" / "web"
    for path in list(templates.rglob("*.html")) + list(templates.rglob("*.js")) + list(templates.rglob("*.css")):
        assert not re.search(r"(src|href)=\"https?://", path.read_text()), path


@pytest.mark.parametrize("role", ["admin", "manager", "csm", "support", "viewer"])
def test_each_role_sees_the_pages_its_permissions_allow(client: TestClient, role: str) -> None:
    from sinergia.auth.permissions import MATRIX

    login(client, f"{role}@example.com")
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, (role, path)
        assert f"{role}@example.com" in response.text  # the header names who is logged in
    page = client.get("/accounts/A2").text
    assert ('id="add-note"' in page) == ("notes:write" in MATRIX[role])


def test_web_errors_are_html_pages_api_errors_stay_json(client: TestClient) -> None:
    login(client, "viewer@example.com")
    missing = client.get("/accounts/NOPE")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert 'id="error-page" data-status="404" data-code="not_found"' in missing.text
    assert "<h1>Page not found</h1>" in missing.text and "no account &#39;NOPE&#39;" in missing.text
    assert 'id="error-home"' in missing.text
    unknown = client.get("/no/such/page", headers={"accept-language": "en"})
    assert unknown.status_code == 404 and "<h1>Page not found</h1>" in unknown.text
    # a viewer may not write notes: 403 as a page, in the language asked for
    page = client.get("/accounts/A1").text
    refused = client.post("/accounts/A1/notes?lang=pt-BR", data={"body": "x", "csrf_token": _csrf(page)},
                          follow_redirects=False)
    assert refused.status_code == 403 and refused.headers["content-language"] == "pt-BR"
    assert "<h1>Acesso negado</h1>" in refused.text and "Seu papel não permite" in refused.text
    assert "Erro 403" in refused.text
    # the API keeps the JSON envelope, whatever the Accept header says
    api = client.get("/api/v1/accounts/NOPE")
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/json")
    assert api.json()["error"]["code"] == "not_found"
    api_refused = client.post("/api/v1/tasks", json={"account_id": "A1", "type": "risk", "title": "x"},
                              headers={"X-CSRF-Token": _csrf(page)})
    assert api_refused.status_code == 403 and api_refused.json()["error"]["code"] == "forbidden"
    # a client that does not ask for HTML keeps the envelope on web paths too
    plain = client.get("/accounts/NOPE", headers={"accept": "application/json"})
    assert plain.status_code == 404 and plain.json()["error"]["code"] == "not_found"
