// The runtime-independent wrapper over the wasm core. Each entry point (node.js, deno.js,
// workerd.js, browser.js, slim.js) loads the wasm its host's way, then calls
// configureRuntime() and re-exports this module.
import { Core, Plan, hashKeyOf as coreHashKeyOf, shardIndexFor as coreShardIndexFor } from './wasm/kinesis_batch.js';

export class KinesisBatchError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = 'KinesisBatchError';
    this.code = code;
    if (details) Object.assign(this, details);
  }
}

const runtime = { ready: false, environment: () => ({}) };

/** Called by the entry points once the wasm is instantiated. */
export function configureRuntime({ environment } = {}) {
  if (environment) runtime.environment = environment;
  runtime.ready = true;
}

function ensureReady() {
  if (!runtime.ready) {
    throw new KinesisBatchError(
      'NotInitialized',
      'kinesis-batch is not initialised: the wasm module is not loaded yet. ' +
        "With 'kinesis-batch/slim', await init(wasm) first; other entry points load it on import.",
    );
  }
}

// Errors thrown by the wasm side carry `code`; turn them into KinesisBatchError.
function fromCore(error) {
  if (error && typeof error.code === 'string') {
    return new KinesisBatchError(error.code, error.message, error.option ? { option: error.option } : undefined);
  }
  return error;
}

function invalidOption(option, message) {
  return new KinesisBatchError('InvalidOption', `${option}: ${message}`, { option });
}

const encoder = new TextEncoder();

function unserializable(message) {
  return new KinesisBatchError('UnserializablePayload', message);
}

/** payload → data bytes: bytes as they are, strings as UTF-8, anything else as JSON. */
function encodePayload(payload) {
  if (payload instanceof Uint8Array) return payload;
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  if (ArrayBuffer.isView(payload)) return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  if (typeof payload === 'string') return encoder.encode(payload);
  const type = typeof payload;
  if (payload === undefined || type === 'function' || type === 'symbol' || type === 'bigint') {
    throw unserializable(`a ${type} payload cannot be sent; submit an object, array, number, boolean, string or bytes`);
  }
  let json;
  try {
    json = JSON.stringify(payload);
  } catch (error) {
    // Cyclic objects and BigInt values end here.
    throw unserializable(`payload cannot be encoded as JSON: ${error.message}`);
  }
  if (json === undefined) throw unserializable('payload encodes to nothing in JSON');
  return encoder.encode(json);
}

// Key kinds understood by the core: see src/wasm.rs key_input.
const KEY_DEFAULT = 0, KEY_GIVEN = 1, KEY_FIELD = 2, KEY_MISSING = 3, KEY_NULL = 4, KEY_UNSUPPORTED = 5;

