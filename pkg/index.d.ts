// Types for kinesis-batch: the same API from every entry point (node, deno, workerd, browser,
// default, CommonJS require, and 'kinesis-batch/slim', which adds `init`).
// Needs TypeScript 5.7 or newer (generic typed arrays) and a lib with fetch and AbortSignal
// ("DOM", or @types/node, or @cloudflare/workers-types).

/**
 * What `submitPayload` accepts. Objects, arrays, numbers, booleans and null are sent as JSON;
 * Uint8Array / ArrayBuffer / other typed arrays as their raw bytes; a string as its UTF-8 bytes.
 */
export type Payload = string | number | boolean | null | object | ArrayBuffer | ArrayBufferView;

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When the credentials expire; the provider is asked again 5 minutes before. */
  expiration?: Date | string | number;
}

/** Called whenever credentials are needed (first use, near expiry, ExpiredTokenException). */
export type CredentialsProvider = () => Credentials | Promise<Credentials>;

/** What the dispatcher passes to the injected `fetch`. */
export interface KinesisFetchInit {
  method: 'POST';
  headers: Record<string, string>;
  body: Uint8Array<ArrayBuffer>;
  signal: AbortSignal;
}

/** The parts of a fetch Response the dispatcher reads. */
export interface KinesisFetchResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** The injected transport: `globalThis.fetch` fits, and so does any function with this shape. */
export type KinesisFetch = (url: string, init: KinesisFetchInit) => Promise<KinesisFetchResponse>;

/** Running totals since the dispatcher was created. */
export interface Progress {
  /** Records accepted by submitPayload. */
  accepted: number;
  /** Records acknowledged by Kinesis. */
  sent: number;
  /** Records that ended in a report's `failed`. */
  failed: number;
  /** PutRecords requests in flight. */
  inFlight: number;
  /** Retried records and requests. */
  retries: number;
  /** PutRecords requests sent. */
  requests: number;
  /** Bytes buffered or in flight. */
  bufferedBytes: number;
  /** Set once when a shard-aware feature falls back (ListShards or DescribeStreamSummary failed). */
  notice?: string;
}

/** Limits shared by the dispatcher and planBatches. */
export interface BatchLimits {
  /**
   * The field of the record's JSON data whose value (a string, a number as written, or a
   * boolean) is the partition key: a top-level name, or a JSON Pointer such as '/customer/id'.
   * Default: a random UUIDv4 per record.
   */
  partitionKeyIdentifier?: string;
  /** Records per PutRecords request, 1..500. Default 500. */
  maxBatchSize?: number;
  /** Data bytes + partition key UTF-8 bytes per record, up to 10485760. Default 1048576. */
  maxRecordBytes?: number;
  /** Sum of record sizes per PutRecords request, up to 10485760. Default 5242880. */
  maxRequestBytes?: number;
}

export interface KinesisBatchOptions extends BatchLimits {
  /** Signing region. Node/Deno default: AWS_REGION, then AWS_DEFAULT_REGION. */
  region?: string;
  /**
   * Endpoint override (local emulators, VPC endpoints), e.g. 'http://127.0.0.1:4567'.
   * Node/Deno default: AWS_ENDPOINT_URL_KINESIS, then AWS_ENDPOINT_URL.
   */
  endpoint?: string;
  /**
   * Static credentials or a (possibly async) provider, called under requestTimeoutMs.
   * Node/Deno default: the AWS default chain (environment, AWS_PROFILE, SSO, web identity, ECS,
   * EC2) when @aws-sdk/credential-providers is installed (an optional dependency), else
   * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
   */
  credentials?: Credentials | CredentialsProvider;
  /** The transport. Default: globalThis.fetch. */
  fetch?: KinesisFetch;
  /** Attempts per record, first try included, 1..100. Default 8. */
  maxAttempts?: number;
  /** Base of the exponential backoff with full jitter, in ms. */
  retryBaseDelayMs?: number;
  /** Ceiling of one backoff delay, in ms (at least retryBaseDelayMs). */
  retryMaxDelayMs?: number;
  /** Concurrent PutRecords requests, 1..256. Default 4. */
  maxInFlight?: number;
  /** submitPayload waits while more than this many bytes are buffered or in flight. Default 33554432. */
  maxBufferedBytes?: number;
  /** Send a partial batch once its oldest record has waited this long (ms); 0 = only on flush. Default 0. */
  maxBufferedTimeMs?: number;
  /** Abort a PutRecords request with no answer after this many ms (then it is retried). */
  requestTimeoutMs?: number;
  /**
   * KPL-format aggregation: records predicted for the same shard (from ListShards) share one
   * Kinesis record; consumers deaggregate them (the KCL, aws-kinesis-agg). Default false.
   */
  aggregate?: boolean;
  /** Largest aggregated record, data + key bytes (default 51200: two 25 KB PUT payload units). */
  maxAggregateBytes?: number;
  /** Store each partition key's records in submit order (one request in flight per shard). */
  ordered?: boolean;
  /** A fraction in (0, 1] of each shard's 1,000 records/s and 1 MiB/s: N producers set 1/N. */
  shardRateLimit?: number;
  /**
   * Read the stream's MaxRecordSize (DescribeStreamSummary) before the first record; on by
   * default with aggregate, ordered or shardRateLimit.
   */
  discoverLimits?: boolean;
  /** Called as requests settle. A throwing or rejecting callback does not break delivery. */
  onProgress?: (progress: Progress) => void | Promise<void>;
  /**
   * Called with records as they finally fail. When set, reports list no failures (their
   * `failedCount` still counts them), so a producer that never flushes stays bounded.
   */
  onFailed?: (failures: FailedRecord[]) => void | Promise<void>;
  /** Aborting it ends the dispatcher: pending records fail with 'Aborted', later submits reject. */
  signal?: AbortSignal;
}

