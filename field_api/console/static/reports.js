/* Reports as charts (Chart.js, vendored): GET /api/v1/reports/sales?group_by=&from=&to= and
 * /reports/visits; each with its table and a CSV download of exactly those rows. */
(function () {
  "use strict";
  const { api, h, clear, csvOf } = FS;
  const charts = {};

  function chart(id, config) {
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    charts[id] = new Chart(document.getElementById(id), config);
  }

  function download(id, rows, name) {
    const link = document.getElementById(id);
    if (link.dataset.url) URL.revokeObjectURL(link.dataset.url);
    const url = URL.createObjectURL(new Blob([csvOf(rows) + "\r\n"], { type: "text/csv" }));
    link.href = url;
    link.dataset.url = url;
    link.download = name;
  }

  function range() {
    const params = new URLSearchParams();
    const from = document.getElementById("r-from").value, to = document.getElementById("r-to").value;
    if (from) params.set("from", from);
    if (to) params.set("to", to);
    return params;
  }

  async function sales() {
    const group = document.getElementById("r-group").value;
    const params = range();
    params.set("group_by", group);
    const report = await api("GET", "/api/v1/reports/sales?" + params);
    const currencies = [...new Set(report.rows.map((r) => r.currency))];
    const groups = [...new Set(report.rows.map((r) => r.group === null ? "(no territory)" : r.group))];
    const top = group === "product" ? groups.slice(0, 30) : groups;
    chart("sales-chart", {
      type: group === "day" ? "line" : "bar",
      data: {
        labels: top,
        datasets: currencies.map((cur) => ({
          label: cur,
          data: top.map((g) => {
            const row = report.rows.find((r) => (r.group === null ? "(no territory)" : r.group) === g && r.currency === cur);
            return row ? parseFloat(row.amount) : 0;
          }),
        })),
      },
    });
    const tbody = clear(document.querySelector("#sales-table tbody"));
    report.rows.forEach((r) =>
      tbody.appendChild(h("tr", null, h("td", null, r.group === null ? "(no territory)" : r.group), h("td", null, r.currency), h("td", { class: "num" }, r.amount), h("td", { class: "num" }, r.orders === null ? r.quantity : r.orders)))
    );
    const head = ["group", "currency", "amount", "orders", "lines", "quantity"];
    download("sales-csv", [head, ...report.rows.map((r) => head.map((k) => r[k]))], `sales-by-${group}-${report.from}-${report.to}.csv`);
  }

  async function visits() {
    const report = await api("GET", "/api/v1/reports/visits?" + range());
    chart("visits-chart", {
      type: "bar",
      data: {
        labels: report.rows.map((r) => r.assignee_id),
        datasets: [
          { label: "done", data: report.rows.map((r) => r.done) },
          { label: "in progress", data: report.rows.map((r) => r.in_progress) },
          { label: "open", data: report.rows.map((r) => r.open) },
        ],
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true } } },
    });
    const tbody = clear(document.querySelector("#visits-table tbody"));
    report.rows.forEach((r) =>
      tbody.appendChild(h("tr", null, h("td", null, r.assignee_id), h("td", { class: "num" }, r.planned), h("td", { class: "num" }, r.done), h("td", { class: "num" }, r.coverage_pct === null ? "—" : r.coverage_pct)))
    );
    const head = ["assignee_id", "planned", "done", "in_progress", "open", "cancelled", "coverage_pct"];
    download("visits-csv", [head, ...report.rows.map((r) => head.map((k) => r[k]))], `visits-${report.from}-${report.to}.csv`);
  }

  async function show() {
    await Promise.all([sales(), visits()]);
    document.body.dataset.reportsReady = String(Date.now());
  }

  FS.page(async () => {
    document.getElementById("report-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      show().catch((err) => FS.notice(err.explain("Report"), "error"));
    });
    await show();
  });
})();
