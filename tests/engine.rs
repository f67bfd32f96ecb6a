//! The engine over a scripted transport and virtual time: every wait, timeout and backoff
//! runs in no real time, and a hang shows as `block_on` returning `None`.
//!
//! Each `defect_*` test is a case from the engine issue that the JS-driven design got wrong.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;

use kinesis_batch::dispatcher::{Config, Dispatcher, Options, OutgoingRequest};
use kinesis_batch::engine::{
    CredentialSource, CredentialsProvider, Engine, EngineProgress, Events, LocalFuture, ProvidedCredentials, Report, Runtime, Transport,
    TransportFailure, TransportResponse,
};
use kinesis_batch::local_executor::{Executor, LocalRuntime, VirtualTime};
use kinesis_batch::record::{KeyInput, SeededEntropy};
use kinesis_batch::sigv4::Credentials;
use proptest::prelude::*;

const START_MS: u64 = 1_764_000_000_000;

/// What the scripted transport does with one request.
#[derive(Debug, Clone, PartialEq)]
enum Behaviour {
    /// Every record acknowledged, after `delay` ms.
    Ok { delay: u64 },
    /// The entries listed fail with this code; the rest are acknowledged.
    Partial { failing: Vec<usize>, code: &'static str },
    /// A whole-request error answer.
    Status { status: u16, code: &'static str },
    /// A 200 whose entries carry neither SequenceNumber nor ErrorCode.
    EmptyEntries,
    /// A transport failure (connection reset) after `delay` ms.
    Reset { delay: u64 },
    /// Never answers, never fails: only the engine's deadline ends it.
    Hang,
}

#[derive(Default)]
struct Log {
    /// (request id, record count, the record indices in the body) per request sent.
    sent: Vec<(u64, usize, Vec<u64>)>,
    /// How many requests are being awaited right now.
    open: usize,
    max_open: usize,
}

type Script = Rc<dyn Fn(usize, &OutgoingRequest) -> Behaviour>;

struct ScriptedTransport {
    runtime: LocalRuntime,
    script: Script,
    log: Rc<RefCell<Log>>,
}

/// The `Data` of each record in a PutRecords body, decoded: the tests submit the record index as
/// its data, so this gives the indices in the request.
fn indices_in(body: &[u8]) -> Vec<u64> {
    use base64::Engine as _;
    let text = std::str::from_utf8(body).unwrap();
    text.split("\"Data\":\"")
        .skip(1)
        .map(|rest| {
            let b64 = &rest[..rest.find('"').unwrap()];
            let data = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
            std::str::from_utf8(&data).unwrap().trim_matches('"').parse().unwrap_or(u64::MAX)
        })
        .collect()
}

fn answer(status: u16, body: String) -> TransportResponse {
    TransportResponse { status, error_type: None, server_date_ms: None, body: body.into_bytes() }
}

fn put_records_answer(count: usize, failing: &[usize], code: &str) -> String {
    let entries: Vec<String> = (0..count)
        .map(|i| {
            if failing.contains(&i) {
                format!(r#"{{"ErrorCode":"{code}","ErrorMessage":"slow down"}}"#)
            } else {
                format!(r#"{{"SequenceNumber":"{i}","ShardId":"shardId-000000000000"}}"#)
            }
        })
        .collect();
    format!(r#"{{"FailedRecordCount":{},"Records":[{}]}}"#, failing.len(), entries.join(","))
}

impl Transport for ScriptedTransport {
    fn send(&self, request: OutgoingRequest) -> LocalFuture<'static, Result<TransportResponse, TransportFailure>> {
        let n = self.log.borrow().sent.len();
        self.log.borrow_mut().sent.push((request.id, request.record_count, indices_in(&request.body)));
        let behaviour = (self.script)(n, &request);
        let runtime = self.runtime.clone();
        let log = self.log.clone();
        let count = request.record_count;
        Box::pin(async move {
            {
                let mut l = log.borrow_mut();
                l.open += 1;
                l.max_open = l.max_open.max(l.open);
            }
            struct Close(Rc<RefCell<Log>>);
            impl Drop for Close {
                fn drop(&mut self) {
                    self.0.borrow_mut().open -= 1;
                }
            }
            let _close = Close(log);
            match behaviour {
                Behaviour::Ok { delay } => {
                    runtime.sleep(delay).await;
                    Ok(answer(200, put_records_answer(count, &[], "")))
                }
                Behaviour::Partial { failing, code } => {
                    runtime.sleep(5).await;
                    Ok(answer(200, put_records_answer(count, &failing, code)))
                }
                Behaviour::Status { status, code } => {
                    runtime.sleep(5).await;
                    Ok(answer(status, format!(r#"{{"__type":"{code}","message":"no"}}"#)))
                }
                Behaviour::EmptyEntries => {
                    runtime.sleep(5).await;
                    let entries = vec!["{}"; count].join(",");
                    Ok(answer(200, format!(r#"{{"FailedRecordCount":0,"Records":[{entries}]}}"#)))
                }
                Behaviour::Reset { delay } => {
                    runtime.sleep(delay).await;
                    Err(TransportFailure { message: "TypeError: fetch failed (ECONNRESET)".into(), timed_out: false })
                }
                Behaviour::Hang => std::future::pending().await,
            }
        })
    }
}

type ProgressHook = Box<dyn Fn(&EngineProgress)>;

#[derive(Default)]
struct Recorder {
    progress: RefCell<Vec<EngineProgress>>,
    /// When set, failures stream out to `failures` (the `onFailed` option).
    streams: Cell<bool>,
    failures: RefCell<Vec<(u64, String)>>,
    /// Run from `onProgress`: user code that calls back into the engine.
    on_progress: RefCell<Option<ProgressHook>>,
}

struct RecorderEvents(Rc<Recorder>);

impl Events<u64> for RecorderEvents {
    fn streams_failures(&self) -> bool {
        self.0.streams.get()
    }

    fn failed(&self, failures: Vec<kinesis_batch::engine::Failure<u64>>) {
        self.0.failures.borrow_mut().extend(failures.into_iter().map(|f| (f.payload, f.error_code)));
    }

    fn progress(&self, progress: EngineProgress) {
        self.0.progress.borrow_mut().push(progress);
        if let Some(f) = &*self.0.on_progress.borrow() {
            f(&progress);
        }
    }
}

struct Harness {
    executor: Executor,
    engine: Engine<u64>,
    log: Rc<RefCell<Log>>,
    recorder: Rc<Recorder>,
    next: Cell<u64>,
}

fn credentials() -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: None,
    }
}

struct Setup {
    max_batch_size: f64,
    max_buffered_bytes: f64,
    max_buffered_time_ms: f64,
    max_in_flight: f64,
    max_attempts: f64,
    request_timeout_ms: f64,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            max_batch_size: 10.0,
            max_buffered_bytes: 1e9,
            max_buffered_time_ms: 0.0,
            max_in_flight: 4.0,
            max_attempts: 8.0,
            request_timeout_ms: 30_000.0,
        }
    }
}

impl Harness {
    fn new(setup: Setup, script: impl Fn(usize, &OutgoingRequest) -> Behaviour + 'static) -> Self {
        Self::with_credentials(setup, script, None)
    }

    fn with_credentials(
        setup: Setup,
        script: impl Fn(usize, &OutgoingRequest) -> Behaviour + 'static,
        provider: Option<Box<dyn CredentialsProvider>>,
    ) -> Self {
        let time = VirtualTime::starting_at(START_MS);
        let executor = Executor::new(Box::new(time));
        let runtime = executor.runtime();
        let options = Options {
            stream: "orders",
            region: Some("us-east-1"),
            endpoint: Some("http://127.0.0.1:4567"),
            max_batch_size: Some(setup.max_batch_size),
            max_buffered_bytes: Some(setup.max_buffered_bytes),
            max_buffered_time_ms: Some(setup.max_buffered_time_ms),
            max_in_flight: Some(setup.max_in_flight),
            max_attempts: Some(setup.max_attempts),
            request_timeout_ms: Some(setup.request_timeout_ms),
            retry_base_delay_ms: Some(100.0),
            retry_max_delay_ms: Some(2_000.0),
            ..Options::default()
        };
        let dispatcher = Dispatcher::new(Config::new(&options).unwrap());
        let log = Rc::new(RefCell::new(Log::default()));
        let transport = ScriptedTransport { runtime: runtime.clone(), script: Rc::new(script), log: log.clone() };
        let recorder = Rc::new(Recorder::default());
        let source = match provider {
            Some(p) => CredentialSource::Provider(p),
            None => CredentialSource::Static(credentials()),
        };
        let engine = Engine::new(
            dispatcher,
            Box::new(SeededEntropy(7)),
            Box::new(transport),
            Box::new(runtime),
            source,
            Box::new(RecorderEvents(recorder.clone())),
        );
        Harness { executor, engine, log, recorder, next: Cell::new(0) }
    }

    /// Submits the next record (its data is its index, with the index as key); true when the
    /// caller should wait for room.
    fn submit(&self) -> bool {
        let i = self.next.get();
        self.next.set(i + 1);
        submit_index(&self.engine, i)
    }

    fn flush(&mut self) -> Option<Report<u64>> {
        let engine = self.engine.clone();
        self.executor.block_on(async move { engine.flush().await })
    }
}

fn submit_index(engine: &Engine<u64>, i: u64) -> bool {
    let data = i.to_string();
    engine.submit(data.as_bytes(), KeyInput::Given(&format!("k{i}")), None, i).expect("accepted")
}

fn all_ok(_: usize, _: &OutgoingRequest) -> Behaviour {
    Behaviour::Ok { delay: 10 }
}

#[test]
fn delivers_everything_and_reports_once() {
    let mut h = Harness::new(Setup::default(), all_ok);
    for _ in 0..25 {
        h.submit();
    }
    let report = h.flush().expect("flush settles");
    assert_eq!((report.sent, report.requests, report.failed.len()), (25, 3, 0));
    let again = h.flush().expect("an empty flush settles");
    assert_eq!((again.sent, again.requests), (0, 0));
    let delivered: BTreeSet<u64> = h.log.borrow().sent.iter().flat_map(|s| s.2.clone()).collect();
    assert_eq!(delivered, (0..25).collect());
}

#[test]
fn defect_1_tight_buffer_sends_the_open_batch_instead_of_hanging() {
    // One open batch (10 records of ~4 bytes) holds more than maxBufferedBytes = 16.
    let mut h = Harness::new(Setup { max_buffered_bytes: 16.0, ..Setup::default() }, all_ok);
    let mut waited = 0;
    for _ in 0..7 {
        if h.submit() {
            waited += 1;
            let engine = h.engine.clone();
            h.executor.block_on(async move { engine.wait_for_room().await }).expect("submit settles: the open batch is sent");
        }
    }
    assert!(waited > 0, "the limit was reached");
    let report = h.flush().expect("flush settles");
    assert_eq!(report.sent, 7);
}

#[test]
fn defect_2_flush_does_not_wait_for_records_submitted_during_it() {
    let mut h = Harness::new(Setup::default(), all_ok);
    for _ in 0..5 {
        h.submit();
    }
    // onProgress submits a new record every time it runs: a flush that waited for those
    // would never settle.
    let engine = h.engine.clone();
    let counter = Rc::new(Cell::new(1000u64));
    let c = counter.clone();
    *h.recorder.on_progress.borrow_mut() = Some(Box::new(move |_| {
        if c.get() < 1200 {
            c.set(c.get() + 1);
            submit_index(&engine, c.get());
        }
    }));
    let first = h.flush().expect("the flush settles although records keep coming");
    assert!(first.sent >= 5);
    *h.recorder.on_progress.borrow_mut() = None;
    let mut total = first.sent;
    while let Some(r) = h.flush() {
        total += r.sent;
        if r.sent == 0 {
            break;
        }
    }
    assert_eq!(total, 5 + (counter.get() - 1000), "later records are delivered by later flushes, each once");
}

#[test]
fn defect_2_linger_with_a_steady_producer_does_not_hold_a_flush_open() {
    let mut h = Harness::new(Setup { max_buffered_time_ms: 5_000.0, max_batch_size: 500.0, ..Setup::default() }, all_ok);
    h.submit();
    let engine = h.engine.clone();
    // A producer that submits one record every 100 ms for a minute.
    let runtime = h.executor.runtime();
    let clock = runtime.clone();
    let producer = engine.clone();
    runtime.spawn(Box::pin(async move {
        for i in 0..600 {
            clock.sleep(100).await;
            submit_index(&producer, 10_000 + i);
        }
    }));
    let start = h.executor.now_ms();
    let report = h.executor.block_on(async move { engine.flush().await }).expect("settles");
    assert_eq!(report.sent, 1);
    assert!(h.executor.now_ms() - start < 100, "flushed at once, not after the linger time: {} ms", h.executor.now_ms() - start);
}

#[test]
fn defect_4_a_transport_that_never_answers_times_out_and_is_retried() {
    let mut h = Harness::new(Setup { request_timeout_ms: 2_000.0, ..Setup::default() }, |n, _| {
        if n == 0 {
            Behaviour::Hang
        } else {
            Behaviour::Ok { delay: 10 }
        }
    });
    for _ in 0..3 {
        h.submit();
    }
    let report = h.flush().expect("the deadline ends the hung attempt");
    assert_eq!((report.sent, report.requests, report.retries), (3, 2, 3));
    assert_eq!(h.log.borrow().open, 0, "the hung transport future was dropped");
}

#[test]
fn defect_4_hanging_attempts_end_as_timeout_after_the_budget() {
    let mut h = Harness::new(Setup { request_timeout_ms: 1_000.0, max_attempts: 3.0, ..Setup::default() }, |_, _| Behaviour::Hang);
    h.submit();
    let report = h.flush().expect("settles");
    assert_eq!(report.failed.len(), 1);
    assert_eq!((report.failed[0].error_code.as_str(), report.failed[0].attempts), ("Timeout", 3));
    assert_eq!(report.failed[0].payload, 0, "the failure carries the submitted payload");
}

#[test]
fn defect_6_entries_without_sequence_number_or_error_are_not_counted_as_sent() {
    let mut h = Harness::new(Setup { max_attempts: 2.0, ..Setup::default() }, |_, _| Behaviour::EmptyEntries);
    h.submit();
    let report = h.flush().expect("settles");
    assert_eq!(report.sent, 0);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].attempts, 2, "retried within its budget");
}

#[test]
fn partial_failures_retry_exactly_the_failed_records() {
    let mut h = Harness::new(Setup::default(), |n, _| {
        if n == 0 {
            Behaviour::Partial { failing: vec![1, 3], code: "ProvisionedThroughputExceededException" }
        } else {
            Behaviour::Ok { delay: 10 }
        }
    });
    for _ in 0..5 {
        h.submit();
    }
    let report = h.flush().expect("settles");
    assert_eq!((report.sent, report.retries, report.failed.len()), (5, 2, 0));
    assert_eq!(h.log.borrow().sent[1].2, vec![1, 3], "the retry carries only the failed records");
}

#[test]
fn max_in_flight_is_respected() {
    let mut h = Harness::new(Setup { max_in_flight: 2.0, max_batch_size: 1.0, ..Setup::default() }, |_, _| Behaviour::Ok { delay: 50 });
    for _ in 0..20 {
        h.submit();
    }
    let report = h.flush().expect("settles");
    assert_eq!(report.sent, 20);
    assert_eq!(h.log.borrow().max_open, 2);
}

struct ScriptedProvider {
    runtime: LocalRuntime,
    calls: Rc<Cell<u32>>,
    /// Per call: None hangs forever, Some(Ok(expires in ms)) or Some(Err(message)).
    script: Rc<dyn Fn(u32) -> Option<Result<u64, String>>>,
}

impl CredentialsProvider for ScriptedProvider {
    fn credentials(&self) -> LocalFuture<'static, Result<ProvidedCredentials, String>> {
        let n = self.calls.get();
        self.calls.set(n + 1);
        let outcome = (self.script)(n);
        let now = self.runtime.now_ms();
        Box::pin(async move {
            match outcome {
                None => std::future::pending().await,
                Some(Ok(expires_in)) => Ok(ProvidedCredentials { credentials: credentials(), expires_ms: Some(now + expires_in) }),
                Some(Err(message)) => Err(message),
            }
        })
    }
}

fn provider_harness(setup: Setup, script: impl Fn(u32) -> Option<Result<u64, String>> + 'static) -> (Harness, Rc<Cell<u32>>) {
    // The provider needs the executor's runtime, which the harness makes: build it in two steps.
    let calls = Rc::new(Cell::new(0));
    let script: Rc<dyn Fn(u32) -> Option<Result<u64, String>>> = Rc::new(script);
    let slot: Rc<RefCell<Option<LocalRuntime>>> = Rc::new(RefCell::new(None));
    struct Late {
        slot: Rc<RefCell<Option<LocalRuntime>>>,
        calls: Rc<Cell<u32>>,
        script: Rc<dyn Fn(u32) -> Option<Result<u64, String>>>,
    }
    impl CredentialsProvider for Late {
        fn credentials(&self) -> LocalFuture<'static, Result<ProvidedCredentials, String>> {
            let runtime = self.slot.borrow().clone().unwrap();
            ScriptedProvider { runtime, calls: self.calls.clone(), script: self.script.clone() }.credentials()
        }
    }
    let late = Late { slot: slot.clone(), calls: calls.clone(), script };
    let h = Harness::with_credentials(setup, all_ok, Some(Box::new(late)));
    *slot.borrow_mut() = Some(h.executor.runtime());
    (h, calls)
}

#[test]
fn defect_9_a_provider_that_never_settles_does_not_hang_this_flush_or_later_ones() {
    let (mut h, calls) = provider_harness(Setup { request_timeout_ms: 1_000.0, max_attempts: 2.0, ..Setup::default() }, |n| {
        if n < 2 {
            None
        } else {
            Some(Ok(3_600_000))
        }
    });
    h.submit();
    let report = h.flush().expect("the provider's deadline ends the wait");
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].error_code, "CredentialsUnavailable");
    assert!(report.failed[0].error_message.contains("did not answer within 1000 ms"), "{}", report.failed[0].error_message);
    assert_eq!(calls.get(), 2);
    h.submit();
    let report = h.flush().expect("a later flush asks again");
    assert_eq!((report.sent, report.failed.len()), (1, 0));
}

