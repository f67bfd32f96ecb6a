// An ingestion Worker: POST /ingest with NDJSON (one JSON value per line) or JSON (an array of
// records, or one record), authenticated with a bearer token. Every valid record is submitted to
// Kinesis and the answer comes once every one of them is delivered or has finally failed.
//
//   200 { accepted, sent, failed: 0, rejected: 0 }            every record is in the stream
//   400 { accepted, sent, failed, rejected, errors }          some lines/elements were refused
//                                                             (errors: [{ line | index, code,
//                                                             message }]); every other one was
//                                                             still sent
//   401 { error: 'Unauthorized' } + WWW-Authenticate: Bearer  missing or wrong token
//   404 / 405                                                 wrong path / method (Allow: POST)
//   413 { error: 'PayloadTooLarge', maxBodyBytes }            body over MAX_BODY_BYTES
//   415 { error: 'UnsupportedMediaType' }                     not application/x-ndjson or
//                                                             application/json (UTF-8)
//   500 { error, message }                                    configuration error (no secrets)
//   502 { accepted, sent, failed, rejected: 0, failures }     Kinesis did not take some records
//                                                             (failures: [{ line | index, code }]);
//                                                             send those again
// The token is checked before anything else; nothing is sent to Kinesis on a 401, 413 or 415,
// and the body of an error answer is never parsed (up to MAX_BODY_BYTES of it is read and
// dropped first, so that an uploading client gets the answer rather than a reset). A 400 also
// carries `failures` when Kinesis refused some of the good records.
//
// Configuration (wrangler.toml [vars] and secrets):
//   INGEST_TOKEN          the bearer token callers must send (secret, required)
//   INGEST_TOKEN_PREVIOUS optional second accepted token, while rotating (secret)
//   MAX_BODY_BYTES        largest accepted body in bytes (default 1048576)
//   STREAM_NAME           stream name or ARN (required)
//   AWS_REGION            signing region
//   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional): Worker secrets
//   KINESIS_ENDPOINT      optional endpoint override (e.g. a local emulator)
//   PARTITION_KEY_FIELD   optional top-level field used as the partition key (default: random)
import { KinesisBatchDispatcher, KinesisBatchError } from 'kinesis-batch';

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const MAX_LISTED = 1000;
const REALM = 'Bearer realm="kinesis-ingest"';
const MEDIA_TYPES = new Set(['application/x-ndjson', 'application/json']);

const encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true });

// Whether the package takes the onFailed option (newer versions do); found out on first use.
let onFailedSupported = true;

export default {
  async fetch(request, env, ctx) {
    let response;
    try {
      response = await handle(request, env, ctx);
    } catch (error) {
      // No message: it could quote a record.
      console.error(JSON.stringify({ event: 'ingest-error', code: error?.code ?? error?.name ?? 'Error' }));
      response = json(500, { error: 'InternalError', message: 'the records were not handled; send them again' });
    }
    // An error answered before the body was read: drop (never parse or keep) up to
    // MAX_BODY_BYTES of it first, so that the client, still uploading, gets the answer rather
    // than a connection reset. A longer body is cut off.
    if (response.status >= 400 && request.body && !request.bodyUsed) {
      await discard(request.body.getReader(), maxBodyBytes(env) ?? DEFAULT_MAX_BODY_BYTES);
    }
    return response;
  },
};

