"""Workspace folders: config, engine file, serving store, and the single-writer protocol."""

from sinergia.workspace.config import WorkspaceConfig
from sinergia.workspace.workspace import Workspace, init_workspace, open_workspace, resolve_workspace_path

__all__ = ["Workspace", "WorkspaceConfig", "init_workspace", "open_workspace", "resolve_workspace_path"]
