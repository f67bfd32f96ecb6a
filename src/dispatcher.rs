//! The sans-IO dispatcher: records in, signed requests out, responses in, outcomes out.
//!
//! Time (milliseconds since the Unix epoch) and randomness are passed in. The host sends each
//! `OutgoingRequest` and reports back with `handle_response` or `handle_transport_error`.
//! Every accepted record ends exactly once: in `take_acked` or in `take_failed`.

use crate::aggregate::max_aggregate_bytes;
use crate::control::{self, PutRecordOutput};
use crate::error::{OptionError, RecordError};
use crate::limits::{whole_in_range, Limits, MAX_RECORD_BYTES, MAX_REQUEST_BYTES};
use crate::packing::{Batch, Packer};
use crate::partition_key::{KeyPath, KeySource};
use crate::record::{accept, Entropy, KeyInput};
use crate::request::{self, put_records_body, render_record, Endpoint, StreamId};
use crate::response::{self, Action, RecordOutcome, ServiceError};
use crate::retry::RetryPolicy;
use crate::shard_map::ShardMap;
use crate::sigv4::{self, Credentials, SignableRequest, Signer, SigningParams, SigningTime};
use crate::stage::{GroupKey, Record, Stage, StageConfig, UserRecord};

pub type RecordId = u64;
pub type RequestId = u64;

pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 32 * 1024 * 1024;
pub const DEFAULT_REQUEST_TIMEOUT_MS: usize = 30_000;
/// The code of records ended by `abort`.
pub const ABORTED: &str = "Aborted";
/// 9999-12-31T23:59:59.999Z: later times are taken as this, so time arithmetic cannot overflow.
const MAX_TIME_MS: u64 = 253_402_300_799_999;
/// After a stream-level error (see `response::is_stream_error`), one request is tried again this
/// long after, or at the next flush: IAM and stream changes take a while to apply.
pub const FAIL_FAST_RETRY_MS: u64 = 5_000;
/// Longest code and message a `FailedRecord` carries, in bytes.
const MAX_CODE_BYTES: usize = 256;
const MAX_MESSAGE_BYTES: usize = 512;

/// Options as the host received them; numbers arrive as JS numbers.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    pub stream: &'a str,
    pub region: Option<&'a str>,
    /// The host environment's region (AWS_REGION, then AWS_DEFAULT_REGION).
    pub environment_region: Option<&'a str>,
    pub endpoint: Option<&'a str>,
    pub partition_key_identifier: Option<&'a str>,
    pub max_batch_size: Option<f64>,
    pub max_record_bytes: Option<f64>,
    pub max_request_bytes: Option<f64>,
    pub max_attempts: Option<f64>,
    pub retry_base_delay_ms: Option<f64>,
    pub retry_max_delay_ms: Option<f64>,
    pub max_in_flight: Option<f64>,
    pub max_buffered_bytes: Option<f64>,
    pub max_buffered_time_ms: Option<f64>,
    pub request_timeout_ms: Option<f64>,
    /// KPL-format aggregation of records predicted for the same shard.
    pub aggregate: Option<bool>,
    pub max_aggregate_bytes: Option<f64>,
    /// Per-key ordering: records of one key are stored in submit order.
    pub ordered: Option<bool>,
    /// A fraction in (0, 1] of a shard's write limits, per predicted shard.
    pub shard_rate_limit: Option<f64>,
    /// Read the stream's own record size limit (DescribeStreamSummary) before the first record.
    pub discover_limits: Option<bool>,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub stream: StreamId,
    pub region: String,
    pub endpoint: Endpoint,
    pub key_source: KeySource,
    pub limits: Limits,
    pub retry: RetryPolicy,
    pub max_in_flight: usize,
    pub max_buffered_bytes: usize,
    /// Send a partial batch once its oldest record has waited this long; 0 is off.
    pub max_buffered_time_ms: u64,
    pub request_timeout_ms: u64,
    /// The shard-aware features, when any is on (they need the shard map).
    pub stage: Option<StageConfig>,
    pub discover_limits: bool,
    /// Whether maxRecordBytes / maxRequestBytes were given (a discovered limit does not raise them).
    pub record_bytes_given: bool,
    pub request_bytes_given: bool,
    /// Where ListShards and DescribeStreamSummary go.
    pub control_endpoint: Endpoint,
}

impl Config {
    pub fn new(o: &Options) -> Result<Self, OptionError> {
        let stream = StreamId::parse(o.stream)?;
        let region = request::resolve_region(&stream, o.region, o.environment_region)?;
        let endpoint = match o.endpoint.filter(|e| !e.is_empty()) {
            Some(url) => Endpoint::parse(url)?,
            None => Endpoint::default_for(&stream, &region),
        };
        let key_source = match o.partition_key_identifier {
            None => KeySource::Random,
            Some(identifier) => KeySource::Path(KeyPath::parse(identifier)?),
        };
        let control_endpoint = match o.endpoint.filter(|e| !e.is_empty()) {
            Some(_) => endpoint.clone(),
            None => Endpoint::control_for(&stream, &region),
        };
        let aggregate = o.aggregate.unwrap_or(false);
        let ordered = o.ordered.unwrap_or(false);
        let rate = match o.shard_rate_limit {
            None => None,
            Some(f) if f > 0.0 && f <= 1.0 => Some(StageConfig::rate_of(f)),
            Some(_) => {
                return Err(OptionError::new(
                    "shardRateLimit",
                    "must be a number above 0 and at most 1 (a fraction of a shard's write limits)",
                ))
            }
        };
        let max_aggregate_bytes = max_aggregate_bytes(o.max_aggregate_bytes)?;
        let stage = (aggregate || ordered || rate.is_some()).then_some(StageConfig { aggregate, max_aggregate_bytes, ordered, rate });
        Ok(Self {
            discover_limits: o.discover_limits.unwrap_or(stage.is_some()),
            stage,
            record_bytes_given: o.max_record_bytes.is_some(),
            request_bytes_given: o.max_request_bytes.is_some(),
            control_endpoint,
            stream,
            region,
            endpoint,
            key_source,
            limits: Limits::new(o.max_batch_size, o.max_record_bytes, o.max_request_bytes)?,
            retry: RetryPolicy::new(o.max_attempts, o.retry_base_delay_ms, o.retry_max_delay_ms)?,
            max_in_flight: whole_in_range("maxInFlight", o.max_in_flight, DEFAULT_MAX_IN_FLIGHT, 1, 256)?,
            max_buffered_bytes: whole_in_range("maxBufferedBytes", o.max_buffered_bytes, DEFAULT_MAX_BUFFERED_BYTES, 1, usize::MAX / 2)?,
            max_buffered_time_ms: whole_in_range("maxBufferedTimeMs", o.max_buffered_time_ms, 0, 0, 86_400_000)? as u64,
            request_timeout_ms: whole_in_range("requestTimeoutMs", o.request_timeout_ms, DEFAULT_REQUEST_TIMEOUT_MS, 1, 3_600_000)? as u64,
        })
    }
}