async function handle(request, env, ctx) {
  const url = new URL(request.url);
  if (url.pathname !== '/ingest') return json(404, { error: 'NotFound', message: 'POST records to /ingest' });
  if (request.method !== 'POST')
    return json(405, { error: 'MethodNotAllowed', message: 'use POST' }, { allow: 'POST' });

  // 1. The caller's credential, before anything else is looked at.
  if (!env.INGEST_TOKEN) return misconfigured('the INGEST_TOKEN secret is not set');
  const auth = await authenticate(request.headers.get('authorization'), env);
  if (auth !== 'ok') {
    const challenge = auth === 'missing' ? REALM : `${REALM}, error="invalid_token"`;
    return json(
      401,
      { error: 'Unauthorized', message: 'send Authorization: Bearer <token>' },
      { 'www-authenticate': challenge },
    );
  }

  // 2. Media type and size, before the body is read (the size is also counted while reading).
  const limit = maxBodyBytes(env);
  if (limit === undefined) return misconfigured('MAX_BODY_BYTES must be a positive whole number of bytes');
  const mediaType = parseMediaType(request.headers.get('content-type'));
  if (!mediaType) {
    return json(415, {
      error: 'UnsupportedMediaType',
      message: 'send application/x-ndjson (one JSON record per line) or application/json, in UTF-8',
    });
  }
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) return tooLarge(limit);
  const body = await readBody(request, limit);
  if (body === undefined) return tooLarge(limit);

  // 3. Records: the text of each valid line / element, sent as is (as UTF-8).
  const { items, errors } = mediaType === 'application/json' ? parseJsonBody(body) : parseNdjson(body);
  if (items.length === 0 && errors.length === 0) return json(200, { accepted: 0, sent: 0, failed: 0, rejected: 0 });

  // 4. Submit and flush. Registered with waitUntil so that delivery (and its log line)
  //    completes even if the caller hangs up before the answer.
  let delivery;
  try {
    delivery = deliver(env, items);
  } catch (error) {
    // KinesisBatchError messages never contain secrets.
    const code = error instanceof KinesisBatchError ? error.code : 'InternalError';
    return json(500, { error: code, message: `worker misconfigured: ${error.message}` });
  }
  ctx.waitUntil(delivery.catch(() => {}));
  let outcome;
  try {
    outcome = await delivery;
  } catch (error) {
    console.error(JSON.stringify({ event: 'ingest-error', code: error?.code ?? error?.name ?? 'Error' }));
    return json(502, { error: 'DeliveryError', message: 'the records could not be submitted; send them again' });
  }

  for (const { index, error } of outcome.rejected) {
    errors.push({ ...items[index].at, code: error.code, message: error.message });
  }
  errors.sort((a, b) => (a.line ?? a.index ?? 0) - (b.line ?? b.index ?? 0));
  const answer = {
    accepted: outcome.accepted,
    sent: outcome.sent,
    failed: outcome.failed,
    rejected: errors.length,
  };
  if (errors.length > 0) {
    answer.errors = errors.slice(0, MAX_LISTED);
    if (errors.length > MAX_LISTED) answer.errorsTruncated = true;
  }
  if (outcome.failed > 0) {
    answer.failures = outcome.failures.slice(0, MAX_LISTED);
    if (outcome.failures.length > MAX_LISTED || outcome.failures.length < outcome.failed) {
      answer.failuresTruncated = true;
    }
  }
  const status = errors.length > 0 ? 400 : outcome.failed > 0 ? 502 : 200;
  return json(status, answer);
}

// ---- authentication -------------------------------------------------------------------------

/** → 'ok' | 'missing' | 'invalid'. Tokens are compared as SHA-256 digests in constant time. */
async function authenticate(header, env) {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  if (!match) return header ? 'invalid' : 'missing';
  const given = await sha256(match[1]);
  // Both comparisons always run, so the time does not tell which token (if any) matched.
  const current = equalDigests(given, await sha256(env.INGEST_TOKEN));
  const previous = env.INGEST_TOKEN_PREVIOUS ? equalDigests(given, await sha256(env.INGEST_TOKEN_PREVIOUS)) : false;
  return current || previous ? 'ok' : 'invalid';
}

async function sha256(text) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
}

