//! wasm-bindgen bindings: a thin shell over the sans-IO core. The JS wrapper in `pkg/`
//! owns the event loop (fetch, timers, AbortController) and calls these methods.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::dispatcher::{Config, Dispatcher, HttpResponse, Options, OutgoingRequest, TransportError};
use crate::error::{OptionError, RecordError, RecordErrorCode};
use crate::limits::Limits;
use crate::partition_key::FieldValue;
use crate::plan::Planner;
use crate::record::{Entropy, KeyInput};
use crate::shard_map;
use crate::sigv4::Credentials;

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
                // The host has crypto.getRandomValues in every supported runtime.
                // A thrown JS error, not `expect`: that would link Debug formatting into the wasm.
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

fn record_error(e: RecordError) -> JsValue {
    coded_error(e.code.as_str(), &e.message)
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn string_option(obj: &JsValue, key: &'static str) -> Result<Option<String>, JsValue> {
    let v = get(obj, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string().map(Some).ok_or_else(|| option_error(OptionError::new(key, "must be a string")))
}

fn number_option(obj: &JsValue, key: &'static str) -> Result<Option<f64>, JsValue> {
    let v = get(obj, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_f64().map(Some).ok_or_else(|| option_error(OptionError::new(key, "must be a number")))
}

/// How the wrapper describes a record's key: see `KeyInput` and `FieldValue`.
fn key_input<'a>(kind: u8, key: Option<&'a str>) -> KeyInput<'a> {
    let text = key.unwrap_or("");
    match kind {
        1 => KeyInput::Given(text),
        2 => KeyInput::Field(FieldValue::Text(text)),
        3 => KeyInput::Field(FieldValue::Missing),
        4 => KeyInput::Field(FieldValue::Null),
        5 => KeyInput::Field(FieldValue::Unsupported(text)),
        _ => KeyInput::Default,
    }
}

fn limits_from(options: &JsValue) -> Result<Limits, JsValue> {
    Limits::new(
        number_option(options, "maxBatchSize")?,
        number_option(options, "maxRecordBytes")?,
        number_option(options, "maxRequestBytes")?,
    )
    .map_err(option_error)
}

#[wasm_bindgen]
pub struct Core {
    inner: Dispatcher,
    entropy: HostEntropy,
    credentials: Option<Credentials>,
    /// Where the wrapper writes a record's text (`TextEncoder.encodeInto`) before `submitScratch`.
    scratch: Vec<u8>,
    /// The errors of the records `submitMany` refused, in order, until `takeRejected`.
    rejected: Vec<JsValue>,
}

#[wasm_bindgen]
impl Core {
    /// `options` holds the contract's options plus `stream` and `environmentRegion`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Core, JsValue> {
        let s = |k| string_option(&options, k);
        let n = |k| number_option(&options, k);
        let stream = s("stream")?.unwrap_or_default();
        let region = s("region")?;
        let environment_region = s("environmentRegion")?;
        let endpoint = s("endpoint")?;
        let identifier = s("partitionKeyIdentifier")?;
        let opts = Options {
            stream: &stream,
            region: region.as_deref(),
            environment_region: environment_region.as_deref(),
            endpoint: endpoint.as_deref(),
            partition_key_identifier: identifier.as_deref(),
            max_batch_size: n("maxBatchSize")?,
            max_record_bytes: n("maxRecordBytes")?,
            max_request_bytes: n("maxRequestBytes")?,
            max_attempts: n("maxAttempts")?,
            retry_base_delay_ms: n("retryBaseDelayMs")?,
            retry_max_delay_ms: n("retryMaxDelayMs")?,
            max_in_flight: n("maxInFlight")?,
            max_buffered_bytes: n("maxBufferedBytes")?,
            max_buffered_time_ms: n("maxBufferedTimeMs")?,
            request_timeout_ms: n("requestTimeoutMs")?,
        };
        let config = Config::new(&opts).map_err(option_error)?;
        Ok(Core {
            inner: Dispatcher::new(config),
            entropy: HostEntropy::new(),
            credentials: None,
            scratch: Vec::new(),
            rejected: Vec::new(),
        })
    }

    #[wasm_bindgen(js_name = setCredentials)]
    pub fn set_credentials(&mut self, access_key_id: String, secret_access_key: String, session_token: Option<String>) {
        self.credentials = Some(Credentials { access_key_id, secret_access_key, session_token: session_token.filter(|t| !t.is_empty()) });
    }

    /// Accepts one record; returns its id or throws a coded error.
    pub fn submit(
        &mut self,
        data: &[u8],
        key_kind: u8,
        key: Option<String>,
        explicit_hash_key: Option<String>,
        now_ms: f64,
    ) -> Result<f64, JsValue> {
        self.inner
            .submit(data, key_input(key_kind, key.as_deref()), explicit_hash_key.as_deref(), now_ms as u64, &mut self.entropy)
            .map(|id| id as f64)
            .map_err(record_error)
    }

    /// The address of this core's scratch buffer, grown to at least `len` bytes. The wrapper
    /// writes a record's UTF-8 there through a view of `wasmMemory().buffer`, then calls
    /// `submitScratch`: one native copy, where passing a string costs a JS loop per character.
    pub fn scratch(&mut self, len: u32) -> u32 {
        if self.scratch.len() < len as usize {
            self.scratch.resize(len as usize, 0);
        }
        self.scratch.as_ptr() as u32
    }

    /// `submit` for the first `len` bytes of the scratch buffer.
    #[wasm_bindgen(js_name = submitScratch)]
    pub fn submit_scratch(
        &mut self,
        len: u32,
        key_kind: u8,
        key: Option<String>,
        explicit_hash_key: Option<String>,
        now_ms: f64,
    ) -> Result<f64, JsValue> {
        let scratch = std::mem::take(&mut self.scratch);
        let result = match scratch.get(..len as usize) {
            Some(data) => self.submit(data, key_kind, key, explicit_hash_key, now_ms),
            None => Err(record_error(RecordError::new(RecordErrorCode::UnserializablePayload, "scratch overrun"))),
        };
        self.scratch = scratch;
        result
    }

    /// Accepts many records from the scratch buffer, where the wrapper wrote each record's data
    /// followed by its key's UTF-8. `layout` holds three numbers per record: data length, key
    /// kind (see `key_input`), key length. Returns each record's id, or NaN for a record refused
    /// (its error waits in `takeRejected`). One call for many records: the bulk path.
    #[wasm_bindgen(js_name = submitMany)]
    pub fn submit_many(&mut self, layout: &[u32], now_ms: f64) -> Vec<f64> {
        let scratch = std::mem::take(&mut self.scratch);
        let mut ids = Vec::with_capacity(layout.len() / 3);
        let mut at = 0;
        for record in layout.chunks_exact(3) {
            let (data_end, kind) = (at + record[0] as usize, record[1] as u8);
            let key_end = data_end + record[2] as usize;
            let parts = (scratch.get(at..data_end), scratch.get(data_end..key_end).and_then(|k| std::str::from_utf8(k).ok()));
            let result = match parts {
                (Some(data), Some(key)) => {
                    self.inner.submit(data, key_input(kind, Some(key)), None, now_ms as u64, &mut self.entropy).map_err(record_error)
                }
                _ => Err(record_error(RecordError::new(RecordErrorCode::UnserializablePayload, "scratch overrun"))),
            };
            match result {
                Ok(id) => ids.push(id as f64),
                Err(error) => {
                    ids.push(f64::NAN);
                    self.rejected.push(error);
                }
            }
            at = key_end;
        }
        self.scratch = scratch;
        ids
    }

    /// The errors of the records `submitMany` refused since the last call, in order.
    #[wasm_bindgen(js_name = takeRejected)]
    pub fn take_rejected(&mut self) -> Vec<JsValue> {
        std::mem::take(&mut self.rejected)
    }

    /// Refuses a payload the wrapper could not encode, with the same error shape.
    #[wasm_bindgen(js_name = unserializable)]
    pub fn unserializable(message: &str) -> JsValue {
        record_error(RecordError::new(RecordErrorCode::UnserializablePayload, message))
    }

    pub fn flush(&mut self) {
        self.inner.flush();
    }

    #[wasm_bindgen(js_name = pollRequest)]
    pub fn poll_request(&mut self, now_ms: f64) -> Option<Request> {
        let credentials = self.credentials.as_ref()?;
        self.inner.poll_request(now_ms as u64, credentials).map(Request)
    }

    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(|t| t as f64)
    }

    #[wasm_bindgen(js_name = handleResponse)]
    pub fn handle_response(
        &mut self,
        id: f64,
        status: u16,
        error_type: Option<String>,
        server_date_ms: Option<f64>,
        body: &[u8],
        now_ms: f64,
    ) {
        let response = HttpResponse {
            status,
            error_type: error_type.as_deref(),
            server_date_ms: server_date_ms.filter(|d| d.is_finite() && *d > 0.0).map(|d| d as u64),
            body,
        };
        self.inner.handle_response(id as u64, response, now_ms as u64, &mut self.entropy);
    }

    #[wasm_bindgen(js_name = handleTransportError)]
    pub fn handle_transport_error(&mut self, id: f64, timed_out: bool, message: &str, now_ms: f64) {
        let kind = if timed_out { TransportError::Timeout } else { TransportError::Network };
        self.inner.handle_transport_error(id as u64, kind, message, now_ms as u64, &mut self.entropy);
    }

    pub fn abort(&mut self, code: &str, message: &str) {
        self.inner.abort(code, message);
    }

    #[wasm_bindgen(js_name = takeAcked)]
    pub fn take_acked(&mut self) -> Vec<f64> {
        self.inner.take_acked().into_iter().map(|id| id as f64).collect()
    }

    /// `[{ id, partitionKey, errorCode, errorMessage, attempts }]`
    #[wasm_bindgen(js_name = takeFailed)]
    pub fn take_failed(&mut self) -> Array {
        self.inner
            .take_failed()
            .into_iter()
            .map(|f| {
                let o = Object::new();
                let _ = Reflect::set(&o, &"id".into(), &(f.id as f64).into());
                let _ = Reflect::set(&o, &"partitionKey".into(), &f.partition_key.into());
                let _ = Reflect::set(&o, &"errorCode".into(), &f.code.into());
                let _ = Reflect::set(&o, &"errorMessage".into(), &f.message.into());
                let _ = Reflect::set(&o, &"attempts".into(), &f.attempts.into());
                JsValue::from(o)
            })
            .collect()
    }

    #[wasm_bindgen(js_name = takeCredentialsRefresh)]
    pub fn take_credentials_refresh(&mut self) -> bool {
        self.inner.take_credentials_refresh()
    }

    /// `[accepted, sent, failed, inFlight, retries, requests]`
    pub fn progress(&self) -> Vec<f64> {
        let p = self.inner.progress();
        vec![p.accepted as f64, p.sent as f64, p.failed as f64, p.in_flight as f64, p.retries as f64, p.requests as f64]
    }

    #[wasm_bindgen(js_name = overBufferLimit)]
    pub fn over_buffer_limit(&self) -> bool {
        self.inner.over_buffer_limit()
    }

    #[wasm_bindgen(js_name = bufferedBytes)]
    pub fn buffered_bytes(&self) -> f64 {
        self.inner.buffered_bytes() as f64
    }

    #[wasm_bindgen(js_name = isIdle)]
    pub fn is_idle(&self) -> bool {
        self.inner.is_idle()
    }

    #[wasm_bindgen(js_name = inFlight)]
    pub fn in_flight(&self) -> u32 {
        self.inner.in_flight() as u32
    }

    #[wasm_bindgen(js_name = requestTimeoutMs)]
    pub fn request_timeout_ms(&self) -> f64 {
        self.inner.config().request_timeout_ms as f64
    }

    #[wasm_bindgen(js_name = maxBufferedTimeMs)]
    pub fn max_buffered_time_ms(&self) -> f64 {
        self.inner.config().max_buffered_time_ms as f64
    }

    pub fn region(&self) -> String {
        self.inner.config().region.clone()
    }

    pub fn url(&self) -> String {
        self.inner.config().endpoint.url.clone()
    }
}

