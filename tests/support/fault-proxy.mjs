// A fault-injecting HTTP proxy in front of a Kinesis test server (kinesalite / kinesis-local).
// In-process, Node built-ins only. See README.md next to this file.

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import zlib from 'node:zlib';
import { listenLocal } from './servers.mjs';

const JSON_CT = 'application/x-amz-json-1.1';
const MAX_BODY = 64 * 1024 * 1024; // refuse (413) anything bigger; Kinesis requests are <= 10 MiB
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-authenticate',
  'expect',
]);

export const FAULT_TYPES = ['pass', 'failRecords', 'status', 'throttle', 'error', 'resetBefore', 'resetAfter', 'delay'];

const ERROR_MESSAGES = {
  ProvisionedThroughputExceededException: (stream) =>
    `Rate exceeded for shard shardId-000000000000 in stream ${stream} under account 000000000000.`,
  InternalFailure: () => 'Internal service failure.',
};

/** Seeded PRNG: returns () => float in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A ready-made random decider. Per PutRecords request, one request-level fault is drawn first
 * (status500 / throttle / resetBefore / resetAfter / delay, with the given probabilities);
 * if none, each record independently fails with ProvisionedThroughputExceededException
 * (pteRate) or else InternalFailure (internalRate). The draw for request #index depends only on
 * (seed, index), so a given request index always gets the same decision.
 * delayMs is required when delayRate > 0 (make it longer than the client's timeout).
 */
