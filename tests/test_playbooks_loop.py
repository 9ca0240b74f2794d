"""Closed loop: low answers open cases with a 48 h SLA, escalate by age, need a root cause, send a follow-up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from sinergia.errors import UsageError
from sinergia.playbooks.closed_loop import (
    LoopSettings,
    close_case,
    escalate_cases,
    list_cases,
    loop_metrics,
    open_cases,
)
from sinergia.store.models import User
from sinergia.store.playbook_models import FeedbackCase, OutboxMessage
from test_playbooks import AS_OF, make_workspace


def test_closed_loop(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    # answers in the 7 days up to 06-30: r1 a1 NPS 3 (06-29 10:00) and r5 a5 NPS 5 (06-20: 10 days → outside);
    # r2 NPS 10 is not low. So one case, due 06-29 10:00 + 48 h = 07-01 10:00.
    opened = open_cases(ws, AS_OF)
    assert len(opened) == 1
    assert open_cases(ws, AS_OF) == []  # one case per answer
    # a 14-day lookback also catches r5 (06-20 10:00, due 06-22 10:00)
    assert len(open_cases(ws, AS_OF, settings=LoopSettings(lookback_days=14))) == 1
    engine = create_engine(ws.store_url)
    with Session(engine) as session:
        cases = {c.response_id: c for c in session.scalars(select(FeedbackCase))}
        users = {u.id: u.email for u in session.scalars(select(User))}
    engine.dispose()
    r1, r5 = cases["r1"], cases["r5"]
    assert r1.due_at == dt.datetime(2026, 7, 1, 10, 0) and users[r1.owner_id or 0] == "ana@x.com"
    # escalation at 06-30 12:00: r1 is 26 h old (< 48 h): none; r5 is 242 h old (> 96 h = 2 × SLA): level 2
    assert escalate_cases(ws.store_url, now=dt.datetime(2026, 6, 30, 12)) == [(r5.id, 2)]
    # at 07-01 11:00 r1 is 49 h old: level 1
    assert escalate_cases(ws.store_url, now=dt.datetime(2026, 7, 1, 11)) == [(r1.id, 1)]
    with pytest.raises(UsageError, match="root cause"):
        close_case(ws.store_url, r1.id, root_cause=" ", action="called", actor="ana@x.com")
    done = close_case(ws.store_url, r1.id, root_cause="slow dashboards after release 4.2", action="fixed the index",
                      actor="ana@x.com", now=dt.datetime(2026, 7, 1, 16))
    # 06-29 10:00 → 07-01 16:00 = 54 h, after the due time (48 h)
    assert (done["hours_to_close"], done["within_sla"]) == (54.0, False)
    assert [c["status"] for c in list_cases(ws.store_url)] == ["escalated", "closed"]
    metrics = loop_metrics(ws.store_url, dt.date(2026, 6, 1), dt.date(2026, 6, 30))
    assert (metrics["opened"], metrics["closed"], metrics["loop_closure_rate"]) == (2, 1, 0.5)
    assert (metrics["hours_to_close_median"], metrics["closed_within_sla_rate"], metrics["escalated"]) == (54.0, 0.0, 2)


def test_follow_up_needs_an_email(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    (case_id,) = open_cases(ws, AS_OF)
    # the respondent (no contacts table rows here) has no e-mail: the follow-up cannot be sent, the case stays open
    with pytest.raises(UsageError, match="no e-mail"):
        close_case(ws.store_url, case_id, root_cause="x", action="y", actor="a", follow_up=True)
    engine = create_engine(ws.store_url)
    with Session(engine) as session, session.begin():
        case = session.get(FeedbackCase, case_id)
        assert case is not None and case.status == "open"
        case.contact_email = "cliente@alfa.com"
    engine.dispose()
    done = close_case(ws.store_url, case_id, root_cause="x", action="ajustamos o relatório", actor="a",
                      follow_up=True)
    engine = create_engine(ws.store_url)
    with Session(engine) as session:
        message = session.get(OutboxMessage, done["follow_up_message_id"])
        assert message is not None
        assert (message.kind, message.target, message.idempotency_key) == (
            "email", "cliente@alfa.com", f"loop-follow-up:{case_id}")
        assert "ajustamos o relatório" in message.payload["body"]
    engine.dispose()
