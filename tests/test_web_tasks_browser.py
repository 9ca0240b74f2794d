"""Completing a task in a real browser: Chromium (Playwright) against ``sinergia serve`` on a workspace whose store
holds the hand-made tasks of ``test_web_tasks`` (an overdue playbook task among them)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import select

from sinergia.store.db import dispose_engine, transaction
from sinergia.store.migrate import upgrade_store
from sinergia.store.models import AuditEntry, Task
from sinergia.workspace.workspace import init_workspace
from test_web_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, SCREENSHOTS, _free_port, _require_browser
from test_web_tasks import PASSWORD, _seed

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, dict[str, int]]]:
    _require_browser()
    ws = init_workspace(tmp_path_factory.mktemp("tasks-browser") / "ws")
    upgrade_store(ws.store_url)
    ids = _seed(ws.store_url)
    dispose_engine(ws.store_url)
    port = _free_port()
    log_path = tmp_path_factory.mktemp("tasks-browser-log") / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sinergia.cli.main", "serve", "--workspace", str(ws.path), "--port", str(port),
             "--log-level", "warning", "--scheduler-seconds", "0"], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
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
                raise AssertionError(f"sinergia serve did not come up: {Path(log_path).read_text()}")
            time.sleep(0.3)
        try:
            yield base, ws.store_url, ids
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def test_complete_a_task_in_the_browser(served: tuple[str, str, dict[str, int]]) -> None:
    from playwright.sync_api import sync_playwright

    base, url, ids = served
    task_id = ids["today"]
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=base, viewport={"width": 1360, "height": 900})
            page: Any = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto("/login")
            page.fill("#email", "csm@example.com")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            page.wait_for_load_state("networkidle")
            page.click("#nav-tasks")
            page.wait_for_load_state("networkidle")
            assert urlparse(page.url).path == "/tasks"
            assert page.locator(f"#tasks-today #task-{task_id}").count() == 1
            assert page.locator(f"#tasks-overdue #task-{ids['overdue']}").count() == 1
            page.locator(f"#task-{task_id}-actions summary").click()
            page.fill(f"#complete-reason-{task_id}", "Called the customer, all set")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "my-tasks-en.png"), full_page=True)
            page.click(f"#complete-{task_id}")
            page.wait_for_load_state("networkidle")
            assert urlparse(page.url).path == "/tasks"
            assert page.locator(f"#task-{task_id}").count() == 0  # done: no longer open
            # the overdue playbook task explains itself
            page.click(f"#task-{ids['overdue']} a")
            page.wait_for_load_state("networkidle")
            assert "renewal on 2026-04-30 in 30 days" in page.locator("#why").inner_text()
            page.screenshot(path=str(SCREENSHOTS / "task-why-en.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    with transaction(url) as s:
        task = s.get(Task, task_id)
        assert task is not None and (task.status, task.completion_note) == ("done", "Called the customer, all set")
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.target == f"task:{task_id}")).all()
        assert actions == ["task.complete"]
    dispose_engine(url)
