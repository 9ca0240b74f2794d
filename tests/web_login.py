"""Logging a test client into the web app through the real login form (CSRF token included)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    found = CSRF.search(html)
    assert found, "no csrf_token field in the page"
    return found.group(1)


def logged_in(app: object, email: str, password: str, next_path: str = "/") -> TestClient:
    """A browser-like client (asks for HTML) with a session for ``email``."""
    client = TestClient(app, headers={"accept": "text/html"})  # type: ignore[arg-type]
    token = csrf_of(client.get("/login").text)
    done = client.post("/login", data={"email": email, "password": password, "csrf_token": token,
                                       "next": next_path}, follow_redirects=False)
    assert done.status_code == 303
    return client
