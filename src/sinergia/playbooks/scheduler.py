"""Playbooks on their schedules inside a running app: a background thread that, every ``interval`` seconds,

1. runs the **schedule-triggered** playbooks (``trigger: {kind: schedule}``) as of today (UTC), once per day per
   process (the store's one-firing-per-playbook-account-day rule makes a second run that day a no-op anyway);
2. escalates open closed-loop feedback cases by age (:func:`closed_loop.escalate_cases`);
3. delivers due outbox messages (:func:`outbox.deliver_due`), including retries whose backoff has passed.

The playbook run holds the workspace write lock (``Workspace.lock``) without waiting: when an ingest or another
process holds it, this tick skips the run and the next tick tries again, so two writers never overlap and two
app processes never run the same day's schedules at once. Errors are logged and kept in :attr:`last_error`;
the thread keeps going. ``sinergia serve`` starts it (``--scheduler-seconds``, 0 = off); ``create_app`` alone
does not, so tests and embedded apps only get it when they ask (see ``sinergia.api.scheduler``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sinergia.errors import WorkspaceError

if TYPE_CHECKING:
    from sinergia.workspace.workspace import Workspace

log = logging.getLogger("sinergia.playbooks.scheduler")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class TickReport:
    at: dt.datetime
    ran_playbooks: list[str] = field(default_factory=list)
    fired: int = 0
    skipped: str | None = None  # why the playbook run was skipped this tick
    escalated: int = 0
    delivery: dict[str, Any] = field(default_factory=dict)


class PlaybookScheduler:
    """Run due schedule-triggered playbooks, case escalation and outbox delivery every ``interval_seconds``."""

    def __init__(self, workspace: Workspace, *, interval_seconds: float, store_url: str | None = None,
                 clock: Callable[[], dt.datetime] = _utc_now) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self.workspace = workspace
        self.interval_seconds = float(interval_seconds)
        self.store_url = store_url or workspace.store_url
        self.clock = clock
        self.ticks = 0
        self.last: TickReport | None = None
        self.last_error: str | None = None
        self._done_day: dt.date | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one tick -------------------------------------------------------------------------------------------
    def tick(self) -> TickReport:
        """One pass: schedules (once a day), escalation, delivery. Returns what it did."""
        from sinergia.playbooks.closed_loop import escalate_cases
        from sinergia.playbooks.config import load_playbooks
        from sinergia.playbooks.outbox import deliver_due
        from sinergia.playbooks.runner import run_playbooks

        now = self.clock()
        report = TickReport(at=now)
        found = load_playbooks(self.workspace.path, metric_settings=self.workspace.config.metrics)
        today = now.date()
        scheduled = [p.id for p in found.playbooks if p.enabled and p.trigger.kind == "schedule"]
        if self._done_day == today:
            report.skipped = "already ran today"
        elif not scheduled:
            report.skipped = "no schedule-triggered playbooks"
            self._done_day = today
        else:
            try:
                with self.workspace.lock(timeout=0):
                    run = run_playbooks(self.workspace, today, only=scheduled, playbooks=found, actor="scheduler")
                report.ran_playbooks, report.fired = scheduled, len(run.firings)
                self._done_day = today
            except WorkspaceError as error:
                report.skipped = f"workspace busy: {error}"
        later = self.clock()  # messages the run just queued are due now, not at the tick's start
        report.escalated = len(escalate_cases(self.store_url, now=later, settings=found.closed_loop))
        report.delivery = deliver_due(self.store_url, settings=found.delivery, now=later).as_dict()
        self.ticks += 1
        self.last = report
        return report

    # -- the thread -----------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
                self.last_error = None
            except Exception as error:  # keep the app's scheduler alive; say what went wrong
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("playbook scheduler tick failed")
            self._stop.wait(self.interval_seconds)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sinergia-playbook-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
