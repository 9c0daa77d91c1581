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
// and one that grows with the documents a view indexes: pouchdb-mapreduce compiles a script
// in a new VM context for every document it maps (the document inlined in the source). Here
// each map or reduce function is compiled once, in a context of its own, with the same
// helpers in scope; each call gets a fresh copy of its arguments, made in that context, as
// before. A function that does not compile keeps pouchdb-mapreduce's way (its error is then
// raised where it always was). The views of fs_ops (the outbox) index every document there.
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

const vm = require('vm');
const mapReducePath = requireAsServer.resolve('pouchdb-mapreduce');
const requireAsMapReduce = createRequire(mapReducePath);
requireAsServer(mapReducePath); // in the module cache, to be replaced below
const createAbstractMapReduce = requireAsMapReduce('pouchdb-abstract-mapreduce');
const { BuiltInError, NotFoundError } = requireAsMapReduce('pouchdb-mapreduce-utils');

// What pouchdb-mapreduce puts in scope of a view's function (its evalFunctionInVm).
const SCOPE = `
  var createBuiltInError = function (name) { return {builtInError: true, name: name}; };
  var sum = ${sum.toString()};
  var log = function () {};
  var isArray = Array.isArray;
  var toJSON = JSON.parse;
  var __emitteds__ = [];
  var emit = function (key, value) { __emitteds__.push([key, value]); };
  var copy = function (text) { return text === undefined ? undefined : JSON.parse(text); };`;

function sum(values) {
  var result = 0;
  for (var i = 0, len = values.length; i < len; i++) {
    var num = values[i];
    if (typeof num !== 'number') {
      if (Array.isArray(num)) {
        result = typeof result === 'number' ? [result] : result;
        for (var j = 0, jLen = num.length; j < jLen; j++) {
          var jNum = num[j];
          if (typeof jNum !== 'number') {
            throw createBuiltInError('_sum');
          } else if (typeof result[j] === 'undefined') {
            result.push(jNum);
          } else {
            result[j] += jNum;
          }
        }
      } else {
        throw createBuiltInError('_sum');
      }
    } else if (typeof result === 'number') {
      result += num;
    } else {
      result[0] += num;
    }
  }
  return result;
}

function createBuiltInError(name) {
  return new BuiltInError(`builtin ${name} function requires map values to be numbers or number arrays`);
}

const compiledFunctions = new Map(); // source -> its function in a context of its own

function compiled(source) {
  if (compiledFunctions.has(source)) {
    return compiledFunctions.get(source);
  }
  const code = `(function () { "use strict"; ${SCOPE}
    var __fun__ = (${source.replace(/;\s*$/, '')});
    return function (a, b, c) {
      __emitteds__ = [];
      var result = __fun__(copy(a), copy(b), copy(c));
      return {result: result, emitteds: __emitteds__};
    };
  })()`;
  let run = null;
  try {
    run = vm.runInNewContext(code);
  } catch (err) {
    run = null;
  }
  if (compiledFunctions.size < 1000) {
    compiledFunctions.set(source, run);
  }
  return run;
}

function evalFunction(source, emit) {
  const run = compiled(source);
  if (run === null) {
    return null;
  }
  const text = function (value) {
    return value === undefined ? undefined : JSON.stringify(value);
  };
  return function (a, b, c) {
    const output = run(text(a), text(b), text(c));
    output.emitteds.forEach(function (emitted) {
      emit(emitted[0], emitted[1]);
    });
    if (output.result && output.result.builtInError) {
      return createBuiltInError(output.result.name);
    }
    return output.result;
  };
}

const builtInReduce = {
  _sum: function (keys, values) {
    return sum(values);
  },
  _count: function (keys, values) {
    return values.length;
  },
  _stats: function (keys, values) {
    let sumsqr = 0;
    for (const num of values) {
      sumsqr += num * num;
    }
    return {
      sum: sum(values),
      min: Math.min.apply(null, values),
      max: Math.max.apply(null, values),
      count: values.length,
      sumsqr: sumsqr,
    };
  },
};

// pouchdb-mapreduce's way, for a function that does not compile: a script per call, which
// raises the function's error where pouchdb-mapreduce always raised it
function slowEval(source, emit) {
  return function (a, b, c) {
    const code = `(function () { "use strict"; ${SCOPE}
      var __result__ = (${source.replace(/;\s*$/, '')})(${JSON.stringify(a)}, ${JSON.stringify(b)}, ${JSON.stringify(c)});
      return {result: __result__, emitteds: __emitteds__};
    })()`;
    const output = vm.runInNewContext(code);
    output.emitteds.forEach(function (emitted) {
      emit(emitted[0], emitted[1]);
    });
    if (output.result && output.result.builtInError) {
      return createBuiltInError(output.result.name);
    }
    return output.result;
  };
}

function mapper(mapFun, emit) {
  if (typeof mapFun === 'function' && mapFun.length === 2) {
    return function (doc) {
      return mapFun(doc, emit);
    };
  }
  return evalFunction(mapFun.toString(), emit) || slowEval(mapFun.toString(), emit);
}

function reducer(reduceFun) {
  const source = reduceFun.toString();
  if (/^_sum/.test(source)) return builtInReduce._sum;
  if (/^_count/.test(source)) return builtInReduce._count;
  if (/^_stats/.test(source)) return builtInReduce._stats;
  if (/^_/.test(source)) throw new Error(source + ' is not a supported reduce function.');
  return evalFunction(source, function () {}) || slowEval(source, function () {});
}

function ddocValidator(ddoc, viewName) {
  const fun = ddoc.views && ddoc.views[viewName];
  if (typeof fun.map !== 'string') {
    throw new NotFoundError(
      `ddoc ${ddoc._id} has no string view named ${viewName}, instead found object of type: ${typeof fun.map}`,
    );
  }
}

const views = createAbstractMapReduce('mrviews', mapper, reducer, ddocValidator);
require.cache[mapReducePath].exports = {
  query: function (fun, opts, callback) {
    return views.query.call(this, fun, opts, callback);
  },
  viewCleanup: function (callback) {
    return views.viewCleanup.call(this, callback);
  },
};

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
