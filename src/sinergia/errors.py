"""Every error Sinergia raises on purpose.

Core code raises these; only the CLI (and later the API) turns them into a message and an exit code.
Each carries a one-line, human message: what is wrong, and where possible what would be right.
"""

from __future__ import annotations


class SinergiaError(Exception):
    """Base of every expected error. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class ConfigError(SinergiaError):
    """The workspace config or a mapping file is invalid."""

    exit_code = 2


class UsageError(SinergiaError):
    """The caller asked for something that does not exist (unknown preset, entity, option value)."""

    exit_code = 2


class WorkspaceError(SinergiaError):
    """The workspace is missing, not initialised, or locked by another writer for too long."""

    exit_code = 3


class InputError(SinergiaError):
    """An input file cannot be read as a whole (wrong format, bad encoding, missing columns, empty)."""

    exit_code = 4


class ModelError(SinergiaError):
    """A model cannot be estimated on these data (no variation, no events, no convergence)."""


class StrictModeError(InputError):
    """``--strict`` was given and a row failed validation; the message names the row."""
