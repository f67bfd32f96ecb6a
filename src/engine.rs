//! The delivery engine: an async driver over the sans-IO [`Dispatcher`].
//!
//! The dispatcher decides what to send and what each answer means; the engine owns everything
//! that needs time or waiting: sending through a [`Transport`], deadlines raced against it,
//! linger and backoff timers, back-pressure, credentials from a [`CredentialsProvider`], flush
//! reports and progress callbacks. Hosts (the wasm bindings, the WASI component, native tests)
//! plug in the three parts and do I/O only.
//!
//! Single-threaded by design (`Rc`, `RefCell`): every host runs it on one event loop. No borrow
//! of the state is held across an `.await` or a call into host code that can re-enter.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::control::PutRecordOutput;
use crate::dispatcher::{DirectFailure, DirectOutcome, Dispatcher, HttpResponse, OutgoingRequest, Progress, RecordId, TransportError};
use crate::error::RecordError;
use crate::record::{Entropy, KeyInput};
use crate::sigv4::Credentials;

pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Refresh credentials this long before they expire.
pub const CREDENTIAL_REFRESH_MARGIN_MS: u64 = 5 * 60 * 1000;
/// Credentials near expiration are asked for again at most this often, so a provider that keeps
/// returning short-lived credentials is not called for every request.
pub const CREDENTIAL_MIN_REFRESH_INTERVAL_MS: u64 = 1000;
/// The code of submits refused after `close`.
pub const CLOSED: &str = "Closed";
/// The code of records ended because no credentials could be had.
pub const CREDENTIALS_UNAVAILABLE: &str = "CredentialsUnavailable";

/// What the transport got back: the whole answer, body included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportResponse {
    pub status: u16,
    /// The `x-amzn-ErrorType` header.
    pub error_type: Option<String>,
    /// The `Date` header, in ms since the epoch (see `http_date_ms`).
    pub server_date_ms: Option<u64>,
    pub body: Vec<u8>,
}

/// Why no answer came; the request may or may not have arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportFailure {
    pub message: String,
    /// The host gave up waiting (a host-enforced deadline): retried as a `Timeout`.
    pub timed_out: bool,
}

/// Sends one signed request and reads the whole answer. The engine races it against
/// `requestTimeoutMs`, so it need not honour any deadline itself.
pub trait Transport {
    fn send(&self, request: OutgoingRequest) -> LocalFuture<'static, Result<TransportResponse, TransportFailure>>;

    /// Called when the dispatcher is aborted: requests in flight may be cancelled. Their
    /// answers are ignored either way.
    fn cancel_all(&self) {}
}

/// Time, sleeping and spawning, from the host's event loop.
pub trait Runtime {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Resolves after `ms`. Dropping it cancels the timer.
    fn sleep(&self, ms: u64) -> LocalFuture<'static, ()>;
    /// Runs `task` to completion on the event loop, not inside this call.
    fn spawn(&self, task: LocalFuture<'static, ()>);
    /// Whether pending timers should keep the host process alive: true while a flush or a
    /// submit waits on them, false otherwise (a lingering batch alone must not).
    fn keep_alive(&self, _on: bool) {}
}

/// Credentials with their expiration, if any.
#[derive(Debug, Clone)]
pub struct ProvidedCredentials {
    pub credentials: Credentials,
    /// Milliseconds since the Unix epoch.
    pub expires_ms: Option<u64>,
}

/// Where credentials come from when they are not fixed.
pub trait CredentialsProvider {
    /// The error is a message without secrets.
    fn credentials(&self) -> LocalFuture<'static, Result<ProvidedCredentials, String>>;
}

pub enum CredentialSource {
    Static(Credentials),
    Provider(Box<dyn CredentialsProvider>),
}

/// A record that ended without being acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure<P> {
    pub payload: P,
    pub partition_key: String,
    pub error_code: String,
    pub error_message: String,
    pub attempts: u32,
}

