// The AWS default credentials chain in Node and the CLI: with no `credentials` option and no static
// keys, the package asks @aws-sdk/credential-providers' fromNodeProviderChain (an optional
// dependency, imported on the first send). Each case runs the library (or the CLI) in a child
// process with exactly the environment under test, against moto in auth mode, which verifies every
// signature (and session token); delivered records are read back. Every child has
// AWS_EC2_METADATA_DISABLED=true: the chain's last source must never try 169.254.169.254 here.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startMoto, readAllRecords } from '../support/servers.mjs';
import { assumeRoleWithWebIdentity, createRole, motoFreeActions } from '../support/moto-iam.mjs';
import { PKG_NODE, here } from './helpers.mjs';
import { environmentFrom, iniValue } from '../../pkg/env.js';

const STREAM = 'chain';
const CLI = path.resolve(here, '../../pkg/bin/kinesis-batch.js');
const PKG_DIR = path.resolve(here, '../../pkg');
const ESBUILD = path.resolve(here, '../node_modules/.bin/esbuild');

// What a record reports when no source has credentials. The engine words the first part
// ("the credentials provider failed (N tries): Error: "); the rest is pkg/env.js's.
const HINT = 'pass { accessKeyId, secretAccessKey } or a function, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY';
const NOT_INSTALLED = `no credentials: ${HINT}, or install @aws-sdk/credential-providers for AWS_PROFILE, SSO, web identity, ECS and EC2 credentials`;
const NONE_FOUND = `no credentials: ${HINT}, or configure AWS_PROFILE, SSO, web identity, ECS or EC2 credentials (the AWS default credentials chain found none)`;

/** Runs `node args` with exactly `env` (plus PATH); → { code, stdout, stderr, json (stdout, or its last line) }. */
function runNode(args, env, { input, timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { PATH: process.env.PATH, AWS_EC2_METADATA_DISABLED: 'true', ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c) => {
      stderr += c;
    });
    if (input !== undefined) {
      child.stdin.on('error', () => {}); // a child that exits early closes the pipe
      child.stdin.end(input);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let json;
      for (const text of [stdout, stdout.trim().split('\n').pop()]) {
        try {
          json ??= JSON.parse(text); // the CLI's indented summary, or a child's last line
        } catch {
          /* the caller says what it expects */
        }
      }
      resolve({ code: code ?? signal, stdout, stderr, json });
    });
  });
}

/**
 * A child that sends COUNT records (partition keys TAG-i) with neither `region` nor
 * `credentials`, in ROUNDS flushes PAUSE_MS apart, and prints the dispatcher's region, the report,
 * and per request the access key id it was signed with and whether it had a session token.
 * BLOCK_CHAIN=1 makes `@aws-sdk/credential-providers` unresolvable, as when it is not installed.
 */
const LIBRARY_CHILD = `
  import { register } from 'node:module';
  if (process.env.BLOCK_CHAIN) {
    register('data:text/javascript,' + encodeURIComponent(
      "export async function resolve(s, c, next) { return next(s === '@aws-sdk/credential-providers' ? '@aws-sdk/not-installed-here' : s, c); }",
    ));
  }
  const { KinesisBatchDispatcher } = await import(${JSON.stringify(PKG_NODE)});
  const signed = [];
  const fetch = (url, init) => {
    const h = Object.fromEntries(Object.entries(init.headers).map(([k, v]) => [k.toLowerCase(), v]));
    signed.push({ keyId: /Credential=([^/]+)/.exec(h.authorization)[1], token: 'x-amz-security-token' in h });
    return globalThis.fetch(url, init);
  };
  const out = {};
  try {
    const kn = new KinesisBatchDispatcher(${JSON.stringify(STREAM)}, {
      endpoint: process.env.TEST_ENDPOINT, fetch, maxAttempts: 2, retryBaseDelayMs: 10, retryMaxDelayMs: 50,
    });
    out.region = kn.region;
    out.sent = 0;
    out.failed = [];
    const rounds = Number(process.env.ROUNDS || 1);
    for (let round = 0; round < rounds; round++) {
      if (round) await new Promise((r) => setTimeout(r, Number(process.env.PAUSE_MS)));
      for (let i = 0; i < Number(process.env.COUNT); i++) {
        await kn.submitPayload({ tag: process.env.TAG, round, i }, { partitionKey: process.env.TAG + '-' + round + '-' + i });
      }
      const report = await kn.flushPayloads();
      out.sent += report.sent;
      out.failed.push(...report.failed.map((f) => ({ code: f.errorCode, message: f.errorMessage })));
    }
  } catch (e) {
    out.error = { name: e.name, code: e.code, option: e.option, message: e.message };
  }
  out.signed = signed;
  console.log(JSON.stringify(out));
`;

