#!/usr/bin/env node
// A host program: loads the component (host.mjs), delivers `count` records (records.mjs) with
// one dispatcher, flushes, and prints one JSON line:
//   { report, progress, region, endpoint, amzDates: [first, last], fetchCalls, ms }
// where `report.failed[].payload` is reduced to its tag. Usage:
//   node deliver.mjs '{"endpoint":"http://127.0.0.1:PORT","stream":"s","count":5000,"options":{...}}'
import { loadComponent, TransportFailure } from './host.mjs'
import { createSyncFetch } from './sync-fetch.mjs'
import { recordFor } from './records.mjs'

const config = JSON.parse(process.argv[2])
const transport = createSyncFetch()
const amzDates = []
let fetchCalls = 0

const { dispatcher } = loadComponent({
  fetch (url, init) {
    fetchCalls++
    const date = init.headers.find(([k]) => k === 'x-amz-date')
    if (date) amzDates.push(date[1])
    const answer = transport.fetch(url, init)
    if (answer.timeout) throw new TransportFailure({ tag: 'timeout' })
    if (answer.network !== undefined) throw new TransportFailure({ tag: 'network', val: answer.network })
    return answer
  }
})

const started = Date.now()
const kn = new dispatcher.KinesisBatchDispatcher(config.stream, {
  region: 'us-east-1',
  endpoint: config.endpoint,
  credentials: { accessKeyId: 'AKIDCOMPONENTTEST', secretAccessKey: 'component-secret-never-verified' },
  partitionKeyIdentifier: 'id',
  ...config.options
})
for (let i = 0; i < config.count; i++) {
  const { payload, options } = recordFor(i)
  kn.submitPayload(payload, options)
}
const report = kn.flushPayloads()
const out = {
  report: { ...report, failed: report.failed.map((f) => ({ ...f, payload: f.payload.tag })) },
  progress: kn.progress(),
  region: kn.region(),
  endpoint: kn.endpoint(),
  amzDates: [amzDates[0], amzDates.at(-1)],
  fetchCalls,
  ms: Date.now() - started
}
process.stdout.write(JSON.stringify(out, (k, v) => (typeof v === 'bigint' ? Number(v) : v)) + '\n')
await transport.close()
