"""`slotgate server start`: the real command, its start-up line and its refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from slotgate.cli.server import redacted
from tests.support.live_server import free_port


def start(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str, int]:
    port = free_port()
    command = [sys.executable, "-m", "slotgate.cli", "server", "start", "--port", str(port), *args]
    environment = {**os.environ, "SLOTGATE_DATABASE_URL": f"sqlite:///{tmp_path}/start.db"}
    environment.pop("SLOTGATE_API_KEYS", None)
    environment.update(env or {})
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    first_line = process.stdout.readline()
    return process, first_line, port


def wait_healthy(port: int) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize(("keys", "access"), [(None, "access control: off"), ("admin:k1", "access control: on")])
def test_start_says_where_which_store_and_access(tmp_path: Path, keys: str | None, access: str) -> None:
    process, line, port = start(tmp_path, env={"SLOTGATE_API_KEYS": keys} if keys else None)
    try:
        assert f"listening on http://127.0.0.1:{port}" in line
        assert "store: sqlite" in line and access in line
        assert wait_healthy(port).json()["store"] == "sqlite"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def test_database_url_flag_and_workers_need_postgresql(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "slotgate.cli", "server", "start", "--workers", "2"],
        env={**os.environ, "SLOTGATE_DATABASE_URL": f"sqlite:///{tmp_path}/w.db"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "PostgreSQL" in result.stderr
    process, line, port = start(tmp_path, "--database-url", f"sqlite:///{tmp_path}/flag.db")
    try:
        assert f"{tmp_path}/flag.db" in line
        wait_healthy(port)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert Path(tmp_path, "flag.db").exists()


def test_bad_database_url_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "slotgate.cli", "server", "start", "--database-url", "mysql://x@y/z"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Unsupported database URL" in result.stderr


def test_the_start_up_line_hides_database_passwords() -> None:
    assert redacted("postgresql+psycopg://app:s3cret@db:5432/slots") == "postgresql+psycopg://app:***@db:5432/slots"
    assert redacted("postgresql+psycopg://app@db/slots") == "postgresql+psycopg://app@db/slots"
    assert redacted("sqlite:////var/lib/slotgate.db") == "sqlite:////var/lib/slotgate.db"