/// One signed PutRecords request for the wrapper to send.
#[wasm_bindgen]
pub struct Request(OutgoingRequest);

#[wasm_bindgen]
impl Request {
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> f64 {
        self.0.id as f64
    }

    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.0.url.clone()
    }

    /// `[name, value, name, value, ...]`
    #[wasm_bindgen(getter)]
    pub fn headers(&self) -> Vec<String> {
        self.0.headers.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect()
    }

    /// Moves the body out; a second call returns an empty array.
    #[wasm_bindgen(js_name = takeBody)]
    pub fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0.body)
    }

    #[wasm_bindgen(getter, js_name = recordCount)]
    pub fn record_count(&self) -> u32 {
        self.0.record_count as u32
    }

    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> f64 {
        self.0.bytes as f64
    }
}

/// Plans batches without network, for `planBatches` and the preview page.
#[wasm_bindgen]
pub struct Plan {
    planner: Option<Planner>,
    entropy: HostEntropy,
}

#[wasm_bindgen]
impl Plan {
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Plan, JsValue> {
        let limits = limits_from(&options)?;
        let identifier = string_option(&options, "partitionKeyIdentifier")?;
        let planner = Planner::new(limits, identifier.as_deref()).map_err(option_error)?;
        Ok(Plan { planner: Some(planner), entropy: HostEntropy::new() })
    }

