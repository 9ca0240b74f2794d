"""Ingestion over HTTP: a Segment-style batch of events, and entity upserts in canonical shape.

Same rules as ``sinergia ingest``: the body is written as a file under ``WORKSPACE/landing/api/`` and loaded
by :func:`sinergia.ingest.ingest_files` (the ``segment`` preset for events, the canonical ``sinergia``
preset for entities) under the workspace writer lock — validation, quarantine, dedupe, identity and
upsert are the loader's. The landing file stays as the evidence quarantine rows point at.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from sinergia.schema import ENTITIES
from sinergia.store.db import transaction
from sinergia.store.repo import NotFound, audit
from sinergia.workspace import Workspace

from ..deps import Permission, Principal

router = APIRouter(tags=["ingest"])
MAX_RECORDS = 10_000
#: How long an API import waits for another writer before answering 503 (the CLI waits longer).
LOCK_WAIT_SECONDS = 30.0


class SegmentBatch(BaseModel):
    """The body Segment's HTTP Tracking API ``/v1/batch`` takes."""

    model_config = ConfigDict(extra="forbid")
    batch: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_RECORDS)
    sentAt: str | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    writeKey: str | None = None


class Records(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_RECORDS)


class ImportOut(BaseModel):
    import_id: str
    dry_run: bool
    counts: dict[str, int]
    entities: dict[str, dict[str, int]]
    quarantined: list[dict[str, Any]]
    file: str


def _landing(ws: Workspace, name: str) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    folder = ws.path / "landing" / "api" / f"{stamp}-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _write_ndjson(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


def _load(request: Request, principal: Principal, path: Path, preset: str, dry_run: bool) -> ImportOut:
    from sinergia.engine.inspect import quarantine_rows
    from sinergia.ingest import ingest_files

    ws: Workspace = request.app.state.workspace
    settings = ws.config.ingest.model_copy(update={"lock_timeout_seconds": LOCK_WAIT_SECONDS})
    patient = dataclasses.replace(ws, config=ws.config.model_copy(update={"ingest": settings}))
    report = ingest_files(patient, [path], preset=preset, dry_run=dry_run)
    data = report.as_dict()
    counts = {k: int(v) for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}
    quarantined = [] if dry_run else quarantine_rows(ws, import_id=report.import_id, limit=1000)
    if not dry_run:
        with transaction(request.app.state.store_url) as session:
            audit(
                session,
                principal.actor,
                "ingest.api",
                str(path.relative_to(ws.path)),
                {"import_id": report.import_id, "preset": preset, **counts},
            )
    return ImportOut(
        import_id=report.import_id,
        dry_run=dry_run,
        counts=counts,
        entities={name: {k: int(v) for k, v in c.as_dict().items()} for name, c in report.by_entity().items()},
        quarantined=[{k: v for k, v in q.items() if k != "import_id"} for q in quarantined],
        file=str(path.relative_to(ws.path)),
    )


@router.post("/ingest/events")
def ingest_events(
    body: SegmentBatch,
    request: Request,
    principal: Annotated[Principal, Depends(Permission("ingest:write"))],
    dry_run: Annotated[bool, Query(description="Validate and count; write nothing.")] = False,
) -> ImportOut:
    """A Segment-style batch (identify → contacts, group → accounts, track/page/screen → usage events)."""
    ws: Workspace = request.app.state.workspace
    path = _landing(ws, "events.ndjson")
    _write_ndjson(path, body.batch)
    return _load(request, principal, path, "segment", dry_run)


@router.post("/ingest/{entity}")
def ingest_entity(
    entity: str,
    body: Records,
    request: Request,
    principal: Annotated[Principal, Depends(Permission("ingest:write"))],
    dry_run: Annotated[bool, Query(description="Validate and count; write nothing.")] = False,
) -> ImportOut:
    """Upsert records of one canonical entity (field names as in docs/data-model.md); keyed rows update."""
    if entity not in ENTITIES:
        raise NotFound(f"unknown entity '{entity}'; entities: {', '.join(ENTITIES)}")
    ws: Workspace = request.app.state.workspace
    path = _landing(ws, f"{entity}.ndjson")
    _write_ndjson(path, body.records)
    return _load(request, principal, path, "sinergia", dry_run)
