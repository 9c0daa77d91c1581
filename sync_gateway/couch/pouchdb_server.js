'use strict';
// PouchDB Server as bin/pouchdb-server starts it, less two costs that grow with the number of
// databases (embedded.py starts it this way; measured with a CPU profile of the server at 1,000
// field users, bench scale_out):
//
// - express-pouchdb asks PouchDB.allDbs() on every request to a database, to answer 404 for an
//   unknown one, and every call maps every name twice (pouchdb-all-dbs strips its prefix, then
//   express-pouchdb decodes it): a sixth of the server's CPU at 1,000 users. The list is kept
//   here until a database is created or destroyed (the events pouchdb-all-dbs itself follows).
// - GET /{db} walks the database's folder for disk_size (express-pouchdb's 'disk-size' part):
//   nothing in this service reads it, and the router, the snapshot builder and every phone's
//   _changes ask GET /{db}.
//
// usage: node pouchdb_server.js <node_modules> [pouchdb-server's arguments]

const path = require('path');
const { createRequire } = require('module');

const modules = path.resolve(process.argv[2]);
process.argv.splice(2, 1);
const serverMain = path.join(modules, 'pouchdb-server', 'lib', 'index.js');
// resolved as pouchdb-server resolves it, so both get the one module instance
const requireAsServer = createRequire(serverMain);
const expressPouchDBPath = requireAsServer.resolve('express-pouchdb');
const expressPouchDB = requireAsServer(expressPouchDBPath);

function keepAllDbs(PouchDB) {
  const allDbs = PouchDB.allDbs;
  let names = null;
  let generation = 0;
  function forget() {
    generation += 1;
    names = null;
  }
  PouchDB.on('created', forget);
  PouchDB.on('destroyed', forget);
  PouchDB.allDbs = function (callback) {
    const asked = generation;
    const found =
      names !== null
        ? Promise.resolve(names)
        : Promise.resolve(allDbs.call(PouchDB)).then(function (list) {
            if (asked === generation) {
              names = list; // not when a database came or went while it was read
            }
            return list;
          });
    const copy = found.then(function (list) {
      return list.slice();
    });
    if (typeof callback === 'function') {
      copy.then(function (list) {
        callback(null, list);
      }, callback);
    }
    return copy;
  };
}

require.cache[expressPouchDBPath].exports = function (startPouchDB, opts) {
  if (startPouchDB && !startPouchDB.defaults) {
    opts = startPouchDB;
    startPouchDB = null;
  }
  opts = Object.assign({}, opts);
  const mode = Object.assign({ include: [], exclude: [] }, opts.overrideMode);
  opts.overrideMode = { include: mode.include, exclude: mode.exclude.concat(['disk-size']) };
  const app = expressPouchDB(null, opts);
  const setPouchDB = app.setPouchDB;
  app.setPouchDB = function (PouchDB) {
    return setPouchDB.call(this, PouchDB).then(function (result) {
      keepAllDbs(PouchDB); // after express-pouchdb's own wrappers, so it keeps their answer
      return result;
    });
  };
  if (startPouchDB) {
    app.setPouchDB(startPouchDB);
  }
  return app;
};

requireAsServer(serverMain);
