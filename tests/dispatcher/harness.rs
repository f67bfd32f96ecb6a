//! A host for `Dispatcher` that keeps its own model of every record and checks the state
//! machine's invariants after every step. Shared by the proptest in `tests/dispatcher.rs`
//! and the cargo-fuzz target in `fuzz/` (included there with `#[path]`), so CI and fuzzing
//! check the same things. The retry table here is written out from the README's errors table, not taken
//! from `src/response.rs`, so it can disagree with the code.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use kinesis_batch::dispatcher::{Config, Dispatcher, HttpResponse, Options, OutgoingRequest, TransportError, ABORTED};
use kinesis_batch::error::RecordErrorCode;
use kinesis_batch::record::SeededEntropy;
use kinesis_batch::sigv4::{
    authorization_value, canonical_request, credential_scope, sha256_hex, signature, signed_headers, signing_key, string_to_sign,
    Credentials, SignableRequest, SigningTime,
};
use kinesis_batch::KeyInput;

pub const START_MS: u64 = 1_764_000_000_000; // November 2025
pub const REGION: &str = "us-east-1";
pub const STREAM_NAME: &str = "orders";
pub const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/orders";

/// Configuration of one run. Values are clamped into their valid ranges by `config`.
#[derive(Debug, Clone)]
pub struct Setup {
    pub max_batch_size: usize,
    pub max_record_bytes: usize,
    pub max_request_bytes: usize,
    pub max_attempts: u32,
    pub max_in_flight: usize,
    /// 0 is off.
    pub max_buffered_time_ms: u64,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    pub use_arn: bool,
    pub seed: u64,
}

impl Setup {
    pub fn clamped(mut self) -> Self {
        self.max_batch_size = self.max_batch_size.clamp(1, 500);
        self.max_record_bytes = self.max_record_bytes.clamp(1, 10 * 1024 * 1024);
        self.max_request_bytes = self.max_request_bytes.clamp(1, 10 * 1024 * 1024);
        self.max_attempts = self.max_attempts.clamp(1, 100);
        self.max_in_flight = self.max_in_flight.clamp(1, 256);
        self.max_buffered_time_ms = self.max_buffered_time_ms.min(86_400_000);
        self.base_delay_ms = self.base_delay_ms.min(600_000);
        self.max_delay_ms = self.max_delay_ms.clamp(self.base_delay_ms, 3_600_000);
        self
    }

    pub fn stream(&self) -> &'static str {
        if self.use_arn {
            STREAM_ARN
        } else {
            STREAM_NAME
        }
    }

    pub fn config(&self) -> Config {
        Config::new(&Options {
            stream: self.stream(),
            region: Some(REGION),
            endpoint: Some("http://127.0.0.1:4567"),
            max_batch_size: Some(self.max_batch_size as f64),
            max_record_bytes: Some(self.max_record_bytes as f64),
            max_request_bytes: Some(self.max_request_bytes as f64),
            max_attempts: Some(f64::from(self.max_attempts)),
            retry_base_delay_ms: Some(self.base_delay_ms as f64),
            retry_max_delay_ms: Some(self.max_delay_ms as f64),
            max_in_flight: Some(self.max_in_flight as f64),
            max_buffered_time_ms: Some(self.max_buffered_time_ms as f64),
            ..Options::default()
        })
        .expect("a clamped setup is a valid configuration")
    }

    /// The full-jitter ceiling after `attempts` tries.
    pub fn backoff_ceiling(&self, attempts: u32) -> u64 {
        let exp = attempts.saturating_sub(1).min(40);
        self.base_delay_ms.saturating_mul(1u64 << exp).min(self.max_delay_ms)
    }
}

#[derive(Debug, Clone)]
pub enum Key {
    /// No key: a random UUIDv4.
    Default,
    /// This text followed by `#<counter>`, so keys stay unique and map back to records.
    Given(String),
    Empty,
}

#[derive(Debug, Clone, Copy)]
pub enum HashKey {
    None,
    Valid(u8),
    Invalid(u8),
}

const VALID_HASH_KEYS: [&str; 3] = ["0", "42", "340282366920938463463374607431768211455"];
const INVALID_HASH_KEYS: [&str; 4] = ["01", "340282366920938463463374607431768211456", "-1", "4x"];

/// Per-record error codes and whether the design says to retry them.
pub const RECORD_CODES: [(&str, bool); 5] = [
    ("ProvisionedThroughputExceededException", true),
    ("InternalFailure", true),
    ("InvalidArgumentException", false),
    ("KMSAccessDeniedException", false),
    ("ResourceNotFoundException", false),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Retry,
    Refresh,
    Clock,
    Final,
}

/// A request-level error: status, code (None: only the status), class per the README's errors table.
pub struct RequestError {
    pub status: u16,
    pub code: Option<&'static str>,
    pub message: &'static str,
    pub class: Class,
}

