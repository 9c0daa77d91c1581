/* Catalog and import: POST /api/v1/import/{kind} with the CSV file, read as NDJSON so the
 * page shows the upload's progress, then the batches written, then the result with every
 * row error (line, column, reason). The catalog list is GET /api/v1/products. */
(function () {
  "use strict";
  const { api, h, clear } = FS;
  const bar = document.getElementById("i-progress");
  const stage = document.getElementById("i-stage");
  const resultBox = document.getElementById("i-result");
  const errors = document.getElementById("i-errors");
  let columns = {};

  function showColumns() {
    const kind = document.getElementById("i-kind").value;
    const cols = columns[kind] || [];
    document.getElementById("i-columns").textContent =
      "Columns: " + cols.map((c) => c.column + (c.required ? "*" : "")).join(", ") + " (* required)";
  }

  function showResult(result) {
    const ok = !result.refused && !result.errors.length && !result.write_errors.length;
    resultBox.className = "alert " + (result.refused ? "error" : ok ? "ok" : "warn");
    resultBox.textContent = result.refused
      ? `Nothing imported: ${result.bad_rows || result.errors.length} bad row(s) in ${result.rows} row(s). Fix them, or tick "write the good rows".`
      : `Imported ${result.kind}: ${result.written} written, ${result.unchanged} unchanged, ${result.bad_rows} bad row(s) skipped, ${result.write_errors.length} not written.`;
    resultBox.hidden = false;
    const tbody = clear(errors.querySelector("tbody"));
    result.errors.forEach((e) => tbody.appendChild(h("tr", null, h("td", { class: "num" }, e.line), h("td", null, e.column || "—"), h("td", null, e.reason))));
    result.write_errors.forEach((e) => tbody.appendChild(h("tr", null, h("td", { class: "num" }, "—"), h("td", null, e.id), h("td", null, `${e.error}: ${e.reason}`))));
    errors.hidden = !tbody.children.length;
    document.body.dataset.importDone = String(Date.now());
  }

  function upload(ev) {
    ev.preventDefault();
    const file = document.getElementById("i-file").files[0];
    if (!file) return;
    const kind = document.getElementById("i-kind").value;
    const skip = document.getElementById("i-skip").checked;
    resultBox.hidden = true;
    errors.hidden = true;
    bar.value = 0;
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/import/${encodeURIComponent(kind)}?skip_bad_rows=${skip}`);
    xhr.setRequestHeader("Authorization", "Bearer " + FS.session().token);
    xhr.setRequestHeader("Content-Type", "text/csv");
    xhr.setRequestHeader("Accept", "application/x-ndjson");
    let seen = 0;
    let result = null;
    const readLines = () => {
      const text = xhr.responseText;
      let cut;
      while ((cut = text.indexOf("\n", seen)) >= 0) {
        const line = text.slice(seen, cut);
        seen = cut + 1;
        if (!line.trim()) continue;
        const msg = JSON.parse(line);
        if (msg.progress) {
          bar.value = 50 + (50 * msg.progress.done) / Math.max(msg.progress.total, 1);
          stage.textContent = `Writing: ${msg.progress.done} / ${msg.progress.total} documents`;
        } else if (msg.result) {
          result = msg.result;
        }
      }
    };
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        bar.value = (50 * e.loaded) / e.total;
        stage.textContent = `Uploading: ${Math.round(e.loaded / 1024)} / ${Math.round(e.total / 1024)} KB`;
      }
    });
    xhr.upload.addEventListener("load", () => {
      stage.textContent = "Checking every row…";
    });
    xhr.addEventListener("progress", readLines);
    xhr.addEventListener("load", () => {
      if (xhr.status !== 200) {
        let detail = xhr.statusText;
        try {
          detail = JSON.parse(xhr.responseText).detail || detail;
        } catch (e) {
          /* not JSON */
        }
        resultBox.className = "alert error";
        resultBox.textContent = `Upload refused (${xhr.status}): ${detail}`;
        resultBox.hidden = false;
        stage.textContent = "";
        return;
      }
      readLines();
      bar.value = 100;
      stage.textContent = "Done.";
      if (result) showResult(result);
    });
    xhr.addEventListener("error", () => {
      resultBox.className = "alert error";
      resultBox.textContent = "The upload broke off: the service did not answer.";
      resultBox.hidden = false;
    });
    xhr.send(file);
  }

  async function products() {
    const q = document.getElementById("p-q").value.trim();
    const found = await api("GET", "/api/v1/products?limit=100" + (q ? "&q=" + encodeURIComponent(q) : ""));
    document.getElementById("p-count").textContent = `(${found.total} product(s)${found.total > found.items.length ? `, first ${found.items.length} shown` : ""})`;
    const tbody = clear(document.querySelector("#products tbody"));
    found.items.forEach((p) => tbody.appendChild(h("tr", null, h("td", null, p.sku), h("td", null, p.name), h("td", null, p.unit), h("td", null, p.category || ""), h("td", null, p.active === false ? "no" : "yes"))));
  }

  FS.page(async () => {
    columns = await api("GET", "/api/v1/import");
    showColumns();
    document.getElementById("i-kind").addEventListener("change", showColumns);
    document.getElementById("import-form").addEventListener("submit", upload);
    document.getElementById("product-search").addEventListener("submit", (ev) => {
      ev.preventDefault();
      products().catch((err) => FS.notice(err.explain("Catalog"), "error"));
    });
    await products();
    document.body.dataset.importReady = "1";
  });
})();
