// Contender: this package through its bulk extension, submitPayloads, fed 500 events at a time.
import { pathToFileURL } from 'node:url';
import { noopFetch } from '../noop.mjs';
import { AWS_URL, CREDENTIALS, REGION, STREAM } from './common.mjs';

export const name = 'kinesis-batch (bulk)';

const variant = new URL(import.meta.url).search.slice(1);
const pkgDir = process.env[variant ? `KB_PKG_${variant}` : 'KB_PKG'];
const { KinesisBatchDispatcher } = await import(
  pkgDir ? pathToFileURL(`${pkgDir}/node.js`).href : '../../../pkg/node.js'
);

const CHUNK = 500;

export async function run({ gen, count, target, onRequest, maxInFlight = 4 }) {
  const fetch = target.answers
    ? noopFetch(target.answers, onRequest)
    : (url, init) => {
        onRequest();
        return globalThis.fetch(url, init);
      };
  const kn = new KinesisBatchDispatcher(STREAM, {
    region: REGION,
    endpoint: target.url ?? AWS_URL,
    credentials: CREDENTIALS,
    fetch,
    partitionKeyIdentifier: 'id',
    maxInFlight,
    // KB_MAX_BUFFERED (development): another maxBufferedBytes than the default.
    ...(process.env.KB_MAX_BUFFERED ? { maxBufferedBytes: Number(process.env.KB_MAX_BUFFERED) } : {}),
  });
  const events = new Array(CHUNK);
  for (let i = 0; i < count; i += CHUNK) {
    const n = Math.min(CHUNK, count - i);
    events.length = n;
    for (let k = 0; k < n; k++) events[k] = gen.make(i + k);
    const { rejected } = await kn.submitPayloads(events);
    if (rejected.length) throw rejected[0].error;
  }
  const report = await kn.flushPayloads();
  if (report.sent !== count || report.failed.length !== 0) {
    throw new Error(`kinesis-batch (bulk): sent ${report.sent} of ${count}, failed ${report.failed.length}`);
  }
  return { requests: report.requests };
}
