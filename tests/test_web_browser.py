"""The web app in a real browser: Playwright driving Debian's Chromium against ``sinergia serve`` on a demo workspace.

The workspace is built the way a user builds it: ``sinergia demo``, ``sinergia health history`` (one day),
``sinergia recompute``, ``sinergia user create``, then ``sinergia serve`` in a subprocess on a free port.
Screenshots go to ``test-artifacts/screenshots/``. Never run ``playwright install``: the browser is
``/usr/bin/chromium`` (``apt-get install chromium``; ``scripts/test.sh`` installs it in CI, where these tests
must not skip).
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AS_OF = "2026-10-31"  # the demo generator's last day (docs/demo-data.md)
PASSWORD = "demo-pass-123"
NBSP = "\xa0"


def _require_browser() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must have /usr/bin/chromium (scripts/test.sh installs it with apt-get)")
        pytest.skip("no /usr/bin/chromium here (apt-get install chromium); CI installs it and runs these tests")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must have playwright (the dev extra)")
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")


def _sinergia(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "sinergia.cli.main", *args], input=stdin, capture_output=True, text=True,
        timeout=600, check=False, cwd=ROOT,
    )
    assert done.returncode == 0, f"sinergia {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _require_browser()
    ws = tmp_path_factory.mktemp("browser") / "demo"
    _sinergia("demo", "--workspace", str(ws), "--accounts", "40", "--seed", "7")
    _sinergia("health", "history", "--workspace", str(ws), "--from", AS_OF, "--to", AS_OF)
    _sinergia("recompute", "--workspace", str(ws), "--as-of", AS_OF)
    for email, locale in (("en@demo.local", "en"), ("pt@demo.local", "en"), ("csv@demo.local", "en")):
        _sinergia("user", "create", "--workspace", str(ws), "--email", email, "--role", "manager",
                  "--locale", locale, "--password-stdin", stdin=PASSWORD + "\n")
    port = _free_port()
    log = (tmp_path_factory.mktemp("browser-log") / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "sinergia.cli.main", "serve", "--workspace", str(ws), "--port", str(port),
         "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"sinergia serve did not come up: {Path(log.name).read_text()}")
        time.sleep(0.3)
    try:
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(base_url=server, viewport={"width": 1360, "height": 900})
    tab = context.new_page()
    outside: list[str] = []
    errors: list[str] = []
    host = urlparse(server).netloc

    def on_request(request: Any) -> None:
        parsed = urlparse(request.url)
        if parsed.scheme in ("http", "https") and parsed.netloc != host:
            outside.append(request.url)

    tab.on("request", on_request)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert outside == [], f"the page reached other hosts: {outside}"
    assert errors == [], f"JavaScript errors: {errors}"


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _login(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_load_state("networkidle")


def _session_cookies(page: Any) -> list[Any]:
    return [c for c in page.context.cookies() if c["name"] == "sinergia_session"]


def test_wrong_password_shows_an_error_and_opens_no_session(page: Any) -> None:
    _login(page, "en@demo.local", "not the password")
    assert urlparse(page.url).path == "/login"
    assert page.locator("#login-error").inner_text() == "Wrong e-mail or password."
    assert _session_cookies(page) == []
    _shot(page, "login-wrong-password")
    page.goto("/portfolio")
    assert urlparse(page.url).path == "/login"  # still anonymous: sent back to the login page


def test_login_portfolio_customer_and_table_sort(page: Any) -> None:
    _login(page, "en@demo.local")
    assert urlparse(page.url).path == "/portfolio"
    assert len(_session_cookies(page)) == 1
    assert page.locator("h1").inner_text() == "Portfolio"
    nrr = page.locator('.card[data-metric="nrr"] .value').inner_text()
    assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d%", nrr), nrr  # e.g. 98.7% (en)
    page.wait_for_selector("#health-distribution-plot[data-drawn='1']")  # plotly.js, served by the app, drew it
    assert page.locator("#health-distribution-plot .main-svg").count() > 0
    bands = page.locator("#health-bands tbody tr td:first-child").all_inner_texts()
    assert set(bands) & {"green", "yellow", "red"}, bands  # the demo's health scorecard bands
    _shot(page, "portfolio-en")

    page.goto("/accounts?sort=arr&order=desc")
    rows = page.locator("#accounts tbody tr")
    assert rows.count() == 40
    # client-side sort: clicking "ARR" twice sorts ascending then descending by the raw value
    header = page.locator("#accounts thead th", has_text="ARR").first
    header.click()
    ascending = [float(v) for v in page.locator("#accounts tbody td:nth-child(4)").evaluate_all(
        "cells => cells.map(c => c.dataset.value)")]
    assert ascending == sorted(ascending)
    # client-side filter
    first_name = page.locator("#accounts tbody tr td:first-child a").first.inner_text()
    page.fill("input[data-filter='accounts']", first_name)
    assert page.locator("#accounts tbody tr:not([hidden])").count() >= 1

    page.locator("#accounts tbody tr:not([hidden]) td:first-child a").first.click()
    page.wait_for_load_state("networkidle")
    assert urlparse(page.url).path.startswith("/accounts/")
    assert page.locator("h1").inner_text().startswith(first_name)
    for section in ("#tickets", "#surveys", "#journey", "#notes", "#card-arr"):
        assert page.locator(section).count() == 1, section
    # the health score's reasons: the scorecard's measures with the points each lost
    assert page.locator("#reasons-health tbody tr").count() >= 3
    if page.locator("#revenue-history-plot").count():
        page.wait_for_selector("#revenue-history-plot[data-drawn='1']")
    _shot(page, "customer-360-en")


def test_switch_to_portuguese(page: Any) -> None:
    _login(page, "pt@demo.local")
    assert page.locator("h1").inner_text() == "Portfolio"
    page.select_option("#locale-select", "pt-BR")  # submits the form (CSRF token included)
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("h1:has-text('Carteira')")
    assert page.locator("html").get_attribute("lang") == "pt-BR"
    assert page.locator("nav").inner_text().split("\n")[0].strip() in ("Carteira",)
    assert "Contas em risco" in page.content()
    nrr = page.locator('.card[data-metric="nrr"] .value').inner_text()
    assert re.fullmatch(r"\d{1,3}(\.\d{3})*,\d%", nrr), nrr  # e.g. 98,7% (decimal comma)
    money = page.locator("#health-bands td.num").nth(1).inner_text()
    assert re.fullmatch(rf"R\${NBSP}\d{{1,3}}(\.\d{{3}})*", money), repr(money)  # e.g. R$ 1.234.567
    _shot(page, "portfolio-pt-BR")
    # charts speak Portuguese too: month names on the time axis come from CLDR (registered with plotly.js)
    page.goto("/metrics/nrr")
    page.wait_for_selector("#metric-series-plot[data-drawn='1']")
    ticks = page.locator("#metric-series-plot .xtick text").all_text_contents()
    assert any(re.match(r"(jan|fev|mar|abr|mai|jun|jul|ago|set|out|nov|dez)\.", t) for t in ticks), ticks
    _shot(page, "metric-nrr-pt-BR")
    # the choice is saved on the user: a new login comes back in Portuguese
    page.click("#logout")
    page.wait_for_load_state("networkidle")
    _login(page, "pt@demo.local")
    assert page.locator("h1").inner_text() == "Carteira"


def test_export_a_metric_as_csv(page: Any) -> None:
    _login(page, "csv@demo.local")
    page.goto("/metrics/nrr")
    assert "NRR" in page.locator("h1").inner_text() or "Net revenue" in page.locator("h1").inner_text()
    assert page.locator("#definition").inner_text().count("Formula") == 1
    page.wait_for_selector("#metric-series-plot[data-drawn='1']")
    shown_rows = page.locator("#metric-rows tbody tr").count()
    assert shown_rows > 0
    _shot(page, "metric-nrr")
    with page.expect_download() as info:
        page.click("#export-csv")
    download = info.value
    assert re.fullmatch(r"nrr-\d{4}-\d{2}-01\.csv", download.suggested_filename)
    text = Path(download.path()).read_text(encoding="utf-8")
    table = list(csv.reader(io.StringIO(text)))
    header, body = table[0], table[1:]
    assert {"period_start", "account_id"} <= set(header)
    assert len(body) >= shown_rows > 0  # the page shows at most 200; the file has them all
    assert all(len(r) == len(header) for r in body)


def test_sla_breakdowns_and_error_page_on_the_demo(page: Any) -> None:
    _login(page, "en@demo.local")
    # the demo workspace has the demo company's SLA policy (sinergia demo writes it): the card has a value
    sla = page.locator('.card[data-metric="sla_achievement_rate"] .value').inner_text()
    assert re.fullmatch(r"\d{1,3}\.\d%", sla), sla
    page.goto("/support")
    for dimension in ("channel", "priority", "team", "segment"):  # stored by the recompute, one row per group
        assert page.locator(f"#table-{dimension} tbody tr").count() >= 2, dimension
    page.goto("/cx")
    for dimension in ("touchpoint", "journey_stage", "persona", "channel"):
        assert page.locator(f"#table-{dimension} tbody tr").count() >= 1, dimension
    _shot(page, "support-en")
    # a customer's tickets carry their SLA status
    page.goto("/accounts?sort=arr&order=desc")
    page.locator("#accounts tbody tr td:first-child a").first.click()
    page.wait_for_load_state("networkidle")
    if page.locator("#tickets tbody tr td:nth-child(6) .badge").count():
        badges = set(page.locator("#tickets tbody tr td:nth-child(6) .badge").all_inner_texts())
        assert badges <= {"achieved", "breached", "pending"}, badges
    # an unknown account is an HTML page, not the API's JSON envelope
    answer = page.goto("/accounts/NOPE")
    assert answer is not None and answer.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    assert page.locator("#error-home").count() == 1
    _shot(page, "error-404-en")
