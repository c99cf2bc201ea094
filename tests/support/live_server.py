"""A real Slotgate server process on a free loopback port, and fresh databases for it."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import closing as contextlib_closing
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

POSTGRES_URL = os.environ.get("SLOTGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
START_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_postgres() -> None:
    """PostgreSQL tests run in CI and fail there when it is missing; elsewhere they skip."""
    if postgres_reachable():
        return
    message = f"PostgreSQL is not reachable at {POSTGRES_URL}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must provide it)")
    pytest.skip(message)


@contextmanager
def fresh_database(store: str, tmp_dir: Path) -> Iterator[str]:
    """A database URL for a store with nothing in it, removed afterwards."""
    if store == "sqlite":
        yield f"sqlite:///{tmp_dir / f'slotgate-{uuid.uuid4().hex[:8]}.db'}"
        return
    require_postgres()
    name = f"slotgate_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class LiveServer:
    database_url: str
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    workers: int = 1  # uvicorn worker processes sharing the port (PostgreSQL only)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        env = {
            **os.environ,
            "SLOTGATE_DATABASE_URL": self.database_url,
            "SLOTGATE_MIN_LEASE_SECONDS": "0.5",
            "SLOTGATE_LEASE_SWEEP_SECONDS": "0.25",
            **self.env,
        }
        command = [sys.executable, "-m", "uvicorn", "--factory", "slotgate_server.app:create_app"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.wait_until_healthy()
        return self

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"The server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"The server did not become healthy in {START_TIMEOUT_SECONDS} s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def running_server(
    database_url: str, tmp_dir: Path, env: Mapping[str, str] | None = None, workers: int = 1
) -> Iterator[LiveServer]:
    server = LiveServer(
        database_url=database_url,
        log_path=tmp_dir / f"server-{uuid.uuid4().hex[:6]}.log",
        env=env or {},
        workers=workers,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def count_rows(database_url: str, table: str, where: str = "1 = 1") -> int:
    """Rows of a server's table, read beside the server (for what no API shows yet)."""
    query = f"SELECT count(*) FROM {table} WHERE {where}"
    if database_url.startswith("sqlite"):
        with contextlib_closing(sqlite3.connect(database_url.split("///", 1)[1])) as conn:
            return int(conn.execute(query).fetchone()[0])
    with psycopg.connect(database_url) as conn:
        row = conn.execute(query).fetchone()
        assert row is not None
        return int(row[0])
