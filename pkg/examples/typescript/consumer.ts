// A TypeScript consumer that uses every option and every export of 'kinesis-batch'.
// Checked by `tsc --noEmit -p tsconfig.json` (see tests/runtimes/types.test.mjs). The lines
// marked as expected errors at the end prove the types are strict, not `any`.
import {
  KinesisBatchDispatcher,
  KinesisBatchError,
  planBatches,
  hashKeyOf,
  shardIndexFor,
  type BatchPlan,
  type Credentials,
  type FailedRecord,
  type FlushReport,
  type KinesisBatchErrorCode,
  type KinesisBatchOptions,
  type KinesisFetch,
  type Payload,
  type Progress,
} from 'kinesis-batch';

interface Order {
  id: string;
  type: string;
  price: number;
}
type Record_ = Order | Uint8Array | string;

const controller = new AbortController();

// Any function shaped like fetch can carry the requests.
const loggingFetch: KinesisFetch = async (url, init) => {
  const started = Date.now();
  const response = await fetch(url, init);
  console.log(`PutRecords ${response.status} in ${Date.now() - started} ms`);
  return response;
};

// A (possibly async) credentials provider, asked again before `expiration`.
async function refreshCredentials(): Promise<Credentials> {
  return { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example-secret', sessionToken: 'token', expiration: new Date(Date.now() + 3_600_000) };
}

const options: KinesisBatchOptions = {
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:4567',
  credentials: refreshCredentials,
  fetch: loggingFetch,
  partitionKeyIdentifier: 'id',
  maxBatchSize: 500,
  maxRecordBytes: 1_048_576,
  maxRequestBytes: 5_242_880,
  maxAttempts: 8,
  retryBaseDelayMs: 100,
  retryMaxDelayMs: 20_000,
  maxInFlight: 4,
  maxBufferedBytes: 33_554_432,
  maxBufferedTimeMs: 250,
  requestTimeoutMs: 30_000,
  onProgress: (p: Progress) => console.log(p.accepted, p.sent, p.failed, p.inFlight, p.retries, p.requests, p.bufferedBytes),
  signal: controller.signal,
};

export async function main(): Promise<number> {
  const kn = new KinesisBatchDispatcher<Record_>('MyStream', options);
  // Static credentials, a stream ARN, and globalThis.fetch itself.
  const byArn = new KinesisBatchDispatcher('arn:aws:kinesis:us-east-1:123456789012:stream/MyStream', {
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example-secret' },
    fetch: globalThis.fetch,
  });
  console.log(byArn.region, byArn.endpoint);

  await kn.submitPayload({ id: 'a4f3', type: 'furniture', price: 120 });
  await kn.submitPayload(new Uint8Array([1, 2, 3]), { partitionKey: 'k', explicitHashKey: '42' });
  await kn.submitPayload('a line of text', { explicitHashKey: 42n });

  const report: FlushReport<Record_> = await kn.flushPayloads({ signal: AbortSignal.timeout(60_000) });
  const failed: FailedRecord<Record_>[] = report.failed;
  for (const f of failed) console.log(f.payload, f.partitionKey, f.errorCode, f.errorMessage, f.attempts);
  console.log(report.sent, report.requests, report.retries, kn.region, kn.endpoint, kn.progress.sent);

  const payloads: Payload[] = [{ id: '1' }, [1, 2], 3, true, null, 'text', new ArrayBuffer(4), new Uint16Array(2)];
  const plan: BatchPlan = planBatches(payloads, { partitionKeyIdentifier: 'id', maxBatchSize: 10, maxRecordBytes: 1000, maxRequestBytes: 10_000 });
  for (const b of plan.batches) console.log(b.records, b.bytes, b.partitionKeys.join(','), b.indices.length);
  for (const r of plan.rejected) console.log(r.index, r.code, r.message);

  const hash: string = hashKeyOf('pk-1');
  const shard: number = shardIndexFor('pk-1', 4);
  console.log(hash, shard);

  try {
    await kn.submitPayload({ id: 'x'.repeat(300), type: 't', price: 0 });
  } catch (error) {
    if (error instanceof KinesisBatchError) {
      const code: KinesisBatchErrorCode = error.code;
      console.log(error.name, code, error.message, error.option ?? '');
    }
  }

  // @ts-expect-error maxBatchSize is a number
  new KinesisBatchDispatcher('s', { maxBatchSize: '500' });
  // @ts-expect-error misspelt option
  new KinesisBatchDispatcher('s', { maxBatchSzie: 500 });
  // @ts-expect-error credentials need a secretAccessKey
  new KinesisBatchDispatcher('s', { credentials: { accessKeyId: 'a' } });
  // @ts-expect-error the payload type was fixed to Record_
  await kn.submitPayload(12);
  // @ts-expect-error explicitHashKey is a decimal string or a bigint
  await kn.submitPayload('x', { explicitHashKey: 42 });
  // @ts-expect-error shardIndexFor needs a shard count
  shardIndexFor('pk-1');

  controller.abort();
  return failed.length;
}
