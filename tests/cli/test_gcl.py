"""`slotgate gcl` against a real server: every command, flag, output and exit code."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import uuid

import pytest
from typer.testing import CliRunner

from slotgate import SlotgateClient
from slotgate.cli import app
from tests.support.live_server import LiveServer

LIMIT_KEYS = {
    "id",
    "name",
    "limit",
    "slot_decay_per_second",
    "active",
    "active_slots",
    "denied_slots",
    "avg_slot_occupancy_seconds",
    "open_leases",
    "created",
    "updated",
}


@pytest.fixture
def cli(sdk_server: LiveServer, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SLOTGATE_API_URL", sdk_server.url)
    monkeypatch.delenv("SLOTGATE_API_KEY", raising=False)
    runner = CliRunner()

    def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["gcl", *args], input=input)

    return run


@pytest.fixture
def name() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


def as_json(result) -> object:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_create_inspect_and_json_keys(cli, name: str) -> None:  # type: ignore[no-untyped-def]
    created = cli("create", name, "--limit", "3", "--slot-decay-per-second", "0.5", "--disable")
    assert created.exit_code == 0 and f"Created limit '{name}' with 3 slots." in created.stdout
    limit = as_json(cli("inspect", name, "-o", "json"))
    assert isinstance(limit, dict) and set(limit) == LIMIT_KEYS
    assert (limit["limit"], limit["slot_decay_per_second"], limit["active"]) == (3, 0.5, False)
    table = cli("inspect", name)
    assert table.exit_code == 0
    assert name in table.stdout and "0 / 3 slots occupied" in table.stdout and "no (never blocks)" in table.stdout


def test_ls_shows_live_usage(cli, name: str, sdk_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    cli("create", name, "--limit", "4")
    SlotgateClient(sdk_server.url).acquire([name], slots=3, holder="ls-test")
    listed = cli("ls", "--name-prefix", name)
    assert listed.exit_code == 0
    row = next(line for line in listed.stdout.splitlines() if name in line)
    assert "3 / 4" in row
    items = as_json(cli("ls", "--name-prefix", name, "-o", "json"))
    assert isinstance(items, list) and items[0]["active_slots"] == 3 and items[0]["open_leases"] == 1


def test_ls_walks_every_page(cli, sdk_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    prefix = f"many-{uuid.uuid4().hex[:6]}-"
    client = SlotgateClient(sdk_server.url)
    from slotgate import _protocol

    names = [f"{prefix}{i:03d}" for i in range(105)]  # more than one page of 100
    for limit_name in names:
        client.call(_protocol.create(limit_name, limit=1))
    items = as_json(cli("ls", "--name-prefix", prefix, "-o", "json"))
    assert isinstance(items, list) and [item["name"] for item in items] == names


def test_update_enable_disable(cli, name: str) -> None:  # type: ignore[no-untyped-def]
    cli("create", name, "--limit", "1")
    assert cli("update", name, "--limit", "7", "--slot-decay-per-second", "2", "--disable").exit_code == 0
    limit = as_json(cli("inspect", name, "-o", "json"))
    assert isinstance(limit, dict) and (limit["limit"], limit["slot_decay_per_second"], limit["active"]) == (
        7,
        2,
        False,
    )
    assert "Enabled" in cli("enable", name).stdout
    assert as_json(cli("inspect", name, "-o", "json"))["active"] is True  # type: ignore[index]
    assert "Disabled" in cli("disable", name).stdout
    assert as_json(cli("inspect", name, "-o", "json"))["active"] is False  # type: ignore[index]
    assert cli("update", name, "--enable").exit_code == 0
    assert as_json(cli("inspect", name, "-o", "json"))["active"] is True  # type: ignore[index]


def test_update_refuses_both_enable_and_disable(cli, name: str) -> None:  # type: ignore[no-untyped-def]
    cli("create", name, "--limit", "1")
    both = cli("update", name, "--enable", "--disable")
    assert both.exit_code == 2 and "not both" in both.output
    nothing = cli("update", name)
    assert nothing.exit_code == 2 and "at least one" in nothing.output
    assert as_json(cli("inspect", name, "-o", "json"))["active"] is True  # type: ignore[index]


def test_leases_shows_holders(cli, name: str, sdk_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    cli("create", name, "--limit", "5")
    lease = SlotgateClient(sdk_server.url).acquire([name], slots=2, holder="host-7/999", lease_duration=120)
    table = cli("leases", name)
    assert table.exit_code == 0 and "host-7/999" in table.stdout and str(lease.fencing_token) in table.stdout
    assert "from now" in table.stdout  # expiry, humanised
    items = as_json(cli("leases", name, "-o", "json"))
    assert isinstance(items, list) and items[0]["id"] == lease.id and items[0]["slots"] == 2


def delete_on_a_terminal(url: str, name: str, answer: str) -> tuple[int, str]:
    """Run `slotgate gcl delete NAME` with a real pseudo-terminal as its input."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "SLOTGATE_API_URL": url}
    command = [sys.executable, "-m", "slotgate.cli", "gcl", "delete", name]
    with subprocess.Popen(
        command, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    ) as process:
        os.write(controller, answer.encode() + b"\n")
        output, _ = process.communicate(timeout=60)
    os.close(controller)
    os.close(terminal)
    return process.returncode, output.decode()


def test_delete_asks_on_a_terminal(cli, name: str, sdk_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    cli("create", name, "--limit", "1")
    code, output = delete_on_a_terminal(sdk_server.url, name, "n")
    assert code == 1 and f"Delete limit '{name}'?" in output
    assert cli("inspect", name).exit_code == 0
    code, output = delete_on_a_terminal(sdk_server.url, name, "y")
    assert code == 0 and "Deleted" in output
    assert cli("inspect", name).exit_code == 1


def test_delete_without_a_terminal_does_not_hang(cli, name: str) -> None:  # type: ignore[no-untyped-def]
    cli("create", name, "--limit", "1")
    refused = cli("delete", name)  # the runner's input is no terminal
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert cli("delete", name, "--yes").exit_code == 0
    assert cli("inspect", name).exit_code == 1


def test_errors_are_one_line_with_exit_code_one(cli, name: str) -> None:  # type: ignore[no-untyped-def]
    missing = cli("inspect", name)
    assert missing.exit_code == 1
    assert missing.stderr.strip() == f"Error: There is no limit named '{name}'; list them with GET /api/v1/limits."
    cli("create", name, "--limit", "1")
    taken = cli("create", name, "--limit", "1")
    assert taken.exit_code == 1 and "already exists" in taken.stderr and "Traceback" not in taken.output
    invalid = cli("create", "a/b", "--limit", "1")
    assert invalid.exit_code == 1 and "not a valid limit name" in invalid.stderr
    assert cli("create", name + "x", "--limit", "-1").exit_code == 2  # refused before any call
    assert cli("create", name + "y").exit_code == 2  # --limit is required


def test_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOTGATE_API_URL", "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["gcl", "ls"])
    assert result.exit_code == 1 and "did not answer" in result.stderr and "Traceback" not in result.output


def test_help_documents_every_command() -> None:
    result = CliRunner().invoke(app, ["gcl", "--help"])
    assert result.exit_code == 0
    for command in ("create", "ls", "inspect", "leases", "update", "enable", "disable", "delete"):
        assert command in result.stdout
