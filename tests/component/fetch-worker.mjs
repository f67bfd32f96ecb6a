// The transport's worker thread: runs Node's fetch for a caller that is blocked in Atomics.wait
// (see sync-fetch.mjs). One request at a time: the caller waits for each answer.
import { workerData } from 'node:worker_threads';

const { port, signal } = workerData;

function describe(error) {
  const cause = error?.cause;
  const detail = cause ? ` (${cause.code || cause.message || cause})` : '';
  return `${error?.name || 'Error'}: ${error?.message}${detail}`;
}

port.on('message', async ({ seq, url, method, headers, body, timeoutMs }) => {
  let reply;
  try {
    const response = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
    const bytes = new Uint8Array(await response.arrayBuffer());
    reply = { seq, status: response.status, headers: [...response.headers], body: bytes };
  } catch (error) {
    reply = error?.name === 'TimeoutError' ? { seq, timeout: true } : { seq, network: describe(error) };
  }
  port.postMessage(reply, reply.body ? [reply.body.buffer] : []);
  Atomics.store(signal, 0, seq);
  Atomics.notify(signal, 0);
});