#[test]
fn credentials_are_refreshed_before_they_expire() {
    // Each set of credentials lasts six minutes: the refresh margin is five.
    let (mut h, calls) = provider_harness(Setup::default(), |_| Some(Ok(6 * 60 * 1000)));
    h.submit();
    h.flush().expect("settles");
    assert_eq!(calls.get(), 1);
    h.executor.run_for(2 * 60 * 1000);
    h.submit();
    h.flush().expect("settles");
    assert_eq!(calls.get(), 2, "asked again inside the margin");
}

#[test]
fn memory_one_stuck_record_holds_only_itself() {
    let mut h = Harness::new(Setup { request_timeout_ms: 3_600_000.0, max_in_flight: 4.0, ..Setup::default() }, |n, _| {
        if n == 0 {
            Behaviour::Hang
        } else {
            Behaviour::Ok { delay: 1 }
        }
    });
    for _ in 0..10 {
        h.submit(); // the first batch: its request hangs
    }
    for _ in 0..5_000 {
        h.submit();
    }
    h.executor.run_for(1_000);
    let p = h.engine.progress();
    assert_eq!(p.sent, 5_000);
    assert_eq!(p.buffered_bytes, (0..10u64).map(|i| i.to_string().len() + format!("k{i}").len()).sum::<usize>() as u64);
}

