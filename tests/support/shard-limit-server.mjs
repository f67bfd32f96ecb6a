// A Kinesis server that throttles per shard, as the service does: at most recordsPerSecond
// records and bytesPerSecond bytes per shard per wall-clock second. In-process, Node built-ins
// only, on 127.0.0.1. It speaks just enough of the Kinesis JSON 1.1 protocol for a producer:
// PutRecords, PutRecord, ListShards and DescribeStreamSummary. Signatures are not checked.
// See README.md next to this file.

import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import { listenLocal } from './servers.mjs';

const JSON_CT = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'Kinesis_20131202.';
const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
/** Bodies over this are answered 413 (the service's request limit). */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;
const DRAIN_LIMIT = 64 * 1024 * 1024; // past this, an oversized body is not even read: the socket is destroyed
const MAX_RECORDS_PER_REQUEST = 500;
const HASH_SPACE = 1n << 128n;
const MAX_HASH_KEY = HASH_SPACE - 1n;
const CONTROL_PLANE = ['ListShards', 'DescribeStreamSummary'];

// ---------------------------------------------------------------------------------------------
// Hash keys and shard ranges
// ---------------------------------------------------------------------------------------------

/** MD5 of the partition key's UTF-8 bytes as a big-endian u128, or the explicit hash key. → bigint */
export function hashKeyOf(partitionKey, explicitHashKey) {
  if (explicitHashKey !== undefined && explicitHashKey !== null) return parseHashKey(explicitHashKey);
  return BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
}

function parseHashKey(value) {
  if (typeof value !== 'string' || !/^\d{1,39}$/.test(value) || BigInt(value) > MAX_HASH_KEY) {
    throw new ApiError(
      400,
      'InvalidArgumentException',
      `Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was ${value}`,
    );
  }
  return BigInt(value);
}

/** The ranges CreateStream gives n shards: width floor(2^128 / n), the last shard takes the rest. → [{ start, end }] (bigint) */
export function evenShardRanges(n) {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`shard count must be a positive integer, got ${n}`);
  const width = HASH_SPACE / BigInt(n);
  return Array.from({ length: n }, (_, i) => ({
    start: BigInt(i) * width,
    end: i === n - 1 ? MAX_HASH_KEY : BigInt(i + 1) * width - 1n,
  }));
}

const shardIdOf = (number) => `shardId-${String(number).padStart(12, '0')}`;

/** 56-digit sequence numbers, increasing per shard (the shard number is in the high digits). */
const SEQ_BASE = 49n * 10n ** 54n;
const sequenceNumberOf = (shardNumber, n) => (SEQ_BASE + BigInt(shardNumber) * 10n ** 36n + BigInt(n)).toString();

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

function sendJson(res, status, body, extraHeaders = {}) {
  if (res.destroyed || res.writableEnded) return;
  const payload = Buffer.from(JSON.stringify(body));
  try {
    res.writeHead(status, {
      'content-type': JSON_CT,
      'content-length': payload.length,
      'x-amzn-requestid': randomUUID(),
      ...extraHeaders,
    });
    res.end(payload);
  } catch {
    /* client gone */
  }
}

const sendError = (res, status, type, message) =>
  sendJson(res, status, { __type: type, message }, { 'x-amzn-errortype': type });

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/**
 * startShardLimitServer(options) → { url, endpoint, stream, streamArn, stats(), records(), shards(),
 *   shardFor(partitionKey, explicitHashKey?), reshard(newShardCount), close() }
 *
 * options:
 *   shards = 4, recordsPerSecond = 1000, bytesPerSecond = 1048576, stream = 'limited'
 *   pageSize = 2           ListShards returns at most this many shards per page (and at most MaxResults)
 *   maxRecordSizeKiB       if given, DescribeStreamSummary reports it as MaxRecordSizeInKiB
 *   denyControlPlane       true (ListShards and DescribeStreamSummary) or a list of actions: 400 AccessDeniedException
 *   reshardAfter           { accepted: N, shards: M }: once N records were accepted, the next Put request
 *                          first re-splits the stream into M new shards
 *   now = Date.now         clock in ms (the rate window is Math.floor(now() / 1000))
 *   port = 0
 */