function isBytes(value) {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

/** The partition key as [kind, text] for the core. */
function keyOf(payload, identifier, recordOptions) {
  const given = recordOptions?.partitionKey;
  if (given !== undefined) {
    if (typeof given !== 'string') {
      throw new KinesisBatchError('InvalidPartitionKey', 'the partitionKey option must be a string');
    }
    return [KEY_GIVEN, given];
  }
  if (identifier === undefined) return [KEY_DEFAULT, undefined];
  if (payload === null || typeof payload !== 'object' || isBytes(payload)) return [KEY_MISSING, undefined];
  if (!Object.prototype.hasOwnProperty.call(payload, identifier)) return [KEY_MISSING, undefined];
  const value = payload[identifier];
  switch (typeof value) {
    case 'string':
      return [KEY_FIELD, value];
    case 'number':
      return Number.isFinite(value) ? [KEY_FIELD, String(value)] : [KEY_UNSUPPORTED, 'a non-finite number'];
    case 'boolean':
      return [KEY_FIELD, String(value)];
    case 'undefined':
      return [KEY_MISSING, undefined];
    case 'object':
      if (value === null) return [KEY_NULL, undefined];
      return [KEY_UNSUPPORTED, Array.isArray(value) ? 'an array' : 'an object'];
    default:
      return [KEY_UNSUPPORTED, `a ${typeof value}`];
  }
}

function explicitHashKeyOf(recordOptions) {
  const key = recordOptions?.explicitHashKey;
  if (key === undefined) return undefined;
  if (typeof key === 'bigint') return key.toString();
  if (typeof key !== 'string') {
    throw new KinesisBatchError('InvalidExplicitHashKey', 'the explicitHashKey option must be a decimal string');
  }
  return key;
}

const CORE_OPTIONS = [
  'region', 'endpoint', 'partitionKeyIdentifier', 'maxBatchSize', 'maxRecordBytes', 'maxRequestBytes',
  'maxAttempts', 'retryBaseDelayMs', 'retryMaxDelayMs', 'maxInFlight', 'maxBufferedBytes',
  'maxBufferedTimeMs', 'requestTimeoutMs',
];

// Refresh credentials this long before they expire.
const CREDENTIAL_REFRESH_MARGIN_MS = 5 * 60 * 1000;

function checkCredentials(value) {
  if (!value || typeof value !== 'object') {
    throw invalidOption('credentials', 'the provider must return { accessKeyId, secretAccessKey, sessionToken? }');
  }
  const { accessKeyId, secretAccessKey, sessionToken, expiration } = value;
  if (typeof accessKeyId !== 'string' || !accessKeyId || typeof secretAccessKey !== 'string' || !secretAccessKey) {
    throw invalidOption('credentials', 'accessKeyId and secretAccessKey must be non-empty strings');
  }
  if (sessionToken !== undefined && sessionToken !== null && typeof sessionToken !== 'string') {
    throw invalidOption('credentials', 'sessionToken must be a string');
  }
  const expires = expiration === undefined || expiration === null ? Infinity : new Date(expiration).getTime();
  return { accessKeyId, secretAccessKey, sessionToken: sessionToken || undefined, expires: Number.isNaN(expires) ? Infinity : expires };
}

function describeTransportError(error) {
  if (!error) return 'request failed';
  const cause = error.cause;
  const detail = cause ? ` (${cause.code || cause.message || cause})` : '';
  return `${error.name || 'Error'}: ${error.message}${detail}`;
}

function unrefTimer(timer) {
  if (timer && typeof timer === 'object' && typeof timer.unref === 'function') timer.unref();
  return timer;
}

export class KinesisBatchDispatcher {
  #core;
  #fetch;
  #credentialSource;
  #credentials = null;
  #credentialsPending = null;
  #payloads = new Map();
  #controllers = new Map();
  #onProgress;
  #timer = null;
  #timerAt = Infinity;
  #listeners = [];
  #holders = 0; // flushes or submits waiting: timers keep the process alive only then
  #report = { sent: 0, failed: [], requests: 0, retries: 0 };
  #counted = { requests: 0, retries: 0 };
  #closed = null;
  #identifier;

  constructor(stream, options = {}) {
    ensureReady();
    if (typeof stream !== 'string') throw invalidOption('stream', 'must be a stream name or ARN string');
    if (options === null || typeof options !== 'object') throw invalidOption('options', 'must be an object');
    const environment = runtime.environment() || {};
    const coreOptions = { stream, environmentRegion: environment.region };
    for (const key of CORE_OPTIONS) if (options[key] !== undefined) coreOptions[key] = options[key];
    try {
      this.#core = new Core(coreOptions);
    } catch (error) {
      throw fromCore(error);
    }
    this.#identifier = options.partitionKeyIdentifier ?? undefined;
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') throw invalidOption('fetch', 'must be a function like globalThis.fetch');
    this.#fetch = options.fetch ? fetchImpl : (...args) => globalThis.fetch(...args);
    const credentials = options.credentials ?? environment.credentials;
    if (typeof credentials === 'function') {
      this.#credentialSource = credentials;
    } else if (credentials) {
      this.#useCredentials(checkCredentials(credentials));
    } else {
      throw invalidOption(
        'credentials',
        'no credentials: pass { accessKeyId, secretAccessKey } or a function returning them, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
      );
    }
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
      throw invalidOption('onProgress', 'must be a function');
    }
    this.#onProgress = options.onProgress;
    if (options.signal !== undefined) this.#watch(options.signal, true);
  }

  /** The region requests are signed for. */
  get region() {
    return this.#core.region();
  }

  /** Where requests go. */
  get endpoint() {
    return this.#core.url();
  }

  /** Running totals: { accepted, sent, failed, inFlight, retries, requests, bufferedBytes }. */
  get progress() {
    const [accepted, sent, failed, inFlight, retries, requests] = this.#core.progress();
    return { accepted, sent, failed, inFlight, retries, requests, bufferedBytes: this.#core.bufferedBytes() };
  }

  /**
   * Accepts one record. Rejects with a KinesisBatchError if the record is invalid (nothing is
   * accepted then). Waits while more than maxBufferedBytes are buffered or in flight.
   */
  async submitPayload(payload, options) {
    if (this.#closed) throw this.#closed;
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidOption('options', 'per-record options must be an object');
    }
    const data = encodePayload(payload);
    const [kind, key] = keyOf(payload, this.#identifier, options);
    const explicitHashKey = explicitHashKeyOf(options);
    let id;
    try {
      id = this.#core.submit(data, kind, key, explicitHashKey, Date.now());
    } catch (error) {
      throw fromCore(error);
    }
    this.#payloads.set(id, payload);
    this.#pump();
    if (this.#core.overBufferLimit()) {
      this.#holders++;
      try {
        while (this.#core.overBufferLimit() && !this.#closed) await this.#nextChange();
      } finally {
        this.#holders--;
      }
    }
  }

  /**
   * Sends everything pending and waits for every outcome. The report covers the records that
   * ended since the previous report: { sent, requests, retries, failed: [...] }.
   */
  async flushPayloads(options) {
    const signal = options?.signal;
    let unwatch = () => {};
    if (signal !== undefined) unwatch = this.#watch(signal, false);
    this.#core.flush();
    this.#holders++;
    try {
      this.#pump();
      while (!this.#core.isIdle()) await this.#nextChange();
    } finally {
      this.#holders--;
      unwatch();
    }
    this.#collect();
    const [, , , , retries, requests] = this.#core.progress();
    const report = {
      sent: this.#report.sent,
      requests: requests - this.#counted.requests,
      retries: retries - this.#counted.retries,
      failed: this.#report.failed,
    };
    this.#counted = { requests, retries };
    this.#report = { sent: 0, failed: [] };
    return report;
  }

  #watch(signal, permanent) {
    if (!signal || typeof signal.addEventListener !== 'function') throw invalidOption('signal', 'must be an AbortSignal');
    const onAbort = () => {
      const reason = signal.reason instanceof Error ? signal.reason.message : 'the operation was aborted';
      if (permanent) this.#closed = new KinesisBatchError('Aborted', `dispatcher aborted: ${reason}`);
      this.#abort(reason);
    };
    if (signal.aborted) {
      onAbort();
      return () => {};
    }
    signal.addEventListener('abort', onAbort, { once: true });
    return () => signal.removeEventListener('abort', onAbort);
  }

  #abort(reason) {
    this.#core.abort('Aborted', `aborted before acknowledgement: ${reason}`);
    for (const controller of this.#controllers.values()) controller.abort();
    this.#controllers.clear();
    this.#changed();
  }

  // Sends whatever the core has ready, and arms the timer for what comes due later.
  #pump() {
    if (this.#needsCredentials()) {
      this.#refreshCredentials();
      return;
    }
    const now = Date.now();
    let request;
    while ((request = this.#core.pollRequest(now))) this.#send(request);
    this.#armTimer();
  }

  #needsCredentials() {
    if (!this.#credentialSource) return false;
    if (this.#core.takeCredentialsRefresh()) this.#credentials = null;
    return !this.#credentials || this.#credentials.expires - Date.now() < CREDENTIAL_REFRESH_MARGIN_MS;
  }

  #refreshCredentials() {
    if (this.#credentialsPending) return;
    this.#credentialsPending = (async () => {
      try {
        this.#useCredentials(checkCredentials(await this.#credentialSource()));
      } catch (error) {
        const reason = error instanceof KinesisBatchError ? error.message : `${error?.name || 'Error'}: ${error?.message}`;
        // Nothing is dropped: the records end in `failed`, and the next submit asks again.
        this.#core.abort('CredentialsUnavailable', `the credentials provider failed: ${reason}`);
        this.#credentials = null;
      } finally {
        this.#credentialsPending = null;
      }
      this.#changed();
      if (this.#credentials) this.#pump();
    })();
  }

  #useCredentials(credentials) {
    this.#credentials = credentials;
    this.#core.setCredentials(credentials.accessKeyId, credentials.secretAccessKey, credentials.sessionToken);
  }

  #armTimer() {
    const at = this.#core.pollTimeout();
    if (at === undefined || at === null) return;
    if (this.#timer && this.#timerAt <= at) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Infinity;
      this.#pump();
    }, Math.max(0, at - Date.now()));
    // A lingering partial batch must not keep Node alive; a waiting flush keeps it alive itself.
    if (this.#holders === 0) unrefTimer(this.#timer);
  }

  #send(request) {
    const id = request.id;
    const url = request.url;
    const flat = request.headers;
    const headers = {};
    for (let i = 0; i < flat.length; i += 2) headers[flat[i]] = flat[i + 1];
    const body = request.takeBody();
    request.free();
    const controller = new AbortController();
    this.#controllers.set(id, controller);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#core.requestTimeoutMs());
    (async () => {
      let response, bytes;
      try {
        response = await this.#fetch(url, { method: 'POST', headers, body, signal: controller.signal });
        bytes = new Uint8Array(await response.arrayBuffer());
      } catch (error) {
        const message = timedOut ? `no answer within ${this.#core.requestTimeoutMs()} ms` : describeTransportError(error);
        this.#core.handleTransportError(id, timedOut, message, Date.now());
        return;
      } finally {
        clearTimeout(timer);
        this.#controllers.delete(id);
      }
      const date = Date.parse(response.headers.get('date') ?? '');
      const errorType = response.headers.get('x-amzn-errortype') ?? undefined;
      this.#core.handleResponse(id, response.status, errorType, Number.isNaN(date) ? undefined : date, bytes, Date.now());
    })().finally(() => {
      this.#collect();
      this.#changed();
      this.#pump();
    });
  }

  // Moves settled records from the core into the pending report.
  #collect() {
    const acked = this.#core.takeAcked();
    for (let i = 0; i < acked.length; i++) this.#payloads.delete(acked[i]);
    this.#report.sent += acked.length;
    for (const f of this.#core.takeFailed()) {
      const payload = this.#payloads.get(f.id);
      this.#payloads.delete(f.id);
      this.#report.failed.push({
        payload,
        partitionKey: f.partitionKey,
        errorCode: f.errorCode,
        errorMessage: f.errorMessage,
        attempts: f.attempts,
      });
    }
    if (this.#onProgress) {
      try {
        this.#onProgress(this.progress);
      } catch {
        // A throwing progress callback must not break delivery.
      }
    }
  }

  #nextChange() {
    return new Promise((resolve) => this.#listeners.push(resolve));
  }

  #changed() {
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const resolve of listeners) resolve();
  }
}