    /// Plans the next record; returns `undefined` or the rejection error.
    pub fn add(&mut self, data_len: u32, key_kind: u8, key: Option<String>, explicit_hash_key: Option<String>) -> JsValue {
        let Some(planner) = self.planner.as_mut() else { return JsValue::UNDEFINED };
        match planner.add(data_len as usize, key_input(key_kind, key.as_deref()), explicit_hash_key.as_deref(), &mut self.entropy) {
            Ok(()) => JsValue::UNDEFINED,
            Err(e) => record_error(e),
        }
    }

    /// Counts a payload that could not be encoded as rejected.
    #[wasm_bindgen(js_name = rejectUnserializable)]
    pub fn reject_unserializable(&mut self, message: &str) {
        if let Some(p) = self.planner.as_mut() {
            p.reject(RecordError::new(RecordErrorCode::UnserializablePayload, message));
        }
    }

    /// `{ batches: [{ records, bytes, partitionKeys, indices }], rejected: [{ index, code, message }] }`
    pub fn finish(&mut self) -> JsValue {
        let Some(planner) = self.planner.take() else { return JsValue::NULL };
        let (batches, rejected) = planner.finish();
        let batches: Array = batches
            .into_iter()
            .map(|b| {
                let o = Object::new();
                let _ = Reflect::set(&o, &"records".into(), &(b.indices.len() as u32).into());
                let _ = Reflect::set(&o, &"bytes".into(), &(b.bytes as f64).into());
                let keys: Array = b.partition_keys.into_iter().map(JsValue::from).collect();
                let _ = Reflect::set(&o, &"partitionKeys".into(), &keys);
                let indices: Array = b.indices.into_iter().map(|i| JsValue::from(i as u32)).collect();
                let _ = Reflect::set(&o, &"indices".into(), &indices);
                JsValue::from(o)
            })
            .collect();
        let rejected: Array = rejected
            .into_iter()
            .map(|r| {
                let o = Object::new();
                let _ = Reflect::set(&o, &"index".into(), &(r.index as u32).into());
                let _ = Reflect::set(&o, &"code".into(), &r.error.code.as_str().into());
                let _ = Reflect::set(&o, &"message".into(), &r.error.message.into());
                JsValue::from(o)
            })
            .collect();
        let out = Object::new();
        let _ = Reflect::set(&out, &"batches".into(), &batches);
        let _ = Reflect::set(&out, &"rejected".into(), &rejected);
        out.into()
    }
}

