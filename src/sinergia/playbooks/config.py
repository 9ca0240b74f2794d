"""Playbook definitions: the workspace's ``playbooks.yaml``, validated with messages that name the path.

A playbook is *trigger* → *conditions* → *actions*, with de-duplication, a cooldown and a frequency limit::

    builtins: true                 # include the built-in playbooks (or a list of their ids)
    delivery:
      smtp: {host: localhost, port: 25, sender: cs@example.com}
    playbooks:
      - id: renewal_red_health
        title: {pt-BR: "Renovação em risco", en: "Renewal at risk"}
        trigger: {kind: renewal, within_days: 90}
        conditions:
          - {field: "band:health", op: in, value: [red]}
        actions:
          - {kind: task, type: risk, priority: high, due_days: 7, owner: {by: account_owner}}
        cooldown_days: 30

The file sits beside ``sinergia.yaml`` (a separate file so the playbooks can be edited, reviewed and versioned
on their own). Metric names are checked against the metrics registry and score names against the known
scores at load time; unknown ones are errors with the path (``playbooks.yaml: playbooks.0.trigger.metric``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sinergia.errors import ConfigError
from sinergia.playbooks.closed_loop import LoopSettings

PLAYBOOKS_FILE = "playbooks.yaml"

#: Scores the platform computes (health scorecards, churn risk, CLV, expansion propensity). A workspace can
#: name more in ``extra_scores`` (scores it writes itself with ``sinergia.scores.history.write_scores``).
KNOWN_SCORES: frozenset[str] = frozenset({
    "health", "churn_risk_90d", "churn_risk_180d", "clv_12m", "expansion_propensity", "sentiment",
})
TASK_TYPES = ("risk", "lifecycle", "expansion", "objective", "activity")
PRIORITIES = ("low", "normal", "high", "urgent")
Op = Literal["<", "<=", ">", ">=", "==", "!=", "in", "not_in", "is_null", "not_null"]

#: Per-account facts the runner computes as of the run date (see runner.account_facts); conditions may
#: also name any ``accounts`` column, ``score:<name>``, ``band:<name>`` or ``trend:<name>``.
FACTS: dict[str, str] = {
    "account_age_days": "days from accounts.created_at to the as-of date",
    "days_to_renewal": "days from the as-of date to accounts.renewal_at (negative when past)",
    "active_users_30d": "distinct contacts with a usage event in the 30 days up to the as-of date",
    "license_utilisation": "active_users_30d / accounts.licenses (null without licences)",
    "last_nps": "score of the latest NPS answer on or before the as-of date",
    "last_nps_days": "days since that answer",
    "nps_category": "promoter (9-10), passive (7-8) or detractor (0-6) of the latest NPS answer",
    "clv_tier": "high (top 20 % of clv_12m among scored accounts), medium (next 30 %), low (the rest)",
    "mrr": "MRR in force at the end of the as-of date: the metrics' MRR step function (subscription_changes "
           "when a subscription has them, else subscriptions.mrr; trials excluded; workspace currency)",
    "open_tickets": "tickets created on or before the as-of date and not solved or closed by then",
}
ACCOUNT_COLUMNS = ("account_id", "name", "domain", "owner", "segment", "industry", "country", "region", "plan",
                   "persona", "lifecycle_stage", "employees", "licenses", "created_at", "renewal_at", "currency")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Text = dict[str, str]


def _check_text(value: Text) -> Text:
    if not value or not set(value) <= {"pt-BR", "en"}:
        raise ValueError("give the text in pt-BR and/or en, e.g. {pt-BR: '...', en: '...'}")
    return value


# -- triggers ---------------------------------------------------------------------------------------------
class ScoreThreshold(_Strict):
    """A score crosses a threshold: previous value (``compare_days`` earlier) on the other side, or no previous."""

    kind: Literal["score_threshold"]
    score: str
    op: Literal["<", "<=", ">", ">="]
    value: float
    compare_days: int = Field(1, ge=1, description="The previous value is the score as of this many days earlier.")
    crossing: bool = Field(True, description="Fire only when the previous value was on the other side.")


class ScoreBand(_Strict):
    """An account enters (or leaves) one of the bands of a score since ``compare_days`` earlier."""

    kind: Literal["score_band"]
    score: str
    enters: list[str] = Field(default_factory=list)
    leaves: list[str] = Field(default_factory=list)
    compare_days: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _one(self) -> ScoreBand:
        if not self.enters and not self.leaves:
            raise ValueError("give 'enters' and/or 'leaves' (band names)")
        return self


class MetricThreshold(_Strict):
    """A portfolio metric (optionally per group of ``by``) crosses a threshold between two periods."""

    kind: Literal["metric_threshold"]
    metric: str
    op: Literal["<", "<=", ">", ">="]
    value: float
    period: Literal["day", "week", "month", "quarter", "year"] = "month"
    by: str | None = None
    crossing: bool = True


class TicketEvent(_Strict):
    """A ticket opened in the last ``within_days`` days whose subject/description has a keyword or a tag."""

    kind: Literal["ticket"]
    keywords: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    within_days: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _one(self) -> TicketEvent:
        if not self.keywords and not self.tags:
            raise ValueError("give 'keywords' and/or 'tags' that mark the tickets")
        return self


class RenewalEvent(_Strict):
    """The account's ``renewal_at`` falls within the next ``within_days`` days."""

    kind: Literal["renewal"]
    within_days: int = Field(ge=0)


