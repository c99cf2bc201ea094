"""`slotgate terraform install`: the launcher, where it goes, and that it is the same file at
every install of a version (Terraform's lock file hashes it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from slotgate_terraform import install
from tests.terraform.conftest import slotgate_command

VERSION = install.provider_version()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Installs in this process record their Python under this HOME, not the real one."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return tmp_path


def launcher_in(mirror: Path) -> Path:
    package = mirror / "registry.terraform.io/slotgate/slotgate" / VERSION / install.target_platform()
    return package / f"terraform-provider-slotgate_v{VERSION}"


def run_launcher(launcher: Path, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The launcher as Terraform starts it, minus the plugin handshake (the provider then says so)."""
    environment = {"HOME": str(home), "PATH": "/usr/bin:/bin", **env}
    return subprocess.run([str(launcher)], env=environment, capture_output=True, text=True, timeout=30)


def test_install_places_an_executable_launcher_in_the_implied_mirror(tmp_path: Path) -> None:
    result = slotgate_command("terraform", "install", home=tmp_path)
    assert result.returncode == 0, result.stderr
    launcher = launcher_in(tmp_path / ".terraform.d" / "plugins")
    assert os.access(launcher, os.X_OK)
    assert str(launcher) in result.stdout
    assert f'source  = "slotgate/slotgate"\n      version = "{VERSION}"' in result.stdout
    record = tmp_path / ".config" / "slotgate" / f"terraform-provider-{VERSION}.python"
    assert record.read_text().strip() == sys.executable


def test_the_launcher_is_the_same_file_at_every_install(tmp_path: Path) -> None:
    first = install.install(tmp_path / "first", python="/opt/one/bin/python")
    again = install.install(tmp_path / "first", python="/opt/two/bin/python")
    elsewhere = install.install(tmp_path / "second", python=sys.executable)
    assert first.launcher == again.launcher
    assert first.launcher.read_bytes() == elsewhere.launcher.read_bytes()
    assert [path.name for path in first.launcher.parent.iterdir()] == [first.launcher.name]
    assert str(tmp_path) not in first.launcher.read_text() and "/opt/" not in first.launcher.read_text()


def test_install_into_a_mirror_prints_the_cli_configuration(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    result = slotgate_command("terraform", "install", "--mirror", str(mirror), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert os.access(launcher_in(mirror), os.X_OK)
    assert f'path    = "{mirror.resolve()}"' in result.stdout
    assert 'include = ["registry.terraform.io/slotgate/slotgate"]' in result.stdout
    assert not (tmp_path / ".terraform.d").exists()


def test_the_launcher_runs_the_python_that_installed_it(tmp_path: Path) -> None:
    slotgate_command("terraform", "install", home=tmp_path)
    started = run_launcher(launcher_in(tmp_path / ".terraform.d" / "plugins"), tmp_path)
    assert started.returncode == 1
    assert "This is Slotgate's Terraform provider: Terraform starts it." in started.stderr


def test_slotgate_terraform_python_overrides_the_record(tmp_path: Path) -> None:
    launcher = install.install(tmp_path / "mirror", python="/nonexistent/python").launcher
    started = run_launcher(launcher, tmp_path, SLOTGATE_TERRAFORM_PYTHON=sys.executable)
    assert "This is Slotgate's Terraform provider" in started.stderr


def test_the_launcher_says_what_to_do_when_it_finds_no_python(tmp_path: Path) -> None:
    launcher = install.install(tmp_path / "mirror", python="/nonexistent/python").launcher
    started = run_launcher(launcher, tmp_path)
    assert started.returncode == 1
    assert started.stdout.count("\n") == 1  # Terraform shows a plugin's first line when it is no handshake
    assert "cannot find its Python: run 'slotgate terraform install' again, or set" in started.stdout