pub const REQUEST_ERRORS: [RequestError; 22] = [
    RequestError { status: 400, code: Some("ThrottlingException"), message: "Rate exceeded", class: Class::Retry },
    RequestError { status: 400, code: Some("ProvisionedThroughputExceededException"), message: "slow down", class: Class::Retry },
    RequestError { status: 400, code: Some("LimitExceededException"), message: "limit", class: Class::Retry },
    RequestError { status: 400, code: Some("KMSThrottlingException"), message: "kms busy", class: Class::Retry },
    RequestError { status: 500, code: Some("InternalFailure"), message: "oops", class: Class::Retry },
    RequestError { status: 500, code: None, message: "", class: Class::Retry },
    RequestError { status: 502, code: None, message: "", class: Class::Retry },
    RequestError { status: 503, code: Some("ServiceUnavailable"), message: "unavailable", class: Class::Retry },
    RequestError { status: 429, code: None, message: "", class: Class::Retry },
    RequestError {
        status: 400,
        code: Some("ExpiredTokenException"),
        message: "The security token included in the request is expired",
        class: Class::Refresh,
    },
    RequestError { status: 400, code: Some("RequestTimeTooSkewed"), message: "too skewed", class: Class::Clock },
    RequestError {
        status: 400,
        code: Some("InvalidSignatureException"),
        message: "Signature expired: 20251124T000000Z is now earlier than 20251124T000500Z",
        class: Class::Clock,
    },
    RequestError { status: 400, code: Some("ResourceNotFoundException"), message: "Stream orders not found", class: Class::Final },
    RequestError { status: 400, code: Some("AccessDeniedException"), message: "not authorized", class: Class::Final },
    RequestError { status: 400, code: Some("InvalidArgumentException"), message: "bad record", class: Class::Final },
    RequestError { status: 400, code: Some("ValidationException"), message: "1 validation error", class: Class::Final },
    RequestError { status: 400, code: Some("KMSDisabledException"), message: "disabled", class: Class::Final },
    RequestError { status: 400, code: Some("KMSAccessDeniedException"), message: "denied", class: Class::Final },
    RequestError { status: 400, code: Some("KMSNotFoundException"), message: "no key", class: Class::Final },
    RequestError {
        status: 403,
        code: Some("SignatureDoesNotMatch"),
        message: "The request signature we calculated does not match",
        class: Class::Final,
    },
    RequestError {
        status: 400,
        code: Some("InvalidSignatureException"),
        message: "The request signature we calculated does not match",
        class: Class::Final,
    },
    RequestError { status: 413, code: None, message: "", class: Class::Final },
];

/// How a request-level error is put on the wire.
#[derive(Debug, Clone, Copy)]
pub enum Rendering {
    Json,
    /// `namespace#Code` in `__type`.
    JsonNamespaced,
    /// Only the `x-amzn-ErrorType` header, with a `:...` suffix.
    Header,
    Xml,
}

#[derive(Debug, Clone, Copy)]
pub enum Malformed {
    NotJson,
    CountPlusOne,
    CountMinusOne,
    RecordsNotArray,
    Empty,
    /// A 2xx answer other than 200 that says nothing.
    NoContent,
}

#[derive(Debug, Clone)]
pub enum Answer {
    /// 200 with these (position, index into RECORD_CODES) failures.
    Ok {
        failures: Vec<(usize, usize)>,
    },
    Error {
        which: usize,
        rendering: Rendering,
        echo_secret: bool,
        server_skew_ms: Option<i64>,
    },
    Transport {
        timeout: bool,
        echo_secret: bool,
    },
    Malformed(Malformed),
}

