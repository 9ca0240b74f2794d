"""Read-side summaries of a workspace: what it holds, what was imported, what was quarantined."""

from __future__ import annotations

from typing import Any

from sinergia.schema import ENTITIES
from sinergia.workspace import Workspace


def workspace_status(workspace: Workspace) -> dict[str, Any]:
    """Row counts per entity, quarantine and identity totals, and the latest imports."""
    con = workspace.duckdb_reader()
    try:
        entities: dict[str, dict[str, Any]] = {}
        for name in ENTITIES:
            count, last = con.execute(f'SELECT count(*), max(_loaded_at) FROM "{name}"').fetchone() or (0, None)
            entities[name] = {"rows": int(count), "last_loaded_at": last.isoformat() if last else None}
        quarantined = dict(
            con.execute("SELECT entity, count(*) FROM quarantine GROUP BY entity ORDER BY entity").fetchall()
        )
        aliases = dict(
            con.execute("SELECT entity, count(*) FROM identity_map GROUP BY entity ORDER BY entity").fetchall()
        )
        imports = [
            {
                "import_id": r[0],
                "finished_at": r[1].isoformat() if r[1] else None,
                "source": r[2],
                "files": int(r[3]),
                "read": int(r[4]),
                "loaded": int(r[5]),
                "updated": int(r[6]),
                "quarantined": int(r[7]),
            }
            for r in con.execute(
                "SELECT import_id, max(finished_at), any_value(source), count(DISTINCT file), sum(read), "
                "sum(loaded), sum(updated), sum(quarantined) FROM imports GROUP BY import_id "
                "ORDER BY max(finished_at) DESC LIMIT 5"
            ).fetchall()
        ]
    finally:
        con.close()
    return {
        "workspace": str(workspace.path),
        "name": workspace.config.name,
        "timezone": workspace.config.timezone,
        "currency": workspace.config.currency,
        "engine_bytes": workspace.engine_path.stat().st_size,
        "entities": entities,
        "quarantined": {k: int(v) for k, v in quarantined.items()},
        "identity_aliases": {k: int(v) for k, v in aliases.items()},
        "recent_imports": imports,
    }


def quarantine_rows(
    workspace: Workspace, *, entity: str | None = None, import_id: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Quarantined rows, newest import first, each with file, line, column and reason."""
    if entity is not None and entity not in ENTITIES:
        from sinergia.errors import UsageError

        raise UsageError(f"unknown entity '{entity}'; entities: {', '.join(ENTITIES)}")
    where, params = [], []
    if entity is not None:
        where.append("entity = ?")
        params.append(entity)
    if import_id is not None:
        where.append("import_id = ?")
        params.append(import_id)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    con = workspace.duckdb_reader()
    try:
        rows = con.execute(
            "SELECT import_id, file, entity, row_number, line, column_name, reason, raw FROM quarantine "
            f"{clause} ORDER BY quarantined_at DESC, file, entity, row_number LIMIT ?",
            [*params, limit],
        ).fetchall()
    finally:
        con.close()
    keys = ("import_id", "file", "entity", "row", "line", "column", "reason", "raw")
    return [dict(zip(keys, r, strict=True)) for r in rows]
