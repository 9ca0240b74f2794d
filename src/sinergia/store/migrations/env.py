"""Alembic environment for the serving store."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from sinergia.store import (
    playbook_models,  # noqa: F401  (registers the 0003 tables on Base)
    survey_models,  # noqa: F401  (registers the 0004 tables on Base)
)
from sinergia.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
