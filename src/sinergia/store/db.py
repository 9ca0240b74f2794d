"""Engines and sessions for the serving store.

SQLite (the default) runs in WAL mode with a busy timeout, so readers keep reading while a recompute or an
import writes (one writer at a time, readers never blocked). PostgreSQL (``SINERGIA_DATABASE_URL``) needs
nothing special: MVCC gives readers the last committed snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """A new engine for ``url`` (callers own it and dispose of it)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def store_engine(url: str) -> Engine:
    """The process-wide engine for ``url`` (created once, shared by the app's requests)."""
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = make_engine(url)
        return engine


def dispose_engine(url: str) -> None:
    """Close the pooled connections of ``url``'s shared engine (tests, shutdown)."""
    with _LOCK:
        engine = _ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=store_engine(url), expire_on_commit=False)


@contextmanager
def transaction(url: str) -> Iterator[Session]:
    """A session inside one transaction: committed on success, rolled back on any error."""
    with session_factory(url)() as session, session.begin():
        yield session