function equalDigests(a, b) {
  // workerd has crypto.subtle.timingSafeEqual; the loop is for hosts without it.
  if (typeof crypto.subtle.timingSafeEqual === 'function') return crypto.subtle.timingSafeEqual(a, b);
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

// ---- request body ---------------------------------------------------------------------------

function maxBodyBytes(env) {
  const value = env.MAX_BODY_BYTES;
  if (value === undefined || value === '') return DEFAULT_MAX_BODY_BYTES;
  const n = typeof value === 'number' ? value : /^\d+$/.test(String(value).trim()) ? Number(value) : Number.NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** 'application/x-ndjson' | 'application/json', or undefined for anything else (or a non-UTF-8 charset). */
function parseMediaType(header) {
  if (!header) return undefined;
  const [type, ...parameters] = header.split(';').map((part) => part.trim().toLowerCase());
  if (!MEDIA_TYPES.has(type)) return undefined;
  for (const parameter of parameters) {
    const [name, value = ''] = parameter.split('=').map((part) => part.trim());
    if (name === 'charset' && !['utf-8', 'utf8', '"utf-8"'].includes(value)) return undefined;
  }
  return type;
}

/** The body's bytes, or undefined once more than `limit` bytes arrive (whatever Content-Length said). */
async function readBody(request, limit) {
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await discard(reader, limit);
      return undefined;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** Reads and drops up to `budget` more bytes, then cancels the rest. */
async function discard(reader, budget) {
  try {
    for (let seen = 0; seen <= budget; ) {
      const { done, value } = await reader.read();
      if (done) return;
      seen += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // The client went away: nothing to answer.
  }
}

/**
 * NDJSON → { items: [{ text, at: { line } }], errors: [{ line, code, message }] }. Lines are cut
 * on the byte 0x0A (never inside a UTF-8 sequence) and decoded one by one, so a line that is not
 * UTF-8 or not JSON is refused alone. Blank lines are skipped; a trailing \r is dropped.
 */
function parseNdjson(bytes) {
  const items = [];
  const errors = [];
  let start = 0;
  for (let line = 1; start <= bytes.length; line++) {
    let end = bytes.indexOf(10, start);
    if (end === -1) end = bytes.length;
    const raw = bytes.subarray(start, end);
    start = end + 1;
    let text;
    try {
      text = utf8.decode(raw).trim();
    } catch {
      errors.push({ line, code: 'InvalidUtf8', message: 'the line is not valid UTF-8' });
      continue;
    }
    if (text === '') continue;
    try {
      JSON.parse(text);
    } catch (error) {
      errors.push({ line, code: 'InvalidJson', message: error.message });
      continue;
    }
    items.push({ text, at: { line } });
  }
  return { items, errors };
}

/**
 * JSON → an array's elements as records ({ at: { index } }), or any other value as one record.
 * Each element is sent as its own text from the body (numbers keep every digit).
 */
function parseJsonBody(bytes) {
  let text;
  let value;
  try {
    text = utf8.decode(bytes);
    value = JSON.parse(text);
  } catch (error) {
    const code = text === undefined ? 'InvalidUtf8' : 'InvalidJson';
    return { items: [], errors: [{ code, message: `the body is not valid JSON: ${error.message}` }] };
  }
  if (!Array.isArray(value)) return { items: [{ text: text.trim(), at: { index: 0 } }], errors: [] };
  return { items: splitArray(text).map((element, index) => ({ text: element, at: { index } })), errors: [] };
}

/** The source text of each element of a valid JSON array. */
function splitArray(text) {
  const elements = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = text.indexOf('[') + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) depth++;
    else if (c === 0x5d || c === 0x7d) {
      if (depth === 0) {
        // the array's own ']'
        if (start !== -1) elements.push(text.slice(start, i).trim());
        break;
      }
      depth--;
    } else if (c === 0x2c && depth === 0) {
      elements.push(text.slice(start, i).trim());
      start = -1;
      continue;
    }
    if (start === -1 && c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) start = i;
  }
  return elements;
}

// ---- delivery -------------------------------------------------------------------------------

/**
 * Creates the dispatcher (throws synchronously on a configuration error), then submits every
 * item and flushes → { accepted, rejected, sent, failed, failures: [{ line | index, code }] }.
 */
function deliver(env, items) {
  const finalFailures = [];
  const kn = dispatcher(env, (failed) => {
    for (const f of failed) finalFailures.push(f);
  });
  return (async () => {
    const { accepted, rejected } = await kn.submitPayloads(items.map((item) => item.text));
    const report = await kn.flushPayloads();
    const failedRecords = onFailedSupported ? finalFailures : report.failed;
    const failed = report.failedCount ?? failedRecords.length;
    if (failed > 0) {
      // Codes and counts only: never payloads, keys or credentials.
      const codes = {};
      for (const f of failedRecords) codes[f.errorCode] = (codes[f.errorCode] ?? 0) + 1;
      console.error(
        JSON.stringify({ event: 'kinesis-delivery-failed', stream: env.STREAM_NAME, failed, accepted, codes }),
      );
    }
    return { accepted, rejected, sent: report.sent, failed, failures: locate(items, failedRecords) };
  })();
}

function dispatcher(env, onFailed) {
  const options = {
    region: env.AWS_REGION,
    endpoint: env.KINESIS_ENDPOINT || undefined,
    partitionKeyIdentifier: env.PARTITION_KEY_FIELD || undefined,
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: env.AWS_SESSION_TOKEN || undefined,
    },
  };
  if (onFailedSupported) {
    try {
      return new KinesisBatchDispatcher(env.STREAM_NAME, { ...options, onFailed });
    } catch (error) {
      // Versions without onFailed refuse it as an unknown option; report.failed has them all.
      if (!(error instanceof KinesisBatchError && error.code === 'InvalidOption' && error.option === 'onFailed')) {
        throw error;
      }
      onFailedSupported = false;
    }
  }
  return new KinesisBatchDispatcher(env.STREAM_NAME, options);
}

/** Failed records → [{ line | index, code }], found by their text (equal texts are interchangeable). */
function locate(items, failedRecords) {
  if (failedRecords.length === 0) return [];
  const where = new Map();
  for (const item of items) {
    const list = where.get(item.text);
    if (list) list.push(item.at);
    else where.set(item.text, [item.at]);
  }
  const out = [];
  for (const f of failedRecords) {
    const at = where.get(f.payload)?.shift();
    out.push({ ...at, code: f.errorCode });
  }
  return out.sort((a, b) => (a.line ?? a.index ?? 0) - (b.line ?? b.index ?? 0));
}

// ---- answers --------------------------------------------------------------------------------

function tooLarge(limit) {
  return json(413, {
    error: 'PayloadTooLarge',
    message: `the body is over ${limit} bytes; split it into smaller requests`,
    maxBodyBytes: limit,
  });
}

function misconfigured(message) {
  return json(500, { error: 'Misconfigured', message: `worker misconfigured: ${message}` });
}

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  });
}