export interface SubmitOptions {
  /** Use this partition key for the record (overrides partitionKeyIdentifier and the random default). */
  partitionKey?: string;
  /** Decimal hash key 0..2^128-1 that picks the shard directly. */
  explicitHashKey?: string | bigint;
}

export interface FlushOptions {
  /** Aborting it fails the records still pending with 'Aborted' and ends this flush. */
  signal?: AbortSignal;
}

// Symbol.asyncDispose for libs older than esnext.disposable (the same declaration as theirs).
declare global {
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol;
  }
}

declare const unknownServiceErrorCode: unique symbol;

/**
 * A service error code this version does not list. It is still reported as the service sent
 * it; the brand keeps a misspelt comparison (`errorCode === 'ResourceNotFoundExeption'`) from
 * compiling. `String(code)` gives the text.
 */
export interface UnknownServiceErrorCode extends String {
  readonly [unknownServiceErrorCode]: true;
}

/** Error codes of the Kinesis service that the retry table names. */
export type ServiceErrorCode =
  | 'ProvisionedThroughputExceededException'
  | 'InternalFailure'
  | 'ThrottlingException'
  | 'LimitExceededException'
  | 'ServiceUnavailable'
  | 'ExpiredTokenException'
  | 'RequestTimeTooSkewed'
  | 'ResourceNotFoundException'
  | 'ResourceInUseException'
  | 'AccessDeniedException'
  | 'UnrecognizedClientException'
  | 'InvalidClientTokenId'
  | 'InvalidSignatureException'
  | 'SignatureDoesNotMatch'
  | 'InvalidArgumentException'
  | 'ValidationException'
  | 'KMSDisabledException'
  | 'KMSInvalidStateException'
  | 'KMSAccessDeniedException'
  | 'KMSNotFoundException'
  | 'KMSOptInRequired'
  | 'KMSThrottlingException';

/** Codes the library gives failed records itself. `Http413` and the like: a status with no code. */
export type LibraryFailureCode =
  | 'NetworkError'
  | 'Timeout'
  | 'MalformedResponse'
  | 'CredentialsUnavailable'
  | 'Aborted'
  | `Http${number}`;

export type FailureCode = ServiceErrorCode | LibraryFailureCode | UnknownServiceErrorCode;

export interface FailedRecord<P = Payload> {
  /** The value that was submitted. */
  payload: P;
  partitionKey: string;
  /** The service's error code (namespace prefix stripped), or one of the library's. */
  errorCode: FailureCode;
  errorMessage: string;
  attempts: number;
}

/** One flush's outcome. `sent + failed.length` is every record that ended since the previous report. */
export interface FlushReport<P = Payload> {
  sent: number;
  requests: number;
  retries: number;
  /** Records that ended in failure since the previous report, listed or not. */
  failedCount: number;
  /** Empty when `onFailed` is set. */
  failed: FailedRecord<P>[];
}