#[derive(Debug, Clone)]
pub enum Op {
    Submit {
        data_len: usize,
        key: Key,
        hash_key: HashKey,
    },
    Flush,
    /// Send everything that may go now.
    Poll,
    /// Answer the `pick`-th known request (live or already answered).
    Respond {
        pick: usize,
        answer: Answer,
    },
    Advance(u64),
    /// Jump to `poll_timeout`.
    AdvanceToTimeout,
    Abort {
        echo_secret: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Acked,
    Failed,
}

#[derive(Debug)]
struct Rec {
    data: Vec<u8>,
    key: String,
    hash_key: Option<&'static str>,
    size: usize,
    accepted_at: u64,
    /// Times sent in a request.
    attempts: u32,
    state: State,
    /// The live request that holds it.
    in_request: Option<u64>,
}

pub struct Harness {
    pub setup: Setup,
    pub dispatcher: Dispatcher,
    entropy: SeededEntropy,
    pub now: u64,
    clock_offset_ms: i64,
    credentials: Credentials,
    credential_sets: u32,
    /// Every secret handed to the dispatcher for signing.
    used_secrets: Vec<String>,
    records: BTreeMap<u64, Rec>,
    by_key: HashMap<String, u64>,
    counter: u64,
    live: BTreeMap<u64, Vec<u64>>,
    /// Requests already answered or aborted; answering them again must change nothing.
    stale: Vec<u64>,
    requests: u64,
    retried_records: u64,
    acked: u64,
    failed: u64,
    pub steps: u64,
    /// Failing fast after a stream-level error: (no request before this time, the probe sent).
    blocked: Option<(u64, Option<u64>)>,
    /// The stream-level error's code while failing fast.
    blocked_code: String,
}

/// Final errors about the whole stream, which make the dispatcher fail fast (the issue's list).
fn is_stream_error(code: &str) -> bool {
    matches!(
        code,
        "ResourceNotFoundException"
            | "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "KMSAccessDeniedException"
            | "KMSNotFoundException"
            | "KMSDisabledException"
            | "KMSInvalidStateException"
            | "KMSOptInRequired"
    )
}

fn credentials(n: u32) -> Credentials {
    Credentials {
        access_key_id: format!("AKIAFUZZ{n:012}"),
        secret_access_key: format!("sEcReT/{n:08}+wJalrXUtnFEMIK7MDENGbPxRfiCY"),
        session_token: Some(format!("ToKeN{n:06}//////////wEaCXVzLWVhc3QtMSJHMEUCIQD{n:06}QDkJhXkEXAMPLETOKEN=")),
    }
}

impl Harness {
    pub fn new(setup: Setup) -> Self {
        let setup = setup.clamped();
        let dispatcher = Dispatcher::new(setup.config());
        Self {
            entropy: SeededEntropy(setup.seed),
            setup,
            dispatcher,
            now: START_MS,
            clock_offset_ms: 0,
            credentials: credentials(0),
            credential_sets: 1,
            used_secrets: Vec::new(),
            records: BTreeMap::new(),
            by_key: HashMap::new(),
            counter: 0,
            live: BTreeMap::new(),
            stale: Vec::new(),
            requests: 0,
            retried_records: 0,
            acked: 0,
            failed: 0,
            steps: 0,
            blocked: None,
            blocked_code: String::new(),
        }
    }

    pub fn run(setup: Setup, ops: &[Op]) {
        let mut h = Self::new(setup);
        for op in ops {
            h.step(op);
        }
        h.drain();
    }

    pub fn step(&mut self, op: &Op) {
        self.steps += 1;
        match op {
            Op::Submit { data_len, key, hash_key } => self.submit(*data_len, key, *hash_key),
            Op::Flush => {
                self.dispatcher.flush();
                if let Some(blocked) = &mut self.blocked {
                    blocked.0 = 0;
                }
            }
            Op::Poll => self.poll_all(),
            Op::Respond { pick, answer } => self.respond(*pick, answer),
            Op::Advance(ms) => self.now = self.now.saturating_add(*ms),
            Op::AdvanceToTimeout => {
                if let Some(t) = self.dispatcher.poll_timeout() {
                    self.now = self.now.max(t);
                }
            }
            Op::Abort { echo_secret } => self.abort(*echo_secret),
        }
        self.check();
    }

    fn submit(&mut self, data_len: usize, key: &Key, hash_key: HashKey) {
        let n = self.counter;
        self.counter += 1;
        let data: Vec<u8> = (0..data_len).map(|i| (n as usize).wrapping_mul(31).wrapping_add(i) as u8).collect();
        let given = match key {
            Key::Default => None,
            Key::Given(prefix) => Some(format!("{prefix}#{n}")),
            Key::Empty => Some(String::new()),
        };
        let (hash_key, hash_key_ok) = match hash_key {
            HashKey::None => (None, true),
            HashKey::Valid(i) => (Some(VALID_HASH_KEYS[usize::from(i) % VALID_HASH_KEYS.len()]), true),
            HashKey::Invalid(i) => (Some(INVALID_HASH_KEYS[usize::from(i) % INVALID_HASH_KEYS.len()]), false),
        };
        let key_input = given.as_deref().map_or(KeyInput::Default, KeyInput::Given);
        let result = self.dispatcher.submit(&data, key_input, hash_key, self.now, &mut self.entropy);

        // What the limits table says, independently of `accept`.
        let key_len = given.as_ref().map_or(36, String::len);
        let key_ok = given.as_ref().is_none_or(|k| !k.is_empty() && k.encode_utf16().count() <= 256);
        let ceiling = self.setup.max_record_bytes.min(self.setup.max_request_bytes);
        let size_ok = data_len + key_len <= ceiling;
        let mut allowed = Vec::new();
        if !key_ok {
            allowed.push(RecordErrorCode::InvalidPartitionKey);
        }
        if !hash_key_ok {
            allowed.push(RecordErrorCode::InvalidExplicitHashKey);
        }
        if !size_ok {
            allowed.push(RecordErrorCode::RecordTooLarge);
        }
        match result {
            Ok(id) => {
                assert!(allowed.is_empty(), "accepted a record that breaks {allowed:?}");
                // Failing fast before the probe time: accepted and ended at once.
                let ends_now = self.blocked.is_some_and(|(probe_at, probe)| probe.is_none() && self.now < probe_at);
                assert!(!self.records.contains_key(&id), "record id {id} given twice");
                // The key is only known from the request for random keys; learn it then.
                let key = given.unwrap_or_default();
                if !key.is_empty() {
                    self.by_key.insert(key.clone(), id);
                }
                self.records.insert(
                    id,
                    Rec {
                        size: data_len + key_len,
                        data,
                        key,
                        hash_key,
                        accepted_at: self.now,
                        attempts: 0,
                        state: State::Pending,
                        in_request: None,
                    },
                );
                let failed = self.dispatcher.take_failed();
                if ends_now {
                    assert_eq!(failed.len(), 1, "a record submitted while failing fast ends at once");
                    assert_eq!((failed[0].id, &failed[0].code), (id, &self.blocked_code));
                    if self.records[&id].key.is_empty() {
                        self.records.get_mut(&id).unwrap().key = failed[0].partition_key.clone();
                    }
                    self.end(id, State::Failed, 0, &failed[0].partition_key.clone());
                } else {
                    assert!(failed.is_empty(), "a submit ended records");
                }
            }
            Err(e) => assert!(allowed.contains(&e.code), "refused with {:?}, expected one of {allowed:?}: {}", e.code, e.message),
        }
    }

