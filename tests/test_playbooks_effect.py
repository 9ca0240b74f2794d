"""Holdout and "does the play work?": deterministic holdout draws, held-out firings without actions, and the
treated-vs-held-out comparison with a Newcombe interval, on hand-made data whose rates are counted below."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from sinergia.errors import UsageError
from sinergia.ingest import ingest_files
from sinergia.playbooks.effect import newcombe_difference, play_effect
from sinergia.playbooks.runner import holdout_draw, run_playbooks
from sinergia.store.migrate import upgrade_store
from sinergia.store.models import Task
from sinergia.store.playbook_models import PlaybookFiring
from sinergia.workspace import Workspace, init_workspace, open_workspace

ROOT = Path(__file__).resolve().parents[1]


def test_newcombe_published_example() -> None:
    # Newcombe (1998), Stat Med 17:873-890, table II example (b): 56/70 vs 48/80, method 10: 0.0524 to 0.3339
    d, low, high = newcombe_difference(56, 70, 48, 80)
    assert d == pytest.approx(0.2)
    assert low == pytest.approx(0.0524, abs=5e-5)
    assert high == pytest.approx(0.3339, abs=5e-5)


def test_holdout_draw_is_sha256_of_playbook_and_account() -> None:
    digest = hashlib.sha256(b"renewal_red_health:a1").digest()
    assert holdout_draw("renewal_red_health", "a1") == int.from_bytes(digest[:8], "big") / 2**64
    assert holdout_draw("renewal_red_health", "a1") == holdout_draw("renewal_red_health", "a1")
    assert holdout_draw("renewal_red_health", "a1") != holdout_draw("onboarding_stuck", "a1")


# -- a workspace: 22 accounts, all paying 100 from 2025-01-01; firings on 2026-01-01, horizon 90 days → 2026-04-01.
# treated t01..t10: t01 ends 2026-02-01 (churned); t02, t03, t04 add a 50 subscription on 2026-02-15 (expanded).
# held out h01..h10: h01..h04 end 2026-03-01 (churned); h05 adds 50 on 2026-03-01 (expanded).
# x01 fired 2026-03-01 → horizon 2026-05-30 after the end 2026-04-30: not yet observable.
# x02 is not paying on 2026-01-01 (starts 2026-02-01).
# churn: treated 1/10, held out 4/10 → difference −0.3; expansion: 3/10 vs 1/10 → +0.2.
def _workspace(root: Path) -> Workspace:
    ws = init_workspace(root / "ws")
    treated = [f"t{i:02d}" for i in range(1, 11)]
    held = [f"h{i:02d}" for i in range(1, 11)]
    ids = treated + held + ["x01", "x02"]
    accounts = "account_id,name,created_at\n" + "".join(f"{a},{a.upper()},2025-01-01\n" for a in ids)
    subs = ["subscription_id,account_id,started_at,ended_at,mrr"]
    for a in ids:
        start = "2026-02-01" if a == "x02" else "2025-01-01"
        end = {"t01": "2026-02-01", "h01": "2026-03-01", "h02": "2026-03-01", "h03": "2026-03-01",
               "h04": "2026-03-01"}.get(a, "")
        subs.append(f"s_{a},{a},{start},{end},100")
    for a, start in (("t02", "2026-02-15"), ("t03", "2026-02-15"), ("t04", "2026-02-15"), ("h05", "2026-03-01")):
        subs.append(f"s2_{a},{a},{start},,50")
    src = root / "src"
    src.mkdir()
    (src / "accounts.csv").write_text(accounts, encoding="utf-8")
    (src / "subscriptions.csv").write_text("\n".join(subs) + "\n", encoding="utf-8")
    ws = open_workspace(ws.path)
    ingest_files(ws, [src / "accounts.csv", src / "subscriptions.csv"], preset="sinergia")
    (ws.path / "playbooks.yaml").write_text(
        "builtins: false\nplaybooks:\n  - id: check_in\n    title: {en: Check in}\n    holdout: 0.5\n"
        "    trigger: {kind: schedule, every: day}\n    actions:\n      - {kind: task, type: activity}\n",
        encoding="utf-8")
    upgrade_store(ws.store_url)
    engine = create_engine(ws.store_url)
    with Session(engine) as session, session.begin():
        for a in treated + held + ["x02"]:
            session.add(PlaybookFiring(playbook_id="check_in", account_id=a, as_of=dt.date(2026, 1, 1),
                                       trigger_kind="schedule", reason="scheduled", actions=[],
                                       inputs={"holdout": {"share": 0.5, "held_out": a.startswith("h")}}))
        # a later firing of t01 does not count: the first firing is the one compared
        session.add(PlaybookFiring(playbook_id="check_in", account_id="t01", as_of=dt.date(2026, 1, 20),
                                   trigger_kind="schedule", reason="scheduled", actions=[], inputs={}))
        session.add(PlaybookFiring(playbook_id="check_in", account_id="x01", as_of=dt.date(2026, 3, 1),
                                   trigger_kind="schedule", reason="scheduled", actions=[], inputs={}))
    engine.dispose()
    return ws


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return _workspace(tmp_path_factory.mktemp("effect"))


def test_effect_counts_rates_and_interval(ws: Workspace) -> None:
    report = play_effect(ws, "check_in", horizon_days=90, end=dt.date(2026, 4, 30))
    assert report.excluded == {"not_yet_observable": 1, "not_paying_at_firing": 1}
    assert report.groups["treated"]["churn"]["events"] == 1 and report.groups["treated"]["churn"]["accounts"] == 10
    assert report.groups["held_out"]["churn"]["events"] == 4
    assert report.groups["treated"]["expansion"]["events"] == 3
    assert report.groups["held_out"]["expansion"]["events"] == 1
    churn = report.differences["churn"]
    # Wilson 1/10: (0.017876, 0.404150); 4/10: (0.168180, 0.687326)
    # L = −0.3 − √((0.1 − 0.017876)² + (0.687326 − 0.4)²) = −0.3 − √(0.0067444 + 0.0825563) = −0.598832
    # U = −0.3 + √((0.404150 − 0.1)² + (0.4 − 0.168180)²) = −0.3 + √(0.0925072 + 0.0537405) = 0.082425
    assert churn["difference"] == pytest.approx(-0.3)
    assert churn["ci_low"] == pytest.approx(-0.598832, abs=2e-5)
    assert churn["ci_high"] == pytest.approx(0.082425, abs=2e-5)
    assert report.differences["expansion"]["difference"] == pytest.approx(0.2)


def test_effect_refuses_small_groups(ws: Workspace) -> None:
    with pytest.raises(UsageError, match=r"too few accounts .* 10 treated and 10 held out .* at least 11"):
        play_effect(ws, "check_in", horizon_days=90, end=dt.date(2026, 4, 30), min_group=11)
    with pytest.raises(UsageError, match=r"0 treated and 0 held out"):
        play_effect(ws, "check_in", horizon_days=90, end=dt.date(2026, 3, 1))  # no horizon observable yet


def test_effect_cli_json(ws: Workspace) -> None:
    done = subprocess.run([sys.executable, "-m", "sinergia.cli.main", "playbooks", "effect", "-w", str(ws.path),
                           "--playbook", "check_in", "--horizon", "90", "--as-of", "2026-04-30", "-f", "json"],
                          capture_output=True, text=True, check=False, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["differences"]["churn"]["formula"] == "1/10 − 4/10"


def test_held_out_firings_are_stored_without_actions(ws: Workspace) -> None:
    report = run_playbooks(ws, dt.date(2026, 4, 30), only=["check_in"])
    fired = {f.account_id: f for f in report.firings}
    # the schedule fires for every account that exists: the 22 of the file
    assert len(fired) == 22
    expected_out = {a for a in fired if holdout_draw("check_in", a) < 0.5}
    assert {a for a, f in fired.items() if f.held_out} == expected_out
    assert report.counts["check_in"]["held_out"] == len(expected_out)
    assert 0 < len(expected_out) < 22
    engine = create_engine(ws.store_url)
    try:
        with Session(engine) as session:
            tasks = {t.account_id for t in session.scalars(select(Task))}
            rows = list(session.scalars(select(PlaybookFiring).where(PlaybookFiring.as_of == dt.date(2026, 4, 30))))
    finally:
        engine.dispose()
    assert tasks == set(fired) - expected_out
    assert len(rows) == 22
    for row in rows:
        assert row.inputs["holdout"]["held_out"] == (row.account_id in expected_out)
        if row.account_id in expected_out:
            assert row.actions == [{"kind": "holdout", "result": "not executed",
                                    "why": "account in the playbook's random holdout (control group)"}]
