// Contender: the straightforward hand-written batcher a developer might write instead of a
// library: JSON.stringify, Buffer base64, size accounting (500 records or 5 MiB), the body
// joined as a string, aws4fetch for SigV4, at most `maxInFlight` requests at once, and failed
// records sent again.
import { AwsClient } from 'aws4fetch';
import { AWS_URL, CREDENTIALS, MAX_BATCH, MAX_REQUEST_BYTES, REGION, STREAM, semaphore } from './common.mjs';

export const name = 'hand-written';

const HEADERS = { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'Kinesis_20131202.PutRecords' };

export async function run({ gen, count, target, onRequest, maxInFlight = 4 }) {
  const aws = new AwsClient({ ...CREDENTIALS, service: 'kinesis', region: REGION, retries: 0 });
  const url = target.url ?? AWS_URL;
  const transport = target.answers
    ? (_request, bodyLength) => {
        onRequest();
        const bytes = target.answers.bytesFor(bodyLength);
        return { status: 200, json: async () => JSON.parse(new TextDecoder().decode(bytes)) };
      }
    : (request) => {
        onRequest();
        return fetch(request);
      };
  const slots = semaphore(maxInFlight);
  const pending = new Set();
  let sent = 0;
  let requests = 0;
  let failure = null;

  const send = async (parts) => {
    requests++;
    try {
      const body = `{"StreamName":"${STREAM}","Records":[${parts.join(',')}]}`;
      const request = await aws.sign(url, { method: 'POST', headers: HEADERS, body });
      const response = await transport(request, body.length);
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      const out = await response.json();
      if (out.FailedRecordCount > 0) {
        const again = parts.filter((_, i) => out.Records[i].ErrorCode);
        sent += parts.length - again.length;
        return send(again);
      }
      sent += parts.length;
    } catch (error) {
      failure = error;
    }
  };
  const start = async (parts) => {
    await slots.acquire();
    const p = send(parts).finally(() => {
      slots.release();
      pending.delete(p);
    });
    pending.add(p);
  };

  let parts = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const event = gen.make(i);
    const data = Buffer.from(JSON.stringify(event));
    const key = event.id;
    const size = data.length + Buffer.byteLength(key);
    if (parts.length === MAX_BATCH || bytes + size > MAX_REQUEST_BYTES) {
      await start(parts);
      parts = [];
      bytes = 0;
    }
    parts.push(`{"Data":"${data.toString('base64')}","PartitionKey":${JSON.stringify(key)}}`);
    bytes += size;
  }
  if (parts.length) await start(parts);
  await Promise.all(pending);
  if (failure) throw failure;
  if (sent !== count) throw new Error(`hand-written: sent ${sent} of ${count}`);
  return { requests };
}
