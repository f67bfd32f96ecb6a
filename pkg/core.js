// The runtime-independent wrapper over the wasm core. Each entry point (node.js, deno.js,
// workerd.js, browser.js, slim.js) loads the wasm its host's way, then calls
// configureRuntime() and re-exports this module.
import { Core, Plan, hashKeyOf as coreHashKeyOf, shardIndexFor as coreShardIndexFor, setSha256, wasmMemory } from './wasm/kinesis_batch.js';

export class KinesisBatchError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = 'KinesisBatchError';
    this.code = code;
    if (details) Object.assign(this, details);
  }
}

const runtime = { ready: false, environment: () => ({}) };

/**
 * Called by the entry points once the wasm is instantiated. `sha256`, where the host has a
 * synchronous one (Node's crypto.createHash), hashes request bodies faster than wasm can:
 * (bytes: Uint8Array) => lowercase hex.
 */
export function configureRuntime({ environment, sha256 } = {}) {
  if (environment) runtime.environment = environment;
  if (sha256) setSha256(sha256);
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
const EMPTY = new Uint8Array(0);
const SETTLED = Promise.resolve();
// submitPayloads hands the core at most this many records, or bytes, per call.
const BULK_RECORDS = 512;
const BULK_BYTES = 1 << 20;

function unserializable(message) {
  return new KinesisBatchError('UnserializablePayload', message);
}

/** payload → data bytes: bytes as they are, strings as UTF-8, anything else as JSON. */
function encodePayload(payload) {
  const data = payloadData(payload);
  return typeof data === 'string' ? encoder.encode(data) : data;
}

/**
 * payload → its data as bytes (Uint8Array) or as text to be sent as UTF-8 (a string or the
 * payload's JSON). The core takes text directly, which saves a copy.
 */
function payloadData(payload) {
  if (typeof payload === 'string') return payload;
  if (payload instanceof Uint8Array) return payload;
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  if (ArrayBuffer.isView(payload)) return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
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
  return json;
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
// Credentials near their expiration are asked for again before signing, but at most this often:
// a provider that keeps returning short-lived credentials must not be called for every request.
const CREDENTIAL_MIN_REFRESH_INTERVAL_MS = 1000;
// The core's retry defaults (src/retry.rs); a failing credentials provider is retried with them.
const DEFAULT_MAX_ATTEMPTS = 8, DEFAULT_RETRY_BASE_DELAY_MS = 100, DEFAULT_RETRY_MAX_DELAY_MS = 5000;

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
  return {
    accessKeyId,
    secretAccessKey,
    sessionToken: sessionToken || undefined,
    expires: Number.isNaN(expires) ? Infinity : expires,
    fetchedAt: Date.now(),
  };
}

function describeTransportError(error) {
  if (!error) return 'request failed';
  const cause = error.cause;
  const detail = cause ? ` (${cause.code || cause.message || cause})` : '';
  return `${error.name || 'Error'}: ${error.message}${detail}`;
}

// Node timers can be unref'd so they don't keep the process alive; other hosts have no such thing.
function refTimer(timer, keepAlive) {
  if (timer && typeof timer === 'object') {
    const method = keepAlive ? timer.ref : timer.unref;
    if (typeof method === 'function') method.call(timer);
  }
  return timer;
}

/**
 * The payloads of accepted records by id, until they settle. The core numbers records 0, 1, 2...
 * and they settle roughly in that order, so an array with a moving start does a Map's job without
 * hashing or an entry object per record.
 */
class PayloadStore {
  #items = [];
  #start = 0; // the id of #items[0]
  #head = 0; // #items[..#head] are all settled

  set(id, payload) {
    this.#items[id - this.#start] = payload; // never undefined: such payloads are refused
  }

  take(id) {
    const i = id - this.#start;
    if (i < 0) return undefined;
    const payload = this.#items[i];
    this.#items[i] = undefined;
    while (this.#head < this.#items.length && this.#items[this.#head] === undefined) this.#head++;
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#start += this.#head;
      this.#head = 0;
    }
    return payload;
  }
}

export class KinesisBatchDispatcher {
  #core;
  #fetch;
  #credentialSource;
  #credentials = null;
  #credentialsPending = null;
  #credentialsFailure = null; // the provider's last failure, until the records waiting for it end
  #retry;
  #payloads = new PayloadStore();
  #controllers = new Map();
  #onProgress;
  #timer = null;
  #timerAt = Infinity;
  #listeners = [];
  #holders = 0; // flushes or submits waiting: timers keep the process alive only then
  #timers = new Set(); // dispatcher timers (linger, backoff), ref'd only while someone waits
  #report = { sent: 0, failed: [], requests: 0, retries: 0 };
  #counted = { requests: 0, retries: 0 };
  #closed = null;
  #identifier;
  #scratch = EMPTY; // a view of this core's scratch buffer in wasm memory

  // Writes `text` as UTF-8 into the core's scratch buffer; returns the byte count. The view is
  // made again when wasm memory has grown (which detaches it) or the text may not fit.
  #writeScratch(text) {
    let view = this.#scratch;
    if (view.length < text.length) view = this.#growScratch(text.length * 3);
    let { read, written } = encoder.encodeInto(text, view);
    if (read < text.length) {
      view = this.#growScratch(text.length * 3);
      ({ written } = encoder.encodeInto(text, view));
    }
    return written;
  }

  #growScratch(len) {
    const size = Math.max(len, 65536);
    const ptr = this.#core.scratch(size);
    this.#scratch = new Uint8Array(wasmMemory().buffer, ptr, size);
    return this.#scratch;
  }

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
    this.#retry = {
      maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      baseDelayMs: options.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS,
      maxDelayMs: options.retryMaxDelayMs ?? DEFAULT_RETRY_MAX_DELAY_MS,
    };
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
  submitPayload(payload, options) {
    // Not `async`: most calls need no wait, and a shared settled promise spares a promise and a
    // suspended frame per record (see BENCHMARKS.md). Errors still come back as rejections.
    try {
      this.#acceptPayload(payload, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#core.overBufferLimit() ? this.#waitForRoom() : SETTLED;
  }

  async #waitForRoom() {
    this.#hold();
    try {
      while (this.#core.overBufferLimit() && !this.#closed) await this.#nextChange();
    } finally {
      this.#release();
    }
  }

  #acceptPayload(payload, options) {
    if (this.#closed) throw this.#closed;
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidOption('options', 'per-record options must be an object');
    }
    const data = payloadData(payload);
    const [kind, key] = keyOf(payload, this.#identifier, options);
    const explicitHashKey = explicitHashKeyOf(options);
    let id;
    try {
      id = typeof data === 'string'
        ? this.#core.submitScratch(this.#writeScratch(data), kind, key, explicitHashKey, Date.now())
        : this.#core.submit(data, kind, key, explicitHashKey, Date.now());
    } catch (error) {
      throw fromCore(error);
    }
    this.#payloads.set(id, payload);
    this.#pump();
  }

  /**
   * Accepts many records at once: an array or other iterable of payloads, each encoded and
   * keyed as submitPayload does it (the partitionKeyIdentifier field, or a random key; there are
   * no per-record options). Several times cheaper per record than awaiting submitPayload for
   * each. An invalid record does not stop the others: it is never accepted and is listed in
   * `rejected` with its index and KinesisBatchError. Waits, like submitPayload, while more than
   * maxBufferedBytes are buffered or in flight.
   * @returns {Promise<{ accepted: number, rejected: { index: number, error: KinesisBatchError }[] }>}
   */
  async submitPayloads(payloads) {
    if (this.#closed) throw this.#closed;
    if (payloads === null || typeof payloads !== 'object' || typeof payloads[Symbol.iterator] !== 'function') {
      throw invalidOption('payloads', 'must be an array or other iterable of payloads');
    }
    const rejected = [];
    let accepted = 0;
    let chunk = []; // payloads written to the scratch buffer, and their indices
    let indices = [];
    let layout = [];
    let used = 0;
    const submitChunk = async () => {
      if (chunk.length === 0) return;
      const ids = this.#core.submitMany(Uint32Array.from(layout), Date.now());
      const errors = this.#core.takeRejected();
      let e = 0;
      for (let k = 0; k < ids.length; k++) {
        if (Number.isNaN(ids[k])) rejected.push({ index: indices[k], error: fromCore(errors[e++]) });
        else {
          this.#payloads.set(ids[k], chunk[k]);
          accepted++;
        }
      }
      chunk = [];
      indices = [];
      layout = [];
      used = 0;
      this.#pump();
      if (this.#core.overBufferLimit()) {
        this.#hold();
        try {
          while (this.#core.overBufferLimit() && !this.#closed) await this.#nextChange();
        } finally {
          this.#release();
        }
      }
      if (this.#closed) throw this.#closed;
    };
    let index = -1;
    for (const payload of payloads) {
      index++;
      let data, kind, key;
      try {
        data = payloadData(payload);
        [kind, key] = keyOf(payload, this.#identifier, undefined);
      } catch (error) {
        rejected.push({ index, error });
        continue;
      }
      key ??= '';
      const size = (typeof data === 'string' ? data.length * 3 : data.length) + key.length * 3;
      if (chunk.length === BULK_RECORDS || (used > 0 && used + size > this.#scratch.length) || used + size > BULK_BYTES) {
        await submitChunk();
      }
      if (this.#scratch.length < used + size) this.#growScratch(used + size);
      const view = this.#scratch;
      let dataLen;
      if (typeof data === 'string') dataLen = encoder.encodeInto(data, view.subarray(used)).written;
      else {
        view.set(data, used);
        dataLen = data.length;
      }
      const keyLen = key ? encoder.encodeInto(key, view.subarray(used + dataLen)).written : 0;
      used += dataLen + keyLen;
      layout.push(dataLen, kind, keyLen);
      chunk.push(payload);
      indices.push(index);
    }
    await submitChunk();
    return { accepted, rejected };
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
    this.#hold();
    try {
      this.#pump();
      while (!this.#core.isIdle()) await this.#nextChange();
    } finally {
      this.#release();
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
    const now = Date.now();
    if (this.#needsCredentials(now)) {
      if (this.#credentialsFailure) this.#failForCredentials();
      else this.#refreshCredentials();
      return;
    }
    let request;
    while ((request = this.#core.pollRequest(now))) this.#send(request);
    this.#armTimer();
  }

  #needsCredentials(now) {
    if (!this.#credentialSource) return false;
    // An ExpiredTokenException: the credentials in hand are no good any more.
    if (this.#core.takeCredentialsRefresh()) this.#credentials = null;
    if (this.#core.isIdle()) {
      this.#credentialsFailure = null; // nothing waits for it any more: the next record asks again
      return false;
    }
    const c = this.#credentials;
    if (!c) return true;
    // Near expiration: ask again before signing (credentials just fetched are used as they are).
    return c.expires - now < CREDENTIAL_REFRESH_MARGIN_MS && now - c.fetchedAt >= CREDENTIAL_MIN_REFRESH_INTERVAL_MS;
  }

  // Asks the provider, retrying a failure with the records' backoff up to maxAttempts times.
  #refreshCredentials() {
    if (this.#credentialsPending) return;
    this.#credentialsPending = (async () => {
      let failure;
      for (let attempt = 1; ; attempt++) {
        try {
          this.#useCredentials(checkCredentials(await this.#credentialSource()));
          failure = undefined;
          break;
        } catch (error) {
          const reason = error instanceof KinesisBatchError ? error.message : `${error?.name || 'Error'}: ${error?.message}`;
          failure = `the credentials provider failed (${attempt} ${attempt === 1 ? 'try' : 'tries'}): ${reason}`;
          if (attempt >= this.#retry.maxAttempts || this.#core.isIdle()) break;
          await new Promise((resolve) => this.#setTimer(resolve, this.#backoffMs(attempt)));
        }
      }
      this.#credentialsPending = null;
      if (failure !== undefined) {
        const old = this.#credentials;
        if (old && old.expires > Date.now()) {
          // Not expired yet: keep signing with them, and ask again later.
          old.fetchedAt = Date.now();
        } else {
          this.#credentials = null;
          this.#credentialsFailure = failure;
        }
      }
      this.#pump();
      this.#changed();
    })();
  }

  // The provider failed and no usable credentials are left. Once the requests already sent have
  // answered, every record still waiting ends in `failed` with code CredentialsUnavailable:
  // nothing is dropped, and the next record submitted makes the dispatcher ask again.
  #failForCredentials() {
    if (this.#core.inFlight() > 0) return; // their answers pump again
    const message = this.#credentialsFailure;
    this.#credentialsFailure = null;
    this.#core.abort('CredentialsUnavailable', message);
    this.#collect();
    this.#changed();
  }

  #backoffMs(attempt) {
    const { baseDelayMs, maxDelayMs } = this.#retry;
    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(attempt - 1, 40));
    return Math.floor(Math.random() * (ceiling + 1));
  }

  // Timers keep a Node process alive only while a flush or a submit is waiting on them.
  #setTimer(callback, ms) {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      callback();
    }, Math.max(0, ms));
    this.#timers.add(timer);
    return refTimer(timer, this.#holders > 0);
  }

  #clearTimer(timer) {
    clearTimeout(timer);
    this.#timers.delete(timer);
  }

  #hold() {
    if (this.#holders++ === 0) for (const timer of this.#timers) refTimer(timer, true);
  }

  #release() {
    if (--this.#holders === 0) for (const timer of this.#timers) refTimer(timer, false);
  }

  #useCredentials(credentials) {
    this.#credentials = credentials;
    this.#core.setCredentials(credentials.accessKeyId, credentials.secretAccessKey, credentials.sessionToken);
  }

  #armTimer() {
    const at = this.#core.pollTimeout();
    if (at === undefined || at === null) return;
    if (this.#timer && this.#timerAt <= at) return;
    if (this.#timer) this.#clearTimer(this.#timer);
    this.#timerAt = at;
    // A lingering partial batch must not keep Node alive; a waiting flush or submit does.
    this.#timer = this.#setTimer(() => {
      this.#timer = null;
      this.#timerAt = Infinity;
      this.#pump();
    }, at - Date.now());
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
    for (let i = 0; i < acked.length; i++) this.#payloads.take(acked[i]);
    this.#report.sent += acked.length;
    for (const f of this.#core.takeFailed()) {
      const payload = this.#payloads.take(f.id);
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
