//! wasm-bindgen bindings: the engine with the host's `fetch` as its transport, the host's
//! timers as its runtime and the `credentials` option as its provider. The JS entry points load
//! the wasm, read the environment and encode payloads; every decision is made here or below.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::dispatcher::{Config, Dispatcher, Options, OutgoingRequest};
use crate::engine::{
    CredentialSource, CredentialsProvider, Engine, EngineProgress, Events, Failure, LocalFuture, ProvidedCredentials, PutRecordError,
    Report, Runtime, SubmitError, Transport, TransportFailure, TransportResponse,
};
use crate::error::{OptionError, RecordError, RecordErrorCode};
use crate::limits::Limits;
use crate::plan::{PlanOutput, Planner};
use crate::record::{Entropy, KeyInput};
use crate::shard_map;
use crate::sigv4::Credentials;

/// Every option `new KinesisBatchDispatcher(stream, options)` takes: any other name is refused.
pub const OPTION_NAMES: &[&str] = &[
    "region",
    "endpoint",
    "credentials",
    "fetch",
    "partitionKeyIdentifier",
    "maxBatchSize",
    "maxRecordBytes",
    "maxRequestBytes",
    "maxAttempts",
    "retryBaseDelayMs",
    "retryMaxDelayMs",
    "maxInFlight",
    "maxBufferedBytes",
    "maxBufferedTimeMs",
    "requestTimeoutMs",
    "onProgress",
    "onFailed",
    "signal",
    "aggregate",
    "maxAggregateBytes",
    "ordered",
    "shardRateLimit",
    "discoverLimits",
];

/// The options `planBatches` uses; it accepts the dispatcher's too, so one object serves both.
const PLAN_OPTION_NAMES: &[&str] = &[
    "partitionKeyIdentifier",
    "maxBatchSize",
    "maxRecordBytes",
    "maxRequestBytes",
    "aggregate",
    "maxAggregateBytes",
    // The shard map to predict with: an even split, or a ListShards answer (object or text).
    "shardCount",
    "listShards",
];

/// Randomness from the host's CSPRNG, fetched in blocks to keep boundary crossings rare.
struct HostEntropy {
    pool: [u8; 256],
    used: usize,
}

impl HostEntropy {
    fn new() -> Self {
        Self { pool: [0; 256], used: 256 }
    }
}

impl Entropy for HostEntropy {
    fn fill(&mut self, bytes: &mut [u8]) {
        for b in bytes {
            if self.used == self.pool.len() {
                // Every supported runtime has crypto.getRandomValues; a thrown JS error, not
                // `expect`, which would link Debug formatting into the wasm.
                if getrandom::fill(&mut self.pool).is_err() {
                    wasm_bindgen::throw_str("crypto.getRandomValues is not available");
                }
                self.used = 0;
            }
            *b = self.pool[self.used];
            self.used += 1;
        }
    }
}

// ---- errors ---------------------------------------------------------------------------------

fn coded_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

fn option_error(e: OptionError) -> JsValue {
    let error = coded_error(OptionError::CODE, &format!("{}: {}", e.option, e.message));
    let _ = Reflect::set(&error, &"option".into(), &e.option.into());
    error
}

/// An option error for a name that is not `'static` (an unknown key).
fn unknown_option_error(name: &str, known: &[&str]) -> JsValue {
    let hint = nearest(name, known).map(|n| format!("; did you mean \"{n}\"?")).unwrap_or_default();
    let error = coded_error(OptionError::CODE, &format!("{name}: unknown option{hint}"));
    let _ = Reflect::set(&error, &"option".into(), &name.into());
    error
}

fn record_error(e: RecordError) -> JsValue {
    coded_error(e.code.as_str(), &e.message)
}

fn submit_error(e: SubmitError) -> JsValue {
    match e {
        SubmitError::Record(e) => record_error(e),
        SubmitError::Closed { code, message } => coded_error(&code, &message),
    }
}

/// The known name within edit distance 2 of `name`, if any: the likely typo's target.
fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known.iter().map(|k| (levenshtein(name, k), *k)).filter(|(d, _)| *d <= 2).min_by_key(|(d, _)| *d).map(|(_, k)| k)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

// ---- options --------------------------------------------------------------------------------

fn get(obj: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    // A throwing getter is the caller's bad option, not a crash.
    Reflect::get(obj, &key.into()).map_err(|e| {
        let message = e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).unwrap_or_else(|| "it threw".into());
        let error = coded_error(OptionError::CODE, &format!("{key}: reading the option failed: {message}"));
        let _ = Reflect::set(&error, &"option".into(), &key.into());
        error
    })
}

/// Refuses any own enumerable key not in `known`.
fn check_names(options: &JsValue, known: &[&str]) -> Result<(), JsValue> {
    let Some(object) = options.dyn_ref::<Object>() else { return Ok(()) };
    for key in Object::keys(object).iter() {
        let key = key.as_string().unwrap_or_default();
        if !known.contains(&key.as_str()) {
            return Err(unknown_option_error(&key, known));
        }
    }
    Ok(())
}

/// The scalar options, read into a typed struct (functions and objects are read apart).
/// Read with `Reflect` rather than serde-wasm-bindgen: its deserializer formats the value it
/// rejects, which links float formatting (about 10 KB gzipped) into the wasm.
#[derive(Default)]
struct ScalarOptions {
    region: Option<String>,
    endpoint: Option<String>,
    partition_key_identifier: Option<String>,
    max_batch_size: Option<f64>,
    max_record_bytes: Option<f64>,
    max_request_bytes: Option<f64>,
    max_attempts: Option<f64>,
    retry_base_delay_ms: Option<f64>,
    retry_max_delay_ms: Option<f64>,
    max_in_flight: Option<f64>,
    max_buffered_bytes: Option<f64>,
    max_buffered_time_ms: Option<f64>,
    request_timeout_ms: Option<f64>,
    aggregate: Option<bool>,
    max_aggregate_bytes: Option<f64>,
    ordered: Option<bool>,
    shard_rate_limit: Option<f64>,
    discover_limits: Option<bool>,
}