#[test]
fn abort_ends_every_unfinished_record_and_closes() {
    let mut h = Harness::new(Setup::default(), |_, _| Behaviour::Hang);
    for _ in 0..12 {
        h.submit();
    }
    h.executor.run_for(10);
    h.engine.abort("Aborted", "aborted before acknowledgement: test", true);
    let report = h.flush().expect("settles");
    assert_eq!(report.failed.len(), 12);
    assert!(report.failed.iter().all(|f| f.error_code == "Aborted"));
    assert!(h.engine.submit(b"1", KeyInput::Given("k"), None, 99).is_err(), "closed");
}

#[test]
fn a_missing_stream_fails_fast_wasting_at_most_max_in_flight_requests() {
    let mut h = Harness::new(Setup { max_in_flight: 2.0, max_batch_size: 10.0, ..Setup::default() }, |_, _| Behaviour::Status {
        status: 400,
        code: "ResourceNotFoundException",
    });
    for _ in 0..2_000 {
        h.submit();
    }
    let report = h.flush().expect("settles");
    assert_eq!((report.sent, report.failed.len() as u64, report.failed_count), (0, 2_000, 2_000));
    assert_eq!(h.log.borrow().sent.len(), 2, "one request per maxInFlight slot, then nothing");
    let f = &report.failed[1999];
    assert_eq!(f.error_code, "ResourceNotFoundException");
    assert!(f.error_message.starts_with("stream orders in us-east-1 at http://127.0.0.1:4567/: "), "{}", f.error_message);
    // While failing fast, a record ends at once with the stream's error: nothing is sent.
    h.submit();
    h.submit();
    let report = h.flush().expect("settles");
    assert_eq!((report.failed_count, h.log.borrow().sent.len()), (2, 2));
    // That flush lets the next request through as a probe: a full batch goes at once, fails, and
    // failing fast starts again.
    for _ in 0..10 {
        h.submit();
    }
    h.executor.run_for(100);
    assert_eq!(h.log.borrow().sent.len(), 3, "one probe");
    for _ in 0..10 {
        h.submit();
    }
    h.executor.run_for(4_800);
    assert_eq!(h.log.borrow().sent.len(), 3, "nothing before the probe time");
    // From the probe time on, records queue and the next full batch is the probe.
    h.executor.run_for(200);
    for _ in 0..10 {
        h.submit();
    }
    h.executor.run_for(100);
    assert_eq!(h.log.borrow().sent.len(), 4, "one probe per 5 s");
    assert_eq!(h.engine.progress().failed, 2_000 + 2 + 30);
}

