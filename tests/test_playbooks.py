"""Playbooks: config validation, triggers, conditions, guardrails, actions and the stored "why", on a tiny
hand-made workspace whose expected firings are worked out next to the data."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from sinergia.errors import ConfigError
from sinergia.ingest import ingest_files
from sinergia.playbooks.config import load_playbooks, parse_playbooks
from sinergia.playbooks.runner import render, run_playbooks, why
from sinergia.scores.history import write_scores
from sinergia.store.migrate import upgrade_store
from sinergia.store.models import AuditEntry, Task, User
from sinergia.store.playbook_models import AccountField, OutboxMessage, PlaybookFiring
from sinergia.workspace import Workspace, init_workspace, open_workspace

AS_OF = dt.date(2026, 6, 30)

# Five accounts. As of 2026-06-30:
# a1: renewal 2026-07-30 (30 days), health red, NPS 3 on 06-29 (detractor, within 48 h), MRR 100.
# a2: 2 licences, 2 distinct users active in the last 30 days → utilisation 2/2 = 1.0 > 0.9; NPS 10 (promoter);
#     MRR 500, the highest of 5 paying accounts → rank 1/5 = 0.2 → CLV tier high (no clv_12m score: MRR basis);
#     ticket "Sistema fora do ar" on 06-30 → failure keyword.
# a3: renewal 2026-07-20 (20 days) but health green → renewal_red_health does not fire. MRR 300.
# a4: created 2026-05-21 → day 40, no 'report_created' event → onboarding stuck (window day 30-60). MRR 200.
# a5: created 2025-01-01, NPS 5 on 06-20 (10 days ago: outside 48 h); MRR 50.
ACCOUNTS = """account_id,name,owner,licenses,created_at,renewal_at,lifecycle_stage
a1,Alfa,ana@x.com,10,2025-01-01,2026-07-30,customer
a2,Beta,bruno@x.com,2,2025-01-01,2027-03-01,customer
a3,Gama,ana@x.com,5,2025-01-01,2026-07-20,customer
a4,Delta,bruno@x.com,5,2026-05-21,2027-05-21,onboarding
a5,Epsilon,ana@x.com,5,2025-01-01,2027-01-01,customer
"""
SUBSCRIPTIONS = """subscription_id,account_id,started_at,mrr
s1,a1,2025-01-01,100
s2,a2,2025-01-01,500
s3,a3,2025-01-01,300
s4,a4,2026-05-21,200
s5,a5,2025-01-01,50
"""
SURVEYS = """response_id,account_id,survey,score,scale_min,scale_max,responded_at,comment
r1,a1,nps,3,0,10,2026-06-29 10:00:00,muito lento
r2,a2,nps,10,0,10,2026-06-01 10:00:00,ótimo
r5,a5,nps,5,0,10,2026-06-20 10:00:00,
"""
TICKETS = """ticket_id,account_id,subject,description,created_at,tags
t1,a2,Sistema fora do ar,Ninguém consegue entrar,2026-06-30 09:00:00,
t2,a3,Dúvida sobre relatório,Como exporto?,2026-06-30 09:00:00,how_to
"""
USAGE = """event_id,account_id,contact_id,event,occurred_at
e1,a2,c1,login,2026-06-10 10:00:00
e2,a2,c2,login,2026-06-25 10:00:00
e3,a2,c3,login,2026-05-01 10:00:00
e4,a4,c4,login,2026-06-01 10:00:00
e5,a1,c5,report_created,2026-06-01 10:00:00
"""
CONFIG_EXTRA = """metrics:
  milestones:
    first_value: {event: report_created}
  time_to_first_value: first_value
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def make_workspace(root: Path, playbooks_yaml: str | None = None) -> Workspace:
    ws = init_workspace(root / "ws")
    with (ws.path / "sinergia.yaml").open("a", encoding="utf-8") as handle:
        handle.write(CONFIG_EXTRA)
    src = root / "src"
    src.mkdir()
    files = [_write(src / f"{name}.csv", text) for name, text in (
        ("accounts", ACCOUNTS), ("subscriptions", SUBSCRIPTIONS), ("survey_responses", SURVEYS),
        ("tickets", TICKETS), ("usage_events", USAGE))]
    ws = open_workspace(ws.path)
    ingest_files(ws, files, preset="sinergia")
    write_scores(ws, pd.DataFrame({"account_id": ["a1", "a2", "a3", "a4", "a5"], "as_of": [AS_OF] * 5,
                                   "value": [20.0, 80.0, 85.0, 60.0, 70.0],
                                   "band": ["red", "green", "green", "yellow", "yellow"]}), score="health")
    if playbooks_yaml is not None:
        _write(ws.path / "playbooks.yaml", playbooks_yaml)
    upgrade_store(ws.store_url)
    engine = create_engine(ws.store_url)
    with Session(engine) as session, session.begin():
        session.add_all([User(email="ana@x.com", name="Ana", role="csm"),
                         User(email="bruno@x.com", name="Bruno", role="csm"),
                         User(email="carla@x.com", name="Carla", role="csm")])
    engine.dispose()
    return ws


