// The no-op transport of workloads 1-3: every request is answered at once with a canned
// PutRecords success for as many records as the body holds. Records in a workload have one
// fixed JSON length (events.mjs), so the count follows from the body length; a body's framing
// (stream name, brackets) is far shorter than half a record, so rounding gives it exactly.

export function cannedAnswers(recordJson) {
  const cache = new Map();
  const one =
    '{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ShardId":"shardId-000000000000"}';
  return {
    count(bodyLength) {
      return Math.round(bodyLength / (recordJson + 1));
    },
    /** The answer body as bytes for a body of this many bytes (cached per record count). */
    bytesFor(bodyLength) {
      const n = this.count(bodyLength);
      let bytes = cache.get(n);
      if (!bytes) {
        bytes = new TextEncoder().encode(`{"FailedRecordCount":0,"Records":[${new Array(n).fill(one).join(',')}]}`);
        cache.set(n, bytes);
      }
      return bytes;
    },
  };
}

const emptyHeaders = { get: () => null, has: () => false, forEach() {} };

/**
 * A `fetch` that sends nothing: it resolves with a Response-like object holding the canned
 * answer. `onRequest` is called for every request (the harness samples RSS there).
 */
export function noopFetch(answers, onRequest) {
  return async (input, init) => {
    const body = init?.body ?? input?.body;
    onRequest?.();
    const bytes = answers.bytesFor(body.length ?? body.byteLength);
    return {
      ok: true,
      status: 200,
      headers: emptyHeaders,
      arrayBuffer: async () => bytes.slice().buffer,
      text: async () => new TextDecoder().decode(bytes),
      json: async () => JSON.parse(new TextDecoder().decode(bytes)),
    };
  };
}