#[test]
fn on_failed_streams_failures_and_a_producer_that_never_flushes_stays_bounded() {
    let mut h = Harness::new(Setup { max_buffered_bytes: 4_096.0, max_batch_size: 500.0, ..Setup::default() }, |_, _| Behaviour::Status {
        status: 400,
        code: "ResourceNotFoundException",
    });
    h.recorder.streams.set(true);
    let mut max_buffered = 0;
    for _ in 0..20_000 {
        if h.submit() {
            let engine = h.engine.clone();
            h.executor.block_on(async move { engine.wait_for_room().await }).expect("room comes");
        }
        max_buffered = max_buffered.max(h.engine.progress().buffered_bytes);
    }
    h.executor.run_for(0);
    let elapsed = h.executor.now_ms() - START_MS;
    assert!(max_buffered <= 4_096 + 64, "buffered bytes stay within maxBufferedBytes plus one record: {max_buffered}");
    let p = h.engine.progress();
    assert_eq!(h.recorder.failures.borrow().len() as u64, p.failed, "every failure went out as it happened");
    let report = h.flush().expect("settles");
    assert!(report.failed.is_empty(), "failures went to onFailed, not the report");
    assert_eq!(report.failed_count, 20_000);
    assert_eq!(h.recorder.failures.borrow().len(), 20_000);
    // Failing fast: the first maxInFlight requests, then one probe per 5 s at most.
    let requests = h.log.borrow().sent.len() as u64;
    assert!(requests <= 4 + elapsed / 5_000 + 1, "{requests} requests in {elapsed} ms");
}