def store_rows(ws: Workspace, query: Any) -> list[Any]:
    engine = create_engine(ws.store_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(query))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("pb"))


# -- config -----------------------------------------------------------------------------------------------
def test_builtins_are_valid_and_bilingual() -> None:
    found = parse_playbooks({}, "playbooks.yaml")
    assert [p.id for p in found.playbooks] == ["detractor_follow_up", "high_clv_failure", "renewal_red_health",
                                                "expansion_usage_promoter", "onboarding_stuck"]
    assert all(set(p.title) == {"pt-BR", "en"} for p in found.playbooks)


@pytest.mark.parametrize(("doc", "message"), [
    ({"playbooks": [{"id": "x", "title": {"en": "X"}, "trigger": {"kind": "metric_threshold", "metric": "nrrr",
                                                                   "op": "<", "value": 1},
                     "actions": [{"kind": "slack", "url": "http://x", "text": {"en": "x"}}]}]},
     "f.yaml: playbooks.0.trigger.metric: unknown metric 'nrrr'"),
    ({"playbooks": [{"id": "x", "title": {"en": "X"}, "trigger": {"kind": "score_band", "score": "helth",
                                                                   "enters": ["red"]},
                     "actions": [{"kind": "task", "type": "risk"}]}]},
     "f.yaml: playbooks.0.trigger.score: unknown score 'helth'"),
    ({"playbooks": [{"id": "x", "title": {"en": "X"}, "trigger": {"kind": "renewal", "within_days": 9},
                     "conditions": [{"field": "band:helth", "op": "==", "value": "red"}],
                     "actions": [{"kind": "task", "type": "risk"}]}]},
     "f.yaml: playbooks.0.conditions.0.field: unknown score 'helth'"),
    ({"playbooks": [{"id": "x", "title": {"en": "X"}, "trigger": {"kind": "renewal", "within_days": 9},
                     "actions": [{"kind": "task", "type": "risky"}]}]},
     "f.yaml: playbooks.0.actions.0(task).type: Input should be"),
    ({"playbooks": [{"id": "x", "title": {"en": "X"}, "trigger": {"kind": "survey", "survey": "nps"},
                     "actions": [{"kind": "task", "type": "risk"}]}]},
     "f.yaml: playbooks.0.trigger(survey): give 'max_score' and/or 'min_score'"),
    ({"playbooks": [{"id": "x", "title": {"en": "X"}, "trigger": {"kind": "renewal", "within_days": 9},
                     "actions": [{"kind": "task", "type": "risk", "owner": {"by": "round_robin"}}]}]},
     "f.yaml: playbooks.0.actions.0(task).owner: owner by 'round_robin' needs 'users'"),
    ({"builtins": ["nope"]}, "f.yaml: builtins: unknown built-in playbook(s) nope"),
    ({"playbooks": [{"id": "x", "title": {"en": "X"}, "trigger": {"kind": "metric_threshold", "metric": "nrr",
                                                                   "op": "<", "value": 1},
                     "actions": [{"kind": "task", "type": "risk"}]}]},
     "f.yaml: playbooks.0: a metric_threshold trigger fires for the portfolio or a group"),
    ({"playbooks": [{"id": "x", "title": {"en": "X"}, "trigger": {"kind": "renewal", "within_days": 9},
                     "actions": [{"kind": "task", "type": "risk"}], "colldown_days": 3}]},
     "f.yaml: playbooks.0.colldown_days: unknown key"),
])
def test_config_errors_name_the_path(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_playbooks(doc, "f.yaml")
    assert message in str(caught.value)


def test_load_from_workspace_file(tmp_path: Path) -> None:
    _write(tmp_path / "playbooks.yaml", "builtins: [onboarding_stuck]\nplaybooks:\n  - id: x\n    title: {en: X}\n"
           "    trigger: {kind: renewal, within_days: 9}\n    actions: [{kind: task, type: risk}]\n")
    found = load_playbooks(tmp_path)
    assert [p.id for p in found.playbooks] == ["onboarding_stuck", "x"]
    _write(tmp_path / "playbooks.yaml", "playbooks: [\n")
    with pytest.raises(ConfigError, match=r"playbooks.yaml: not valid YAML \(line 2\)"):
        load_playbooks(tmp_path)


def test_render_templates() -> None:
    text = {"pt-BR": "Conta {account_name}: {license_utilisation:.0%} ({missing})", "en": "Account {account_name}"}
    assert render(text, "pt-BR", {"account_name": "Beta", "license_utilisation": 0.95}) == "Conta Beta: 95% (—)"
    assert render(text, "en", {"account_name": "Beta"}) == "Account Beta"
    assert render(text, "pt-BR", {"account_name": "Beta", "license_utilisation": None}) == "Conta Beta: — (—)"


# -- the run ----------------------------------------------------------------------------------------------
def test_dry_run_lists_and_writes_nothing(built: Workspace) -> None:
    report = run_playbooks(built, AS_OF, dry_run=True)
    fired = sorted((f.playbook_id, f.account_id) for f in report.firings)
    assert fired == [("detractor_follow_up", "a1"), ("expansion_usage_promoter", "a2"), ("high_clv_failure", "a2"),
                     ("onboarding_stuck", "a4"), ("renewal_red_health", "a1")]
    assert report.counts["renewal_red_health"]["triggered"] == 2  # a1 and a3 renew within 90 days
    assert report.counts["renewal_red_health"]["passed_conditions"] == 1  # only a1 is red
    by = {(f.playbook_id, f.account_id): f for f in report.firings}
    assert by[("detractor_follow_up", "a1")].reason.startswith("NPS answer 3 (≤ 6) on 2026-06-29T10:00:00")
    expansion = by[("expansion_usage_promoter", "a2")]
    assert expansion.inputs["account"]["active_users_30d"] == 2  # c1, c2 (c3 was 60 days ago)
    assert expansion.inputs["account"]["license_utilisation"] == 1.0
    assert expansion.inputs["account"]["clv_tier"] == "high" and expansion.inputs["account"]["clv_tier_basis"] == "mrr"
    assert "day 40 of the account" in by[("onboarding_stuck", "a4")].reason
    assert "keyword:fora do ar" in by[("high_clv_failure", "a2")].reason
    assert store_rows(built, select(PlaybookFiring)) == []
    assert store_rows(built, select(Task)) == []


def test_run_acts_once_and_explains(built: Workspace) -> None:
    report = run_playbooks(built, AS_OF)
    assert len(report.firings) == 5
    tasks = store_rows(built, select(Task).order_by(Task.id))
    # one task per firing, plus the extra step of high_clv_failure and of renewal_red_health
    assert len(tasks) == 7
    users = {u.id: u.email for u in store_rows(built, select(User))}
    by_reason = {(t.account_id, t.reason): t for t in tasks}
    risk = by_reason[("a1", "playbook:renewal_red_health")]
    assert (risk.type, risk.priority, risk.due) == ("risk", "high", AS_OF + dt.timedelta(days=7))
    assert users[risk.owner_id] == "ana@x.com"  # owner by account role: a1's owner
    assert risk.title == "Plano de renovação em risco: Alfa (30 dias)"  # workspace locale pt-BR
    step = by_reason[("a1", "playbook:renewal_red_health#step1")]
    assert step.due == AS_OF + dt.timedelta(days=21)
    detractor = by_reason[("a1", "playbook:detractor_follow_up")]
    assert detractor.due == AS_OF + dt.timedelta(days=2) and detractor.title.endswith("(NPS 3)")
    # why did it fire? the stored firing carries the reason and the inputs it saw
    firing = report.firings[0]
    assert firing.firing_id is not None
    stored = why(built.store_url, firing.firing_id)
    assert stored["reason"] == firing.reason
    assert stored["inputs"]["account"]["account_id"] == firing.account_id
    assert stored["actions"][0]["kind"] == "task"
    audit = store_rows(built, select(AuditEntry).where(AuditEntry.action == "playbook.fire"))
    assert len(audit) == 5
    # the same day again: nothing new
    again = run_playbooks(built, AS_OF)
    assert again.firings == []
    assert sum(c["already_fired_today"] for c in again.counts.values()) == 5
    assert len(store_rows(built, select(Task))) == 7
    # next day: a2's failure ticket (06-30 09:00) is still within the 2-day window [06-30, 07-02), but the
    # 7-day cooldown holds it; the detractor answer (06-29 10:00) has left its window [06-30, 07-02)
    nxt = run_playbooks(built, AS_OF + dt.timedelta(days=1), only=["high_clv_failure", "detractor_follow_up"])
    assert nxt.firings == []
    assert nxt.counts["high_clv_failure"]["cooldown"] == 1
    assert nxt.counts["detractor_follow_up"]["triggered"] == 0


def test_dedupe_updates_open_task_and_frequency(tmp_path: Path) -> None:
    yaml_text = """builtins: false
playbooks:
  - id: renewal_watch
    title: {en: "Renewal watch {account_name}", pt-BR: "Renovação {account_name}"}
    trigger: {kind: renewal, within_days: 90}
    conditions: [{field: account_id, op: "==", value: a1}]
    actions:
      - {kind: task, type: risk, due_days: 5, owner: {by: least_loaded, users: [ana@x.com, carla@x.com]}}
      - {kind: set_field, field: tag, value: renewal-watch}
      - {kind: set_field, field: risk_reason, value: "renews in {days_to_renewal:.0f} days"}
    frequency: {count: 2, days: 10}
"""
    ws = make_workspace(tmp_path, yaml_text)
    days = [AS_OF + dt.timedelta(days=i) for i in range(3)]
    reports = [run_playbooks(ws, d) for d in days]
    # day 0 and day 1 fire (frequency 2 in 10 days); day 2 is held by the frequency limit
    assert [len(r.firings) for r in reports] == [1, 1, 0]
    assert reports[2].counts["renewal_watch"]["frequency"] == 1
    tasks = store_rows(ws, select(Task))
    assert len(tasks) == 1  # the open task of the same account, type and reason was updated, not duplicated
    assert tasks[0].due == days[1] + dt.timedelta(days=5)
    assert reports[1].firings[0].actions[0]["result"] == "updated"
    # least loaded between ana (0 open tasks) and carla (0): tie broken by e-mail → ana
    assert reports[0].firings[0].actions[0]["owner_rule"] == "least loaded: ana@x.com with 0 open tasks"
    fields = sorted((f.field, f.value) for f in store_rows(ws, select(AccountField)))
    # the tag is set once; the field holds the latest value (renewal 2026-07-30: 29 days from 07-01)
    assert fields == [("risk_reason", "renews in 29 days"), ("tag", "renewal-watch")]


def test_score_crossing_round_robin_and_webhook(tmp_path: Path) -> None:
    yaml_text = """builtins: false
playbooks:
  - id: health_drop
    title: {en: "Health dropped at {account_name}"}
    trigger: {kind: score_threshold, score: health, op: "<", value: 50, compare_days: 1}
    actions:
      - {kind: task, type: risk, owner: {by: round_robin, users: [carla@x.com, bruno@x.com]}}
      - {kind: webhook, url: "http://127.0.0.1:9/hook", secret_env: HOOK_SECRET}
      - {kind: slack, url: "http://127.0.0.1:9/slack", text: {en: "Health of {account_name} fell"}}
  - id: into_red
    title: {en: "Into red"}
    trigger: {kind: score_band, score: health, enters: [red]}
    actions: [{kind: task, type: risk}]
  - id: nps_negative
    title: {en: "NPS below zero"}
    trigger: {kind: metric_threshold, metric: nps, op: "<", value: 0, period: month}
    actions: [{kind: slack, url: "http://127.0.0.1:9/slack", text: {en: "NPS: {reason}"}}]
"""
    ws = make_workspace(tmp_path, yaml_text)
    # health as of 06-29: a1 60 (yellow) → 20 (red) on 06-30: crosses 50 downwards, enters red.
    # a2 40 on both days: below 50 but no crossing (it was already below).
    write_scores(ws, pd.DataFrame({"account_id": ["a1", "a2"], "as_of": [AS_OF - dt.timedelta(days=1)] * 2,
                                   "value": [60.0, 40.0], "band": ["yellow", "red"]}), score="health")
    write_scores(ws, pd.DataFrame({"account_id": ["a2", "a3"], "as_of": [AS_OF] * 2, "value": [40.0, 45.0],
                                   "band": ["red", "red"]}), score="health")
    report = run_playbooks(ws, AS_OF)
    fired = sorted((f.playbook_id, f.account_id) for f in report.firings)
    # a3 has no earlier value: a first value below the threshold counts as crossing; it also enters red.
    # NPS of June 2026 (the month of the as-of date, partial): answers 3, 10, 5 → (1 promoter − 2 detractors) / 3
    # = −33.3 < 0; May has no answers (no previous value) → one portfolio firing (account_id "").
    assert fired == [("health_drop", "a1"), ("health_drop", "a3"), ("into_red", "a1"), ("into_red", "a3"),
                     ("nps_negative", "")]
    by = {(f.playbook_id, f.account_id): f for f in report.firings}
    assert by[("health_drop", "a1")].reason == "health 20 < 50 (was 60 1 day(s) earlier)"
    assert by[("into_red", "a1")].reason == "health band yellow → red"
    # round robin: first task to carla, second to bruno (in account order a1, a3)
    assert by[("health_drop", "a1")].actions[0]["owner_rule"].endswith("→ carla@x.com")
    assert by[("health_drop", "a3")].actions[0]["owner_rule"].endswith("→ bruno@x.com")
    messages = store_rows(ws, select(OutboxMessage).order_by(OutboxMessage.id))
    nps = by[("nps_negative", "")]
    assert nps.inputs["evidence"]["value"] == pytest.approx(-100 / 3)
    assert nps.reason.startswith("nps -33.3333 < 0 for the month of 2026-06-01")
    assert [(m.kind, m.status) for m in messages] == [("webhook", "pending"), ("slack", "pending")] * 2 + [
        ("slack", "pending")]
    assert messages[0].idempotency_key == "health_drop:a1:2026-06-30:1"
    assert messages[0].firing_id == by[("health_drop", "a1")].firing_id
    assert messages[1].payload == {"body": {"text": "Health of Alfa fell"}}
    count = store_rows(ws, select(func.count()).select_from(OutboxMessage))
    run_playbooks(ws, AS_OF)  # re-run: no duplicate messages
    assert store_rows(ws, select(func.count()).select_from(OutboxMessage)) == count


def test_cli_validate_list_run(built: Workspace) -> None:
    cli = [sys.executable, "-m", "sinergia.cli.main", "playbooks"]
    done = subprocess.run([*cli, "validate", "-w", str(built.path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "5 playbooks valid" in done.stdout, done.stderr
    done = subprocess.run([*cli, "list", "-w", str(built.path), "--format", "json"], capture_output=True, text=True,
                          check=False)
    assert [r["id"] for r in json.loads(done.stdout)][:2] == ["detractor_follow_up", "high_clv_failure"]
    done = subprocess.run([*cli, "run", "-w", str(built.path), "--as-of", "2026-06-30", "--dry-run", "--format",
                           "json"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["dry_run"] is True
    done = subprocess.run([*cli, "run", "-w", str(built.path), "--as-of", "30/06/2026"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2 and "is not a date" in done.stderr


def test_survey_action_invites_contacts_by_role(tmp_path: Path) -> None:
    yaml_text = """builtins: false
playbooks:
  - id: onboarding_csat
    title: {en: Onboarding survey}
    trigger: {kind: milestone, by_day: 30, until_day: 60, event: report_created}
    actions:
      - kind: survey
        survey: csat
        url: "https://forms.example.com/csat?a={account_id}&c={contact_id}"
        roles: [champion, admin]
        subject: {pt-BR: "Como foi o início, {contact_name}?"}
        body: {pt-BR: "Responda em {survey_url}"}
"""
    ws = make_workspace(tmp_path, yaml_text)
    contacts = _write(tmp_path / "contacts.csv", "contact_id,account_id,email,name,role\n"
                      "c4,a4,dora@delta.com,Dora,champion\nc6,a4,eli@delta.com,Eli,user\nc7,a4,,Fabi,admin\n")
    ingest_files(ws, [contacts], preset="sinergia")
    report = run_playbooks(ws, AS_OF)
    # a4 is on day 40 without report_created; its contacts with role champion/admin: c4 (e-mail) and c7 (no e-mail)
    assert [(f.account_id, [a.get("to") for a in f.actions]) for f in report.firings] == [("a4", ["dora@delta.com"])]
    (message,) = store_rows(ws, select(OutboxMessage))
    assert message.idempotency_key == "onboarding_csat:a4:2026-06-30:0:c4"
    assert message.payload["subject"] == "Como foi o início, Dora?"
    assert message.payload["body"] == "Responda em https://forms.example.com/csat?a=a4&c=c4"
