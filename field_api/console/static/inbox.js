/* Back-office inbox: GET /api/v1/orders walked to its end (status, rep and territory are the
 * API's filters; submitted date and account search narrow what it returned), then kept live:
 * every "order" event continues the walk from the cursor, so new and changed orders arrive
 * through the same contract an ERP follows. */
(function () {
  "use strict";
  const { api, h, clear, fmtTime, localId } = FS;
  const tbody = document.querySelector("#inbox tbody");
  const form = document.getElementById("filters");
  const fields = ["status", "rep_id", "territory_id", "from", "to", "q"];
  const orders = new Map(); // _id -> order
  const fresh = new Set(); // ids that arrived live
  let accounts = new Map();
  let cursor = null;
  let walking = null;
  let again = false;

  function filters() {
    const out = {};
    for (const name of fields) out[name] = form.elements[name].value.trim();
    return out;
  }

  function fromUrl() {
    const params = new URLSearchParams(location.search);
    for (const name of fields) {
      if (params.has(name)) form.elements[name].value = params.get(name);
    }
  }

  function visible(order, f) {
    const day = (order.submitted_at || "").slice(0, 10);
    if (f.from && (!day || day < f.from)) return false;
    if (f.to && (!day || day > f.to)) return false;
    if (f.q) {
      const acc = accounts.get(order.account_id) || {};
      const hay = [order.account_id, acc.name, order._id].join(" ").toLowerCase();
      if (!hay.includes(f.q.toLowerCase())) return false;
    }
    return true;
  }

  function row(order) {
    const acc = accounts.get(order.account_id);
    const link = h("a", { href: "/console/orders/" + encodeURIComponent(localId(order._id)) }, localId(order._id));
    return h(
      "tr",
      { class: fresh.has(order._id) ? "new" : "", dataset: { orderId: order._id, status: order.status } },
      h("td", null, link),
      h("td", null, acc ? acc.name : localId(order.account_id), h("br"), h("small", { class: "muted" }, localId(order.account_id))),
      h("td", null, order.rep_id),
      h("td", null, h("span", { class: "badge " + order.status }, order.status)),
      h("td", { class: "num" }, `${order.total || ""} ${order.currency || ""}`),
      h("td", null, fmtTime(order.submitted_at)),
      h("td", null, fmtTime(order.updated_at), h("br"), h("small", { class: "muted" }, "by " + (order.updated_by || "?")))
    );
  }

  function render() {
    const f = filters();
    const shown = [...orders.values()]
      .filter((o) => visible(o, f))
      .sort((a, b) => String(b.submitted_at || b.updated_at).localeCompare(String(a.submitted_at || a.updated_at)));
    clear(tbody);
    shown.forEach((o) => tbody.appendChild(row(o)));
    document.getElementById("inbox-count").textContent = `(${shown.length})`;
    document.getElementById("inbox-empty").hidden = shown.length > 0;
    const reps = new Set([...orders.values()].map((o) => o.rep_id));
    fillList("reps", reps);
  }

  function fillList(id, values) {
    const list = clear(document.getElementById(id));
    [...values].filter(Boolean).sort().forEach((v) => list.appendChild(h("option", { value: v })));
  }

  async function walk(live) {
    if (walking) {
      again = true;
      return walking;
    }
    walking = (async () => {
      do {
        again = false;
        const f = filters();
        for (;;) {
          const params = new URLSearchParams({ limit: "500" });
          if (f.status) params.set("status", f.status);
          if (f.rep_id) params.set("rep_id", f.rep_id);
          if (f.territory_id) params.set("territory_id", f.territory_id);
          if (cursor) params.set("since", cursor);
          const page = await api("GET", "/api/v1/orders?" + params);
          for (const o of page.items) {
            if (live && !orders.has(o._id)) fresh.add(o._id);
            orders.set(o._id, o);
          }
          cursor = page.next;
          if (!page.more) break;
        }
      } while (again);
      render();
    })();
    try {
      await walking;
    } finally {
      walking = null;
    }
  }

  async function reload() {
    orders.clear();
    fresh.clear();
    cursor = null;
    await walk(false);
    document.body.dataset.inboxReady = "1";
  }

  function onEvent(ev) {
    if (ev.event === "reset") {
      reload();
      return;
    }
    if (ev.event !== "order" || !ev.data) return;
    const known = orders.get(ev.data.order_id);
    const f = filters();
    // an order that left the asked statuses is not in the walk any more: drop it here
    if (known && f.status && f.status !== "all" && !f.status.split(",").includes(ev.data.status)) {
      orders.delete(ev.data.order_id);
      render();
    }
    walk(true).catch((err) => FS.notice(err.explain("Inbox update"), "error"));
  }

  FS.page(async () => {
    fromUrl();
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(filters())) if (v) params.set(k, v);
      history.replaceState(null, "", "?" + params);
      reload().catch((err) => FS.notice(err.explain("Filter"), "error"));
    });
    const accs = await api("GET", "/api/v1/accounts?limit=5000");
    accounts = new Map(accs.items.map((a) => [a._id, a]));
    fillList("territories", new Set(accs.items.map((a) => localId(a.territory_id)).filter(Boolean)));
    FS.live(onEvent);
    await reload();
  });
})();
