"""Browser and hybrid apps, in a real headless Chromium: PouchDB's browser build on a page served
from another origin (``app_origin``: http://localhost:<port>) than the service (127.0.0.1).

Each test starts the service with that origin in ``FIELDSYNC_CORS_ORIGINS`` and drives the page as
an app would: sign in with a token or a cookie session, pull, push orders (with local design
documents and a pouchdb-find index present), a photo from a Blob, a live sync that receives the
back office's confirmation. A failing page leaves a screenshot and its console log in
test-artifacts/browser/.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from polling import wait_until
from support.browser import AppOrigin, wait_for_js
from support.orders_world import order
from support.world import World, add_user, login

from mobile_schema import sample

# the page's helpers; every test's page loads them
APP_JS = """
window.signInWithToken = async (base, username, password) => {
  const resp = await fetch(base + '/api/v1/auth/token', {
    method: 'POST', body: new URLSearchParams({username, password})});
  if (!resp.ok) throw new Error('sign-in answered ' + resp.status);
  const token = (await resp.json()).access_token;
  const me = await (await fetch(base + '/api/v1/me', {
    headers: {Authorization: 'Bearer ' + token}})).json();
  return {token, syncUrl: me.sync_url};
};
window.remoteWithToken = (syncUrl, token) => new PouchDB(syncUrl, {
  skip_setup: true, headers: {Authorization: 'Bearer ' + token, 'X-Device-Id': 'pwa-1'}});
