// Contender: this package, through its public API (pkg/node.js), one submitPayload per record.
import { pathToFileURL } from 'node:url';
import { noopFetch } from '../noop.mjs';
import { AWS_URL, CREDENTIALS, REGION, STREAM } from './common.mjs';

export const name = 'kinesis-batch';

// KB_PKG points at another build of the package (a profiling build with names); imported as
// `kinesis-batch.mjs?B`, this module loads KB_PKG_B instead, to compare two builds in one run.
const variant = new URL(import.meta.url).search.slice(1);
const pkgDir = process.env[variant ? `KB_PKG_${variant}` : 'KB_PKG'];
const { KinesisBatchDispatcher } = await import(
  pkgDir ? pathToFileURL(`${pkgDir}/node.js`).href : '../../../pkg/node.js'
);

/** The contender's loop over any build's KinesisBatchDispatcher (kinesis-batch-before.mjs reuses it);
 * `extra`: more options (kinesis-batch-shard.mjs: aggregate, ordered). */
export function runWith(Dispatcher, label, extra = {}) {
  return async ({ gen, count, target, onRequest, maxInFlight = 4 }) => {
    // Over HTTP, the build's default transport (as the SDK contender uses its own); RSS is then
    // sampled as requests settle (onProgress) instead of in the transport.
    const transport = target.answers
      ? { fetch: noopFetch(target.answers, onRequest) }
      : { onProgress: () => onRequest() };
    const kn = new Dispatcher(STREAM, {
      region: REGION,
      endpoint: target.url ?? AWS_URL,
      credentials: CREDENTIALS,
      ...transport,
      partitionKeyIdentifier: 'id',
      maxInFlight,
      ...extra,
      // KB_MAX_BUFFERED (development): another maxBufferedBytes than the default.
      ...(process.env.KB_MAX_BUFFERED ? { maxBufferedBytes: Number(process.env.KB_MAX_BUFFERED) } : {}),
    });
    for (let i = 0; i < count; i++) await kn.submitPayload(gen.make(i));
    const report = await kn.flushPayloads();
    if (report.sent !== count || report.failed.length !== 0) {
      throw new Error(
        `${label}: sent ${report.sent} of ${count}, failed ${report.failed.length} ${report.failed[0]?.errorMessage ?? ''}`,
      );
    }
    return { requests: report.requests };
  };
}

export const run = runWith(KinesisBatchDispatcher, name);
