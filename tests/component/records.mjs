// The records the end-to-end test delivers, made the same way by the host program
// (deliver.mjs) and by the test that reads them back.

const PAD = 'kinesis-batch component ';

/**
 * Record i: mostly JSON whose `id` field is the partition key (partitionKeyIdentifier 'id'),
 * every 10th a UTF-8 string and every 10th (offset 5) raw bytes, both with a given key.
 * @returns {{ payload: { tag: 'json' | 'text' | 'bytes', val: string | Uint8Array },
 *   options: { partitionKey?: string } | undefined, partitionKey: string, data: Buffer }}
 */
export function recordFor(i) {
  const partitionKey = `r-${i}`;
  if (i % 10 === 3) {
    const val = `text record ${i} ünïcødé ✓ ${PAD.repeat(i % 7)}`;
    return { payload: { tag: 'text', val }, options: { partitionKey }, partitionKey, data: Buffer.from(val, 'utf8') };
  }
  if (i % 10 === 8) {
    const bytes = new Uint8Array(16 + (i % 64));
    for (let b = 0; b < bytes.length; b++) bytes[b] = (i * 31 + b * 7) & 0xff;
    return { payload: { tag: 'bytes', val: bytes }, options: { partitionKey }, partitionKey, data: Buffer.from(bytes) };
  }
  const val = JSON.stringify({ id: partitionKey, n: i, note: PAD.repeat(i % 5) });
  return { payload: { tag: 'json', val }, options: undefined, partitionKey, data: Buffer.from(val, 'utf8') };
}