/// A request for the host to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    pub id: RequestId,
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub record_count: usize,
    /// Data plus key bytes, as Kinesis counts them.
    pub bytes: usize,
}

/// What the host saw come back.
#[derive(Debug, Clone, Copy)]
pub struct HttpResponse<'a> {
    pub status: u16,
    /// The `x-amzn-ErrorType` header, if any.
    pub error_type: Option<&'a str>,
    /// The `Date` header as milliseconds since the epoch, if any.
    pub server_date_ms: Option<u64>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// Connection refused or reset, DNS failure: the request may or may not have arrived.
    Network,
    /// No answer within `requestTimeoutMs`.
    Timeout,
}

impl TransportError {
    pub fn code(self) -> &'static str {
        match self {
            Self::Network => "NetworkError",
            Self::Timeout => "Timeout",
        }
    }
}

/// A record that ended without being acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecord {
    pub id: RecordId,
    pub partition_key: String,
    pub code: String,
    pub message: String,
    pub attempts: u32,
}

/// Running totals since the dispatcher was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub accepted: u64,
    pub sent: u64,
    pub failed: u64,
    /// Requests in flight.
    pub in_flight: u64,
    /// Records sent again after a failure.
    pub retries: u64,
    /// PutRecords requests handed to the host.
    pub requests: u64,
}

struct Waiting {
    not_before_ms: u64,
    batch: Batch<Record>,
}

/// Failing fast after a stream-level error: nothing is sent until `probe_at_ms`, then one
/// request; its answer ends the state or renews it.
struct Blocked {
    error: ServiceError,
    probe_at_ms: u64,
    probe: Option<RequestId>,
}

pub struct Dispatcher {
    config: Config,
    signer: Signer,
    next_record: RecordId,
    next_request: RequestId,
    packer: Packer<Record>,
    /// When the open batch's oldest record was accepted.
    open_since_ms: Option<u64>,
    retries: Vec<Waiting>,
    /// At most maxInFlight (≤ 256) entries: a Vec, because a HashMap costs 5 KB of wasm.
    in_flight: Vec<(RequestId, Batch<Record>)>,
    acked: Vec<RecordId>,
    failed: Vec<FailedRecord>,
    progress: Progress,
    buffered_bytes: usize,
    /// Server time minus local time, learnt from a clock-skew error.
    clock_offset_ms: i64,
    refresh_credentials: bool,
    /// Secrets seen at signing, scrubbed from every message that leaves.
    secrets: Vec<String>,
    blocked: Option<Blocked>,
    /// Shard-aware staging (aggregate, ordered, shardRateLimit); `None` packs with `packer`.
    stage: Option<Stage>,
    shard_map: Option<ShardMap>,
    /// A ListShards listing in progress: the open shards so far and the next page's token.
    map_fetch: Option<MapFetch>,
    /// The map is missing or stale: list the shards again.
    map_wanted: bool,
    /// Listing failed: records are grouped by key only.
    map_failed: bool,
    /// The stream's limits are being read; records wait (see `limits_pending`).
    limits_pending: bool,
    /// Control-plane requests in flight.
    control: Vec<(RequestId, Control)>,
    notices: Vec<String>,
    directs: Vec<Direct>,
    next_direct: u64,
    direct_done: Vec<DirectOutcome>,
    /// The time of the last `poll_request`.
    polled_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    ListShards,
    Limits,
}

struct MapFetch {
    ranges: Vec<(u128, u128, String)>,
    token: Option<String>,
    pages: u32,
}

/// A PutRecord call (`put_record`): one record, its own request, not in any report.
struct Direct {
    handle: u64,
    json: String,
    sequence_number_for_ordering: Option<String>,
    attempts: u32,
    not_before_ms: u64,
    request: Option<RequestId>,
}

/// How a `put_record` call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectOutcome {
    pub handle: u64,
    pub result: Result<PutRecordOutput, DirectFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectFailure {
    pub code: String,
    pub message: String,
    pub attempts: u32,
}