window.failure = async (promise) => {
  try { await promise; return null; } catch (e) { return {status: e.status, name: e.name,
    message: String(e.message || e.reason || e)}; }
};
"""
PAGE = (
    "<!doctype html><title>field app</title>"
    "<script src='/pouchdb/pouchdb.min.js'></script>"
    "<script src='/pouchdb/pouchdb.find.min.js'></script>"
    f"<script>{APP_JS}</script><body>field app</body>"
)


@pytest.fixture
async def app_world(service_factory: Any, app_origin: AppOrigin) -> World:
    service = await service_factory(cors_origins=[app_origin.url])
    w = World(service, await login(service.url, "admin", "admin-pass"))
    for user_id, role in (("alice", "rep"), ("bo", "backoffice")):
        await add_user(w, user_id, role)
    return w


async def open_app(page: Any, app_origin: AppOrigin) -> None:
    await page.goto(app_origin.add_page("app.html", PAGE))
    await wait_for_js(page, "typeof PouchDB === 'function' && typeof window.failure === 'function'")


async def in_fs_orders(world: World, doc_id: str, **fields: Any) -> bool:
    doc = await world.couch.get_or_none(world.dbs.orders, doc_id)
    return doc is not None and all(doc.get(k) == v for k, v in fields.items())


async def design_ids(world: World, db: str) -> list[str]:
    rows = await world.couch.all_docs(db, startkey="_design/", endkey="_design0")
    return [r["id"] for r in rows["rows"]]


async def test_token_sign_in_pull_and_push_an_order(
    app_world: World, page: Any, app_origin: AppOrigin
) -> None:
    db = app_world.dbs.rep("alice")
    await app_world.couch.bulk_docs(
        db, [sample("product", _id=f"product:P{i}", sku=f"P{i}") for i in range(30)]
    )
    await open_app(page, app_origin)
    result = await page.evaluate(
        """async ([base, password, order]) => {
          const {token, syncUrl} = await signInWithToken(base, 'alice', password);
          const local = new PouchDB('token-app');
          const remote = remoteWithToken(syncUrl, token);
          const pulled = await local.replicate.from(remote);
          await local.put(order);
          const pushed = await local.replicate.to(remote);
          const products = await local.allDocs({startkey: 'product:', endkey: 'product;'});
          return {syncUrl, pulled: pulled.docs_written, pushed: pushed.docs_written,
                  failures: pushed.doc_write_failures, products: products.rows.length};
        }""",
        [app_world.url, app_world.users["alice"].password, order("pwa-1")],
    )
    assert result["syncUrl"] == app_world.users["alice"].sync_url
    assert result["pulled"] == 30
    assert result["products"] == 30
    assert (result["pushed"], result["failures"]) == (1, 0)
    stored = await app_world.couch.get(db, "order:pwa-1")
    assert stored["rep_id"] == "alice"
    await wait_until(lambda: in_fs_orders(app_world, "order:pwa-1"), timeout=30)


async def test_basic_sign_in_for_apps_that_only_do_basic(
    app_world: World, page: Any, app_origin: AppOrigin
) -> None:
    alice = app_world.users["alice"]
    await app_world.couch.put(app_world.dbs.rep("alice"), sample("product", _id="product:B1"))
    await open_app(page, app_origin)
    result = await page.evaluate(
        """async ([syncUrl, password, order]) => {
          const remote = new PouchDB(syncUrl,
            {skip_setup: true, auth: {username: 'alice', password}});
          const local = new PouchDB('basic-app');
          const pulled = await local.replicate.from(remote);
          await local.put(order);
          const pushed = await local.replicate.to(remote);
          return [pulled.docs_written, pushed.docs_written];
        }""",
        [alice.sync_url, alice.password, order("basic-1")],
    )
    assert result == [1, 1]
    assert await app_world.couch.get_or_none(app_world.dbs.rep("alice"), "order:basic-1")


async def test_local_design_documents_and_a_find_index_never_block_a_push(
    app_world: World, page: Any, app_origin: AppOrigin
) -> None:
    """The issue's reproduction: a view and a pouchdb-find index kept locally, 20 orders."""
    await open_app(page, app_origin)
    orders = [order(f"d-{i:02}", note=f"order {i}") for i in range(20)]
    result = await page.evaluate(
        """async ([base, password, orders, late]) => {
          const {token, syncUrl} = await signInWithToken(base, 'alice', password);
          const local = new PouchDB('designs-app');
          await local.put({_id: '_design/app_queries',
                           views: {by_status: {map: 'function (doc) { emit(doc.status); }'}}});
          await local.createIndex({index: {fields: ['account_id']}, ddoc: 'idx-account'});
          await local.bulkDocs(orders);
          const viewed = await local.query('app_queries/by_status', {key: 'submitted'});
          const found = await local.find({selector: {account_id: 'account:cafe-nord'}});
          const remote = remoteWithToken(syncUrl, token);
          const first = await local.replicate.to(remote);
          await local.put(late);
          const second = await local.replicate.to(remote);
          const designs = await local.allDocs({startkey: '_design/', endkey: '_design/\\uffff'});
          return {first: [first.status, first.docs_written, first.doc_write_failures],
                  second: [second.status, second.docs_written, second.doc_write_failures],
                  viewed: viewed.rows.length, found: found.docs.length,
                  designs: designs.rows.map(r => r.id)};
        }""",
        [app_world.url, app_world.users["alice"].password, orders, order("d-late")],
    )
    assert result["viewed"] == 20
    assert result["found"] == 20
    assert sorted(result["designs"]) == ["_design/app_queries", "_design/idx-account"]
    assert result["first"] == ["complete", 20, 0]
    # the checkpoint moved on: the next push sends only the new order
    assert result["second"] == ["complete", 1, 0]
    rep = app_world.dbs.rep("alice")
    stored = await app_world.couch.all_docs(rep, startkey="order:", endkey="order;")
    assert len(stored["rows"]) == 21
    for doc in [*orders, order("d-late")]:
        await wait_until(lambda d=doc: in_fs_orders(app_world, d["_id"]), timeout=30)
    for db in (rep, app_world.dbs.orders, app_world.dbs.field):
        assert not set(result["designs"]) & set(await design_ids(app_world, db)), db


