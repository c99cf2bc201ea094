"""`terraform plan/apply/destroy` of slotgate_concurrency_limit against a real server."""

from __future__ import annotations

from collections.abc import Callable

from slotgate import SlotgateClient, _protocol
from tests.terraform.conftest import exists, read
from tests.terraform.workspace import CHANGES, NO_CHANGES, Workspace

Unique = Callable[[str], str]


# No server answers here.
UNREACHABLE_PROVIDER = """
provider "slotgate" {
  endpoint = "http://127.0.0.1:9"
}
"""


def limit_config(name: str, *, limit: int, extra: str = "", label: str = "this") -> str:
    return f"""
resource "slotgate_concurrency_limit" "{label}" {{
  name  = "{name}"
  limit = {limit}
  {extra}
}}
"""


def test_create_update_in_place_rename_and_destroy(workspace: Workspace, api: SlotgateClient, unique: Unique) -> None:
    first, second = unique("first"), unique("second")
    workspace.configure(limit_config(first, limit=3, extra="slot_decay_per_second = 0.5"))
    workspace.init()

    planned = workspace.plan()
    assert planned.code == CHANGES and "Plan: 1 to add, 0 to change, 0 to destroy." in planned.output
    assert not exists(api, first), "a plan changes nothing"

    workspace.apply()
    assert read(api, first) == {"limit": 3, "slot_decay_per_second": 0.5, "active": True}
    created = workspace.state()["slotgate_concurrency_limit.this"]
    assert created["id"] == str(api.call(_protocol.read(first)).id) and created["created"]
    assert workspace.plan().code == NO_CHANGES

    workspace.configure(limit_config(first, limit=7, extra="active = false"))
    updating = workspace.plan()
    assert "1 to change, 0 to destroy" in updating.output and "~ limit" in updating.output
    workspace.apply()
    assert read(api, first) == {"limit": 7, "slot_decay_per_second": 0.0, "active": False}
    assert workspace.state()["slotgate_concurrency_limit.this"]["id"] == created["id"], "updated in place"

    workspace.configure(limit_config(second, limit=7))
    replacing = workspace.plan()
    assert "must be replaced" in replacing.output and "1 to add, 0 to change, 1 to destroy" in replacing.output
    workspace.apply()
    assert not exists(api, first) and read(api, second)["limit"] == 7

    workspace.destroy()
    assert not exists(api, second)
    assert workspace.state() == {}


def test_drift_is_planned_and_repaired_including_defaults(
    workspace: Workspace, api: SlotgateClient, unique: Unique
) -> None:
    name = unique("drift")
    workspace.configure(limit_config(name, limit=4))
    workspace.init()
    workspace.apply()

    api.call(_protocol.update(name, limit=9, slot_decay_per_second=2.5, active=False))
    drift = workspace.plan()
    assert drift.code == CHANGES, drift
    for change in ("~ limit                 = 9 -> 4", "~ active                = false -> true"):
        assert change in drift.output
    assert "~ slot_decay_per_second = 2.5 -> 0" in drift.output

    workspace.apply()
    assert read(api, name) == {"limit": 4, "slot_decay_per_second": 0.0, "active": True}
    assert workspace.plan().code == NO_CHANGES


def test_a_limit_deleted_outside_terraform_is_created_again(
    workspace: Workspace, api: SlotgateClient, unique: Unique
) -> None:
    name = unique("deleted")
    workspace.configure(limit_config(name, limit=2))
    workspace.init()
    workspace.apply()
    old_id = workspace.state()["slotgate_concurrency_limit.this"]["id"]

    api.call(_protocol.delete(name))
    replanned = workspace.plan()
    assert "will be created" in replanned.output and "1 to add, 0 to change, 0 to destroy" in replanned.output
    workspace.apply()
    assert read(api, name)["limit"] == 2
    assert workspace.state()["slotgate_concurrency_limit.this"]["id"] != old_id


def test_import_by_name(workspace: Workspace, api: SlotgateClient, unique: Unique) -> None:
    name = unique("imported")
    api.call(_protocol.create(name, limit=6, slot_decay_per_second=1.5, active=False))
    workspace.configure(limit_config(name, limit=6, extra="slot_decay_per_second = 1.5\n  active = false"))
    workspace.init()

    imported = workspace.succeed("import", "-input=false", "slotgate_concurrency_limit.this", name)
    assert "Import successful!" in imported.output
    state = workspace.state()["slotgate_concurrency_limit.this"]
    assert state["name"] == name and state["limit"] == 6 and state["active"] is False
    assert workspace.plan().code == NO_CHANGES

    missing_name = unique("missing")
    workspace.configure(limit_config(missing_name, limit=1, label="other"))
    missing = workspace.run("import", "-input=false", "slotgate_concurrency_limit.other", missing_name)
    assert missing.code == 1 and "Could not import Slotgate limit" in missing.output
    assert "There is no limit named" in missing.output


