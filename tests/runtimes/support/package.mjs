// Helpers for the packaging tests: pack pkg/ once per test file, make fresh projects under /tmp
// that install the tarball (offline: it has no dependencies), serve a tarball from a throwaway
// npm registry on 127.0.0.1 (for Deno's `npm:` imports), run child processes with a timeout.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../../..');
export const pkgDir = path.join(repoRoot, 'pkg');
export const testsDir = path.join(repoRoot, 'tests');
export const bin = (name) => path.join(testsDir, 'node_modules', '.bin', name);

/** Every temporary folder made here; removed by cleanup() unless KEEP_RUNTIME_TMP is set. */
const made = [];
export function tempDir(prefix) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `kinesis-batch-${prefix}-`));
  made.push(dir);
  return dir;
}
export function cleanup() {
  if (process.env.KEEP_RUNTIME_TMP) return;
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Runs a command (env: the whole environment, default process.env); resolves { code, stdout, stderr }. */
export function run(command, args, { cwd, env, timeoutMs = 120_000, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, stderr });
    });
    // A child that exits without reading its input (`bun --version`) closes the pipe first: the
    // EPIPE that follows is not an error of the test.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** Like run(), but throws with the output when the exit code is not 0. */
export async function check(command, args, options) {
  const r = await run(command, args, options);
  if (r.code !== 0) {
    throw new Error(
      `${path.basename(command)} ${args.join(' ')} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
    );
  }
  return r;
}

let npmCache;
/** npm with its cache in a temp folder: the tests write only in the project and /tmp. */
export function npm(args, cwd, { timeoutMs } = {}) {
  npmCache ??= tempDir('npm-cache');
  return check('npm', args, {
    cwd,
    env: { ...process.env, npm_config_cache: npmCache, npm_config_update_notifier: 'false' },
    timeoutMs,
  });
}

let packed;
/** `npm pack` of pkg/ (built by `make build`) into a temp folder → absolute tarball path. */
export function packOnce() {
  packed ??= (async () => {
    for (const f of ['wasm/kinesis_batch_bg.wasm', 'wasm/kinesis_batch.js', 'node.cjs', 'index.d.cts']) {
      if (!existsSync(path.join(pkgDir, f))) throw new Error(`pkg/${f} is missing: run make build first`);
    }
    const dest = tempDir('pack');
    const r = await npm(['pack', '--json', '--pack-destination', dest], pkgDir);
    const [info] = JSON.parse(r.stdout);
    return { tarball: path.join(dest, info.filename), files: info.files.map((f) => f.path), info };
  })();
  return packed;
}

/**
 * A fresh project folder under /tmp with the packed tarball installed (`npm install --offline`).
 * packageJson: extra fields (e.g. { type: 'commonjs' }); files: { relativePath: contents }.
 */
export async function freshProject(prefix, { packageJson = {}, files = {} } = {}) {
  const { tarball } = await packOnce();
  const dir = tempDir(prefix);
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: `${prefix}-consumer`, version: '0.0.0', private: true, ...packageJson }, null, 2),
  );
  writeFiles(dir, files);
  await npm(['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts', tarball], dir);
  return dir;
}

export function writeFiles(dir, files) {
  for (const [name, contents] of Object.entries(files)) {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, contents);
  }
}

/**
 * A minimal npm registry on 127.0.0.1 serving one tarball: GET /<name> (the packument) and
 * GET /-/<file>.tgz. Enough for Deno to resolve and download `npm:<name>`.
 */
export async function startTarballRegistry(tarball) {
  const bytes = readFileSync(tarball);
  const manifest = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url);
    const { port } = server.address();
    const file = `${manifest.name}-${manifest.version}.tgz`;
    if (req.url === `/${manifest.name}` || req.url === `/${encodeURIComponent(manifest.name)}`) {
      // This registry serves only our tarball: the optional dependencies (the AWS credentials
      // chain) are left out of what it announces, as a registry without them would.
      const { optionalDependencies: _optional, ...served } = manifest;
      const version = {
        ...served,
        dist: {
          tarball: `http://127.0.0.1:${port}/-/${file}`,
          shasum: createHash('sha1').update(bytes).digest('hex'),
          integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
        },
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          name: manifest.name,
          'dist-tags': { latest: manifest.version },
          versions: { [manifest.version]: version },
        }),
      );
    } else if (req.url === `/-/${file}`) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
      res.end(bytes);
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    requests,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Records read back, as parsed JSON objects. */
export function parsed(records) {
  return records.map((r) => JSON.parse(r.data.toString('utf8')));
}

/** The environment with every ambient AWS_* variable removed, plus `extra`. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
  return { ...env, ...extra };
}
