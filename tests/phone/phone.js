#!/usr/bin/env node
/*
 * phone.js: one PouchDB database driven over JSON lines, standing in for a phone in tests.
 *
 * Usage: node phone.js --dir <folder> [--node-modules <couchdb_embedded/node_modules>]
 *   The local database is LevelDB in <folder>/phone-db (PouchDB 9's default Node adapter).
 *   Modules are resolved from --node-modules, else through NODE_PATH.
 *
 * Protocol (UTF-8, one JSON object per line):
 *   stdin   {"id": <n>, "cmd": "<name>", ...arguments}
 *   stdout  {"id": <n>, "ok": true, "result": <any>}
 *           {"id": <n>, "ok": false, "error": {"name", "message", "status"?, "reason"?, "result"?}}
 *           {"event": "<name>", ...}                      unsolicited, e.g. from live replications
 *   stdout carries nothing else: console output of PouchDB is sent to stderr. Commands run
 *   concurrently; replies may come out of order and are matched by id. stdin EOF = close.
 *
 * Commands (arguments after "cmd"):
 *   ping | info | close
 *   put {doc, options} | bulk_docs {docs, options} | get {doc_id, options} | all_docs {options}
 *   remove {doc_id, rev} | changes {options}
 *   remote_all_docs {url, headers, options}   allDocs of the remote database itself (as an app
 *       reading the server without replicating), e.g. options {startkey, endkey} or {keys}
 *   pull | push | sync {url, headers, options, name?, no_bulk_get?, skip_setup?, log_requests?}
 *       one-off replication; result {status, docs_read, docs_written, doc_write_failures,
 *       errors, denied, last_seq, ...} (sync: {pull, push}). Per-document refusals (403
 *       forbidden / 401 unauthorized in _bulk_docs) are counted in doc_write_failures and listed
 *       in errors and denied; they do not abort. A fatal error replies ok=false with
 *       error.result holding the partial result.
 *   live_start {name, url, headers, direction: pull|push|both, options, retry?, no_bulk_get?, ...}
 *   live_stop {name}               cancels and replies with the final result
 *   set_headers {name, headers}    replaces the headers of a running live replication
 *       events: {"event": "change"|"paused"|"active"|"denied"|"error"|"complete", "name", ...}
 *   wait_for_doc {doc_id, predicate?: {"field" or "a.b": value}, timeout_ms}
 *       resolves with the winning revision (with _conflicts) once it exists and every predicate
 *       field is deep-equal; {"_deleted": true} waits for a deletion. Uses the changes feed.
 *   load {snapshot_url, url, headers, name?, loader?: "lines"|"pouchdb-load"|"replication-stream"}
 *       primes the database from GET <snapshot_url> (sent through the same fetch wrapper, so
 *       it is logged under name): "lines" (default, the README's way) stores each {"docs"} line
 *       with one bulkDocs(new_edits=false), then gives pouchdb-load only the last {"seq"} line
 *       with {proxy: url, fetch}, which writes the replication checkpoint for url;
 *       "pouchdb-load" calls its db.load(text, {proxy: url, fetch}) on the whole dump (one
 *       bulkDocs of everything); "replication-stream" pipes the body into
 *       pouchdb-replication-stream's db.load() (no checkpoint).
 *       result {status, bytes (decoded body), headers: {etag, content-encoding, x-fieldsync-*}}
 *   requests {name?, clear?}       the HTTP requests replications made:
 *       [{replication, method, path, query, search, status?, blocked?, error?}]
 *
 * Options: headers are set on EVERY request through a `fetch` wrapper given to the remote
 * database (overriding PouchDB's own Authorization). options.back_off_ms (a number) replaces
 * PouchDB's back-off function for retry. no_bulk_get answers POST .../_bulk_get locally with 404
 * without sending it, so PouchDB falls back to one GET <db>/<docid>?revs=true&latest=true&
 * open_revs=[...] per document (its bulkGet shim), like an old client.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const util = require('util');

// stdout is the protocol channel; PouchDB logs a few things with console.*.
for (const level of ['log', 'info', 'warn', 'debug', 'error']) {
  console[level] = (...args) => process.stderr.write(util.format(...args) + '\n');
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) {
      throw new Error(`bad argument ${argv[i]}; usage: phone.js --dir <folder> [--node-modules <dir>]`);
    }
    out[argv[i].slice(2)] = argv[i + 1];
  }
  if (!out.dir) throw new Error('--dir is required');
  return out;
}

const args = parseArgs(process.argv.slice(2));

function resolveModule(name) {
  return args['node-modules']
    ? require.resolve(name, { paths: [args['node-modules']] })
    : require.resolve(name);
}

const PouchDB = require(resolveModule('pouchdb'));
const nodeFetch = require(resolveModule('node-fetch'));
// both plugins call their method load(): pouchdb-load's is registered as loadDump here
PouchDB.plugin({ loadDump: require(resolveModule('pouchdb-load')).load });
const replicationStream = require(resolveModule('pouchdb-replication-stream'));
PouchDB.plugin(replicationStream.plugin);

// PouchDB's http adapter remembers per server URL, in a module-level map, whether _bulk_get
// works, and never asks again. A second copy of the module keeps its own map, so no_bulk_get
// replications (which always see a 404) cannot poison normal ones, nor the other way round.
let legacyPouchDB = null;
function legacyPouch() {
  if (!legacyPouchDB) {
    const main = resolveModule('pouchdb');
    const saved = require.cache[main];
    delete require.cache[main];
    try {
      legacyPouchDB = require(main);
    } finally {
      require.cache[main] = saved;
    }
  }
  return legacyPouchDB;
}

fs.mkdirSync(args.dir, { recursive: true });
const db = new PouchDB(path.join(args.dir, 'phone-db'));

function send(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function emit(event, fields) {
  send(Object.assign({ event }, fields));
}

function dropUndefined(obj) {
  return JSON.parse(JSON.stringify(obj));
}

function serializeError(err) {
  if (err === null || err === undefined) return null;
  if (typeof err !== 'object') return { name: 'error', message: String(err) };
  const out = {
    name: err.name,
    message: err.message,
    status: err.status,
    error: typeof err.error === 'string' ? err.error : undefined,
    reason: err.reason,
    id: err.id || err.docId,
    code: err.code,
  };
  if (err.result) out.result = summarize(err.result);
  if (!err.status && err.stack) out.stack = String(err.stack).split('\n').slice(0, 8).join('\n');
  return dropUndefined(out);
}

// A replication result, JSON-safe: errors become plain objects, written docs become ids.
function summarize(result) {
  if (!result || typeof result !== 'object') return result;
  if (result.push || result.pull) {
    return { push: summarize(result.push), pull: summarize(result.pull) };
  }
  return dropUndefined({
    ok: result.ok,
    status: result.status,
    docs_read: result.docs_read,
    docs_written: result.docs_written,
    doc_write_failures: result.doc_write_failures,
    errors: (result.errors || []).map(serializeError),
    last_seq: result.last_seq,
    start_time: result.start_time,
    end_time: result.end_time,
  });
}

// ---- remote databases: headers, request log, no_bulk_get -------------------------------------

const MAX_LOG = 100000; // enough for a 20,000-document pull without _bulk_get
let requestLog = [];

function fakeResponse(status, body) {
  return new nodeFetch.Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

function makeRemote(cmd, name) {
  if (!cmd.url) throw new Error('url is required');
  const ctx = {
    name,
    headers: Object.assign({}, cmd.headers || {}),
    noBulkGet: Boolean(cmd.no_bulk_get),
    log: cmd.log_requests !== false,
  };
  const fetchWrapper = async (url, options) => {
    options = options || {};
    if (!(options.headers instanceof nodeFetch.Headers)) {
      options.headers = new nodeFetch.Headers(options.headers || {});
    }
    for (const [key, value] of Object.entries(ctx.headers)) options.headers.set(key, value);
    const parsed = new URL(url);
    const entry = {
      replication: ctx.name,
      method: (options.method || 'GET').toUpperCase(),
      path: decodeURIComponent(parsed.pathname),
      query: Object.fromEntries(parsed.searchParams),
      search: parsed.search,
    };
    if (ctx.log) {
      if (requestLog.length >= MAX_LOG) requestLog.shift();
      requestLog.push(entry);
    }
    if (ctx.noBulkGet && parsed.pathname.endsWith('/_bulk_get')) {
      entry.blocked = true;
      entry.status = 404;
      return fakeResponse(404, { error: 'not_found', reason: 'phone: _bulk_get disabled' });
    }
    try {
      const response = await PouchDB.fetch(url, options);
      entry.status = response.status;
      return response;
    } catch (err) {
      entry.error = String(err && err.message);
      throw err;
    }
  };
  const Pouch = ctx.noBulkGet ? legacyPouch() : PouchDB;
  const remote = new Pouch(cmd.url, { fetch: fetchWrapper, skip_setup: Boolean(cmd.skip_setup) });
  return { remote, ctx, fetchWrapper };
}

// ---- priming from a snapshot -----------------------------------------------------------------

async function loadSnapshot(cmd) {
  if (!cmd.snapshot_url) throw new Error('snapshot_url is required');
  const name = cmd.name || `load-${cmd.id}`;
  const { remote, fetchWrapper } = makeRemote(cmd, name);
  remote.close().catch(() => {});
  const response = await fetchWrapper(cmd.snapshot_url, { method: 'GET' });
  const headers = {};
  for (const key of ['etag', 'content-encoding', 'content-length', 'x-fieldsync-snapshot-seq',
    'x-fieldsync-snapshot-docs', 'x-fieldsync-snapshot-stale', 'x-fieldsync-snapshot-lag']) {
    if (response.headers.has(key)) headers[key] = response.headers.get(key);
  }
  if (response.status !== 200) {
    const err = new Error(`snapshot answered ${response.status}: ${await response.text()}`);
    err.status = response.status;
    throw err;
  }
  let bytes = 0;
  const loader = cmd.loader || 'lines';
  if (loader === 'lines') {
    const text = await response.text();
    bytes = Buffer.byteLength(text);
    let last = '';
    for (const line of text.split('\n')) {
      if (line.startsWith('{"docs"')) {
        await db.bulkDocs(JSON.parse(line).docs, { new_edits: false });
      } else if (line.startsWith('{"seq"')) {
        last = line;
      }
    }
    await db.loadDump(last, { proxy: cmd.url, fetch: fetchWrapper, skip_setup: true });
  } else if (loader === 'pouchdb-load') {
    const text = await response.text();
    bytes = Buffer.byteLength(text);
    await db.loadDump(text, { proxy: cmd.url, fetch: fetchWrapper });
  } else {
    response.body.on('data', (chunk) => {
      bytes += chunk.length;
    });
    await db.load(response.body);
  }
  return { status: response.status, bytes, headers };
}

function replicationOptions(options) {
  const out = Object.assign({}, options || {});
  if (typeof out.back_off_ms === 'number') {
    const ms = out.back_off_ms;
    out.back_off_function = () => ms;
  }
  delete out.back_off_ms;
  return out;
}

function startReplication(direction, remote, options) {
  if (direction === 'pull') return PouchDB.replicate(remote, db, options);
  if (direction === 'push') return PouchDB.replicate(db, remote, options);
  if (direction === 'both') return PouchDB.sync(db, remote, options);
  throw new Error(`direction must be pull, push or both, not ${direction}`);
}

async function oneOff(cmd, direction) {
  const name = cmd.name || `${direction}-${cmd.id}`;
  const { remote } = makeRemote(cmd, name);
  const options = replicationOptions(cmd.options);
  delete options.live;
  const denied = [];
  const rep = startReplication(direction === 'sync' ? 'both' : direction, remote, options);
  rep.on('denied', (err) => denied.push(serializeError(err)));
  try {
    const result = summarize(await rep);
    if (direction !== 'sync') result.denied = denied;
    return result;
  } finally {
    remote.close().catch(() => {});
  }
}

// ---- live replications ------------------------------------------------------------------------

const live = new Map(); // name -> {rep, ctx, remote, done: Promise<result>}

function docIds(info) {
  const change = info && info.change ? info.change : info;
  return ((change && change.docs) || []).map((d) => d._id);
}

function liveStart(cmd) {
  const name = cmd.name;
  if (!name) throw new Error('name is required');
  if (live.has(name)) throw new Error(`live replication ${name} is already running`);
  const direction = cmd.direction || 'pull';
  const { remote, ctx } = makeRemote(cmd, name);
  const options = replicationOptions(cmd.options);
  options.live = true;
  options.retry = cmd.retry !== false;
  const rep = startReplication(direction, remote, options);
  let settle;
  const done = new Promise((resolve) => {
    settle = resolve;
  });
  rep.on('change', (info) => {
    const change = info.change || info;
    emit('change', {
      name,
      direction: info.direction || direction,
      doc_ids: docIds(info),
      docs_read: change.docs_read,
      docs_written: change.docs_written,
      last_seq: change.last_seq,
    });
  });
  rep.on('paused', (err) => emit('paused', { name, error: serializeError(err) }));
  rep.on('active', () => emit('active', { name }));
  rep.on('denied', (err) => {
    const e = serializeError(err);
    emit('denied', { name, doc_id: e.id, error: e });
  });
  rep.on('error', (err) => {
    emit('error', { name, error: serializeError(err) });
    settle({ status: 'error', error: serializeError(err) });
  });
  rep.on('complete', (info) => {
    const result = summarize(info);
    emit('complete', { name, result });
    settle(result);
  });
  live.set(name, { rep, ctx, remote, done });
  return { name, direction };
}

async function liveStop(cmd) {
  const entry = live.get(cmd.name);
  if (!entry) throw new Error(`no live replication named ${cmd.name}`);
  live.delete(cmd.name);
  entry.rep.cancel();
  const timeoutMs = cmd.timeout_ms || 10000;
  const result = await Promise.race([
    entry.done,
    new Promise((resolve) => setTimeout(() => resolve({ status: 'cancelled' }), timeoutMs)),
  ]);
  entry.remote.close().catch(() => {});
  return result;
}

function setHeaders(cmd) {
  const entry = live.get(cmd.name);
  if (!entry) throw new Error(`no live replication named ${cmd.name}`);
  entry.ctx.headers = Object.assign({}, cmd.headers || {});
  return { name: cmd.name };
}

// ---- waiting for a document -------------------------------------------------------------------

function getPath(doc, dotted) {
  if (Object.prototype.hasOwnProperty.call(doc, dotted)) return doc[dotted];
  return dotted.split('.').reduce((v, k) => (v === null || v === undefined ? v : v[k]), doc);
}

function deepEqual(a, b) {
  return util.isDeepStrictEqual(a, b);
}

function matches(doc, predicate) {
  if (!doc) return false;
  const wantsDeleted = Object.prototype.hasOwnProperty.call(predicate, '_deleted');
  if (doc._deleted && !wantsDeleted) return false;
  return Object.entries(predicate).every(([k, v]) =>
    k === '_deleted' ? Boolean(doc._deleted) === Boolean(v) : deepEqual(getPath(doc, k), v),
  );
}

async function waitForDoc(cmd) {
  const docId = cmd.doc_id;
  const predicate = cmd.predicate || {};
  const timeoutMs = cmd.timeout_ms || 10000;
  // Subscribe from the current sequence first, then read: a write after `since` shows up in
  // the feed, a write before it is seen by the get. Nothing falls in between.
  const since = (await db.info()).update_seq;
  return new Promise((resolve, reject) => {
    let finished = false;
    let lastSeen = null;
    const feed = db.changes({
      live: true,
      since,
      doc_ids: [docId],
      include_docs: true,
      conflicts: true,
    });
    const timer = setTimeout(() => {
      const err = new Error(
        `doc ${docId} did not match ${JSON.stringify(predicate)} within ${timeoutMs} ms; ` +
          `last seen: ${JSON.stringify(lastSeen)}`,
      );
      err.name = 'timeout';
      err.last_seen = lastSeen;
      finish(err);
    }, timeoutMs);
    function finish(err, doc) {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      feed.cancel();
      if (err) reject(err);
      else resolve(doc);
    }
    function consider(doc) {
      lastSeen = doc;
      if (matches(doc, predicate)) finish(null, doc);
    }
    feed.on('change', (change) => consider(change.doc || { _id: docId, _deleted: change.deleted }));
    feed.on('error', (err) => finish(err));
    db.get(docId, { conflicts: true }).then(consider, (err) => {
      if (err.status === 404) {
        if (err.reason === 'deleted') consider({ _id: docId, _deleted: true });
      } else {
        finish(err);
      }
    });
  });
}

// ---- dispatch ---------------------------------------------------------------------------------

function serializeRows(rows) {
  return rows.map((r) => (r instanceof Error || (r && r.error === true) ? serializeError(r) : r));
}

let closing = false;

async function shutdown() {
  if (closing) return;
  closing = true;
  await Promise.all(
    [...live.keys()].map((name) => liveStop({ name, timeout_ms: 3000 }).catch(() => {})),
  );
  await db.close().catch(() => {});
}

const commands = {
  ping: async () => 'pong',
  info: async () => db.info(),
  put: async (c) => db.put(c.doc, c.options || {}),
  bulk_docs: async (c) => serializeRows(await db.bulkDocs(c.docs, c.options || {})),
  get: async (c) => db.get(c.doc_id, c.options || {}),
  all_docs: async (c) => db.allDocs(c.options || {}),
  remote_all_docs: async (c) => {
    const { remote } = makeRemote(Object.assign({ skip_setup: true }, c), 'remote_all_docs');
    try {
      return await remote.allDocs(c.options || {});
    } finally {
      await remote.close().catch(() => {});
    }
  },
  remove: async (c) => db.remove(c.doc_id, c.rev),
  changes: async (c) => db.changes(Object.assign({}, c.options || {}, { live: false })),
  pull: async (c) => oneOff(c, 'pull'),
  push: async (c) => oneOff(c, 'push'),
  sync: async (c) => oneOff(c, 'sync'),
  load: async (c) => loadSnapshot(c),
  live_start: async (c) => liveStart(c),
  live_stop: async (c) => liveStop(c),
  set_headers: async (c) => setHeaders(c),
  wait_for_doc: async (c) => waitForDoc(c),
  requests: async (c) => {
    const rows = c.name ? requestLog.filter((r) => r.replication === c.name) : requestLog.slice();
    if (c.clear) requestLog = c.name ? requestLog.filter((r) => r.replication !== c.name) : [];
    return rows;
  },
  close: async () => {
    await shutdown();
    return { closed: true };
  },
};

async function handle(line) {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (err) {
    send({ id: null, ok: false, error: { name: 'bad_request', message: `not JSON: ${line}` } });
    return;
  }
  const fn = commands[msg.cmd];
  if (!fn) {
    send({ id: msg.id, ok: false, error: { name: 'bad_request', message: `no command ${msg.cmd}` } });
    return;
  }
  try {
    const result = await fn(msg);
    send({ id: msg.id, ok: true, result: result === undefined ? null : result });
  } catch (err) {
    send({ id: msg.id, ok: false, error: serializeError(err) });
  }
  if (msg.cmd === 'close') process.exit(0);
}

process.on('unhandledRejection', (err) => {
  process.stderr.write(`phone: unhandled rejection: ${util.inspect(err)}\n`);
});
process.on('uncaughtException', (err) => {
  process.stderr.write(`phone: uncaught exception: ${util.inspect(err)}\n`);
  emit('fatal', { error: serializeError(err) });
  process.exit(70);
});

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (line.trim()) handle(line);
});
rl.on('close', () => {
  shutdown().then(() => process.exit(0));
});
emit('ready', { pid: process.pid, adapter: db.adapter, pouchdb: PouchDB.version });
