"""A real Chromium (Debian's package) driven by Playwright, against real server processes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.live_server import LiveServer, fresh_database, running_server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
ADMIN_KEY, CLIENT_KEY = "ui-admin-key", "ui-client-key"
# Chromium must not reach out: this machine has no network but the package registries.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("SLOTGATE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        message = "Chromium is not installed (Debian package 'chromium'; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


# Module-scoped: Playwright's synchronous API keeps an event loop running in this thread until
# it stops, and later tests start event loops of their own.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


@pytest.fixture(scope="session")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp_dir = tmp_path_factory.mktemp("ui-open")
    with fresh_database("sqlite", tmp_dir) as url, running_server(url, tmp_dir) as live:
        yield live


@pytest.fixture(scope="session")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp_dir = tmp_path_factory.mktemp("ui-guarded")
    env = {"SLOTGATE_API_KEYS": f"admin:{ADMIN_KEY},client:{CLIENT_KEY}"}
    with fresh_database("sqlite", tmp_dir) as url, running_server(url, tmp_dir, env) as live:
        yield live


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
