// A synchronous fetch for the component's `transport` import. jco 1.35 takes synchronous host
// imports only (Node 20 has no JSPI), so the calling thread posts the request to a worker
// thread, blocks in Atomics.wait until the worker has the answer, then takes it with
// receiveMessageOnPort. The calling thread's event loop does not turn meanwhile: a server in
// the same thread would never answer, so keep servers in other processes or threads.
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';

/**
 * @returns {{ fetch(url: string, init: { method: string, headers: [string, string][], body: Uint8Array, timeoutMs: number }):
 *   { status: number, headers: [string, string][], body: Uint8Array } | { timeout: true } | { network: string },
 *   close(): Promise<number> }}
 */
export function createSyncFetch() {
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./fetch-worker.mjs', import.meta.url), {
    workerData: { port: port2, signal },
    transferList: [port2],
  });
  worker.unref();
  let seq = 0;
  let closed = false;

  function fetchSync(url, { method, headers, body, timeoutMs }) {
    if (closed) return { network: 'the transport is closed' };
    seq = (seq % 0x7fffffff) + 1;
    const mine = seq;
    port1.postMessage({ seq: mine, url, method, headers, body, timeoutMs });
    // The worker enforces timeoutMs; the extra margin only guards against a stuck worker.
    const deadline = Date.now() + timeoutMs + 10_000;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return { network: `the transport worker gave no answer within ${timeoutMs + 10_000} ms` };
      const seen = Atomics.load(signal, 0);
      if (seen !== mine) {
        Atomics.wait(signal, 0, seen, left);
        continue;
      }
      // Answers to requests given up on earlier are dropped.
      for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) {
        if (m.message.seq === mine) return m.message;
      }
      Atomics.wait(signal, 0, mine, 5); // the message may trail the signal by a moment
    }
  }

  return {
    fetch: fetchSync,
    close() {
      closed = true;
      port1.close();
      return worker.terminate();
    },
  };
}
