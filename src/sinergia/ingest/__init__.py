"""Ingestion: read files, map them to canonical entities, validate, quarantine, load — atomically."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinergia.errors import InputError, UsageError
from sinergia.ingest.loader import (
    COUNT_KEYS,
    Counts,
    FileResult,
    ImportContext,
    load_file,
    propagate_aliases,
    release_scratch,
)
from sinergia.ingest.mapping import Mapping, Preset, canonical_mapping, load_mapping
from sinergia.ingest.presets import CANONICAL, describe_presets, get_preset, preset_names
from sinergia.schema import ENTITIES
from sinergia.workspace import Workspace

__all__ = [
    "ImportReport",
    "describe_presets",
    "ingest_files",
    "preset_names",
]


@dataclass
class ImportReport:
    """What one ``sinergia ingest`` did, per file and per entity."""

    import_id: str
    dry_run: bool
    files: list[FileResult]
    aliases: dict[str, int] = field(default_factory=dict)

    def by_entity(self) -> dict[str, Counts]:
        totals: dict[str, Counts] = {}
        for result in self.files:
            totals.setdefault(result.entity, Counts()).add(result.counts)
        return totals

    def totals(self) -> Counts:
        total = Counts()
        for counts in self.by_entity().values():
            total.add(counts)
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "dry_run": self.dry_run,
            **self.totals().as_dict(),
            "entities": {name: c.as_dict() for name, c in self.by_entity().items()},
            "files": [{"file": r.file, "entity": r.entity, **r.counts.as_dict()} for r in self.files],
            "aliases": self.aliases,
        }


def _canonical_for(path: Path) -> Mapping:
    stem = path.name.split(".")[0]
    if stem not in ENTITIES:
        raise UsageError(
            f"preset '{CANONICAL}' reads files named after an entity (<entity>.csv|parquet|json); "
            f"'{path.name}' is not one of: {', '.join(ENTITIES)}"
        )
    return Mapping(source=CANONICAL, targets=[])  # targets are filled once the columns are known


def ingest_files(
    workspace: Workspace,
    files: Sequence[Path | str],
    *,
    preset: str | None = None,
    mapping: Path | str | None = None,
    dry_run: bool = False,
    strict: bool = False,
    progress: Callable[[Path], None] | None = None,
) -> ImportReport:
    """Load ``files`` into ``workspace`` in one atomic write; return what happened to every row.

    Exactly one of ``preset`` and ``mapping`` is required. With ``dry_run`` everything is computed and
    reported but nothing is written. With ``strict`` the first invalid row aborts the whole import.
    """
    if (preset is None) == (mapping is None):
        raise UsageError("give either a preset (--preset NAME) or a mapping file (--mapping FILE.yaml)")
    paths = [Path(f) for f in files]
    if not paths:
        raise UsageError("no files given")
    chosen: Preset | None = None
    if mapping is not None:
        chosen = load_mapping(Path(mapping))
    elif preset != CANONICAL:
        chosen = get_preset(str(preset))
    plans: list[tuple[Path, Mapping, str]] = []
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: {'is a folder, not a file' if path.is_dir() else 'file not found'}")
        if chosen is None:
            plans.append((path, _canonical_for(path), CANONICAL))
        else:
            entry = chosen.mapping_for(path)
            plans.append((path, entry, entry.source if entry.source != "mapping" else chosen.name))
    ctx = ImportContext.new(workspace.config.timezone, workspace.config.ingest.day_first, strict)
    try:
        with workspace.writer(commit=not dry_run) as con:
            for path, planned, source_name in plans:
                plan = planned if planned.targets else _with_canonical_targets(con, path)
                load_file(con, path, plan, ctx, source_name)
                if progress is not None:
                    progress(path)
            propagate_aliases(con, ctx)
    finally:
        release_scratch()
    report = ImportReport(ctx.import_id, dry_run, ctx.results, dict(ctx.new_aliases))
    if not dry_run:
        from sinergia.store.migrate import audit

        audit(
            workspace.store_url,
            "ingest",
            ", ".join(str(p) for p in paths),
            {k: v for k, v in report.as_dict().items() if k in (*COUNT_KEYS, "import_id", "entities")},
        )
    return report


def _with_canonical_targets(con: Any, path: Path) -> Mapping:
    from sinergia.ingest.loader import open_source

    probe = Mapping(source=CANONICAL, targets=[])
    opened, _ = open_source(con, path, probe)
    stem = path.name.split(".")[0]
    columns = [c for c in opened.source.columns if c != "_width"]
    if opened.source.format in ("json", "ndjson"):  # the columns are the records' keys, in first-seen order
        columns = [
            str(r[0])
            for r in con.execute(
                f"SELECT k FROM (SELECT unnest(json_keys(json)) AS k, row_number() OVER () AS n "
                f"FROM {opened.source.view} WHERE json_type(json) = 'OBJECT') GROUP BY k ORDER BY min(n)"
            ).fetchall()
        ]
        if not columns:
            raise InputError(f"{path}: holds no valid JSON object (one record per object)")
    ent = ENTITIES[stem]
    missing = [f for f in ent.required if f not in columns and not (ent.key_from_content and f in ent.key)]
    if missing:
        raise InputError(
            f"{path}: missing required column(s) for {stem}: {', '.join(missing)}; columns found: {', '.join(columns)}"
        )
    return canonical_mapping(stem, columns, CANONICAL)