impl Dispatcher {
    pub fn new(config: Config) -> Self {
        Self {
            stage: config.stage.map(Stage::new),
            shard_map: None,
            map_fetch: None,
            map_wanted: config.stage.is_some(),
            map_failed: false,
            limits_pending: config.discover_limits,
            control: Vec::new(),
            notices: Vec::new(),
            directs: Vec::new(),
            next_direct: 0,
            direct_done: Vec::new(),
            polled_ms: 0,
            packer: Packer::new(config.limits),
            config,
            signer: Signer::new(),
            next_record: 0,
            next_request: 0,
            open_since_ms: None,
            retries: Vec::new(),
            in_flight: Vec::new(),
            acked: Vec::new(),
            failed: Vec::new(),
            progress: Progress::default(),
            buffered_bytes: 0,
            clock_offset_ms: 0,
            refresh_credentials: false,
            secrets: Vec::new(),
            blocked: None,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Checks and accepts one record. On error nothing changes.
    pub fn submit(
        &mut self,
        data: &[u8],
        key: KeyInput,
        explicit_hash_key: Option<&str>,
        now_ms: u64,
        entropy: &mut dyn Entropy,
    ) -> Result<RecordId, RecordError> {
        let accepted = self.accept(data, key, explicit_hash_key, entropy)?;
        let id = self.next_record;
        self.next_record += 1;
        self.progress.accepted += 1;
        self.buffered_bytes += accepted.size;
        if let Some(stage) = &mut self.stage {
            let user = UserRecord::new(id, data, accepted.partition_key, explicit_hash_key, accepted.size);
            if let Some(blocked) = self.blocked.as_ref().filter(|b| b.probe.is_none() && now_ms < b.probe_at_ms) {
                let error = blocked.error.clone();
                self.fail_user(user, 0, &error);
                return Ok(id);
            }
            let was_empty = !stage.holds_records();
            match (&self.shard_map, self.map_failed, &self.map_fetch) {
                (Some(_), _, None) | (None, true, None) => stage.place(user, self.shard_map.as_ref(), &self.config.limits),
                _ => stage.unplaced.push(user),
            }
            if was_empty {
                self.open_since_ms = Some(now_ms);
            }
            return Ok(id);
        }
        let record = Record {
            id,
            data: data.into(),
            explicit_hash_key: explicit_hash_key.map(Into::into),
            size: accepted.size,
            partition_key: accepted.partition_key,
            attempts: 0,
            placement: None,
        };
        // Failing fast, before the probe time: the record ends at once with the stream's error,
        // so a producer to a missing stream holds nothing.
        if let Some(blocked) = self.blocked.as_ref().filter(|b| b.probe.is_none() && now_ms < b.probe_at_ms) {
            let error = blocked.error.clone();
            self.fail(record, &error);
            return Ok(id);
        }
        self.packer.push(record);
        // Alone in the open batch (it was empty, or this record closed the one before): its clock starts now.
        match self.packer.open_len() {
            0 => self.open_since_ms = None,
            1 => self.open_since_ms = Some(now_ms),
            _ => {}
        }
        Ok(id)
    }

    /// Closes the open batch so it is sent without waiting for more records. While failing
    /// fast, also lets one request try again now.
    pub fn flush(&mut self) {
        self.close_open_batch();
        if let Some(stage) = &mut self.stage {
            stage.force();
        }
        if let Some(blocked) = &mut self.blocked {
            blocked.probe_at_ms = 0;
        }
    }

    /// Closes the open batch without the rest of `flush` (back-pressure: it could not fill;
    /// linger). Staged, only the open aggregates that could go now close: the others keep
    /// filling while what is before them goes.
    pub fn close_open_batch(&mut self) {
        self.packer.close();
        if let Some(stage) = &mut self.stage {
            stage.force_idle();
        }
        self.open_since_ms = None;
    }

    fn accept(
        &self,
        data: &[u8],
        key: KeyInput,
        explicit_hash_key: Option<&str>,
        entropy: &mut dyn Entropy,
    ) -> Result<crate::record::Accepted, RecordError> {
        accept(&self.config.limits, &self.config.key_source, data, key, explicit_hash_key, entropy)
    }

    /// Whether records must wait for the stream's limits (DescribeStreamSummary) before they
    /// can be checked: the host holds submits until this is false (the answer, a failure or
    /// `requestTimeoutMs`).
    pub fn limits_pending(&self) -> bool {
        self.limits_pending
    }

    /// Notices for the user (a feature falling back), each said once.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    /// The next request to send now, if any: control-plane calls first, then a PutRecord, a
    /// due retry, then a full batch.
    pub fn poll_request(&mut self, now_ms: u64, credentials: &Credentials) -> Option<OutgoingRequest> {
        self.polled_ms = now_ms;
        if let Some(request) = self.poll_control(now_ms, credentials) {
            return Some(request);
        }
        if self.requests_in_flight() >= self.config.max_in_flight {
            return None;
        }
        if self.blocked.as_ref().is_some_and(|b| b.probe.is_some() || now_ms < b.probe_at_ms) {
            return None;
        }
        if let Some(request) = self.poll_direct(now_ms, credentials) {
            return Some(request);
        }
        self.close_if_waited(now_ms);
        let batch = match &mut self.stage {
            Some(stage) => stage.take_batch(&self.config.limits, now_ms, self.config.max_in_flight),
            None => self.take_due_retry(now_ms).or_else(|| self.packer.pop_ready()),
        }?;
        let request = self.send(batch, now_ms, credentials);
        if let Some(blocked) = &mut self.blocked {
            blocked.probe = Some(request.id);
        }
        Some(request)
    }

    fn requests_in_flight(&self) -> usize {
        self.in_flight.len() + self.directs.iter().filter(|d| d.request.is_some()).count()
    }

    fn poll_control(&mut self, now_ms: u64, credentials: &Credentials) -> Option<OutgoingRequest> {
        let asking = |c: Control| self.control.iter().any(|(_, k)| *k == c);
        if self.limits_pending && !asking(Control::Limits) {
            let body = control::describe_stream_summary_body(&self.config.stream);
            return Some(self.control_request(Control::Limits, control::DESCRIBE_STREAM_SUMMARY, body, now_ms, credentials));
        }
        if asking(Control::ListShards) {
            return None;
        }
        if self.map_wanted && self.map_fetch.is_none() {
            self.map_wanted = false;
            self.map_fetch = Some(MapFetch { ranges: Vec::new(), token: None, pages: 0 });
        }
        let fetch = self.map_fetch.as_ref()?;
        let body = control::list_shards_body(&self.config.stream, fetch.token.as_deref().filter(|_| fetch.pages > 0));
        Some(self.control_request(Control::ListShards, control::LIST_SHARDS, body, now_ms, credentials))
    }

    fn control_request(
        &mut self,
        kind: Control,
        target: &'static str,
        body: Vec<u8>,
        now_ms: u64,
        credentials: &Credentials,
    ) -> OutgoingRequest {
        let endpoint = self.config.control_endpoint.clone();
        let request = self.signed(target, body, &endpoint, now_ms, credentials, 0, 0);
        self.control.push((request.id, kind));
        request
    }

    fn poll_direct(&mut self, now_ms: u64, credentials: &Credentials) -> Option<OutgoingRequest> {
        let at = self.directs.iter().position(|d| d.request.is_none() && d.not_before_ms <= now_ms)?;
        let (json, sequence) = {
            let d = &mut self.directs[at];
            d.attempts += 1;
            (d.json.clone(), d.sequence_number_for_ordering.clone())
        };
        // The record's own JSON object, with the stream and the ordering token around it.
        let mut body = control::stream_field(&self.config.stream);
        body.push(',');
        body.push_str(&json[1..json.len() - 1]);
        if let Some(sequence) = sequence {
            body.push_str(",\"SequenceNumberForOrdering\":");
            body.push_str(&serde_json::to_string(&sequence).unwrap_or_default());
        }
        body.push('}');
        let endpoint = self.config.endpoint.clone();
        let request = self.signed(control::PUT_RECORD, body.into_bytes(), &endpoint, now_ms, credentials, 1, 0);
        self.directs[at].request = Some(request.id);
        Some(request)
    }

    /// Accepts one record for a PutRecord call of its own; its outcome comes out of
    /// `take_direct_outcomes` with the handle returned.
    pub fn put_record(
        &mut self,
        data: &[u8],
        key: KeyInput,
        explicit_hash_key: Option<&str>,
        sequence_number_for_ordering: Option<&str>,
        entropy: &mut dyn Entropy,
    ) -> Result<u64, RecordError> {
        let accepted = self.accept(data, key, explicit_hash_key, entropy)?;
        let json = render_record(data, &accepted.partition_key, explicit_hash_key);
        let handle = self.next_direct;
        self.next_direct += 1;
        self.directs.push(Direct {
            handle,
            json,
            sequence_number_for_ordering: sequence_number_for_ordering.map(str::to_owned),
            attempts: 0,
            not_before_ms: 0,
            request: None,
        });
        Ok(handle)
    }

    /// PutRecord calls that ended since the last call.
    pub fn take_direct_outcomes(&mut self) -> Vec<DirectOutcome> {
        std::mem::take(&mut self.direct_done)
    }

    /// When `poll_request` may next have something, if waiting on time rather than a response.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.requests_in_flight() >= self.config.max_in_flight {
            return None;
        }
        let retry = self.retries.iter().map(|w| w.not_before_ms).min();
        let direct = self.directs.iter().filter(|d| d.request.is_none()).map(|d| d.not_before_ms).min();
        let linger = match (self.open_since_ms, self.config.max_buffered_time_ms) {
            (Some(since), wait) if wait > 0 => Some(since.saturating_add(wait)),
            _ => None,
        };
        // Rates are counted per second: the time of the last poll says which second it is.
        let now = self.polled_ms;
        let staged = self.stage.as_ref().and_then(|s| s.next_due(&self.config.limits, now));
        let earliest = retry.into_iter().chain(linger).chain(direct).chain(staged).min();
        let ready = self.packer.has_ready() || self.stage.as_ref().is_some_and(|s| s.has_ready(&self.config.limits, now));
        match &self.blocked {
            Some(b) if b.probe.is_some() => None,
            // Nothing goes out before the probe time; then what is ready is.
            Some(b) if ready => Some(earliest.map_or(b.probe_at_ms, |t| t.max(b.probe_at_ms))),
            Some(b) => earliest.map(|t| t.max(b.probe_at_ms)),
            None => earliest,
        }
    }

