"""The workspace config file (`sinergia.yaml`): a validated model with clear messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sinergia.errors import ConfigError
from sinergia.metrics.settings import MetricSettings
from sinergia.models.segments import SegmentSettings
from sinergia.models.signals import SignalSettings
from sinergia.scores.config import Scorecard, check_scorecards
from sinergia.surveys.config import SurveySettings

CONFIG_FILE = "sinergia.yaml"


class IngestSettings(BaseModel):
    """Defaults for ingestion; a mapping or preset may override each one."""

    model_config = ConfigDict(extra="forbid")

    day_first: bool = Field(True, description="Read ambiguous dates like 02/03/2024 as 2 March (Brazilian style).")
    lock_timeout_seconds: float = Field(
        600.0, gt=0, description="How long an import waits for another writer to finish."
    )


class WorkspaceConfig(BaseModel):
    """Top-level workspace settings. Later sections (scorecards, SLA policies, playbooks) join this model."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(1, ge=1, le=1, description="Config format version.")
    name: str = Field("Sinergia workspace", min_length=1)
    timezone: str = Field("UTC", description="Time zone of sources that give local times without an offset.")
    currency: str = Field("BRL", min_length=3, max_length=3, description="Default ISO-4217 currency.")
    locale: str = Field("pt-BR", description="Default locale for people reading this workspace.")
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    metrics: MetricSettings = Field(default_factory=MetricSettings)
    scorecards: list[Scorecard] = Field(
        default_factory=list, description="Health scorecards (docs/health.md); none: the built-in default."
    )
    signals: SignalSettings = Field(default_factory=SignalSettings, description="Expansion signal rules.")
    segments: SegmentSettings = Field(default_factory=SegmentSettings, description="Loyalty tiers, personas.")
    surveys: SurveySettings = Field(default_factory=SurveySettings, description="Surveys (docs/surveys.md).")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (use an IANA name like America/Sao_Paulo)") from None
        return value

    @field_validator("scorecards")
    @classmethod
    def _scorecards(cls, value: list[Scorecard]) -> list[Scorecard]:
        return check_scorecards(value)

    @field_validator("currency")
    @classmethod
    def _upper_currency(cls, value: str) -> str:
        if not value.isalpha():
            raise ValueError(f"'{value}' is not an ISO-4217 currency code")
        return value.upper()

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in ("pt-BR", "en"):
            raise ValueError(f"locale '{value}' is not supported; use pt-BR or en")
        return value


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem: `file: a.b.c: message`."""
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{source}: {where}: {message}")
    return "\n".join(lines)


def parse_config(data: Any, source: str) -> WorkspaceConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys to values, got {type(data).__name__}")
    try:
        return WorkspaceConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(source, error)) from None


def load_config(path: Path) -> WorkspaceConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    return parse_config(data, str(path))


def default_config_text(name: str, timezone: str, currency: str) -> str:
    return (
        "# Sinergia workspace configuration. Documented in docs/workspace.md.\n"
        "version: 1\n"
        f"name: {yaml.safe_dump(name, default_style=None).strip().removesuffix('...').strip()}\n"
        f"timezone: {timezone}        # time zone of sources that give local times without an offset\n"
        f"currency: {currency}                     # default currency (ISO-4217)\n"
        "locale: pt-BR                     # pt-BR or en\n"
        "ingest:\n"
        "  day_first: true                 # 02/03/2024 is 2 March\n"
        "  lock_timeout_seconds: 600       # how long an import waits for another writer\n"
    )
