"""Sinergia: one view of each customer for Customer Success, Customer Experience and Support.

Python API::

    import sinergia
    ws = sinergia.connect("my-workspace")       # an initialised workspace folder
    accounts = ws.table("accounts")             # an Ibis table (read-only snapshot)
    accounts.group_by("segment").count().to_pandas()
"""

from __future__ import annotations

from pathlib import Path

from sinergia.workspace import Workspace, init_workspace, open_workspace

__version__ = "0.1.0"
__all__ = ["Workspace", "__version__", "connect", "init_workspace"]


def connect(path: Path | str | None = None) -> Workspace:
    """Open the workspace at ``path`` (default: ``$SINERGIA_WORKSPACE``, then the current folder)."""
    return open_workspace(path)
