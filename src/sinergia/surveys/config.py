"""The ``surveys:`` section of ``sinergia.yaml``: survey definitions and invitation settings (validated).

Example::

    surveys:
      base_url: https://cx.example.com     # public address the invitation links point at
      throttle_days: 90                    # a contact is not invited again within this many days
      expiry_days: 30                      # an invitation link stops working after this many days
      webhook_secret_env: SINERGIA_SURVEY_WEBHOOK_SECRET
      definitions:
        - name: nps_onboarding
          kind: nps                        # nps (0-10) | csat (1-5 default) | ces (1-7 default)
          touchpoint: onboarding
          journey_stage: during            # before | during | after
          question: {en: "...", pt-BR: "..."}   # optional: the kind's standard question
        - name: csat_support
          kind: csat
          scale: [1, 10]                   # csat and ces only; NPS is always 0-10
          touchpoint: support
          journey_stage: after
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Kind = Literal["nps", "csat", "ces"]
Stage = Literal["before", "during", "after"]
LOCALES = ("pt-BR", "en")

#: The usual scale of each kind (the metrics registry assumes the same defaults).
DEFAULT_SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}

#: The standard question of each kind; ``{company}`` is the workspace name.
DEFAULT_QUESTIONS: dict[str, dict[str, str]] = {
    "nps": {
        "en": "How likely are you to recommend {company} to a friend or colleague?",
        "pt-BR": "Qual a probabilidade de você recomendar a {company} a um amigo ou colega?",
    },
    "csat": {
        "en": "How satisfied are you with your experience?",
        "pt-BR": "Qual o seu nível de satisfação com a sua experiência?",
    },
    "ces": {
        "en": "How easy was it to get what you needed?",
        "pt-BR": "Quão fácil foi conseguir o que você precisava?",
    },
}


class SurveyDefinitionConfig(BaseModel):
    """One survey: its kind and scale, the question in both languages, the touchpoint and journey stage."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    kind: Kind
    touchpoint: str = Field(min_length=1, max_length=200)
    journey_stage: Stage
    scale: tuple[int, int] | None = Field(None, description="[lowest, highest]; csat and ces only.")
    question: dict[str, str] | None = Field(None, description="Question text per locale (pt-BR and en).")

    @field_validator("question")
    @classmethod
    def _both_languages(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        missing = [loc for loc in LOCALES if not str(value.get(loc, "")).strip()]
        unknown = sorted(set(value) - set(LOCALES))
        if missing or unknown:
            raise ValueError(f"question needs a text for each of {', '.join(LOCALES)}"
                             + (f" (missing: {', '.join(missing)})" if missing else "")
                             + (f" (unknown locales: {', '.join(unknown)})" if unknown else ""))
        return value

    @model_validator(mode="after")
    def _scale(self) -> SurveyDefinitionConfig:
        if self.scale is None:
            return self
        if self.kind == "nps" and self.scale != DEFAULT_SCALES["nps"]:
            raise ValueError("NPS is always asked on 0-10; leave 'scale' out for nps")
        low, high = self.scale
        if low < 0 or high <= low or high - low > 20:
            raise ValueError(f"scale [{low}, {high}] must be two whole numbers, 0 ≤ lowest < highest, "
                             "at most 21 points")
        return self

    @property
    def scale_min(self) -> int:
        return (self.scale or DEFAULT_SCALES[self.kind])[0]

    @property
    def scale_max(self) -> int:
        return (self.scale or DEFAULT_SCALES[self.kind])[1]

    def questions(self) -> dict[str, str]:
        return dict(self.question) if self.question else dict(DEFAULT_QUESTIONS[self.kind])


class SurveySettings(BaseModel):
    """Invitation settings and the survey definitions (docs/surveys.md)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field("http://127.0.0.1:8000", description="Public address that invitation links point at.")
    throttle_days: int = Field(90, ge=0, le=3650, description="Days before the same contact may be invited again.")
    expiry_days: int = Field(30, ge=1, le=365, description="Days an invitation link stays valid.")
    webhook_secret_env: str = Field(
        "SINERGIA_SURVEY_WEBHOOK_SECRET", min_length=1,
        description="Environment variable holding the inbound webhook's whsec_ secret.",
    )
    definitions: list[SurveyDefinitionConfig] = Field(default_factory=list)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url '{value}' must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("definitions")
    @classmethod
    def _unique(cls, value: list[SurveyDefinitionConfig]) -> list[SurveyDefinitionConfig]:
        seen: set[str] = set()
        for definition in value:
            if definition.name in seen:
                raise ValueError(f"survey name '{definition.name}' is defined twice")
            seen.add(definition.name)
        return value