    pub fn poll_all(&mut self) {
        while let Some(request) = self.dispatcher.poll_request(self.now, &self.credentials) {
            self.take_request(&request);
        }
        let in_flight = self.live.len();
        if let Some((probe_at, probe)) = self.blocked {
            // Failing fast: nothing but one probe, from its time on.
            let timeout = self.dispatcher.poll_timeout();
            match probe {
                Some(_) => assert_eq!(timeout, None, "a timeout while the probe is out"),
                None if self.now < probe_at => assert!(timeout.is_none_or(|t| t >= probe_at), "woken before the probe time"),
                None if in_flight < self.setup.max_in_flight => {
                    assert!(!self.dispatcher.has_ready(self.now), "a ready batch was not sent as the probe")
                }
                None => {}
            }
        } else if in_flight < self.setup.max_in_flight {
            assert!(!self.dispatcher.has_ready(self.now), "poll_request returned None with a batch ready and room to send");
            let timeout = self.dispatcher.poll_timeout();
            if let Some(t) = timeout {
                assert!(t > self.now, "poll_timeout {t} is due now ({}) yet nothing was sent", self.now);
            }
            // With room to send, records never sent are all in the open batch.
            if self.setup.max_buffered_time_ms > 0 {
                let oldest = self.records.values().filter(|r| r.state == State::Pending && r.attempts == 0).map(|r| r.accepted_at).min();
                if let Some(oldest) = oldest {
                    let due = oldest + self.setup.max_buffered_time_ms;
                    assert!(self.now < due, "the open batch has waited past maxBufferedTimeMs");
                    assert!(timeout.is_some_and(|t| t <= due), "poll_timeout {timeout:?} misses the open batch's deadline {due}");
                }
            }
        }
    }

    /// The secrets of the credentials last used to sign: those a server could echo.
    fn echoable_secrets(&self) -> &[String] {
        &self.used_secrets[self.used_secrets.len().saturating_sub(3)..]
    }

