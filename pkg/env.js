// The environment's region, endpoint and credentials, for the Node and Deno entries only (never
// in a Worker or browser bundle). The rules are in docs/ARCHITECTURE.md, "Environment".

export const CHAIN_PACKAGE = '@aws-sdk/credential-providers';

export function environmentFrom(get, host = {}) {
  return () => {
    const keys = staticKeys(get);
    return {
      region: get('AWS_REGION') || get('AWS_DEFAULT_REGION') || profileRegion(get, host) || undefined,
      // As the AWS SDKs do; the endpoint option wins.
      endpoint: get('AWS_ENDPOINT_URL_KINESIS') || get('AWS_ENDPOINT_URL') || undefined,
      credentials: keys && !get('AWS_PROFILE') ? keys : chainCredentials(get, host.loadChain),
    };
  };
}

function chainCredentials(get, loadChain) {
  let provider;
  return async () => {
    provider ??= (await import('./credentials-chain.js')).defaultCredentials(get, loadChain);
    return provider();
  };
}

export function staticKeys(get) {
  const accessKeyId = get('AWS_ACCESS_KEY_ID');
  const secretAccessKey = get('AWS_SECRET_ACCESS_KEY');
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, sessionToken: get('AWS_SESSION_TOKEN') || undefined };
}

// ---- region from the shared config file ------------------------------------------------------

function profileRegion(get, host) {
  if (!host.readText) return undefined;
  const home = host.homeDir?.();
  let file = get('AWS_CONFIG_FILE');
  if (!file) {
    if (!home) return undefined;
    file = `${home}/.aws/config`;
  } else if (file.startsWith('~/') && home) {
    file = `${home}/${file.slice(2)}`;
  }
  const text = host.readText(file);
  if (!text) return undefined;
  const profile = get('AWS_PROFILE') || 'default';
  return iniValue(text, profile, 'region');
}

export function iniValue(text, profile, key) {
  let inProfile = false;
  let inSubSection = false;
  let plainDefault;
  let value;
  let inPlainDefault = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.split(/(^|\s)[;#]/)[0].trim();
    if (line.startsWith('[') && line.endsWith(']')) {
      const name = line.slice(1, -1).trim();
      const match = /^profile\s+(["']?)(.+)\1$/.exec(name);
      inProfile = match ? match[2].trim() === profile : false;
      inPlainDefault = profile === 'default' && name === 'default';
      inSubSection = false;
      continue;
    }
    if (!inProfile && !inPlainDefault) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const name = line.slice(0, eq).trim();
    const val = line.slice(eq + 1).trim();
    if (val === '') {
      inSubSection = true;
      continue;
    }
    if (inSubSection && raw.trimStart() === raw) inSubSection = false;
    if (inSubSection || name !== key) continue;
    if (inProfile) value = val;
    else plainDefault = val;
  }
  return value ?? plainDefault;
}
