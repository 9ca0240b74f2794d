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


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared_data()


@pytest.fixture(scope="session")
def postgres_server():  # type: ignore[no-untyped-def]
    """A throw-away PostgreSQL server for the whole session (tests/pg.py); skips outside CI without one."""
    from pg import postgres_or_skip

    yield from postgres_or_skip()
