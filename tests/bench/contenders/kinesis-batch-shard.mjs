// Contenders of workloads 5-6 (issue 13): this package's submitPayload loop (kinesis-batch.mjs,
// the same options: partitionKeyIdentifier 'id', maxInFlight 4, the rest at their defaults)
// with the shard-aware options added. KB_PKG points at another build, as for kinesis-batch.mjs.
import { pathToFileURL } from 'node:url';
import { run as plain, runWith } from './kinesis-batch.mjs';

const { KinesisBatchDispatcher } = await import(
  process.env.KB_PKG ? pathToFileURL(`${process.env.KB_PKG}/node.js`).href : '../../../pkg/node.js'
);
const variant = (label, options) => runWith(KinesisBatchDispatcher, label, options);

export const VARIANTS = {
  'kinesis-batch': plain,
  'kinesis-batch (aggregate)': variant('kinesis-batch (aggregate)', { aggregate: true }),
  'kinesis-batch (ordered)': variant('kinesis-batch (ordered)', { ordered: true }),
  'kinesis-batch (ordered, aggregate)': variant('kinesis-batch (ordered, aggregate)', {
    ordered: true,
    aggregate: true,
  }),
};
