// An ingestion Worker: POST /ingest with NDJSON (one JSON value per line) or a JSON array.
// Every valid record is submitted to Kinesis; the answer comes as soon as all are accepted and
// the delivery finishes in the background through ctx.waitUntil.
//
//   202 { accepted, rejected: 0 }                       every record was accepted
//   400 { accepted, rejected, errors: [...] }           some lines/elements were bad: they are
//                                                       listed, and every valid one was still
//                                                       accepted and is being delivered
//   400 { accepted: 0, rejected: 1, errors: [...] }     a JSON array body that does not parse
//   405 / 404 / 415                                     wrong method, path or content type
//   500 { error, message }                              configuration error (no secrets inside)
//
// Configuration (wrangler.toml [vars] and secrets):
//   STREAM_NAME          stream name or ARN (required)
//   AWS_REGION           signing region
//   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional): Worker secrets
//   KINESIS_ENDPOINT     optional endpoint override (e.g. a local emulator)
//   PARTITION_KEY_FIELD  optional top-level field used as the partition key (default: random)
import { KinesisBatchDispatcher, KinesisBatchError } from 'kinesis-batch';

const MAX_ERRORS_LISTED = 1000;

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname !== '/ingest') return json(404, { error: 'NotFound', message: 'POST records to /ingest' });
    if (request.method !== 'POST')
      return json(405, { error: 'MethodNotAllowed', message: 'use POST' }, { allow: 'POST' });

    const type = (request.headers.get('content-type') || '').split(';')[0].trim().toLowerCase();
    if (type && !/^(application\/(x-)?ndjson|application\/jsonl?|application\/x-jsonlines|text\/plain)$/.test(type)) {
      return json(415, { error: 'UnsupportedMediaType', message: 'send NDJSON or a JSON array' });
    }
    const { items, errors } = parseBody(await request.text(), type);

    let kn;
    try {
      kn = new KinesisBatchDispatcher(env.STREAM_NAME, {
        region: env.AWS_REGION,
        endpoint: env.KINESIS_ENDPOINT || undefined,
        partitionKeyIdentifier: env.PARTITION_KEY_FIELD || undefined,
        credentials: {
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          sessionToken: env.AWS_SESSION_TOKEN || undefined,
        },
      });
    } catch (error) {
      // KinesisBatchError messages never contain secrets.
      const code = error instanceof KinesisBatchError ? error.code : 'InternalError';
      return json(500, { error: code, message: `worker misconfigured: ${error.message}` });
    }

    let accepted = 0;
    for (const item of items) {
      try {
        await kn.submitPayload(item.value);
        accepted++;
      } catch (error) {
        if (!(error instanceof KinesisBatchError)) throw error;
        errors.push({ ...item.at, code: error.code, message: error.message });
      }
    }
    // Full batches are already on their way; this sends the rest and waits for every outcome
    // after the response has gone out.
    ctx.waitUntil(
      kn.flushPayloads().then((report) => {
        if (report.failed.length > 0) {
          const codes = [...new Set(report.failed.map((f) => f.errorCode))].join(', ');
          console.error(`kinesis-batch: ${report.failed.length} of ${accepted} records failed (${codes})`);
        }
      }),
    );

    if (errors.length === 0) return json(202, { accepted, rejected: 0 });
    errors.sort((a, b) => (a.line ?? a.index) - (b.line ?? b.index));
    return json(400, {
      accepted,
      rejected: errors.length,
      errors: errors.slice(0, MAX_ERRORS_LISTED),
      ...(errors.length > MAX_ERRORS_LISTED ? { errorsTruncated: true } : {}),
    });
  },
};

/** → { items: [{ value, at: { line } | { index } }], errors: [{ line | index, code, message }] } */
function parseBody(text, type) {
  const items = [];
  const errors = [];
  const trimmed = text.trimStart();
  if ((type === 'application/json' || !type) && trimmed.startsWith('[')) {
    let values;
    try {
      values = JSON.parse(text);
    } catch (error) {
      errors.push({ line: 1, code: 'InvalidJson', message: `the body is not a valid JSON array: ${error.message}` });
      return { items, errors };
    }
    values.forEach((value, index) => {
      items.push({ value, at: { index } });
    });
    return { items, errors };
  }
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    try {
      items.push({ value: JSON.parse(line), at: { line: i + 1 } });
    } catch (error) {
      errors.push({ line: i + 1, code: 'InvalidJson', message: error.message });
    }
  }
  return { items, errors };
}

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}