/// Gives the core the host's SHA-256 for request bodies: `(bytes: Uint8Array) => hex string`,
/// synchronous (Node's `crypto.createHash`), or `undefined` to use the wasm `sha2` again.
/// `bytes` is a view into wasm memory, valid only during the call.
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

/// This module's `WebAssembly.Memory`, for the wrapper's views of scratch buffers.
#[wasm_bindgen(js_name = wasmMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

#[wasm_bindgen(js_name = hashKeyOf)]
pub fn hash_key_of(partition_key: &str) -> String {
    shard_map::hash_key_of(partition_key).to_string()
}

#[wasm_bindgen(js_name = shardIndexFor)]
pub fn shard_index_for(partition_key: &str, shard_count: f64) -> Result<u32, JsValue> {
    if !(shard_count.is_finite() && shard_count.fract() == 0.0 && (1.0..=100_000.0).contains(&shard_count)) {
        return Err(option_error(OptionError::new("shardCount", "must be a whole number from 1 to 100000")));
    }
    Ok(shard_map::shard_index_for(partition_key, shard_count as u32))
}

/// The index of the shard holding a decimal hash key among `[start, end]` decimal ranges
/// (sorted by start), or -1 when none holds it.
#[wasm_bindgen(js_name = shardIndexInRanges)]
pub fn shard_index_in_ranges(hash_key: &str, starts: Vec<String>, ends: Vec<String>) -> Result<i32, JsValue> {
    let parse = |s: &str| s.parse::<u128>().map_err(|_| option_error(OptionError::new("shards", "hash keys must be decimal u128")));
    let key = parse(hash_key)?;
    let ranges = starts
        .iter()
        .zip(&ends)
        .enumerate()
        .map(|(i, (s, e))| Ok((parse(s)?, parse(e)?, i.to_string())))
        .collect::<Result<Vec<_>, JsValue>>()?;
    let map = shard_map::ShardMap::from_ranges(ranges).map_err(|m| option_error(OptionError::new("shards", m)))?;
    Ok(map.index_of(key).and_then(|i| map.shard_id(i)).and_then(|id| id.parse().ok()).unwrap_or(-1))
}

/// Real hash-key ranges, built once and queried per key (the preview page maps every planned
/// record with it). Indices are in start order: pass the ranges sorted by start to keep yours.
#[wasm_bindgen(js_name = ShardMap)]
pub struct JsShardMap(shard_map::ShardMap);

#[wasm_bindgen(js_class = ShardMap)]
impl JsShardMap {
    /// `starts`, `ends`: decimal hash keys; `ids`: shard ids. Ranges must not overlap.
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

    /// The id of the shard at `index` (start order).
    #[wasm_bindgen(js_name = shardId)]
    pub fn shard_id(&self, index: u32) -> Option<String> {
        self.0.shard_id(index as usize).map(str::to_owned)
    }

    /// The index of the shard holding the partition key's hash key, or -1 when it falls in a gap.
    #[wasm_bindgen(js_name = indexOfKey)]
    pub fn index_of_key(&self, partition_key: &str) -> i32 {
        self.0.index_of(shard_map::hash_key_of(partition_key)).map_or(-1, |i| i as i32)
    }
}
