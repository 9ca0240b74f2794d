"""``sinergia survey`` end to end: create, send (dry run, then for real), the e-mail delivered by the outbox to a real
SMTP server (aiosmtpd), its link answered on the public page, the answer read back from the workspace engine;
throttling refuses the second send; in-app links; the response rate of the invitations."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sinergia.api import create_app
from sinergia.cli.main import app
from sinergia.playbooks.config import DeliverySettings, SmtpSettings
from sinergia.playbooks.outbox import deliver_due
from sinergia.store.db import dispose_engine
from sinergia.surveys import tokens
from sinergia.workspace import open_workspace
from test_surveys import make_workspace, responses

runner = CliRunner()


class _Collector:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Collector, int]]:
    collector = _Collector()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield collector, port
    finally:
        controller.stop()


def cli(*args: str) -> Any:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_send_deliver_answer_throttle_link_rate(tmp_path: Path, smtp: tuple[_Collector, int],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tokens.ENV_VAR, raising=False)
    ws = make_workspace(tmp_path)
    w = str(ws.path)
    collector, port = smtp
    try:
        created = cli("survey", "create", "-w", w, "--name", "ces_app", "--kind", "ces", "--touchpoint", "app",
                      "--stage", "during")
        assert "ces_app: ces 1-7, app (during)" in created.output
        listed = json.loads(cli("survey", "list", "-w", w, "-f", "json").stdout)
        assert [(s["name"], s["kind"], s["scale"], s["source"]) for s in listed] == [
            ("ces_app", "ces", "1-7", "cli"), ("csat_support", "csat", "1-10", "config"),
            ("nps_onboarding", "nps", "0-10", "config")]
        refused = runner.invoke(app, ["survey", "create", "-w", w, "--name", "bad", "--kind", "nps",
                                      "--touchpoint", "x", "--stage", "after", "--scale-min", "1",
                                      "--scale-max", "5"])
        assert refused.exit_code != 0 and "NPS is always asked on 0-10" in str(refused.exception)

        dry = json.loads(cli("survey", "send", "-w", w, "--survey", "nps_onboarding", "--account", "acc1",
                             "--dry-run", "-f", "json").stdout)
        assert (dry["invited"], dry["refused"], dry["dry_run"]) == (2, 1, True)
        sent = json.loads(cli("survey", "send", "-w", w, "--survey", "nps_onboarding", "--account", "acc1",
                              "-f", "json").stdout)
        assert (sent["invited"], sent["refused"]) == (2, 1)  # c3 has no e-mail address
        again = json.loads(cli("survey", "send", "-w", w, "--survey", "ces_app", "--account", "acc1",
                               "-f", "json").stdout)
        assert again["invited"] == 0
        assert all(r["reason"].startswith("throttled: invited on ") for r in again["results"]
                   if r["contact_id"] != "c3")

        settings = DeliverySettings(smtp=SmtpSettings(host="127.0.0.1", port=port, sender="cx@sinergia.test"))
        report = deliver_due(ws.store_url, settings=settings,
                             now=dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=1))
        assert report.as_dict()["delivered"] == 2
        mails = [email.message_from_bytes(m, policy=email.policy.default) for m in collector.messages]
        by_to = {str(m["To"]): m for m in mails}
        assert set(by_to) == {"ana@acme.com", "bob@acme.com"}
        body = by_to["ana@acme.com"].get_content()
        assert str(by_to["ana@acme.com"]["Subject"]) == "Acme CX: sua opinião em um minuto"
        link = re.search(r"https://cx\.example\.com/s/(\S+)", body)
        assert link is not None, body

        client = TestClient(create_app(open_workspace(ws.path)))
        page = client.get(f"/s/{link.group(1)}")
        assert page.status_code == 200 and "Qual a probabilidade" in page.text
        done = client.post(f"/s/{link.group(1)}", data={"score": "10", "comment": "Excelente", "lang": "pt-BR"})
        assert done.status_code == 200
        rows = responses(ws)
        assert [(r["contact_id"], r["survey"], r["score"], r["channel"], r["comment"]) for r in rows] == [
            ("c1", "nps", 10.0, "email", "Excelente")]

        links = json.loads(cli("survey", "link", "-w", w, "--survey", "ces_app", "--contact", "c4",
                               "--base-url", "https://app.example.com/", "-f", "json").stdout)
        assert links["results"][0]["url"].startswith("https://app.example.com/s/")
        assert links["results"][0]["outbox_id"] is None

        rate = json.loads(cli("survey", "rate", "-w", w).stdout)
        # 3 invitations (c1, c2 by e-mail; c4 in-app), 1 answered: 1 / 3
        assert (rate["sent"], rate["answered"]) == (3, 1)
        assert rate["response_rate"] == pytest.approx(1 / 3)
        assert rate["by_channel"]["email"] == {"sent": 2, "answered": 1, "response_rate": 0.5}
        nps = json.loads(cli("survey", "rate", "-w", w, "--survey", "nps_onboarding").stdout)
        assert (nps["sent"], nps["answered"], nps["response_rate"]) == (2, 1, 0.5)
    finally:
        dispose_engine(ws.store_url)
