// A Node host for the kinesis-batch WebAssembly component (wit/kinesis-batch.wit).
//
// `make component` builds the component and transpiles it with jco 1.35 into
// target/component-js/ (`jco transpile --instantiation sync`). This module instantiates that
// output: WASI clocks and random come from @bytecodealliance/preview2-shim, the
// `kinesis:batch/transport` import is a synchronous fetch (sync-fetch.mjs) or any function you
// pass, and the `kinesis:batch/credentials` import is the `credentials` function you pass.
//
//   const { dispatcher, close } = loadComponent({ credentials: () => ({ accessKeyId, secretAccessKey }) })
//   const kn = new dispatcher.KinesisBatchDispatcher('orders', { region: 'us-east-1' })
//   kn.submitPayload({ tag: 'json', val: '{"id":1}' })
//   const report = kn.flushPayloads()
//   await close()
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cli, clocks, io, random } from '@bytecodealliance/preview2-shim';
import { createSyncFetch } from './sync-fetch.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
export const COMPONENT_WASM = path.join(ROOT, 'target/wasm32-wasip2/release/kinesis_batch.wasm');
export const TRANSPILED_DIR = path.join(ROOT, 'target/component-js');

const { instantiate } = await import(pathToFileURL(path.join(TRANSPILED_DIR, 'kinesis_batch.js')).href);

const kebab = (name) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * WASI 0.2 from preview2-shim: clocks, random, io and cli (std's stdio, exit and environment),
 * but no filesystem, sockets or http. The environment is empty: the process's variables (AWS
 * keys among them) are not the component's business.
 */
function wasiImports() {
  const imports = {};
  for (const [ns, members] of Object.entries({ cli, clocks, io, random })) {
    for (const [name, value] of Object.entries(members)) {
      if (!name.startsWith('_')) imports[`wasi:${ns}/${kebab(name)}`] = value;
    }
  }
  imports['wasi:cli/environment'] = { getEnvironment: () => [], getArguments: () => [], initialCwd: () => undefined };
  return imports;
}

/** Thrown by a transport function to return `transport-error` to the component. */
export class TransportFailure extends Error {
  /** @param {{ tag: 'timeout' } | { tag: 'network', val: string }} payload */
  constructor(payload) {
    super(payload.tag === 'network' ? payload.val : 'timeout');
    this.payload = payload;
  }
}

/** Thrown by a credentials function to return its message to the component (no secrets in it). */
export class CredentialsFailure extends Error {
  constructor(message) {
    super(message);
    this.payload = message;
  }
}

/** A Date or a number of ms since the epoch (fractions dropped), as the import's `u64`. */
function expirationMs(value) {
  if (value === undefined || value === null) return undefined;
  const ms = value instanceof Date ? value.getTime() : Number(value);
  if (!Number.isFinite(ms) || ms < 0) throw new CredentialsFailure(`expiration ${value} is not a time`);
  return BigInt(Math.floor(ms));
}

/**
 * Instantiates the component.
 * @param {object} [options]
 * @param {(url: string, init: { method: string, headers: [string, string][], body: Uint8Array, timeoutMs: number }) =>
 *   { status: number, headers: [string, string][], body: Uint8Array }} [options.fetch]
 *   a synchronous transport: return the answer, or throw a TransportFailure. Default: Node's
 *   fetch run in a worker thread (sync-fetch.mjs).
 * @param {() => { accessKeyId: string, secretAccessKey: string, sessionToken?: string, expiration?: Date | number }}
 *   [options.credentials] the `credentials` import, synchronous: called when a dispatcher created
 *   without the `credentials` option needs credentials (first request, after an
 *   ExpiredTokenException, near `expiration`). Throwing fails that call with the error's message.
 *   Default: a function that always fails.
 * @returns {{ dispatcher: object, close(): Promise<void> }} `dispatcher` has KinesisBatchDispatcher,
 *   planBatches, hashKeyOf and shardIndexFor.
 */
export function loadComponent({ fetch, credentials } = {}) {
  let worker = null;
  if (!fetch) {
    worker = createSyncFetch();
    fetch = (url, init) => {
      const answer = worker.fetch(url, init);
      if (answer.timeout) throw new TransportFailure({ tag: 'timeout' });
      if (answer.network !== undefined) throw new TransportFailure({ tag: 'network', val: answer.network });
      return answer;
    };
  }
  const transport = {
    fetch(url, init) {
      try {
        return fetch(url, init);
      } catch (error) {
        // jco returns a thrown error's `payload` as the result's err value.
        if (error instanceof TransportFailure) throw error;
        throw new TransportFailure({ tag: 'network', val: `${error?.name || 'Error'}: ${error?.message}` });
      }
    },
  };
  const credentialsImport = {
    get() {
      try {
        if (!credentials) throw new CredentialsFailure('this host has no credentials to give');
        const c = credentials();
        if (typeof c?.accessKeyId !== 'string' || typeof c.secretAccessKey !== 'string')
          throw new CredentialsFailure(
            'credentials must be { accessKeyId, secretAccessKey, sessionToken?, expiration? }',
          );
        return {
          accessKeyId: c.accessKeyId,
          secretAccessKey: c.secretAccessKey,
          sessionToken: typeof c.sessionToken === 'string' ? c.sessionToken : undefined,
          expirationMs: expirationMs(c.expiration),
        };
      } catch (error) {
        // jco returns a thrown error's `payload` as the result's err value; any other error would trap.
        if (error instanceof CredentialsFailure) throw error;
        throw new CredentialsFailure(`${error?.name || 'Error'}: ${error?.message}`);
      }
    },
  };
  const getCoreModule = (name) => new WebAssembly.Module(readFileSync(path.join(TRANSPILED_DIR, name)));
  const exports = instantiate(getCoreModule, {
    ...wasiImports(),
    'kinesis:batch/transport': transport,
    'kinesis:batch/credentials': credentialsImport,
  });
  return {
    dispatcher: exports.dispatcher,
    async close() {
      if (worker) await worker.close();
    },
  };
}

/**
 * A test body run against a fresh component whose transport is `transport.fetch` (none: any
 * request fails the test) and whose `credentials` import is `credentials`; closed afterwards.
 */
export function withComponent(transport, fn, { credentials } = {}) {
  return async () => {
    const { dispatcher, close } = loadComponent({
      fetch:
        transport?.fetch ??
        (() => {
          throw new Error('no request expected');
        }),
      credentials,
    });
    try {
      await fn(dispatcher);
    } finally {
      await close();
    }
  };
}

/** The component error a call threw (jco wraps result errors in a ComponentError with `payload`). */
export function errorOf(fn) {
  try {
    fn();
  } catch (error) {
    assert.ok(error.payload, `expected a component error, got ${error}`);
    return error.payload;
  }
  assert.fail('expected an error');
}