/// The outcome of one flush: what ended since the previous report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<P> {
    pub sent: u64,
    pub requests: u64,
    pub retries: u64,
    /// Records that ended in failure since the previous report, whether listed in `failed` or
    /// handed to `Events::failed`.
    pub failed_count: u64,
    /// Empty when failures stream out through `Events::failed`.
    pub failed: Vec<Failure<P>>,
}

/// Running totals, as `onProgress` gets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineProgress {
    pub accepted: u64,
    pub sent: u64,
    pub failed: u64,
    pub in_flight: u64,
    pub retries: u64,
    pub requests: u64,
    pub buffered_bytes: u64,
}

/// User callbacks. They are called from a task of their own, never inside an engine call, so
/// they may call back into the engine.
pub trait Events<P> {
    /// Whether `progress` wants to be called at all; when not, no task is scheduled for it.
    fn wants_progress(&self) -> bool {
        true
    }

    fn progress(&self, _progress: EngineProgress) {}

    /// Whether final failures stream out through `failed` instead of waiting in the report.
    fn streams_failures(&self) -> bool {
        false
    }

    /// Records that finally failed, as they fail (only when `streams_failures`).
    fn failed(&self, _failures: Vec<Failure<P>>) {}

    /// Something the user should know once: a shard-aware feature fell back (no ListShards,
    /// no DescribeStreamSummary). Hosts pass it on with the progress.
    fn notice(&self, _message: String, _progress: EngineProgress) {}
}

/// Why a `put_record` call did not store its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutRecordError {
    Submit(SubmitError),
    Failed(DirectFailure),
}

/// Why a submit was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitError {
    Record(RecordError),
    /// The dispatcher was aborted for good; the message says why.
    Closed {
        code: String,
        message: String,
    },
}

impl From<RecordError> for SubmitError {
    fn from(e: RecordError) -> Self {
        SubmitError::Record(e)
    }
}

struct HeldCredentials {
    credentials: Credentials,
    expires_ms: Option<u64>,
    fetched_ms: u64,
}

struct State<P> {
    dispatcher: Dispatcher,
    entropy: Box<dyn Entropy>,
    /// Accepted records that have not ended: a flush waits on the ids below its mark.
    payloads: PayloadStore<P>,
    /// Ended since the last report.
    sent: u64,
    failed: Vec<Failure<P>>,
    failed_count: u64,
    /// Failures not yet handed to `Events::failed`.
    streaming: Vec<Failure<P>>,
    /// Progress counters at the last report.
    reported_requests: u64,
    reported_retries: u64,
    credentials: Option<HeldCredentials>,
    fetching_credentials: bool,
    /// The provider's last failure, kept until the records waiting on it end.
    credentials_failure: Option<String>,
    /// When the armed timer fires, if one is armed.
    timer_at: Option<u64>,
    /// Bumped on every change; waiters compare it.
    generation: u64,
    waiters: Vec<Waker>,
    progress_scheduled: bool,
    closed: Option<(String, String)>,
    /// Flushes and submits waiting: timers keep the host alive only while there are some.
    holders: usize,
    /// PutRecord calls that ended, until their callers take them.
    direct_outcomes: Vec<DirectOutcome>,
    notices: Vec<String>,
}

struct Shared<P> {
    transport: Box<dyn Transport>,
    runtime: Box<dyn Runtime>,
    provider: Option<Box<dyn CredentialsProvider>>,
    events: Box<dyn Events<P>>,
    state: RefCell<State<P>>,
}

/// The engine. Cheap to clone; clones share one dispatcher.
pub struct Engine<P: 'static> {
    shared: Rc<Shared<P>>,
}

impl<P> Clone for Engine<P> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

/// Either of two futures' outputs, whichever came first.
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls both; the first to finish wins and the other is dropped (a dropped sleep clears its
/// timer).
pub async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(x) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(x));
        }
        if let Poll::Ready(y) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(y));
        }
        Poll::Pending
    })
    .await
}