fn scalar_options(options: &JsValue) -> Result<ScalarOptions, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(ScalarOptions::default());
    }
    let text = |name: &'static str| -> Result<Option<String>, JsValue> {
        let v = get(options, name)?;
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        v.as_string().map(Some).ok_or_else(|| unknown_type(name, "must be a string"))
    };
    let number = |name: &'static str| -> Result<Option<f64>, JsValue> {
        let v = get(options, name)?;
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        v.as_f64().map(Some).ok_or_else(|| unknown_type(name, "must be a number"))
    };
    let flag = |name: &'static str| -> Result<Option<bool>, JsValue> {
        let v = get(options, name)?;
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        v.as_bool().map(Some).ok_or_else(|| unknown_type(name, "must be true or false"))
    };
    Ok(ScalarOptions {
        aggregate: flag("aggregate")?,
        max_aggregate_bytes: number("maxAggregateBytes")?,
        ordered: flag("ordered")?,
        shard_rate_limit: number("shardRateLimit")?,
        discover_limits: flag("discoverLimits")?,
        region: text("region")?,
        endpoint: text("endpoint")?,
        partition_key_identifier: text("partitionKeyIdentifier")?,
        max_batch_size: number("maxBatchSize")?,
        max_record_bytes: number("maxRecordBytes")?,
        max_request_bytes: number("maxRequestBytes")?,
        max_attempts: number("maxAttempts")?,
        retry_base_delay_ms: number("retryBaseDelayMs")?,
        retry_max_delay_ms: number("retryMaxDelayMs")?,
        max_in_flight: number("maxInFlight")?,
        max_buffered_bytes: number("maxBufferedBytes")?,
        max_buffered_time_ms: number("maxBufferedTimeMs")?,
        request_timeout_ms: number("requestTimeoutMs")?,
    })
}

fn unknown_type(name: &str, message: &str) -> JsValue {
    let error = coded_error(OptionError::CODE, &format!("{name}: {message}"));
    let _ = Reflect::set(&error, &"option".into(), &name.into());
    error
}

fn function_option(options: &JsValue, name: &'static str) -> Result<Option<Function>, JsValue> {
    let value = get(options, name)?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.dyn_into::<Function>().map(Some).map_err(|_| option_error(OptionError::new(name, "must be a function")))
}

// ---- the transport: the injected fetch -------------------------------------------------------

fn describe_js_error(error: &JsValue) -> String {
    let text = |v: JsValue| v.as_string().filter(|s| !s.is_empty());
    let name = Reflect::get(error, &"name".into()).ok().and_then(text).unwrap_or_else(|| "Error".into());
    let message = Reflect::get(error, &"message".into()).ok().and_then(text).or_else(|| error.as_string()).unwrap_or_default();
    let cause = Reflect::get(error, &"cause".into()).ok().filter(|c| !c.is_undefined() && !c.is_null());
    let detail = cause
        .and_then(|c| {
            Reflect::get(&c, &"code".into())
                .ok()
                .and_then(text)
                .or_else(|| Reflect::get(&c, &"message".into()).ok().and_then(text))
                .or_else(|| c.as_string())
        })
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    format!("{name}: {message}{detail}")
}

fn transport_failure(message: impl Into<String>) -> TransportFailure {
    TransportFailure { message: message.into(), timed_out: false }
}

struct FetchTransport {
    fetch: Function,
    /// The AbortController of each request in flight, to cancel them on abort.
    controllers: Rc<RefCell<Vec<(u64, JsValue)>>>,
}

fn new_abort_controller() -> Option<JsValue> {
    let constructor = Reflect::get(&js_sys::global(), &"AbortController".into()).ok()?.dyn_into::<Function>().ok()?;
    Reflect::construct(&constructor, &Array::new()).ok()
}

fn abort_controller(controller: &JsValue) {
    if let Ok(abort) = Reflect::get(controller, &"abort".into()).and_then(|f| f.dyn_into::<Function>()) {
        let _ = abort.call0(controller);
    }
}

impl FetchTransport {
    /// One attempt: every odd result becomes a failure the engine retries.
    async fn attempt(fetch: Function, request: OutgoingRequest, signal: JsValue) -> Result<TransportResponse, TransportFailure> {
        let headers = Object::new();
        for (name, value) in &request.headers {
            let _ = Reflect::set(&headers, &name.into(), &value.into());
        }
        let init = Object::new();
        let _ = Reflect::set(&init, &"method".into(), &request.method.into());
        let _ = Reflect::set(&init, &"headers".into(), &headers);
        let _ = Reflect::set(&init, &"body".into(), &Uint8Array::from(&request.body[..]));
        if !signal.is_undefined() {
            let _ = Reflect::set(&init, &"signal".into(), &signal);
        }
        let url = JsValue::from(&request.url);
        drop(request);
        let pending = fetch.call2(&JsValue::UNDEFINED, &url, &init).map_err(|e| transport_failure(describe_js_error(&e)))?;
        let response = JsFuture::from(Promise::resolve(&pending)).await.map_err(|e| transport_failure(describe_js_error(&e)))?;
        let not_a_response = || transport_failure("fetch returned something that is not a Response");
        if !response.is_object() {
            return Err(not_a_response());
        }
        let status = Reflect::get(&response, &"status".into()).ok().and_then(|s| s.as_f64()).ok_or_else(not_a_response)?;
        if !(100.0..=599.0).contains(&status) || status.fract() != 0.0 {
            return Err(transport_failure("fetch returned a Response with an invalid status"));
        }
        let headers = Reflect::get(&response, &"headers".into()).unwrap_or(JsValue::UNDEFINED);
        let get = Reflect::get(&headers, &"get".into())
            .ok()
            .and_then(|g| g.dyn_into::<Function>().ok())
            .ok_or_else(|| transport_failure("fetch returned a Response without headers"))?;
        let header = |name: &str| -> Result<Option<String>, TransportFailure> {
            get.call1(&headers, &name.into())
                .map(|v| v.as_string())
                .map_err(|e| transport_failure(format!("reading the {name} header failed: {}", describe_js_error(&e))))
        };
        let error_type = header("x-amzn-errortype")?;
        let date = header("date")?.map(|d| js_sys::Date::parse(&d)).filter(|t| t.is_finite() && *t >= 0.0).map(|t| t as u64);
        let array_buffer = Reflect::get(&response, &"arrayBuffer".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| transport_failure("fetch returned a Response without a readable body"))?;
        let body = array_buffer.call0(&response).map_err(|e| transport_failure(describe_js_error(&e)))?;
        let body = JsFuture::from(Promise::resolve(&body))
            .await
            .map_err(|e| transport_failure(format!("reading the body failed: {}", describe_js_error(&e))))?;
        let body = if body.is_instance_of::<js_sys::ArrayBuffer>() {
            Uint8Array::new(&body).to_vec()
        } else {
            return Err(transport_failure("reading the body gave no ArrayBuffer"));
        };
        Ok(TransportResponse { status: status as u16, error_type, server_date_ms: date, body })
    }
}

