"""Health scorecards in the workspace config: the ``scorecards:`` section of ``sinergia.yaml``.

Three styles (see ``docs/health.md``):

* ``weighted`` (Gainsight): every measure is scored 0–100, the score is the weighted mean of the measure
  scores (optionally two-level: measures → groups → overall);
* ``rules`` (Totango): ordered rules on the measures' raw values; the first rule that matches gives the band;
* ``points`` (HubSpot / Planhat): start from ``base`` points, each matching criterion adds or subtracts points,
  the total is clamped to ``[min_score, max_score]``.

Validation errors name the path, e.g. ``scorecards.1.measures.2.metric: unknown metric 'nrr_x'; valid: ...``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sinergia.scores.catalog import FEATURES

#: Account attributes a scorecard can be assigned by.
ASSIGNABLE = ("segment", "lifecycle_stage", "plan", "persona", "industry", "country", "region", "owner")
OPERATORS = ("<", "<=", ">", ">=", "==", "!=", "missing", "present")
SENTIMENT_LABELS = ("good", "average", "poor")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Labels(_Strict):
    """A text in English and Brazilian Portuguese."""

    en: str
    pt_br: str = Field(alias="pt-BR")

    def as_dict(self) -> dict[str, str]:
        return {"en": self.en, "pt-BR": self.pt_br}


class Band(_Strict):
    name: str = Field(min_length=1, description="Band id, e.g. red / yellow / green.")
    min: float = Field(ge=0, le=100, description="Lowest score in the band (inclusive).")
    label: Labels | None = None
    color: str | None = Field(None, description="Display colour (CSS), optional.")

    def labels(self) -> dict[str, str]:
        return self.label.as_dict() if self.label else {"en": self.name, "pt-BR": self.name}


def default_bands() -> list[Band]:
    return [
        Band(name="red", min=0, label=Labels(en="At risk", pt_br="Em risco"), color="#d64545"),
        Band(name="yellow", min=40, label=Labels(en="Needs attention", pt_br="Atenção"), color="#e6b800"),
        Band(name="green", min=70, label=Labels(en="Healthy", pt_br="Saudável"), color="#2e9e5b"),
    ]


# -- how a measure's raw value becomes a 0-100 score --------------------------------------------------------
class LinearScoring(_Strict):
    """Points ``[value, score]``: linear interpolation between them, flat beyond the first and last."""

    type: Literal["linear"]
    points: list[tuple[float, float]] = Field(min_length=2)

    @field_validator("points")
    @classmethod
    def _increasing(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for i, (value, score) in enumerate(points):
            if not 0 <= score <= 100:
                raise ValueError(f"point {i}: score {score} is outside 0–100")
            if i and value <= points[i - 1][0]:
                raise ValueError(f"point {i}: values must increase ({points[i - 1][0]} then {value})")
        return points


class Step(_Strict):
    min: float | None = Field(None, description="The step matches values >= min.")
    max: float | None = Field(None, description="The step matches values <= max.")
    score: float = Field(ge=0, le=100)


class ThresholdScoring(_Strict):
    """Ordered steps; the first whose ``min``/``max`` holds gives the score. The last step is the catch-all."""

    type: Literal["thresholds"]
    steps: list[Step] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _catch_all(cls, steps: list[Step]) -> list[Step]:
        last = steps[-1]
        if last.min is not None or last.max is not None:
            raise ValueError("the last step must have neither min nor max (it scores every other value)")
        return steps


class GradeScoring(_Strict):
    """good / average / poor → 100 / 50 / 0. Numbers are graded by ``good_at`` and ``poor_at``."""

    type: Literal["grade"]
    good_at: float | None = Field(None, description="Values at least this good are 'good'.")
    poor_at: float | None = Field(None, description="Values at least this bad are 'poor'.")
    scores: dict[Literal["good", "average", "poor"], float] = Field(
        default_factory=lambda: {"good": 100.0, "average": 50.0, "poor": 0.0}  # type: ignore[arg-type]
    )

    @model_validator(mode="after")
    def _consistent(self) -> GradeScoring:
        if (self.good_at is None) != (self.poor_at is None):
            raise ValueError("give both good_at and poor_at (or neither, for good/average/poor labels)")
        if self.good_at is not None and self.good_at == self.poor_at:
            raise ValueError("good_at and poor_at must differ (their order says whether higher is better)")
        missing = set(SENTIMENT_LABELS) - set(self.scores)
        if missing:
            raise ValueError(f"scores lacks {', '.join(sorted(missing))}")
        for key, value in self.scores.items():
            if not 0 <= value <= 100:
                raise ValueError(f"scores.{key}: {value} is outside 0–100")
        return self


class IdentityScoring(_Strict):
    """The raw value is already a 0–100 score (clamped to 0–100)."""

    type: Literal["identity"]


Scoring = Annotated[LinearScoring | ThresholdScoring | GradeScoring | IdentityScoring, Field(discriminator="type")]


# -- where a measure's raw value comes from -----------------------------------------------------------------
class SentimentSource(_Strict):
    """Manual CSM sentiment: a CSV file in the workspace (account_id, recorded_at, sentiment[, valid_days, ...])."""

    file: str = Field("sentiment.csv", description="CSV path, relative to the workspace folder.")
    valid_days: int = Field(90, ge=1, description="Days an entry stays valid after recorded_at.")


class Measure(_Strict):
    name: str | None = Field(None, description="Id used in rules, criteria and explanations.")
    title: Labels | None = None
    metric: str | None = Field(None, description="A registered metric, computed per account.")
    window_days: int = Field(30, ge=1, description="For metric measures: the trailing window ending on as_of.")
    feature: str | None = Field(None, description="A built-in account feature (sinergia.scores.catalog).")
    params: dict[str, Any] = Field(default_factory=dict, description="Feature parameters (e.g. days).")
    sentiment: SentimentSource | None = None
    group: str | None = None
    weight: float = Field(1.0, ge=0, le=999_999, description="Relative weight (weighted style).")
    scoring: Scoring | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from sinergia.metrics.registry import all_metrics

        names = sorted(all_metrics())
        if value not in names:
            raise ValueError(f"unknown metric '{value}'; valid: {', '.join(names)}")
        return value

    @field_validator("feature")
    @classmethod
    def _known_feature(cls, value: str | None) -> str | None:
        if value is not None and value not in FEATURES:
            raise ValueError(f"unknown feature '{value}'; valid: {', '.join(FEATURES)}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Measure:
        given = [k for k in ("metric", "feature", "sentiment") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a measure needs exactly one of metric, feature or sentiment"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.feature is not None:
            allowed = FEATURES[self.feature].params
            unknown = sorted(set(self.params) - set(allowed))
            if unknown:
                raise ValueError(
                    f"feature '{self.feature}' has no parameter {', '.join(unknown)}; "
                    f"parameters: {', '.join(allowed) or 'none'}"
                )
        elif self.params:
            raise ValueError("params only apply to feature measures")
        if self.name is None:
            self.name = self.metric or self.feature or "csm_sentiment"
        return self

    @property
    def key(self) -> str:
        assert self.name is not None
        return self.name

    def source_text(self) -> str:
        if self.metric is not None:
            return f"metric:{self.metric} (last {self.window_days} days)"
        if self.feature is not None:
            params = {**FEATURES[self.feature].params, **self.params}
            shown = ", ".join(f"{k}={v}" for k, v in params.items() if v is not None)
            return f"feature:{self.feature}" + (f"({shown})" if shown else "")
        assert self.sentiment is not None
        return f"sentiment:{self.sentiment.file} (valid {self.sentiment.valid_days} days)"

    def titles(self) -> dict[str, str]:
        if self.title is not None:
            return self.title.as_dict()
        if self.feature is not None:
            return dict(FEATURES[self.feature].title)
        if self.sentiment is not None:
            return {"en": "CSM sentiment", "pt-BR": "Percepção do CSM"}
        return {"en": self.key, "pt-BR": self.key}


class Group(_Strict):
    name: str = Field(min_length=1)
    title: Labels | None = None
    weight: float | None = Field(None, ge=0, le=999_999, description="Group weight (two-level weighting).")
    max_points: float | None = Field(None, gt=0, description="Points style: cap of the group's points.")


class Condition(_Strict):
    measure: str
    op: Literal["<", "<=", ">", ">=", "==", "!=", "missing", "present"]
    value: float | str | None = None

    @model_validator(mode="after")
    def _value_given(self) -> Condition:
        if self.op in ("missing", "present"):
            if self.value is not None:
                raise ValueError(f"op '{self.op}' takes no value")
        elif self.value is None:
            raise ValueError(f"op '{self.op}' needs a value")
        elif isinstance(self.value, str) and self.op not in ("==", "!="):
            raise ValueError(f"op '{self.op}' compares numbers; text values only work with == and !=")
        return self


class Rule(_Strict):
    name: str | None = None
    band: str
    score: float | None = Field(None, ge=0, le=100, description="Score given; default: the band's midpoint.")
    match: Literal["all", "any"] = "all"
    when: list[Condition] = Field(default_factory=list, description="Empty: always matches (the default rule).")


class Criterion(_Strict):
    name: str | None = None
    measure: str
    op: Literal["<", "<=", ">", ">=", "==", "!=", "missing", "present"]
    value: float | str | None = None
    points: float = Field(description="Points added (negative: subtracted) when the condition holds.")
    group: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Criterion:
        Condition(measure=self.measure, op=self.op, value=self.value)
        return self


class Trend(_Strict):
    days: int = Field(30, ge=1, description="Compare with the score this many days earlier.")
    tolerance: float = Field(5.0, ge=0, description="Changes within ± tolerance points are 'same'.")


class Missing(_Strict):
    policy: Literal["reweight", "score"] = Field(
        "reweight", description="reweight: drop missing measures and renormalise; score: give them `score`."
    )
    score: float = Field(0.0, ge=0, le=100, description="Score of a missing measure under policy 'score'.")
    min_coverage: float = Field(
        0.5, ge=0, le=1, description="Weighted style: no score when less than this share of the weight is present."
    )


class Scorecard(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    title: Labels | None = None
    style: Literal["weighted", "rules", "points"] = "weighted"
    default: bool = Field(False, description="Scores accounts that no other scorecard applies to.")
    applies_to: dict[str, list[str]] = Field(
        default_factory=dict, description="Account attribute → values, e.g. {segment: [Enterprise]}."
    )
    accounts: Literal["active", "all"] = Field(
        "active", description="active: accounts with a live subscription on the date (all when none has any)."
    )
    bands: list[Band] = Field(default_factory=default_bands)
    trend: Trend = Field(default_factory=Trend)
    missing: Missing = Field(default_factory=Missing)
    groups: list[Group] = Field(default_factory=list)
    measures: list[Measure] = Field(min_length=1)
    rules: list[Rule] = Field(default_factory=list)
    base: float = Field(0.0, description="Points style: starting points.")
    min_score: float = Field(0.0, description="Points style: the total is clamped to [min_score, max_score].")
    max_score: float = Field(100.0, description="Points style: see min_score.")
    criteria: list[Criterion] = Field(default_factory=list)

    @field_validator("applies_to")
    @classmethod
    def _attributes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(value) - set(ASSIGNABLE))
        if unknown:
            raise ValueError(f"cannot assign by {', '.join(unknown)}; attributes: {', '.join(ASSIGNABLE)}")
        return value

    @field_validator("bands")
    @classmethod
    def _bands(cls, bands: list[Band]) -> list[Band]:
        if not bands:
            raise ValueError("give at least one band")
        mins = [b.min for b in bands]
        if mins != sorted(mins) or len(set(mins)) != len(mins):
            raise ValueError("bands must be listed from the lowest min to the highest, each min different")
        if mins[0] != 0:
            raise ValueError("the first band must start at min 0 so that every score has a band")
        names = [b.name for b in bands]
        if len(set(names)) != len(names):
            raise ValueError("band names must be unique")
        return bands

    @model_validator(mode="after")
    def _consistent(self) -> Scorecard:
        keys = [m.key for m in self.measures]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"measure names must be unique; repeated: {', '.join(dupes)} (set `name:`)")
        groups = [g.name for g in self.groups]
        for i, m in enumerate(self.measures):
            if m.group is not None and m.group not in groups:
                raise ValueError(
                    f"measures.{i}.group: unknown group '{m.group}'; groups: {', '.join(groups) or 'none'}"
                )
        bands = [b.name for b in self.bands]
        if self.style == "weighted":
            for i, m in enumerate(self.measures):
                if m.scoring is None and m.sentiment is None:
                    raise ValueError(f"measures.{i}.scoring: the weighted style needs a scoring for '{m.key}'")
            if sum(m.weight for m in self.measures) <= 0:
                raise ValueError("the measures' weights add up to 0")
            weights = [g.weight for g in self.groups]
            if any(w is not None for w in weights) and any(w is None for w in weights):
                raise ValueError("give every group a weight, or none (then measure weights apply directly)")
            if weights and all(w is not None for w in weights):
                for i, m in enumerate(self.measures):
                    if m.group is None:
                        raise ValueError(f"measures.{i}.group: with group weights every measure needs a group")
        if self.style == "rules":
            if not self.rules:
                raise ValueError("the rules style needs `rules`")
            if self.rules[-1].when:
                raise ValueError("the last rule must have no `when` (it applies when no other rule does)")
            for i, rule in enumerate(self.rules):
                if rule.band not in bands:
                    raise ValueError(f"rules.{i}.band: unknown band '{rule.band}'; bands: {', '.join(bands)}")
                for j, cond in enumerate(rule.when):
                    if cond.measure not in keys:
                        raise ValueError(
                            f"rules.{i}.when.{j}.measure: unknown measure '{cond.measure}'; measures: {', '.join(keys)}"
                        )
        elif self.rules:
            raise ValueError(f"`rules` only apply to the rules style (this scorecard is {self.style})")
        if self.style == "points":
            if not self.criteria:
                raise ValueError("the points style needs `criteria`")
            if self.min_score >= self.max_score:
                raise ValueError("min_score must be below max_score")
            for i, crit in enumerate(self.criteria):
                if crit.measure not in keys:
                    raise ValueError(
                        f"criteria.{i}.measure: unknown measure '{crit.measure}'; measures: {', '.join(keys)}"
                    )
                if crit.group is not None and crit.group not in groups:
                    raise ValueError(
                        f"criteria.{i}.group: unknown group '{crit.group}'; groups: {', '.join(groups) or 'none'}"
                    )
            caps = [g.max_points for g in self.groups if g.max_points is not None]
            span = self.max_score - self.min_score
            if caps and len(caps) == len(self.groups) and not math.isclose(sum(caps), span):
                raise ValueError(
                    f"the groups' max_points add up to {sum(caps):g}; they must total {span:g} "
                    "(max_score − min_score), as in HubSpot"
                )
        elif self.criteria:
            raise ValueError(f"`criteria` only apply to the points style (this scorecard is {self.style})")
        return self

    def band_for(self, score: float) -> Band:
        chosen = self.bands[0]
        for band in self.bands:
            if score >= band.min:
                chosen = band
        return chosen

    def band_midpoint(self, name: str) -> float:
        for i, band in enumerate(self.bands):
            if band.name == name:
                top = self.bands[i + 1].min if i + 1 < len(self.bands) else 100.0
                return (band.min + top) / 2
        raise KeyError(name)  # pragma: no cover - validated

    def titles(self) -> dict[str, str]:
        return self.title.as_dict() if self.title else {"en": self.name, "pt-BR": self.name}


def check_scorecards(cards: list[Scorecard]) -> list[Scorecard]:
    """Names unique, at most one explicit default."""
    names = [c.name for c in cards]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"scorecard names must be unique; repeated: {', '.join(dupes)}")
    defaults = [c.name for c in cards if c.default]
    if len(defaults) > 1:
        raise ValueError(f"only one scorecard can be the default; marked: {', '.join(defaults)}")
    return cards


def default_scorecard() -> Scorecard:
    """The scorecard used when the workspace defines none (documented in docs/health.md)."""
    return Scorecard.model_validate(DEFAULT_SCORECARD)


DEFAULT_SCORECARD: dict[str, Any] = {
    "name": "default",
    "title": {"en": "Default health", "pt-BR": "Saúde padrão"},
    "style": "weighted",
    "default": True,
    "trend": {"days": 30, "tolerance": 5},
    "groups": [
        {"name": "usage", "title": {"en": "Product usage", "pt-BR": "Uso do produto"}},
        {"name": "support", "title": {"en": "Support", "pt-BR": "Suporte"}},
        {"name": "relationship", "title": {"en": "Relationship", "pt-BR": "Relacionamento"}},
    ],
    "measures": [
        {
            "feature": "usage_trend",
            "group": "usage",
            "weight": 25,
            "scoring": {"type": "linear", "points": [[-0.5, 0], [-0.1, 50], [0, 70], [0.1, 100]]},
        },
        {
            "feature": "days_since_last_activity",
            "group": "usage",
            "weight": 15,
            "scoring": {"type": "linear", "points": [[3, 100], [14, 50], [30, 0]]},
        },
        {
            "feature": "license_utilization",
            "group": "usage",
            "weight": 10,
            "scoring": {"type": "linear", "points": [[0.2, 0], [0.5, 50], [0.8, 100]]},
        },
        {
            "feature": "open_tickets",
            "group": "support",
            "weight": 10,
            "scoring": {
                "type": "thresholds",
                "steps": [{"max": 0, "score": 100}, {"max": 2, "score": 70}, {"max": 5, "score": 40}, {"score": 0}],
            },
        },
        {
            "feature": "tickets_opened",
            "name": "urgent_tickets",
            "title": {"en": "Urgent tickets (90 days)", "pt-BR": "Tickets urgentes (90 dias)"},
            "params": {"days": 90, "priorities": ["urgent", "high"]},
            "group": "support",
            "weight": 10,
            "scoring": {
                "type": "thresholds",
                "steps": [{"max": 0, "score": 100}, {"max": 2, "score": 50}, {"score": 0}],
            },
        },
        {
            "feature": "last_nps",
            "group": "relationship",
            "weight": 15,
            "scoring": {"type": "linear", "points": [[0, 0], [6, 30], [8, 70], [10, 100]]},
        },
        {
            "sentiment": {"file": "sentiment.csv", "valid_days": 90},
            "group": "relationship",
            "weight": 15,
            "scoring": {"type": "grade"},
        },
    ],
}
