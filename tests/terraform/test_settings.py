"""The provider's api_key against a server with access control, and many limits at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from slotgate import SlotgateClient
from tests.support.live_server import LiveServer, fresh_database, running_server
from tests.terraform.conftest import read
from tests.terraform.workspace import NO_CHANGES, Workspace

ADMIN_KEY, CLIENT_KEY = "admin-key-for-terraform", "client-key-for-terraform"


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp_dir = tmp_path_factory.mktemp("guarded-server")
    keys = {"SLOTGATE_API_KEYS": f"admin:{ADMIN_KEY},client:{CLIENT_KEY}"}
    with fresh_database("sqlite", tmp_dir) as url, running_server(url, tmp_dir, env=keys) as live:
        yield live


def test_api_key_is_sent_and_a_weak_key_is_explained(
    workspace: Workspace, guarded_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.configure(f"""
variable "key" {{
  type      = string
  sensitive = true
}}

provider "slotgate" {{
  endpoint = "{guarded_server.url}"
  api_key  = var.key
}}

resource "slotgate_concurrency_limit" "guarded" {{
  name  = "guarded"
  limit = 3
}}
""")
    workspace.init()
    monkeypatch.setenv("TF_VAR_key", CLIENT_KEY)
    refused = workspace.run("apply", "-input=false", "-auto-approve")
    assert refused.code == 1
    text = " ".join(refused.output.split())
    assert "Error: Could not create Slotgate limit 'guarded'" in text and "admin" in text
    assert "Set the provider's api_key (or SLOTGATE_API_KEY) to an admin key" in text
    assert CLIENT_KEY not in refused.output

    monkeypatch.setenv("TF_VAR_key", ADMIN_KEY)
    workspace.apply()
    assert read(SlotgateClient(guarded_server.url, ADMIN_KEY), "guarded")["limit"] == 3
    workspace.destroy()


def test_fifty_limits_in_one_apply(workspace: Workspace, api: SlotgateClient) -> None:
    workspace.configure("""
resource "slotgate_concurrency_limit" "many" {
  for_each = toset([for i in range(50) : format("tf-many-%02d", i)])
  name     = each.value
  limit    = 10
}
""")
    workspace.init()
    workspace.apply()
    assert len(list(api.limits(name_prefix="tf-many-"))) == 50
    assert workspace.plan().code == NO_CHANGES
    workspace.destroy()
    assert list(api.limits(name_prefix="tf-many-")) == []