    fn close_if_waited(&mut self, now_ms: u64) {
        if let Some(since) = self.open_since_ms {
            let wait = self.config.max_buffered_time_ms;
            if wait > 0 && now_ms >= since.saturating_add(wait) {
                self.close_open_batch();
                // Aggregates that could not go yet (their shard busy) get another wait.
                if self.stage.as_ref().is_some_and(|s| s.has_open()) {
                    self.open_since_ms = Some(now_ms);
                }
            }
        }
    }

    fn take_due_retry(&mut self, now_ms: u64) -> Option<Batch<Record>> {
        let (i, _) = self.retries.iter().enumerate().filter(|(_, w)| w.not_before_ms <= now_ms).min_by_key(|(_, w)| w.not_before_ms)?;
        Some(self.retries.swap_remove(i).batch)
    }

    fn send(&mut self, mut batch: Batch<Record>, now_ms: u64, credentials: &Credentials) -> OutgoingRequest {
        for record in &mut batch.records {
            if record.attempts > 0 {
                self.progress.retries += 1;
            }
            record.attempts += 1;
        }
        let entries: Vec<_> = batch.records.iter().map(Record::entry).collect();
        let body = put_records_body(&self.config.stream, &entries);
        let endpoint = self.config.endpoint.clone();
        let request = self.signed(request::TARGET, body, &endpoint, now_ms, credentials, batch.records.len(), batch.bytes);
        self.progress.requests += 1;
        self.in_flight.push((request.id, batch));
        self.progress.in_flight = self.in_flight.len() as u64;
        request
    }

