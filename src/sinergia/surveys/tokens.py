"""Signed invitation tokens: ``<nonce>.<expires>.<signature>``.

``nonce`` is 24 random URL-safe characters (the invitation's id in the store), ``expires`` Unix seconds, and
``signature`` the URL-safe base64 (no padding) of HMAC-SHA256(key, ``"survey-invite.v1.<nonce>.<expires>"``).
The key comes from ``SINERGIA_SECRET_KEY`` when set (all app servers of a team share it), else from the file
``WORKSPACE/secret_key`` (32 random bytes, created with mode 0600 on first use).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sinergia.errors import ConfigError

ENV_VAR = "SINERGIA_SECRET_KEY"
SECRET_FILE = "secret_key"
_PURPOSE = b"survey-invite.v1."


class TokenError(Exception):
    """A token that is malformed, tampered with (``reason='invalid'``) or past its expiry (``'expired'``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Token:
    nonce: str
    expires: int


def secret_for(workspace_path: Path) -> bytes:
    """The signing key: ``$SINERGIA_SECRET_KEY`` (UTF-8 bytes, ≥ 16 characters), else the workspace's key file."""
    value = os.environ.get(ENV_VAR)
    if value:
        if len(value) < 16:
            raise ConfigError(f"{ENV_VAR} must be at least 16 characters (e.g. python -c 'import secrets; "
                              "print(secrets.token_urlsafe(32))')")
        return value.encode()
    path = workspace_path / SECRET_FILE
    if not path.exists():
        # written whole to a private temporary file, then hard-linked into place: two processes starting at once
        # agree on one key (the second link fails and that process reads the first one's file)
        temporary = workspace_path / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(32))
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    key = path.read_bytes()
    if len(key) < 16:
        raise ConfigError(f"{path} holds fewer than 16 bytes; delete it to make a new key (old links stop working)")
    return key


def _mac(key: bytes, nonce: str, expires: int) -> str:
    digest = hmac.new(key, _PURPOSE + f"{nonce}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_nonce() -> str:
    return secrets.token_urlsafe(18)  # 24 characters


def make(key: bytes, nonce: str, expires: int) -> str:
    return f"{nonce}.{expires}.{_mac(key, nonce, expires)}"


def parse(key: bytes, token: str, *, now: float | None = None) -> Token:
    """The token's nonce and expiry; :class:`TokenError` when tampered with, malformed or expired."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[0] or len(token) > 200:
        raise TokenError("invalid", "this survey link is not valid")
    nonce, expires_text, signature = parts
    expires = int(expires_text)
    if not hmac.compare_digest(signature, _mac(key, nonce, expires)):
        raise TokenError("invalid", "this survey link is not valid")
    if (time.time() if now is None else now) >= expires:
        raise TokenError("expired", "this survey link has expired")
    return Token(nonce, expires)
