// The AWS default credentials chain, imported by env.js on the first send that needs it (never
// in a Worker or browser bundle). See env.js for when it is used.
import { CHAIN_PACKAGE, staticKeys } from './env.js';

const WHAT_TO_PASS =
  'pass { accessKeyId, secretAccessKey } or a function, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY';

/** The error when the chain package is not installed and no static keys are set. */
export const NO_CREDENTIALS = `no credentials: ${WHAT_TO_PASS}, or install ${CHAIN_PACKAGE} for AWS_PROFILE, SSO, web identity, ECS and EC2 credentials`;

/** The error when the chain is installed and none of its sources has credentials. */
export const NO_CREDENTIALS_IN_CHAIN = `no credentials: ${WHAT_TO_PASS}, or configure AWS_PROFILE, SSO, web identity, ECS or EC2 credentials (the AWS default credentials chain found none)`;

// One chain per process, per loader: created once, and it caches what it resolved.
const chains = new Map();

/** () → Promise of the chain provider, or of { missing } when the package is not installed. */
function chainLoader(loadChain) {
  if (chains.has(loadChain)) return chains.get(loadChain);
  let provider;
  const load = () => {
    provider ??= (async () => {
      if (!loadChain) return { missing: true };
      let module;
      try {
        module = await loadChain();
      } catch (error) {
        const missing = /MODULE_NOT_FOUND|NotFound/.test(`${error?.code} ${error?.name}`);
        if (!missing) provider = undefined; // try again on the next call
        return { missing, error };
      }
      const fromNodeProviderChain = module.fromNodeProviderChain ?? module.default?.fromNodeProviderChain;
      if (typeof fromNodeProviderChain !== 'function') return { missing: true };
      return { chain: fromNodeProviderChain() };
    })();
    return provider;
  };
  chains.set(loadChain, load);
  return load;
}

/**
 * A credentials function for one dispatcher. The chain is shared (created once, and it caches
 * what it resolved); a dispatcher that asks again after a success does so because its credentials
 * are about to expire or were refused as expired, so it asks the chain for fresh ones.
 */
export function defaultCredentials(get, loader) {
  const loadChain = chainLoader(loader);
  let resolved = false;
  return async () => {
    const { chain, missing, error } = await loadChain();
    if (chain) {
      let credentials;
      try {
        credentials = await chain(resolved ? { forceRefresh: true } : undefined);
      } catch (failure) {
        throw chainFailure(failure);
      }
      resolved = true;
      const { accessKeyId, secretAccessKey, sessionToken, expiration } = credentials ?? {};
      return { accessKeyId, secretAccessKey, sessionToken, expiration };
    }
    const keys = staticKeys(get);
    if (keys) return keys;
    if (missing) throw new Error(NO_CREDENTIALS);
    throw new Error(`no credentials: ${CHAIN_PACKAGE} could not be loaded (${describe(error)}); ${WHAT_TO_PASS}`);
  };
}

function chainFailure(error) {
  if (/could not load credentials from any providers/i.test(error?.message)) return new Error(NO_CREDENTIALS_IN_CHAIN);
  return new Error(`the AWS default credentials chain failed: ${describe(error)}`);
}

function describe(error) {
  const name = error?.name || 'Error';
  const message = String(error?.message ?? error);
  return `${name}: ${message.length > 500 ? `${message.slice(0, 500)}…` : message}`;
}