    fn take_request(&mut self, request: &OutgoingRequest) {
        self.requests += 1;
        assert!(self.live.len() < self.setup.max_in_flight, "more than maxInFlight requests in flight");
        assert!(!self.live.contains_key(&request.id) && !self.stale.contains(&request.id), "request id {} reused", request.id);
        if let Some((probe_at, probe)) = &mut self.blocked {
            assert!(probe.is_none() && self.now >= *probe_at, "a request while failing fast, other than one probe when due");
            *probe = Some(request.id);
        }
        self.check_signature(request);
        let c = &self.credentials;
        for secret in [&c.access_key_id, &c.secret_access_key, c.session_token.as_ref().unwrap()] {
            if !self.used_secrets.contains(secret) {
                self.used_secrets.push(secret.clone());
            }
        }

        let body: serde_json::Value = serde_json::from_slice(&request.body).expect("the body is JSON");
        let (field, other) = if self.setup.use_arn { ("StreamARN", "StreamName") } else { ("StreamName", "StreamARN") };
        assert_eq!(body[field], self.setup.stream());
        assert!(body.get(other).is_none());
        let entries = body["Records"].as_array().expect("Records is an array");
        assert!(!entries.is_empty(), "an empty PutRecords request");
        assert!(entries.len() <= self.setup.max_batch_size, "{} records > maxBatchSize {}", entries.len(), self.setup.max_batch_size);
        assert_eq!(entries.len(), request.record_count);

        let mut bytes = 0;
        let mut ids = Vec::with_capacity(entries.len());
        for entry in entries {
            let data = STANDARD.decode(entry["Data"].as_str().expect("Data is a string")).expect("Data is base64");
            let key = entry["PartitionKey"].as_str().expect("PartitionKey is a string").to_owned();
            bytes += data.len() + key.len();
            let id = match self.by_key.get(&key) {
                Some(&id) => id,
                None => self.learn_random_key(&key, &data),
            };
            let rec = self.records.get_mut(&id).unwrap();
            assert_eq!(rec.data, data, "record {id}'s data changed on the way");
            assert_eq!(entry.get("ExplicitHashKey").and_then(|v| v.as_str()), rec.hash_key);
            assert_eq!(rec.state, State::Pending, "record {id} sent after it ended");
            assert_eq!(rec.in_request, None, "record {id} sent while already in flight");
            if rec.attempts > 0 {
                self.retried_records += 1;
            }
            rec.attempts += 1;
            assert!(rec.attempts <= self.setup.max_attempts, "record {id} sent beyond maxAttempts");
            rec.in_request = Some(request.id);
            ids.push(id);
        }
        assert!(bytes <= self.setup.max_request_bytes, "{bytes} bytes > maxRequestBytes {}", self.setup.max_request_bytes);
        assert_eq!(bytes, request.bytes);
        self.live.insert(request.id, ids);
    }

    /// A random key's record is the oldest unsent one with that data and no known key.
    fn learn_random_key(&mut self, key: &str, data: &[u8]) -> u64 {
        assert_eq!(key.len(), 36, "unknown partition key {key:?} invented");
        let id = self
            .records
            .iter()
            .find(|(_, r)| r.key.is_empty() && r.attempts == 0 && r.data == data && r.state == State::Pending)
            .map(|(&id, _)| id)
            .unwrap_or_else(|| panic!("unknown partition key {key:?} invented"));
        self.records.get_mut(&id).unwrap().key = key.to_owned();
        self.by_key.insert(key.to_owned(), id);
        id
    }

    fn check_signature(&self, request: &OutgoingRequest) {
        let header = |name: &str| request.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let server_ms = (self.now as i64 + self.clock_offset_ms).max(0) as u64;
        let time = SigningTime::from_unix_seconds(server_ms / 1000);
        assert_eq!(header("x-amz-date"), Some(time.amz_date().as_str()), "signed at the wrong time");
        assert_eq!(header("content-type"), Some("application/x-amz-json-1.1"));
        assert_eq!(header("x-amz-target"), Some("Kinesis_20131202.PutRecords"));
        assert_eq!(header("x-amz-security-token"), self.credentials.session_token.as_deref());
        assert_eq!(request.url, "http://127.0.0.1:4567/");
        assert_eq!(request.method, "POST");
        let expected = authorization(request, "127.0.0.1:4567", "/", time, &self.credentials);
        assert_eq!(header("authorization"), Some(expected.as_str()), "the Authorization header does not verify");
    }

