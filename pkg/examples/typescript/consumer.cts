// The CommonJS side: `require` resolves the `require` condition (node.cjs, index.d.cts).
import kinesis = require('kinesis-batch');

export async function sendOne(stream: string): Promise<number> {
  const kn = new kinesis.KinesisBatchDispatcher(stream, {
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example-secret' },
  });
  await kn.submitPayload({ hello: 'world' });
  const report: kinesis.FlushReport = await kn.flushPayloads();
  if (report.failed[0] && report.failed[0].errorCode === 'ResourceNotFoundException') throw new kinesis.KinesisBatchError('InvalidOption', 'no stream', { option: 'stream' });
  return report.sent + kinesis.shardIndexFor('k', 2) + kinesis.hashKeyOf('k').length;
}
