"""Terraform end to end: a real server process, and a temporary HOME in which
`slotgate terraform install` has placed the provider in Terraform's implied local mirror.

Each test gets its own working directory and an environment in which nothing can leave
127.0.0.1: the CLI configuration is the test's own, the version check is off, and every proxy
refuses, so a `terraform init` that tried the registry would fail."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from slotgate import SlotgateClient, _protocol
from slotgate_terraform.install import provider_version
from tests.support.live_server import LiveServer, fresh_database, running_server
from tests.terraform.workspace import Workspace

REFUSING_PROXY = "http://127.0.0.1:9"


def slotgate_command(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """The `slotgate` CLI as a user runs it, with `home` as HOME."""
    environment = {**os.environ, "HOME": str(home)}
    environment.pop("XDG_CONFIG_HOME", None)
    command = [sys.executable, "-m", "slotgate.cli", *args]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="session")
def terraform_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp_dir = tmp_path_factory.mktemp("terraform-server")
    with fresh_database("sqlite", tmp_dir) as url, running_server(url, tmp_dir) as live:
        yield live


@pytest.fixture(scope="session")
def terraform_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("terraform-home")
    installed = slotgate_command("terraform", "install", home=home)
    assert installed.returncode == 0, installed.stderr
    home.joinpath("terraformrc").write_text("# No provider_installation: Terraform uses its implied local mirror.\n")
    return home


def offline_environment(monkeypatch: pytest.MonkeyPatch, home: Path, server_url: str) -> None:
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(home / "terraformrc"))
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    for proxy in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(proxy, REFUSING_PROXY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "TF_DATA_DIR", "TF_PLUGIN_CACHE_DIR", "TF_LOG"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SLOTGATE_API_URL", server_url)
    monkeypatch.delenv("SLOTGATE_API_KEY", raising=False)


@pytest.fixture
def offline(terraform_home: Path, terraform_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's environment is the temporary HOME, offline; returns HOME."""
    offline_environment(monkeypatch, terraform_home, terraform_server.url)
    return terraform_home


@pytest.fixture
def workspace(offline: Path, tmp_path: Path) -> Workspace:
    directory = tmp_path / "config"
    directory.mkdir()
    return Workspace(directory, provider_version())


@pytest.fixture
def api(terraform_server: LiveServer) -> Iterator[SlotgateClient]:
    client = SlotgateClient(terraform_server.url)
    yield client
    client.close()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Limit names no other test uses: the server is shared by the session."""
    run = uuid.uuid4().hex[:8]
    return lambda label: f"tf-{run}-{label}"


def exists(api: SlotgateClient, name: str) -> bool:
    return any(limit.name == name for limit in api.limits(name_prefix=name))


def read(api: SlotgateClient, name: str) -> dict[str, object]:
    limit = api.call(_protocol.read(name))
    return {"limit": limit.limit, "slot_decay_per_second": limit.slot_decay_per_second, "active": limit.active}
