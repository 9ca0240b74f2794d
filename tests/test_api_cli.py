"""The app's commands as a user runs them: sinergia user create | token | list, recompute, serve."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sinergia.workspace import init_workspace


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sinergia.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        check=False,
    )


@pytest.fixture(scope="module")
def ws_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "ws"
    init_workspace(root)
    return root


def test_user_commands(ws_path: Path) -> None:
    w = str(ws_path)
    made = run(
        "user",
        "create",
        "-w",
        w,
        "--email",
        "Ana@X.com",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a-long-password\n",
    )
    assert made.returncode == 0, made.stderr
    assert "Created ana@x.com (admin)" in made.stdout
    tokenless = run("user", "create", "-w", w, "--email", "bot@x.com", "--role", "viewer")
    assert tokenless.returncode == 0 and "without a password" in tokenless.stdout
    token = run("user", "token", "-w", w, "--email", "ana@x.com", "--name", "ci")
    assert token.returncode == 0
    secret = token.stdout.strip()
    assert secret.startswith("sng_") and len(secret.splitlines()) == 1
    listed = json.loads(run("user", "list", "-w", w, "-f", "json").stdout)
    assert [(u["email"], u["role"], u["password"]) for u in listed] == [
        ("ana@x.com", "admin", True),
        ("bot@x.com", "viewer", False),
    ]
    dup = run("user", "create", "-w", w, "--email", "ana@x.com", "--role", "csm")
    assert dup.returncode == 2 and "already exists" in dup.stderr
    bad = run("user", "create", "-w", w, "--email", "x@x.com", "--role", "boss")
    assert bad.returncode == 2 and "unknown role 'boss'" in bad.stderr
    short = run("user", "create", "-w", w, "--email", "y@x.com", "--role", "csm", "--password-stdin", stdin="abc\n")
    assert short.returncode == 2 and "too short" in short.stderr
    missing = run("user", "token", "-w", w, "--email", "ghost@x.com", "--name", "n")
    assert missing.returncode == 2 and "no user" in missing.stderr


def test_recompute_command(ws_path: Path) -> None:
    bad = run("recompute", "-w", str(ws_path), "--as-of", "31/10/2026")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    done = run("recompute", "-w", str(ws_path), "--as-of", "2026-10-31", "--metric", "mrr", "-f", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["as_of"] == "2026-10-31" and report["counts"]["snapshots"] == 0  # an empty workspace


def test_serve_answers_http(ws_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sinergia.cli.main",
            "serve",
            "-w",
            str(ws_path),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as answer:
                    assert json.loads(answer.read())["status"] == "ok"
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
        for stream in (server.stdout, server.stderr):
            if stream is not None:
                stream.close()
