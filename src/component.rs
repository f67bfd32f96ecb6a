//! The WebAssembly component binding (`wit/kinesis-batch.wit`), built with
//! `cargo build --target wasm32-wasip2 --features component`.
//!
//! A thin shell over the sans-IO core, like `wasm.rs` plus the loop that `pkg/core.js` runs in
//! JS: here the loop is synchronous. The `transport` import's `fetch` blocks until the answer
//! is in hand, time comes from `wasi:clocks`, waits from a monotonic-clock pollable, and
//! randomness from `wasi:random`. Every decision (batching, signing, retries) stays in the core.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::dispatcher::{Config, Dispatcher, HttpResponse, Options, OutgoingRequest, TransportError as CoreTransportError};
use crate::error::{OptionError, RecordError, RecordErrorCode};
use crate::limits::Limits;
use crate::partition_key::FieldValue;
use crate::plan::Planner;
use crate::record::{Entropy, KeyInput};
use crate::shard_map;
use crate::sigv4;

wit_bindgen::generate!({
    path: "wit",
    world: "kinesis-batch",
    generate_all,
});

use exports::kinesis::batch::dispatcher::{
    self as api, BatchLimits, BatchPlan, ErrorCode, FailedRecord, FlushReport, KinesisBatchError, KinesisBatchOptions, Payload,
    PlannedBatch, RejectedRecord, SubmitOptions,
};
use kinesis::batch::transport::{self, KinesisFetchInit, TransportError};
use wasi::clocks::{monotonic_clock, wall_clock};
use wasi::random::random;

struct Component;

export!(Component);

// ---- time and randomness from WASI ----------------------------------------------------------

fn now_ms() -> u64 {
    let t = wall_clock::now();
    t.seconds.saturating_mul(1000) + u64::from(t.nanoseconds / 1_000_000)
}

fn sleep_ms(ms: u64) {
    if ms > 0 {
        monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000)).block();
    }
}

/// Random bytes from `wasi:random`, fetched in blocks to keep boundary crossings rare.
struct WasiEntropy {
    pool: Vec<u8>,
    used: usize,
}

impl WasiEntropy {
    fn new() -> Self {
        Self { pool: Vec::new(), used: 0 }
    }
}

impl Entropy for WasiEntropy {
    fn fill(&mut self, bytes: &mut [u8]) {
        for b in bytes {
            if self.used >= self.pool.len() {
                self.pool = random::get_random_bytes(256);
                self.used = 0;
                if self.pool.is_empty() {
                    // A host that returns nothing breaks its contract; don't spin.
                    self.pool = vec![0; 256];
                }
            }
            *b = self.pool[self.used];
            self.used += 1;
        }
    }
}

// ---- errors ---------------------------------------------------------------------------------

fn option_error(e: OptionError) -> KinesisBatchError {
    KinesisBatchError { code: ErrorCode::InvalidOption, message: format!("{}: {}", e.option, e.message), option: Some(e.option.to_owned()) }
}

fn code_of(code: RecordErrorCode) -> ErrorCode {
    match code {
        RecordErrorCode::RecordTooLarge => ErrorCode::RecordTooLarge,
        RecordErrorCode::MissingPartitionKey => ErrorCode::MissingPartitionKey,
        RecordErrorCode::InvalidPartitionKey => ErrorCode::InvalidPartitionKey,
        RecordErrorCode::InvalidExplicitHashKey => ErrorCode::InvalidExplicitHashKey,
        RecordErrorCode::UnserializablePayload => ErrorCode::UnserializablePayload,
    }
}

fn record_error(e: RecordError) -> KinesisBatchError {
    KinesisBatchError { code: code_of(e.code), message: e.message, option: None }
}

// ---- payloads -------------------------------------------------------------------------------

