"""Built-in presets: one YAML file each in this folder, plus ``sinergia`` (files already in canonical shape).

A preset maps the files of a known export (by file-name pattern) to canonical entities, so a user loads
them with ``sinergia ingest FILE... --preset NAME``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from sinergia.errors import UsageError
from sinergia.ingest.mapping import Preset, parse_preset

HERE = Path(__file__).parent
CANONICAL = "sinergia"


@functools.cache
def _load_all() -> dict[str, Preset]:
    presets = {}
    for path in sorted(HERE.glob("*.yaml")):
        preset = parse_preset(yaml.safe_load(path.read_text(encoding="utf-8")), f"preset {path.name}")
        presets[preset.name] = preset
    return presets


def preset_names() -> list[str]:
    return sorted([CANONICAL, *_load_all()])


def describe_presets() -> dict[str, str]:
    out = {CANONICAL: "Files already in Sinergia's canonical shape, named <entity>.csv|parquet|json (e.g. the demo)."}
    out.update({name: p.description for name, p in _load_all().items()})
    return dict(sorted(out.items()))


def get_preset(name: str) -> Preset:
    presets = _load_all()
    if name not in presets:
        raise UsageError(f"unknown preset '{name}'; presets: {', '.join(preset_names())}")
    return presets[name]