export async function startShardLimitServer({
  shards: shardCount = 4,
  recordsPerSecond = 1000,
  bytesPerSecond = 1048576,
  stream = 'limited',
  pageSize = 2,
  maxRecordSizeKiB,
  denyControlPlane = false,
  reshardAfter,
  now = Date.now,
  port = 0,
} = {}) {
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError('pageSize must be a positive integer');
  if (reshardAfter && !(Number.isInteger(reshardAfter.accepted) && Number.isInteger(reshardAfter.shards))) {
    throw new TypeError('reshardAfter must be { accepted: integer, shards: integer }');
  }
  const streamArn = `arn:aws:kinesis:${REGION}:${ACCOUNT}:stream/${stream}`;
  const createdAt = Math.floor(now() / 1000);
  const denied = new Set(
    denyControlPlane === true ? CONTROL_PLANE : Array.isArray(denyControlPlane) ? denyControlPlane : [],
  );

  /** Every shard ever, in creation order (= shard id order). */
  const allShards = [];
  let nextShardNumber = 0;
  let reshardDone = false;

  const counters = { throttled: 0, accepted: 0, requests: 0, byAction: {} };

  function openShards() {
    return allShards.filter((s) => s.open);
  }

  function createShards(n, parents = []) {
    return evenShardRanges(n).map(({ start, end }) => {
      const number = nextShardNumber++;
      const parent = parents.find((p) => p.start <= start && start <= p.end);
      const shard = {
        number,
        id: shardIdOf(number),
        start,
        end,
        open: true,
        parentId: parent?.id,
        counter: 0,
        endingSequenceNumber: undefined,
        window: -1,
        windowRecords: 0,
        windowBytes: 0,
        accepted: 0,
        throttled: 0,
        bytes: 0,
        stored: [],
      };
      allShards.push(shard);
      return shard;
    });
  }

  function reshard(newShardCount) {
    evenShardRanges(newShardCount); // validates the count before anything is closed
    const old = openShards();
    for (const s of old) {
      s.open = false;
      s.endingSequenceNumber = sequenceNumberOf(s.number, s.counter); // its last record's (or its start)
    }
    return createShards(newShardCount, old).map((s) => s.id);
  }

  createShards(shardCount);

  function shardForHash(hash) {
    const shard = openShards().find((s) => s.start <= hash && hash <= s.end);
    if (!shard) throw new Error(`no open shard holds hash key ${hash}`); // cannot happen: the ranges cover the space
    return shard;
  }

  function checkStream(body) {
    const name = body.StreamName;
    const arn = body.StreamARN;
    if (name === undefined && arn === undefined) {
      throw new ApiError(400, 'InvalidArgumentException', 'Either StreamName or StreamARN should be provided.');
    }
    if ((name !== undefined && name !== stream) || (arn !== undefined && arn !== streamArn)) {
      throw new ApiError(400, 'ResourceNotFoundException', `Stream ${name ?? arn} under account ${ACCOUNT} not found.`);
    }
  }

  /** Validate one request record; → { hash, data: Buffer, bytes } */
  function parseRecord(rec, where) {
    if (!rec || typeof rec !== 'object') throw new ApiError(400, 'SerializationException', `${where} is not an object`);
    const pk = rec.PartitionKey;
    if (typeof pk !== 'string' || pk.length < 1 || pk.length > 256) {
      throw new ApiError(
        400,
        'ValidationException',
        `1 validation error detected: Value at '${where}.partitionKey' failed to satisfy constraint: Member must have length between 1 and 256`,
      );
    }
    if (typeof rec.Data !== 'string' || rec.Data.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(rec.Data)) {
      throw new ApiError(400, 'SerializationException', `${where}.Data is not valid base64`);
    }
    const data = Buffer.from(rec.Data, 'base64');
    const hash = hashKeyOf(pk, rec.ExplicitHashKey);
    return {
      hash,
      data,
      bytes: data.length + Buffer.byteLength(pk, 'utf8'),
      partitionKey: pk,
      ehk: rec.ExplicitHashKey,
    };
  }

  /** Accept or throttle one parsed record at window `second`. → { shard, sequenceNumber } | { shard, throttled: true } */
  function put(parsed, second) {
    const shard = shardForHash(parsed.hash);
    if (shard.window !== second) {
      shard.window = second;
      shard.windowRecords = 0;
      shard.windowBytes = 0;
    }
    if (shard.windowRecords + 1 > recordsPerSecond || shard.windowBytes + parsed.bytes > bytesPerSecond) {
      shard.throttled++;
      counters.throttled++;
      return { shard, throttled: true };
    }
    shard.windowRecords++;
    shard.windowBytes += parsed.bytes;
    shard.accepted++;
    shard.bytes += parsed.bytes;
    counters.accepted++;
    shard.counter++;
    const sequenceNumber = sequenceNumberOf(shard.number, shard.counter);
    const stored = { shardId: shard.id, sequenceNumber, partitionKey: parsed.partitionKey, data: parsed.data };
    if (parsed.ehk !== undefined && parsed.ehk !== null) stored.explicitHashKey = parsed.ehk;
    shard.stored.push(stored);
    return { shard, sequenceNumber };
  }

  const throttleMessage = (shard) =>
    `Rate exceeded for shard ${shard.id} in stream ${stream} under account ${ACCOUNT}.`;

  function maybeReshard() {
    if (reshardAfter && !reshardDone && counters.accepted >= reshardAfter.accepted) {
      reshardDone = true;
      reshard(reshardAfter.shards);
    }
  }

  function shardJson(s) {
    const out = {
      ShardId: s.id,
      HashKeyRange: { StartingHashKey: s.start.toString(), EndingHashKey: s.end.toString() },
      SequenceNumberRange: { StartingSequenceNumber: sequenceNumberOf(s.number, 0) },
    };
    if (s.parentId) out.ParentShardId = s.parentId;
    if (!s.open) out.SequenceNumberRange.EndingSequenceNumber = s.endingSequenceNumber;
    return out;
  }

  const actions = {
    PutRecords(body) {
      checkStream(body);
      const list = body.Records;
      if (!Array.isArray(list) || list.length < 1 || list.length > MAX_RECORDS_PER_REQUEST) {
        throw new ApiError(
          400,
          'ValidationException',
          `1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and ${MAX_RECORDS_PER_REQUEST}`,
        );
      }
      const parsed = list.map((r, i) => parseRecord(r, `records.${i + 1}.member`));
      maybeReshard();
      const second = Math.floor(now() / 1000);
      let failed = 0;
      const entries = parsed.map((p) => {
        const r = put(p, second);
        if (r.throttled) {
          failed++;
          return { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: throttleMessage(r.shard) };
        }
        return { SequenceNumber: r.sequenceNumber, ShardId: r.shard.id };
      });
      return { FailedRecordCount: failed, Records: entries, EncryptionType: 'NONE' };
    },

    PutRecord(body) {
      checkStream(body);
      const parsed = parseRecord(body, 'record');
      maybeReshard();
      const r = put(parsed, Math.floor(now() / 1000));
      if (r.throttled) throw new ApiError(400, 'ProvisionedThroughputExceededException', throttleMessage(r.shard));
      return { ShardId: r.shard.id, SequenceNumber: r.sequenceNumber, EncryptionType: 'NONE' };
    },

    ListShards(body) {
      let filter;
      let after;
      if (body.NextToken !== undefined) {
        if (body.StreamName !== undefined) {
          throw new ApiError(400, 'InvalidArgumentException', 'NextToken and StreamName cannot be provided together.');
        }
        let token;
        try {
          token = JSON.parse(Buffer.from(String(body.NextToken), 'base64url').toString('utf8'));
        } catch {
          token = undefined;
        }
        if (!token || token.stream !== stream)
          throw new ApiError(400, 'InvalidArgumentException', 'Invalid NextToken.');
        filter = token.filter;
        after = token.after;
      } else {
        checkStream(body);
        filter = body.ShardFilter?.Type;
        if (filter === 'AFTER_SHARD_ID') after = body.ShardFilter.ShardId;
        if (body.ExclusiveStartShardId !== undefined) after = body.ExclusiveStartShardId;
      }
      const max = body.MaxResults;
      if (max !== undefined && !(Number.isInteger(max) && max >= 1 && max <= 10000)) {
        throw new ApiError(
          400,
          'ValidationException',
          `1 validation error detected: Value '${max}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 10000`,
        );
      }
      const limit = Math.min(max ?? pageSize, pageSize);
      const all = allShards.filter(
        (s) => (filter === 'AT_LATEST' ? s.open : true) && (after === undefined || s.id > after),
      );
      const page = all.slice(0, limit);
      const out = { Shards: page.map(shardJson) };
      if (all.length > page.length) {
        const token = { stream, filter, after: page[page.length - 1].id, at: Date.now() };
        out.NextToken = Buffer.from(JSON.stringify(token)).toString('base64url');
      }
      return out;
    },

    DescribeStreamSummary(body) {
      checkStream(body);
      const summary = {
        StreamName: stream,
        StreamARN: streamArn,
        StreamStatus: 'ACTIVE',
        StreamModeDetails: { StreamMode: 'PROVISIONED' },
        RetentionPeriodHours: 24,
        StreamCreationTimestamp: createdAt,
        EnhancedMonitoring: [{ ShardLevelMetrics: [] }],
        EncryptionType: 'NONE',
        OpenShardCount: openShards().length,
        ConsumerCount: 0,
      };
      if (maxRecordSizeKiB !== undefined) summary.MaxRecordSizeInKiB = maxRecordSizeKiB;
      return { StreamDescriptionSummary: summary };
    },
  };

  function handle(req, res, body) {
    counters.requests++;
    const target = String(req.headers['x-amz-target'] ?? '');
    const action = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
    const key = action || '(none)';
    counters.byAction[key] = (counters.byAction[key] ?? 0) + 1;
    if (req.method !== 'POST' || !Object.hasOwn(actions, action)) {
      sendError(res, 400, 'UnknownOperationException', `Unknown operation ${JSON.stringify(target)}`);
      return;
    }
    if (denied.has(action)) {
      sendError(
        res,
        400,
        'AccessDeniedException',
        `User: arn:aws:iam::${ACCOUNT}:user/test is not authorized to perform: kinesis:${action} on resource: ${streamArn} because no identity-based policy allows the kinesis:${action} action`,
      );
      return;
    }
    let parsed;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      sendError(res, 400, 'SerializationException', 'The request body is not a JSON object');
      return;
    }
    try {
      sendJson(res, 200, actions[action](parsed));
    } catch (err) {
      if (err instanceof ApiError) sendError(res, err.status, err.type, err.message);
      else sendError(res, 500, 'InternalFailure', String(err?.stack ?? err));
    }
  }

  const server = http.createServer({ keepAliveTimeout: 65000, requestTimeout: 0 }, (req, res) => {
    const chunks = [];
    let size = 0;
    req.on('error', () => {});
    res.on('error', () => {});
    req.on('data', (c) => {
      size += c.length;
      if (size > DRAIN_LIMIT) {
        req.destroy();
        return;
      }
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) {
        counters.requests++;
        counters.byAction['(too large)'] = (counters.byAction['(too large)'] ?? 0) + 1;
        sendJson(res, 413, { message: `Request body of ${size} bytes is over the ${MAX_BODY_BYTES}-byte limit` });
        return;
      }
      handle(req, res, Buffer.concat(chunks));
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  const url = await listenLocal(server, port);

  let closing;
  return {
    url,
    endpoint: url,
    stream,
    streamArn,
    /** { perShard: { [shardId]: { accepted, throttled, bytes } }, throttled, accepted, requests, byAction } (a copy) */
    stats() {
      const perShard = {};
      for (const s of allShards) perShard[s.id] = { accepted: s.accepted, throttled: s.throttled, bytes: s.bytes };
      return {
        perShard,
        throttled: counters.throttled,
        accepted: counters.accepted,
        requests: counters.requests,
        byAction: { ...counters.byAction },
      };
    },
    /** Accepted records, shard by shard in shard-id order, in sequence order within a shard:
     * [{ shardId, sequenceNumber, partitionKey, explicitHashKey?, data: Buffer }] (copies) */
    records() {
      return allShards.flatMap((s) => s.stored.map((r) => ({ ...r, data: Buffer.from(r.data) })));
    },
    /** Every shard ever: [{ shardId, startingHashKey, endingHashKey, open }] (decimal strings) */
    shards() {
      return allShards.map((s) => ({
        shardId: s.id,
        startingHashKey: s.start.toString(),
        endingHashKey: s.end.toString(),
        open: s.open,
      }));
    },
    /** The open shard a record with this key goes to now. */
    shardFor(partitionKey, explicitHashKey) {
      return shardForHash(hashKeyOf(partitionKey, explicitHashKey)).id;
    },
    /** Close every open shard and split the hash key space evenly into newShardCount new shards. → new shard ids */
    reshard,
    close() {
      closing ??= new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
