"""Roles and what each may do: the permission matrix, as data.

A permission is ``<area>:<action>``. Routes declare the one permission they need; the matrix below is the
only place that says which role holds it (``docs/app.md`` renders it as a table, and a test enumerates every
route against it).
"""

from __future__ import annotations

from sinergia.store.models import ROLES

#: Every permission, with what it allows.
PERMISSIONS: dict[str, str] = {
    "accounts:read": "list accounts, open the Customer 360, read journey events",
    "metrics:read": "read metric definitions, values and the rows behind them",
    "scores:read": "read health, churn-risk and CLV scores and their history",
    "tasks:read": "list tasks",
    "tasks:write": "create, update, complete and snooze tasks",
    "notes:read": "read notes on accounts",
    "notes:write": "write notes on accounts",
    "ingest:write": "send events and entity upserts through the ingestion API",
    "audit:read": "read the audit log",
    "outbox:read": "see outbox deliveries (e-mails, webhooks, Slack): status, attempts, errors, next retry",
    "outbox:write": "retry a failed or dead outbox delivery now",
    "cases:read": "see open closed-loop feedback cases (SLA due, escalation level)",
    "cases:write": "close a feedback case with its root cause and the action taken",
    "users:admin": "list and create users, change their role, name, language or active flag",
}

_READ = frozenset({"accounts:read", "metrics:read", "scores:read", "tasks:read", "notes:read"})
_WORK = frozenset({"tasks:write", "notes:write"})

#: role -> the permissions it holds.
MATRIX: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "manager": _READ | _WORK | {"audit:read", "outbox:read", "outbox:write", "cases:read", "cases:write"},
    "csm": _READ | _WORK | {"cases:read", "cases:write"},
    "support": _READ | _WORK | {"cases:read"},
    "viewer": _READ,
}

assert set(MATRIX) == set(ROLES), "every role needs a row in the permission matrix"
assert all(p in PERMISSIONS for perms in MATRIX.values() for p in perms)


def has_permission(role: str, permission: str) -> bool:
    """Whether ``role`` holds ``permission`` (unknown roles hold nothing)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission '{permission}'")
    return permission in MATRIX.get(role, frozenset())


def roles_with(permission: str) -> list[str]:
    """The roles that hold ``permission``, in the order of :data:`ROLES`."""
    return [role for role in ROLES if has_permission(role, permission)]


def matrix_markdown() -> str:
    """The matrix as a Markdown table (for docs/app.md)."""
    head = "| permission | allows | " + " | ".join(ROLES) + " |"
    rule = "|---|---|" + "---|" * len(ROLES)
    rows = [
        f"| `{p}` | {text} | " + " | ".join("✓" if p in MATRIX[r] else "" for r in ROLES) + " |"
        for p, text in PERMISSIONS.items()
    ]
    return "\n".join([head, rule, *rows])