function runLibrary(env) {
  return runNode(['--input-type=module', '-e', LIBRARY_CHILD], { COUNT: '5', ...env });
}

/** The records with partition keys `tag-…` now in the stream, as their sorted keys. */
async function storedKeys(moto, tag) {
  const records = await readAllRecords({ endpoint: moto.endpoint, stream: STREAM, credentials: moto.credentials });
  return records
    .map((r) => r.partitionKey)
    .filter((k) => k.startsWith(`${tag}-`))
    .sort();
}

const keysOf = (tag, count, rounds = 1) =>
  Array.from({ length: rounds * count }, (_, n) => `${tag}-${Math.floor(n / count)}-${n % count}`).sort();

function assertNoSecret(result, ...secrets) {
  for (const secret of secrets) {
    assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), 'a secret appeared in the output');
  }
}

describe('the AWS default credentials chain against moto in auth mode', () => {
  let moto;
  let tmp;
  let emptyHome;
  let sessionCredentials; // a moto STS session, served by the container credentials endpoint

  /** A temporary HOME with ~/.aws/credentials and ~/.aws/config. */
  function home(name, { credentials = '', config = '' }) {
    const dir = path.join(tmp, name);
    mkdirSync(path.join(dir, '.aws'), { recursive: true });
    writeFileSync(path.join(dir, '.aws', 'credentials'), credentials);
    writeFileSync(path.join(dir, '.aws', 'config'), config);
    return dir;
  }

  before(async () => {
    // The optional dependency, installed from pkg/package-lock.json.
    if (!existsSync(path.join(PKG_DIR, 'node_modules', '@aws-sdk', 'credential-providers', 'package.json'))) {
      throw new Error('pkg/node_modules/@aws-sdk/credential-providers is missing: run (cd pkg && npm ci)');
    }
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kinesis-batch-chain-'));
    emptyHome = path.join(tmp, 'empty-home');
    mkdirSync(emptyHome);
    moto = await startMoto({ streams: { [STREAM]: 1 } });
    // A role the web-identity and container cases sign as (3 free actions: see moto-iam.mjs).
    await motoFreeActions(moto.endpoint, 3);
    try {
      const roleArn = await createRole(moto.endpoint, 'kinesis-writer');
      sessionCredentials = await assumeRoleWithWebIdentity(moto.endpoint, {
        roleArn,
        sessionName: 'container',
        token: 'container-test-token',
      });
    } finally {
      await motoFreeActions(moto.endpoint, 0);
    }
  });

  after(async () => {
    await moto?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('AWS_PROFILE in ~/.aws: credentials and region from the profile; records delivered', async () => {
    const dir = home('profile', {
      credentials:
        '[default]\naws_access_key_id = AKIANOTTHISONE\naws_secret_access_key = not-this-one\n' +
        `[kb-test]\naws_access_key_id = ${moto.credentials.accessKeyId}\n` +
        `aws_secret_access_key = ${moto.credentials.secretAccessKey}\n`,
      config: '[default]\nregion = eu-west-3\n[profile kb-test]\nregion = us-east-1\n',
    });
    const r = await runLibrary({ HOME: dir, AWS_PROFILE: 'kb-test', TEST_ENDPOINT: moto.endpoint, TAG: 'profile' });
    assert.deepEqual(r.json?.error, undefined, r.stderr);
    assert.equal(r.json.region, 'us-east-1');
    assert.deepEqual({ sent: r.json.sent, failed: r.json.failed }, { sent: 5, failed: [] });
    assert.deepEqual(r.json.signed, [{ keyId: moto.credentials.accessKeyId, token: false }]);
    assert.deepEqual(await storedKeys(moto, 'profile'), keysOf('profile', 5));
    assertNoSecret(r, moto.credentials.secretAccessKey);
  });

  test('a wrong key in the profile: records fail with the server’s code, no secret in the output', async () => {
    const wrongSecret = `WRONG${randomBytes(18).toString('base64url')}`;
    const dir = home('wrong', {
      credentials:
        `[bad-secret]\naws_access_key_id = ${moto.credentials.accessKeyId}\naws_secret_access_key = ${wrongSecret}\n` +
        `[bad-key]\naws_access_key_id = AKIAUNKNOWNKEY000000\naws_secret_access_key = ${wrongSecret}\n`,
      config: '[profile bad-secret]\nregion = us-east-1\n[profile bad-key]\nregion = us-east-1\n',
    });
    for (const [profile, code] of [
      ['bad-secret', 'SignatureDoesNotMatch'],
      ['bad-key', /^(InvalidClientTokenId|UnrecognizedClientException)$/],
    ]) {
      const r = await runLibrary({ HOME: dir, AWS_PROFILE: profile, TEST_ENDPOINT: moto.endpoint, TAG: profile });
      assert.equal(r.json?.sent, 0, r.stdout + r.stderr);
      assert.equal(r.json.failed.length, 5);
      for (const f of r.json.failed) {
        if (typeof code === 'string') assert.equal(f.code, code);
        else assert.match(f.code, code);
      }
      assertNoSecret(r, wrongSecret);
    }
    assert.deepEqual(await storedKeys(moto, 'bad-secret'), []);
  });

  test('web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN): moto’s STS session signs; delivered', async () => {
    const tokenFile = path.join(tmp, 'web-identity-token');
    writeFileSync(tokenFile, 'eyJhbGciOiJSUzI1NiJ9.test-web-identity.token');
    await motoFreeActions(moto.endpoint, 1); // AssumeRoleWithWebIdentity is unsigned, as in AWS
    let r;
    try {
      r = await runLibrary({
        HOME: emptyHome,
        AWS_REGION: 'us-east-1',
        AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
        AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/kinesis-writer',
        AWS_ROLE_SESSION_NAME: 'kinesis-batch-test',
        AWS_ENDPOINT_URL_STS: moto.endpoint,
        TEST_ENDPOINT: moto.endpoint,
        TAG: 'web',
      });
    } finally {
      await motoFreeActions(moto.endpoint, 0);
    }
    assert.deepEqual(r.json?.error, undefined, r.stderr);
    assert.deepEqual({ sent: r.json.sent, failed: r.json.failed }, { sent: 5, failed: [] }, r.stderr);
    assert.equal(r.json.signed.length, 1);
    assert.match(r.json.signed[0].keyId, /^ASIA/, 'temporary credentials from STS');
    assert.equal(r.json.signed[0].token, true, 'signed with the session token');
    assert.deepEqual(await storedKeys(moto, 'web'), keysOf('web', 5));
  });

  test('container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI on 127.0.0.1): delivered, refreshed before expiry', async () => {
    const authToken = `container-auth-${randomBytes(8).toString('hex')}`;
    const requests = [];
    const server = http.createServer((req, res) => {
      requests.push({ url: req.url, authorization: req.headers.authorization });
      if (req.url !== '/v2/credentials/kb' || req.headers.authorization !== authToken) {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end('{"Code":"AccessDenied","Message":"wrong path or token"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          AccessKeyId: sessionCredentials.accessKeyId,
          SecretAccessKey: sessionCredentials.secretAccessKey,
          Token: sessionCredentials.sessionToken,
          // Inside the 5-minute refresh margin: the second round asks for them again.
          Expiration: new Date(Date.now() + 4 * 60_000).toISOString(),
        }),
      );
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    let r;
    try {
      r = await runLibrary({
        HOME: emptyHome,
        AWS_REGION: 'us-east-1',
        AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${server.address().port}/v2/credentials/kb`,
        AWS_CONTAINER_AUTHORIZATION_TOKEN: authToken,
        TEST_ENDPOINT: moto.endpoint,
        TAG: 'container',
        ROUNDS: '2',
        PAUSE_MS: '1100',
      });
    } finally {
      server.close();
    }
    assert.deepEqual(r.json?.error, undefined, r.stderr);
    assert.deepEqual({ sent: r.json.sent, failed: r.json.failed }, { sent: 10, failed: [] }, r.stderr);
    assert.deepEqual(r.json.signed, [
      { keyId: sessionCredentials.accessKeyId, token: true },
      { keyId: sessionCredentials.accessKeyId, token: true },
    ]);
    assert.equal(requests.length, 2, JSON.stringify(requests));
    assert.ok(requests.every((q) => q.url === '/v2/credentials/kb' && q.authorization === authToken));
    assert.deepEqual(await storedKeys(moto, 'container'), keysOf('container', 5, 2));
    assertNoSecret(r, sessionCredentials.secretAccessKey, sessionCredentials.sessionToken);
  });

  test('the CLI: kinesis-batch put with AWS_PROFILE delivers an NDJSON file', async () => {
    const dir = home('cli', {
      credentials: `[cli]\naws_access_key_id = ${moto.credentials.accessKeyId}\naws_secret_access_key = ${moto.credentials.secretAccessKey}\n`,
      config: '[profile cli]\nregion = us-east-1\n',
    });
    const lines = Array.from({ length: 7 }, (_, i) => JSON.stringify({ id: `cli-0-${i}`, n: i }));
    const file = path.join(tmp, 'cli.ndjson');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = await runNode([CLI, 'put', STREAM, file, '--endpoint', moto.endpoint, '--partition-key', 'id'], {
      HOME: dir,
      AWS_PROFILE: 'cli',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.region, 'us-east-1');
    assert.deepEqual([r.json.sent, r.json.failed], [7, 0]);
    assert.deepEqual(await storedKeys(moto, 'cli'), keysOf('cli', 7));
    const records = await readAllRecords({ endpoint: moto.endpoint, stream: STREAM, credentials: moto.credentials });
    assert.deepEqual(
      records.filter((x) => x.partitionKey.startsWith('cli-')).map((x) => x.data.toString()),
      lines,
      'each line stored as written',
    );
    assertNoSecret(r, moto.credentials.secretAccessKey);
  });

  test('without the optional dependency: static keys still work (AWS_PROFILE set, so the chain is asked first)', async () => {
    const r = await runLibrary({
      BLOCK_CHAIN: '1',
      HOME: emptyHome,
      AWS_REGION: 'us-east-1',
      AWS_PROFILE: 'not-readable-without-the-sdk',
      AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
      TEST_ENDPOINT: moto.endpoint,
      TAG: 'static',
    });
    assert.deepEqual({ sent: r.json?.sent, failed: r.json?.failed }, { sent: 5, failed: [] }, r.stdout + r.stderr);
    assert.deepEqual(await storedKeys(moto, 'static'), keysOf('static', 5));
  });

  test('no credentials anywhere: CredentialsUnavailable saying what to pass, set or install', async () => {
    const env = { HOME: emptyHome, AWS_REGION: 'us-east-1', TEST_ENDPOINT: moto.endpoint, TAG: 'none' };
    const missing = await runLibrary({ ...env, BLOCK_CHAIN: '1' });
    const found = await runLibrary(env);
    for (const [r, message] of [
      [missing, NOT_INSTALLED],
      [found, NONE_FOUND],
    ]) {
      assert.equal(r.json?.error, undefined, 'the constructor does not throw');
      assert.equal(r.json.sent, 0);
      assert.deepEqual(r.json.signed, [], 'nothing was sent');
      assert.equal(r.json.failed.length, 5);
      for (const f of r.json.failed) {
        assert.equal(f.code, 'CredentialsUnavailable');
        assert.equal(f.message, `the credentials provider failed (2 tries): Error: ${message}`);
      }
    }
    // The CLI: the constructor no longer refuses; the first send finds no credentials, which is a
    // configuration error (exit 2, one line saying what to pass, set or configure).
    const cli = await runNode([CLI, 'put', STREAM, '-', '--endpoint', moto.endpoint, '--max-attempts', '1'], env, {
      input: '{"a":1}\n{"a":2}\n',
    });
    assert.equal(cli.code, 2, cli.stderr);
    assert.equal(cli.json.configurationError, 'CredentialsUnavailable');
    assert.deepEqual(cli.json.failedByCode, { CredentialsUnavailable: 2 });
    assert.ok(
      cli.stderr.includes(
        `kinesis-batch: CredentialsUnavailable: the credentials provider failed (1 try): Error: ${NONE_FOUND}\n`,
      ),
      cli.stderr,
    );
  });
});

describe('region from the shared config file', () => {
  test('AWS_REGION, then AWS_DEFAULT_REGION, then the AWS_PROFILE profile (AWS_CONFIG_FILE or ~/.aws/config)', () => {
    const files = {
      '/home/u/.aws/config':
        '[default]\nregion = eu-west-1\n# region = no\n[profile dev] ; comment\ns3 =\n  region = not-this\nregion = ap-south-1\n',
      '/etc/aws-config': '[profile default]\nregion = us-west-2\n[default]\nregion = nope\n',
    };
    const region = (vars) =>
      environmentFrom((name) => vars[name], { readText: (p) => files[p], homeDir: () => '/home/u' })().region;
    assert.equal(region({}), 'eu-west-1');
    assert.equal(region({ AWS_PROFILE: 'dev' }), 'ap-south-1');
    assert.equal(region({ AWS_PROFILE: 'missing' }), undefined);
    assert.equal(region({ AWS_PROFILE: 'dev', AWS_DEFAULT_REGION: 'ca-central-1' }), 'ca-central-1');
    assert.equal(region({ AWS_REGION: 'sa-east-1', AWS_DEFAULT_REGION: 'ca-central-1' }), 'sa-east-1');
    assert.equal(region({ AWS_CONFIG_FILE: '/etc/aws-config' }), 'us-west-2', '[profile default] wins');
    assert.equal(region({ AWS_CONFIG_FILE: '/no/such/file' }), undefined);
    assert.equal(iniValue('[profile "quoted"]\nregion=x\n', 'quoted', 'region'), 'x');
  });

  test('static keys without AWS_PROFILE are passed as they are; otherwise a function (the chain)', () => {
    const environment = (vars) => environmentFrom((name) => vars[name], {})();
    const keys = { AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'tok' };
    assert.deepEqual(environment(keys).credentials, {
      accessKeyId: 'AKID',
      secretAccessKey: 'secret',
      sessionToken: 'tok',
    });
    assert.equal(typeof environment({ ...keys, AWS_PROFILE: 'p' }).credentials, 'function');
    assert.equal(typeof environment({ AWS_ACCESS_KEY_ID: 'AKID' }).credentials, 'function');
  });
});

describe('Worker and browser bundles never contain the credentials chain', () => {
  for (const entry of ['workerd.js', 'browser.js', 'slim.js']) {
    test(`esbuild --bundle of pkg/${entry}`, async () => {
      const { stdout } = await promisify(execFile)(
        ESBUILD,
        [
          path.join(PKG_DIR, entry),
          '--bundle',
          '--format=esm',
          '--platform=browser',
          '--external:*.wasm',
          '--log-level=error',
        ],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      assert.ok(stdout.includes('KinesisBatchDispatcher'), 'the bundle has the package');
      assert.ok(!stdout.includes('credential-providers'), 'no @aws-sdk/credential-providers');
      assert.ok(!stdout.includes('fromNodeProviderChain'), 'no fromNodeProviderChain');
    });
  }
  test('the entry points that may load it are only node.js, deno.js and the CJS build', () => {
    for (const file of ['core.js', 'workerd.js', 'browser.js', 'slim.js']) {
      const text = readFileSync(path.join(PKG_DIR, file), 'utf8');
      assert.ok(!/credential-providers|fromNodeProviderChain|env\.js/.test(text), file);
    }
  });
});
