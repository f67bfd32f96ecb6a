// Independent KPL deaggregators for tests: npm aws-kinesis-agg 4.2.8 (in-process) and PyPI
// aws-kinesis-agg 1.2.3 (deaggregate.py, run with tests/.venv/bin/python).
//
// Input: Kinesis records as read back from a stream (readAllRecords gives this shape):
//   { data: Buffer|Uint8Array, partitionKey: string, explicitHashKey?, sequenceNumber?, shardId? }
// Output: user records, in order:
//   { data: Buffer, partitionKey: string, explicitHashKey?, sequenceNumber?, subSequenceNumber?, shardId? }
// A record that is not a KPL aggregate comes back as itself, without subSequenceNumber.
// sequenceNumber and shardId are those of the enclosing Kinesis record.
// See README.md next to this file for how the two libraries differ.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { venvBin } from './servers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

function checkRecord(rec, i) {
  if (!rec || !(rec.data instanceof Uint8Array))
    throw new TypeError(`record ${i}: data must be a Buffer or Uint8Array`);
  if (typeof rec.partitionKey !== 'string') throw new TypeError(`record ${i}: partitionKey must be a string`);
}

const toBase64 = (data) => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');

function userRecord({ data, partitionKey, explicitHashKey, sequenceNumber, subSequenceNumber }, source) {
  const out = { data: Buffer.from(data, 'base64'), partitionKey };
  if (explicitHashKey !== undefined && explicitHashKey !== null) out.explicitHashKey = String(explicitHashKey);
  if (sequenceNumber !== undefined && sequenceNumber !== null) out.sequenceNumber = String(sequenceNumber);
  if (subSequenceNumber !== undefined && subSequenceNumber !== null) out.subSequenceNumber = Number(subSequenceNumber);
  if (source.shardId !== undefined) out.shardId = source.shardId;
  return out;
}

/**
 * Deaggregate with npm aws-kinesis-agg 4.2.8 (`deaggregateSync`, checksums verified).
 * Throws if a record has the KPL magic but does not decode, its MD5 is wrong, or a user
 * record's partition_key_index is out of range.
 */
export async function deaggregateNpm(records) {
  const { deaggregateSync } = require('aws-kinesis-agg');
  const out = [];
  records.forEach((rec, i) => {
    checkRecord(rec, i);
    // The library's "v2" (lower-case) record shape; it calls the explicit hash key explicitPartitionKey.
    const input = { data: toBase64(rec.data), partitionKey: rec.partitionKey };
    if (rec.explicitHashKey !== undefined) input.explicitPartitionKey = rec.explicitHashKey;
    if (rec.sequenceNumber !== undefined) input.sequenceNumber = rec.sequenceNumber;
    let error;
    let users;
    deaggregateSync(input, true, (err, result) => {
      // Called once per failing user record and once at the end; keep the first error.
      if (err && !error) error = err;
      if (!err) users = result;
    });
    if (error) throw new Error(`aws-kinesis-agg (npm) failed on record ${i}: ${error.message ?? error}`);
    for (const u of users ?? []) {
      // An out-of-range partition_key_index gives partitionKey undefined, silently: refuse it.
      if (typeof u.partitionKey !== 'string') {
        throw new Error(`aws-kinesis-agg (npm): record ${i}, user record ${u.subSequenceNumber}: no partition key`);
      }
      out.push(userRecord({ ...u, explicitHashKey: u.explicitPartitionKey }, rec));
    }
  });
  return out;
}

/**
 * Deaggregate with PyPI aws-kinesis-agg 1.2.3 (`deaggregate_records`), one Python process per call.
 * Throws if the library reports an error inside an aggregate (it would otherwise drop the rest
 * of it silently). A record with the magic but a wrong MD5, or a protobuf that doesn't parse,
 * is passed through as a plain record by the library.
 */
export async function deaggregatePython(records) {
  const lines = records.map((rec, i) => {
    checkRecord(rec, i);
    const line = { data: toBase64(rec.data), partitionKey: rec.partitionKey };
    if (rec.explicitHashKey !== undefined) line.explicitHashKey = rec.explicitHashKey;
    if (rec.sequenceNumber !== undefined) line.sequenceNumber = rec.sequenceNumber;
    return `${JSON.stringify(line)}\n`;
  });
  const stdout = await runPython(path.join(here, 'deaggregate.py'), lines);
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const u = JSON.parse(l);
      return userRecord(u, records[u.source]);
    });
}

function runPython(script, lines) {
  return new Promise((resolve, reject) => {
    const child = spawn(venvBin('python'), ['-B', script], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONIOENCODING: 'utf-8' },
    });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.stdin.on('error', () => {}); // the child may exit before reading everything; its exit code tells
    child.on('error', (e) =>
      reject(new Error(`${venvBin('python')}: ${e.message} (create tests/.venv, see tests/support/README.md)`)),
    );
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`deaggregate.py exited with ${code ?? signal}: ${Buffer.concat(err).toString('utf8')}`));
    });
    for (const l of lines) child.stdin.write(l);
    child.stdin.end();
  });
}
