// Contender: the package as it was before this round's change (another build, outside the repo),
// through the same loop as kinesis-batch.mjs: one submitPayload per record, the same options.
// KB_BEFORE_PKG is the absolute path of that build's pkg/ folder; run.mjs adds this contender
// only when it is set, so "before" and "after" run in the same process, rounds and order.
import { pathToFileURL } from 'node:url';
import { runWith } from './kinesis-batch.mjs';

export const name = 'kinesis-batch (before)';

const pkgDir = process.env.KB_BEFORE_PKG;
if (!pkgDir) throw new Error('kinesis-batch (before): set KB_BEFORE_PKG to the pkg/ folder of the build to compare');
const { KinesisBatchDispatcher } = await import(pathToFileURL(`${pkgDir}/node.js`).href);

export const run = runWith(KinesisBatchDispatcher, name);
