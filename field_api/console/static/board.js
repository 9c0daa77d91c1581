/* Manager board, all through /api/v1:
 *   territories, accounts, reps       GET /territories, /accounts, /users
 *   move accounts                     POST /territories/{to}/accounts/preview, then PUT .../accounts
 *   set a territory's reps            POST /territories/{id}/reps/preview, then PUT .../reps
 *   visits and work orders            POST /visits, /work-orders; GET both for the list
 *   team sync health (live)           GET /team, again on "sync" / "device_stale" / "assignment"
 *   account plot                      SVG from each account's location (no tile server)
 */
(function () {
  "use strict";
  const { api, h, clear, fmtTime, localId, notice } = FS;
  const SVG = "http://www.w3.org/2000/svg";
  const STALE_MS = 24 * 3600 * 1000;
  let territories = [];
  let accounts = new Map();
  let fieldUsers = [];
  const selected = new Set();
  let pendingMove = null;

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const c of children) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    return el;
  }

  /** Accounts of one territory as dots, equirectangular, scaled to their own bounding box. */
  function plot(members) {
    const W = 400, H = 220, PAD = 14;
    const pts = members.filter((a) => a.location && isFinite(a.location.lat) && isFinite(a.location.lon));
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img" });
    root.appendChild(svg("title", {}, `${pts.length} of ${members.length} accounts have a location`));
    if (!pts.length) {
      root.appendChild(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#5b6575" }, "no locations"));
      return root;
    }
    const lats = pts.map((a) => a.location.lat), lons = pts.map((a) => a.location.lon);
    const minLat = Math.min(...lats), maxLat = Math.max(...lats);
    const minLon = Math.min(...lons), maxLon = Math.max(...lons);
    const midLat = ((minLat + maxLat) / 2) * (Math.PI / 180);
    const spanX = Math.max((maxLon - minLon) * Math.cos(midLat), 1e-6), spanY = Math.max(maxLat - minLat, 1e-6);
    const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
    // the accounts' box centred in the plot (a lone account sits in the middle)
    const offX = (W - spanX * scale) / 2, offY = (H - spanY * scale) / 2;
    for (const a of pts) {
      const x = offX + (a.location.lon - minLon) * Math.cos(midLat) * scale;
      const y = H - offY - (a.location.lat - minLat) * scale;
      const dot = svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 4, "data-account-id": a._id, class: selected.has(a._id) ? "selected" : "" });
      dot.appendChild(svg("title", {}, `${a.name} (${a.location.lat}, ${a.location.lon})`));
      root.appendChild(dot);
    }
    root.appendChild(svg("text", { x: PAD, y: H - 3, "font-size": 10, fill: "#5b6575" }, `${minLat.toFixed(2)}…${maxLat.toFixed(2)} N, ${minLon.toFixed(2)}…${maxLon.toFixed(2)} E`));
    return root;
  }

  function updateMoveCount() {
    document.getElementById("move-count").textContent = String(selected.size);
    pendingMove = null;
    document.getElementById("move-apply").disabled = true;
    document.querySelectorAll("circle[data-account-id]").forEach((c) => {
      c.classList.toggle("selected", selected.has(c.dataset.accountId));
    });
  }

  function territoryCard(t) {
    const members = t.account_ids.map((id) => accounts.get(id)).filter(Boolean);
    const list = h(
      "div",
      { class: "accounts", role: "group", "aria-label": `accounts of ${t.name}` },
      members.map((a) =>
        h(
          "label",
          null,
          h("input", {
            type: "checkbox",
            value: a._id,
            checked: selected.has(a._id),
            dataset: { accountId: a._id },
            onchange: (ev) => {
              if (ev.target.checked) selected.add(a._id);
              else selected.delete(a._id);
              updateMoveCount();
            },
          }),
          a.name,
          h("small", { class: "muted" }, " " + localId(a._id))
        )
      )
    );
    const repBoxes = fieldUsers.map((u) =>
      h("label", null, h("input", { type: "checkbox", value: u.id, checked: t.rep_ids.includes(u.id), dataset: { repId: u.id } }), ` ${u.name} (${u.role})`)
    );
    const repResult = h("div", { class: "rep-result" });
    let repPreviewed = null;
    const applyReps = h("button", { type: "button", class: "primary", disabled: true }, "Apply reps");
    const chosen = () => repBoxes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    const previewReps = h("button", { type: "button" }, "Preview reps");
    previewReps.addEventListener("click", async () => {
      try {
        const ids = chosen();
        const preview = await api("POST", `/api/v1/territories/${encodeURIComponent(t.id)}/reps/preview`, ids);
        clear(repResult).appendChild(effectTable(preview));
        repPreviewed = ids;
        applyReps.disabled = false;
      } catch (err) {
        clear(repResult).appendChild(h("p", { class: "alert error" }, err.explain("Preview")));
      }
    });
    applyReps.addEventListener("click", async () => {
      try {
        await api("PUT", `/api/v1/territories/${encodeURIComponent(t.id)}/reps`, repPreviewed);
        notice(`Reps of ${t.name} set: ${repPreviewed.join(", ") || "none"}.`, "ok");
        await loadTerritories();
      } catch (err) {
        clear(repResult).appendChild(h("p", { class: "alert error" }, err.explain("Setting reps")));
      }
    });
    return h(
      "section",
      { class: "card territory", dataset: { territoryId: t.id } },
      h("h2", null, t.name, " ", h("small", { class: "muted" }, `${t.id} · ${members.length} accounts`)),
      plot(members),
      list,
      h("details", null, h("summary", null, "Reps: ", t.rep_ids.join(", ") || "none"), h("div", { class: "reps" }, repBoxes), h("div", { class: "actions" }, previewReps, applyReps), repResult)
    );
  }

  function effectTable(preview) {
    if (!preview.users.length) return h("p", { class: "muted" }, "No device would change.");
    const kinds = (m) => Object.entries(m).map(([k, n]) => `${n} ${k}`).join(", ");
    return h(
      "table",
      { class: "grid preview" },
      h("thead", null, h("tr", null, h("th", null, "User"), h("th", { class: "num" }, "Gains"), h("th", { class: "num" }, "Loses"), h("th", null, "Documents"))),
      h(
        "tbody",
        null,
        preview.users.map((u) =>
          h(
            "tr",
            { dataset: { userId: u.user_id } },
            h("td", null, u.user_id),
            h("td", { class: "num gain" }, "+" + u.gain),
            h("td", { class: "num lose" }, "−" + u.lose),
            h("td", null, [u.gain ? "gains " + kinds(u.gained) : "", u.lose ? "loses " + kinds(u.lost) : ""].filter(Boolean).join("; "))
          )
        )
      )
    );
  }

  function renderTerritories() {
    const box = clear(document.getElementById("territories"));
    territories.forEach((t) => box.appendChild(territoryCard(t)));
    const target = clear(document.getElementById("move-target"));
    territories.forEach((t) => target.appendChild(h("option", { value: t.id }, t.name)));
    updateMoveCount();
  }

  async function loadTerritories() {
    const [ts, accs] = await Promise.all([api("GET", "/api/v1/territories"), api("GET", "/api/v1/accounts?limit=5000")]);
    territories = ts.sort((a, b) => a.name.localeCompare(b.name));
    accounts = new Map(accs.items.map((a) => [a._id, a]));
    const list = clear(document.getElementById("account-list"));
    accs.items.forEach((a) => list.appendChild(h("option", { value: a._id }, a.name)));
    for (const id of [...selected]) if (!accounts.has(id)) selected.delete(id);
    renderTerritories();
  }

  async function previewMove(ev) {
    ev.preventDefault();
    const box = clear(document.getElementById("move-result"));
    const to = territories.find((t) => t.id === document.getElementById("move-target").value);
    if (!to || !selected.size) {
      box.appendChild(h("p", { class: "alert error" }, "Tick one or more accounts, then pick the territory they move to."));
      return;
    }
    const ids = [...new Set([...to.account_ids, ...selected])];
    try {
      const preview = await api("POST", `/api/v1/territories/${encodeURIComponent(to.id)}/accounts/preview`, ids);
      box.appendChild(h("p", null, `Moving ${selected.size} account(s) to ${to.name}:`));
      box.appendChild(effectTable(preview));
      pendingMove = { to, ids };
      document.getElementById("move-apply").disabled = false;
      document.getElementById("move-apply").focus();
    } catch (err) {
      box.appendChild(h("p", { class: "alert error" }, err.explain("Preview")));
    }
  }

  async function applyMove() {
    if (!pendingMove) return;
    const box = document.getElementById("move-result");
    const { to, ids } = pendingMove;
    try {
      await api("PUT", `/api/v1/territories/${encodeURIComponent(to.id)}/accounts`, ids);
      clear(box).appendChild(h("p", { class: "alert ok" }, `Moved ${selected.size} account(s) to ${to.name}. The devices follow on their next sync.`));
      selected.clear();
      await loadTerritories();
    } catch (err) {
      clear(box).appendChild(h("p", { class: "alert error" }, err.explain("Move")));
    }
  }

  function isStale(last) {
    return !last || Date.now() - new Date(last).getTime() > STALE_MS;
  }

  async function loadTeam() {
    const team = await api("GET", "/api/v1/team");
    const tbody = clear(document.querySelector("#team tbody"));
    for (const u of team.users) {
      const anyStale = !u.devices.length || u.devices.some((d) => isStale(d.last_pull || d.last_push));
      tbody.appendChild(
        h(
          "tr",
          { class: anyStale ? "stale" : "", dataset: { userId: u.user_id } },
          h("td", null, u.name || u.user_id, h("br"), h("small", { class: "muted" }, u.user_id)),
          h("td", null, u.role),
          h(
            "td",
            null,
            u.devices.length
              ? h(
                  "ul",
                  { class: "plain" },
                  u.devices.map((d) =>
                    h(
                      "li",
                      { class: "device", dataset: { deviceId: d.device_id } },
                      h("span", { class: "device-name" }, d.device_id),
                      ` (${d.platform || "?"}) ${fmtTime(d.last_pull)} / ${fmtTime(d.last_push)} `,
                      isStale(d.last_pull || d.last_push) ? h("span", { class: "badge stale" }, "stale") : ""
                    )
                  )
                )
              : h("span", { class: "badge stale" }, "no device")
          ),
          h("td", null, fmtTime(u.last_pull)),
          h("td", null, fmtTime(u.last_push)),
          h("td", { class: "num" }, u.pending_changes + (u.pending_capped ? "+" : "")),
          h("td", { class: "num" }, u.open_conflicts),
          h("td", { class: "num" }, u.orders_today),
          h("td", { class: "num" }, `${u.visits_done} / ${u.visits_planned}`)
        )
      );
    }
    document.body.dataset.teamReady = String(Date.now());
  }

  async function loadAssignments() {
    const [visits, wos] = await Promise.all([api("GET", "/api/v1/visits"), api("GET", "/api/v1/work-orders")]);
    const all = [...visits.map((v) => ["visit", v]), ...wos.map((w) => ["work order", w])];
    all.sort((a, b) => String(b[1].updated_at).localeCompare(String(a[1].updated_at)));
    const tbody = clear(document.querySelector("#assignments tbody"));
    for (const [kind, d] of all.slice(0, 20)) {
      const acc = accounts.get(d.account_id);
      tbody.appendChild(
        h(
          "tr",
          null,
          h("td", null, localId(d._id)),
          h("td", null, kind),
          h("td", null, acc ? acc.name : d.account_id),
          h("td", null, d.assignee_id || "—"),
          h("td", null, d.status),
          h("td", null, fmtTime(d.scheduled_start || d.sla_due))
        )
      );
    }
  }

  function utc(value) {
    return value ? new Date(value).toISOString() : null;
  }

  async function createAssignment(ev) {
    ev.preventDefault();
    const box = clear(document.getElementById("assign-result"));
    const type = document.getElementById("a-type").value;
    const account = document.getElementById("a-account").value.trim();
    const body = {
      account_id: account.startsWith("account:") ? account : "account:" + account,
      assignee_id: document.getElementById("a-assignee").value,
    };
    let path = "/api/v1/visits";
    if (type === "visit") {
      body.kind = document.getElementById("a-kind").value;
      const start = utc(document.getElementById("a-start").value), end = utc(document.getElementById("a-end").value);
      if (start) body.scheduled_start = start;
      if (end) body.scheduled_end = end;
    } else {
      path = "/api/v1/work-orders";
      body.priority = document.getElementById("a-priority").value;
      body.problem = document.getElementById("a-problem").value.trim();
    }
    try {
      const doc = await api("POST", path, body);
      box.appendChild(h("p", { class: "alert ok" }, `Created ${doc._id} for ${doc.assignee_id}.`));
      await loadAssignments();
    } catch (err) {
      box.appendChild(h("p", { class: "alert error" }, err.explain("Creating")));
    }
  }

  function switchType() {
    const type = document.getElementById("a-type").value;
    document.querySelectorAll("#assign-form [data-for]").forEach((el) => {
      el.hidden = el.dataset.for !== type;
    });
  }

  FS.page(async () => {
    const users = await api("GET", "/api/v1/users");
    fieldUsers = users.filter((u) => (u.role === "rep" || u.role === "engineer") && u.active);
    const assignee = clear(document.getElementById("a-assignee"));
    fieldUsers.forEach((u) => assignee.appendChild(h("option", { value: u.id }, `${u.name} (${u.role})`)));
    document.getElementById("move-form").addEventListener("submit", previewMove);
    document.getElementById("move-apply").addEventListener("click", applyMove);
    document.getElementById("assign-form").addEventListener("submit", createAssignment);
    document.getElementById("a-type").addEventListener("change", switchType);
    await Promise.all([loadTerritories(), loadTeam()]);
    await loadAssignments();
    const refreshTeam = FS.debounce(() => loadTeam().catch((err) => notice(err.explain("Team"), "error")), 500);
    FS.live((ev) => {
      if (ev.event === "sync" || ev.event === "device_stale" || ev.event === "assignment" || ev.event === "reset") refreshTeam();
    });
    document.body.dataset.boardReady = "1";
  });
})();
