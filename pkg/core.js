// The runtime-independent host over the wasm engine. Each entry point (node.js, deno.js,
// workerd.js, browser.js, slim.js) loads the wasm its host's way, then calls configureRuntime()
// and re-exports this module. Everything here is I/O: encoding payloads, timers, the abort
// signal. Keys, limits, defaults, retries, deadlines and reports are decided in Rust.
import {
  Engine,
  Plan,
  hashKeyOf as coreHashKeyOf,
  shardIndexFor as coreShardIndexFor,
  setSha256,
  wasmMemory,
} from './wasm/kinesis_batch.js';

export class KinesisBatchError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = 'KinesisBatchError';
    this.code = code;
    if (details) Object.assign(this, details);
  }
}

const runtime = { ready: false, environment: () => ({}) };

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

// Errors from the wasm side carry `code` (and `option`): give them the public class.
function fromCore(error) {
  if (error instanceof KinesisBatchError) return error;
  if (error && typeof error.code === 'string') {
    return new KinesisBatchError(error.code, error.message, error.option ? { option: error.option } : undefined);
  }
  return error;
}

// A refused record rejects the promise submitPayload returns, and that promise is also marked
// handled: a caller who forgets to `await` (the boto3 habit) gets no unhandled rejection that
// could take the process down, and every record accepted before and after is delivered.
function refused(error) {
  const promise = Promise.reject(error);
  promise.catch(() => {});
  return promise;
}

function unserializable(message) {
  return new KinesisBatchError('UnserializablePayload', message);
}

const encoder = new TextEncoder();
const SETTLED = Promise.resolve();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function isWellFormed(text) {
  return typeof text.isWellFormed === 'function' ? text.isWellFormed() : !LONE_SURROGATE.test(text);
}

function payloadData(payload) {
  if (typeof payload === 'string') return payload;
  if (payload instanceof Uint8Array) return payload;
  if (ArrayBuffer.isView(payload)) return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  const tag = Object.prototype.toString.call(payload);
  if (tag === '[object ArrayBuffer]' || tag === '[object SharedArrayBuffer]') return new Uint8Array(payload);
  const type = typeof payload;
  if (payload === undefined || type === 'function' || type === 'symbol' || type === 'bigint') {
    throw unserializable(`a ${type} payload cannot be sent; submit an object, array, number, boolean, string or bytes`);
  }
  let json;
  try {
    json = JSON.stringify(payload);
  } catch (error) {
    // Cyclic objects, BigInt values and throwing toJSON or getters end here.
    throw unserializable(`payload cannot be encoded as JSON: ${error?.message ?? error}`);
  }
  if (json === undefined) throw unserializable('payload encodes to nothing in JSON');
  return json;
}

function recordOptions(options) {
  if (options === undefined) return [undefined, undefined];
  if (options === null || typeof options !== 'object') {
    throw new KinesisBatchError('InvalidOption', 'options: per-record options must be an object', {
      option: 'options',
    });
  }
  try {
    return [options.partitionKey, options.explicitHashKey];
  } catch (error) {
    throw new KinesisBatchError(
      'InvalidOption',
      `options: reading a per-record option failed: ${error?.message ?? error}`,
      {
        option: 'options',
      },
    );
  }
}

// Node timers can be unref'd so that they don't keep the process alive; other hosts have no such
// thing. The engine says when a flush or a submit waits (keepAlive), and only then they are ref'd.
function hostTimers() {
  const live = new Set();
  let keepAlive = false;
  const ref = (timer) => {
    const method = keepAlive ? timer?.ref : timer?.unref;
    if (typeof method === 'function') method.call(timer);
  };
  return {
    set(callback, ms) {
      const timer = setTimeout(() => {
        live.delete(timer);
        callback();
      }, ms);
      live.add(timer);
      ref(timer);
      return timer;
    },
    clear(timer) {
      clearTimeout(timer);
      live.delete(timer);
    },
    keepAlive(on) {
      keepAlive = on;
      for (const timer of live) ref(timer);
    },
  };
}

export class KinesisBatchDispatcher {
  #engine;
  #scratch = new Uint8Array(0); // a view of the engine's scratch buffer in wasm memory

  constructor(stream, options = {}) {
    ensureReady();
    const environment = runtime.environment() || {};
    const host = {
      timers: hostTimers(),
      environmentRegion: environment.region,
      environmentEndpoint: environment.endpoint,
      environmentCredentials: environment.credentials,
    };
    try {
      this.#engine = new Engine(stream, options, host);
      const signal = options?.signal;
      if (signal !== undefined) this.#watch(signal, true);
    } catch (error) {
      throw fromCore(error);
    }
  }

  get region() {
    return this.#engine.region;
  }

  get endpoint() {
    return this.#engine.endpoint;
  }

