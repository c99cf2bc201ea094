"""Installing the provider where `terraform init` finds it without any network: an executable
launcher in a local mirror, laid out as registry.terraform.io/slotgate/slotgate/VERSION/OS_ARCH/.

Terraform's lock file records a hash of that directory, so the launcher is the same file on every
machine and at every install of a version: it names no path of its own. It runs the provider with
the Python in SLOTGATE_TERRAFORM_PYTHON, else the Python that last installed this version (kept in a
small file outside the mirror), else the `terraform-provider-slotgate` command on PATH."""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

HOSTNAME, NAMESPACE, TYPE = "registry.terraform.io", "slotgate", "slotgate"
SOURCE = f"{NAMESPACE}/{TYPE}"

# Terraform's names for the machines this launcher (a POSIX shell script) runs on.
_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i686": "386"}
_SYSTEMS = ("linux", "darwin", "freebsd", "openbsd")

LAUNCHER = """\
#!/bin/sh
# Slotgate's Terraform provider {version}, placed here by `slotgate terraform install`.
# The same file on every machine (Terraform's lock file hashes it), so it names no path:
# it runs the provider with $SLOTGATE_TERRAFORM_PYTHON, else with the Python recorded
# by the last install of this version, else with terraform-provider-slotgate on PATH.
python="${{SLOTGATE_TERRAFORM_PYTHON:-}}"
record="${{XDG_CONFIG_HOME:-$HOME/.config}}/slotgate/terraform-provider-{version}.python"
if [ -z "$python" ] && [ -r "$record" ]; then
  python=$(cat "$record")
fi
if [ -n "$python" ] && command -v "$python" >/dev/null 2>&1; then
  exec "$python" -m slotgate_terraform.provider "$@"
fi
if command -v terraform-provider-slotgate >/dev/null 2>&1; then
  exec terraform-provider-slotgate "$@"
fi
# One line on stdout: Terraform shows the first line a plugin prints when it is no handshake.
hint="run 'slotgate terraform install' again, or set SLOTGATE_TERRAFORM_PYTHON to a Python with slotgate[terraform]"
echo "Slotgate's provider cannot find its Python: $hint."
exit 1
"""


class InstallError(Exception):
    """The provider cannot be installed here; the message says why and what to do."""


@dataclass(frozen=True)
class Installed:
    launcher: Path
    python_record: Path
    version: str


def provider_version() -> str:
    """The package's version, which Terraform needs as MAJOR.MINOR.PATCH."""
    version = metadata.version("slotgate")
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise InstallError(f"Terraform needs a MAJOR.MINOR.PATCH version; this slotgate is {version}.")
    return version


def target_platform() -> str:
    """Terraform's OS_ARCH for this machine, e.g. linux_amd64."""
    system, machine = sys.platform, platform.machine().lower()
    system = next((name for name in _SYSTEMS if system.startswith(name)), system)
    if system not in _SYSTEMS or machine not in _ARCHITECTURES:
        raise InstallError(f"The provider's launcher is a POSIX shell script: {sys.platform}/{machine} cannot run it.")
    return f"{system}_{_ARCHITECTURES[machine]}"


def implied_mirror() -> Path:
    """The local mirror Terraform searches without any configuration."""
    return Path.home() / ".terraform.d" / "plugins"


def config_dir() -> Path:
    """Where the launcher looks for the recorded Python (its shell code computes the same)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "slotgate"


def launcher_text(version: str) -> str:
    return LAUNCHER.format(version=version)


def install(mirror: Path | None = None, python: str = sys.executable) -> Installed:
    """Write the launcher into `mirror` (default: the implied local mirror) and record `python`."""
    version = provider_version()
    package_dir = (mirror or implied_mirror()) / HOSTNAME / NAMESPACE / TYPE / version / target_platform()
    package_dir.mkdir(parents=True, exist_ok=True)
    launcher = package_dir / f"terraform-provider-{TYPE}_v{version}"
    launcher.write_text(launcher_text(version))
    launcher.chmod(0o755)
    record = config_dir() / f"terraform-provider-{version}.python"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(python + "\n")
    return Installed(launcher=launcher, python_record=record, version=version)


def required_providers_block(version: str) -> str:
    return (
        "terraform {\n"
        "  required_providers {\n"
        "    slotgate = {\n"
        f'      source  = "{SOURCE}"\n'
        f'      version = "{version}"\n'
        "    }\n"
        "  }\n"
        "}\n"
    )


def mirror_cli_config(mirror: Path) -> str:
    """The CLI configuration (~/.terraformrc) that makes Terraform use a mirror of one's own."""
    address = f"{HOSTNAME}/{SOURCE}"
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror.resolve()}"\n'
        f'    include = ["{address}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{address}"]\n'
        "  }\n"
        "}\n"
    )