/**
 * Plans batches without any network: { batches: [{ records, bytes, partitionKeys, indices }],
 * rejected: [{ index, code, message }] }.
 */
export function planBatches(payloads, options = {}) {
  ensureReady();
  if (options === null || typeof options !== 'object') throw invalidOption('options', 'must be an object');
  if (payloads === null || typeof payloads !== 'object' || typeof payloads[Symbol.iterator] !== 'function') {
    throw invalidOption('payloads', 'must be an array or other iterable of payloads');
  }
  let plan;
  try {
    plan = new Plan({
      partitionKeyIdentifier: options.partitionKeyIdentifier,
      maxBatchSize: options.maxBatchSize,
      maxRecordBytes: options.maxRecordBytes,
      maxRequestBytes: options.maxRequestBytes,
    });
  } catch (error) {
    throw fromCore(error);
  }
  try {
    for (const payload of payloads) {
      let data, kind, key;
      try {
        data = encodePayload(payload);
        [kind, key] = keyOf(payload, options.partitionKeyIdentifier ?? undefined, undefined);
      } catch (error) {
        plan.rejectUnserializable(error.message);
        continue;
      }
      plan.add(data.length, kind, key, undefined);
    }
    return plan.finish();
  } finally {
    plan.free();
  }
}

/** The decimal hash key Kinesis derives from a partition key (MD5, big-endian u128). */
export function hashKeyOf(partitionKey) {
  ensureReady();
  if (typeof partitionKey !== 'string') throw invalidOption('partitionKey', 'must be a string');
  return coreHashKeyOf(partitionKey);
}

/** The index of the shard a partition key lands on among `shardCount` evenly split shards. */
export function shardIndexFor(partitionKey, shardCount) {
  ensureReady();
  if (typeof partitionKey !== 'string') throw invalidOption('partitionKey', 'must be a string');
  try {
    return coreShardIndexFor(partitionKey, shardCount);
  } catch (error) {
    throw fromCore(error);
  }
}
