"""Workspace settings the metrics read (the ``metrics:`` section of ``sinergia.yaml``).

Example::

    metrics:
      gross_margin: 0.8
      small_sample: 30
      milestones:                       # time to value
        first_value: {event: report_created}
        integrated: {event: integration_connected}
      time_to_first_value: first_value  # which milestone is "first value"
      features:                         # feature adoption eligibility (default: every active account)
        automations: {plans: [Growth, Enterprise]}
      outcomes:                         # ROI on customer-defined outcome KPIs (usage events carrying a value)
        hours_saved: {event: kpi_hours_saved, higher_is_better: true}
      calendars:
        default:
          timezone: America/Sao_Paulo
          hours: {mon: ["09:00-12:00", "13:00-18:00"], tue: ["09:00-18:00"]}
          holidays: ["2025-12-25"]
      team_calendars: {"Suporte N2": default}
      sla_policies:                     # first match wins
        - name: Enterprise
          when: {priority: [urgent, high]}
          calendar: default             # business hours; omit for calendar hours
          targets:
            first_reply_time: {urgent: 1, high: 4}      # hours
            full_resolution_time: {urgent: 8, high: 24}
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SHIFT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
SLA_METRICS = ("first_reply_time", "full_resolution_time", "first_resolution_time", "agent_work_time",
               "requester_wait_time")
PRIORITIES = ("urgent", "high", "normal", "low")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Milestone(_Strict):
    event: str = Field(description="Usage event name that marks the milestone.")
    feature: str | None = Field(None, description="Only events of this feature count.")
    min_count: int = Field(1, ge=1, description="How many such events reach the milestone.")


class FeatureRule(_Strict):
    plans: list[str] | None = Field(None, description="Plans that include the feature (eligible accounts).")
    min_count: int = Field(1, ge=1, description="Uses in the period for an account to count as adopting it.")


class Outcome(_Strict):
    event: str = Field(description="Usage event whose `quantity` is the KPI value.")
    higher_is_better: bool = True


class Calendar(_Strict):
    timezone: str = "UTC"
    hours: dict[str, list[str]] = Field(
        default_factory=lambda: {d: ["09:00-18:00"] for d in WEEKDAYS[:5]},
        description="Working shifts per weekday, HH:MM-HH:MM, several per day allowed.",
    )
    holidays: list[dt.date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value

    @field_validator("hours")
    @classmethod
    def _shifts(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, shifts in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday '{day}'; use {', '.join(WEEKDAYS)}")
            spans = []
            for shift in shifts:
                match = _SHIFT.match(shift)
                if not match:
                    raise ValueError(f"{day}: shift '{shift}' is not HH:MM-HH:MM")
                h1, m1, h2, m2 = (int(g) for g in match.groups())
                start, end = h1 * 60 + m1, h2 * 60 + m2
                if end <= start or end > 24 * 60:
                    raise ValueError(f"{day}: shift '{shift}' ends before it starts")
                spans.append((start, end))
            spans.sort()
            if any(b[0] < a[1] for a, b in itertools.pairwise(spans)):
                raise ValueError(f"{day}: shifts overlap")
        return value


class SlaPolicy(_Strict):
    name: str
    when: dict[str, list[str]] = Field(
        default_factory=dict, description="Ticket field or account attribute → accepted values (all must match)."
    )
    calendar: str | None = Field(None, description="Business-hours calendar; none = calendar hours.")
    targets: dict[str, dict[str, float]] = Field(description="SLA metric → priority → target in hours.")

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for metric, by_priority in value.items():
            if metric not in SLA_METRICS:
                raise ValueError(f"unknown SLA metric '{metric}'; use {', '.join(SLA_METRICS)}")
            for priority, hours in by_priority.items():
                if priority not in PRIORITIES:
                    raise ValueError(f"unknown priority '{priority}'; use {', '.join(PRIORITIES)}")
                if hours <= 0:
                    raise ValueError(f"{metric}.{priority}: target must be positive hours")
        return value


class MetricSettings(_Strict):
    gross_margin: float = Field(0.8, gt=0, le=1, description="Gross margin used by simple LTV.")
    fx_rates: dict[str, float] = Field(
        default_factory=dict,
        description="Currency → units of the workspace currency per unit (static rates). Money in a currency "
        "with no rate is left out of money metrics.",
    )
    small_sample: int = Field(30, ge=1, description="Values from fewer observations are flagged small_sample.")
    milestones: dict[str, Milestone] = Field(default_factory=dict)
    time_to_first_value: str | None = None
    features: dict[str, FeatureRule] = Field(default_factory=dict)
    outcomes: dict[str, Outcome] = Field(default_factory=dict)
    calendars: dict[str, Calendar] = Field(default_factory=lambda: {"default": Calendar()})
    team_calendars: dict[str, str] = Field(default_factory=dict)
    sla_policies: list[SlaPolicy] = Field(default_factory=list)

    @field_validator("fx_rates")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        for code, rate in value.items():
            if len(code) != 3 or not code.isalpha() or rate <= 0:
                raise ValueError(f"fx_rates: '{code}: {rate}' must be an ISO-4217 code and a positive rate")
        return {k.upper(): v for k, v in value.items()}

    @model_validator(mode="after")
    def _references(self) -> MetricSettings:
        if self.time_to_first_value is not None and self.time_to_first_value not in self.milestones:
            raise ValueError(f"time_to_first_value '{self.time_to_first_value}' is not a milestone")
        if "default" not in self.calendars:
            self.calendars["default"] = Calendar()
        for team, name in self.team_calendars.items():
            if name not in self.calendars:
                raise ValueError(f"team_calendars.{team}: unknown calendar '{name}'")
        for policy in self.sla_policies:
            if policy.calendar is not None and policy.calendar not in self.calendars:
                raise ValueError(f"sla_policies.{policy.name}: unknown calendar '{policy.calendar}'")
        return self
