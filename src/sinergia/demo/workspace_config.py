"""The settings ``sinergia demo`` adds to a workspace it creates: the demo company's support SLA policy and its
first-value milestone (the first ``report_created`` event: time to value, and the ``onboarding_stuck`` playbook).

The generator answers tickets against a first-reply SLA per priority (:data:`sinergia.demo._support.SLA_HOURS`,
the ``sla_breach`` tag); the same targets go to ``metrics.sla_policies`` so ``sla_achievement_rate`` and the
per-ticket SLA status of the app measure the policy the data was made with. Full resolution targets are the
demo company's published promise (calendar hours), looser than its typical solve times.
"""

from __future__ import annotations

import yaml

from sinergia.demo._support import PRIORITIES, SLA_HOURS

#: Full-resolution targets per priority, in calendar hours.
FULL_RESOLUTION_HOURS = {"low": 240.0, "normal": 120.0, "high": 72.0, "urgent": 24.0}


def sla_policies() -> list[dict[str, object]]:
    """One policy for every ticket (calendar hours): first reply per the generator's SLA, full resolution."""
    first_reply = {p: float(h) for p, h in zip(PRIORITIES, SLA_HOURS, strict=True)}
    return [{
        "name": "Standard",
        "when": {},
        "targets": {"first_reply_time": first_reply, "full_resolution_time": dict(FULL_RESOLUTION_HOURS)},
    }]


#: The demo's time-to-value milestones: a customer gets first value when it creates its first report.
MILESTONES = {"first_value": {"event": "report_created"}}


def config_section() -> str:
    """The YAML appended to a new demo workspace's ``sinergia.yaml`` (a ``metrics:`` section)."""
    metrics = {"milestones": MILESTONES, "time_to_first_value": "first_value", "sla_policies": sla_policies()}
    body = yaml.safe_dump({"metrics": metrics}, sort_keys=False, default_flow_style=None)
    return "# Added by `sinergia demo`: first-value milestone and support SLA (docs/demo-data.md).\n" + body
