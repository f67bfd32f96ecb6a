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
import { hostTimers } from './timers.js';

export class KinesisBatchError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = 'KinesisBatchError';
    this.code = code;
    if (details) Object.assign(this, details);
  }
}

const runtime = { ready: false, environment: () => ({}), fetch: undefined };

// `fetch`: the host's default transport, when the options give none (default: globalThis.fetch).
export function configureRuntime({ environment, sha256, fetch } = {}) {
  if (environment) runtime.environment = environment;
  runtime.fetch = fetch;
  if (sha256) setSha256(sha256);
  runtime.ready = true;
}

const NOT_READY = "kinesis-batch is not initialised: with 'kinesis-batch/slim', await init(wasm) first";

function ensureReady() {
  if (!runtime.ready) throw new KinesisBatchError('NotInitialized', NOT_READY);
}

// Errors from the wasm side carry `code` (and `option`): give them the public class.
function fromCore(error) {
  if (error instanceof KinesisBatchError || typeof error?.code !== 'string') return error;
  return new KinesisBatchError(error.code, error.message, error.option ? { option: error.option } : undefined);
}

// A call into the core: the wasm is loaded, and its errors are KinesisBatchErrors.
function guarded(call) {
  return (...args) => {
    ensureReady();
    try {
      return call(...args);
    } catch (error) {
      throw fromCore(error);
    }
  };
}

function iterable(payloads) {
  if (typeof payloads?.[Symbol.iterator] !== 'function' || typeof payloads !== 'object') {
    throw new KinesisBatchError('InvalidOption', 'payloads: must be an array or other iterable of payloads', {
      option: 'payloads',
    });
  }
  return payloads;
}

const encoder = new TextEncoder();
const SETTLED = Promise.resolve();
const rethrowCoded = (error) => {
  throw fromCore(error);
};

// payload → its data: bytes, or text sent as UTF-8 (a string, or the payload's JSON).
function payloadData(payload) {
  if (typeof payload === 'string' || payload instanceof Uint8Array) return payload;
  if (ArrayBuffer.isView(payload)) return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  const tag = Object.prototype.toString.call(payload);
  if (tag === '[object ArrayBuffer]' || tag === '[object SharedArrayBuffer]') return new Uint8Array(payload);
  let json;
  try {
    json = JSON.stringify(payload); // cycles, BigInt values and throwing toJSON or getters throw
  } catch (error) {
    json = error;
  }
  if (typeof json === 'string' && payload !== undefined) return json;
  const why =
    json instanceof Error
      ? `cannot be encoded as JSON: ${json.message}`
      : `(a ${typeof payload}) encodes to nothing in JSON`;
  throw new KinesisBatchError(
    'UnserializablePayload',
    `payload ${why}; submit an object, array, number, boolean, string or bytes`,
  );
}

export class KinesisBatchDispatcher {
  #engine;
  #scratch = new Uint8Array(0); // a view of the engine's scratch buffer in wasm memory

  constructor(stream, options = {}) {
    ensureReady();
    const environment = runtime.environment() || {};
    try {
      this.#engine = new Engine(stream, options, {
        timers: hostTimers(),
        environmentRegion: environment.region,
        environmentEndpoint: environment.endpoint,
        environmentCredentials: environment.credentials,
        defaultFetch: runtime.fetch,
      });
      if (options?.signal !== undefined) this.#watch(options.signal, true);
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
    // Not `async`: a shared settled promise spares a promise and a frame per record.
    try {
      // A promise when it must wait (for room, or the stream's limits: then it may reject).
      return this.#submit(payload, options)?.catch(rethrowCoded) ?? SETTLED;
    } catch (error) {
      // Marked handled: a forgotten `await` must not become an unhandled rejection.
      const refused = Promise.reject(fromCore(error));
      refused.catch(() => {});
      return refused;
    }
  }

  // Hands one record to the engine; returns a promise only when it must wait for room. User
  // code (toJSON, getters) runs in payloadData, before the scratch buffer is written.
  #submit(payload, options) {
    const data = payloadData(payload);
    if (typeof data !== 'string') return this.#engine.submit(data, options, payload);
    // JSON.stringify's output is well-formed canonical JSON; a string payload is checked.
    const given = data === payload;
    const length = this.#writeScratch(data);
    return this.#engine.submitScratch(length, !given || data.isWellFormed(), !given, options, payload);
  }

  // Writes `text` as UTF-8 into the engine's scratch buffer; returns the byte count. The view is
  // made again when wasm memory has grown (which detaches it) or the text may not fit.
  #writeScratch(text) {
    let view = this.#scratch;
    if (view.byteLength === 0 || view.length < text.length) view = this.#growScratch(text.length * 3);
    let { read, written } = encoder.encodeInto(text, view);
    if (read < text.length) ({ written } = encoder.encodeInto(text, this.#growScratch(text.length * 3)));
    return written;
  }

  #growScratch(length) {
    const size = Math.max(length, 65536);
    const pointer = this.#engine.scratch(size); // may grow wasm memory: take its buffer after
    this.#scratch = new Uint8Array(wasmMemory().buffer, pointer, size);
    return this.#scratch;
  }

  async submitPayloads(payloads) {
    const rejected = [];
    let index = 0;
    for (const payload of iterable(payloads)) {
      try {
        const wait = this.#submit(payload, undefined); // a promise only when it must wait for room
        if (wait) await wait;
      } catch (error) {
        const coded = fromCore(error);
        if (coded?.code === 'Aborted' || coded?.code === 'Closed') throw coded;
        rejected.push({ index, error: coded });
      }
      index++;
    }
    return { accepted: index - rejected.length, rejected };
  }

  putRecord(payload, options) {
    const send = (data) => this.#engine.putRecord(typeof data === 'string' ? encoder.encode(data) : data, options);
    return SETTLED.then(() => send(payloadData(payload))).catch(rethrowCoded);
  }

  async flushPayloads(options) {
    const unwatch = options?.signal === undefined ? () => {} : this.#watch(options.signal, false);
    try {
      return await this.#engine.flush();
    } finally {
      unwatch();
    }
  }

  async close() {
    return this.#engine.close();
  }

  [Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose')]() {
    return this.close();
  }

  #watch(signal, permanent) {
    if (typeof signal?.addEventListener !== 'function') {
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

export const planBatches = guarded((payloads, options = {}) => {
  iterable(payloads);
  const plan = new Plan(options);
  try {
    for (const payload of payloads) {
      let data;
      try {
        data = payloadData(payload);
      } catch (error) {
        plan.rejectUnserializable(error.message);
        continue;
      }
      if (typeof data === 'string') plan.add(encoder.encode(data), data.isWellFormed(), undefined, undefined);
      else plan.add(data, true, undefined, undefined);
    }
    return plan.finish();
  } finally {
    plan.free();
  }
});

export const hashKeyOf = guarded(coreHashKeyOf);
export const shardIndexFor = guarded(coreShardIndexFor);
