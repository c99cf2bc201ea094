"""`terraform init` finds the installed provider with no network, and the lock file it writes
holds when the provider is installed again, on this machine or another."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.terraform.conftest import slotgate_command
from tests.terraform.workspace import Workspace

LOCKED_PROVIDER = 'provider "registry.terraform.io/slotgate/slotgate"'


def lock_file(workspace: Workspace) -> str:
    return workspace.directory.joinpath(".terraform.lock.hcl").read_text()


def fresh_checkout(workspace: Workspace, directory: Path) -> Workspace:
    """The configuration and its lock file, as version control would give them to someone else."""
    directory.mkdir()
    for name in ("main.tf", ".terraform.lock.hcl"):
        shutil.copy(workspace.directory / name, directory / name)
    return Workspace(directory, workspace.version)


def test_init_is_offline_and_the_lock_file_holds_across_installs(
    workspace: Workspace, offline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.configure("")
    initialized = workspace.init()
    assert f"Installed slotgate/slotgate v{workspace.version}" in initialized.output
    locked = lock_file(workspace)
    assert LOCKED_PROVIDER in locked and '"h1:' in locked

    assert slotgate_command("terraform", "install", home=offline).returncode == 0
    here_again = fresh_checkout(workspace, tmp_path / "here-again")
    here_again.init()
    assert lock_file(here_again) == locked

    other_home = tmp_path / "other-home"
    other_home.mkdir()
    shutil.copy(offline / "terraformrc", other_home / "terraformrc")
    assert slotgate_command("terraform", "install", home=other_home).returncode == 0
    monkeypatch.setenv("HOME", str(other_home))
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(other_home / "terraformrc"))
    other_machine = fresh_checkout(workspace, tmp_path / "other-machine")
    other_machine.init()
    assert lock_file(other_machine) == locked


def test_init_from_a_mirror_of_ones_own(
    workspace: Workspace, offline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    installed = slotgate_command("terraform", "install", "--mirror", str(mirror), home=offline)
    assert installed.returncode == 0, installed.stderr
    start = installed.stdout.index("provider_installation {")
    cli_config = installed.stdout[start : installed.stdout.index("\n}\n", start) + 3]
    # With a provider_installation block Terraform no longer looks in the implied mirror.
    tmp_path.joinpath("mirror.terraformrc").write_text(cli_config)
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(tmp_path / "mirror.terraformrc"))

    workspace.configure("")
    initialized = workspace.init()
    assert f"Installed slotgate/slotgate v{workspace.version}" in initialized.output
    linked = workspace.directory / ".terraform/providers/registry.terraform.io/slotgate/slotgate"
    assert str(mirror) in str(next(linked.glob("*/*")).resolve())
