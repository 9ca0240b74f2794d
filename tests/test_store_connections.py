"""A request holds one store connection: helpers it calls must not open a second one.

With 20 concurrent Customer 360 requests and a pool of 15, a helper that inspected the engine (a second
connection) while its request held the first made every request wait for the 30 s pool timeout
(benchmarks/web.py found it). A pool of one connection turns that bug into an immediate failure.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from sinergia.store.migrate import upgrade_store
from sinergia.web.tasks import open_cases


def test_customer_360_helpers_reuse_the_request_connection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade_store(url)
    engine = create_engine(url, poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=1)
    try:
        with Session(engine) as session:
            session.connection()  # the request's connection: the pool is now empty
            assert open_cases(session, "acme") == []  # a second checkout would raise TimeoutError after 1 s
    finally:
        engine.dispose()
