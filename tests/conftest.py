"""Shared test helpers.

``shared_data`` is ``../shared/data`` beside the checkout. Where it is absent (a user's laptop) tests that
need it skip with a reason; in CI (``CI`` set) its absence is a failure, never a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def require_shared_data() -> Path:
    """The shared data folder, or skip (fail in CI) when it is not there."""
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    if os.environ.get("CI"):
        pytest.fail(f"{SHARED_DATA} is missing; CI must run with ../shared beside the checkout")
    pytest.skip(f"{SHARED_DATA} not found (it sits beside the checkout in CI)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups for ``pytest -n 2 --dist loadgroup`` (scripts/test.sh): every Spark test runs on one worker (one
    JVM, one ~20 s session start), every other test with the rest of its module (module fixtures built once)."""
    for item in items:
        group = "spark" if item.get_closest_marker("spark") else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared_data()


@pytest.fixture(scope="session")
def postgres_server():  # type: ignore[no-untyped-def]
    """A throw-away PostgreSQL server for the whole session (tests/pg.py); skips outside CI without one."""
    from pg import postgres_or_skip

    yield from postgres_or_skip()