    fn respond(&mut self, pick: usize, answer: &Answer) {
        let known: Vec<u64> = self.live.keys().copied().chain(self.stale.iter().copied()).collect();
        if known.is_empty() {
            return;
        }
        let id = known[pick % known.len()];
        let Some(ids) = self.live.remove(&id) else {
            // Already answered or aborted: the dispatcher must ignore it.
            let before = self.dispatcher.progress();
            self.deliver(id, answer, &[]);
            assert_eq!(self.dispatcher.progress(), before, "a stale answer changed progress");
            assert!(self.dispatcher.take_acked().is_empty() && self.dispatcher.take_failed().is_empty(), "a stale answer settled records");
            assert!(!self.dispatcher.take_credentials_refresh());
            return;
        };
        self.stale.push(id);
        for rid in &ids {
            self.records.get_mut(rid).unwrap().in_request = None;
        }
        if self.blocked.is_some_and(|(_, probe)| probe == Some(id)) {
            self.blocked = None;
        }
        let max_attempts = self.setup.max_attempts;
        let attempts = |h: &Self, rid: &u64| h.records[rid].attempts;

        // Expected outcome per record: None = ack, Some((code, final_now)).
        let mut acked = HashSet::new();
        let mut failed: HashMap<u64, String> = HashMap::new();
        let mut retry_class = None;
        // A final error (by the table, not for want of attempts) about the whole stream.
        let mut stream_error = None;
        match answer {
            Answer::Ok { failures } => {
                let mut codes: Vec<Option<usize>> = vec![None; ids.len()];
                for &(pos, code) in failures {
                    codes[pos % ids.len()] = Some(code % RECORD_CODES.len());
                }
                for (rid, code) in ids.iter().zip(&codes) {
                    match code {
                        None => {
                            acked.insert(*rid);
                        }
                        Some(c) => {
                            let (code, retryable) = RECORD_CODES[*c];
                            if !retryable && is_stream_error(code) {
                                stream_error = Some(code.to_owned());
                            }
                            if !retryable || attempts(self, rid) >= max_attempts {
                                failed.insert(*rid, code.to_owned());
                            } else {
                                retry_class = Some(Class::Retry);
                            }
                        }
                    }
                }
                let body = ok_body(&codes);
                self.deliver_http(id, 200, None, None, &body);
            }
            _ => {
                let (class, code) = self.deliver(id, answer, &ids);
                if class == Class::Final {
                    if is_stream_error(&code) {
                        stream_error = Some(code.clone());
                    }
                    failed.extend(ids.iter().map(|rid| (*rid, code.clone())));
                } else {
                    retry_class = Some(class);
                    for rid in &ids {
                        if attempts(self, rid) >= max_attempts {
                            failed.insert(*rid, code.clone());
                        }
                    }
                }
            }
        }

        // A final error about the whole stream ends every record waiting to be sent, too.
        if let Some(code) = &stream_error {
            for (rid, rec) in &self.records {
                if rec.state == State::Pending && rec.in_request.is_none() && !ids.contains(rid) {
                    failed.insert(*rid, code.clone());
                }
            }
            // Records of this answer that were to be retried end too.
            for rid in &ids {
                if !acked.contains(rid) {
                    failed.entry(*rid).or_insert_with(|| code.clone());
                }
            }
            self.blocked = Some((self.now + kinesis_batch::dispatcher::FAIL_FAST_RETRY_MS, None));
            self.blocked_code = code.clone();
        }
        let got_acked = self.dispatcher.take_acked();
        let got_failed = self.dispatcher.take_failed();
        let got_refresh = self.dispatcher.take_credentials_refresh();
        assert_eq!(got_acked.iter().copied().collect::<HashSet<_>>(), acked, "acknowledged the wrong records");
        assert_eq!(got_acked.len(), acked.len(), "acknowledged a record twice");
        assert_eq!(got_failed.len(), failed.len(), "failed the wrong number of records");
        for f in &got_failed {
            let expected = failed.get(&f.id).unwrap_or_else(|| panic!("record {} failed unexpectedly with {}", f.id, f.code));
            assert_eq!(&f.code, expected, "record {} failed with the wrong code", f.id);
            // Never-sent random keys are learnt here.
            if self.records[&f.id].key.is_empty() {
                self.records.get_mut(&f.id).unwrap().key = f.partition_key.clone();
            }
            self.end(f.id, State::Failed, f.attempts, &f.partition_key);
            self.check_no_secrets(&f.code);
            self.check_no_secrets(&f.message);
        }
        for rid in got_acked {
            let attempts = self.records[&rid].attempts;
            let key = self.records[&rid].key.clone();
            self.end(rid, State::Acked, attempts, &key);
        }
        assert_eq!(got_refresh, retry_class == Some(Class::Refresh), "credentials refresh flag");
        if got_refresh {
            self.credentials = credentials(self.credential_sets);
            self.credential_sets += 1;
        }

        // Records kept for a retry must be due within the full-jitter ceiling.
        let waiting = ids.iter().filter(|rid| self.records[rid].state == State::Pending).map(|rid| self.records[rid].attempts).max();
        if let (Some(a), Some(class), None) = (waiting, retry_class, self.blocked) {
            if self.live.len() < self.setup.max_in_flight {
                let ceiling = if class == Class::Retry { self.setup.backoff_ceiling(a) } else { 0 };
                let t = self.dispatcher.poll_timeout().expect("records wait for a retry, so poll_timeout is set");
                assert!(t <= self.now + ceiling, "retry due at {t}, beyond the jitter ceiling now+{ceiling}");
            }
        }
    }

