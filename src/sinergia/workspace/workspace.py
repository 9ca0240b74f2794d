"""A workspace: one folder with the config, the analytics engine file and the serving store.

Concurrency (DuckDB lets one process write a database file, and a writer locks readers out):

* the live engine file ``engine.duckdb`` is only ever opened **read-only**, so any number of readers
  (the server, a recompute, ``sinergia status``) work while an import runs;
* a writer takes the workspace lock (``.write.lock``, an ``flock``), copies the live file to a private
  temporary file, does all its work there, checkpoints, fsyncs and atomically renames it over the live file.

Readers that opened the old file keep reading the old snapshot; the next connection sees the new one.
A writer killed at any moment (even SIGKILL) leaves the live file exactly as before: the rename is the
commit. Leftover temporary files are removed by the next writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from sinergia.errors import UsageError, WorkspaceError
from sinergia.workspace.config import CONFIG_FILE, WorkspaceConfig, default_config_text, load_config

if TYPE_CHECKING:
    import ibis.backends.duckdb

ENGINE_FILE = "engine.duckdb"
STORE_FILE = "store.sqlite"
LOCK_FILE = ".write.lock"
TMP_PREFIX = ".engine-writing-"
ENV_VAR = "SINERGIA_WORKSPACE"


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    _fsync_path(tmp)
    tmp.replace(path)
    _fsync_path(path.parent)


@dataclass(frozen=True)
class Workspace:
    """An initialised workspace folder. Get one with :func:`open_workspace` or :func:`init_workspace`."""

    path: Path
    config: WorkspaceConfig

    @property
    def engine_path(self) -> Path:
        return self.path / ENGINE_FILE

    @property
    def store_path(self) -> Path:
        return self.path / STORE_FILE

    @property
    def store_url(self) -> str:
        """Serving-store URL: ``SINERGIA_DATABASE_URL`` when set (PostgreSQL for teams), else the SQLite file."""
        return os.environ.get("SINERGIA_DATABASE_URL") or f"sqlite:///{self.store_path}"

    # -- reading -------------------------------------------------------------------------------
    def duckdb_reader(self) -> duckdb.DuckDBPyConnection:
        """A read-only DuckDB connection on the current snapshot. Close it when done.

        The file is ATTACHed to a fresh in-memory database, not opened with ``duckdb.connect(path)``:
        DuckDB keeps one database instance per path in a process, so while any older connection is
        open a new ``connect(path)`` would be handed that instance — the replaced, stale snapshot.
        """
        con = duckdb.connect(":memory:")
        try:
            path = str(self.engine_path).replace("'", "''")
            con.execute(f"ATTACH '{path}' AS {Path(ENGINE_FILE).stem} (READ_ONLY)")
            con.execute(f"USE {Path(ENGINE_FILE).stem}")
        except BaseException:
            con.close()
            raise
        return con

    def connect(self) -> ibis.backends.duckdb.Backend:
        """A read-only Ibis connection on the current snapshot; tables are Ibis tables."""
        import ibis

        return ibis.duckdb.from_connection(self.duckdb_reader())

    def table(self, name: str) -> Any:
        """The canonical table ``name`` as an Ibis table expression (a fresh read-only connection)."""
        from sinergia.engine.tables import TABLE_NAMES

        if name not in TABLE_NAMES:
            raise UsageError(f"unknown table '{name}'; tables: {', '.join(TABLE_NAMES)}")
        return self.connect().table(name)

    # -- writing -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the workspace write lock (one writer at a time), waiting up to ``timeout`` seconds."""
        wait = self.config.ingest.lock_timeout_seconds if timeout is None else timeout
        deadline = time.monotonic() + wait
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise WorkspaceError(
                            f"another process has been writing to {self.path} for over {wait:.0f} s; "
                            "try again when it finishes"
                        ) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    @contextlib.contextmanager
    def writer(self, *, commit: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection on a private copy; the copy replaces the live file on success.

        With ``commit=False`` (dry runs) the copy is thrown away. An exception inside the block
        discards the copy too, so the live engine never holds half of a write.
        """
        with self.lock():
            self._remove_stale_copies()
            tmp = self.path / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}.duckdb"
            shutil.copyfile(self.engine_path, tmp)
            con = duckdb.connect(str(tmp))
            try:
                yield con
                if commit:
                    con.execute("CHECKPOINT")
                con.close()
                if commit:
                    _fsync_path(tmp)
                    tmp.replace(self.engine_path)
                    _fsync_path(self.path)
            finally:
                with contextlib.suppress(duckdb.Error):
                    con.close()
                for leftover in (tmp, Path(f"{tmp}.wal")):
                    leftover.unlink(missing_ok=True)

    def _remove_stale_copies(self) -> None:
        # Only called with the lock held, so no live writer owns these files.
        for stale in self.path.glob(f"{TMP_PREFIX}*"):
            if stale.is_dir():  # DuckDB's spill folder (<copy>.duckdb.tmp) of a killed writer
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def resolve_workspace_path(path: Path | str | None) -> Path:
    """``path`` if given, else ``$SINERGIA_WORKSPACE``, else the current folder."""
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path.cwd()


def open_workspace(path: Path | str | None = None) -> Workspace:
    """Open an initialised workspace; a clear error if the folder is not one."""
    root = resolve_workspace_path(path).resolve()
    config_path = root / CONFIG_FILE
    if not config_path.is_file():
        origin = "$" + ENV_VAR if os.environ.get(ENV_VAR) else "the current folder"
        hint = "" if path is not None else f" (from {origin})"
        raise WorkspaceError(
            f"{root}{hint} is not a Sinergia workspace (no {CONFIG_FILE}); create one with: sinergia init PATH"
        )
    if not (root / ENGINE_FILE).is_file():
        raise WorkspaceError(f"{root} has no {ENGINE_FILE}; run 'sinergia init {root}' to repair it")
    return Workspace(root, load_config(config_path))


def init_workspace(
    path: Path | str, *, name: str | None = None, timezone: str = "UTC", currency: str = "BRL"
) -> Workspace:
    """Create (or complete) a workspace folder. Existing data and config are never overwritten."""
    from sinergia.engine.tables import ensure_engine_schema
    from sinergia.store.migrate import upgrade_store
    from sinergia.workspace.config import parse_config

    root = Path(path).resolve()
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} exists and is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    config_path = root / CONFIG_FILE
    if not config_path.exists():
        text = default_config_text(name or root.name, timezone, currency)
        import yaml

        parse_config(yaml.safe_load(text), str(config_path))  # validates name/timezone/currency given here
        _atomic_write_text(config_path, text)
    config = load_config(config_path)
    (root / "mappings").mkdir(exist_ok=True)
    workspace = Workspace(root, config)
    engine = root / ENGINE_FILE
    with workspace.lock():
        if not engine.exists():
            tmp = root / f"{TMP_PREFIX}init-{uuid.uuid4().hex}.duckdb"
            con = duckdb.connect(str(tmp))
            try:
                ensure_engine_schema(con)
                con.execute("CHECKPOINT")
            finally:
                con.close()
            _fsync_path(tmp)
            tmp.replace(engine)
            _fsync_path(root)
    with workspace.writer() as con:
        ensure_engine_schema(con)  # adds tables/columns introduced by newer versions
    upgrade_store(workspace.store_url)
    return workspace
