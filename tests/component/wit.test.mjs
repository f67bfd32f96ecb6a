// The built component shows the world in wit/: `wasm-tools component wit` on the component
// and on wit/ (printed by the same tool, so formatting is the same) must agree on
//   - every kinesis:batch interface, item for item (the binary carries no doc comments);
//   - the exports, exactly;
//   - the imports: all of the world's, plus only the WASI 0.2 interfaces Rust's std runtime
//     pulls in on wasm32-wasip2 (stdio, environment, exit, HashMap's seed). Never filesystem,
//     sockets or http: the transport import is the component's only way out.
// WASI versions compare as semver: the toolchain's adapter raises 0.2.0 imports to its 0.2.x.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const COMPONENT_WASM = path.join(ROOT, 'target/wasm32-wasip2/release/kinesis_batch.wasm');

const WASM_TOOLS = process.env.WASM_TOOLS || 'wasm-tools';
const VERSION = '0.3.0';
const PACKAGE = `kinesis:batch@${VERSION}`;
const STD_RUNTIME = /^wasi:(cli\/[a-z-]+|io\/(error|streams)|random\/(insecure|insecure-seed))@0\.2$/;

const printWit = (target) => execFileSync(WASM_TOOLS, ['component', 'wit', target], { encoding: 'utf8' });

/** `wasi:pkg/iface@0.2.6` → `wasi:pkg/iface@0.2` (0.x versions are compatible within a minor). */
const compatible = (name) => (name.startsWith('wasi:') ? name.replace(/@0\.(\d+)\.\d+$/, '@0.$1') : name);

/** The lines from `header` to its closing brace at the same indentation. */
function block(lines, header) {
  const start = lines.findIndex((l) => l.trimEnd().endsWith(header));
  assert.ok(start >= 0, `no "${header}" in the printed WIT`);
  const indent = lines[start].match(/^\s*/)[0];
  const end = lines.findIndex((l, i) => i > start && l === `${indent}}`);
  assert.ok(end > start, `"${header}" is not closed`);
  return lines.slice(start + 1, end);
}

/** { imports: Set, exports: Set } of a world, with local interface names qualified. */
function worldItems(lines, header) {
  const items = { imports: new Set(), exports: new Set() };
  for (const line of block(lines, header)) {
    const m = /^\s*(import|export) ([^;]+);$/.exec(line);
    if (!m) continue;
    const name = m[2].includes(':') ? m[2] : `kinesis:batch/${m[2]}@${VERSION}`;
    items[`${m[1]}s`].add(compatible(name));
  }
  return items;
}

/** Interface name → its items, trimmed, without comments or blank lines. */
function interfaces(lines) {
  const out = {};
  for (const line of lines) {
    const m = /^\s*interface ([a-z][a-z0-9-]*) \{$/.exec(line);
    if (m)
      out[m[1]] = block(lines, line.trim())
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('//'));
  }
  return out;
}

test('wasm-tools component wit on the built component shows the world in wit/', (t) => {
  const fromComponent = printWit(COMPONENT_WASM).split('\n');
  const fromWit = printWit(path.join(ROOT, 'wit')).split('\n');
  assert.equal(fromComponent[0], 'package root:component;', 'the build output is a component');

  // The kinesis:batch interfaces: the component's nested package block against wit/'s top level
  // (which ends where the first dependency package begins).
  const witPackageEnd = fromWit.findIndex((l) => /^package wasi:/.test(l));
  const witLines = fromWit.slice(fromWit.indexOf(`package ${PACKAGE};`), witPackageEnd < 0 ? undefined : witPackageEnd);
  const expected = interfaces(witLines);
  const actual = interfaces(block(fromComponent, `package ${PACKAGE} {`));
  assert.deepEqual(Object.keys(actual).sort(), ['credentials', 'dispatcher', 'transport']);
  assert.deepEqual(Object.keys(expected).sort(), ['credentials', 'dispatcher', 'transport']);
  for (const name of Object.keys(expected)) assert.deepEqual(actual[name], expected[name], `interface ${name}`);
  assert.ok(expected.dispatcher.includes('resource kinesis-batch-dispatcher {'));
  assert.ok(expected.dispatcher.length > 80, 'the whole interface was compared');

  const world = worldItems(witLines, 'world kinesis-batch {');
  const root = worldItems(fromComponent, 'world root {');
  assert.deepEqual([...root.exports], [...world.exports]);
  assert.deepEqual([...world.exports], [`kinesis:batch/dispatcher@${VERSION}`]);
  for (const name of ['transport', 'credentials'])
    assert.ok(world.imports.has(`kinesis:batch/${name}@${VERSION}`), `the world imports ${name}`);
  for (const name of world.imports) assert.ok(root.imports.has(name), `the component imports ${name}`);
  const extra = [...root.imports].filter((name) => !world.imports.has(name));
  for (const name of extra)
    assert.match(name, STD_RUNTIME, `${name} is not part of the world nor of Rust std's WASI runtime`);
  t.diagnostic(`world imports: ${[...world.imports].join(', ')}`);
  t.diagnostic(`std runtime imports: ${extra.join(', ')}`);
});

test('the world is version 0.3.0 and imports the credentials interface: get returns credentials with an optional expiration', () => {
  const fromComponent = printWit(COMPONENT_WASM).split('\n');
  const root = worldItems(fromComponent, 'world root {');
  assert.ok(root.imports.has(`kinesis:batch/credentials@${VERSION}`), [...root.imports].join(', '));
  assert.ok(root.imports.has(`kinesis:batch/transport@${VERSION}`));
  assert.ok(
    ![...root.imports, ...root.exports].some((name) => /@0\.[12]\.0$/.test(name) && name.startsWith('kinesis:')),
  );
  // The interface's items, trimmed: the record's fields sit between its header and `}`.
  const credentials = interfaces(block(fromComponent, `package ${PACKAGE} {`)).credentials;
  const start = credentials.indexOf('record credentials {');
  assert.deepEqual(credentials.slice(start + 1, credentials.indexOf('}', start)), [
    'access-key-id: string,',
    'secret-access-key: string,',
    'session-token: option<string>,',
    'expiration-ms: option<u64>,',
  ]);
  assert.ok(credentials.includes('get: func() -> result<credentials, string>;'), credentials.join('\n'));
});
