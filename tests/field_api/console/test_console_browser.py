"""The web console in a real browser (headless Chromium) against the whole service with its
workers, PouchDB phones on the field side. Every page's screenshot is saved under
test-artifacts/browser/ (``console-*.png``); a JavaScript error on any page fails the test
(the ``page`` fixture), and so does any dialog: a hostile device name or order note that ran
as HTML would open one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from polling import wait_until
from support.browser import save_screenshot, wait_for_js
from support.orders_world import order
from support.phone import Phone
from support.world import World, add_user, login

from mobile_schema import order_total, sample_order_line, utc_now
from sync_gateway.auth.devices import new_device

HOSTILE = "<img src=x onerror=alert(1)>"
TIMEOUT = 60.0


@pytest.fixture
async def world(service_factory: Any) -> World:
    """The service with its workers, users made through the API, and master data."""
    service = await service_factory(activity_flush_s=0.2)
    w = World(service, await login(service.url, "admin", "admin-pass"))
    for user_id, role in (
        ("bo", "backoffice"),
        ("max", "manager"),
        ("alice", "rep"),
        ("carol", "rep"),
    ):
        await add_user(w, user_id, role)
    admin = {"Authorization": f"Bearer {w.admin_token}"}
    async with httpx.AsyncClient(base_url=w.url, headers=admin, timeout=30) as http:
        accounts = [
            {"_id": "account:n1", "name": "Café Nord", "location": {"lat": 59.91, "lon": 10.75}},
            {"_id": "account:n2", "name": "Kiosk 7", "location": {"lat": 59.95, "lon": 10.70}},
            {"_id": "account:s1", "name": "Bakery Sud", "location": {"lat": 58.15, "lon": 8.0}},
        ]
        contacts = [{"_id": "contact:kn1", "account_id": "account:n1", "name": "Kari"}]
        for path, items in (("/api/v1/accounts", accounts), ("/api/v1/contacts", contacts)):
            resp = await http.put(path, json=items)
            assert resp.status_code == 200 and resp.json()["errors"] == 0, resp.text
    async with w.http("max") as http:
        for tid, name, accs, reps in (
            ("north", "North", ["n1", "n2"], ["alice"]),
            ("south", "South", ["s1"], ["carol"]),
        ):
            assert (
                await http.post("/api/v1/territories", json={"id": tid, "name": name})
            ).is_success
            assert (await http.put(f"/api/v1/territories/{tid}/accounts", json=accs)).is_success
            assert (await http.put(f"/api/v1/territories/{tid}/reps", json=reps)).is_success
    return w


@pytest.fixture
async def console(page: Any) -> Any:
    """The page, failing the test on any dialog (an injected script would open one)."""
    dialogs: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    yield page
    assert not dialogs, f"a page opened a dialog: {dialogs}"


async def sign_in(page: Any, world: World, user_id: str) -> None:
    """Sign in with the keyboard: type the user and password, press Enter."""
    await page.goto(f"{world.url}/console/login")
    await page.fill("#username", user_id)
    await page.fill("#password", f"{user_id}-password")
    await page.press("#password", "Enter")


async def start_phone(tmp_path: Path, name: str) -> Phone:
    phone = Phone()
    await phone.start(tmp_path / name)
    return phone


async def no_horizontal_scroll(page: Any) -> bool:
    return bool(
        await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    )


async def test_back_office_sees_a_phone_order_live_confirms_it_and_the_phone_gets_it(
    world: World, console: Any, tmp_path: Path
) -> None:
    page = console
    alice = world.users["alice"]
    await sign_in(page, world, "bo")
    await page.wait_for_url("**/console/inbox")
    await wait_for_js(page, "document.body.dataset.inboxReady === '1'")
    await wait_for_js(page, "document.body.dataset.live === 'on'")
    assert await page.locator("#inbox tbody tr").count() == 0

    phone = await start_phone(tmp_path, "alice")
    try:
        lines = [
            sample_order_line(line_id="l1", qty=4, unit_price="10.00", discount_pct=0),
            sample_order_line(line_id="l2", qty=1, unit_price="5.00", discount_pct=0),
        ]
        first = await phone.put(order("web-1", lines=lines, account="account:n1", note=HOSTILE))
        pushed = await phone.push(alice.sync_url, headers=alice.headers)
        assert pushed["docs_written"] == 1
        # the order arrives in the open inbox without a reload
        row = page.locator('#inbox tr[data-order-id="order:web-1"]')
        await row.wait_for(timeout=TIMEOUT * 1000)
        assert "new" in (await row.get_attribute("class") or "")
        assert "Café Nord" in await row.inner_text()
        await save_screenshot(page, "console-inbox")

        await page.set_viewport_size({"width": 1024, "height": 768})
        assert await no_horizontal_scroll(page)

        await row.locator("a").click()
        await page.wait_for_url("**/console/orders/web-1")
        await wait_for_js(page, "document.body.dataset.orderReady === '1'")
        facts = page.locator("#order-facts")
        assert HOSTILE in await facts.inner_text()  # shown as typed, not run
        assert await page.locator("#order-facts img").count() == 0
        await page.fill('input[data-line-id="l1"]', "2")
        await page.click("#act-confirm")
        await page.locator("#order-alert.ok").wait_for()
        assert "now confirmed" in await page.locator("#order-alert").inner_text()
        assert await page.evaluate("document.body.dataset.orderStatus") == "confirmed"
        assert (await page.locator("#order-total").inner_text()).startswith("25.00")
        history = page.locator("#order-revisions tbody tr")
        assert await history.count() >= 2
        assert "bo" in await history.first.inner_text()
        await save_screenshot(page, "console-order")

        # an illegal move is refused with its reason
        await page.click("#act-invoice")
        refusal = page.locator("#order-alert.error")
        await refusal.wait_for()
        text = await refusal.inner_text()
        assert "409" in text and "confirmed" in text
        await save_screenshot(page, "console-order-refused")

        # meanwhile the rep, offline, changed line l2 of the submitted order on the phone:
        #   1 (submitted) ── 2 (bo: confirmed)         the console's decision
        #                 └─ 2' (alice: l2 qty 3)      the phone's edit, synced now
        # the resolver merges; the open page reloads and shows what the merge kept
        edited = await phone.get("order:web-1")
        assert edited["_rev"] == first["rev"]
        edited["lines"][1] = {**edited["lines"][1], "qty": 3, "updated_at": utc_now()}
        edited["total"] = order_total(edited["lines"])  # 55.00: the gateway checks it
        edited["updated_at"], edited["updated_by"] = utc_now(), "alice"
        await phone.put(edited)
        pushed = await phone.push(alice.sync_url, headers=alice.headers)
        assert pushed["docs_written"] == 1, str(pushed)[:3000]
        await phone.live_start(
            "live",
            alice.sync_url,
            direction="both",
            headers=alice.headers,
            options={"back_off_ms": 200},
        )
        record = page.locator("#order-conflicts .conflict-record")
        await record.wait_for(timeout=TIMEOUT * 1000)
        assert "order" in await record.inner_text()
        await save_screenshot(page, "console-order-merged")

        async def merged_on_phone() -> dict[str, Any] | None:
            doc = await phone.get("order:web-1", conflicts=True)
            done = doc["status"] == "confirmed" and not doc.get("_conflicts")
            return doc if done else None

        doc = await wait_until(merged_on_phone, timeout=TIMEOUT, message="merged order on phone")
        assert doc is not None
        assert doc["lines"][0]["confirmed_qty"] == 2  # the back office's quantity won
        assert doc["lines"][1]["qty"] == 3  # and the rep's edit was kept
        await phone.live_stop("live")
    finally:
        await phone.close()


async def test_manager_moves_an_account_and_it_moves_between_the_reps_phones(
    world: World, console: Any, tmp_path: Path
) -> None:
    page = console
    alice, carol = world.users["alice"], world.users["carol"]
    alice_phone = await start_phone(tmp_path, "alice")
    carol_phone = await start_phone(tmp_path, "carol")
    try:
        for phone, user in ((alice_phone, alice), (carol_phone, carol)):
            headers = {**user.headers, "X-Device-Id": "pixel-8" if user is alice else "pixel-7"}
            await phone.live_start(
                "live",
                user.sync_url,
                direction="both",
                headers=headers,
                options={"back_off_ms": 200},
            )
        await alice_phone.wait_for_doc("account:n1", timeout_s=TIMEOUT)
        await carol_phone.wait_for_doc("account:s1", timeout_s=TIMEOUT)

        await world.couch.put(world.dbs.ops, new_device("alice", HOSTILE))
        await page.set_viewport_size({"width": 1024, "height": 768})
        await sign_in(page, world, "max")
        await page.wait_for_url("**/console/board")
        await wait_for_js(page, "document.body.dataset.boardReady === '1'")
        # team health shows the device live once it synced; a hostile id /sync now refuses
        # (X-Device-Id follows the /me/devices rule) may still sit in a record written before
        # that check: it is masked, never rendered
        device = page.locator('#team tr[data-user-id="alice"] li[data-device-id="pixel-8"]')
        await device.wait_for(timeout=TIMEOUT * 1000)
        assert "pixel-8" in await device.inner_text()
        masked = page.locator('#team tr[data-user-id="alice"] .device-name', has_text="invalid")
        await masked.wait_for(timeout=TIMEOUT * 1000)
        assert await page.locator("#team img").count() == 0
        assert await page.locator('section[data-territory-id="north"] svg circle').count() == 2
        assert await no_horizontal_scroll(page)
        await save_screenshot(page, "console-board")

        await page.check('input[data-account-id="account:n1"]')
        await page.select_option("#move-target", "south")
        await page.click("#move-preview")
        lose = page.locator('#move-result tr[data-user-id="alice"] .lose')
        await lose.wait_for()
        assert await lose.inner_text() == "\u22122"  # the account and its contact
        gain = page.locator('#move-result tr[data-user-id="carol"] .gain')
        assert await gain.inner_text() == "+2"
        await save_screenshot(page, "console-board-preview")
        await page.click("#move-apply")
        await page.locator("#move-result .alert.ok").wait_for()
        south = page.locator('section[data-territory-id="south"]')
        await south.locator('input[data-account-id="account:n1"]').wait_for()

        await alice_phone.wait_for_doc("account:n1", {"_deleted": True}, timeout_s=TIMEOUT)
        await alice_phone.wait_for_doc("contact:kn1", {"_deleted": True}, timeout_s=TIMEOUT)
        moved = await carol_phone.wait_for_doc("account:n1", timeout_s=TIMEOUT)
        assert moved["territory_id"] == "territory:south"
        await carol_phone.wait_for_doc("contact:kn1", timeout_s=TIMEOUT)

        # a visit planned on the board reaches the assignee's phone
        await page.fill("#a-account", "s1")
        await page.select_option("#a-assignee", "carol")
        await page.click('#assign-form button[type="submit"]')
        created = page.locator("#assign-result .alert.ok")
        await created.wait_for()
        visit_id = (await created.inner_text()).split()[1]
        await carol_phone.wait_for_doc(visit_id, {"assignee_id": "carol"}, timeout_s=TIMEOUT)
        await save_screenshot(page, "console-board-after")
        for phone in (alice_phone, carol_phone):
            await phone.live_stop("live")
    finally:
        await alice_phone.close()
        await carol_phone.close()


async def test_a_rep_is_refused_by_the_console(world: World, console: Any) -> None:
    page = console
    await sign_in(page, world, "alice")
    error = page.locator("#login-error")
    await error.wait_for()
    text = await error.inner_text()
    assert "rep" in text and "mobile app" in text
    assert "/console/login" in page.url
    assert await page.evaluate("sessionStorage.length") == 0
    await save_screenshot(page, "console-login-refused")
    # a page opened directly sends them back to sign in
    await page.goto(f"{world.url}/console/inbox")
    await page.wait_for_url("**/console/login?next=*")


BAD_PRODUCTS = "sku,name,unit\nSKU-1,Espresso,kg\nSKU-2,,kg\nSKU-3,Tea,pcs\n"


async def test_conflicts_reports_and_import_pages(world: World, console: Any) -> None:
    page = console
    await page.set_viewport_size({"width": 768, "height": 1024})  # a tablet, upright
    await sign_in(page, world, "bo")
    await page.wait_for_url("**/console/inbox")
    await save_screenshot(page, "console-inbox-tablet")
    assert await no_horizontal_scroll(page)

    await page.click("nav >> text=Conflicts")
    await wait_for_js(page, "document.body.dataset.conflictsReady === '1'")
    assert await page.locator("#conflicts-empty").is_visible()
    await save_screenshot(page, "console-conflicts")

    await page.click("nav >> text=Reports")
    await wait_for_js(page, "document.body.dataset.reportsReady")
    assert await page.evaluate(
        "!!Chart.getChart('sales-chart') && !!Chart.getChart('visits-chart')"
    )
    href = await page.get_attribute("#sales-csv", "href")
    assert href and href.startswith("blob:")
    await save_screenshot(page, "console-reports")

    await page.click("nav >> text=Import")
    await wait_for_js(page, "document.body.dataset.importReady === '1'")
    await page.set_input_files(
        "#i-file", {"name": "products.csv", "mimeType": "text/csv", "buffer": BAD_PRODUCTS.encode()}
    )
    await page.click('#import-form button[type="submit"]')
    await wait_for_js(page, "document.body.dataset.importDone")
    assert "Nothing imported" in await page.locator("#i-result").inner_text()
    rows = page.locator("#i-errors tbody tr")
    assert await rows.count() == 1
    assert (await rows.first.inner_text()).split("\t")[:2] == ["3", "name"]
    await save_screenshot(page, "console-import-refused")

    await page.evaluate("delete document.body.dataset.importDone")
    await page.check("#i-skip")
    await page.click('#import-form button[type="submit"]')
    await wait_for_js(page, "document.body.dataset.importDone")
    assert "2 written" in await page.locator("#i-result").inner_text()
    assert await page.evaluate("document.getElementById('i-progress').value") == 100
    await page.click('#product-search button[type="submit"]')
    await page.locator("#products tbody tr").nth(1).wait_for()
    await save_screenshot(page, "console-import")

    async def stored() -> bool:
        doc = await world.couch.get_or_none(world.dbs.master, "product:SKU-3")
        return bool(doc and doc["name"] == "Tea")

    await wait_until(stored, timeout=10, message="product:SKU-3 imported")