export function chaosDecider({
  seed = 1,
  pteRate = 0.2,
  internalRate = 0.05,
  status500Rate = 0.05,
  throttleRate = 0.05,
  resetBeforeRate = 0.02,
  resetAfterRate = 0.01,
  delayRate = 0.01,
  delayMs,
} = {}) {
  if (delayRate > 0 && !(delayMs > 0)) {
    throw new Error('chaosDecider: pass delayMs (longer than the client timeout), or delayRate: 0');
  }
  const levels = [
    [status500Rate, () => ({ type: 'status', status: 500 })],
    [throttleRate, () => ({ type: 'throttle' })],
    [resetBeforeRate, () => ({ type: 'resetBefore' })],
    [resetAfterRate, () => ({ type: 'resetAfter' })],
    [delayRate, () => ({ type: 'delay', ms: delayMs })],
  ];
  const total = levels.reduce((a, [p]) => a + p, 0);
  if (total > 1) throw new Error('chaosDecider: request-level rates sum to more than 1');
  if (pteRate + internalRate > 1) throw new Error('chaosDecider: pteRate + internalRate > 1');
  return function decide({ index, records }) {
    const rand = mulberry32((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0);
    let r = rand();
    for (const [p, make] of levels) {
      if (r < p) return make();
      r -= p;
    }
    const indices = [];
    const codes = [];
    for (let i = 0; i < (records?.length ?? 0); i++) {
      const x = rand();
      if (x < pteRate) {
        indices.push(i);
        codes.push('ProvisionedThroughputExceededException');
      } else if (x < pteRate + internalRate) {
        indices.push(i);
        codes.push('InternalFailure');
      }
    }
    return indices.length ? { type: 'failRecords', indices, codes } : { type: 'pass' };
  };
}

function newStats() {
  return {
    requests: 0, // every request received (any action)
    putRecordsRequests: 0,
    pass: 0, // PutRecords requests forwarded untouched
    failRecords: 0, // requests with injected per-record failures
    failedRecords: { ProvisionedThroughputExceededException: 0, InternalFailure: 0 }, // injected, by code
    status: 0, // injected whole-request HTTP status (e.g. 500)
    throttle: 0,
    error: 0,
    resetBefore: 0,
    resetAfter: 0,
    delay: 0,
    resetAfterRecords: 0, // records written by the target whose response the client never saw
    delayRecords: 0, // records written by the target whose response was held back
    ambiguousRecords: 0, // resetAfterRecords + delayRecords: may be duplicated by client retries
    upstreamErrors: 0, // target unreachable etc. (answered 502)
    clientAborts: 0, // client went away before we answered
  };
}

function jsonError(res, status, type, message) {
  const body = JSON.stringify({ __type: type, message });
  if (res.destroyed || res.headersSent) return;
  res.writeHead(status, {
    'content-type': JSON_CT,
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': randomUUID(),
    'x-amzn-errortype': type,
  });
  res.end(body);
}

function decodeBody(buf, encoding) {
  switch ((encoding || 'identity').toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(buf);
    case 'deflate':
      return zlib.inflateSync(buf);
    case 'br':
      return zlib.brotliDecompressSync(buf);
    default:
      return buf;
  }
}

/** bytes as Kinesis counts them: decoded Data length + UTF-8 length of PartitionKey. */
function recordBytes(rec) {
  const data = typeof rec?.Data === 'string' ? Buffer.byteLength(rec.Data, 'base64') : 0;
  const key = typeof rec?.PartitionKey === 'string' ? Buffer.byteLength(rec.PartitionKey, 'utf8') : 0;
  return data + key;
}

/**
 * startFaultProxy({ target, decide }) → { endpoint, stats, requests, stop() }
 *
 * target: 'http://127.0.0.1:PORT' of the real server.
 * decide({ index, action, records, streamName }) → decision (see README), called once per
 *   PutRecords request (index = 0-based count of PutRecords requests). Other actions are
 *   forwarded untouched and never passed to decide.
 * requests: one entry per PutRecords request received, in arrival order:
 *   { index, recordCount, bytes, maxRecordBytes, streamName, fault }
 */
export async function startFaultProxy({ target, decide, port = 0 } = {}) {
  const targetUrl = new URL(target);
  if (targetUrl.protocol !== 'http:') throw new Error('fault proxy: target must be http://');
  const stats = newStats();
  const requests = [];
  const upstreamAgent = new http.Agent({ keepAlive: false });
  let putIndex = 0;
  const injectedReset = new WeakSet(); // responses we destroyed on purpose (not client aborts)

  function forward(req, body, { headers: override, onResponse, onError }) {
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (!HOP_BY_HOP.has(k)) headers[k] = v;
    }
    Object.assign(headers, override, { 'content-length': String(body.length) });
    const up = http.request(
      {
        host: targetUrl.hostname,
        port: targetUrl.port,
        method: req.method,
        path: req.url,
        headers,
        agent: upstreamAgent,
      },
      (upRes) => {
        const chunks = [];
        upRes.on('data', (c) => chunks.push(c));
        upRes.on('error', onError);
        upRes.on('end', () => onResponse(upRes, Buffer.concat(chunks)));
      },
    );
    up.on('error', onError);
    up.end(body);
    return up;
  }

  function send(res, status, headers, body) {
    if (res.destroyed || res.writableEnded) return;
    const out = {};
    for (const [k, v] of Object.entries(headers)) {
      if (!HOP_BY_HOP.has(k) && k !== 'content-length') out[k] = v;
    }
    out['content-length'] = String(body.length);
    try {
      res.writeHead(status, out);
      res.end(body);
    } catch {
      /* client gone */
    }
  }

  function upstreamFailed(res, err) {
    stats.upstreamErrors++;
    jsonError(res, 502, 'ProxyUpstreamError', `fault proxy could not reach ${target}: ${err.message}`);
  }

  async function handle(req, res, body) {
    stats.requests++;
    const targetHeader = String(req.headers['x-amz-target'] ?? '');
    const action = targetHeader.includes('.') ? targetHeader.slice(targetHeader.lastIndexOf('.') + 1) : targetHeader;

    let parsed;
    if (action === 'PutRecords') {
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        parsed = undefined;
      }
    }
    if (action !== 'PutRecords' || !parsed || !Array.isArray(parsed.Records)) {
      // Pass through byte-for-byte (also keeps SigV4 signatures valid, e.g. in front of moto).
      forward(req, body, {
        onResponse: (upRes, upBody) => send(res, upRes.statusCode, upRes.headers, upBody),
        onError: (err) => upstreamFailed(res, err),
      });
      return;
    }

    const index = putIndex++;
    stats.putRecordsRequests++;
    const records = parsed.Records;
    let bytes = 0;
    let maxRecordBytes = 0;
    for (const r of records) {
      const b = recordBytes(r);
      bytes += b;
      if (b > maxRecordBytes) maxRecordBytes = b;
    }
    const entry = {
      index,
      recordCount: records.length,
      bytes,
      maxRecordBytes,
      streamName: parsed.StreamName,
      fault: 'pass',
    };
    requests.push(entry);

    let decision;
    try {
      decision = decide ? await decide({ index, action, records, streamName: parsed.StreamName }) : undefined;
    } catch (err) {
      jsonError(res, 500, 'ProxyDecideError', `decide() threw: ${err?.message}`);
      return;
    }
    decision = decision ?? { type: 'pass' };
    entry.fault = decision.type;

    switch (decision.type) {
      case 'pass': {
        stats.pass++;
        forward(req, body, {
          onResponse: (upRes, upBody) => send(res, upRes.statusCode, upRes.headers, upBody),
          onError: (err) => upstreamFailed(res, err),
        });
        return;
      }

      case 'status': {
        stats.status++;
        jsonError(res, decision.status ?? 500, 'InternalFailure', 'injected');
        return;
      }

      case 'throttle': {
        stats.throttle++;
        jsonError(res, 400, 'ThrottlingException', 'Rate exceeded');
        return;
      }

      case 'error': {
        stats.error++;
        jsonError(res, decision.status ?? 400, decision.code ?? 'InjectedError', decision.message ?? 'injected');
        return;
      }

      case 'resetBefore': {
        stats.resetBefore++;
        injectedReset.add(res);
        req.socket.destroy();
        return;
      }

      case 'resetAfter': {
        stats.resetAfter++;
        forward(req, body, {
          onResponse: () => {
            stats.resetAfterRecords += records.length;
            stats.ambiguousRecords += records.length;
            injectedReset.add(res);
            req.socket.destroy();
          },
          onError: () => {
            stats.upstreamErrors++;
            injectedReset.add(res);
            req.socket.destroy();
          },
        });
        return;
      }

      case 'delay': {
        stats.delay++;
        forward(req, body, {
          onResponse: (upRes, upBody) => {
            stats.delayRecords += records.length;
            stats.ambiguousRecords += records.length;
            const t = setTimeout(() => send(res, upRes.statusCode, upRes.headers, upBody), decision.ms ?? 0);
            res.on('close', () => clearTimeout(t));
          },
          onError: (err) => upstreamFailed(res, err),
        });
        return;
      }

      case 'failRecords': {
        const codes = new Map();
        for (let k = 0; k < (decision.indices ?? []).length; k++) {
          const i = decision.indices[k];
          if (!Number.isInteger(i) || i < 0 || i >= records.length) {
            jsonError(res, 500, 'ProxyDecideError', `failRecords index ${i} out of range (0..${records.length - 1})`);
            return;
          }
          const code = decision.codes?.[k] ?? decision.code ?? 'ProvisionedThroughputExceededException';
          if (!ERROR_MESSAGES[code]) {
            jsonError(res, 500, 'ProxyDecideError', `failRecords: unknown code ${code}`);
            return;
          }
          codes.set(i, code);
        }
        stats.failRecords++;
        for (const code of codes.values()) stats.failedRecords[code]++;
        const failedEntry = (i) => ({
          ErrorCode: codes.get(i),
          ErrorMessage: ERROR_MESSAGES[codes.get(i)](parsed.StreamName),
        });
        const kept = records.filter((_, i) => !codes.has(i));

        if (kept.length === 0) {
          const out = Buffer.from(
            JSON.stringify({
              FailedRecordCount: records.length,
              Records: records.map((_, i) => failedEntry(i)),
            }),
          );
          send(res, 200, { 'content-type': JSON_CT, 'x-amzn-requestid': randomUUID() }, out);
          return;
        }

        const newBody = Buffer.from(JSON.stringify({ ...parsed, Records: kept }));
        forward(req, newBody, {
          headers: { 'accept-encoding': 'identity' },
          onError: (err) => upstreamFailed(res, err),
          onResponse: (upRes, upBody) => {
            if (upRes.statusCode !== 200) {
              // The target refused the (reduced) request: hand its answer back unchanged.
              send(res, upRes.statusCode, upRes.headers, upBody);
              return;
            }
            let resp;
            try {
              resp = JSON.parse(decodeBody(upBody, upRes.headers['content-encoding']).toString('utf8'));
            } catch (err) {
              upstreamFailed(res, new Error(`unparseable PutRecords response: ${err.message}`));
              return;
            }
            const got = resp.Records ?? [];
            if (got.length !== kept.length) {
              upstreamFailed(res, new Error(`target answered ${got.length} entries for ${kept.length} records`));
              return;
            }
            const merged = [];
            let j = 0;
            for (let i = 0; i < records.length; i++) merged.push(codes.has(i) ? failedEntry(i) : got[j++]);
            resp.Records = merged;
            resp.FailedRecordCount = merged.filter((r) => r?.ErrorCode).length;
            const headers = { ...upRes.headers };
            delete headers['content-encoding'];
            send(res, 200, headers, Buffer.from(JSON.stringify(resp)));
          },
        });
        return;
      }

      default:
        jsonError(res, 500, 'ProxyDecideError', `unknown decision type ${JSON.stringify(decision.type)}`);
    }
  }

  const server = http.createServer(
    { keepAliveTimeout: 65000, requestTimeout: 0, headersTimeout: 60000 },
    (req, res) => {
      let aborted = false;
      const chunks = [];
      let size = 0;
      const onGone = () => {
        if (!aborted && !res.writableEnded && !injectedReset.has(res)) {
          aborted = true;
          stats.clientAborts++;
        }
      };
      req.on('error', () => {});
      res.on('error', () => {});
      res.on('close', onGone);
      req.on('data', (c) => {
        size += c.length;
        if (size > MAX_BODY) {
          jsonError(res, 413, 'ProxyRequestTooLarge', `request body over ${MAX_BODY} bytes`);
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (res.writableEnded || res.destroyed) return;
        handle(req, res, Buffer.concat(chunks)).catch((err) => {
          jsonError(res, 500, 'ProxyInternalError', String(err?.stack ?? err));
        });
      });
    },
  );
  server.on('clientError', (err, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    try {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    } catch {
      socket.destroy();
    }
  });

  const endpoint = await listenLocal(server, port);

  let stopping;
  return {
    endpoint,
    stats,
    requests,
    stop() {
      stopping ??= new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        upstreamAgent.destroy();
      });
      return stopping;
    },
  };
}
