//! The WebAssembly component binding (`wit/kinesis-batch.wit`), built with
//! `cargo build --target wasm32-wasip2 --features component`.
//!
//! A thin host over the delivery engine (`crate::engine`): the engine and its dispatcher own
//! every policy (batching, linger, back-pressure, retries and backoff, credential refresh,
//! reports) and this file plugs in their parts. The `transport` import's `fetch` blocks until the answer is in hand,
//! so a send is a future that is ready at once; credentials come from the options, from
//! `set-credentials` or from the `credentials` import; time comes from `wasi:clocks` and waits
//! block on a monotonic-clock pollable, run by the single-threaded `local_executor` inside each
//! export call; randomness comes from `wasi:random`.

use std::cell::RefCell;
use std::future::ready;
use std::rc::Rc;

use crate::dispatcher::{Config, Dispatcher, Options, OutgoingRequest};
use crate::engine::{
    CredentialSource, CredentialsProvider, Engine, EngineProgress, Events, LocalFuture, ProvidedCredentials, PutRecordError, Report,
    SubmitError, Transport, TransportFailure, TransportResponse,
};
use crate::error::{OptionError, RecordError, RecordErrorCode};
use crate::limits::Limits;
use crate::local_executor::{Executor, TimeSource};
use crate::partition_key::{self, KeyPath, KeySource};
use crate::plan::{PlanOutput, Planner};
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
    PlannedBatch, PutRecordOptions, PutRecordOutput, RejectedRecord, SubmitOptions,
};
use kinesis::batch::credentials as credentials_import;
use kinesis::batch::transport::{self, KinesisFetchInit, TransportError};
use wasi::clocks::{monotonic_clock, wall_clock};
use wasi::random::random;

struct Component;

export!(Component);

// ---- time and randomness from WASI ----------------------------------------------------------

/// The executor's time: `now_ms` from the wall clock (it is also the signing time), waits on a
/// monotonic-clock pollable.
struct WasiTime;

impl TimeSource for WasiTime {
    fn now_ms(&self) -> u64 {
        let t = wall_clock::now();
        t.seconds.saturating_mul(1000).saturating_add(u64::from(t.nanoseconds / 1_000_000))
    }

    fn wait_until(&self, at: u64) {
        loop {
            let now = self.now_ms();
            if now >= at {
                return;
            }
            monotonic_clock::subscribe_duration((at - now).saturating_mul(1_000_000)).block();
        }
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

/// An error with only a code and a message (`option`, `error-code` and `attempts` unset).
fn coded(code: ErrorCode, message: String) -> KinesisBatchError {
    KinesisBatchError { code, message, option: None, error_code: None, attempts: None }
}

fn option_error(e: OptionError) -> KinesisBatchError {
    KinesisBatchError { option: Some(e.option.to_owned()), ..coded(ErrorCode::InvalidOption, format!("{}: {}", e.option, e.message)) }
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
    coded(code_of(e.code), e.message)
}

// ---- payloads -------------------------------------------------------------------------------

fn unserializable(message: String) -> RecordError {
    RecordError::new(RecordErrorCode::UnserializablePayload, message)
}

/// The payload's data bytes and key: the given one, else the one `key_from_data` reads from the
/// data when an identifier is configured, else none (the core makes a random one). JSON text
/// must parse: `UnserializablePayload`, checked in the same pass as the key where one is read.
fn encode<'p>(payload: &'p Payload, path: Option<&KeyPath>, given: Option<&str>) -> Result<(&'p [u8], Option<String>), RecordError> {
    let data = match payload {
        Payload::Json(text) | Payload::Text(text) => text.as_bytes(),
        Payload::Bytes(bytes) => bytes.as_slice(),
    };
    let check_json = || match payload {
        Payload::Json(text) => serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map(drop)
            .map_err(|e| unserializable(format!("payload is not valid JSON: {e}"))),
        _ => Ok(()),
    };
    let key = match (given, path) {
        (Some(k), _) => {
            check_json()?;
            Some(k.to_owned())
        }
        // A key read means the data parsed, unless it is missing: only then can the JSON be bad.
        (None, Some(path)) => Some(partition_key::key_from_data(data, path).map_err(|e| match e.code {
            RecordErrorCode::MissingPartitionKey => check_json().err().unwrap_or(e),
            _ => e,
        })?),
        (None, None) => {
            check_json()?;
            None
        }
    };
    Ok((data, key))
}

fn key_input(key: &Option<String>) -> KeyInput<'_> {
    key.as_deref().map_or(KeyInput::Default, KeyInput::Given)
}

