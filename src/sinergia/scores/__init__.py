"""Scores per account and day: the score history table, health scorecards (and, from other modules,
churn risk, CLV and expansion propensity, which all store their results through :mod:`.history`).

Python API::

    from sinergia.scores import write_scores, read_scores, latest_scores
    from sinergia.scores.health import score_accounts, compute_history

The submodules load on first use, so importing ``sinergia.scores.config`` (the config model) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sinergia.scores.history import latest_scores, read_scores, write_scores

__all__ = ["latest_scores", "read_scores", "write_scores"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sinergia.scores import history

        return getattr(history, name)
    raise AttributeError(f"module 'sinergia.scores' has no attribute '{name}'")
