// 'kinesis-batch/slim': the caller supplies the wasm, then uses the same API.
import { init, KinesisBatchDispatcher, KinesisBatchError, type WasmSource } from 'kinesis-batch/slim';

const sources: WasmSource[] = [new URL('https://cdn.example/kinesis_batch.wasm'), '/kinesis_batch.wasm', new ArrayBuffer(8), new Uint8Array(8)];
console.log(sources.length);

await init(fetch('/kinesis_batch.wasm'), {
  environment: () => ({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example-secret' } }),
});
const kn = new KinesisBatchDispatcher('MyStream');
await kn.submitPayload({ ok: true });
const report = await kn.flushPayloads();
if (report.failed.length > 0) throw new KinesisBatchError('Aborted', `${report.failed.length} records failed`);

// @ts-expect-error init needs the wasm
await init();