// ---- the engine's parts ----------------------------------------------------------------------

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The `transport` import. It blocks until the answer is in hand and enforces `timeout-ms`
/// itself (the engine's deadline race cannot interrupt a blocking call), so the future it
/// returns is already resolved.
struct ImportTransport {
    timeout_ms: u32,
}

impl Transport for ImportTransport {
    fn send(&self, request: OutgoingRequest) -> LocalFuture<'static, Result<TransportResponse, TransportFailure>> {
        let OutgoingRequest { method, url, headers, body, .. } = request;
        let init = KinesisFetchInit { method: method.to_owned(), headers, body, timeout_ms: self.timeout_ms };
        let answer = match transport::fetch(&url, &init) {
            Ok(r) => Ok(TransportResponse {
                status: r.status,
                error_type: header(&r.headers, "x-amzn-errortype").map(str::to_owned),
                server_date_ms: header(&r.headers, "date").and_then(crate::engine::http_date_ms),
                body: r.body,
            }),
            Err(TransportError::Timeout) => {
                Err(TransportFailure { message: format!("no answer within {} ms", self.timeout_ms), timed_out: true })
            }
            Err(TransportError::Network(message)) => Err(TransportFailure { message, timed_out: false }),
        };
        Box::pin(ready(answer))
    }
}

/// The static credentials: the `credentials` option, replaced by each `set-credentials`.
type StaticCredentials = Rc<RefCell<Option<sigv4::Credentials>>>;

/// What the engine gets when it asks for credentials: the static ones if any (they never
/// expire), else the `credentials` import's.
struct ComponentCredentials {
    fixed: StaticCredentials,
}

impl CredentialsProvider for ComponentCredentials {
    fn credentials(&self) -> LocalFuture<'static, Result<ProvidedCredentials, String>> {
        let fixed = self.fixed.borrow().clone();
        let answer = match fixed {
            Some(credentials) => Ok(ProvidedCredentials { credentials, expires_ms: None }),
            None => from_import(),
        };
        Box::pin(ready(answer))
    }
}

fn from_import() -> Result<ProvidedCredentials, String> {
    let c = credentials_import::get()?;
    if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
        return Err("the credentials import returned an empty access key id or secret access key".to_owned());
    }
    Ok(ProvidedCredentials {
        credentials: sigv4::Credentials {
            access_key_id: c.access_key_id,
            secret_access_key: c.secret_access_key,
            session_token: c.session_token.filter(|t| !t.is_empty()),
        },
        expires_ms: c.expiration_ms,
    })
}

/// The notices said so far, oldest first: `progress` returns them.
type Notices = Rc<RefCell<Vec<String>>>;

/// No `onProgress` in the component: `progress` is read on demand, and notices (a shard-aware
/// feature that fell back) are kept for it.
struct NoticeEvents {
    notices: Notices,
}

impl Events<Rc<Payload>> for NoticeEvents {
    fn wants_progress(&self) -> bool {
        false
    }

