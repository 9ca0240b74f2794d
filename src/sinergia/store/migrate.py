"""Run the serving store's Alembic migrations programmatically (no alembic.ini needed by users)."""

from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from sinergia.store.models import AuditEntry

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_store(url: str) -> None:
    """Bring the serving store at ``url`` to the newest schema (idempotent)."""
    command.upgrade(alembic_config(url), "head")


def audit(url: str, action: str, target: str, details: dict[str, Any], actor: str | None = None) -> None:
    """Append one audit row. The actor defaults to the operating-system user running the CLI."""
    engine = create_engine(url)
    try:
        with Session(engine) as session, session.begin():
            session.add(
                AuditEntry(
                    at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    actor=actor or f"cli:{getpass.getuser()}",
                    action=action,
                    target=target,
                    details=details,
                )
            )
    finally:
        engine.dispose()