impl<P: 'static> Engine<P> {
    pub fn new(
        dispatcher: Dispatcher,
        entropy: Box<dyn Entropy>,
        transport: Box<dyn Transport>,
        runtime: Box<dyn Runtime>,
        credentials: CredentialSource,
        events: Box<dyn Events<P>>,
    ) -> Self {
        let now = runtime.now_ms();
        let (held, provider) = match credentials {
            CredentialSource::Static(credentials) => (Some(HeldCredentials { credentials, expires_ms: None, fetched_ms: now }), None),
            CredentialSource::Provider(p) => (None, Some(p)),
        };
        let state = State {
            dispatcher,
            entropy,
            payloads: PayloadStore::default(),
            sent: 0,
            failed: Vec::new(),
            failed_count: 0,
            streaming: Vec::new(),
            reported_requests: 0,
            reported_retries: 0,
            credentials: held,
            fetching_credentials: false,
            credentials_failure: None,
            timer_at: None,
            generation: 0,
            waiters: Vec::new(),
            progress_scheduled: false,
            closed: None,
            holders: 0,
            direct_outcomes: Vec::new(),
            notices: Vec::new(),
        };
        Engine { shared: Rc::new(Shared { transport, runtime, provider, events, state: RefCell::new(state) }) }
    }

    /// Reads the dispatcher (configuration, counters) without changing it.
    pub fn with_dispatcher<R>(&self, f: impl FnOnce(&Dispatcher) -> R) -> R {
        f(&self.shared.state.borrow().dispatcher)
    }

    pub fn progress(&self) -> EngineProgress {
        let st = self.shared.state.borrow();
        progress_of(&st.dispatcher)
    }

    /// Accepts one record, synchronously. Returns true when the caller must then wait for
    /// room (`wait_for_room`) because more than `maxBufferedBytes` are unfinished. A refused
    /// record changes nothing.
    pub fn submit(&self, data: &[u8], key: KeyInput, explicit_hash_key: Option<&str>, payload: P) -> Result<bool, SubmitError> {
        let (wants_poll, ended, over_limit) = {
            let st = &mut *self.shared.state.borrow_mut();
            if let Some((code, message)) = &st.closed {
                return Err(SubmitError::Closed { code: code.clone(), message: message.clone() });
            }
            // The clock is a host call: read it only when the submit uses it.
            let now = if st.dispatcher.submit_reads_clock() { self.shared.runtime.now_ms() } else { 0 };
            let id = st.dispatcher.submit(data, key, explicit_hash_key, now, &mut *st.entropy)?;
            st.payloads.insert(id, payload);
            let d = &st.dispatcher;
            (d.wants_poll(), d.has_ended(), d.over_buffer_limit())
        };
        // The common submit only packs: no poll, no waking, no task. A submit that closed a batch,
        // started a linger clock or ended the record at once (failing fast) does the rest.
        if wants_poll {
            if ended {
                self.shared.changed();
            }
            self.shared.pump();
        }
        Ok(over_limit)
    }

    /// Whether submits must wait (`wait_for_limits`) before records can be checked: the
    /// stream's own limits are being read.
    pub fn limits_pending(&self) -> bool {
        self.shared.state.borrow().dispatcher.limits_pending()
    }

    /// Waits until the stream's limits are known or given up on (an answer, a failure, or
    /// `requestTimeoutMs`).
    pub async fn wait_for_limits(&self) {
        let _hold = Hold::new(&self.shared);
        loop {
            let generation = {
                let st = self.shared.state.borrow();
                if !st.dispatcher.limits_pending() || st.closed.is_some() {
                    return;
                }
                st.generation
            };
            self.shared.pump();
            self.shared.changed_since(generation).await;
        }
    }

    /// Sends one record with PutRecord, under `maxInFlight` and the same retry table; not
    /// counted in flush reports.
    pub async fn put_record(
        &self,
        data: &[u8],
        key: KeyInput<'_>,
        explicit_hash_key: Option<&str>,
        sequence_number_for_ordering: Option<&str>,
    ) -> Result<PutRecordOutput, PutRecordError> {
        if self.limits_pending() {
            self.wait_for_limits().await;
        }
        let handle = {
            let st = &mut *self.shared.state.borrow_mut();
            if let Some((code, message)) = &st.closed {
                return Err(PutRecordError::Submit(SubmitError::Closed { code: code.clone(), message: message.clone() }));
            }
            st.dispatcher
                .put_record(data, key, explicit_hash_key, sequence_number_for_ordering, &mut *st.entropy)
                .map_err(|e| PutRecordError::Submit(e.into()))?
        };
        let _hold = Hold::new(&self.shared);
        self.shared.pump();
        loop {
            let generation = {
                let st = &mut *self.shared.state.borrow_mut();
                if let Some(at) = st.direct_outcomes.iter().position(|o| o.handle == handle) {
                    return st.direct_outcomes.swap_remove(at).result.map_err(PutRecordError::Failed);
                }
                st.generation
            };
            self.shared.changed_since(generation).await;
        }
    }

    /// Waits while more than `maxBufferedBytes` are accepted and unfinished. The open batch is
    /// sent meanwhile: it could not fill while the producer waits.
    pub async fn wait_for_room(&self) {
        let _hold = Hold::new(&self.shared);
        loop {
            let generation = {
                let st = &mut *self.shared.state.borrow_mut();
                if !st.dispatcher.over_buffer_limit() || st.closed.is_some() {
                    return;
                }
                st.dispatcher.close_open_batch();
                st.generation
            };
            self.shared.pump();
            self.shared.changed_since(generation).await;
        }
    }

    /// Sends everything accepted before this call and waits until each of those records has
    /// ended. The report holds every record that ended since the previous report.
    pub async fn flush(&self) -> Report<P> {
        let mark = {
            let st = &mut *self.shared.state.borrow_mut();
            st.dispatcher.flush();
            st.dispatcher.progress().accepted
        };
        let hold = Hold::new(&self.shared);
        loop {
            let generation = {
                let st = self.shared.state.borrow();
                if !st.payloads.any_below(mark) {
                    break;
                }
                st.generation
            };
            self.shared.pump();
            self.shared.changed_since(generation).await;
        }
        drop(hold);
        let st = &mut *self.shared.state.borrow_mut();
        let p = st.dispatcher.progress();
        let report = Report {
            sent: std::mem::take(&mut st.sent),
            requests: p.requests - st.reported_requests,
            retries: p.retries - st.reported_retries,
            failed_count: std::mem::take(&mut st.failed_count),
            failed: std::mem::take(&mut st.failed),
        };
        st.reported_requests = p.requests;
        st.reported_retries = p.retries;
        report
    }

    /// Replaces the credentials in hand: the next request is signed with them. A provider is
    /// still asked again on ExpiredTokenException and before `expires_ms`.
    pub fn set_credentials(&self, provided: ProvidedCredentials) {
        let fetched_ms = self.shared.runtime.now_ms();
        {
            let mut st = self.shared.state.borrow_mut();
            st.credentials = Some(HeldCredentials { credentials: provided.credentials, expires_ms: provided.expires_ms, fetched_ms });
            st.credentials_failure = None;
        }
        self.shared.pump();
    }

    /// Flushes, then refuses every later submit with the code `Closed`. Resolves to the last
    /// report. Closing again flushes again (an empty report).
    pub fn close(&self) -> impl Future<Output = Report<P>> + '_ {
        self.refuse_submits();
        self.flush()
    }

    /// The first half of `close`: later submits are refused with the code `Closed`.
    pub fn refuse_submits(&self) {
        let mut st = self.shared.state.borrow_mut();
        if st.closed.is_none() {
            st.closed = Some((CLOSED.to_owned(), "the dispatcher is closed: submit no more records".to_owned()));
        }
    }

    /// Ends every record not yet acknowledged with `code`. With `close`, later submits are
    /// refused with the same code and message.
    pub fn abort(&self, code: &str, message: &str, close: bool) {
        {
            let st = &mut *self.shared.state.borrow_mut();
            if close {
                st.closed = Some((code.to_owned(), message.to_owned()));
            }
            st.dispatcher.abort(code, message);
        }
        self.shared.transport.cancel_all();
        self.shared.changed();
    }
}

