'use strict';
// Runs kinesalite (in-memory) on 127.0.0.1:<port> as a child process of the tests.
// Usage: node kinesalite-server.cjs <port>
// Prints "KINESALITE_READY <port>" on stdout once listening.
// Its own CLI binds every interface, so we don't use it.
require('./parent-watchdog.cjs');
const kinesalite = require('kinesalite');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node kinesalite-server.cjs <port>');
  process.exit(2);
}

const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 });
server.on('error', (err) => {
  console.error('kinesalite server error:', err?.stack || err);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`KINESALITE_READY ${server.address().port}\n`);
});

const shutdown = () => process.exit(0);
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
