"""Mappings: how the columns of a source file become a canonical entity.

A mapping file (YAML) has reading options and one or more targets::

    source: zendesk              # recorded in each row's _source
    delimiter: ";"               # optional: , ; tab | (detected when absent)
    encoding: latin-1            # optional: utf-8, utf-8-sig, latin-1, cp1252 (detected when absent)
    decimal: ","                 # optional: "." or "," (default: "," when the delimiter is ";")
    timezone: America/Sao_Paulo  # local times without an offset are in this zone
    date_format: "%d/%m/%Y"      # optional default for every date column
    null_values: ["?", "N/A"]    # strings that mean "no value" (blank always does)
    records: [tickets]           # JSON: the array inside each document that holds the records
    unnest: events               # JSON: one row per element of this array, the other fields kept
    entity: tickets
    columns:
      ticket_id: id                          # a source column
      created_at: {column: [created, opened_at], format: "%d/%m/%Y %H:%M"}
      channel: {column: via, values: {mail: email, voice: phone}}
      currency: {value: BRL}                 # a constant
      tags: {sql: "replace({{Tags|etiquetas}}, ' ', ',')"}  # SQL; {{a|b}}: the first of these columns present
    attributes: rest                         # rest | none | [col, ...]
    attributes_under: billing                # optional: nest them, {"billing": {...}}, beside other files' keys
    duplicate_keys: quarantine               # or last_wins

Several targets from one file go under ``targets: [{entity: ..., columns: ...}, ...]``. When every target
has a ``where``, rows that no target takes are quarantined (counted with the first target), not dropped.
A *preset* is a list of such mappings under ``files:``, each with ``match:`` file-name patterns.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sinergia.errors import ConfigError, UsageError
from sinergia.schema import ENTITIES, entity
from sinergia.workspace.config import format_validation_error

Format = Literal["csv", "parquet", "json", "ndjson", "whitespace"]


class ColumnSpec(BaseModel):
    """Where one canonical field's value comes from."""

    model_config = ConfigDict(extra="forbid")

    column: list[str] | None = Field(None, description="Source column(s); the first present one is used.")
    value: str | int | float | bool | None = Field(None, description="A constant for every row.")
    sql: str | None = Field(
        None,
        description="A DuckDB SQL expression over the source columns (VARCHAR); {{a|b}} stands for the first of "
        "those columns the file has (NULL if none; in JSON, the first path with a value).",
    )
    format: list[str] | None = Field(None, description="strptime format(s) for dates, or 'epoch'/'epoch_ms'.")
    values: dict[str, str | None] | None = Field(None, description="Map source values (case-insensitive).")
    optional: bool = Field(False, description="The column may be absent from the file (then the value is null).")

    @field_validator("column", "format", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ColumnSpec:
        given = [k for k in ("column", "value", "sql") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'column', 'value' or 'sql'")
        return self


class Target(BaseModel):
    """One canonical entity filled from the file."""

    model_config = ConfigDict(extra="forbid")

    entity: str
    columns: dict[str, ColumnSpec]
    attributes: Literal["rest", "none"] | list[str] = "none"
    attributes_under: str | None = Field(
        None,
        description="Nest the kept columns under this key of `attributes`, so several files describing the same "
        "records keep theirs side by side (stored attributes are merged key by key).",
    )
    duplicate_keys: Literal["quarantine", "last_wins"] = "quarantine"
    external_id: str | None = Field(
        None, description="Source column holding another id of the same record, registered as an alias."
    )
    identity: Literal["match", "off"] = Field(
        "match", description="Match accounts by domain and contacts by e-mail to records under other ids."
    )
    where: str | None = Field(
        None, description="SQL condition ({{a|b}} as in 'sql'); rows where it is false are left to the other targets."
    )

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({"column": v} if isinstance(v, str | list) else v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _known_fields(self) -> Target:
        if self.entity not in ENTITIES:
            raise ValueError(f"unknown entity '{self.entity}'; entities: {', '.join(ENTITIES)}")
        ent = ENTITIES[self.entity]
        unknown = [c for c in self.columns if c not in ent.field_names]
        if unknown:
            raise ValueError(
                f"{self.entity} has no field(s) {', '.join(unknown)}; fields: {', '.join(ent.field_names)}"
            )
        if "attributes" in self.columns and self.attributes != "none":
            raise ValueError("map 'attributes' either as a column or with the 'attributes:' option, not both")
        if self.attributes_under is not None and self.attributes == "none":
            raise ValueError("'attributes_under' needs 'attributes: rest' or a list of columns")
        missing = [
            f
            for f in ent.required
            if f not in self.columns and not (ent.key_from_content and f in ent.key)
        ]
        if missing:
            raise ValueError(f"{self.entity} needs a mapping for required field(s): {', '.join(missing)}")
        if not ent.key_from_content:
            unmapped_key = [k for k in ent.key if k not in self.columns]
            if unmapped_key:
                raise ValueError(f"{self.entity} needs its key mapped: {', '.join(unmapped_key)}")
        if self.external_id is not None and ent.identity_field is None:
            raise ValueError("external_id is only for accounts and contacts")
        return self


class ReadOptions(BaseModel):
    """How to read the file. Everything left out is detected."""

    model_config = ConfigDict(extra="forbid")

    format: Format | None = None
    delimiter: str | None = None
    encoding: Literal["utf-8", "utf-8-sig", "latin-1", "cp1252"] | None = None
    decimal: Literal[".", ","] | None = None
    header: bool = True
    timezone: str | None = None
    date_format: list[str] | None = None
    day_first: bool | None = None
    null_values: list[str] = Field(default_factory=list)
    records: list[str] | None = Field(
        None,
        description="JSON: key(s) of the array holding the records when a document wraps them, as API list "
        "responses do ({\"tickets\": [...]}); the first present is used; other documents are one record each.",
    )
    unnest: str | None = Field(
        None,
        description="JSON: an array field expanded to one row per element; each row keeps the other fields "
        "and holds the element under the same key (rows whose array is empty or absent stay one row).",
    )

    @field_validator("date_format", "records", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, value: str | None) -> str | None:
        if value is not None:
            value = {"tab": "\t", "\\t": "\t"}.get(value, value)
            if len(value) != 1:
                raise ValueError("delimiter must be one character (or 'tab')")
        return value


class Mapping(ReadOptions):
    """Reading options plus the targets filled from each row."""

    source: str = "mapping"
    targets: list[Target]

    @model_validator(mode="before")
    @classmethod
    def _single_target_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and "entity" in data:
            data = dict(data)
            target = {k: data.pop(k) for k in list(data) if k in Target.model_fields}
            if "targets" in data:
                raise ValueError("use either 'entity:' (one target) or 'targets:' (several), not both")
            data["targets"] = [target]
        return data


class PresetFile(Mapping):
    """One entry of a preset: the file-name patterns it applies to, and its mapping."""

    match: list[str]
    description: str = ""

    @field_validator("match", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def matches(self, path: Path) -> bool:
        name = path.name.lower()
        return any(fnmatch.fnmatch(name, pattern.lower()) for pattern in self.match)


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    files: list[PresetFile]

    def mapping_for(self, path: Path) -> PresetFile:
        for entry in self.files:
            if entry.matches(path):
                return entry
        patterns = "; ".join(", ".join(e.match) for e in self.files)
        raise UsageError(f"preset '{self.name}' has no mapping for a file named '{path.name}'; it reads: {patterns}")


def _validate(model: type[BaseModel], data: Any, source: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(source, error)) from None


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: mapping file not found") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(error, 'problem', None) or error}") from None


def load_mapping(path: Path) -> Preset:
    """Read a user's mapping file. A plain mapping applies to every file; one with ``files:`` is a preset."""
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a mapping file must be a YAML mapping")
    if "files" in data:
        data.setdefault("name", path.stem)
        data.setdefault("description", f"mapping file {path}")
        preset: Preset = _validate(Preset, data, str(path))
        return preset
    data = dict(data)
    data.setdefault("source", path.stem)
    mapping: Mapping = _validate(Mapping, data, str(path))
    entry = PresetFile.model_validate({**mapping.model_dump(), "match": ["*"]})
    return Preset(name=path.stem, description=f"mapping file {path}", files=[entry])


def parse_preset(data: Any, source: str) -> Preset:
    preset: Preset = _validate(Preset, data, source)
    return preset


def canonical_mapping(entity_name: str, columns: list[str], source: str = "sinergia") -> Mapping:
    """Identity mapping for a file already in the canonical shape (column names = field names).

    Canonical times are UTC, so times without an offset are read as UTC, whatever the workspace's zone.
    """
    ent = entity(entity_name)
    present = [c for c in ent.field_names if c in columns]
    extra = [c for c in columns if c not in ent.field_names and not c.startswith("_")]
    cols: dict[str, Any] = {c: {"column": c} for c in present if c != "attributes" or not extra}
    target: dict[str, Any] = {"entity": entity_name, "columns": cols}
    if extra and "attributes" not in present:
        target["attributes"] = extra
    result: Mapping = _validate(
        Mapping, {"source": source, "timezone": "UTC", "targets": [target]}, f"canonical {entity_name}"
    )
    return result