    /// Sends a non-200 answer (or a transport error) and returns its class and code.
    fn deliver(&mut self, id: u64, answer: &Answer, ids: &[u64]) -> (Class, String) {
        let secret = self.echoable_secrets().join(" ");
        match answer {
            Answer::Ok { .. } => {
                self.deliver_http(id, 200, None, None, &ok_body(&vec![None; ids.len().max(1)]));
                (Class::Retry, String::new())
            }
            Answer::Error { which, rendering, echo_secret, server_skew_ms } => {
                let e = &REQUEST_ERRORS[which % REQUEST_ERRORS.len()];
                let message = if *echo_secret { echo(e.message, self.echoable_secrets()) } else { e.message.to_owned() };
                let (header, body) = match (e.code, rendering) {
                    (None, _) => (None, if e.status == 502 { b"<html>Bad Gateway</html>".to_vec() } else { Vec::new() }),
                    (Some(code), Rendering::Json) => (None, serde_json::json!({ "__type": code, "message": message }).to_string().into_bytes()),
                    (Some(code), Rendering::JsonNamespaced) => (
                        None,
                        serde_json::json!({ "__type": format!("com.amazonaws.kinesis.v20131202#{code}"), "message": message }).to_string().into_bytes(),
                    ),
                    (Some(code), Rendering::Header) => {
                        (Some(format!("{code}:http://internal.amazon.com/coral/com.amazon.coral.service/")), format!("{{\"message\":{}}}", serde_json::json!(message)).into_bytes())
                    }
                    (Some(code), Rendering::Xml) => (
                        None,
                        format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error></ErrorResponse>").into_bytes(),
                    ),
                };
                let server_date = server_skew_ms.map(|skew| (self.now as i64 + skew).max(1) as u64);
                self.deliver_http(id, e.status, header.as_deref(), server_date, &body);
                if e.class == Class::Clock && !ids.is_empty() {
                    if let Some(date) = server_date {
                        self.clock_offset_ms = date as i64 - self.now as i64;
                    }
                }
                (e.class, e.code.map_or_else(|| format!("Http{}", e.status), str::to_owned))
            }
            Answer::Transport { timeout, echo_secret } => {
                let kind = if *timeout { TransportError::Timeout } else { TransportError::Network };
                let message = if *echo_secret { format!("fetch failed: {secret}") } else { "fetch failed".to_owned() };
                self.dispatcher.handle_transport_error(id, kind, &message, self.now, &mut self.entropy);
                (Class::Retry, kind.code().to_owned())
            }
            Answer::Malformed(kind) => {
                let n = ids.len();
                let (status, body) = match kind {
                    Malformed::NotJson => (200, b"<html>maintenance</html>".to_vec()),
                    Malformed::CountPlusOne => (200, ok_body(&vec![None; n + 1])),
                    Malformed::CountMinusOne => (200, ok_body(&vec![None; n.saturating_sub(1)])),
                    Malformed::RecordsNotArray => (200, br#"{"FailedRecordCount":0,"Records":{}}"#.to_vec()),
                    Malformed::Empty => (200, Vec::new()),
                    Malformed::NoContent => (204, Vec::new()),
                };
                self.deliver_http(id, status, None, None, &body);
                (Class::Retry, "MalformedResponse".to_owned())
            }
        }
    }

    fn deliver_http(&mut self, id: u64, status: u16, error_type: Option<&str>, server_date_ms: Option<u64>, body: &[u8]) {
        let response = HttpResponse { status, error_type, server_date_ms, body };
        self.dispatcher.handle_response(id, response, self.now, &mut self.entropy);
    }

    fn end(&mut self, id: u64, state: State, attempts: u32, key: &str) {
        let rec = self.records.get_mut(&id).unwrap_or_else(|| panic!("record {id} was never accepted"));
        assert_eq!(rec.state, State::Pending, "record {id} ended twice");
        assert_eq!(rec.in_request, None, "record {id} ended while still in flight");
        assert_eq!(rec.attempts, attempts, "record {id}'s attempt count");
        if !rec.key.is_empty() {
            assert_eq!(rec.key, key);
        }
        rec.state = state;
        match state {
            State::Acked => self.acked += 1,
            State::Failed => self.failed += 1,
            State::Pending => unreachable!(),
        }
    }

    fn abort(&mut self, echo_secret: bool) {
        let message = if echo_secret { echo("stopped by signal", self.echoable_secrets()) } else { "stopped by signal".to_owned() };
        self.dispatcher.abort(ABORTED, &message);
        let ids: Vec<u64> = std::mem::take(&mut self.live)
            .into_iter()
            .flat_map(|(rid, ids)| {
                self.stale.push(rid);
                ids
            })
            .collect();
        for rid in ids {
            self.records.get_mut(&rid).unwrap().in_request = None;
        }
        if let Some((_, probe)) = &mut self.blocked {
            *probe = None; // its answer is ignored from now on
        }
        assert!(self.dispatcher.take_acked().is_empty());
        let failed = self.dispatcher.take_failed();
        let pending: HashSet<u64> = self.records.iter().filter(|(_, r)| r.state == State::Pending).map(|(&id, _)| id).collect();
        assert_eq!(failed.iter().map(|f| f.id).collect::<HashSet<_>>(), pending, "abort must end exactly the pending records");
        for f in &failed {
            assert_eq!(f.code, ABORTED);
            self.check_no_secrets(&f.message);
            let key = f.partition_key.clone();
            // Never-sent random keys are learnt here.
            if self.records[&f.id].key.is_empty() {
                self.records.get_mut(&f.id).unwrap().key = key.clone();
            }
            self.end(f.id, State::Failed, f.attempts, &key);
        }
        assert!(self.dispatcher.is_idle(), "not idle after abort");
    }

    fn check_no_secrets(&self, text: &str) {
        for secret in &self.used_secrets {
            // No piece long enough to matter either (a cut at truncation must not leak a prefix).
            for window in secret.as_bytes().windows(12) {
                let piece = std::str::from_utf8(window).unwrap();
                assert!(!text.contains(piece), "a secret leaked into {text:?}");
            }
        }
    }

    /// The invariants that hold after every step.
    pub fn check(&self) {
        let p = self.dispatcher.progress();
        let pending: Vec<&Rec> = self.records.values().filter(|r| r.state == State::Pending).collect();
        assert_eq!(p.accepted, self.records.len() as u64, "progress.accepted");
        assert_eq!(p.sent, self.acked, "progress.sent");
        assert_eq!(p.failed, self.failed, "progress.failed");
        assert_eq!(p.accepted, p.sent + p.failed + pending.len() as u64, "accepted = sent + failed + pending");
        assert_eq!(p.in_flight, self.live.len() as u64, "progress.in_flight");
        assert_eq!(self.dispatcher.in_flight(), self.live.len());
        assert!(self.live.len() <= self.setup.max_in_flight);
        assert_eq!(p.requests, self.requests, "progress.requests");
        assert_eq!(p.retries, self.retried_records, "progress.retries");
        assert_eq!(self.dispatcher.buffered_bytes(), pending.iter().map(|r| r.size).sum::<usize>(), "buffered bytes");
        assert_eq!(self.dispatcher.is_idle(), pending.is_empty(), "is_idle");
        let in_live: usize = self.live.values().map(Vec::len).sum();
        assert_eq!(in_live, pending.iter().filter(|r| r.in_request.is_some()).count());
    }

    /// Flushes and answers everything 200 OK until nothing is left; every record must end.
    pub fn drain(&mut self) {
        self.dispatcher.flush();
        if let Some(blocked) = &mut self.blocked {
            blocked.0 = 0;
        }
        for _ in 0..100_000 {
            self.poll_all();
            self.check();
            if self.live.is_empty() {
                match self.dispatcher.poll_timeout() {
                    Some(t) => self.now = self.now.max(t),
                    None => break,
                }
            } else {
                self.respond(0, &Answer::Ok { failures: Vec::new() });
                self.check();
            }
        }
        assert!(self.dispatcher.is_idle(), "records left after answering everything 200 OK");
        assert!(self.records.values().all(|r| r.state != State::Pending));
        assert_eq!(self.acked + self.failed, self.records.len() as u64);
    }
}

fn echo(message: &str, secrets: &[String]) -> String {
    // Long enough that truncation at 512 bytes may cut through a secret.
    let pad = "x".repeat(480);
    format!("{message}: {} {pad}{}", secrets.join(" "), secrets.join(""))
}

/// A 200 PutRecords answer: `None` is a success, `Some(i)` fails with `RECORD_CODES[i]`.
pub fn ok_body(codes: &[Option<usize>]) -> Vec<u8> {
    let records: Vec<serde_json::Value> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            None => serde_json::json!({ "SequenceNumber": format!("4959{i:020}"), "ShardId": "shardId-000000000000" }),
            Some(c) => serde_json::json!({ "ErrorCode": RECORD_CODES[*c].0, "ErrorMessage": "per-record failure" }),
        })
        .collect();
    let failed = codes.iter().filter(|c| c.is_some()).count();
    serde_json::json!({ "FailedRecordCount": failed, "Records": records }).to_string().into_bytes()
}