  get progress() {
    return this.#engine.progress;
  }

  submitPayload(payload, options) {
    // Not `async`: most calls need no wait, and a shared settled promise spares a promise and a
    // suspended frame per record.
    try {
      return this.#submit(payload, options) ?? SETTLED;
    } catch (error) {
      return refused(fromCore(error));
    }
  }

  // Hands one record to the engine; returns a promise only when it must wait for room. User
  // code (toJSON, getters) runs in payloadData and recordOptions, before the scratch is written.
  #submit(payload, options) {
    const data = payloadData(payload);
    const [partitionKey, explicitHashKey] = recordOptions(options);
    if (typeof data !== 'string') return this.#engine.submit(data, partitionKey, explicitHashKey, payload);
    const length = this.#writeScratch(data);
    return this.#engine.submitScratch(length, isWellFormed(data), partitionKey, explicitHashKey, payload);
  }

  // Writes `text` as UTF-8 into the engine's scratch buffer; returns the byte count. The view is
  // made again when wasm memory has grown (which detaches it) or the text may not fit.
  #writeScratch(text) {
    let view = this.#scratch;
    if (view.byteLength === 0 || view.length < text.length) view = this.#growScratch(text.length * 3);
    let { read, written } = encoder.encodeInto(text, view);
    if (read < text.length) {
      view = this.#growScratch(text.length * 3);
      ({ written } = encoder.encodeInto(text, view));
    }
    return written;
  }

  #growScratch(length) {
    const size = Math.max(length, 65536);
    const pointer = this.#engine.scratch(size);
    this.#scratch = new Uint8Array(wasmMemory().buffer, pointer, size);
    return this.#scratch;
  }

  async submitPayloads(payloads) {
    if (payloads === null || typeof payloads !== 'object' || typeof payloads[Symbol.iterator] !== 'function') {
      throw new KinesisBatchError('InvalidOption', 'payloads: must be an array or other iterable of payloads', {
        option: 'payloads',
      });
    }
    const rejected = [];
    let accepted = 0;
    let index = -1;
    for (const payload of payloads) {
      index++;
      let wait;
      try {
        wait = this.#submit(payload, undefined);
        accepted++;
      } catch (error) {
        const coded = fromCore(error);
        if (coded?.code === 'Aborted' || coded?.code === 'Closed') throw coded;
        rejected.push({ index, error: coded });
        continue;
      }
      if (wait) await wait;
    }
    return { accepted, rejected };
  }

  async close() {
    return this.#engine.close();
  }

  [Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose')]() {
    return this.close();
  }

  async flushPayloads(options) {
    const unwatch = options?.signal === undefined ? () => {} : this.#watch(options.signal, false);
    try {
      return await this.#engine.flush();
    } finally {
      unwatch();
    }
  }

  #watch(signal, permanent) {
    if (!signal || typeof signal.addEventListener !== 'function') {
      throw new KinesisBatchError('InvalidOption', 'signal: must be an AbortSignal', { option: 'signal' });
    }
    const onAbort = () => {
      const reason = signal.reason instanceof Error ? signal.reason.message : 'the operation was aborted';
      const message = permanent ? `dispatcher aborted: ${reason}` : `aborted before acknowledgement: ${reason}`;
      this.#engine.abort('Aborted', message, permanent);
    };
    if (signal.aborted) {
      onAbort();
      return () => {};
    }
    signal.addEventListener('abort', onAbort, { once: true });
    return () => signal.removeEventListener('abort', onAbort);
  }
}

export function planBatches(payloads, options = {}) {
  ensureReady();
  if (payloads === null || typeof payloads !== 'object' || typeof payloads[Symbol.iterator] !== 'function') {
    throw new KinesisBatchError('InvalidOption', 'payloads: must be an array or other iterable of payloads', {
      option: 'payloads',
    });
  }
  let plan;
  try {
    plan = new Plan(options);
  } catch (error) {
    throw fromCore(error);
  }
  try {
    for (const payload of payloads) {
      let data;
      try {
        data = payloadData(payload);
      } catch (error) {
        plan.rejectUnserializable(error.message);
        continue;
      }
      if (typeof data === 'string') plan.add(encoder.encode(data), isWellFormed(data), undefined, undefined);
      else plan.add(data, true, undefined, undefined);
    }
    return plan.finish();
  } finally {
    plan.free();
  }
}

export function hashKeyOf(partitionKey) {
  ensureReady();
  try {
    return coreHashKeyOf(partitionKey);
  } catch (error) {
    throw fromCore(error);
  }
}

export function shardIndexFor(partitionKey, shardCount) {
  ensureReady();
  try {
    return coreShardIndexFor(partitionKey, shardCount);
  } catch (error) {
    throw fromCore(error);
  }
}
