"""The Concurrency page in a real browser against a real server."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import Page, expect

from slotgate import SlotgateClient, _protocol
from tests.support.live_server import LiveServer
from tests.ui.conftest import ADMIN_KEY, CLIENT_KEY, screenshot


def row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'tr.limit-row[data-name="{name}"]')


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_create_from_the_keyboard_and_find_it_through_the_api(page: Page, open_server: LiveServer) -> None:
    name = fresh("page-db")
    page.goto(open_server.url)
    page.get_by_label("Name", exact=True).click()
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type("4")
    page.keyboard.press("Enter")
    expect(row(page, name)).to_contain_text("0 / 4 slots")
    limit = httpx.get(f"{open_server.url}/api/v1/limits/{name}").json()
    assert (limit["limit"], limit["active"], limit["slot_decay_per_second"]) == (4, True, 0)


def test_usage_bar_and_leases_follow_the_sdk(page: Page, open_server: LiveServer) -> None:
    name = fresh("page-usage")
    client = SlotgateClient(open_server.url)
    client.call(_protocol.create(name, limit=4))
    page.goto(open_server.url)
    expect(row(page, name)).to_contain_text("0 / 4 slots")
    lease = client.acquire([name], slots=3, holder="sdk-worker/42", lease_duration=120)
    expect(row(page, name)).to_contain_text("3 / 4 slots")  # refreshed while the page is open
    meter = row(page, name).get_by_role("meter")
    expect(meter).to_have_attribute("aria-valuenow", "3")
    page.get_by_role("button", name=f"Show leases {name}").click()
    leases = page.locator(f'tr.leases-row[data-leases-of="{name}"]')
    expect(leases).to_contain_text("sdk-worker/42")
    expect(leases).to_contain_text(str(lease.fencing_token))
    expect(leases).to_contain_text("expires in")
    screenshot(page, "usage-and-leases")
    client.release(lease.id)
    expect(row(page, name)).to_contain_text("0 / 4 slots")
    expect(leases).to_contain_text("No open leases.")


def test_edit_disable_and_delete(page: Page, open_server: LiveServer) -> None:
    name = fresh("page-edit")
    SlotgateClient(open_server.url).call(_protocol.create(name, limit=2))
    page.goto(open_server.url)
    page.get_by_role("button", name=f"Edit {name}").click()
    editor = page.locator(f'tr.edit-row[data-edit-of="{name}"]')
    editor.get_by_label("Slots").fill("9")
    editor.get_by_label("Slot decay per second").fill("1.5")
    screenshot(page, "editing")
    editor.get_by_role("button", name="Save").click()
    expect(row(page, name)).to_contain_text("0 / 9 slots")
    assert httpx.get(f"{open_server.url}/api/v1/limits/{name}").json()["slot_decay_per_second"] == 1.5

    page.get_by_role("button", name=f"Disable {name}").click()
    expect(row(page, name)).to_contain_text("inactive")
    assert httpx.get(f"{open_server.url}/api/v1/limits/{name}").json()["active"] is False
    page.get_by_role("button", name=f"Enable {name}").click()
    expect(row(page, name)).to_contain_text("active")

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name=f"Delete {name}").click()
    expect(row(page, name)).to_have_count(1)  # declined: still there
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete {name}").click()
    expect(row(page, name)).to_have_count(0)
    assert httpx.get(f"{open_server.url}/api/v1/limits/{name}").status_code == 404


def test_server_validation_messages_appear_next_to_their_field(page: Page, open_server: LiveServer) -> None:
    page.goto(open_server.url)
    page.get_by_label("Name", exact=True).fill("bad/name")
    page.get_by_label("Slots").first.fill("3")
    page.get_by_role("button", name="Create limit").click()
    name_error = page.locator("#create-name-error")
    expect(name_error).not_to_be_empty()
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    screenshot(page, "validation-error")
    message = name_error.inner_text()
    problem = httpx.post(f"{open_server.url}/api/v1/limits", json={"name": "bad/name", "limit": 3}).json()
    assert message == problem["detail"]

    taken = fresh("page-taken")
    SlotgateClient(open_server.url).call(_protocol.create(taken, limit=1))
    page.get_by_label("Name", exact=True).fill(taken)
    page.get_by_role("button", name="Create limit").click()
    expect(name_error).to_contain_text("already exists")


def test_filter_by_name(page: Page, open_server: LiveServer) -> None:
    client = SlotgateClient(open_server.url)
    apple, pear = fresh("apple"), fresh("pear")
    for name in (apple, pear):
        client.call(_protocol.create(name, limit=1))
    page.goto(open_server.url)
    expect(row(page, pear)).to_have_count(1)
    page.get_by_label("Filter by name").fill("apple")
    expect(row(page, apple)).to_have_count(1)
    expect(row(page, pear)).to_have_count(0)


def test_phone_width_is_readable(page: Page, open_server: LiveServer) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(open_server.url)
    page.wait_for_selector("tr.limit-row")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling
    screenshot(page, "phone")


def test_access_control_asks_for_a_key_and_admin_may_manage(page: Page, guarded_server: LiveServer) -> None:
    page.goto(guarded_server.url)
    expect(page.get_by_role("heading", name="API key needed")).to_be_visible()
    page.get_by_label("API key", exact=True).fill("wrong-key")
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#api-key-error")).to_contain_text("not one this server knows")
    screenshot(page, "key-prompt")
    page.get_by_label("API key", exact=True).fill(ADMIN_KEY)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#session")).to_contain_text("admin key")
    name = fresh("guarded")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Slots").first.fill("2")
    page.get_by_role("button", name="Create limit").click()
    expect(row(page, name)).to_contain_text("0 / 2 slots")
    assert page.evaluate("sessionStorage.getItem('slotgate.apiKey')") == ADMIN_KEY
    assert page.evaluate("localStorage.length") == 0  # kept for the session only


def test_client_key_sees_a_read_only_page(page: Page, guarded_server: LiveServer) -> None:
    name = fresh("readonly")
    SlotgateClient(guarded_server.url, ADMIN_KEY).call(_protocol.create(name, limit=3))
    page.goto(guarded_server.url)
    page.get_by_label("API key", exact=True).fill(CLIENT_KEY)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#session")).to_contain_text("read-only")
    expect(row(page, name)).to_contain_text("0 / 3 slots")
    expect(page.get_by_role("heading", name="New limit")).to_be_hidden()
    expect(page.get_by_role("button", name=f"Delete {name}")).to_have_count(0)
    expect(page.get_by_role("button", name=f"Edit {name}")).to_have_count(0)
    expect(page.get_by_role("button", name=f"Show leases {name}")).to_have_count(1)
    screenshot(page, "client-read-only")
    page.get_by_role("button", name="Forget key").click()
    expect(page.get_by_role("heading", name="API key needed")).to_be_visible()