impl Transport for FetchTransport {
    fn send(&self, request: OutgoingRequest) -> LocalFuture<'static, Result<TransportResponse, TransportFailure>> {
        let id = request.id;
        let controller = new_abort_controller();
        let signal = controller.as_ref().and_then(|c| Reflect::get(c, &"signal".into()).ok()).unwrap_or(JsValue::UNDEFINED);
        if let Some(c) = controller {
            self.controllers.borrow_mut().push((id, c));
        }
        let controllers = self.controllers.clone();
        let fetch = self.fetch.clone();
        Box::pin(async move {
            // Removes this request's controller however the attempt ends, a deadline included.
            struct Forget(Rc<RefCell<Vec<(u64, JsValue)>>>, u64);
            impl Drop for Forget {
                fn drop(&mut self) {
                    self.0.borrow_mut().retain(|(id, _)| *id != self.1);
                }
            }
            let _forget = Forget(controllers, id);
            Self::attempt(fetch, request, signal).await
        })
    }

    fn cancel_all(&self) {
        let controllers = std::mem::take(&mut *self.controllers.borrow_mut());
        for (_, controller) in controllers {
            abort_controller(&controller);
        }
    }
}

// ---- the runtime: the host's timers ----------------------------------------------------------

/// `{ set(callback, ms) → handle, clear(handle), keepAlive(on) }` from the JS host.
#[derive(Clone)]
struct HostTimers {
    timers: JsValue,
    set: Function,
    clear: Function,
    keep_alive: Option<Function>,
}

impl HostTimers {
    fn from(host: &JsValue) -> Result<Self, JsValue> {
        let timers = get(host, "timers")?;
        let method = |name: &str| Reflect::get(&timers, &name.into()).ok().and_then(|f| f.dyn_into::<Function>().ok());
        let missing = || coded_error("InvalidOption", "host: timers.set and timers.clear are required");
        Ok(Self {
            set: method("set").ok_or_else(missing)?,
            clear: method("clear").ok_or_else(missing)?,
            keep_alive: method("keepAlive"),
            timers,
        })
    }
}

struct Sleep {
    future: JsFuture,
    handle: JsValue,
    timers: HostTimers,
}

impl std::future::Future for Sleep {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.future).poll(cx).map(|_| ())
    }
}

impl Drop for Sleep {
    // A dropped deadline must not keep the host alive until it fires.
    fn drop(&mut self) {
        let _ = self.timers.clear.call1(&self.timers.timers, &self.handle);
    }
}

struct HostRuntime {
    timers: HostTimers,
}

impl Runtime for HostRuntime {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn sleep(&self, ms: u64) -> LocalFuture<'static, ()> {
        let mut handle = JsValue::UNDEFINED;
        let timers = self.timers.clone();
        let promise = Promise::new(&mut |resolve, _reject| {
            handle = timers.set.call2(&timers.timers, &resolve, &JsValue::from(ms as f64)).unwrap_or(JsValue::UNDEFINED);
        });
        Box::pin(Sleep { future: JsFuture::from(promise), handle, timers })
    }

    fn spawn(&self, task: LocalFuture<'static, ()>) {
        wasm_bindgen_futures::spawn_local(task);
    }

    fn keep_alive(&self, on: bool) {
        if let Some(f) = &self.timers.keep_alive {
            let _ = f.call1(&self.timers.timers, &on.into());
        }
    }
}

// ---- credentials -----------------------------------------------------------------------------

fn read_credentials(value: &JsValue) -> Result<ProvidedCredentials, String> {
    let shape = "credentials must be { accessKeyId, secretAccessKey, sessionToken?, expiration? }";
    if !value.is_object() {
        return Err(shape.into());
    }
    let field = |name: &str| Reflect::get(value, &name.into()).map_err(|e| describe_js_error(&e));
    let access_key_id = field("accessKeyId")?.as_string().filter(|s| !s.is_empty());
    let secret_access_key = field("secretAccessKey")?.as_string().filter(|s| !s.is_empty());
    let (Some(access_key_id), Some(secret_access_key)) = (access_key_id, secret_access_key) else {
        return Err("accessKeyId and secretAccessKey must be non-empty strings".into());
    };
    let token = field("sessionToken")?;
    let session_token = match token.as_string() {
        Some(t) => Some(t).filter(|t| !t.is_empty()),
        None if token.is_undefined() || token.is_null() => None,
        None => return Err("sessionToken must be a string".into()),
    };
    let expiration = field("expiration")?;
    let expires_ms = if expiration.is_undefined() || expiration.is_null() {
        None
    } else {
        let t = js_sys::Date::new(&expiration).get_time();
        t.is_finite().then_some(t.max(0.0) as u64)
    };
    Ok(ProvidedCredentials { credentials: Credentials { access_key_id, secret_access_key, session_token }, expires_ms })
}

struct FunctionProvider(Function);