    /// Signs one request for `target` with the body given.
    #[allow(clippy::too_many_arguments)]
    fn signed(
        &mut self,
        target: &'static str,
        body: Vec<u8>,
        endpoint: &Endpoint,
        now_ms: u64,
        credentials: &Credentials,
        record_count: usize,
        bytes: usize,
    ) -> OutgoingRequest {
        let payload_hash = sigv4::sha256_hex(&body);
        let fixed = [("host", endpoint.host.as_str()), ("content-type", request::CONTENT_TYPE), ("x-amz-target", target)];
        let signable =
            SignableRequest { method: "POST", path: &endpoint.path, query: "", headers: &fixed, payload_sha256_hex: &payload_hash };
        let server_now_ms = (now_ms.min(MAX_TIME_MS) as i64 + self.clock_offset_ms).clamp(0, MAX_TIME_MS as i64) as u64;
        let params = SigningParams {
            credentials,
            region: &self.config.region,
            service: request::SERVICE,
            time: SigningTime::from_unix_seconds(server_now_ms / 1000),
        };
        let signed = self.signer.sign(&signable, &params);
        // `host` is set by the transport from the URL.
        let mut headers: Vec<(String, String)> = fixed[1..].iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        headers.extend(signed.into_pairs().into_iter().map(|(k, v)| (k.to_owned(), v)));
        let id = self.next_request;
        self.next_request += 1;
        self.remember_secrets(credentials);
        OutgoingRequest { id, method: "POST", url: endpoint.url.clone(), headers, body, record_count, bytes }
    }

    fn remember_secrets(&mut self, c: &Credentials) {
        for secret in [Some(&c.access_key_id), Some(&c.secret_access_key), c.session_token.as_ref()].into_iter().flatten() {
            if secret.len() >= 4 && !self.secrets.contains(secret) {
                // Bounded: only the latest few credential sets can appear in answers.
                if self.secrets.len() >= 12 {
                    self.secrets.remove(0);
                }
                self.secrets.push(secret.clone());
            }
        }
    }

    /// Removes secrets, then bounds the length: cutting first could leave a secret's prefix.
    fn scrub(&self, message: &str, max_bytes: usize) -> String {
        let mut secrets: Vec<&String> = self.secrets.iter().collect();
        // Longest first, so a secret inside another (a key id inside a token) cannot split it.
        crate::insertion_sort_by(&mut secrets, |a, b| a.len() > b.len());
        let mut out = message.to_owned();
        for secret in secrets {
            if crate::find(&out, secret).is_some() {
                out = crate::replace_all(&out, secret, "[redacted]");
            }
        }
        response::truncate(&out, max_bytes)
    }

    /// Takes in the answer to request `id`. Unknown ids (after `abort`) are ignored.
    pub fn handle_response(&mut self, id: RequestId, response: HttpResponse, now_ms: u64, entropy: &mut dyn Entropy) {
        if let Some(at) = self.control.iter().position(|(i, _)| *i == id) {
            let (_, kind) = self.control.swap_remove(at);
            let answer = if (200..300).contains(&response.status) {
                Ok(response.body)
            } else {
                let e = response::parse_error(response.status, response.error_type, response.body);
                Err(format!("{}: {}", e.code, e.message))
            };
            return self.handle_control(kind, answer);
        }
        if let Some(at) = self.directs.iter().position(|d| d.request == Some(id)) {
            return self.handle_direct(at, Some(response), None, now_ms, entropy);
        }
        let Some(batch) = self.take_in_flight(id) else { return };
        self.answer_probe(id);
        // Any 2xx claims success, so it must carry a PutRecords answer for every record.
        if (200..300).contains(&response.status) {
            match response::parse_put_records_with_shards(response.body, batch.records.len(), self.stage.is_some()) {
                Some(outcomes) => self.settle_records(batch, outcomes, now_ms, entropy),
                None => {
                    let error = ServiceError {
                        code: "MalformedResponse".into(),
                        message: "the PutRecords answer could not be read or did not match the request".into(),
                    };
                    self.retry_batch(batch, error, now_ms, entropy)
                }
            }
            return;
        }
        let error = response::parse_error(response.status, response.error_type, response.body);
        match response::classify_request_error(response.status, &error) {
            Action::Retry => self.retry_batch(batch, error, now_ms, entropy),
            Action::RefreshCredentials => {
                self.refresh_credentials = true;
                self.retry_now(batch, error)
            }
            Action::CorrectClock => {
                if let Some(server_ms) = response.server_date_ms {
                    self.clock_offset_ms = server_ms.min(MAX_TIME_MS) as i64 - now_ms.min(MAX_TIME_MS) as i64;
                }
                self.retry_now(batch, error)
            }
            Action::Final if response::is_stream_error(&error.code) => {
                let error = self.located(error);
                self.fail_all(batch.records, &error);
                self.fail_fast(&error, now_ms);
            }
            Action::Final => self.fail_all(batch.records, &error),
        }
    }

    /// A control-plane answer, or why there is none. A failure never fails a record: the
    /// feature falls back and says so once.
    fn handle_control(&mut self, kind: Control, answer: Result<&[u8], String>) {
        match kind {
            Control::Limits => {
                self.limits_pending = false;
                match answer.and_then(control::parse_max_record_bytes) {
                    Ok(Some(stream_limit)) => self.apply_stream_limit(stream_limit),
                    Ok(None) => {}
                    Err(why) => self.notices.push(format!(
                        "DescribeStreamSummary failed ({}); the record limit stays at maxRecordBytes ({} bytes)",
                        self.scrub(&why, MAX_MESSAGE_BYTES),
                        self.config.limits.max_record_bytes
                    )),
                }
            }
            Control::ListShards => {
                let Some(mut fetch) = self.map_fetch.take() else { return };
                match answer.and_then(control::parse_list_shards) {
                    Ok((ranges, Some(token))) => {
                        fetch.ranges.extend(ranges);
                        fetch.token = Some(token);
                        fetch.pages += 1;
                        // A listing that never ends is not a map.
                        if fetch.pages < 1000 {
                            self.map_fetch = Some(fetch);
                            return;
                        }
                        self.map_listing_failed("ListShards returned more than 1000 pages".into());
                    }
                    Ok((ranges, None)) => {
                        fetch.ranges.extend(ranges);
                        match control::shard_map_of(fetch.ranges) {
                            Ok(map) => {
                                self.shard_map = Some(map);
                                self.map_failed = false;
                            }
                            Err(why) => self.map_listing_failed(why),
                        }
                    }
                    Err(why) => self.map_listing_failed(why),
                }
                if let Some(stage) = &mut self.stage {
                    stage.regroup(self.shard_map.as_ref(), &self.config.limits);
                }
            }
        }
    }