/// The payloads of unfinished records, by id. Ids come in rising order, so a deque sorted by id
/// does a map's job with less code than a `BTreeMap` (wasm size). An ended record leaves a hole:
/// holes at the front are dropped at once, and all of them once they outnumber the live
/// entries, so one stuck record holds only itself.
struct PayloadStore<P> {
    entries: VecDeque<(RecordId, Option<P>)>,
    live: usize,
}

impl<P> Default for PayloadStore<P> {
    fn default() -> Self {
        Self { entries: VecDeque::new(), live: 0 }
    }
}

impl<P> PayloadStore<P> {
    fn insert(&mut self, id: RecordId, payload: P) {
        self.entries.push_back((id, Some(payload)));
        self.live += 1;
    }

    fn remove(&mut self, id: RecordId) -> Option<P> {
        // Records mostly end oldest first: the front, or a binary search.
        let at = match self.entries.front() {
            Some(e) if e.0 == id => 0,
            _ => self.entries.binary_search_by_key(&id, |e| e.0).ok()?,
        };
        let payload = self.entries[at].1.take()?;
        self.live -= 1;
        while self.entries.front().is_some_and(|e| e.1.is_none()) {
            self.entries.pop_front();
        }
        if self.entries.len() > 2 * self.live + 64 {
            self.entries.retain(|e| e.1.is_some());
        }
        Some(payload)
    }