impl CredentialsProvider for FunctionProvider {
    fn credentials(&self) -> LocalFuture<'static, Result<ProvidedCredentials, String>> {
        let called = self.0.call0(&JsValue::UNDEFINED);
        Box::pin(async move {
            let value = called.map_err(|e| describe_js_error(&e))?;
            let value = JsFuture::from(Promise::resolve(&value)).await.map_err(|e| describe_js_error(&e))?;
            read_credentials(&value)
        })
    }
}

// ---- events ----------------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsProgress {
    accepted: f64,
    sent: f64,
    failed: f64,
    in_flight: f64,
    retries: f64,
    requests: f64,
    buffered_bytes: f64,
}

fn progress_value(p: EngineProgress) -> JsValue {
    let p = JsProgress {
        accepted: p.accepted as f64,
        sent: p.sent as f64,
        failed: p.failed as f64,
        in_flight: p.in_flight as f64,
        retries: p.retries as f64,
        requests: p.requests as f64,
        buffered_bytes: p.buffered_bytes as f64,
    };
    to_js(&p)
}

/// One `future_to_promise` for every async method: each instantiation costs about 1 KB of wasm.
fn promise(future: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    let boxed: LocalFuture<'static, Result<JsValue, JsValue>> = Box::pin(future);
    wasm_bindgen_futures::future_to_promise(boxed)
}

fn to_js<T: Serialize>(value: &T) -> JsValue {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::UNDEFINED)
}

struct JsEvents {
    on_progress: Option<Function>,
    on_failed: Option<Function>,
    /// Handles the rejection of an async callback, which must not become unhandled.
    ignore: Closure<dyn FnMut(JsValue)>,
}

impl JsEvents {
    /// Calls a user callback; a throw or a rejection never stops delivery or goes unhandled.
    fn call(&self, f: &Function, argument: &JsValue) {
        if let Ok(returned) = f.call1(&JsValue::UNDEFINED, argument) {
            if returned.has_type::<Promise>() || Reflect::get(&returned, &"then".into()).is_ok_and(|t| t.is_function()) {
                let _ = Promise::resolve(&returned).catch(&self.ignore);
            }
        }
    }
}

impl Events<JsValue> for JsEvents {
    fn wants_progress(&self) -> bool {
        self.on_progress.is_some()
    }

    fn progress(&self, progress: EngineProgress) {
        if let Some(f) = &self.on_progress {
            self.call(f, &progress_value(progress));
        }
    }

    fn streams_failures(&self) -> bool {
        self.on_failed.is_some()
    }

    fn failed(&self, failures: Vec<Failure<JsValue>>) {
        if let Some(f) = &self.on_failed {
            let failures: Vec<JsFailure> = failures.into_iter().map(JsFailure::from).collect();
            self.call(f, &to_js(&failures));
        }
    }

    // onProgress gets the progress with a `notice` (a feature that fell back), once.
    fn notice(&self, message: String, progress: EngineProgress) {
        if let Some(f) = &self.on_progress {
            let value = progress_value(progress);
            let _ = Reflect::set(&value, &"notice".into(), &message.into());
            self.call(f, &value);
        }
    }
}

/// The per-record `partitionKey` and `explicitHashKey` options (a bigint hash key is taken as
/// its decimal digits).
fn record_options(options: &JsValue) -> Result<(Option<String>, Option<String>), JsValue> {
    if options.is_undefined() {
        return Ok((None, None));
    }
    if !options.is_object() {
        return Err(option_error(OptionError::new("options", "per-record options must be an object")));
    }
    let partition_key = get(options, "partitionKey")?;
    let explicit_hash_key = get(options, "explicitHashKey")?;
    let absent = |v: &JsValue| v.is_undefined() || v.is_null();
    let key = match partition_key.as_string() {
        Some(k) => Some(k),
        None if absent(&partition_key) => None,
        None => {
            return Err(record_error(RecordError::new(RecordErrorCode::InvalidPartitionKey, "the partitionKey option must be a string")))
        }
    };
    let hash_key = if let Some(k) = explicit_hash_key.as_string() {
        Some(k)
    } else if explicit_hash_key.is_bigint() {
        js_sys::BigInt::from(explicit_hash_key.clone()).to_string(10).ok().map(String::from)
    } else if absent(&explicit_hash_key) {
        None
    } else {
        return Err(record_error(RecordError::new(
            RecordErrorCode::InvalidExplicitHashKey,
            "the explicitHashKey option must be a decimal string",
        )));
    };
    Ok((key, hash_key))
}

// A given key, or the key rule's; `canonical_json` when the data is `JSON.stringify`'s output.
fn key_input(partition_key: Option<&str>, canonical_json: bool) -> KeyInput<'_> {
    match partition_key {
        Some(key) => KeyInput::Given(key),
        None if canonical_json => KeyInput::DefaultCanonical,
        None => KeyInput::Default,
    }
}

// ---- the dispatcher --------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsFailure {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    payload: JsValue,
    partition_key: String,
    error_code: String,
    error_message: String,
    attempts: u32,
}