/// A payload's partition key as the host would describe it (see `pkg/core.js` `keyOf`).
enum Key {
    Default,
    Given(String),
    Field(String),
    Missing,
    Null,
    Unsupported(&'static str),
}

impl Key {
    fn input(&self) -> KeyInput<'_> {
        match self {
            Key::Default => KeyInput::Default,
            Key::Given(k) => KeyInput::Given(k),
            Key::Field(k) => KeyInput::Field(FieldValue::Text(k)),
            Key::Missing => KeyInput::Field(FieldValue::Missing),
            Key::Null => KeyInput::Field(FieldValue::Null),
            Key::Unsupported(kind) => KeyInput::Field(FieldValue::Unsupported(kind)),
        }
    }
}

fn unserializable(message: String) -> RecordError {
    RecordError::new(RecordErrorCode::UnserializablePayload, message)
}

/// A JSON number as JS's `String(number)` writes the common cases ("1", not "1.0").
fn number_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

/// The payload's data bytes and key. JSON text must parse; the identifier field is read from it.
fn encode<'p>(payload: &'p Payload, identifier: Option<&str>, given: Option<&str>) -> Result<(&'p [u8], Key), RecordError> {
    let data = match payload {
        Payload::Json(text) | Payload::Text(text) => text.as_bytes(),
        Payload::Bytes(bytes) => bytes.as_slice(),
    };
    let json = match payload {
        Payload::Json(text) => Some(text),
        _ => None,
    };
    let bad_json = |e: serde_json::Error| unserializable(format!("payload is not valid JSON: {e}"));
    let key = if let Some(k) = given {
        if let Some(text) = json {
            serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(bad_json)?;
        }
        Key::Given(k.to_owned())
    } else if let Some(field) = identifier {
        match json {
            None => Key::Missing,
            Some(text) => match serde_json::from_str::<serde_json::Value>(text).map_err(bad_json)? {
                serde_json::Value::Object(mut map) => match map.remove(field) {
                    None => Key::Missing,
                    Some(serde_json::Value::String(s)) => Key::Field(s),
                    Some(serde_json::Value::Number(n)) => Key::Field(number_text(&n)),
                    Some(serde_json::Value::Bool(b)) => Key::Field(b.to_string()),
                    Some(serde_json::Value::Null) => Key::Null,
                    Some(serde_json::Value::Array(_)) => Key::Unsupported("an array"),
                    Some(serde_json::Value::Object(_)) => Key::Unsupported("an object"),
                },
                _ => Key::Missing,
            },
        }
    } else {
        if let Some(text) = json {
            serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(bad_json)?;
        }
        Key::Default
    };
    Ok((data, key))
}

// ---- responses ------------------------------------------------------------------------------

/// An HTTP `Date` header (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`) as ms since the epoch.
fn http_date_ms(value: &str) -> Option<u64> {
    let mut parts = value.split_ascii_whitespace();
    let (_weekday, day, month, year, time, zone) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if zone != "GMT" || parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let day: i64 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let year: i64 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(((days * 24 + h) * 60 + m) * 60 + s).ok().map(|secs| secs * 1000)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

// ---- the dispatcher -------------------------------------------------------------------------

struct State {
    core: Dispatcher,
    entropy: WasiEntropy,
    credentials: sigv4::Credentials,
    identifier: Option<String>,
    /// Submitted payloads by record id, until the record ends.
    payloads: HashMap<u64, Payload>,
    /// What ended since the last report.
    sent: u64,
    failed: Vec<FailedRecord>,
    /// Progress counters at the last report.
    counted_requests: u64,
    counted_retries: u64,
}

fn core_credentials(c: api::Credentials) -> Result<sigv4::Credentials, KinesisBatchError> {
    if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
        return Err(option_error(OptionError::new("credentials", "accessKeyId and secretAccessKey must be non-empty strings")));
    }
    Ok(sigv4::Credentials {
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token: c.session_token.filter(|t| !t.is_empty()),
    })
}

impl State {
    /// Sends every request the core has ready now, one at a time, and settles the answers.
    fn send_ready(&mut self) {
        // ExpiredTokenException: the host rotates with `set-credentials`; the core retries.
        let _ = self.core.take_credentials_refresh();
        while let Some(request) = self.core.poll_request(now_ms(), &self.credentials) {
            self.send(request);
        }
        self.collect();
    }