def test_apply_while_slots_are_held_leaves_them_alone(
    workspace: Workspace, api: SlotgateClient, unique: Unique
) -> None:
    name = unique("held")
    workspace.configure(limit_config(name, limit=3))
    workspace.init()
    workspace.apply()
    lease = api.acquire([name], slots=2, lease_duration=120, holder="terraform-test")

    assert workspace.plan().code == NO_CHANGES, "held slots are not drift"
    workspace.configure(limit_config(name, limit=5))
    workspace.apply()

    limit = api.call(_protocol.read(name))
    assert (limit.limit, limit.active_slots, limit.open_leases) == (5, 2.0, 1)
    assert api.renew(lease.id).id == lease.id
    api.release(lease.id)
    assert workspace.plan().code == NO_CHANGES, "released slots are not drift either"


def test_data_source_reads_live_usage(workspace: Workspace, api: SlotgateClient, unique: Unique) -> None:
    name = unique("watched")
    api.call(_protocol.create(name, limit=4, slot_decay_per_second=0.01))
    lease = api.acquire([name], slots=3, lease_duration=120)
    workspace.configure(f"""
data "slotgate_concurrency_limit" "watched" {{
  name = "{name}"
}}

output "watched" {{
  value = data.slotgate_concurrency_limit.watched
}}
""")
    workspace.init()
    workspace.apply()
    watched = workspace.outputs()["watched"]
    api.release(lease.id)

    assert watched["name"] == name and watched["limit"] == 4 and watched["slot_decay_per_second"] == 0.01
    assert watched["open_leases"] == 1 and watched["denied_slots"] == 0
    assert 2.5 < watched["active_slots"] < 3  # live: decay has drained a fraction since the acquire
    assert watched["avg_slot_occupancy_seconds"] is None and watched["id"] and watched["updated"]


def test_an_api_error_carries_the_servers_detail(workspace: Workspace, api: SlotgateClient, unique: Unique) -> None:
    name = unique("taken")
    api.call(_protocol.create(name, limit=1))
    workspace.configure(limit_config(name, limit=1))
    workspace.init()

    failed = workspace.run("apply", "-input=false", "-auto-approve")
    assert failed.code == 1
    assert f"Error: Could not create Slotgate limit '{name}'" in failed.output
    assert "already exists" in failed.output  # the server's own words
    assert f"terraform import ADDRESS {name}" in " ".join(failed.output.split())
    assert "Traceback" not in failed.output


def test_unreachable_server_is_a_clear_diagnostic(workspace: Workspace, unique: Unique) -> None:
    # The provider's endpoint wins over SLOTGATE_API_URL (which names the live server here).
    workspace.configure(UNREACHABLE_PROVIDER + limit_config(unique("x"), limit=1))
    workspace.init()
    failed = workspace.run("apply", "-input=false", "-auto-approve")
    assert failed.code == 1
    text = " ".join(failed.output.split())
    assert "Error: Could not create Slotgate limit" in text
    assert "The Slotgate server at http://127.0.0.1:9 did not answer" in text
    assert "Check the provider's endpoint (or SLOTGATE_API_URL)" in text
    assert "Traceback" not in failed.output


def test_invalid_values_fail_at_plan_before_any_call(workspace: Workspace) -> None:
    # A plan that called the (unreachable) server would say so instead.
    workspace.configure(
        UNREACHABLE_PROVIDER
        + """
resource "slotgate_concurrency_limit" "slash" {
  name  = "reports/daily"
  limit = -1
}

resource "slotgate_concurrency_limit" "fraction" {
  name                  = ""
  limit                 = 2.5
  slot_decay_per_second = -3
}

data "slotgate_concurrency_limit" "read" {
  name = "a<b"
}
"""
    )
    workspace.init()
    failed = workspace.run("plan", "-input=false")
    assert failed.code == 1
    text = " ".join(failed.output.split())
    for message in (
        "Error: Invalid name",
        "A limit's name must not contain / % & > or <; 'reports/daily' contains /.",
        "limit must be 0 or more slots; got -1.",
        "A limit's name must be 1 to 255 characters long; '' has 0.",
        "limit must be a whole number of slots; got 2.5.",
        "slot_decay_per_second must be 0 (no decay) or at least 0.000000001; got -3.",
        "A limit's name must not contain / % & > or <; 'a<b' contains <.",
    ):
        assert message in text
    assert "did not answer" not in text and "Traceback" not in text
