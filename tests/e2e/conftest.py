"""Browser tests: a real server on a free port and Debian's Chromium driven by Playwright.

The server runs in a thread of the test process on a fresh SQLite database with the real
clock (a browser cannot live in frozen time), so these tests read the database through the
same ``Database`` to check what the pages did.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from xiaodian import clock as clock_module
from xiaodian import migrate, tasks
from xiaodian import settings as settings_module
from xiaodian.db import Database
from xiaodian.settings import Settings

CHROMIUM = os.environ.get("XIAODIAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    settings: Settings
    database: Database


@pytest.fixture
def clock() -> Iterator[clock_module.Clock]:
    """E2E runs on the real clock (overrides the frozen one)."""
    real = clock_module.Clock()
    previous = clock_module.use(real)
    yield real
    clock_module.use(previous)


@pytest.fixture
def live_server(tmp_path: Path, clock: clock_module.Clock) -> Iterator[LiveServer]:
    from xiaodian.app import create_app

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=tmp_path / "data",
        secret_key="e2e-secret-key-" + "x" * 32,
        public_base_url=url,
        worker_in_process=True,
    ).resolved()
    database = Database(settings.database_url)
    migrate.upgrade(database.engine)
    previous = settings_module._current
    settings_module.install(settings)
    app = create_app(settings, database=database)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(url=url, settings=settings, database=database)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        tasks.reset()
        database.dispose()
        settings_module._current = previous


@pytest.fixture
def browser() -> Iterator[Any]:
    """One browser per test: Playwright's sync API keeps an event loop running in this thread
    while it is open, which would break later tests in the same worker that use asyncio."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (scripts/bootstrap.sh --browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """new_page(phone=True) -> a page in its own browser context (its own cookies)."""
    contexts: list[Any] = []

    def _page(*, phone: bool = True, locale: str = "zh-CN") -> Any:
        context = browser.new_context(
            viewport=PHONE if phone else {"width": 1280, "height": 860},
            locale=locale,
            base_url=live_server.url,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield _page
    for context in contexts:
        context.close()


def sign_in(page: Any, login: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    """Wait until ``predicate()`` is true (work the server does in the background)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the server")
        time.sleep(0.2)


def shot(page: Any, name: str) -> None:
    """Take a screenshot; with ``XIAODIAN_SCREENSHOTS=1`` it replaces README.md's picture
    (docs/screenshots/NAME.png), otherwise it goes to a temporary folder."""
    from playwright.sync_api import Error

    folder = SCREENSHOTS if os.environ.get("XIAODIAN_SCREENSHOTS") else _scratch()
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        try:
            page.screenshot(path=str(folder / f"{name}.png"), full_page=False)
            return
        except Error as exc:
            # Chromium, short of CPU, sometimes cannot capture a frame ("Unable to capture
            # screenshot"): the page is there; the next frame is taken.
            if "Unable to capture screenshot" not in str(exc) or attempt == 2:
                raise
            page.evaluate("() => new Promise(requestAnimationFrame)")


def _scratch() -> Path:
    import tempfile

    return Path(tempfile.gettempdir()) / "xiaodian-screenshots"
