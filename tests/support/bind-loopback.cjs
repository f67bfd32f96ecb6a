'use strict';
// Preloaded into kinesis-local (`node --require .../bind-loopback.cjs main.js`).
// kinesis-mock has no host setting: it calls server.listen(port, cb), which binds every
// interface. This forces every listen() without a host (or with a wildcard host) onto
// 127.0.0.1, so the test server is only reachable from this machine.
require('./parent-watchdog.cjs');
const net = require('net');

const LOOPBACK = '127.0.0.1';
const WILDCARD = new Set(['0.0.0.0', '::', '', undefined, null]);
const origListen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  const [first] = args;
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    // listen(options[, cb]); leave IPC paths and handles alone
    if (
      first.path === undefined &&
      first.handle === undefined &&
      first._handle === undefined &&
      first.fd === undefined &&
      WILDCARD.has(first.host)
    ) {
      args[0] = { ...first, host: LOOPBACK };
    }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, cb])
    if (args.length === 1 || typeof args[1] === 'function' || typeof args[1] === 'number') {
      args.splice(1, 0, LOOPBACK);
    } else if (WILDCARD.has(args[1])) {
      args[1] = LOOPBACK;
    }
  }
  return origListen.apply(this, args);
};