export class KinesisBatchDispatcher<P extends Payload = Payload> {
  /**
   * @param stream a stream name or a stream ARN
   * @throws KinesisBatchError 'InvalidOption' for bad or unknown options (or, outside Node and
   *   Deno, missing credentials),
   *   'NotInitialized' before the wasm is loaded (only with 'kinesis-batch/slim')
   */
  constructor(stream: string, options?: KinesisBatchOptions);
  /** The region requests are signed for. */
  readonly region: string;
  /** Where requests go. */
  readonly endpoint: string;
  /** Running totals. */
  readonly progress: Progress;
  /**
   * Accepts one record; a full batch is sent in the background. Rejects with a KinesisBatchError
   * (RecordTooLarge, MissingPartitionKey, InvalidPartitionKey, InvalidExplicitHashKey,
   * UnserializablePayload) and accepts nothing when the record is invalid. Waits while more than
   * maxBufferedBytes are buffered or in flight.
   */
  submitPayload(payload: P, options?: SubmitOptions): Promise<void>;
  /**
   * Accepts many records at once, each encoded and keyed as submitPayload does it (no per-record
   * options): several times cheaper per record than awaiting submitPayload for each. Invalid
   * records do not stop the others; they are never accepted and are listed in `rejected`.
   * Waits while more than maxBufferedBytes are buffered or in flight.
   */
  submitPayloads(payloads: Iterable<P>): Promise<{ accepted: number; rejected: { index: number; error: KinesisBatchError }[] }>;
  /** Sends everything accepted before the call and waits for each of those records to end. */
  flushPayloads(options?: FlushOptions): Promise<FlushReport<P>>;
  /**
   * Sends one record with PutRecord, under maxInFlight and the same retries; not in flush
   * reports. Rejects with a KinesisBatchError (code, message, attempts) if it is not stored.
   */
  putRecord(
    payload: P,
    options?: SubmitOptions & { sequenceNumberForOrdering?: string },
  ): Promise<{ shardId: string; sequenceNumber: string }>;
  /** Flushes, then rejects every later submit with 'Closed'. */
  close(): Promise<FlushReport<P>>;
  /** `await using kn = new KinesisBatchDispatcher(...)`: closes it. */
  [Symbol.asyncDispose](): Promise<FlushReport<P>>;
}

/** What planBatches takes: the limits, and how the dispatcher would aggregate and over which shards. */
export interface PlanOptions extends BatchLimits {
  /** Plan as the dispatcher sends with `aggregate: true`: records predicted for one shard share KPL aggregates. */
  aggregate?: boolean;
  /** Largest aggregated record, data + key bytes, 64..10485760. Default 51200. */
  maxAggregateBytes?: number;
  /** Predict shards over this many evenly split shards (1..100000), as CreateStream splits them. */
  shardCount?: number;
  /**
   * Predict shards over real ranges: a ListShards answer, as an object or its JSON text (closed
   * shards are left out). Takes precedence over shardCount. Without either, `shards` is empty and
   * aggregation groups by partition key, as the dispatcher does when ListShards fails.
   */
  listShards?: object | string;
}

export interface PlannedBatch {
  /** User records (payloads) in the request. */
  records: number;
  /** Kinesis records in the request: `records` unless aggregated. */
  kinesisRecords: number;
  /** Data + key bytes of the request's Kinesis records. */
  bytes: number;
  partitionKeys: string[];
  /** Indices of the input payloads in this batch. */
  indices: number[];
}

export interface RejectedRecord {
  index: number;
  code: KinesisBatchErrorCode;
  message: string;
}

export interface HotKey {
  partitionKey: string;
  records: number;
  /** Data + key bytes of its records. */
  bytes: number;
}

/** What one shard of the map in use would receive. */
export interface ShardPlan {
  shardId: string;
  /** User records and their data + key bytes. */
  records: number;
  bytes: number;
  kinesisRecords: number;
  payloadUnits: number;
  /** At most 5, most records first (then most bytes, then first seen). */
  hotKeys: HotKey[];
}

export interface BatchPlan {
  batches: PlannedBatch[];
  rejected: RejectedRecord[];
  /** PutRecords requests: `batches.length`. */
  requests: number;
  kinesisRecords: number;
  /** 25 KB PUT payload units: ceil(size / 25600) per Kinesis record, at least 1. */
  payloadUnits: number;
  /** In the shard map's order; empty without shardCount or listShards. */
  shards: ShardPlan[];
}

/** How payloads would be batched, without any network. Random default keys are drawn afresh. */
export function planBatches(payloads: Iterable<Payload>, options?: PlanOptions): BatchPlan;

/** The decimal hash key Kinesis derives from a partition key (MD5 of its UTF-8, big-endian u128). */
export function hashKeyOf(partitionKey: string): string;

/** The index of the shard a partition key lands on among `shardCount` evenly split shards (1..100000). */
export function shardIndexFor(partitionKey: string, shardCount: number): number;

export type KinesisBatchErrorCode =
  | 'InvalidOption'
  | 'NotInitialized'
  | 'RecordTooLarge'
  | 'MissingPartitionKey'
  | 'InvalidPartitionKey'
  | 'InvalidExplicitHashKey'
  | 'UnserializablePayload'
  | 'Aborted'
  | 'Closed';

export class KinesisBatchError extends Error {
  constructor(code: KinesisBatchErrorCode, message: string, details?: { option?: string });
  readonly name: 'KinesisBatchError';
  readonly code: KinesisBatchErrorCode;
  /** For 'InvalidOption': the option at fault. */
  readonly option?: string;
}