    fn notice(&self, message: String, _progress: EngineProgress) {
        self.notices.borrow_mut().push(message);
    }
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

fn submit_error(e: SubmitError) -> KinesisBatchError {
    match e {
        SubmitError::Record(e) => record_error(e),
        // The component never aborts the engine, so it is never closed; kept total all the same.
        SubmitError::Closed { code, message } => coded(ErrorCode::InvalidOption, format!("the dispatcher is closed ({code}): {message}")),
    }
}

fn put_record_error(e: PutRecordError) -> KinesisBatchError {
    match e {
        PutRecordError::Submit(e) => submit_error(e),
        PutRecordError::Failed(f) => {
            KinesisBatchError { error_code: Some(f.code), attempts: Some(f.attempts), ..coded(ErrorCode::RecordFailed, f.message) }
        }
    }
}

/// The submitted payload back: the engine has dropped its handle by the time a record is
/// reported, so this does not copy.
fn payload_of(payload: Rc<Payload>) -> Payload {
    Rc::try_unwrap(payload).unwrap_or_else(|shared| (*shared).clone())
}

fn flush_report(report: Report<Rc<Payload>>) -> FlushReport {
    FlushReport {
        sent: report.sent,
        requests: report.requests,
        retries: report.retries,
        failed: report
            .failed
            .into_iter()
            .map(|f| FailedRecord {
                payload: payload_of(f.payload),
                partition_key: f.partition_key,
                error_code: f.error_code,
                error_message: f.error_message,
                attempts: f.attempts,
            })
            .collect(),
    }
}

// ---- the dispatcher -------------------------------------------------------------------------

struct DispatcherResource {
    /// Runs the engine's tasks and timers inside each export call; nothing runs between calls.
    executor: RefCell<Executor>,
    /// Payloads in an `Rc`: `submit-payload` lends the engine their bytes while the engine keeps
    /// them for the report, and nothing is copied.
    engine: Engine<Rc<Payload>>,
    fixed: StaticCredentials,
    key_path: Option<KeyPath>,
    notices: Notices,
}

impl DispatcherResource {
    /// Runs `task` on the executor with every task the engine has spawned. `None` when it can
    /// never finish (nothing left to run and no timer), or on a re-entrant call.
    fn block_on<T: 'static>(&self, task: impl std::future::Future<Output = T> + 'static) -> Option<T> {
        self.executor.try_borrow_mut().ok()?.block_on(task)
    }

