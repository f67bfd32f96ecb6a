// Chaos at CI size (issue 3): a seeded fault proxy in front of kinesis-local. The 100,000-record
// run is `make chaos` (tests/chaos.mjs, same code).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runChaos, chaosProblems, secretScanner } from '../chaos.mjs';

const RECORDS = Number(process.env.CHAOS_CI_RECORDS || 3000);

test(`chaos: ${RECORDS} records through injected faults are all read back, none lost, duplicates explained`, {
  timeout: 15 * 60_000,
}, async () => {
  const scanner = secretScanner();
  // Seed 112 draws every request-level fault within its first 20 requests; batches of 100 give
  // about 30 first tries plus their retries, so each kind happens at least once.
  const {
    figures: f,
    report,
    missing,
  } = await runChaos({
    records: RECORDS,
    shards: 4,
    seed: 112,
    maxBatchSize: 100,
    maxAttempts: 20,
    requestTimeoutMs: 8000,
    delayMs: 9500,
    scanner,
  });
  console.log(`chaos figures: ${JSON.stringify(f)}`);

  // Every kind of fault was really injected, so the run proves something.
  assert.ok(f.proxy.pteRecords > 0 && f.proxy.internalFailureRecords > 0, 'per-record failures injected');
  for (const kind of ['status500', 'throttle', 'resetBefore', 'resetAfter', 'delay']) {
    assert.ok(f.proxy[kind] >= 1, `${kind} injected at least once: ${JSON.stringify(f.proxy)}`);
  }
  assert.ok(f.ambiguousRecords > 0, 'some writes were ambiguous');

  // The invariants of issue 3.
  assert.deepEqual(missing, [], 'every record is read back at least once');
  assert.equal(f.accepted, RECORDS);
  assert.equal(f.sent + report.failed.length, f.accepted, 'sent + failed == accepted');
  assert.deepEqual(report.failed, [], 'nothing fails with an attempt budget of 20');
  assert.equal(f.unique, RECORDS);
  assert.equal(f.unexpected, 0);
  assert.equal(f.corrupt, 0, 'every stored copy holds its own record');
  assert.equal(f.stored, RECORDS + f.duplicates);
  // Duplicates: each ambiguous write retried to success is stored twice; nothing else may be.
  assert.ok(f.ambiguousSettled);
  assert.ok(f.duplicates >= f.ambiguousRecords, `duplicates ${f.duplicates} >= ambiguous ${f.ambiguousRecords}`);
  assert.ok(
    f.duplicates <= f.resetAfterRecords + Math.max(f.clientTimeoutRecords, f.delayRecords),
    `duplicates ${f.duplicates} <= records in ambiguous requests (${f.resetAfterRecords} reset after + ${f.clientTimeoutRecords} timed out)`,
  );
  if (f.spuriousTimeouts === 0)
    assert.equal(
      f.duplicates,
      f.ambiguousRecords,
      'no spurious timeouts: exactly the ambiguous records are duplicated',
    );
  assert.ok(f.retries > 0 && f.requests > RECORDS / 100);
  assert.ok(f.maxConcurrentRequests <= 4);
  assert.deepEqual(chaosProblems(f, scanner), []);

  // The secret scan over everything this run produced.
  assert.ok(scanner.count > 10, 'the scan saw the reports and progress payloads');
  assert.deepEqual(scanner.leaks, []);
});