#[test]
fn close_flushes_then_refuses_submits() {
    let mut h = Harness::new(Setup::default(), all_ok);
    for _ in 0..7 {
        h.submit();
    }
    let engine = h.engine.clone();
    let report = h.executor.block_on(async move { engine.close().await }).expect("settles");
    assert_eq!(report.sent, 7);
    match h.engine.submit(b"1", KeyInput::Given("k"), None, 99) {
        Err(kinesis_batch::engine::SubmitError::Closed { code, .. }) => assert_eq!(code, "Closed"),
        other => panic!("expected Closed, got {other:?}"),
    }
}

// ---- fault schedules ---------------------------------------------------------------------

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        4 => (0u64..200).prop_map(|delay| Behaviour::Ok { delay }),
        2 => (proptest::collection::vec(0usize..10, 1..4), prop_oneof![Just("ProvisionedThroughputExceededException"), Just("InternalFailure"), Just("KMSDisabledException")])
            .prop_map(|(failing, code)| Behaviour::Partial { failing, code }),
        1 => prop_oneof![
            Just(Behaviour::Status { status: 400, code: "ThrottlingException" }),
            Just(Behaviour::Status { status: 500, code: "InternalFailure" }),
            Just(Behaviour::Status { status: 400, code: "ResourceNotFoundException" }),
            Just(Behaviour::Status { status: 413, code: "RequestEntityTooLarge" }),
        ],
        1 => Just(Behaviour::EmptyEntries),
        1 => (0u64..300).prop_map(|delay| Behaviour::Reset { delay }),
        1 => Just(Behaviour::Hang),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Submit(u8),
    Flush,
    Wait(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![6 => (1u8..40).prop_map(Step::Submit), 1 => Just(Step::Flush), 1 => (0u16..5000).prop_map(Step::Wait)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Any fault schedule: every flush settles, every accepted record ends exactly once across
    /// the reports, and nothing is left behind.
    #[test]
    fn every_record_ends_exactly_once_under_any_fault_schedule(
        script in proptest::collection::vec(behaviour(), 1..40),
        steps in proptest::collection::vec(step(), 1..20),
        max_in_flight in 1u8..5,
        linger in prop_oneof![Just(0u16), 1u16..3000],
        buffer in prop_oneof![Just(1_000_000u32), 8u32..200],
    ) {
        let setup = Setup {
            max_in_flight: f64::from(max_in_flight),
            max_buffered_time_ms: f64::from(linger),
            max_buffered_bytes: f64::from(buffer),
            max_attempts: 4.0,
            request_timeout_ms: 2_000.0,
            ..Setup::default()
        };
        let script = Rc::new(script);
        let s = script.clone();
        let mut h = Harness::new(setup, move |n, _| s[n % s.len()].clone());
        let mut reports = Vec::new();
        for step in steps {
            match step {
                Step::Submit(count) => {
                    for _ in 0..count {
                        if h.submit() {
                            let engine = h.engine.clone();
                            prop_assert!(h.executor.block_on(async move { engine.wait_for_room().await }).is_some(), "submit hung");
                        }
                    }
                }
                Step::Flush => reports.push(h.flush().expect("flush hung")),
                Step::Wait(ms) => h.executor.run_for(u64::from(ms)),
            }
        }
        reports.push(h.flush().expect("final flush hung"));
        let accepted = h.next.get();
        let sent: u64 = reports.iter().map(|r| r.sent).sum();
        let mut failed: Vec<u64> = reports.iter().flat_map(|r| r.failed.iter().map(|f| f.payload)).collect();
        prop_assert_eq!(sent + failed.len() as u64, accepted);
        failed.sort();
        failed.dedup();
        prop_assert_eq!(sent + failed.len() as u64, accepted, "a record reported failed twice");
        let p = h.engine.progress();
        prop_assert_eq!((p.sent, p.failed, p.in_flight, p.buffered_bytes), (sent, failed.len() as u64, 0, 0));
        // Every acknowledged record was in some request.
        let seen: BTreeSet<u64> = h.log.borrow().sent.iter().flat_map(|s| s.2.clone()).collect();
        for i in 0..accepted {
            prop_assert!(seen.contains(&i) || failed.binary_search(&i).is_ok());
        }
    }
}