    fn send(&mut self, request: OutgoingRequest) {
        let OutgoingRequest { id, method, url, headers, body, .. } = request;
        let timeout = self.core.config().request_timeout_ms;
        let init = KinesisFetchInit { method: method.to_owned(), headers, body, timeout_ms: u32::try_from(timeout).unwrap_or(u32::MAX) };
        match transport::fetch(&url, &init) {
            Ok(answer) => {
                let response = HttpResponse {
                    status: answer.status,
                    error_type: header(&answer.headers, "x-amzn-errortype"),
                    server_date_ms: header(&answer.headers, "date").and_then(http_date_ms),
                    body: &answer.body,
                };
                self.core.handle_response(id, response, now_ms(), &mut self.entropy);
            }
            Err(TransportError::Timeout) => {
                let message = format!("no answer within {timeout} ms");
                self.core.handle_transport_error(id, CoreTransportError::Timeout, &message, now_ms(), &mut self.entropy);
            }
            Err(TransportError::Network(message)) => {
                self.core.handle_transport_error(id, CoreTransportError::Network, &message, now_ms(), &mut self.entropy);
            }
        }
    }

    /// Moves settled records from the core into the pending report.
    fn collect(&mut self) {
        for id in self.core.take_acked() {
            self.payloads.remove(&id);
            self.sent += 1;
        }
        for f in self.core.take_failed() {
            let payload = self.payloads.remove(&f.id).unwrap_or(Payload::Bytes(Vec::new()));
            self.failed.push(FailedRecord {
                payload,
                partition_key: f.partition_key,
                error_code: f.code,
                error_message: f.message,
                attempts: f.attempts,
            });
        }
    }

    /// Sends and waits (backoff, linger) until `done` holds or nothing is left to do.
    fn drive(&mut self, done: impl Fn(&Dispatcher) -> bool) {
        loop {
            self.send_ready();
            if done(&self.core) || self.core.is_idle() {
                return;
            }
            match self.core.poll_timeout() {
                Some(at) => sleep_ms(at.saturating_sub(now_ms())),
                // Nothing in flight or due later: only the open batch holds records. Close it.
                None => self.core.flush(),
            }
        }
    }
}

struct DispatcherResource(RefCell<State>);

impl api::GuestKinesisBatchDispatcher for DispatcherResource {
    fn new(stream: String, options: KinesisBatchOptions) -> Result<Self, KinesisBatchError> {
        let n = |v: Option<u32>| v.map(f64::from);
        let opts = Options {
            stream: &stream,
            region: options.region.as_deref(),
            environment_region: None,
            endpoint: options.endpoint.as_deref(),
            partition_key_identifier: options.partition_key_identifier.as_deref(),
            max_batch_size: n(options.max_batch_size),
            max_record_bytes: n(options.max_record_bytes),
            max_request_bytes: n(options.max_request_bytes),
            max_attempts: n(options.max_attempts),
            retry_base_delay_ms: n(options.retry_base_delay_ms),
            retry_max_delay_ms: n(options.retry_max_delay_ms),
            max_in_flight: n(options.max_in_flight),
            max_buffered_bytes: options.max_buffered_bytes.map(|b| b as f64),
            max_buffered_time_ms: n(options.max_buffered_time_ms),
            request_timeout_ms: n(options.request_timeout_ms),
        };
        let config = Config::new(&opts).map_err(option_error)?;
        let credentials = options
            .credentials
            .ok_or_else(|| option_error(OptionError::new("credentials", "no credentials: pass { accessKeyId, secretAccessKey }")))?;
        let state = State {
            core: Dispatcher::new(config),
            entropy: WasiEntropy::new(),
            credentials: core_credentials(credentials)?,
            identifier: options.partition_key_identifier,
            payloads: HashMap::new(),
            sent: 0,
            failed: Vec::new(),
            counted_requests: 0,
            counted_retries: 0,
        };
        Ok(DispatcherResource(RefCell::new(state)))
    }

    fn region(&self) -> String {
        self.0.borrow().core.config().region.clone()
    }

