#!/usr/bin/env node
// A host program: loads the component (host.mjs), delivers `count` records (records.mjs) with
// one dispatcher, flushes, and prints one JSON line:
//   { report, progress, region, endpoint, amzDates: [first, last], fetchCalls, ms }
// where `report.failed[].payload` is reduced to its tag, plus `signedBy` (each request's access
// key id) and `credentialsCalls` (calls to the credentials import). With "credentialsImport":
// true the dispatcher gets no `credentials` option: the credentials import issues
// AKIDIMPORTED1, AKIDIMPORTED2, ... one per call. Usage:
//   node deliver.mjs '{"endpoint":"http://127.0.0.1:PORT","stream":"s","count":5000,"options":{...}}'
import { loadComponent, TransportFailure } from './host.mjs';
import { createSyncFetch } from './sync-fetch.mjs';
import { recordFor } from './records.mjs';

const config = JSON.parse(process.argv[2]);
const transport = createSyncFetch();
const SECRET = 'component-secret-never-verified';
const amzDates = [];
const signedBy = [];
let fetchCalls = 0;
let credentialsCalls = 0;

const { dispatcher } = loadComponent({
  fetch(url, init) {
    fetchCalls++;
    const date = init.headers.find(([k]) => k === 'x-amz-date');
    if (date) amzDates.push(date[1]);
    const authorization = init.headers.find(([k]) => k === 'authorization')?.[1];
    signedBy.push(/Credential=([A-Z0-9]+)\//.exec(authorization ?? '')?.[1]);
    const answer = transport.fetch(url, init);
    if (answer.timeout) throw new TransportFailure({ tag: 'timeout' });
    if (answer.network !== undefined) throw new TransportFailure({ tag: 'network', val: answer.network });
    return answer;
  },
  credentials() {
    credentialsCalls++;
    return {
      accessKeyId: `AKIDIMPORTED${credentialsCalls}`,
      secretAccessKey: SECRET,
      sessionToken: `session-${credentialsCalls}`,
    };
  },
});

const started = Date.now();
const kn = new dispatcher.KinesisBatchDispatcher(config.stream, {
  region: 'us-east-1',
  endpoint: config.endpoint,
  credentials: config.credentialsImport ? undefined : { accessKeyId: 'AKIDCOMPONENTTEST', secretAccessKey: SECRET },
  partitionKeyIdentifier: 'id',
  ...config.options,
});
for (let i = 0; i < config.count; i++) {
  const { payload, options } = recordFor(i);
  kn.submitPayload(payload, options);
}
const report = kn.flushPayloads();
const out = {
  report: { ...report, failed: report.failed.map((f) => ({ ...f, payload: f.payload.tag })) },
  progress: kn.progress(),
  region: kn.region(),
  endpoint: kn.endpoint(),
  amzDates: [amzDates[0], amzDates.at(-1)],
  fetchCalls,
  signedBy,
  credentialsCalls,
  ms: Date.now() - started,
};
process.stdout.write(JSON.stringify(out, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)) + '\n');
await transport.close();