    fn map_listing_failed(&mut self, why: String) {
        if self.shard_map.is_some() {
            return; // a refresh failed: the map in hand stays
        }
        self.map_failed = true;
        let stage = self.config.stage.unwrap_or(StageConfig { aggregate: false, max_aggregate_bytes: 0, ordered: false, rate: None });
        let mut message = format!("ListShards failed ({}); without the shard map", self.scrub(&why, MAX_MESSAGE_BYTES));
        for (on, fallback) in [
            (stage.aggregate, " aggregation groups only records with the same partition key (or explicit hash key);"),
            (stage.rate.is_some(), " shardRateLimit is off;"),
            (stage.ordered, " ordering holds per partition key;"),
        ] {
            if on {
                message.push_str(fallback);
            }
        }
        message.pop();
        self.notices.push(message);
    }

    fn apply_stream_limit(&mut self, stream_limit: usize) {
        let stream_limit = stream_limit.min(MAX_RECORD_BYTES);
        let limits = &mut self.config.limits;
        if !self.config.record_bytes_given || stream_limit < limits.max_record_bytes {
            limits.max_record_bytes = stream_limit;
            limits.record_limit_name = "the stream's MaxRecordSize";
        }
        if !self.config.request_bytes_given && limits.max_request_bytes < limits.max_record_bytes {
            limits.max_request_bytes = limits.max_record_bytes.min(MAX_REQUEST_BYTES);
        }
        self.packer.set_limits(self.config.limits);
    }

    fn handle_direct(
        &mut self,
        at: usize,
        response: Option<HttpResponse>,
        transport: Option<ServiceError>,
        now_ms: u64,
        entropy: &mut dyn Entropy,
    ) {
        self.directs[at].request = None;
        let error = match (response, transport) {
            (Some(r), _) if (200..300).contains(&r.status) => match control::parse_put_record(r.body) {
                Some(out) => {
                    let d = self.directs.swap_remove(at);
                    self.direct_done.push(DirectOutcome { handle: d.handle, result: Ok(out) });
                    return;
                }
                None => ServiceError { code: "MalformedResponse".into(), message: "the PutRecord answer could not be read".into() },
            },
            (Some(r), _) => {
                let error = response::parse_error(r.status, r.error_type, r.body);
                match response::classify_request_error(r.status, &error) {
                    Action::Final => {
                        let error = if response::is_stream_error(&error.code) { self.located(error) } else { error };
                        return self.end_direct(at, &error);
                    }
                    Action::RefreshCredentials => {
                        self.refresh_credentials = true;
                        return self.retry_direct(at, 0, &error);
                    }
                    Action::CorrectClock => {
                        if let Some(server_ms) = r.server_date_ms {
                            self.clock_offset_ms = server_ms.min(MAX_TIME_MS) as i64 - now_ms.min(MAX_TIME_MS) as i64;
                        }
                        return self.retry_direct(at, 0, &error);
                    }
                    Action::Retry => error,
                }
            }
            (None, Some(error)) => error,
            (None, None) => return,
        };
        let delay = self.config.retry.backoff_ms(self.directs[at].attempts, entropy.next_u32());
        self.retry_direct(at, now_ms.saturating_add(delay), &error);
    }

    fn retry_direct(&mut self, at: usize, not_before_ms: u64, error: &ServiceError) {
        if self.config.retry.has_budget(self.directs[at].attempts) {
            self.directs[at].not_before_ms = not_before_ms;
        } else {
            self.end_direct(at, error);
        }
    }

    fn end_direct(&mut self, at: usize, error: &ServiceError) {
        let d = self.directs.swap_remove(at);
        let failure = DirectFailure {
            code: self.scrub(&error.code, MAX_CODE_BYTES),
            message: self.scrub(&error.message, MAX_MESSAGE_BYTES),
            attempts: d.attempts,
        };
        self.direct_done.push(DirectOutcome { handle: d.handle, result: Err(failure) });
    }

    /// The request `id` failed in transport; it may or may not have arrived, so retry it all.
    pub fn handle_transport_error(&mut self, id: RequestId, kind: TransportError, message: &str, now_ms: u64, entropy: &mut dyn Entropy) {
        if let Some(at) = self.control.iter().position(|(i, _)| *i == id) {
            let (_, control) = self.control.swap_remove(at);
            let why = format!("{}: {message} ({})", kind.code(), self.config.control_endpoint.url);
            return self.handle_control(control, Err(why));
        }
        let error = ServiceError { code: kind.code().into(), message: format!("{message} ({})", self.config.endpoint.url) };
        if let Some(at) = self.directs.iter().position(|d| d.request == Some(id)) {
            return self.handle_direct(at, None, Some(error), now_ms, entropy);
        }
        let Some(batch) = self.take_in_flight(id) else { return };
        self.answer_probe(id);
        self.retry_batch(batch, error, now_ms, entropy);
    }

    fn take_in_flight(&mut self, id: RequestId) -> Option<Batch<Record>> {
        let batch = self.in_flight.iter().position(|(i, _)| *i == id).map(|at| self.in_flight.swap_remove(at).1);
        self.progress.in_flight = self.in_flight.len() as u64;
        if let (Some(stage), Some(batch)) = (&mut self.stage, &batch) {
            for record in &batch.records {
                if let Some(placement) = record.placement.as_deref() {
                    stage.ended(placement);
                }
            }
        }
        batch
    }