/// The Authorization header recomputed from the request as sent, with the sigv4 stages.
pub fn authorization(request: &OutgoingRequest, host: &str, path: &str, time: SigningTime, credentials: &Credentials) -> String {
    let header = |name: &str| request.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let sent = header("authorization").unwrap_or_default();
    let listed = sent.split("SignedHeaders=").nth(1).and_then(|s| s.split(',').next()).unwrap_or_default();
    let mut headers: Vec<(&str, &str)> = vec![("host", host)];
    for name in listed.split(';').filter(|n| *n != "host") {
        headers.push((name, header(name).unwrap_or_else(|| panic!("signed header {name} is not sent"))));
    }
    for required in ["content-type", "host", "x-amz-date", "x-amz-target"] {
        assert!(listed.split(';').any(|n| n == required), "{required} is not signed: {listed}");
    }
    let hash = sha256_hex(&request.body);
    let creq = canonical_request(&SignableRequest { method: "POST", path, query: "", headers: &headers, payload_sha256_hex: &hash });
    let scope = credential_scope(time, REGION, "kinesis");
    let sts = string_to_sign(time, &scope, &creq);
    let key = signing_key(&credentials.secret_access_key, &time.date_stamp(), REGION, "kinesis");
    authorization_value(&credentials.access_key_id, &scope, &signed_headers(&headers), &signature(&key, &sts))
}