async def test_cookie_session_sign_in_sync_and_sign_out(
    app_world: World, page: Any, app_origin: AppOrigin
) -> None:
    db = app_world.dbs.rep("alice")
    await app_world.couch.put(db, sample("product", _id="product:C1", sku="C1"))
    await open_app(page, app_origin)
    result = await page.evaluate(
        """async ([base, password, order]) => {
          const signIn = await fetch(base + '/sync/_session', {method: 'POST',
            credentials: 'include', headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({name: 'alice', password})});
          const who = await (await fetch(base + '/sync/_session', {credentials: 'include'})).json();
          // no Authorization at all: the AuthSession cookie signs PouchDB's requests
          const remote = new PouchDB(who.info.sync_url, {skip_setup: true});
          const local = new PouchDB('cookie-app');
          const pulled = await local.replicate.from(remote);
          await local.put(order);
          const pushed = await local.replicate.to(remote);
          return {signIn: signIn.status, signedIn: await signIn.json(), who: who.userCtx,
                  pulled: pulled.docs_written, pushed: pushed.docs_written,
                  readable: document.cookie.includes('AuthSession'), syncUrl: who.info.sync_url};
        }""",
        [app_world.url, app_world.users["alice"].password, order("cookie-1")],
    )
    assert result["signIn"] == 200
    assert result["signedIn"] == {"ok": True, "name": "alice", "roles": ["rep"]}
    assert result["who"] == {"name": "alice", "roles": ["rep"]}
    assert (result["pulled"], result["pushed"]) == (1, 1)
    assert result["readable"] is False  # HttpOnly: no script can read it
    assert await app_world.couch.get_or_none(db, "order:cookie-1") is not None
    cookies = [c for c in await page.context.cookies() if c["name"] == "AuthSession"]
    assert len(cookies) == 1
    assert cookies[0]["httpOnly"] and cookies[0]["secure"]
    assert (cookies[0]["sameSite"], cookies[0]["path"]) == ("None", "/sync")

    after = await page.evaluate(
        """async ([base, syncUrl]) => {
          const out = await fetch(base + '/sync/_session', {method: 'DELETE',
                                                           credentials: 'include'});
          const who = await (await fetch(base + '/sync/_session', {credentials: 'include'})).json();
          // (PouchDB's info() does not look at the status; a read does)
          const remote = new PouchDB(syncUrl, {skip_setup: true});
          const refused = await failure(remote.get('product:C1'));
          return {out: out.status, who: who.userCtx, refused};
        }""",
        [app_world.url, result["syncUrl"]],
    )
    assert after["out"] == 200
    assert after["who"] == {"name": None, "roles": []}
    assert after["refused"] and after["refused"]["status"] == 401, after
    assert not [c for c in await page.context.cookies() if c["name"] == "AuthSession"]


async def test_live_sync_receives_the_back_office_confirmation(
    app_world: World, page: Any, app_origin: AppOrigin
) -> None:
    db = app_world.dbs.rep("alice")
    await app_world.couch.put(db, sample("product", _id="product:old", sku="old"))
    await open_app(page, app_origin)
    await page.evaluate(
        """async ([base, password]) => {
          const {token, syncUrl} = await signInWithToken(base, 'alice', password);
          window.local = new PouchDB('live-app');
          window.remote = remoteWithToken(syncUrl, token);
          window.live = local.sync(remote, {live: true, retry: true});
          // a second replication from 'now': only what changes from here on
          window.fresh = new PouchDB('live-fresh');
          window.fromNow = fresh.replicate.from(remote, {live: true, retry: true, since: 'now'});
        }""",
        [app_world.url, app_world.users["alice"].password],
    )
    await wait_for_js(page, "local.get('product:old').then(() => true, () => false)")
    await page.evaluate("(o) => local.put(o)", order("live-1"))
    await wait_until(lambda: in_fs_orders(app_world, "order:live-1"), timeout=30)
    async with app_world.http("bo") as http:
        resp = await http.post("/api/v1/orders/order:live-1/confirm", json={})
        assert resp.status_code == 200, resp.text
    status = await wait_for_js(
        page,
        "local.get('order:live-1').then(d => d.status === 'confirmed' && d.status, () => false)",
        timeout=30,
    )
    assert status == "confirmed"
    # the 'now' replication got the confirmation and the order, not what was there before
    await wait_for_js(
        page, "fresh.get('order:live-1').then(d => d.status === 'confirmed', () => false)"
    )
    assert await page.evaluate("fresh.get('product:old').then(() => 'there', () => 'absent')") == (
        "absent"
    )
    await page.evaluate("live.cancel(); fromNow.cancel();")