    /// While the stream's limits are read (`discover-limits`), records wait for them before
    /// they are checked: runs the executor until they are known or given up on.
    fn wait_for_limits(&self) {
        if self.engine.limits_pending() {
            let engine = self.engine.clone();
            self.block_on(async move { engine.wait_for_limits().await });
        }
    }
}

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
            aggregate: options.aggregate,
            max_aggregate_bytes: n(options.max_aggregate_bytes),
            ordered: options.ordered,
            shard_rate_limit: options.shard_rate_limit,
            discover_limits: options.discover_limits,
        };
        let config = Config::new(&opts).map_err(option_error)?;
        let fixed: StaticCredentials = Rc::new(RefCell::new(options.credentials.map(core_credentials).transpose()?));
        let key_path = match &config.key_source {
            KeySource::Path(path) => Some(path.clone()),
            KeySource::Random => None,
        };
        let transport = ImportTransport { timeout_ms: u32::try_from(config.request_timeout_ms).unwrap_or(u32::MAX) };
        let executor = Executor::new(Box::new(WasiTime));
        let notices = Notices::default();
        // Always a provider, even for static credentials, so `set-credentials` can replace them.
        let engine = Engine::new(
            Dispatcher::new(config),
            Box::new(WasiEntropy::new()),
            Box::new(transport),
            Box::new(executor.runtime()),
            CredentialSource::Provider(Box::new(ComponentCredentials { fixed: fixed.clone() })),
            Box::new(NoticeEvents { notices: notices.clone() }),
        );
        Ok(DispatcherResource { executor: RefCell::new(executor), engine, fixed, key_path, notices })
    }

    fn region(&self) -> String {
        self.engine.with_dispatcher(|d| d.config().region.clone())
    }

    fn endpoint(&self) -> String {
        self.engine.with_dispatcher(|d| d.config().endpoint.url.clone())
    }

    fn progress(&self) -> api::Progress {
        let EngineProgress { accepted, sent, failed, in_flight, retries, requests, buffered_bytes } = self.engine.progress();
        api::Progress {
            accepted,
            sent,
            failed,
            in_flight: u32::try_from(in_flight).unwrap_or(u32::MAX),
            retries,
            requests,
            buffered_bytes,
            notices: self.notices.borrow().clone(),
        }
    }

    fn set_credentials(&self, credentials: api::Credentials) -> Result<(), KinesisBatchError> {
        let credentials = core_credentials(credentials)?;
        *self.fixed.borrow_mut() = Some(credentials.clone());
        // The next request is signed with them.
        self.engine.set_credentials(ProvidedCredentials { credentials, expires_ms: None });
        Ok(())
    }

    fn submit_payload(&self, payload: Payload, options: Option<SubmitOptions>) -> Result<(), KinesisBatchError> {
        let options = options.unwrap_or(SubmitOptions { partition_key: None, explicit_hash_key: None });
        self.wait_for_limits();
        let payload = Rc::new(payload);
        let (data, key) = encode(&payload, self.key_path.as_ref(), options.partition_key.as_deref()).map_err(record_error)?;
        let key = key.as_deref().map_or(KeyInput::Default, KeyInput::Given);
        let over = self.engine.submit(data, key, options.explicit_hash_key.as_deref(), payload.clone()).map_err(submit_error)?;
        if over {
            let engine = self.engine.clone();
            self.block_on(async move { engine.wait_for_room().await });
        } else {
            // Runs the tasks `submit` spawned until they stall: the sends of what its poll found
            // ready (full batches, due retries, a lingering batch whose time is up). No timer is
            // waited for.
            if let Ok(mut executor) = self.executor.try_borrow_mut() {
                executor.run_until_stalled();
            }
        }
        Ok(())
    }

    fn flush_payloads(&self) -> FlushReport {
        let engine = self.engine.clone();
        match self.block_on(async move { engine.flush().await }) {
            Some(report) => flush_report(report),
            // Cannot happen while the transport answers every call; the records stay accounted
            // for and come in a later report.
            None => FlushReport { sent: 0, requests: 0, retries: 0, failed: Vec::new() },
        }
    }

    fn put_record(&self, data: Vec<u8>, options: Option<PutRecordOptions>) -> Result<PutRecordOutput, KinesisBatchError> {
        let PutRecordOptions { partition_key, explicit_hash_key, sequence_number_for_ordering } =
            options.unwrap_or(PutRecordOptions { partition_key: None, explicit_hash_key: None, sequence_number_for_ordering: None });
        let engine = self.engine.clone();
        let outcome = self.block_on(async move {
            let key = partition_key.as_deref().map_or(KeyInput::Default, KeyInput::Given);
            engine.put_record(&data, key, explicit_hash_key.as_deref(), sequence_number_for_ordering.as_deref()).await
        });
        match outcome {
            Some(Ok(out)) => Ok(PutRecordOutput { shard_id: out.shard_id, sequence_number: out.sequence_number }),
            Some(Err(e)) => Err(put_record_error(e)),
            // Cannot happen while the transport answers every call (nor re-entrantly: a host
            // import never calls back into the component).
            None => Err(coded(ErrorCode::RecordFailed, "the record's outcome never came".to_owned())),
        }
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
        let key_path = identifier.map(KeyPath::parse).transpose().map_err(option_error)?;
        let mut entropy = WasiEntropy::new();
        for payload in &payloads {
            match encode(payload, key_path.as_ref(), None) {
                // A refused record is listed in `rejected` by the planner.
                Ok((data, key)) => {
                    let _ = planner.add(data, key_input(&key), None, &mut entropy);
                }
                Err(e) => planner.reject(e),
            }
        }
        let PlanOutput { batches, rejected, .. } = planner.finish();
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
        shard_map::decimal(shard_map::hash_key_of(&partition_key))
    }

    fn shard_index_for(partition_key: String, shard_count: u32) -> Result<u32, KinesisBatchError> {
        if !(1..=100_000).contains(&shard_count) {
            return Err(option_error(OptionError::new("shardCount", "must be a whole number from 1 to 100000")));
        }
        Ok(shard_map::shard_index_for(&partition_key, shard_count))
    }
}
