"""The example configuration in terraform/ is applied as a user would, and the README's is
validated: they are tested documentation."""

from __future__ import annotations

import shutil
from pathlib import Path

from slotgate import SlotgateClient
from tests.terraform.conftest import exists, read
from tests.terraform.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "terraform" / "main.tf"
README = ROOT / "README.md"
EXAMPLE_LIMITS = {
    "database": {"limit": 10, "slot_decay_per_second": 0.0, "active": True},
    "data-processing": {"limit": 5, "slot_decay_per_second": 0.0, "active": True},
    "task-submission": {"limit": 5, "slot_decay_per_second": 5.0, "active": True},
}


def test_the_example_configuration_manages_the_seed_limits(workspace: Workspace, api: SlotgateClient) -> None:
    shutil.copy(EXAMPLE, workspace.directory / "main.tf")
    workspace.init()
    workspace.apply()
    assert {name: read(api, name) for name in EXAMPLE_LIMITS} == EXAMPLE_LIMITS
    lease = api.acquire(["database"], slots=2, lease_duration=60)

    # The held slots show in the data source's output, never as a change to a limit.
    planned = workspace.plan()
    assert "~ active_slots = 0 -> 2" in planned.output and "Plan:" not in planned.output
    assert "without changing any real infrastructure" in planned.output
    workspace.apply()
    assert workspace.outputs()["database_usage"] == {"active_slots": 2, "limit": 10, "open_leases": 1}

    api.release(lease.id)
    workspace.destroy()
    assert not any(exists(api, name) for name in EXAMPLE_LIMITS)


def test_the_readme_configuration_is_valid(workspace: Workspace) -> None:
    section = README.read_text().split("\n## Terraform\n", 1)[1].split("\n## ", 1)[0]
    workspace.directory.joinpath("main.tf").write_text(section.split("```hcl\n", 1)[1].split("```", 1)[0])
    workspace.init()
    assert "The configuration is valid." in workspace.succeed("validate").output
    assert workspace.run("fmt", "-check", "-diff").code == 0, "the README's HCL is formatted as terraform fmt would"


def test_the_example_is_formatted(workspace: Workspace) -> None:
    shutil.copy(EXAMPLE, workspace.directory / "main.tf")
    assert workspace.run("fmt", "-check", "-diff").code == 0
