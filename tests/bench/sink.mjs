// The fast sink of workload 4 and the streaming test: an HTTP server on 127.0.0.1 that takes
// PutRecords, parses each body, checks it against Kinesis's limits, and acknowledges every
// record. It runs as its own process, so its CPU is not charged to the client being measured.
// Prints `{"port":N}` on stdout once listening. GET /stats gives the totals; POST /reset zeroes them.
import http from 'node:http';

const MAX_RECORDS = 500;
const MAX_RECORD_BYTES = 1024 * 1024;
const MAX_REQUEST_BYTES = 5 * 1024 * 1024;
const ONE =
  '{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ShardId":"shardId-000000000000"}';
const answers = new Map();
let stats = { requests: 0, records: 0, dataBytes: 0, rejected: 0 };

function answerFor(n) {
  let a = answers.get(n);
  if (!a) {
    a = Buffer.from(`{"FailedRecordCount":0,"Records":[${new Array(n).fill(ONE).join(',')}]}`);
    answers.set(n, a);
  }
  return a;
}

function base64Length(s) {
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

/** Why the request breaks a limit, or null. */
function check(req, body) {
  if (req.headers['x-amz-target'] !== 'Kinesis_20131202.PutRecords') return 'bad X-Amz-Target';
  if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 Credential=')) return 'not signed';
  if (!req.headers['x-amz-date']) return 'no X-Amz-Date';
  const records = body.Records;
  if (!Array.isArray(records) || records.length < 1 || records.length > MAX_RECORDS) return 'bad record count';
  if (body.StreamName !== 'bench') return 'bad StreamName';
  let total = 0;
  for (const r of records) {
    if (typeof r.Data !== 'string' || r.Data.length % 4 !== 0) return 'bad Data';
    const key = r.PartitionKey;
    if (typeof key !== 'string' || key.length < 1 || key.length > 256) return 'bad PartitionKey';
    const size = base64Length(r.Data) + Buffer.byteLength(key);
    if (size > MAX_RECORD_BYTES) return 'record too large';
    total += size;
  }
  if (total > MAX_REQUEST_BYTES) return 'request too large';
  return null;
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.setHeader('content-type', 'application/json');
    return res.end(JSON.stringify(stats));
  }
  if (req.method === 'POST' && req.url === '/reset') {
    stats = { requests: 0, records: 0, dataBytes: 0, rejected: 0 };
    return res.end('{}');
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body;
    let problem;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      problem = check(req, body);
    } catch (error) {
      problem = `unreadable body: ${error.message}`;
    }
    res.setHeader('content-type', 'application/x-amz-json-1.1');
    if (problem) {
      stats.rejected++;
      res.statusCode = 400;
      res.setHeader('x-amzn-errortype', 'ValidationException');
      return res.end(JSON.stringify({ __type: 'ValidationException', message: problem }));
    }
    stats.requests++;
    stats.records += body.Records.length;
    res.end(answerFor(body.Records.length));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
// Stop with the parent.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