class SurveyEvent(_Strict):
    """A survey answer with ``max_score`` ≥ score ≥ ``min_score`` given in the last ``within_days`` days."""

    kind: Literal["survey"]
    survey: Literal["nps", "csat", "ces"]
    max_score: float | None = None
    min_score: float | None = None
    within_days: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _one(self) -> SurveyEvent:
        if self.max_score is None and self.min_score is None:
            raise ValueError("give 'max_score' and/or 'min_score'")
        return self


class MilestoneEvent(_Strict):
    """The account is at least ``by_day`` days old (and at most ``until_day``) without reaching the milestone.

    The milestone is a usage event (``event``, reached at the ``min_count``-th) or the name of a milestone in the
    workspace's ``metrics.milestones`` (``milestone``); ``milestone: time_to_first_value`` means the one that
    ``metrics.time_to_first_value`` names.
    """

    kind: Literal["milestone"]
    by_day: int = Field(ge=1)
    until_day: int | None = Field(None, ge=1)
    event: str | None = None
    min_count: int = Field(1, ge=1)
    milestone: str | None = None

    @model_validator(mode="after")
    def _one(self) -> MilestoneEvent:
        if (self.event is None) == (self.milestone is None):
            raise ValueError("give exactly one of 'event' or 'milestone'")
        if self.until_day is not None and self.until_day < self.by_day:
            raise ValueError("'until_day' must be on or after 'by_day'")
        return self


class SentimentEvent(_Strict):
    """The account's texts of the last ``window_days`` days (``text_sentiment``, from ``sinergia text score``)
    average below ``below`` (-1 to 1), counting at least ``min_texts`` texts."""

    kind: Literal["sentiment"]
    below: float = Field(-0.3, ge=-1.0, le=1.0)
    window_days: int = Field(30, ge=1)
    min_texts: int = Field(1, ge=1)


class Schedule(_Strict):
    """Fires for every account passing the conditions on the scheduled days."""

    kind: Literal["schedule"]
    every: Literal["day", "week", "month"] = "week"
    weekday: int = Field(0, ge=0, le=6, description="0 = Monday (for every: week).")
    day_of_month: int = Field(1, ge=1, le=28, description="For every: month.")


Trigger = Annotated[
    ScoreThreshold | ScoreBand | MetricThreshold | TicketEvent | RenewalEvent | SurveyEvent | MilestoneEvent
    | Schedule | SentimentEvent,
    Field(discriminator="kind"),
]


class Condition(_Strict):
    """``field op value`` on an account fact, column, ``score:<name>``, ``band:<name>`` or ``trend:<name>``."""

    field: str
    op: Op
    value: Any = None

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"op '{self.op}' needs a list value")
        if self.op not in ("is_null", "not_null") and self.value is None:
            raise ValueError(f"op '{self.op}' needs a value")
        return self


# -- actions ----------------------------------------------------------------------------------------------
class Owner(_Strict):
    by: Literal["account_owner", "round_robin", "least_loaded", "user"] = "account_owner"
    users: list[str] = Field(default_factory=list, description="E-mails (round_robin, least_loaded, user).")
    fallback: str | None = Field(None, description="E-mail used when the account has no owner user.")

    @model_validator(mode="after")
    def _users(self) -> Owner:
        if self.by != "account_owner" and not self.users:
            raise ValueError(f"owner by '{self.by}' needs 'users'")
        return self


class Step(_Strict):
    title: Text
    due_days: int = Field(0, ge=0, description="Due = run date + this many days.")

    _check = field_validator("title")(classmethod(lambda cls, v: _check_text(v)))


class TaskAction(_Strict):
    kind: Literal["task"]
    type: Literal["risk", "lifecycle", "expansion", "objective", "activity"]
    title: Text | None = Field(None, description="Default: the playbook title. Placeholders: {account_name} …")
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    due_days: int = Field(3, ge=0)
    owner: Owner = Field(default_factory=Owner)
    steps: list[Step] = Field(default_factory=list, description="Extra tasks with relative due dates.")