    /// Whether a record below `mark` is unfinished. The front entry is always live.
    fn any_below(&self, mark: RecordId) -> bool {
        self.entries.front().is_some_and(|e| e.0 < mark)
    }

    #[cfg(test)]
    fn capacity_used(&self) -> usize {
        self.entries.len()
    }
}

fn progress_of(d: &Dispatcher) -> EngineProgress {
    let Progress { accepted, sent, failed, in_flight, retries, requests } = d.progress();
    EngineProgress { accepted, sent, failed, in_flight, retries, requests, buffered_bytes: d.buffered_bytes() as u64 }
}

/// Keeps the host's timers alive while a flush or a submit waits.
struct Hold<P: 'static> {
    shared: Rc<Shared<P>>,
}

impl<P: 'static> Hold<P> {
    fn new(shared: &Rc<Shared<P>>) -> Self {
        let first = {
            let mut st = shared.state.borrow_mut();
            st.holders += 1;
            st.holders == 1
        };
        if first {
            shared.runtime.keep_alive(true);
        }
        Hold { shared: shared.clone() }
    }
}

impl<P: 'static> Drop for Hold<P> {
    fn drop(&mut self) {
        let last = {
            let mut st = self.shared.state.borrow_mut();
            st.holders -= 1;
            st.holders == 0
        };
        if last {
            self.shared.runtime.keep_alive(false);
        }
    }
}

