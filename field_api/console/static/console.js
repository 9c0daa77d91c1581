/* fieldsync console: what every page shares (window.FS).
 *
 *   FS.session()            {token, role, user_id, name} from sessionStorage, or null
 *   FS.api(method, path, body?, {raw, headers})   calls /api/v1 with the bearer token; resolves
 *                           to the parsed JSON; rejects with FS.ApiError {status, detail, body}
 *   FS.h(tag, attrs, ...children)   builds DOM; strings become text nodes, never HTML, so
 *                           whatever a device sent (names, notes) is shown as typed
 *   FS.page(fn)             runs fn() once signed in (else goes to the sign-in page)
 *   FS.live(onEvent)        the server-sent events of /api/v1/events, read with fetch (an
 *                           EventSource cannot send the Authorization header), resumed with
 *                           Last-Event-ID after a break
 *   FS.notice(text, kind)   a message in the page's live region
 *
 * No inline script, no event-handler attributes: a CSP of script-src 'self' holds.
 */
(function () {
  "use strict";
  const KEY = "fieldsync.console";
  const CONSOLE_ROLES = (document.body.dataset.consoleRoles || "").split(",");

  class ApiError extends Error {
    constructor(status, detail, body) {
      super(detail);
      this.status = status;
      this.detail = detail;
      this.body = body || {};
    }
    /** A sentence a person can act on, with the status named. */
    explain(action) {
      const what = action ? `${action} refused` : "Refused";
      if (this.status === 409) return `${what} (409 conflict): ${this.detail}`;
      if (this.status === 403) return `${what} (403, not allowed for your role): ${this.detail}`;
      if (this.status === 404) return `${what} (404, not found): ${this.detail}`;
      if (this.status === 422) return `${what} (422, invalid input): ${this.detail}`;
      if (this.status === 0) return `${what}: the service did not answer (${this.detail})`;
      return `${what} (${this.status}): ${this.detail}`;
    }
  }

  function session() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY) || "null");
    } catch (e) {
      return null;
    }
  }
  function setSession(value) {
    if (value) sessionStorage.setItem(KEY, JSON.stringify(value));
    else sessionStorage.removeItem(KEY);
  }

  function toLogin() {
    const next = location.pathname + location.search;
    location.assign("/console/login?next=" + encodeURIComponent(next));
  }

  async function api(method, path, body, opts) {
    opts = opts || {};
    const s = session();
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    if (s && s.token) headers.Authorization = "Bearer " + s.token;
    let payload;
    if (body instanceof URLSearchParams || typeof body === "string" || body instanceof Blob) {
      payload = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, { method, headers, body: payload });
    } catch (e) {
      throw new ApiError(0, String(e && e.message ? e.message : e));
    }
    if (opts.raw) return resp;
    const type = resp.headers.get("content-type") || "";
    const data = type.includes("json") ? await resp.json() : await resp.text();
    if (!resp.ok) {
      if (resp.status === 401 && !opts.noRedirect) {
        setSession(null);
        toLogin();
      }
      const detail = (data && data.detail) || resp.statusText || "error";
      throw new ApiError(resp.status, String(detail), data);
    }
    return data;
  }

  function h(tag, attrs) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") el.className = v;
        else if (k === "dataset") Object.assign(el.dataset, v);
        else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
        else if (k in el && typeof v !== "string") el[k] = v;
        else el.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (let i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) child.forEach((c) => append(el, c));
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  function notice(text, kind) {
    const box = document.getElementById("notices");
    if (!box) return;
    const item = h("div", { class: "alert " + (kind || "") }, text);
    box.appendChild(item);
    setTimeout(() => item.remove(), kind === "error" ? 12000 : 5000);
  }

  function fmtTime(value) {
    if (!value) return "—";
    const d = new Date(value);
    if (isNaN(d)) return String(value);
    return d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
  }
  function localId(id) {
    const s = String(id || "");
    const i = s.indexOf(":");
    return i >= 0 ? s.slice(i + 1) : s;
  }

  function showNav(s) {
    document.querySelectorAll("nav li[data-roles]").forEach((li) => {
      li.hidden = !li.dataset.roles.split(",").includes(s.role);
    });
    const who = document.getElementById("who-name");
    if (who) who.textContent = `${s.name || s.user_id} (${s.role})`;
    const out = document.getElementById("sign-out");
    if (out)
      out.addEventListener("click", () => {
        setSession(null);
        location.assign("/console/login");
      });
  }

  function page(fn) {
    const s = session();
    if (!s || !s.token || !CONSOLE_ROLES.includes(s.role)) {
      toLogin();
      return;
    }
    showNav(s);
    Promise.resolve()
      .then(() => fn(s))
      .catch((err) => {
        if (err instanceof ApiError) notice(err.explain(), "error");
        else throw err;
      });
  }

  /** Server-sent events over fetch; onEvent({id, event, data}); returns {stop()}. */
  function live(onEvent) {
    let lastId = null;
    let stopped = false;
    let controller = null;
    const status = document.getElementById("live-status");
    function mark(on) {
      if (!status) return;
      status.textContent = on ? "live: on" : "live: reconnecting";
      status.classList.toggle("on", on);
      document.body.dataset.live = on ? "on" : "off";
    }
    async function run() {
      while (!stopped) {
        controller = new AbortController();
        const s = session();
        const headers = { Accept: "text/event-stream", Authorization: "Bearer " + (s && s.token) };
        if (lastId) headers["Last-Event-ID"] = lastId;
        try {
          const resp = await fetch("/api/v1/events", { headers, signal: controller.signal });
          if (resp.status === 401) {
            setSession(null);
            toLogin();
            return;
          }
          if (!resp.ok || !resp.body) throw new Error("events: " + resp.status);
          mark(true);
          const reader = resp.body.getReader();
          const decoder = new TextDecoder();
          let buf = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += decoder.decode(value, { stream: true });
            let cut;
            while ((cut = buf.indexOf("\n\n")) >= 0) {
              const frame = buf.slice(0, cut);
              buf = buf.slice(cut + 2);
              const ev = { id: null, event: "message", data: "" };
              for (const line of frame.split("\n")) {
                if (line.startsWith(":")) continue;
                const i = line.indexOf(":");
                const field = i < 0 ? line : line.slice(0, i);
                const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
                if (field === "id") ev.id = val;
                else if (field === "event") ev.event = val;
                else if (field === "data") ev.data += (ev.data ? "\n" : "") + val;
              }
              if (ev.id) lastId = ev.id;
              if (!ev.data && ev.event === "message") continue;
              try {
                ev.data = ev.data ? JSON.parse(ev.data) : null;
              } catch (e) {
                /* not JSON: passed on as text */
              }
              onEvent(ev);
            }
          }
        } catch (e) {
          if (stopped) return;
        }
        mark(false);
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
    run();
    return {
      stop() {
        stopped = true;
        if (controller) controller.abort();
      },
    };
  }

  function debounce(fn, ms) {
    let t = null;
    return function () {
      clearTimeout(t);
      t = setTimeout(fn, ms);
    };
  }

  function csvOf(rows) {
    return rows
      .map((r) =>
        r
          .map((c) => {
            const s = c === null || c === undefined ? "" : String(c);
            return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
          })
          .join(",")
      )
      .join("\r\n");
  }

  window.FS = {
    ApiError,
    api,
    h,
    clear,
    notice,
    session,
    setSession,
    page,
    live,
    fmtTime,
    localId,
    debounce,
    csvOf,
    CONSOLE_ROLES,
  };
})();
