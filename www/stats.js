// Arithmetic shared by the page and its worker: shard shares and per-shard rates. No packing, no
// hashing and no Kinesis limit here: those come from the wasm core (the per-shard write limits
// are resolveLimits' shardRecordsPerSecond and shardBytesPerSecond, passed in).

/** A shard at or above this fraction of a limit is flagged "near". */
export const WARM = 0.8;

const TWO_128 = 1n << 128n;
const U128_MAX = TWO_128 - 1n;

/** The fraction of the hash-key space in [start, end] (decimal strings or BigInts). */
export function shareOf(start, end) {
  const width = BigInt(end) - BigInt(start) + 1n;
  // 2^128 does not fit a double exactly; scale down first to keep 53 bits of precision.
  return Number((width << 20n) / (TWO_128 >> 32n)) / 2 ** 52;
}

/** Shard ids, ranges and shares for `count` shards split evenly as CreateStream splits them. */
export function evenShards(count) {
  const n = BigInt(count);
  const width = TWO_128 / n; // floor(2^128 / n); the last shard takes the remainder
  const shards = [];
  for (let i = 0n; i < n; i++) {
    const start = i * width;
    const end = i === n - 1n ? U128_MAX : (i + 1n) * width - 1n;
    shards.push({
      shardId: `shardId-${String(i).padStart(12, '0')}`,
      start: String(start),
      end: String(end),
      share: shareOf(start, end),
    });
  }
  return shards;
}

const DECIMAL = /^(0|[1-9][0-9]{0,38})$/;

/**
 * The open shards in a pasted ListShards or DescribeStream answer (or a bare array of shards),
 * sorted by starting hash key: { shards: [{ shardId, start, end, share }], closed, warnings }.
 * Closed shards (those with an EndingSequenceNumber) no longer take writes and are left out.
 */
export function parseShardList(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new Error(`the shard list is not valid JSON: ${error.message}`);
  }
  const list = Array.isArray(doc) ? doc : (doc?.Shards ?? doc?.StreamDescription?.Shards);
  if (!Array.isArray(list)) {
    throw new Error(
      'expected the JSON of a ListShards answer ({"Shards": [...]}) or a DescribeStream answer ({"StreamDescription": {"Shards": [...]}})',
    );
  }
  const warnings = [];
  if (doc?.NextToken)
    warnings.push('the ListShards answer has a NextToken: it lists only part of the shards; paste every page');
  if (doc?.StreamDescription?.HasMoreShards)
    warnings.push('the DescribeStream answer has HasMoreShards: it lists only part of the shards');
  let closed = 0;
  const shards = [];
  list.forEach((s, i) => {
    const id = typeof s?.ShardId === 'string' ? s.ShardId : `#${i + 1}`;
    const start = s?.HashKeyRange?.StartingHashKey;
    const end = s?.HashKeyRange?.EndingHashKey;
    if (typeof start !== 'string' || typeof end !== 'string' || !DECIMAL.test(start) || !DECIMAL.test(end)) {
      throw new Error(`shard ${id}: HashKeyRange.StartingHashKey and EndingHashKey must be decimal strings`);
    }
    if (BigInt(start) > U128_MAX || BigInt(end) > U128_MAX)
      throw new Error(`shard ${id}: a hash key is above 2^128 - 1`);
    if (BigInt(start) > BigInt(end)) throw new Error(`shard ${id}: StartingHashKey is above EndingHashKey`);
    if (s?.SequenceNumberRange?.EndingSequenceNumber) {
      closed++;
      return;
    }
    shards.push({ shardId: id, start, end, share: shareOf(start, end) });
  });
  if (shards.length === 0) throw new Error('the shard list has no open shard');
  shards.sort((a, b) => (BigInt(a.start) < BigInt(b.start) ? -1 : 1));
  const covered = shards.reduce((sum, s) => sum + BigInt(s.end) - BigInt(s.start) + 1n, 0n);
  if (covered < TWO_128) {
    warnings.push(
      `the open shards cover ${(Number((covered * 1000000n) / TWO_128) / 10000).toFixed(4)}% of the hash-key space; keys in the gaps are counted as "no shard"`,
    );
  }
  return { shards, closed, warnings };
}

/**
 * Per-shard load at `rate` records/s sent to the whole stream, against the per-shard write limits
 * `{ shardRecordsPerSecond, shardBytesPerSecond }` (the core's resolveLimits gives them).
 * With random (UUID) keys the load is the expected one: rate × the shard's share of the hash-key
 * space. With keys from the records, the file's mix is taken as the traffic mix: rate × the
 * shard's fraction of the accepted records (and of their bytes).
 * Returns { rows: [{ recordsPerSecond, bytesPerSecond, load, hot, warm }], maxRate }.
 * `maxRate` is the stream rate at which the busiest shard reaches a limit.
 */
export function shardLoad(
  { shares, counts, bytes, accepted, totalBytes, randomKeys },
  rate,
  { shardRecordsPerSecond, shardBytesPerSecond },
) {
  const rows = [];
  let maxRate = Infinity;
  const meanBytes = accepted ? totalBytes / accepted : 0;
  for (let i = 0; i < shares.length; i++) {
    const recordFraction = randomKeys ? shares[i] : accepted ? counts[i] / accepted : 0;
    const bytesPerRecord = randomKeys ? shares[i] * meanBytes : accepted ? bytes[i] / accepted : 0;
    const recordsPerSecond = rate * recordFraction;
    const bytesPerSecond = rate * bytesPerRecord;
    const load = Math.max(recordsPerSecond / shardRecordsPerSecond, bytesPerSecond / shardBytesPerSecond);
    if (recordFraction > 0) maxRate = Math.min(maxRate, shardRecordsPerSecond / recordFraction);
    if (bytesPerRecord > 0) maxRate = Math.min(maxRate, shardBytesPerSecond / bytesPerRecord);
    rows.push({
      recordsPerSecond,
      bytesPerSecond,
      load,
      hot: recordsPerSecond > shardRecordsPerSecond || bytesPerSecond > shardBytesPerSecond,
      warm: load >= WARM,
    });
  }
  return { rows, maxRate };
}

const MIB = 1048576;

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < MIB) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * MIB) return `${(n / MIB).toFixed(2)} MiB`;
  return `${(n / MIB / 1024).toFixed(2)} GiB`;
}
