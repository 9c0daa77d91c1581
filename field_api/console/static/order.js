/* One order: GET /api/v1/orders/{id} and /history; the decisions POST .../confirm (with the
 * confirmed quantity of each line), /reject (a reason), /ship, /invoice. A refusal is shown
 * with its status and the API's reason; a change that arrives while the page is open (a rep's
 * edit, the resolver's merge) reloads it and says what changed. */
(function () {
  "use strict";
  const { api, h, clear, fmtTime, localId, notice } = FS;
  const orderId = document.getElementById("order-id").dataset.orderId;
  const path = "/api/v1/orders/" + encodeURIComponent(orderId);
  const alertBox = document.getElementById("order-alert");
  let order = null;
  let canDecide = false;

  function say(text, kind) {
    alertBox.textContent = text;
    alertBox.className = "alert " + (kind || "");
    alertBox.hidden = false;
  }

  function facts(dl, pairs) {
    clear(dl);
    for (const [k, v] of pairs) {
      dl.appendChild(h("dt", null, k));
      dl.appendChild(h("dd", null, v === undefined || v === null || v === "" ? "—" : v));
    }
  }

  function renderLines() {
    const tbody = clear(document.querySelector("#order-lines tbody"));
    const editable = canDecide && order.status === "submitted";
    for (const ln of order.lines || []) {
      const confirmed = ln.confirmed_qty === null || ln.confirmed_qty === undefined ? "" : ln.confirmed_qty;
      const cell = editable && !ln.deleted
        ? h("input", {
            type: "number",
            min: "0",
            step: "any",
            name: "confirmed_qty",
            value: String(confirmed === "" ? ln.qty : confirmed),
            dataset: { lineId: ln.line_id },
            "aria-label": `confirmed quantity of line ${ln.line_id}`,
          })
        : String(confirmed);
      tbody.appendChild(
        h(
          "tr",
          { class: ln.deleted ? "deleted" : "", dataset: { lineId: ln.line_id } },
          h("td", null, ln.line_id, ln.deleted ? " (deleted by the rep)" : ""),
          h("td", null, ln.sku),
          h("td", { class: "num" }, ln.qty),
          h("td", { class: "num" }, ln.unit_price),
          h("td", { class: "num" }, ln.discount_pct || 0),
          h("td", { class: "num" }, cell),
          h("td", { class: "num" }, amount(ln))
        )
      );
    }
    document.getElementById("order-total").textContent = `${order.total || ""} ${order.currency || ""}`;
  }

  function amount(ln) {
    if (ln.deleted) return "";
    const qty = ln.confirmed_qty === null || ln.confirmed_qty === undefined ? ln.qty : ln.confirmed_qty;
    const value = qty * parseFloat(ln.unit_price || 0) * (1 - (ln.discount_pct || 0) / 100);
    return value.toFixed(2);
  }

  async function renderAccount() {
    const dl = document.getElementById("order-account");
    try {
      const found = await api("GET", "/api/v1/accounts?limit=5000&q=" + encodeURIComponent(localId(order.account_id)));
      const acc = found.items.find((a) => a._id === order.account_id);
      if (!acc) throw new Error("unknown");
      const loc = acc.location ? `${acc.location.lat}, ${acc.location.lon}` : "";
      facts(dl, [
        ["Name", acc.name],
        ["Id", acc._id],
        ["Address", acc.address],
        ["Territory", localId(acc.territory_id)],
        ["Location", loc],
      ]);
    } catch (e) {
      facts(dl, [["Id", order.account_id], ["", "not in the master data (yet)"]]);
    }
  }

  function renderHistory(hist) {
    const tbody = clear(document.querySelector("#order-revisions tbody"));
    for (const r of hist.revisions) {
      tbody.appendChild(
        h(
          "tr",
          null,
          h("td", null, h("code", null, r.rev), r.rev === hist.rev ? " (current)" : ""),
          h("td", null, r.available ? r.status : "(body compacted away)"),
          h("td", { class: "num" }, r.total || ""),
          h("td", null, r.updated_by || "?"),
          h("td", null, fmtTime(r.updated_at))
        )
      );
    }
    const box = clear(document.getElementById("order-conflicts"));
    if (hist.open_conflicts.length) {
      box.appendChild(
        h("p", { class: "alert warn" }, `Unresolved right now: ${hist.open_conflicts.join(", ")} — the resolver merges them shortly.`)
      );
    }
    if (!hist.conflicts.length) {
      box.appendChild(h("p", { class: "muted" }, "No conflict was ever resolved on this order."));
      return;
    }
    for (const rec of hist.conflicts) {
      const leaves = Object.entries(rec.leaf_authors || {}).map(([rev, by]) => `${rev} by ${by || "?"}`);
      box.appendChild(
        h(
          "div",
          { class: "card conflict-record" },
          h("strong", null, `${fmtTime(rec.updated_at)} — ${rec.strategy}`),
          h("p", null, "Merged ", h("code", null, (rec.leaves || []).length + " leaves"), ": ", leaves.join("; "), " → ", h("code", null, rec.merged_rev)),
          rec.overridden && rec.overridden.length
            ? h(
                "ul",
                { class: "plain" },
                rec.overridden.map((o) => h("li", null, `${o.what}: lost value ${JSON.stringify(o.lost_value)}, kept what ${o.by} wrote`))
              )
            : h("p", { class: "muted" }, "Nothing was overridden: every change was kept.")
        )
      );
    }
  }

  async function load() {
    order = await api("GET", path);
    document.getElementById("order-status").textContent = order.status;
    document.getElementById("order-status").className = "badge " + order.status;
    document.body.dataset.orderStatus = order.status;
    document.body.dataset.orderRev = order._rev;
    facts(document.getElementById("order-facts"), [
      ["Rep", order.rep_id],
      ["Status", order.status],
      ["Submitted", fmtTime(order.submitted_at)],
      ["Confirmed", fmtTime(order.confirmed_at)],
      ["Note", order.note],
      ["Rejection reason", order.rejection_reason],
      ["Last written by", `${order.updated_by || "?"}, ${fmtTime(order.updated_at)}`],
      ["Revision", order._rev],
    ]);
    renderLines();
    document.getElementById("actions").hidden = !canDecide;
    const [hist] = await Promise.all([api("GET", path + "/history"), renderAccount()]);
    renderHistory(hist);
  }

  const ownRevs = new Set(); // revisions this page wrote: their events are no news
  let deciding = Promise.resolve();

  function decide(action, body) {
    deciding = decideNow(action, body);
    return deciding;
  }

  async function decideNow(action, body) {
    const before = order._rev;
    try {
      const after = await api("POST", `${path}/${action}`, body);
      ownRevs.add(after._rev);
      await load();
      const changed = after._rev !== before;
      say(changed ? `Order ${action}ed: now ${after.status} (revision ${after._rev}).` : `Already ${after.status}: nothing to do.`, "ok");
    } catch (err) {
      if (!(err instanceof FS.ApiError)) throw err;
      say(err.explain(action.charAt(0).toUpperCase() + action.slice(1)), "error");
      if (err.status === 409) await load().catch(() => {});
    }
  }

  function confirmLines() {
    const lines = [];
    for (const input of document.querySelectorAll("#order-lines input[name=confirmed_qty]")) {
      const qty = Number(input.value);
      if (input.value === "" || !isFinite(qty) || qty < 0) {
        throw new Error(`line ${input.dataset.lineId}: the confirmed quantity must be a number, 0 or more`);
      }
      lines.push({ line_id: input.dataset.lineId, confirmed_qty: qty });
    }
    return lines;
  }

  FS.page(async (s) => {
    canDecide = s.role === "backoffice" || s.role === "admin";
    document.getElementById("decide-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      let lines;
      try {
        lines = confirmLines();
      } catch (e) {
        say(e.message, "error");
        return;
      }
      decide("confirm", lines.length ? { lines } : {});
    });
    document.getElementById("act-reject").addEventListener("click", () => {
      const reason = document.getElementById("reject-reason").value.trim();
      if (!reason) {
        say("Say why the order is rejected: the rep will read it.", "error");
        document.getElementById("reject-reason").focus();
        return;
      }
      decide("reject", { reason });
    });
    document.getElementById("act-ship").addEventListener("click", () => decide("ship", {}));
    document.getElementById("act-invoice").addEventListener("click", () => decide("invoice", {}));
    await load();
    FS.live(async (ev) => {
      if (ev.event !== "order" || !ev.data || ev.data.order_id !== order._id) return;
      await deciding; // an event of our own decision may come before its answer
      if (ev.data.rev === order._rev || ownRevs.has(ev.data.rev)) return;
      load()
        .then(() => notice(`The order changed meanwhile: revision ${order._rev} by ${order.updated_by || "?"} (see revisions and conflict history).`, "warn"))
        .catch((err) => notice(err.explain ? err.explain("Reload") : String(err), "error"));
    });
    document.body.dataset.orderReady = "1";
  });
})();
