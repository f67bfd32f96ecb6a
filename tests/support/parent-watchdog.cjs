'use strict';
// Preloaded into Node test-server children (kinesalite-server.cjs requires it; kinesis-local gets
// it through `node --require`). The parent keeps our stdin open as a pipe; when the parent dies,
// even by SIGKILL, the pipe reaches EOF and we exit, so a server never outlives its test process.
// Inert when stdin is not a pipe (e.g. started by hand from a terminal).
const fs = require('fs');

let isPipe = false;
try {
  const st = fs.fstatSync(0);
  isPipe = st.isFIFO() || st.isSocket();
} catch (_) {
  /* no stdin */
}
if (isPipe && process.env.TEST_SERVER_PARENT_WATCHDOG === '1') {
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  // Don't let the watchdog itself keep the process alive.
  process.stdin.unref?.();
}
