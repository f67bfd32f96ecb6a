// Synthetic application events for the benchmark: JSON objects of a fixed encoded size, so every
// record of a workload has the same data length and the same partition-key length. That lets the
// no-op transport tell how many records a body holds from its length alone (see noop.mjs), with
// no parsing that would cost the contenders time.
//
// The partition key is the event's `id` field (16 ASCII characters) for every contender. It is
// unique per event, or with eventsOf(bytes, { keys: K }) (workloads 5-6) one of K keys in turn:
// `evt-` and i % K in 12 digits, the same length, so the events are byte for byte as long.

const FILLER_POOL = (() => {
  // Printable ASCII without '"' and '\\', so JSON.stringify never escapes anything.
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;-_+=/()[]{}!?*#@';
  let s = '';
  let x = 0x9e3779b9;
  while (s.length < 200_000) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s += chars[(x >>> 0) % chars.length];
  }
  return s;
})();

const TYPES = ['view', 'cart', 'buy_', 'exit'];
const COUNTRIES = ['DE', 'FR', 'US', 'JP', 'BR'];
const BASE_TS = 1_764_000_000_000; // 13 digits for the whole run

function skeleton(i, payload, keys) {
  const n = String(i).padStart(12, '0');
  return {
    id: keys ? `evt-${String(i % keys).padStart(12, '0')}` : `evt-${n}`,
    ts: BASE_TS + i,
    type: TYPES[i & 3],
    user: { id: `u-${n.slice(4)}`, country: COUNTRIES[i % 5] },
    amount: 100_000 + (i % 900_000),
    flag: i & 1,
    payload,
  };
}

/** A generator of events whose JSON is exactly `bytes` long; `keys`: that many distinct ids. */
export function eventsOf(bytes, { keys } = {}) {
  const fixed = JSON.stringify(skeleton(0, '')).length;
  const filler = bytes - fixed;
  if (filler < 0 || filler + 4096 > FILLER_POOL.length) throw new Error(`cannot make ${bytes}-byte events`);
  return {
    bytes,
    keyBytes: 16,
    keys,
    make(i) {
      return skeleton(i, FILLER_POOL.substr(i & 4095, filler), keys);
    },
  };
}

/** Length of one record's `{"Data":"<base64>","PartitionKey":"<key>"}` object. */
export function recordJsonLength(dataBytes, keyBytes) {
  return '{"Data":"","PartitionKey":""}'.length + 4 * Math.ceil(dataBytes / 3) + keyBytes;
}
