"""Users, roles, password hashes, API tokens, sessions and CSRF (no web framework here; see ``core``)."""

from sinergia.auth.core import (
    AuthenticationError,
    PermissionDenied,
    RateLimited,
    authenticate,
    can,
    check_csrf,
    close_session,
    create_user,
    get_user,
    issue_token,
    list_users,
    open_session,
    require,
    session_user,
    user_for_token,
)
from sinergia.auth.permissions import MATRIX, PERMISSIONS, has_permission

__all__ = [
    "MATRIX",
    "PERMISSIONS",
    "AuthenticationError",
    "PermissionDenied",
    "RateLimited",
    "authenticate",
    "can",
    "check_csrf",
    "close_session",
    "create_user",
    "get_user",
    "has_permission",
    "issue_token",
    "list_users",
    "open_session",
    "require",
    "session_user",
    "user_for_token",
]
