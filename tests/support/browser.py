"""A real browser for tests: Debian's headless Chromium driven by Playwright (Python, async).

Playwright's own browser download is not reachable here, so the browser is the system's
Chromium (``make setup`` installs Debian's ``chromium``; ``FIELDSYNC_CHROMIUM`` overrides the
path). Fixtures (registered in ``tests/conftest.py``)::

    browser            one Chromium for the whole session (launched on first use)
    page               a fresh context and page for one test; JavaScript errors are collected and
                       fail the test; a screenshot of the page is saved when the test fails
    app_origin         a static web server on its own port (so its own origin) that serves the
                       pinned PouchDB browser build, for pages that play a browser or hybrid app

Artifacts (screenshots, the page's console log) land in ``test-artifacts/browser/`` at the repo
root (``FIELDSYNC_TEST_ARTIFACTS`` overrides), one file per test, named after the test.
``save_screenshot(page, name)`` stores a named screenshot there on purpose (e.g. every page of the
console).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from polling import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
POUCHDB_DIST = REPO_ROOT / "couchdb_embedded" / "node_modules" / "pouchdb" / "dist"
ARTIFACTS = Path(os.environ.get("FIELDSYNC_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts")
BROWSER_ARTIFACTS = ARTIFACTS / "browser"


def chromium_path() -> str:
    """The system Chromium; a clear failure (not a skip) when it is missing."""
    configured = os.environ.get("FIELDSYNC_CHROMIUM")
    for candidate in [configured, shutil.which("chromium"), shutil.which("chromium-browser")]:
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError(
        "no Chromium found: `make setup` installs Debian's `chromium` package "
        "(apt-get install chromium), or set FIELDSYNC_CHROMIUM to a Chromium binary"
    )


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:150]


async def save_screenshot(page: Any, name: str) -> Path:
    """Store a full-page screenshot under the artifact folder and return its path."""
    BROWSER_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = BROWSER_ARTIFACTS / f"{_safe_name(name)}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


@dataclass
class PageLog:
    """What a page said: console messages and uncaught JavaScript errors."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # the sandbox needs user namespaces, which containers often lack
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield chromium
        await chromium.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[_failed_key] = report.failed


_failed_key = pytest.StashKey[bool]()


@pytest.fixture
async def page(browser: Any, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A fresh page; fails the test on any uncaught JavaScript error; screenshot on failure."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    pg = await context.new_page()
    log = PageLog()
    pg.on("console", lambda msg: log.console.append(f"{msg.type}: {msg.text}"))
    pg.on("pageerror", lambda exc: log.errors.append(str(exc)))
    pg.fieldsync_log = log  # type: ignore[attr-defined]
    yield pg
    name = _safe_name(request.node.nodeid)
    if request.node.stash.get(_failed_key, False):
        BROWSER_ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            await pg.screenshot(path=str(BROWSER_ARTIFACTS / f"{name}.failed.png"), full_page=True)
        (BROWSER_ARTIFACTS / f"{name}.console.txt").write_text("\n".join(log.console))
    await context.close()
    assert not log.errors, f"the page logged JavaScript errors: {log.errors}"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class AppOrigin:
    """A static web server on its own origin: ``url`` serves ``root``; PouchDB at ``/pouchdb/``."""

    url: str
    root: Path

    def add_page(self, name: str, html: str) -> str:
        (self.root / name).write_text(html)
        return f"{self.url}/{name}"


@pytest.fixture(scope="session")
def app_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppOrigin]:
    root = tmp_path_factory.mktemp("app_origin")
    pouch = root / "pouchdb"
    pouch.mkdir()
    for js in ["pouchdb.js", "pouchdb.min.js", "pouchdb.find.js", "pouchdb.find.min.js"]:
        shutil.copy(POUCHDB_DIST / js, pouch / js)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # "localhost" is another origin than the service's "127.0.0.1", as a hybrid shell's
    # http://localhost page is
    yield AppOrigin(f"http://localhost:{server.server_address[1]}", root)
    server.shutdown()


async def wait_for_js(page: Any, expression: str, timeout: float = 20.0) -> Any:  # noqa: ASYNC109
    """Poll a JavaScript expression in the page until it is truthy; return its value."""
    return await wait_until(lambda: page.evaluate(expression), timeout=timeout, message=expression)
