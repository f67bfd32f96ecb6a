// Contender: @aws-sdk/client-kinesis PutRecordsCommand, batches made by hand (500 records or
// 5 MiB, whichever comes first), at most `maxInFlight` commands at once, NodeHttpHandler for
// HTTP. Against the no-op target its requestHandler answers at once with a canned 200, so the
// SDK still serialises, hashes, signs and deserialises every request.
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { AWS_URL, CREDENTIALS, MAX_BATCH, MAX_REQUEST_BYTES, REGION, STREAM, semaphore } from './common.mjs';

export const name = 'aws-sdk';

function noopHandler(answers, onRequest) {
  return {
    metadata: { handlerProtocol: 'http/1.1' },
    async handle(request) {
      onRequest();
      const body = request.body;
      return {
        response: {
          statusCode: 200,
          reason: 'OK',
          headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'bench' },
          body: answers.bytesFor(typeof body === 'string' ? body.length : body.byteLength).slice(),
        },
      };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs() {
      return {};
    },
    destroy() {},
  };
}

export async function run({ gen, count, target, onRequest, maxInFlight = 4 }) {
  let requestHandler;
  if (target.answers) {
    requestHandler = noopHandler(target.answers, onRequest);
  } else {
    const http = new NodeHttpHandler();
    requestHandler = {
      metadata: http.metadata,
      handle: (request, options) => {
        onRequest();
        return http.handle(request, options);
      },
      updateHttpClientConfig: (k, v) => http.updateHttpClientConfig(k, v),
      httpHandlerConfigs: () => http.httpHandlerConfigs(),
      destroy: () => http.destroy(),
    };
  }
  const client = new KinesisClient({
    region: REGION,
    endpoint: target.url ?? AWS_URL,
    credentials: CREDENTIALS,
    requestHandler,
  });
  const slots = semaphore(maxInFlight);
  const pending = new Set();
  let sent = 0;
  let requests = 0;
  let failure = null;

  const send = async (records) => {
    requests++;
    try {
      const out = await client.send(new PutRecordsCommand({ StreamName: STREAM, Records: records }));
      if (out.FailedRecordCount > 0) {
        // Send only the failed ones again (does not happen against the sink or the no-op).
        const again = records.filter((_, i) => out.Records[i].ErrorCode);
        sent += records.length - again.length;
        return send(again);
      }
      sent += records.length;
    } catch (error) {
      failure = error;
    }
  };
  const start = async (records) => {
    await slots.acquire();
    const p = send(records).finally(() => {
      slots.release();
      pending.delete(p);
    });
    pending.add(p);
  };

  let batch = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const event = gen.make(i);
    const data = Buffer.from(JSON.stringify(event));
    const key = event.id;
    const size = data.length + Buffer.byteLength(key);
    if (batch.length === MAX_BATCH || bytes + size > MAX_REQUEST_BYTES) {
      await start(batch);
      batch = [];
      bytes = 0;
    }
    batch.push({ Data: data, PartitionKey: key });
    bytes += size;
  }
  if (batch.length) await start(batch);
  await Promise.all(pending);
  client.destroy();
  if (failure) throw failure;
  if (sent !== count) throw new Error(`aws-sdk: sent ${sent} of ${count}`);
  return { requests };
}