    fn settle_records(
        &mut self,
        batch: Batch<Record>,
        outcomes: Vec<(RecordOutcome, Option<String>)>,
        now_ms: u64,
        entropy: &mut dyn Entropy,
    ) {
        let mut again = Batch { records: Vec::new(), bytes: 0 };
        let mut stream_error = None;
        for (record, (outcome, shard_id)) in batch.records.into_iter().zip(outcomes) {
            match outcome {
                RecordOutcome::Ok => {
                    if let Some(record) = self.moved(record, shard_id.as_deref()) {
                        self.ack(record);
                    }
                }
                RecordOutcome::Failed(error) => {
                    if response::classify_record_error(&error.code) == Action::Retry && self.config.retry.has_budget(record.attempts) {
                        again.bytes += record.size;
                        again.records.push(record);
                    } else if response::is_stream_error(&error.code) {
                        let error = self.located(error);
                        self.fail(record, &error);
                        stream_error = Some(error);
                    } else {
                        self.fail(record, &error);
                    }
                }
            }
        }
        if !again.records.is_empty() {
            self.schedule(again, now_ms, entropy);
        }
        if let Some(error) = stream_error {
            self.fail_fast(&error, now_ms);
        }
    }

    /// An acknowledged record on a shard other than predicted: the map is stale. An aggregate's
    /// records outside that shard would be dropped by the KCL, so they are placed and sent again
    /// (at most a few times: after that the service's placement stands). `None` if taken back.
    fn moved(&mut self, record: Record, shard_id: Option<&str>) -> Option<Record> {
        let Some(placement) = &record.placement else { return Some(record) };
        let (GroupKey::Shard(predicted), Some(actual)) = (&placement.group, shard_id) else { return Some(record) };
        if predicted == actual {
            return Some(record);
        }
        if self.map_fetch.is_none() {
            self.map_wanted = true;
        }
        if placement.inner.is_empty() || placement.inner.iter().any(|u| u.moves >= MAX_MOVES) {
            return Some(record);
        }
        let mut inner = record.placement.map(|p| p.inner).unwrap_or_default();
        for user in &mut inner {
            user.moves += 1;
        }
        self.progress.retries += inner.len() as u64;
        if let Some(stage) = &mut self.stage {
            stage.unplace(inner);
        }
        None
    }

    /// A stream-level error's message, saying which stream, region and endpoint it is about.
    fn located(&self, error: ServiceError) -> ServiceError {
        let stream = match &self.config.stream {
            StreamId::Name(name) => name.as_str(),
            StreamId::Arn { arn, .. } => arn.as_str(),
        };
        let message = format!("stream {stream} in {} at {}: {}", self.config.region, self.config.endpoint.url, error.message);
        ServiceError { code: error.code, message }
    }

    /// Ends every record waiting to be sent with `error`, and sends nothing more until
    /// `FAIL_FAST_RETRY_MS` have passed or the next flush. Requests in flight answer as they will.
    fn fail_fast(&mut self, error: &ServiceError, now_ms: u64) {
        crate::insertion_sort_by(&mut self.retries, |a, b| a.not_before_ms < b.not_before_ms);
        let mut records: Vec<Record> = self.retries.drain(..).flat_map(|w| w.batch.records).collect();
        records.extend(self.packer.drain());
        self.open_since_ms = None;
        self.fail_all(records, error);
        self.fail_staged(error);
        self.blocked = Some(Blocked { error: error.clone(), probe_at_ms: now_ms.saturating_add(FAIL_FAST_RETRY_MS), probe: None });
    }

    fn fail_staged(&mut self, error: &ServiceError) {
        let Some(stage) = &mut self.stage else { return };
        let (records, users) = stage.drain();
        self.fail_all(records, error);
        for user in users {
            self.fail_user(user, 0, error);
        }
    }

    /// The answer to the probe sent while failing fast ends that state; a stream-level error in
    /// it starts a new one.
    fn answer_probe(&mut self, id: RequestId) {
        if self.blocked.as_ref().is_some_and(|b| b.probe == Some(id)) {
            self.blocked = None;
        }
    }

    /// Retries a whole batch with backoff; records out of budget end with `error`.
    fn retry_batch(&mut self, batch: Batch<Record>, error: ServiceError, now_ms: u64, entropy: &mut dyn Entropy) {
        if let Some(again) = self.keep_budgeted(batch, &error) {
            self.schedule(again, now_ms, entropy);
        }
    }

    /// Retries at once: the fix (new credentials, corrected clock) is already in hand.
    fn retry_now(&mut self, batch: Batch<Record>, error: ServiceError) {
        if let Some(again) = self.keep_budgeted(batch, &error) {
            match &mut self.stage {
                Some(stage) => stage.requeue(again.records, 0),
                None => self.retries.push(Waiting { not_before_ms: 0, batch: again }),
            }
        }
    }

    fn keep_budgeted(&mut self, batch: Batch<Record>, error: &ServiceError) -> Option<Batch<Record>> {
        let mut again = Batch { records: Vec::with_capacity(batch.records.len()), bytes: 0 };
        for record in batch.records {
            if self.config.retry.has_budget(record.attempts) {
                again.bytes += record.size;
                again.records.push(record);
            } else {
                self.fail(record, error);
            }
        }
        (!again.records.is_empty()).then_some(again)
    }

    fn schedule(&mut self, batch: Batch<Record>, now_ms: u64, entropy: &mut dyn Entropy) {
        let attempts = batch.records.iter().map(|r| r.attempts).max().unwrap_or(1);
        let delay = self.config.retry.backoff_ms(attempts, entropy.next_u32());
        match &mut self.stage {
            // Back at the front of their shards' queues: nothing of theirs overtakes them.
            Some(stage) => stage.requeue(batch.records, now_ms.saturating_add(delay)),
            None => self.retries.push(Waiting { not_before_ms: now_ms.saturating_add(delay), batch }),
        }
    }

    fn ack(&mut self, record: Record) {
        match record.placement {
            Some(p) if !p.inner.is_empty() => {
                for user in p.inner {
                    self.buffered_bytes -= user.size;
                    self.progress.sent += 1;
                    self.acked.push(user.id);
                }
            }
            _ => {
                self.buffered_bytes -= record.size;
                self.progress.sent += 1;
                self.acked.push(record.id);
            }
        }
    }

