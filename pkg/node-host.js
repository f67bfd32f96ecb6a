// What the Node host gives the engine, shared by the ESM entry (node.js) and the CommonJS build:
// the environment, the default transport (loaded on the first send) and Node's SHA-256.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { CHAIN_PACKAGE, environmentFrom } from './env.js';

let transport;
async function nodeFetch(url, init) {
  transport ??= await import('./node-transport.js');
  return transport.nodeFetch(url, init);
}

export function nodeRuntime() {
  return {
    environment: environmentFrom((name) => process.env[name], {
      readText(path) {
        try {
          return readFileSync(path, 'utf8');
        } catch {
          return undefined;
        }
      },
      homeDir: homedir,
      // The AWS default credentials chain (optional dependency), imported on the first send that
      // needs it. The specifier is a variable so that bundlers don't try to pull it in.
      loadChain: () => import(CHAIN_PACKAGE),
    }),
    // http.request costs half what fetch does per request; Bun's native fetch is fast already.
    fetch: process.versions.bun ? undefined : nodeFetch,
    // Node's SHA-256 (OpenSSL) is several times faster than sha2 in wasm for request bodies.
    sha256: (bytes) => createHash('sha256').update(bytes).digest('hex'),
  };
}