impl<P: 'static> Shared<P> {
    /// Resolves once anything has changed after `generation`.
    fn changed_since(&self, generation: u64) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| {
            let mut st = self.state.borrow_mut();
            if st.generation != generation {
                return Poll::Ready(());
            }
            st.waiters.push(cx.waker().clone());
            Poll::Pending
        })
    }

    /// Moves ended records into the pending report, wakes waiters and schedules progress.
    fn changed(self: &Rc<Self>) {
        let streams = self.events.streams_failures();
        let (waiters, schedule) = {
            let st = &mut *self.state.borrow_mut();
            let acked = st.dispatcher.take_acked();
            st.sent += acked.len() as u64;
            for id in acked {
                st.payloads.remove(id);
            }
            for f in st.dispatcher.take_failed() {
                // Every failed id was accepted; a missing payload would be an engine bug, and
                // losing the entry would break the accounting, so it is kept either way.
                if let Some(payload) = st.payloads.remove(f.id) {
                    let failure = Failure {
                        payload,
                        partition_key: f.partition_key,
                        error_code: f.code,
                        error_message: f.message,
                        attempts: f.attempts,
                    };
                    st.failed_count += 1;
                    if streams {
                        st.streaming.push(failure);
                    } else {
                        st.failed.push(failure);
                    }
                }
            }
            let outcomes = st.dispatcher.take_direct_outcomes();
            st.direct_outcomes.extend(outcomes);
            let notices = st.dispatcher.take_notices();
            st.notices.extend(notices);
            st.generation += 1;
            let schedule = !st.progress_scheduled && (self.events.wants_progress() || !st.streaming.is_empty() || !st.notices.is_empty());
            st.progress_scheduled |= schedule;
            (std::mem::take(&mut st.waiters), schedule)
        };
        for waker in waiters {
            waker.wake();
        }
        if schedule {
            let shared = self.clone();
            self.runtime.spawn(Box::pin(async move {
                let (failures, notices, progress) = {
                    let mut st = shared.state.borrow_mut();
                    st.progress_scheduled = false;
                    (std::mem::take(&mut st.streaming), std::mem::take(&mut st.notices), progress_of(&st.dispatcher))
                };
                if !failures.is_empty() {
                    shared.events.failed(failures);
                }
                for notice in notices {
                    shared.events.notice(notice, progress);
                }
                shared.events.progress(progress);
            }));
        }
    }

    /// Sends what the dispatcher has ready and arms the timer for what comes due later.
    fn pump(self: &Rc<Self>) {
        let now = self.runtime.now_ms();
        let mut requests = Vec::new();
        let mut ended = false;
        let mut arm = None;
        {
            let st = &mut *self.state.borrow_mut();
            if st.dispatcher.take_credentials_refresh() && self.provider.is_some() {
                st.credentials = None; // ExpiredTokenException: the ones in hand are no good
            }
            if st.dispatcher.is_idle() {
                st.credentials_failure = None; // nothing waits on it: the next record asks again
            } else if self.provider.is_some() && !st.fetching_credentials && self.needs_credentials(st, now) {
                if let Some(message) = st.credentials_failure.take() {
                    // Nothing can sign: once the requests sent have answered, every waiting
                    // record ends; the next record submitted asks the provider again.
                    if st.dispatcher.in_flight() > 0 {
                        st.credentials_failure = Some(message);
                    } else {
                        st.dispatcher.abort(CREDENTIALS_UNAVAILABLE, &message);
                        ended = true;
                    }
                } else {
                    st.fetching_credentials = true;
                    let shared = self.clone();
                    self.runtime.spawn(Box::pin(async move { shared.fetch_credentials().await }));
                }
            }
            // Credentials being fetched, or due for it (near or past expiration), sign nothing:
            // the fetch pumps again with the new ones (or keeps the old while they are valid).
            let refreshing = self.provider.is_some() && (st.fetching_credentials || self.needs_credentials(st, now));
            if let Some(held) = st.credentials.as_ref().filter(|_| !refreshing) {
                while let Some(request) = st.dispatcher.poll_request(now, &held.credentials) {
                    requests.push(request);
                }
            }
            if let Some(at) = st.dispatcher.poll_timeout() {
                if st.timer_at.is_none_or(|armed| at < armed) {
                    st.timer_at = Some(at);
                    arm = Some(at);
                }
            }
        }
        for request in requests {
            let shared = self.clone();
            self.runtime.spawn(Box::pin(async move { shared.send(request).await }));
        }
        if let Some(at) = arm {
            let shared = self.clone();
            let sleep = self.runtime.sleep(at.saturating_sub(now));
            self.runtime.spawn(Box::pin(async move {
                sleep.await;
                {
                    let mut st = shared.state.borrow_mut();
                    if st.timer_at == Some(at) {
                        st.timer_at = None;
                    }
                }
                shared.pump();
            }));
        }
        if ended {
            self.changed();
        }
    }

    fn needs_credentials(&self, st: &State<P>, now: u64) -> bool {
        match &st.credentials {
            None => true,
            Some(held) => held.expires_ms.is_some_and(|expires| {
                expires.saturating_sub(now) < CREDENTIAL_REFRESH_MARGIN_MS
                    && now.saturating_sub(held.fetched_ms) >= CREDENTIAL_MIN_REFRESH_INTERVAL_MS
            }),
        }
    }

    async fn send(self: Rc<Self>, request: OutgoingRequest) {
        let id = request.id;
        let timeout = self.state.borrow().dispatcher.config().request_timeout_ms;
        let answer = race(self.transport.send(request), self.runtime.sleep(timeout)).await;
        let now = self.runtime.now_ms();
        {
            let st = &mut *self.state.borrow_mut();
            let entropy = &mut *st.entropy;
            match answer {
                Either::Left(Ok(r)) => {
                    let response = HttpResponse {
                        status: r.status,
                        error_type: r.error_type.as_deref(),
                        server_date_ms: r.server_date_ms,
                        body: &r.body,
                    };
                    st.dispatcher.handle_response(id, response, now, entropy);
                }
                Either::Left(Err(failure)) => {
                    let kind = if failure.timed_out { TransportError::Timeout } else { TransportError::Network };
                    st.dispatcher.handle_transport_error(id, kind, &failure.message, now, entropy)
                }
                Either::Right(()) => {
                    let message = format!("no answer within {timeout} ms");
                    st.dispatcher.handle_transport_error(id, TransportError::Timeout, &message, now, entropy)
                }
            }
        }
        self.changed();
        self.pump();
    }

    /// Asks the provider under the request deadline, retrying a failure with the records'
    /// backoff up to `maxAttempts` times.
    async fn fetch_credentials(self: Rc<Self>) {
        let Some(provider) = &self.provider else { return };
        let (timeout, retry) = {
            let st = self.state.borrow();
            let config = st.dispatcher.config();
            (config.request_timeout_ms, config.retry)
        };
        let mut failure = None;
        for attempt in 1u32.. {
            let tries = if attempt == 1 { "1 try".to_owned() } else { format!("{attempt} tries") };
            match race(provider.credentials(), self.runtime.sleep(timeout)).await {
                Either::Left(Ok(provided)) => {
                    let fetched_ms = self.runtime.now_ms();
                    let mut st = self.state.borrow_mut();
                    st.credentials =
                        Some(HeldCredentials { credentials: provided.credentials, expires_ms: provided.expires_ms, fetched_ms });
                    st.credentials_failure = None;
                    failure = None;
                    break;
                }
                Either::Left(Err(message)) => failure = Some(format!("the credentials provider failed ({tries}): {message}")),
                Either::Right(()) => failure = Some(format!("the credentials provider did not answer within {timeout} ms ({tries})")),
            }
            let delay = {
                let st = &mut *self.state.borrow_mut();
                if attempt >= retry.max_attempts || st.dispatcher.is_idle() {
                    break;
                }
                retry.backoff_ms(attempt, st.entropy.next_u32())
            };
            self.runtime.sleep(delay).await;
        }
        {
            let now = self.runtime.now_ms();
            let st = &mut *self.state.borrow_mut();
            st.fetching_credentials = false;
            if let Some(message) = failure {
                match &mut st.credentials {
                    // Not expired yet: keep signing with them, and ask again later.
                    Some(held) if held.expires_ms.is_none_or(|e| e > now) => held.fetched_ms = now,
                    _ => {
                        st.credentials = None;
                        st.credentials_failure = Some(message);
                    }
                }
            }
        }
        self.pump();
        self.changed();
    }
}

/// An HTTP `Date` header (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`) as ms since the epoch,
/// for transports with no date parser of their own (the JS host has `Date.parse`).
pub fn http_date_ms(value: &str) -> Option<u64> {
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

#[cfg(test)]
mod tests {
    use super::{http_date_ms, PayloadStore};

    #[test]
    fn one_stuck_payload_holds_only_itself() {
        let mut store = PayloadStore::default();
        for id in 0..100_000u64 {
            store.insert(id, id);
            if id > 0 {
                assert_eq!(store.remove(id), Some(id));
            }
            assert!(store.capacity_used() <= 2 * store.live + 65);
        }
        assert!(store.any_below(1) && !store.any_below(0));
        assert_eq!(store.remove(0), Some(0));
        assert!(!store.any_below(u64::MAX));
        assert_eq!(store.remove(0), None);
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777_000));
        assert_eq!(http_date_ms("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(http_date_ms("Sun, 06 Nov 1994 08:49:37 PST"), None);
        assert_eq!(http_date_ms("garbage"), None);
    }
}
