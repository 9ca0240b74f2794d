"""A survey answered in a real browser: Playwright on Debian's Chromium (phone-sized viewport) against
``sinergia serve``; the answer lands as a canonical ``survey_responses`` row. Same harness as test_web_browser.py
(never ``playwright install``: the browser is ``/usr/bin/chromium``)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sinergia.store.db import dispose_engine, session_factory
from sinergia.surveys import core, tokens
from test_surveys import make_workspace, responses
from test_web_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, SCREENSHOTS, _free_port, _require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_answer_in_chromium_lands_in_survey_responses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _require_browser()
    from playwright.sync_api import sync_playwright

    monkeypatch.delenv(tokens.ENV_VAR, raising=False)
    ws = make_workspace(tmp_path)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with session_factory(ws.store_url)() as session:
        report = core.invite(session, ws, "csat_support", core.resolve_contacts(ws, rows=[{"contact_id": "c2"}]),
                             channel="in_app", base_url=base)
        session.commit()
    dispose_engine(ws.store_url)
    url = report.results[0].url
    assert url is not None
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sinergia.cli.main", "serve", "--workspace", str(ws.path), "--port", str(port),
             "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"sinergia serve did not come up: {log_path.read_text()}")
                time.sleep(0.3)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
                page.goto(url)
                assert page.locator("#question").inner_text() == "How did our support do?"  # c2 reads English
                assert page.locator("input[name=score]").count() == 10  # the 1-10 scale of csat_support
                # nothing wider than the phone's screen (no horizontal scrolling)
                assert page.evaluate("document.documentElement.scrollWidth") <= 390
                page.click("#lang-pt-BR")
                assert page.locator("#question").inner_text() == "Como foi o nosso suporte?"
                page.click("#send")  # no score chosen: the browser's required check keeps us on the page
                assert page.locator("#survey-thanks").count() == 0
                page.click("label[for=score-8]")
                page.fill("#comment", "Resolveram rápido. Meu e-mail: bob@acme.com")
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "survey-answer.png"), full_page=True)
                page.click("#send")
                page.wait_for_selector("#survey-thanks")
                assert "Obrigado!" in page.inner_text("#survey-thanks")
                page.goto(url)  # the link is single use
                assert "Resposta já enviada" in page.inner_text("body")
                browser.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    rows = responses(ws)
    assert len(rows) == 1
    row = rows[0]
    assert (row["contact_id"], row["account_id"], row["survey"], row["score"]) == ("c2", "acc1", "csat", 8.0)
    assert (row["scale_min"], row["scale_max"], row["touchpoint"], row["journey_stage"]) == (1, 10, "support",
                                                                                             "after")
    assert row["language"] == "pt-BR" and row["channel"] == "in_app"
    assert row["comment"] == "Resolveram rápido. Meu e-mail: [EMAIL]"
    assert abs(row["responded_at"] - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(minutes=5)
