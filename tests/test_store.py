"""The serving store's migrations match the models (SQLite and PostgreSQL), and go down and up again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from sinergia.store.db import make_engine
from sinergia.store.migrate import alembic_config, upgrade_store
from sinergia.store.models import Base

#: The tables of migration 0002 (the app's); other migrations are checked by their own tests.
APP_TABLES = {
    "users",
    "api_tokens",
    "web_sessions",
    "login_attempts",
    "recompute_runs",
    "account_snapshots",
    "metric_points",
    "score_points",
    "account_events",
    "tasks",
    "notes",
    "audit_log",
}


def _diffs(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as con:
            diffs = compare_metadata(MigrationContext.configure(con), Base.metadata)
    finally:
        engine.dispose()

    def table_of(diff: Any) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:]:
            name = getattr(part, "name", None) if not hasattr(part, "table") else part.table.name
            if isinstance(part, str):
                return None if part not in APP_TABLES else part
            if name:
                return str(name)
        return None

    return [d for d in diffs if table_of(d) in APP_TABLES]


def _check(url: str) -> None:
    upgrade_store(url)
    assert _diffs(url) == []
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) >= APP_TABLES
    finally:
        engine.dispose()
    command.downgrade(alembic_config(url), "0001")
    engine = make_engine(url)
    try:
        left = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert left & APP_TABLES == {"audit_log"}
    upgrade_store(url)
    assert _diffs(url) == []


def test_migrations_match_models_on_sqlite(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'store.sqlite'}")


def test_migrations_match_models_on_postgresql(postgres_server: Any) -> None:
    _check(postgres_server.database())


@pytest.mark.parametrize("table", sorted(APP_TABLES))
def test_every_app_table_is_a_model(table: str) -> None:
    assert table in Base.metadata.tables