    fn endpoint(&self) -> String {
        self.0.borrow().core.config().endpoint.url.clone()
    }

    fn progress(&self) -> api::Progress {
        let state = self.0.borrow();
        let p = state.core.progress();
        api::Progress {
            accepted: p.accepted,
            sent: p.sent,
            failed: p.failed,
            in_flight: p.in_flight as u32,
            retries: p.retries,
            requests: p.requests,
            buffered_bytes: state.core.buffered_bytes() as u64,
        }
    }

    fn set_credentials(&self, credentials: api::Credentials) -> Result<(), KinesisBatchError> {
        self.0.borrow_mut().credentials = core_credentials(credentials)?;
        Ok(())
    }

    fn submit_payload(&self, payload: Payload, options: Option<SubmitOptions>) -> Result<(), KinesisBatchError> {
        let state = &mut *self.0.borrow_mut();
        let options = options.unwrap_or(SubmitOptions { partition_key: None, explicit_hash_key: None });
        let id = {
            let (data, key) = encode(&payload, state.identifier.as_deref(), options.partition_key.as_deref()).map_err(record_error)?;
            state
                .core
                .submit(data, key.input(), options.explicit_hash_key.as_deref(), now_ms(), &mut state.entropy)
                .map_err(record_error)?
        };
        state.payloads.insert(id, payload);
        state.drive(|core| !core.over_buffer_limit());
        Ok(())
    }

    fn flush_payloads(&self) -> FlushReport {
        let state = &mut *self.0.borrow_mut();
        state.core.flush();
        state.drive(|_| false);
        let p = state.core.progress();
        let report = FlushReport {
            sent: std::mem::take(&mut state.sent),
            requests: p.requests - state.counted_requests,
            retries: p.retries - state.counted_retries,
            failed: std::mem::take(&mut state.failed),
        };
        state.counted_requests = p.requests;
        state.counted_retries = p.retries;
        report
    }
}

impl api::Guest for Component {
    type KinesisBatchDispatcher = DispatcherResource;

    fn plan_batches(payloads: Vec<Payload>, options: Option<BatchLimits>) -> Result<BatchPlan, KinesisBatchError> {
        let options = options.unwrap_or(BatchLimits {
            partition_key_identifier: None,
            max_batch_size: None,
            max_record_bytes: None,
            max_request_bytes: None,
        });
        let n = |v: Option<u32>| v.map(f64::from);
        let limits =
            Limits::new(n(options.max_batch_size), n(options.max_record_bytes), n(options.max_request_bytes)).map_err(option_error)?;
        let identifier = options.partition_key_identifier.as_deref();
        let mut planner = Planner::new(limits, identifier).map_err(option_error)?;
        let mut entropy = WasiEntropy::new();
        for payload in &payloads {
            match encode(payload, identifier, None) {
                // A refused record is listed in `rejected` by the planner.
                Ok((data, key)) => {
                    let _ = planner.add(data.len(), key.input(), None, &mut entropy);
                }
                Err(e) => planner.reject(e),
            }
        }
        let (batches, rejected) = planner.finish();
        Ok(BatchPlan {
            batches: batches
                .into_iter()
                .map(|b| PlannedBatch {
                    records: b.indices.len() as u32,
                    bytes: b.bytes as u64,
                    partition_keys: b.partition_keys,
                    indices: b.indices.into_iter().map(|i| i as u32).collect(),
                })
                .collect(),
            rejected: rejected
                .into_iter()
                .map(|r| RejectedRecord { index: r.index as u32, code: code_of(r.error.code), message: r.error.message })
                .collect(),
        })
    }

    fn hash_key_of(partition_key: String) -> String {
        shard_map::hash_key_of(&partition_key).to_string()
    }

    fn shard_index_for(partition_key: String, shard_count: u32) -> Result<u32, KinesisBatchError> {
        if !(1..=100_000).contains(&shard_count) {
            return Err(option_error(OptionError::new("shardCount", "must be a whole number from 1 to 100000")));
        }
        Ok(shard_map::shard_index_for(&partition_key, shard_count))
    }
}