impl From<Failure<JsValue>> for JsFailure {
    fn from(f: Failure<JsValue>) -> Self {
        JsFailure {
            payload: f.payload,
            partition_key: f.partition_key,
            error_code: f.error_code,
            error_message: f.error_message,
            attempts: f.attempts,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsReport {
    sent: f64,
    requests: f64,
    retries: f64,
    failed_count: f64,
    failed: Vec<JsFailure>,
}

impl From<Report<JsValue>> for JsReport {
    fn from(r: Report<JsValue>) -> Self {
        JsReport {
            sent: r.sent as f64,
            requests: r.requests as f64,
            retries: r.retries as f64,
            failed_count: r.failed_count as f64,
            failed: r.failed.into_iter().map(JsFailure::from).collect(),
        }
    }
}

// The dispatcher behind `KinesisBatchDispatcher`. Every method takes `&self`, so user code
// run from a callback may call any of them.
#[wasm_bindgen(js_name = Engine)]
pub struct JsEngine {
    engine: Engine<JsValue>,
    /// Where the host writes a record's text (`TextEncoder.encodeInto`) before `submitScratch`.
    scratch: RefCell<Vec<u8>>,
}

#[wasm_bindgen(js_class = Engine)]
impl JsEngine {
    // `host`: `{ timers, environmentRegion, environmentCredentials }` from the JS entry point.
    #[wasm_bindgen(constructor)]
    pub fn new(stream: JsValue, options: JsValue, host: JsValue) -> Result<JsEngine, JsValue> {
        let stream = stream.as_string().ok_or_else(|| option_error(OptionError::new("stream", "must be a stream name or ARN string")))?;
        if !(options.is_undefined() || options.is_object()) || options.is_function() {
            return Err(option_error(OptionError::new("options", "must be an object")));
        }
        check_names(&options, OPTION_NAMES)?;
        let scalars = scalar_options(&options)?;
        let environment_region = get(&host, "environmentRegion")?.as_string();
        // AWS_ENDPOINT_URL_KINESIS, then AWS_ENDPOINT_URL, as the AWS SDKs do; the option wins.
        let endpoint = scalars.endpoint.clone().or_else(|| get(&host, "environmentEndpoint").ok().and_then(|e| e.as_string()));
        let opts = Options {
            stream: &stream,
            region: scalars.region.as_deref(),
            environment_region: environment_region.as_deref(),
            endpoint: endpoint.as_deref(),
            partition_key_identifier: scalars.partition_key_identifier.as_deref(),
            max_batch_size: scalars.max_batch_size,
            max_record_bytes: scalars.max_record_bytes,
            max_request_bytes: scalars.max_request_bytes,
            max_attempts: scalars.max_attempts,
            retry_base_delay_ms: scalars.retry_base_delay_ms,
            retry_max_delay_ms: scalars.retry_max_delay_ms,
            max_in_flight: scalars.max_in_flight,
            max_buffered_bytes: scalars.max_buffered_bytes,
            max_buffered_time_ms: scalars.max_buffered_time_ms,
            request_timeout_ms: scalars.request_timeout_ms,
            aggregate: scalars.aggregate,
            max_aggregate_bytes: scalars.max_aggregate_bytes,
            ordered: scalars.ordered,
            shard_rate_limit: scalars.shard_rate_limit,
            discover_limits: scalars.discover_limits,
        };
        let config = Config::new(&opts).map_err(option_error)?;
        let fetch = match function_option(&options, "fetch")?.or_else(|| get(&host, "defaultFetch").ok()?.dyn_into::<Function>().ok()) {
            Some(f) => f,
            None => Reflect::get(&js_sys::global(), &"fetch".into())
                .ok()
                .and_then(|f| f.dyn_into::<Function>().ok())
                .ok_or_else(|| option_error(OptionError::new("fetch", "no fetch: pass one, or run where globalThis.fetch exists")))?,
        };
        let mut credentials = get(&options, "credentials")?;
        if credentials.is_undefined() || credentials.is_null() {
            credentials = get(&host, "environmentCredentials")?;
        }
        let source = if let Some(f) = credentials.dyn_ref::<Function>() {
            CredentialSource::Provider(Box::new(FunctionProvider(f.clone())))
        } else if credentials.is_undefined() || credentials.is_null() {
            return Err(option_error(OptionError::new(
                "credentials",
                "no credentials: pass { accessKeyId, secretAccessKey } or a function returning them, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            )));
        } else {
            let provided = read_credentials(&credentials).map_err(|m| option_error(OptionError::new("credentials", m)))?;
            CredentialSource::Static(provided.credentials)
        };
        let events = JsEvents {
            on_progress: function_option(&options, "onProgress")?,
            on_failed: function_option(&options, "onFailed")?,
            ignore: Closure::new(|_: JsValue| {}),
        };
        let transport = FetchTransport { fetch, controllers: Rc::default() };
        let runtime = HostRuntime { timers: HostTimers::from(&host)? };
        let engine = Engine::new(
            Dispatcher::new(config),
            Box::new(HostEntropy::new()),
            Box::new(transport),
            Box::new(runtime),
            source,
            Box::new(events),
        );
        Ok(JsEngine { engine, scratch: RefCell::new(Vec::new()) })
    }

    // The address of the scratch buffer, grown to at least `len` bytes. The host writes a
    // record's UTF-8 there through a view of `wasmMemory().buffer`, then calls `submitScratch`:
    // one native copy, where passing a string costs a JS loop per character.
    pub fn scratch(&self, len: u32) -> u32 {
        let mut scratch = self.scratch.borrow_mut();
        if scratch.len() < len as usize {
            scratch.resize(len as usize, 0);
        }
        scratch.as_ptr() as u32
    }

    // Accepts the first `len` bytes of the scratch buffer as one record's data. `wellFormed`
    // is false when the text had a lone surrogate (refused: it cannot be sent as written).
    // Returns `undefined`, or a Promise to await when more than `maxBufferedBytes` are
    // unfinished. Throws a coded error for a refused record; nothing is accepted then.
    #[wasm_bindgen(js_name = submitScratch)]
    pub fn submit_scratch(
        &self,
        len: u32,
        well_formed: bool,
        canonical_json: bool,
        options: JsValue,
        payload: JsValue,
    ) -> Result<JsValue, JsValue> {
        let (partition_key, explicit_hash_key) = record_options(&options)?;
        if !well_formed {
            return Err(record_error(RecordError::new(
                RecordErrorCode::UnserializablePayload,
                "payload text has a lone surrogate, which UTF-8 cannot carry; fix the string or submit bytes",
            )));
        }
        if self.engine.limits_pending() {
            let data = self.scratch.borrow().get(..len as usize).unwrap_or_default().to_vec();
            return Ok(self.submit_later(data, partition_key, explicit_hash_key, canonical_json, payload));
        }
        let must_wait = {
            let scratch = self.scratch.borrow();
            let data = scratch.get(..len as usize).ok_or_else(|| coded_error("UnserializablePayload", "scratch overrun"))?;
            let key = key_input(partition_key.as_deref(), canonical_json);
            self.engine.submit(data, key, explicit_hash_key.as_deref(), payload).map_err(submit_error)?
        };
        Ok(self.room(must_wait))
    }

    // `submitScratch` for bytes.
    pub fn submit(&self, data: &[u8], options: JsValue, payload: JsValue) -> Result<JsValue, JsValue> {
        let (partition_key, explicit_hash_key) = record_options(&options)?;
        if self.engine.limits_pending() {
            return Ok(self.submit_later(data.to_vec(), partition_key, explicit_hash_key, false, payload));
        }
        let must_wait = self
            .engine
            .submit(data, key_input(partition_key.as_deref(), false), explicit_hash_key.as_deref(), payload)
            .map_err(submit_error)?;
        Ok(self.room(must_wait))
    }

    // While the stream's limits are read (discoverLimits), a record waits for them before it is
    // checked: the promise rejects with its coded error, or resolves once accepted (and room).
    fn submit_later(
        &self,
        data: Vec<u8>,
        partition_key: Option<String>,
        explicit_hash_key: Option<String>,
        canonical_json: bool,
        payload: JsValue,
    ) -> JsValue {
        let engine = self.engine.clone();
        promise(async move {
            engine.wait_for_limits().await;
            let key = key_input(partition_key.as_deref(), canonical_json);
            if engine.submit(&data, key, explicit_hash_key.as_deref(), payload).map_err(submit_error)? {
                engine.wait_for_room().await;
            }
            Ok(JsValue::UNDEFINED)
        })
        .into()
    }

    // PutRecord: resolves to `{ shardId, sequenceNumber }`, or rejects with a coded error.
    #[wasm_bindgen(js_name = putRecord)]
    pub fn put_record(&self, data: &[u8], options: JsValue) -> Result<Promise, JsValue> {
        let (partition_key, explicit_hash_key) = record_options(&options)?;
        let sequence = if options.is_object() { get(&options, "sequenceNumberForOrdering")?.as_string() } else { None };
        let engine = self.engine.clone();
        let data = data.to_vec();
        Ok(promise(async move {
            let key = key_input(partition_key.as_deref(), false);
            match engine.put_record(&data, key, explicit_hash_key.as_deref(), sequence.as_deref()).await {
                Ok(out) => {
                    let value = js_sys::Object::new();
                    let _ = Reflect::set(&value, &"shardId".into(), &out.shard_id.into());
                    let _ = Reflect::set(&value, &"sequenceNumber".into(), &out.sequence_number.into());
                    Ok(value.into())
                }
                Err(PutRecordError::Submit(e)) => Err(submit_error(e)),
                Err(PutRecordError::Failed(f)) => {
                    let error = coded_error(&f.code, &f.message);
                    let _ = Reflect::set(&error, &"attempts".into(), &f64::from(f.attempts).into());
                    Err(error)
                }
            }
        }))
    }

    fn room(&self, must_wait: bool) -> JsValue {
        if !must_wait {
            return JsValue::UNDEFINED;
        }
        let engine = self.engine.clone();
        promise(async move {
            engine.wait_for_room().await;
            Ok(JsValue::UNDEFINED)
        })
        .into()
    }

    // Resolves to `{ sent, requests, retries, failed: [{ payload, partitionKey, errorCode,
    // errorMessage, attempts }] }` once every record accepted before the call has ended.
    pub fn flush(&self) -> Promise {
        let engine = self.engine.clone();
        promise(async move { Ok(to_js(&JsReport::from(engine.flush().await))) })
    }

    // Flushes, then refuses later submits with the code `Closed`; resolves to the last report.
    pub fn close(&self) -> Promise {
        // The same flush as `flush`, after closing: one copy of its code in the wasm.
        self.engine.refuse_submits();
        self.flush()
    }

    // Ends every unfinished record with `code`; with `close`, later submits are refused.
    pub fn abort(&self, code: &str, message: &str, close: bool) {
        self.engine.abort(code, message, close);
    }

    // `{ accepted, sent, failed, inFlight, retries, requests, bufferedBytes }`
    #[wasm_bindgen(getter)]
    pub fn progress(&self) -> JsValue {
        progress_value(self.engine.progress())
    }

    #[wasm_bindgen(getter)]
    pub fn region(&self) -> String {
        self.engine.with_dispatcher(|d| d.config().region.clone())
    }

    #[wasm_bindgen(getter)]
    pub fn endpoint(&self) -> String {
        self.engine.with_dispatcher(|d| d.config().endpoint.url.clone())
    }
}

// ---- planning --------------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsPlannedBatch {
    records: u32,
    kinesis_records: u32,
    bytes: f64,
    partition_keys: Vec<String>,
    indices: Vec<u32>,
}

#[derive(Serialize)]
struct JsRejected {
    index: u32,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct JsPlan {
    batches: Vec<JsPlannedBatch>,
    rejected: Vec<JsRejected>,
}

// Plans batches without network, for `planBatches`, the CLI's `plan` and the preview page:
// records are added as the data bytes `put` would send.
#[wasm_bindgen]
pub struct Plan {
    planner: RefCell<Option<Planner>>,
    entropy: RefCell<HostEntropy>,
}

#[wasm_bindgen]
impl Plan {
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Plan, JsValue> {
        if !(options.is_undefined() || options.is_object()) || options.is_function() {
            return Err(option_error(OptionError::new("options", "must be an object")));
        }
        let known: Vec<&str> = OPTION_NAMES.iter().chain(PLAN_OPTION_NAMES).copied().collect();
        check_names(&options, &known)?;
        let s = scalar_options(&options)?;
        let limits = Limits::new(s.max_batch_size, s.max_record_bytes, s.max_request_bytes).map_err(option_error)?;
        let mut planner = Planner::new(limits, s.partition_key_identifier.as_deref()).map_err(option_error)?;
        let max_aggregate_bytes = crate::aggregate::max_aggregate_bytes(s.max_aggregate_bytes).map_err(option_error)?;
        if let Some(map) = plan_shard_map(&options)? {
            planner = planner.with_shard_map(map);
        }
        if s.aggregate == Some(true) {
            planner = planner.with_aggregation(max_aggregate_bytes);
        }
        Ok(Plan { planner: RefCell::new(Some(planner)), entropy: RefCell::new(HostEntropy::new()) })
    }

    // Plans the next record from its data; returns `undefined` or the rejection error.
    pub fn add(&self, data: &[u8], well_formed: bool, partition_key: Option<String>, explicit_hash_key: Option<String>) -> JsValue {
        let mut planner = self.planner.borrow_mut();
        let Some(planner) = planner.as_mut() else { return JsValue::UNDEFINED };
        if !well_formed {
            let error =
                RecordError::new(RecordErrorCode::UnserializablePayload, "payload text has a lone surrogate, which UTF-8 cannot carry");
            planner.reject(error.clone());
            return record_error(error);
        }
        let key = partition_key.as_deref().map_or(KeyInput::Default, KeyInput::Given);
        match planner.add(data, key, explicit_hash_key.as_deref(), &mut *self.entropy.borrow_mut()) {
            Ok(()) => JsValue::UNDEFINED,
            Err(e) => record_error(e),
        }
    }

    // Counts a payload that could not be encoded as rejected.
    #[wasm_bindgen(js_name = rejectUnserializable)]
    pub fn reject_unserializable(&self, message: &str) {
        if let Some(p) = self.planner.borrow_mut().as_mut() {
            p.reject(RecordError::new(RecordErrorCode::UnserializablePayload, message));
        }
    }

    // `{ batches: [{ records, kinesisRecords, bytes, partitionKeys, indices }], rejected: [{ index,
    // code, message }], requests, kinesisRecords, payloadUnits, shards: [{ shardId, records, bytes,
    // kinesisRecords, payloadUnits, hotKeys: [{ partitionKey, records, bytes }] }] }`
    pub fn finish(&self) -> JsValue {
        let Some(planner) = self.planner.borrow_mut().take() else { return JsValue::NULL };
        let PlanOutput { batches, rejected, kinesis_records, payload_units, shards } = planner.finish();
        let requests = batches.len();
        let plan = JsPlan {
            batches: batches
                .into_iter()
                .map(|b| JsPlannedBatch {
                    records: b.indices.len() as u32,
                    kinesis_records: b.kinesis_sizes.len() as u32,
                    bytes: b.bytes as f64,
                    partition_keys: b.partition_keys,
                    indices: b.indices.into_iter().map(|i| i as u32).collect(),
                })
                .collect(),
            rejected: rejected
                .into_iter()
                .map(|r| JsRejected { index: r.index as u32, code: r.error.code.as_str(), message: r.error.message })
                .collect(),
        };
        // The rest is set field by field: fewer serde instantiations in the wasm.
        let out = to_js(&plan);
        let set = |o: &JsValue, name: &str, v: JsValue| {
            let _ = Reflect::set(o, &name.into(), &v);
        };
        let count = |n: usize| JsValue::from_f64(n as f64);
        set(&out, "requests", count(requests));
        set(&out, "kinesisRecords", count(kinesis_records));
        set(&out, "payloadUnits", count(payload_units));
        let list = Array::new();
        for shard in shards {
            let o: JsValue = Object::new().into();
            set(&o, "shardId", shard.shard_id.into());
            set(&o, "records", count(shard.records));
            set(&o, "bytes", count(shard.bytes));
            set(&o, "kinesisRecords", count(shard.kinesis_records));
            set(&o, "payloadUnits", count(shard.payload_units));
            let hot = Array::new();
            for key in shard.hot_keys {
                let k: JsValue = Object::new().into();
                set(&k, "partitionKey", key.partition_key.into());
                set(&k, "records", count(key.records));
                set(&k, "bytes", count(key.bytes));
                hot.push(&k);
            }
            set(&o, "hotKeys", hot.into());
            list.push(&o);
        }
        set(&out, "shards", list.into());
        out
    }
}

/// The shard map a plan predicts with: `listShards` (a ListShards answer, read as the
/// dispatcher reads one), else an even split of `shardCount` shards, else none.
fn plan_shard_map(options: &JsValue) -> Result<Option<shard_map::ShardMap>, JsValue> {
    if !options.is_object() {
        return Ok(None);
    }
    let answer = get(options, "listShards")?;
    if !(answer.is_undefined() || answer.is_null()) {
        let text = match answer.as_string() {
            Some(text) => text,
            None => js_sys::JSON::stringify(&answer).ok().and_then(|t| t.as_string()).unwrap_or_default(),
        };
        let bad = |m: String| option_error(OptionError::new("listShards", m));
        let (ranges, _) = crate::control::parse_list_shards(text.as_bytes()).map_err(bad)?;
        return crate::control::shard_map_of(ranges).map(Some).map_err(bad);
    }
    let count = get(options, "shardCount")?;
    if count.is_undefined() || count.is_null() {
        return Ok(None);
    }
    Ok(Some(shard_map::ShardMap::even(shard_count(count.as_f64().unwrap_or(f64::NAN))?)))
}

fn shard_count(n: f64) -> Result<u32, JsValue> {
    if !(n.is_finite() && n.fract() == 0.0 && (1.0..=100_000.0).contains(&n)) {
        return Err(option_error(OptionError::new("shardCount", "must be a whole number from 1 to 100000")));
    }
    Ok(n as u32)
}

// ---- helpers ---------------------------------------------------------------------------------

// Gives the core the host's SHA-256 for request bodies: `(bytes: Uint8Array) => hex string`,
// synchronous (Node's `crypto.createHash`), or `undefined` to use the wasm `sha2` again.
// `bytes` is a view into wasm memory, valid only during the call.
#[wasm_bindgen(js_name = setSha256)]
pub fn set_sha256(hash: Option<js_sys::Function>) {
    crate::sigv4::set_sha256_backend(hash.map(|f| {
        Box::new(move |bytes: &[u8]| {
            // Safety: the view is used only by `f` during this call, which allocates nothing in wasm.
            let view = unsafe { js_sys::Uint8Array::view(bytes) };
            f.call1(&JsValue::UNDEFINED, &view).ok()?.as_string()
        }) as crate::sigv4::Sha256Backend
    }));
}

// This module's `WebAssembly.Memory`, for the host's views of scratch buffers.
#[wasm_bindgen(js_name = wasmMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

#[wasm_bindgen(js_name = hashKeyOf)]
pub fn hash_key_of(partition_key: JsValue) -> Result<String, JsValue> {
    let key = partition_key.as_string().ok_or_else(|| option_error(OptionError::new("partitionKey", "must be a string")))?;
    Ok(shard_map::decimal(shard_map::hash_key_of(&key)))
}

#[wasm_bindgen(js_name = shardIndexFor)]
pub fn shard_index_for(partition_key: JsValue, shard_count: f64) -> Result<u32, JsValue> {
    let key = partition_key.as_string().ok_or_else(|| option_error(OptionError::new("partitionKey", "must be a string")))?;
    Ok(shard_map::shard_index_for(&key, self::shard_count(shard_count)?))
}

// Real hash-key ranges, built once and queried per key (the preview page maps every planned
// record with it). Indices are in start order: pass the ranges sorted by start to keep yours.
#[wasm_bindgen(js_name = ShardMap)]
pub struct JsShardMap(shard_map::ShardMap);

#[wasm_bindgen(js_class = ShardMap)]
impl JsShardMap {
    // `starts`, `ends`: decimal hash keys; `ids`: shard ids. Ranges must not overlap.
    #[wasm_bindgen(constructor)]
    pub fn new(starts: Vec<String>, ends: Vec<String>, ids: Vec<String>) -> Result<JsShardMap, JsValue> {
        if starts.len() != ends.len() || starts.len() != ids.len() {
            return Err(option_error(OptionError::new("shards", "starts, ends and ids must have the same length")));
        }
        let parse = |s: &str| s.parse::<u128>().map_err(|_| option_error(OptionError::new("shards", "hash keys must be decimal u128")));
        let ranges =
            starts.iter().zip(&ends).zip(ids).map(|((s, e), id)| Ok((parse(s)?, parse(e)?, id))).collect::<Result<Vec<_>, JsValue>>()?;
        shard_map::ShardMap::from_ranges(ranges).map(JsShardMap).map_err(|m| option_error(OptionError::new("shards", m)))
    }

    #[wasm_bindgen(getter)]
    pub fn length(&self) -> u32 {
        self.0.len() as u32
    }

    // The id of the shard at `index` (start order).
    #[wasm_bindgen(js_name = shardId)]
    pub fn shard_id(&self, index: u32) -> Option<String> {
        self.0.shard_id(index as usize).map(str::to_owned)
    }

    // The index of the shard holding the partition key's hash key, or -1 when it falls in a gap.
    #[wasm_bindgen(js_name = indexOfKey)]
    pub fn index_of_key(&self, partition_key: &str) -> i32 {
        self.0.index_of(shard_map::hash_key_of(partition_key)).map_or(-1, |i| i as i32)
    }
}

// Whether one input line (the CLI's and the page's records) is a JSON value: `undefined`, or
// an error with code `InvalidJson` saying where it is not.
#[wasm_bindgen(js_name = checkJson)]
pub fn check_json(data: &[u8]) -> JsValue {
    match serde_json::from_slice::<serde::de::IgnoredAny>(data) {
        Ok(_) => JsValue::UNDEFINED,
        // serde_json's own message is not used: formatting it links io::Error's texts.
        Err(e) if e.is_eof() => coded_error("InvalidJson", &format!("the JSON ends early (line {}, column {})", e.line(), e.column())),
        Err(e) => coded_error("InvalidJson", &format!("not valid JSON at line {}, column {}", e.line(), e.column())),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResolvedLimits {
    max_batch_size: f64,
    max_record_bytes: f64,
    max_request_bytes: f64,
    /// The most data plus key bytes one record may have: the smaller of the two byte limits.
    record_ceiling: f64,
    /// The option that sets `recordCeiling`.
    record_ceiling_option: &'static str,
    /// What one shard accepts per second.
    shard_records_per_second: f64,
    shard_bytes_per_second: f64,
    /// The largest aggregate (`aggregate: true`), and the PUT payload unit Kinesis counts in.
    max_aggregate_bytes: f64,
    payload_unit_bytes: f64,
}

// The limits `options` give once defaults are applied, for hosts that show them or size their
// reads by them (the CLI, the page). Throws InvalidOption like the constructor.
#[wasm_bindgen(js_name = resolveLimits)]
pub fn resolve_limits(options: JsValue) -> Result<JsValue, JsValue> {
    let s = scalar_options(&options)?;
    let limits = Limits::new(s.max_batch_size, s.max_record_bytes, s.max_request_bytes).map_err(option_error)?;
    let ceiling = limits.record_ceiling();
    let max_aggregate_bytes = crate::aggregate::max_aggregate_bytes(s.max_aggregate_bytes).map_err(option_error)?;
    Ok(to_js(&ResolvedLimits {
        max_batch_size: limits.max_batch_size as f64,
        max_record_bytes: limits.max_record_bytes as f64,
        max_request_bytes: limits.max_request_bytes as f64,
        record_ceiling: ceiling as f64,
        record_ceiling_option: if ceiling < limits.max_record_bytes { "maxRequestBytes" } else { "maxRecordBytes" },
        shard_records_per_second: crate::limits::SHARD_RECORDS_PER_SECOND as f64,
        shard_bytes_per_second: crate::limits::SHARD_BYTES_PER_SECOND as f64,
        max_aggregate_bytes: max_aggregate_bytes as f64,
        payload_unit_bytes: crate::plan::PAYLOAD_UNIT_BYTES as f64,
    }))
}

// Whether a failed record's code concerns the whole stream (a missing stream, denied access, bad
// credentials): the dispatcher failed fast, and the CLI treats it as a configuration error.
#[wasm_bindgen(js_name = isStreamError)]
pub fn is_stream_error(code: &str) -> bool {
    crate::response::is_stream_error(code)
}
