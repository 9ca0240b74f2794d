"""DDL for the engine file, generated from the canonical schema.

``ensure_engine_schema`` is idempotent and forward-only: it creates missing tables and adds columns
that a newer version of the schema declares, so an old workspace keeps working after an upgrade.
"""

from __future__ import annotations

import duckdb

from sinergia.schema import ENTITIES, Entity

#: Bookkeeping tables: column name → SQL type. Primary keys are listed separately.
BOOKKEEPING: dict[str, dict[str, str]] = {
    "imports": {
        "import_id": "VARCHAR",
        "started_at": "TIMESTAMP",
        "finished_at": "TIMESTAMP",
        "source": "VARCHAR",
        "file": "VARCHAR",
        "file_sha256": "VARCHAR",
        "entity": "VARCHAR",
        "read": "BIGINT",
        "loaded": "BIGINT",
        "updated": "BIGINT",
        "unchanged": "BIGINT",
        "merged": "BIGINT",
        "quarantined": "BIGINT",
    },
    "quarantine": {
        "import_id": "VARCHAR",
        "file": "VARCHAR",
        "file_sha256": "VARCHAR",
        "entity": "VARCHAR",
        "row_number": "BIGINT",
        "line": "BIGINT",
        "column_name": "VARCHAR",
        "reason": "VARCHAR",
        "raw": "VARCHAR",
        "quarantined_at": "TIMESTAMP",
    },
    "identity_map": {
        "entity": "VARCHAR",
        "alias_id": "VARCHAR",
        "canonical_id": "VARCHAR",
        "reason": "VARCHAR",
        "source": "VARCHAR",
        "import_id": "VARCHAR",
        "created_at": "TIMESTAMP",
    },
}
BOOKKEEPING_KEYS: dict[str, tuple[str, ...]] = {
    "imports": ("import_id", "file", "entity"),
    "quarantine": ("file_sha256", "entity", "row_number"),
    "identity_map": ("entity", "alias_id"),
}

#: Derived tables written by the score modules (``sinergia.scores``): one row per account, day and score.
SCORE_TABLES: dict[str, dict[str, str]] = {
    "account_scores": {
        "account_id": "VARCHAR",
        "as_of": "DATE",
        "score": "VARCHAR",
        "value": "DOUBLE",
        "band": "VARCHAR",
        "trend": "VARCHAR",
        "explanation": "VARCHAR",
        "model_version": "VARCHAR",
        "computed_at": "TIMESTAMP",
    },
}
SCORE_TABLE_KEYS: dict[str, tuple[str, ...]] = {"account_scores": ("account_id", "as_of", "score")}

#: Derived text tables written by ``sinergia.text.workspace`` (``sinergia text score``): one row per scored text.
TEXT_TABLES: dict[str, dict[str, str]] = {
    "text_sentiment": {
        "source_entity": "VARCHAR",
        "source_id": "VARCHAR",
        "field": "VARCHAR",
        "account_id": "VARCHAR",
        "at": "TIMESTAMP",
        "language": "VARCHAR",
        "sentiment": "DOUBLE",
        "polarity": "VARCHAR",
        "topic": "VARCHAR",
        "excerpt": "VARCHAR",
        "method": "VARCHAR",
        "model_version": "VARCHAR",
        "computed_at": "TIMESTAMP",
    },
}
TEXT_TABLE_KEYS: dict[str, tuple[str, ...]] = {"text_sentiment": ("source_entity", "source_id", "field")}

TABLE_NAMES: tuple[str, ...] = (*ENTITIES, *BOOKKEEPING, *SCORE_TABLES, *TEXT_TABLES)


def quote(identifier: str) -> str:
    """Quote an SQL identifier for DuckDB."""
    return '"' + identifier.replace('"', '""') + '"'


def entity_columns(entity: Entity) -> dict[str, str]:
    return {f.name: f.sql_type for f in entity.all_fields}


def _create(
    con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, str], key: tuple[str, ...] | None
) -> None:
    existing = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = 'main'",
            [name],
        ).fetchall()
    }
    if not existing:
        cols = ", ".join(f"{quote(c)} {t}" for c, t in columns.items())
        pk = f", PRIMARY KEY ({', '.join(map(quote, key))})" if key else ""
        con.execute(f"CREATE TABLE {quote(name)} ({cols}{pk})")
        return
    for column, sql_type in columns.items():
        if column not in existing:
            con.execute(f"ALTER TABLE {quote(name)} ADD COLUMN {quote(column)} {sql_type}")


def ensure_engine_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every canonical and bookkeeping table that is missing, add missing columns."""
    for entity in ENTITIES.values():
        # No PRIMARY KEY index on entity tables: the loader guarantees unique keys (anti-join + in-file
        # de-duplication, tested), and an ART index on 10M event keys would dominate load time.
        _create(con, entity.name, entity_columns(entity), None)
    for name, columns in BOOKKEEPING.items():
        _create(con, name, columns, BOOKKEEPING_KEYS[name])
    ensure_score_tables(con)
    ensure_text_tables(con)


def ensure_score_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the score tables if missing (workspaces made before they existed get them on first write)."""
    for name, columns in SCORE_TABLES.items():
        _create(con, name, columns, SCORE_TABLE_KEYS[name])


def ensure_text_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the derived text tables if missing (workspaces made before they existed get them on first write)."""
    for name, columns in TEXT_TABLES.items():
        _create(con, name, columns, TEXT_TABLE_KEYS[name])
