"""A throw-away PostgreSQL server for the tests, started from the installed binaries (``initdb``/``pg_ctl``).

``SINERGIA_TEST_POSTGRES_URL`` (a server URL, e.g. ``postgresql+psycopg://u:p@host:5432/postgres``) uses an
existing server instead. Without either, tests that need PostgreSQL skip with a reason — except in CI
(``CI`` set), where ``scripts/test.sh`` installs Debian's ``postgresql`` and a missing server is a failure.

PostgreSQL refuses to run as root; as root the server runs as the ``postgres`` (or ``nobody``) user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ENV_URL = "SINERGIA_TEST_POSTGRES_URL"


def find_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (PATH first, then Debian's versioned folders)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True):
        return candidate.parent
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return ["runuser", "-u", name, "--"]
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


@dataclass
class PgServer:
    """A running server; :meth:`database` creates a fresh empty database and returns its SQLAlchemy URL."""

    base_url: str  # ends with /postgres
    folder: Path | None = None
    bin_dir: Path | None = None

    def database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        conninfo = self.base_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.base_url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        if self.folder is None or self.bin_dir is None:
            return
        subprocess.run(
            [*_run_as(), str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def start_server() -> PgServer:
    bin_dir = find_binaries()
    assert bin_dir is not None
    prefix = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="sinergia-pg-"))
    data = folder / "data"
    if prefix:
        user = prefix[2]
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    subprocess.run(
        [
            *prefix,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "sinergia",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        ],
        capture_output=True,
        check=True,
    )
    port = _free_port()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        [
            *prefix,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        capture_output=True,
        check=True,
    )
    server = PgServer(f"postgresql+psycopg://sinergia@127.0.0.1:{port}/postgres", folder, bin_dir)
    deadline = time.monotonic() + 30
    while True:
        try:
            import psycopg

            with psycopg.connect(f"postgresql://sinergia@127.0.0.1:{port}/postgres", connect_timeout=2):
                break
        except Exception:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.2)
    return server


def postgres_or_skip() -> Iterator[PgServer]:
    """Generator behind the session fixture: yields a server, skips (fails in CI) when none can be had."""
    given = os.environ.get(ENV_URL)
    if given:
        yield PgServer(given)
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        reason = "psycopg is not installed (pip install -e '.[postgres]')"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    if find_binaries() is None:
        reason = "PostgreSQL binaries (initdb, pg_ctl) not found; install Debian's postgresql or set " + ENV_URL
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    server = start_server()
    try:
        yield server
    finally:
        server.stop()
