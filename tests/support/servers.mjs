// Test servers for kinesis-batch: kinesalite, kinesis-local (kinesis-mock) and moto, each run as
// a child process on 127.0.0.1 with a free port, in its own process group, stopped by PID.
//
// Node built-ins only (plus the packages in ../package.json and the venv in ../.venv).
// See README.md next to this file for ports, timings and quirks.

import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const here = path.dirname(fileURLToPath(import.meta.url));
const testsDir = path.resolve(here, '..');
const require = createRequire(import.meta.url);

export const DUMMY_ACCESS_KEY_ID = 'AKID';
const JSON_CT = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'Kinesis_20131202.';

// ---------------------------------------------------------------------------------------------
// Child-process registry: every server we start is killed when this process exits.
// ---------------------------------------------------------------------------------------------

/** pid -> { name, child } for every server child still running. */
const live = new Map();
let handlersInstalled = false;

function killGroupSync(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    /* ESRCH: already gone */
  }
}

function killAllSync() {
  for (const pid of live.keys()) killGroupSync(pid, 'SIGKILL');
  live.clear();
}

function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    const onSignal = () => {
      killAllSync();
      // If nobody else handles this signal, restore the default behaviour (die by the signal).
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Kill every server started by this module that is still running. */
export async function stopAllServers() {
  await Promise.all([...live.values()].map((s) => s.stop()));
}

/** process.env + extra; cleanAws drops every ambient AWS_* variable first (profiles, keys, endpoints). */
function childEnv(extra = {}, cleanAws = false) {
  const env = { ...process.env };
  if (cleanAws) for (const k of Object.keys(env)) if (k.startsWith('AWS_')) delete env[k];
  return { ...env, ...extra };
}

/**
 * Spawn a server child detached (own process group). Output is kept (last 64 KiB) for errors.
 * watchdog: give the child a stdin pipe it watches (see parent-watchdog.cjs).
 */
function spawnServer(name, command, args, { cwd, env, watchdog = false, cleanAws = false } = {}) {
  installHandlers();
  const child = spawn(command, args, {
    cwd,
    env: { ...childEnv(env, cleanAws), ...(watchdog ? { TEST_SERVER_PARENT_WATCHDOG: '1' } : {}) },
    detached: true,
    stdio: [watchdog ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk) => {
    out += chunk.toString('utf8');
    if (out.length > 65536) out = out.slice(-65536);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.stdin?.on('error', () => {});
  let exited = child.exitCode !== null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = true;
      resolve({ code, signal });
    });
    child.on('error', (err) => {
      exited = true;
      keep(`spawn error: ${err.message}\n`);
      resolve({ code: -1, signal: null, err });
    });
  });
  let stopping = null;
  const handle = {
    name,
    child,
    pid: child.pid,
    output: () => out,
    exited: () => exited,
    exitPromise,
    /** Let the test process exit even if stop() is forgotten; the 'exit' handler kills us. */
    unref() {
      child.unref();
      child.stdout.unref?.();
      child.stderr.unref?.();
      child.stdin?.unref?.();
    },
    stop() {
      if (stopping) return stopping;
      stopping = (async () => {
        const pid = child.pid;
        if (pid === undefined) return;
        child.ref(); // keep the event loop alive until the child is really gone
        if (!exited) killGroupSync(pid, 'SIGTERM');
        let timer;
        const timedOut = await Promise.race([
          exitPromise.then(() => false),
          new Promise((resolve) => {
            timer = setTimeout(() => resolve(true), 5000);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          killGroupSync(pid, 'SIGKILL');
          await exitPromise;
        }
        // The leader is gone; make sure nothing else in its group survived.
        for (let i = 0; i < 50 && groupAlive(pid); i++) {
          if (i === 10) killGroupSync(pid, 'SIGKILL');
          await sleep(20);
        }
        live.delete(pid);
      })();
      return stopping;
    },
  };
  if (child.pid !== undefined) live.set(child.pid, handle);
  return handle;
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

const recentlyIssued = new Set();

/** Starts `server` listening on 127.0.0.1 (`port` 0: any free one); resolves to its http:// URL. */
export async function listenLocal(server, port = 0) {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return `http://127.0.0.1:${server.address().port}`;
}

/** A currently free TCP port on 127.0.0.1 (listen on port 0, close). Never hands out the same port twice per process. */
export async function freePort() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
    if (!recentlyIssued.has(port)) {
      recentlyIssued.add(port);
      return port;
    }
  }
  throw new Error('freePort: could not find a port not already handed out');
}

// ---------------------------------------------------------------------------------------------
// Kinesis JSON protocol client (dummy auth, or real SigV4 when credentials are given)
// ---------------------------------------------------------------------------------------------

const noKeepAlive = new http.Agent({ keepAlive: false });

function amzDate(d = new Date()) {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

const sha256hex = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

/**
 * SigV4 headers for a POST of `body` to `/` of `endpoint` (the Kinesis JSON protocol), using
 * node:crypto only. Returns all headers to send (Host, Content-Type, X-Amz-Target, X-Amz-Date,
 * Authorization, and X-Amz-Security-Token when a sessionToken is given).
 */
export function signKinesisRequest({
  endpoint,
  target,
  body,
  region = 'us-east-1',
  credentials,
  date = new Date(),
  service = 'kinesis',
}) {
  const url = new URL(endpoint);
  const xAmzDate = amzDate(date);
  const day = xAmzDate.slice(0, 8);
  const headers = {
    'content-type': JSON_CT,
    host: url.host,
    'x-amz-date': xAmzDate,
    'x-amz-target': target,
  };
  if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${String(headers[n]).trim()}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = ['POST', url.pathname || '/', '', canonicalHeaders, signedHeaders, sha256hex(body)].join(
    '\n',
  );
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', xAmzDate, scope, sha256hex(canonicalRequest)].join('\n');
  const kDate = hmac(`AWS4${credentials.secretAccessKey}`, day);
  const kSigning = hmac(hmac(hmac(kDate, region), service), 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(stringToSign).digest('hex');
  return {
    ...headers,
    authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

/** Headers kinesalite / kinesis-local accept: they parse but never verify the signature. */
export function dummyAuthHeaders({ endpoint, target, region = 'us-east-1', date = new Date() }) {
  const xAmzDate = amzDate(date);
  return {
    'content-type': JSON_CT,
    host: new URL(endpoint).host,
    'x-amz-target': target,
    'x-amz-date': xAmzDate,
    authorization: `AWS4-HMAC-SHA256 Credential=${DUMMY_ACCESS_KEY_ID}/${xAmzDate.slice(0, 8)}/${region}/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00`,
  };
}

/**
 * One raw Kinesis JSON call. Never throws on an HTTP error status.
 * body: object (JSON-encoded here) or string/Buffer (sent as is).
 * headers: extra/override headers, applied after signing (null/undefined removes one).
 * → { status, headers, body: string, json: object|undefined, errorType: string|undefined }
 * errorType is `__type` (without any `prefix#`) for JSON errors, or <Code> for moto's XML errors.
 */
export function kinesisRequest({
  endpoint,
  action,
  body = {},
  region = 'us-east-1',
  credentials,
  headers: extra = {},
  timeoutMs = 30000,
}) {
  const payload =
    typeof body === 'string' || Buffer.isBuffer(body) ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
  const target = TARGET_PREFIX + action;
  const headers = credentials
    ? signKinesisRequest({ endpoint, target, body: payload, region, credentials })
    : dummyAuthHeaders({ endpoint, target, region });
  for (const [k, v] of Object.entries(extra)) {
    if (v === null || v === undefined) delete headers[k.toLowerCase()];
    else headers[k.toLowerCase()] = v;
  }
  headers['content-length'] = String(payload.length);
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname || '/',
        method: 'POST',
        headers,
        agent: noKeepAlive,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            /* not JSON (e.g. moto's XML errors) */
          }
          let errorType;
          if (res.statusCode >= 300) {
            if (json && typeof json.__type === 'string') errorType = json.__type.split('#').pop();
            else {
              const m = /<Code>([^<]*)<\/Code>/.exec(text);
              if (m) errorType = m[1];
            }
          }
          resolve({ status: res.statusCode, headers: res.headers, body: text, json, errorType });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${action} to ${endpoint}: timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Kinesis JSON call; resolves to the parsed response, throws on a non-2xx status.
 * The thrown Error has .status, .errorType and .body.
 * Without `credentials` the dummy Authorization header is sent (kinesalite, kinesis-local);
 * with credentials ({ accessKeyId, secretAccessKey, sessionToken? }) the request is really SigV4-signed (moto).
 */
export async function kinesisCall({ endpoint, action, body = {}, region = 'us-east-1', credentials, timeoutMs }) {
  const r = await kinesisRequest({ endpoint, action, body, region, credentials, timeoutMs });
  if (r.status < 200 || r.status >= 300) {
    const err = new Error(`${action} → HTTP ${r.status} ${r.errorType ?? ''}: ${r.body.slice(0, 500)}`);
    err.status = r.status;
    err.errorType = r.errorType;
    err.body = r.body;
    throw err;
  }
  return r.json ?? {};
}

// ---------------------------------------------------------------------------------------------
// Readiness helpers
// ---------------------------------------------------------------------------------------------

async function waitFor(what, handle, fn, { timeoutMs, intervalMs = 50 }) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    if (handle.exited()) {
      throw new Error(`${handle.name} exited while waiting for ${what}:\n${handle.output()}`);
    }
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${handle.name}: timed out after ${timeoutMs} ms waiting for ${what}` +
          (lastErr ? ` (last error: ${lastErr.message})` : '') +
          `\n${handle.output()}`,
      );
    }
    await sleep(intervalMs);
  }
}

async function waitStreamsActive(handle, endpoint, names, { credentials, timeoutMs }) {
  for (const name of names) {
    await waitFor(
      `stream ${name} ACTIVE`,
      handle,
      async () => {
        const r = await kinesisCall({
          endpoint,
          action: 'DescribeStreamSummary',
          body: { StreamName: name },
          credentials,
          timeoutMs: 5000,
        });
        return r.StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
      },
      { timeoutMs, intervalMs: 100 },
    );
  }
}

function normalizeStreams(streams) {
  const out = {};
  for (const [name, shards] of Object.entries(streams ?? {})) {
    const n = Number(shards);
    if (!/^[a-zA-Z0-9_.-]{1,128}$/.test(name)) throw new Error(`invalid stream name ${JSON.stringify(name)}`);
    if (!Number.isInteger(n) || n < 1) throw new Error(`invalid shard count for ${name}: ${shards}`);
    out[name] = n;
  }
  return out;
}

/** Start with a fresh port; retry (new port) if the port was taken between freePort() and bind. */
async function withPortRetry(fn) {
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await fn(port);
    } catch (e) {
      lastErr = e;
      if (!/EADDRINUSE|Address already in use/i.test(e.message)) throw e;
    }
  }
  throw lastErr;
}

function publicHandle(handle, extra) {
  handle.unref();
  return { ...extra, pid: handle.pid, stop: () => handle.stop() };
}

// ---------------------------------------------------------------------------------------------
// kinesalite
// ---------------------------------------------------------------------------------------------

/**
 * kinesalite 3.3.3 (in-memory, createStreamMs 0, shardLimit 1000) as a child process.
 * streams: { name: shardCount } created with CreateStream; resolves once all are ACTIVE.
 */
export async function startKinesalite({ streams = {}, startTimeoutMs = 15000 } = {}) {
  const wanted = normalizeStreams(streams);
  return withPortRetry(async (port) => {
    const handle = spawnServer(
      'kinesalite',
      process.execPath,
      [path.join(here, 'kinesalite-server.cjs'), String(port)],
      { cwd: testsDir, watchdog: true },
    );
    try {
      const endpoint = `http://127.0.0.1:${port}`;
      await waitFor('ready line', handle, async () => handle.output().includes(`KINESALITE_READY ${port}`), {
        timeoutMs: startTimeoutMs,
        intervalMs: 20,
      });
      for (const [name, shards] of Object.entries(wanted)) {
        await kinesisCall({ endpoint, action: 'CreateStream', body: { StreamName: name, ShardCount: shards } });
      }
      await waitStreamsActive(handle, endpoint, Object.keys(wanted), { timeoutMs: startTimeoutMs });
      return publicHandle(handle, { endpoint });
    } catch (e) {
      await handle.stop();
      throw e;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// kinesis-local (kinesis-mock, Scala.js build)
// ---------------------------------------------------------------------------------------------

export function kinesisLocalDir() {
  return path.dirname(require.resolve('kinesis-local/package.json'));
}

/**
 * kinesis-local 0.6.2: `node main.js` with cwd = its package folder (it reads server.json there).
 * Both its ports are set: KINESIS_MOCK_PLAIN_PORT (HTTP, the endpoint) and KINESIS_MOCK_TLS_PORT
 * (HTTPS, unused, but its default 4567 would collide between instances). kinesis-mock binds
 * every interface; bind-loopback.cjs (preloaded) pins it to 127.0.0.1.
 * streams: { name: shardCount } passed as INITIALIZE_STREAMS; resolves once all are ACTIVE.
 * env: extra environment (e.g. { CREATE_STREAM_DURATION: '0ms', SHARD_LIMIT: '200' }).
 */
export async function startKinesisLocal({ streams = {}, env = {}, startTimeoutMs = 60000 } = {}) {
  const wanted = normalizeStreams(streams);
  const cwd = kinesisLocalDir();
  const shardTotal = Object.values(wanted).reduce((a, b) => a + b, 0);
  return withPortRetry(async (port) => {
    const tlsPort = await freePort();
    const initialize = Object.entries(wanted)
      .map(([n, s]) => `${n}:${s}`)
      .join(',');
    const handle = spawnServer(
      'kinesis-local',
      process.execPath,
      ['--require', path.join(here, 'bind-loopback.cjs'), 'main.js'],
      {
        cwd,
        watchdog: true,
        env: {
          KINESIS_MOCK_PLAIN_PORT: String(port),
          KINESIS_MOCK_TLS_PORT: String(tlsPort),
          ...(initialize ? { INITIALIZE_STREAMS: initialize } : {}),
          LOG_LEVEL: 'ERROR',
          ROOT_LOG_LEVEL: 'ERROR',
          CATS_EFFECT_CPU_STARVATION_CHECK_INITIAL_DELAY: 'Inf',
          // Never read or write a persisted state file in the (shared) package folder.
          SHOULD_PERSIST_DATA: 'false',
          LOAD_DATA_IF_EXISTS: 'false',
          // Its default SHARD_LIMIT is 50; allow big test streams.
          SHARD_LIMIT: String(Math.max(50, shardTotal + 50)),
          ...env,
        },
      },
    );
    try {
      const endpoint = `http://127.0.0.1:${port}`;
      await waitFor(
        'HTTP port',
        handle,
        async () => {
          await kinesisCall({ endpoint, action: 'ListStreams', body: {}, timeoutMs: 2000 });
          return true;
        },
        { timeoutMs: startTimeoutMs, intervalMs: 100 },
      );
      await waitStreamsActive(handle, endpoint, Object.keys(wanted), { timeoutMs: startTimeoutMs });
      return publicHandle(handle, { endpoint });
    } catch (e) {
      await handle.stop();
      throw e;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// moto (auth mode)
// ---------------------------------------------------------------------------------------------

/** Must equal SETUP_ACTIONS in moto_setup.py: CreateUser, CreateAccessKey, PutUserPolicy. */
export const MOTO_SETUP_ACTIONS = 3;

export function venvBin(name) {
  return path.join(testsDir, '.venv', 'bin', name);
}

function runCapture(command, args, { env, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: childEnv(env, true), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(t);
      if (code === 0) resolve(stdout);
      else
        reject(
          new Error(
            `${path.basename(args[0] ?? command)} failed (code ${code}, signal ${signal}):\n${stderr}${stdout}`,
          ),
        );
    });
  });
}

/**
 * moto 5.2.5 server in auth mode: `moto_server -H 127.0.0.1 -p PORT` with
 * INITIAL_NO_AUTH_ACTION_COUNT=3; moto_setup.py spends those on an IAM user + access key +
 * kinesis:* policy, then creates the streams with the new (real) credentials.
 * From then on every request must carry a valid SigV4 signature by `credentials`.
 */
export async function startMoto({ streams = {}, startTimeoutMs = 30000 } = {}) {
  const wanted = normalizeStreams(streams);
  const motoServer = venvBin('moto_server');
  if (!existsSync(motoServer)) {
    throw new Error(
      `${motoServer} not found: run python3 -m venv tests/.venv && tests/.venv/bin/pip install -r tests/requirements.txt`,
    );
  }
  return withPortRetry(async (port) => {
    const handle = spawnServer('moto', motoServer, ['-H', '127.0.0.1', '-p', String(port)], {
      cwd: testsDir,
      watchdog: true, // via pywatchdog/sitecustomize.py
      // Don't let ambient AWS settings leak into moto or the setup script.
      cleanAws: true,
      env: {
        INITIAL_NO_AUTH_ACTION_COUNT: String(MOTO_SETUP_ACTIONS),
        PYTHONUNBUFFERED: '1',
        PYTHONPATH: path.join(here, 'pywatchdog'),
        PYTHONDONTWRITEBYTECODE: '1',
        AWS_DEFAULT_REGION: 'us-east-1',
      },
    });
    try {
      const endpoint = `http://127.0.0.1:${port}`;
      // /moto-api/ is not a counted action.
      await waitFor(
        'HTTP port',
        handle,
        () =>
          new Promise((resolve, reject) => {
            const req = http.get(`${endpoint}/moto-api/`, { agent: noKeepAlive, timeout: 2000 }, (res) => {
              res.resume();
              resolve(res.statusCode === 200);
            });
            req.on('timeout', () => req.destroy(new Error('timeout')));
            req.on('error', reject);
          }),
        { timeoutMs: startTimeoutMs, intervalMs: 50 },
      );
      const out = await runCapture(
        venvBin('python'),
        [path.join(here, 'moto_setup.py'), endpoint, JSON.stringify(wanted)],
        {
          env: {
            AWS_CONFIG_FILE: '/dev/null',
            AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
            AWS_DEFAULT_REGION: 'us-east-1',
          },
          timeoutMs: startTimeoutMs,
        },
      );
      const creds = JSON.parse(out.trim().split('\n').pop());
      return publicHandle(handle, {
        endpoint,
        credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey },
        region: 'us-east-1',
      });
    } catch (e) {
      await handle.stop();
      throw e;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Reading a stream back
// ---------------------------------------------------------------------------------------------

/**
 * Every record of every shard, from TRIM_HORIZON: ListShards, then per shard GetShardIterator +
 * GetRecords (Limit 10000) until an empty page with MillisBehindLatest 0 (or no next iterator).
 * Shards in ListShards order; records in sequence order within a shard.
 * credentials: pass moto's credentials to read from moto (requests are then really signed).
 * → [{ shardId, partitionKey, data: Buffer, sequenceNumber, explicitHashKey? }]
 */
export async function readAllRecords({ endpoint, stream, region = 'us-east-1', credentials }) {
  const call = (action, body) => kinesisCall({ endpoint, action, body, region, credentials });
  const shards = [];
  let token;
  do {
    const r = await call('ListShards', token ? { NextToken: token } : { StreamName: stream });
    shards.push(...(r.Shards ?? []));
    token = r.NextToken;
  } while (token);

  const out = [];
  for (const shard of shards) {
    let iterator = (
      await call('GetShardIterator', {
        StreamName: stream,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      })
    ).ShardIterator;
    for (let page = 0; iterator; page++) {
      if (page > 100000) throw new Error(`readAllRecords: too many pages in ${shard.ShardId}`);
      const r = await call('GetRecords', { ShardIterator: iterator, Limit: 10000 });
      const records = r.Records ?? [];
      for (const rec of records) {
        const item = {
          shardId: shard.ShardId,
          partitionKey: rec.PartitionKey,
          data: Buffer.from(rec.Data ?? '', 'base64'),
          sequenceNumber: rec.SequenceNumber,
        };
        if (rec.ExplicitHashKey !== undefined) item.explicitHashKey = rec.ExplicitHashKey;
        out.push(item);
      }
      iterator = r.NextShardIterator;
      if (records.length === 0 && (r.MillisBehindLatest === 0 || r.MillisBehindLatest === undefined)) break;
    }
  }
  return out;
}