class EmailAction(_Strict):
    kind: Literal["email"]
    to: list[str] = Field(default_factory=lambda: ["account_owner"],
                          description="E-mail addresses; 'account_owner' is the account's owner.")
    subject: Text
    body: Text


class WebhookAction(_Strict):
    """POST a JSON event signed per Standard Webhooks with the ``whsec_`` secret in env var ``secret_env``."""

    kind: Literal["webhook"]
    url: str
    secret_env: str
    event_type: str = "playbook.fired"


class SlackAction(_Strict):
    kind: Literal["slack"]
    url: str
    text: Text


class SetFieldAction(_Strict):
    kind: Literal["set_field"]
    field: str = Field(description="Field name; 'tag' adds a tag instead of setting a value.")
    value: str


class SurveyAction(_Strict):
    """E-mail a survey invitation to the account's contacts with one of ``roles`` (all contacts when empty).

    ``url`` is the survey link template (e.g. ``https://forms.example.com/nps?a={account_id}&c={contact_id}``);
    ``{survey_url}`` in the body is replaced by it. One outbox message per contact (its own idempotency key).
    """

    kind: Literal["survey"]
    survey: Literal["nps", "csat", "ces"]
    url: str
    roles: list[str] = Field(default_factory=list)
    subject: Text
    body: Text

    _texts = field_validator("subject", "body")(classmethod(lambda cls, v: _check_text(v)))


Action = Annotated[TaskAction | EmailAction | WebhookAction | SlackAction | SetFieldAction | SurveyAction,
                   Field(discriminator="kind")]


class Frequency(_Strict):
    """At most ``count`` firings per account in any ``days``-day window."""

    count: int = Field(ge=1)
    days: int = Field(ge=1)


class Playbook(_Strict):
    id: str
    title: Text
    description: Text | None = None
    enabled: bool = True
    trigger: Trigger
    conditions: list[Condition] = Field(default_factory=list)
    actions: list[Action] = Field(min_length=1)
    cooldown_days: int = Field(0, ge=0, description="No new firing for the same account within this many days.")
    frequency: Frequency | None = None
    holdout: float = Field(0.0, ge=0.0, lt=1.0, description=(
        "Share of accounts held out at random (deterministic hash of playbook and account): their firings are "
        "stored but the actions do not run, so 'sinergia playbooks effect' can compare treated and held out."))
    builtin: bool = False

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"id '{value}' must be lower-case letters, digits and '_'")
        return value

    _title = field_validator("title")(classmethod(lambda cls, v: _check_text(v)))

    @model_validator(mode="after")
    def _portfolio_actions(self) -> Playbook:
        if isinstance(self.trigger, MetricThreshold):
            wrong = [a.kind for a in self.actions if a.kind in ("task", "set_field", "survey")]
            if wrong:
                raise ValueError(f"a metric_threshold trigger fires for the portfolio or a group, not an account: "
                                 f"use email, webhook or slack actions, not {', '.join(wrong)}")
        return self


class SmtpSettings(_Strict):
    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    sender: str = "sinergia@localhost"
    starttls: bool = False
    username_env: str | None = None
    password_env: str | None = None
    timeout_seconds: float = Field(10.0, gt=0)


class DeliverySettings(_Strict):
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    max_attempts: int = Field(6, ge=1, le=50)
    backoff_seconds: float = Field(30.0, gt=0, description="First retry delay; doubles each attempt.")
    max_backoff_seconds: float = Field(3600.0, gt=0)
    http_timeout_seconds: float = Field(10.0, gt=0)


class PlaybooksFile(_Strict):
    builtins: bool | list[str] = True
    extra_scores: list[str] = Field(default_factory=list)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    closed_loop: LoopSettings = Field(default_factory=LoopSettings)
    playbooks: list[Playbook] = Field(default_factory=list)


class PlaybookSet(BaseModel):
    """The validated playbooks of a workspace (built-ins first, then the file's), and the delivery settings."""

    playbooks: list[Playbook]
    delivery: DeliverySettings
    source: str
    closed_loop: LoopSettings = Field(default_factory=LoopSettings)

    def get(self, playbook_id: str) -> Playbook:
        for playbook in self.playbooks:
            if playbook.id == playbook_id:
                return playbook
        raise ConfigError(f"{self.source}: no playbook '{playbook_id}'")