async def test_a_photo_from_a_blob_with_revs_limit_and_auto_compaction(
    app_world: World, page: Any, app_origin: AppOrigin
) -> None:
    db = app_world.dbs.rep("alice")
    await app_world.couch.put(
        app_world.dbs.field, sample("visit", _id="visit:v-1", assignee_id="alice")
    )

    async def visit_arrived() -> bool:
        return await app_world.couch.get_or_none(db, "visit:v-1") is not None

    await wait_until(visit_arrived, timeout=30, message="the visit in rep_alice")
    photo = bytes(range(256)) * 40  # binary, not text
    note = sample(
        "visit_note",
        _id="visit_note:n-1",
        visit_id="visit:v-1",
        author_id="alice",
        updated_by="alice",
    )
    await open_app(page, app_origin)
    result = await page.evaluate(
        """async ([base, password, note, photo64, o]) => {
          const {token, syncUrl} = await signInWithToken(base, 'alice', password);
          const local = new PouchDB('photo-app', {revs_limit: 5, auto_compaction: true});
          const remote = remoteWithToken(syncUrl, token);
          await local.replicate.from(remote);
          const bytes = Uint8Array.from(atob(photo64), c => c.charCodeAt(0));
          note._attachments = {'photo.jpg': {content_type: 'image/jpeg',
                                             data: new Blob([bytes], {type: 'image/jpeg'})}};
          await local.put(note);
          let rev = (await local.put(o)).rev;
          const first = await local.replicate.to(remote);
          for (const text of ['edit 1', 'edit 2', 'edit 3']) {
            const doc = await local.get(o._id);
            rev = (await local.put({...doc, note: text})).rev;
          }
          const second = await local.replicate.to(remote);
          const revs = (await local.get(o._id, {revs: true}))._revisions;
          return {first: [first.docs_written, first.doc_write_failures],
                  second: [second.docs_written, second.doc_write_failures], rev,
                  kept: revs.ids.length};
        }""",
        [
            app_world.url,
            app_world.users["alice"].password,
            note,
            base64.b64encode(photo).decode(),
            order("photo-order"),
        ],
    )
    assert result["first"] == [2, 0]
    assert result["second"] == [1, 0]
    assert result["kept"] == 4  # the local history: 4 revisions, within revs_limit 5
    stored = await app_world.couch.get(db, "visit_note:n-1", attachments="true")
    assert base64.b64decode(stored["_attachments"]["photo.jpg"]["data"]) == photo
    assert stored["_attachments"]["photo.jpg"]["content_type"] == "image/jpeg"
    edited = await app_world.couch.get(db, "order:photo-order", conflicts="true")
    assert edited["_rev"] == result["rev"]
    assert edited["note"] == "edit 3"
    assert "_conflicts" not in edited


async def test_an_unlisted_origin_cannot_call_the_service(
    service_factory: Any, page: Any, app_origin: AppOrigin
) -> None:
    service = await service_factory(cors_origins=["https://someone-else.example"])
    w = World(service, await login(service.url, "admin", "admin-pass"))
    alice = await add_user(w, "alice", "rep")
    await open_app(page, app_origin)
    result = await page.evaluate(
        """async ([base, syncUrl, token]) => ({
          token: await failure(signInWithToken(base, 'alice', 'alice-password')),
          sync: await failure(remoteWithToken(syncUrl, token).info()),
        })""",
        [w.url, alice.sync_url, alice.token],
    )
    # the browser refuses to hand the page any answer: no CORS headers came back
    assert "Failed to fetch" in result["token"]["message"]
    assert result["sync"] is not None