    fn fail(&mut self, record: Record, error: &ServiceError) {
        match record.placement {
            Some(p) if !p.inner.is_empty() => {
                for user in p.inner {
                    self.fail_user(user, record.attempts, error);
                }
            }
            _ => self.fail_one(record.id, record.size, record.partition_key, record.attempts, error),
        }
    }

    fn fail_user(&mut self, user: UserRecord, attempts: u32, error: &ServiceError) {
        self.fail_one(user.id, user.size, user.partition_key, attempts, error);
    }

    fn fail_one(&mut self, id: RecordId, size: usize, partition_key: String, attempts: u32, error: &ServiceError) {
        self.buffered_bytes -= size;
        self.progress.failed += 1;
        let failed = FailedRecord {
            id,
            code: self.scrub(&error.code, MAX_CODE_BYTES),
            message: self.scrub(&error.message, MAX_MESSAGE_BYTES),
            partition_key,
            attempts,
        };
        self.failed.push(failed);
    }

    fn fail_all(&mut self, records: Vec<Record>, error: &ServiceError) {
        for record in records {
            self.fail(record, error);
        }
    }

    /// Ends every record not yet acknowledged as failed with `code`; answers to requests
    /// already sent are ignored from now on.
    pub fn abort(&mut self, code: &str, message: &str) {
        let error = ServiceError { code: code.into(), message: message.into() };
        let mut in_flight = std::mem::take(&mut self.in_flight);
        crate::insertion_sort_by(&mut in_flight, |a, b| a.0 < b.0);
        if let Some(stage) = &mut self.stage {
            for record in in_flight.iter().flat_map(|(_, b)| &b.records) {
                if let Some(placement) = record.placement.as_deref() {
                    stage.ended(placement);
                }
            }
        }
        let mut records: Vec<Record> = in_flight.into_iter().flat_map(|(_, b)| b.records).collect();
        crate::insertion_sort_by(&mut self.retries, |a, b| a.not_before_ms < b.not_before_ms);
        records.extend(self.retries.drain(..).flat_map(|w| w.batch.records));
        records.extend(self.packer.drain());
        self.open_since_ms = None;
        self.progress.in_flight = 0;
        self.fail_all(records, &error);
        self.fail_staged(&error);
        while !self.directs.is_empty() {
            self.end_direct(0, &error);
        }
        // Control-plane calls in flight are forgotten; what they were for falls back.
        if self.control.iter().any(|(_, k)| *k == Control::Limits) {
            self.limits_pending = false;
        }
        self.control.clear();
        if self.map_fetch.take().is_some() && self.shard_map.is_none() {
            self.map_failed = true;
        }
        if let Some(blocked) = &mut self.blocked {
            blocked.probe = None; // its answer will be ignored
        }
    }

    /// Records acknowledged since the last call.
    pub fn take_acked(&mut self) -> Vec<RecordId> {
        std::mem::take(&mut self.acked)
    }

    /// Records that ended in failure since the last call.
    pub fn take_failed(&mut self) -> Vec<FailedRecord> {
        std::mem::take(&mut self.failed)
    }

    /// True once after an `ExpiredTokenException`: get credentials again before the next poll.
    pub fn take_credentials_refresh(&mut self) -> bool {
        std::mem::take(&mut self.refresh_credentials)
    }

    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// Bytes (data plus keys) accepted and not yet ended.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    pub fn over_buffer_limit(&self) -> bool {
        self.buffered_bytes > self.config.max_buffered_bytes
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether `submit` uses its `now_ms` (a linger clock, or failing fast); when not, any time
    /// will do and the host need not read its clock.
    pub fn submit_reads_clock(&self) -> bool {
        self.config.max_buffered_time_ms > 0 || self.blocked.is_some()
    }

    /// After `submit`: whether the host must poll now (a batch is ready and may go, the open
    /// batch's linger clock started, or the record ended at once). Most submits need nothing.
    pub fn wants_poll(&self) -> bool {
        let staged = self.stage.as_ref().is_some_and(|s| {
            // Without a clock reading, "now" is only used for rates and retries: poll to find out.
            s.has_ready(&self.config.limits, u64::MAX)
                || (s.holds_records() && self.open_since_ms.is_some() && self.config.max_buffered_time_ms > 0)
        });
        (self.packer.has_ready() && self.in_flight.len() < self.config.max_in_flight)
            || !self.failed.is_empty()
            || (self.packer.open_len() == 1 && self.config.max_buffered_time_ms > 0)
            || staged
            || self.control_wanted()
    }

    fn control_wanted(&self) -> bool {
        let asking = |c: Control| self.control.iter().any(|(_, k)| *k == c);
        (self.limits_pending && !asking(Control::Limits)) || ((self.map_wanted || self.map_fetch.is_some()) && !asking(Control::ListShards))
    }

    /// Whether records ended since the last `take_acked` / `take_failed`.
    pub fn has_ended(&self) -> bool {
        !self.acked.is_empty() || !self.failed.is_empty()
    }

    /// Whether a batch is ready to send (full, flushed or due).
    pub fn has_ready(&self, now_ms: u64) -> bool {
        self.packer.has_ready()
            || self.retries.iter().any(|w| w.not_before_ms <= now_ms)
            || self.stage.as_ref().is_some_and(|s| s.has_ready(&self.config.limits, now_ms))
            || self.directs.iter().any(|d| d.request.is_none() && d.not_before_ms <= now_ms)
            || self.control_wanted()
    }

    /// Nothing buffered, waiting or in flight.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_empty()
            && self.retries.is_empty()
            && !self.packer.has_ready()
            && self.packer.open_len() == 0
            && !self.stage.as_ref().is_some_and(|s| s.holds_records())
            && self.directs.is_empty()
            && self.control.is_empty()
            && !self.limits_pending
    }
}

/// How often an aggregate's records are placed again after landing on an unexpected shard.
const MAX_MOVES: u8 = 3;