def _format(source: str, error: ValidationError) -> str:
    """One line per problem: ``file: playbooks.0.trigger.score: message`` (union branch names dropped)."""
    kinds = {"score_threshold", "score_band", "metric_threshold", "ticket", "renewal", "survey", "milestone",
             "schedule", "task", "email", "webhook", "slack", "set_field"}
    lines = []
    for item in error.errors():
        loc = [str(p) for p in item["loc"]]
        # a discriminated union adds the branch name after the field ('trigger.survey.max_score'): keep it
        # readable as 'trigger(survey).max_score'
        parts: list[str] = []
        for part in loc:
            union_branch = part in kinds and bool(parts) and (
                parts[-1] == "trigger" or (parts[-1].isdigit() and len(parts) > 1 and parts[-2] == "actions"))
            if union_branch:
                parts[-1] = f"{parts[-1]}({part})"
            else:
                parts.append(part)
        where = ".".join(parts)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{source}: {where or '(top level)'}: {message}")
    return "\n".join(lines)


def _field_known(name: str, scores: frozenset[str]) -> str | None:
    """None when ``name`` is a known condition field, else the problem."""
    if name in FACTS or name in ACCOUNT_COLUMNS:
        return None
    prefix, _, rest = name.partition(":")
    if prefix in ("score", "band", "trend") and rest:
        return None if rest in scores else f"unknown score '{rest}'; known: {', '.join(sorted(scores))}"
    return (f"unknown field '{name}'; use a fact ({', '.join(FACTS)}), an accounts column, "
            "score:<name>, band:<name> or trend:<name>")


def check_names(playbooks: list[Playbook], source: str, *, scores: frozenset[str],
                metric_settings: Any = None, offset: int = 0) -> None:
    """Metric names against the registry, score names against ``scores``, fields and milestones exist."""
    from sinergia.metrics.registry import all_metrics

    metrics = all_metrics()
    problems = []
    for i, playbook in enumerate(playbooks, start=offset):
        where = f"{source}: playbooks.{i}"
        trigger = playbook.trigger
        if isinstance(trigger, ScoreThreshold | ScoreBand) and trigger.score not in scores:
            problems.append(f"{where}.trigger.score: unknown score '{trigger.score}'; "
                            f"known: {', '.join(sorted(scores))} (add it to extra_scores)")
        if isinstance(trigger, MetricThreshold) and trigger.metric not in metrics:
            problems.append(f"{where}.trigger.metric: unknown metric '{trigger.metric}' "
                            "(see 'sinergia metrics list')")
        if isinstance(trigger, MilestoneEvent) and trigger.milestone not in (None, "time_to_first_value"):
            known = set(getattr(metric_settings, "milestones", {}) or {})
            if trigger.milestone not in known:
                problems.append(f"{where}.trigger.milestone: unknown milestone '{trigger.milestone}' "
                                f"(metrics.milestones has: {', '.join(sorted(known)) or 'none'})")
        for j, condition in enumerate(playbook.conditions):
            problem = _field_known(condition.field, scores)
            if problem:
                problems.append(f"{where}.conditions.{j}.field: {problem}")
    if problems:
        raise ConfigError("\n".join(problems))


def parse_playbooks(data: Any, source: str, *, metric_settings: Any = None) -> PlaybookSet:
    """Validate a ``playbooks.yaml`` document (already parsed) and add the built-ins it asks for."""
    from sinergia.playbooks.builtin import builtin_playbooks

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'playbooks:', got {type(data).__name__}")
    try:
        parsed = PlaybooksFile.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format(source, error)) from None
    scores = KNOWN_SCORES | frozenset(parsed.extra_scores)
    check_names(parsed.playbooks, source, scores=scores, metric_settings=metric_settings)
    builtins = builtin_playbooks()
    if parsed.builtins is True:
        chosen = builtins
    elif parsed.builtins is False:
        chosen = []
    else:
        unknown = [b for b in parsed.builtins if b not in {p.id for p in builtins}]
        if unknown:
            raise ConfigError(f"{source}: builtins: unknown built-in playbook(s) {', '.join(unknown)}; "
                              f"built-ins: {', '.join(p.id for p in builtins)}")
        chosen = [p for p in builtins if p.id in parsed.builtins]
    overridden = {p.id for p in parsed.playbooks}
    playbooks = [p for p in chosen if p.id not in overridden] + parsed.playbooks
    ids = [p.id for p in parsed.playbooks]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ConfigError(f"{source}: playbooks: duplicated id(s) {', '.join(duplicated)}")
    return PlaybookSet(playbooks=playbooks, delivery=parsed.delivery, source=source, closed_loop=parsed.closed_loop)


def load_playbooks(workspace_path: Path, *, metric_settings: Any = None) -> PlaybookSet:
    """``<workspace>/playbooks.yaml``, or only the built-ins when the file does not exist."""
    path = Path(workspace_path) / PLAYBOOKS_FILE
    if not path.exists():
        return parse_playbooks({}, str(path), metric_settings=metric_settings)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    return parse_playbooks(data, str(path), metric_settings=metric_settings)
