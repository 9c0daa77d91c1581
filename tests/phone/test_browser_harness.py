"""The browser harness: the system Chromium runs the pinned PouchDB build from another origin."""

from __future__ import annotations

from typing import Any

from support.browser import AppOrigin, wait_for_js


async def test_pouchdb_browser_build_runs_in_chromium(page: Any, app_origin: AppOrigin) -> None:
    url = app_origin.add_page(
        "harness.html",
        "<script src='/pouchdb/pouchdb.min.js'></script><script>"
        "const db = new PouchDB('harness');"
        "db.put({_id: 'a', n: 1}).then(() => db.get('a')).then(d => { window.got = d.n; });"
        "</script>",
    )
    await page.goto(url)
    assert await wait_for_js(page, "window.got") == 1


async def test_a_javascript_error_is_seen(page: Any, app_origin: AppOrigin) -> None:
    url = app_origin.add_page("broken.html", "<script>undefinedFunction()</script>")
    await page.goto(url)
    log = page.fieldsync_log
    await wait_for_js(page, "document.readyState === 'complete'")
    assert any("undefinedFunction" in e for e in log.errors)
    log.errors.clear()  # seen and expected: the fixture would fail the test otherwise
