/* The conflicts queue: GET /api/v1/conflicts (newest first, paged by next_cursor), each record
 * linked to its order, with what was overridden and who won. */
(function () {
  "use strict";
  const { api, h, clear, fmtTime, localId } = FS;
  const tbody = document.querySelector("#conflicts tbody");
  const more = document.getElementById("conflicts-more");
  let cursor = null;

  function docLink(rec) {
    if (rec.doc_type === "order") {
      return h("a", { href: "/console/orders/" + encodeURIComponent(localId(rec.doc_id)) }, rec.doc_id);
    }
    return h("span", null, rec.doc_id);
  }

  function row(rec) {
    const lost = (rec.overridden || []).map((o) =>
      h("li", null, h("code", null, o.what), ": ", JSON.stringify(o.lost_value), ", won by ", o.by)
    );
    return h(
      "tr",
      { dataset: { docId: rec.doc_id } },
      h("td", null, fmtTime(rec.updated_at)),
      h("td", null, docLink(rec), h("br"), h("small", { class: "muted" }, rec.doc_type)),
      h("td", null, rec.strategy, h("br"), h("small", { class: "muted" }, `${(rec.leaves || []).length} leaves → ${rec.merged_rev}`)),
      h("td", null, lost.length ? h("ul", { class: "plain" }, lost) : h("span", { class: "muted" }, "nothing lost")),
      h("td", null, (rec.user_ids || []).join(", ") || "—")
    );
  }

  async function load(reset) {
    const params = new URLSearchParams({ limit: "50" });
    const type = document.getElementById("c-type").value;
    const user = document.getElementById("c-user").value.trim();
    if (type) params.set("doc_type", type);
    if (user) params.set("user_id", user);
    if (!reset && cursor) params.set("cursor", cursor);
    const page = await api("GET", "/api/v1/conflicts?" + params);
    if (reset) clear(tbody);
    page.records.forEach((r) => tbody.appendChild(row(r)));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    document.getElementById("conflicts-empty").hidden = tbody.children.length > 0;
    document.body.dataset.conflictsReady = "1";
  }

  FS.page(async () => {
    document.getElementById("conflict-filters").addEventListener("submit", (ev) => {
      ev.preventDefault();
      load(true).catch((err) => FS.notice(err.explain("Conflicts"), "error"));
    });
    more.addEventListener("click", () => load(false).catch((err) => FS.notice(err.explain("Conflicts"), "error")));
    await load(true);
  });
})();
