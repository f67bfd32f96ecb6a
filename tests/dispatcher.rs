//! The dispatcher state machine, driven by hand through its public API with a stub
//! transport: each test plays the host, sends nothing, and answers requests itself.

#[path = "dispatcher/harness.rs"]
mod harness;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use kinesis_batch::dispatcher::{Config, Dispatcher, HttpResponse, Options, OutgoingRequest, Progress, TransportError, ABORTED};
use kinesis_batch::record::SeededEntropy;
use kinesis_batch::retry::RetryPolicy;
use kinesis_batch::sigv4::{Credentials, SigningTime};
use kinesis_batch::{FailedRecord, KeyInput};
use proptest::prelude::*;

use harness::{Answer, Harness, HashKey, Key, Malformed, Op, Rendering, Setup, REQUEST_ERRORS};

const T0: u64 = 1_764_000_000_000;
const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN//////////wEaCXVzLWVhc3QtMSJHMEUCIQD";

fn creds() -> Credentials {
    Credentials { access_key_id: AKID.into(), secret_access_key: SECRET.into(), session_token: Some(TOKEN.into()) }
}

fn options() -> Options<'static> {
    Options { stream: "orders", region: Some("us-east-1"), endpoint: Some("http://127.0.0.1:4567"), ..Options::default() }
}

/// A host with a stub transport: time, randomness and credentials are in the test's hands.
struct Host {
    d: Dispatcher,
    now: u64,
    creds: Credentials,
    entropy: SeededEntropy,
}

#[derive(Debug, PartialEq, Eq)]
struct SentRecord {
    data: Vec<u8>,
    key: String,
}

impl Host {
    fn new(o: Options) -> Self {
        Self { d: Dispatcher::new(Config::new(&o).unwrap()), now: T0, creds: creds(), entropy: SeededEntropy(7) }
    }

    fn submit(&mut self, data: &[u8], key: &str) -> u64 {
        self.d.submit(data, KeyInput::Given(key), None, self.now, &mut self.entropy).unwrap()
    }

    /// Records `0..n` with data `"rec-i"` and key `"k-i"`.
    fn submit_n(&mut self, n: usize) -> Vec<u64> {
        (0..n).map(|i| self.submit(format!("rec-{i}").as_bytes(), &format!("k-{i}"))).collect()
    }

    fn poll(&mut self) -> Option<OutgoingRequest> {
        self.d.poll_request(self.now, &self.creds)
    }

    fn respond(&mut self, id: u64, status: u16, body: &[u8]) {
        self.respond_full(id, HttpResponse { status, error_type: None, server_date_ms: None, body });
    }

    fn respond_full(&mut self, id: u64, response: HttpResponse) {
        self.d.handle_response(id, response, self.now, &mut self.entropy);
    }

    fn error(&mut self, id: u64, status: u16, code: &str, message: &str) {
        let body = serde_json::json!({ "__type": code, "message": message }).to_string();
        self.respond(id, status, body.as_bytes());
    }

    fn transport(&mut self, id: u64, kind: TransportError) {
        self.d.handle_transport_error(id, kind, "socket hang up", self.now, &mut self.entropy);
    }

    /// Advances to the next retry and polls it.
    fn next_retry(&mut self) -> OutgoingRequest {
        let due = self.d.poll_timeout().expect("a retry is scheduled");
        assert!(due >= self.now);
        if due > self.now {
            assert_eq!(self.d.poll_request(due - 1, &self.creds), None, "sent before its backoff ended");
        }
        self.now = due;
        self.poll().expect("the retry is sent when due")
    }

    fn failed(&mut self) -> Vec<FailedRecord> {
        self.d.take_failed()
    }
}

fn header<'a>(r: &'a OutgoingRequest, name: &str) -> &'a str {
    r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name} header"))
}

fn body(r: &OutgoingRequest) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn records(r: &OutgoingRequest) -> Vec<SentRecord> {
    body(r)["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| SentRecord {
            data: STANDARD.decode(e["Data"].as_str().unwrap()).unwrap(),
            key: e["PartitionKey"].as_str().unwrap().into(),
        })
        .collect()
}

fn keys(r: &OutgoingRequest) -> Vec<String> {
    records(r).into_iter().map(|s| s.key).collect()
}

fn ok(n: usize) -> Vec<u8> {
    harness::ok_body(&vec![None; n])
}

/// A 200 answer where `failures` (position, code) failed.
fn partial(n: usize, failures: &[(usize, &str)]) -> Vec<u8> {
    let entries: Vec<serde_json::Value> = (0..n)
        .map(|i| match failures.iter().find(|(p, _)| *p == i) {
            Some((_, code)) => serde_json::json!({ "ErrorCode": code, "ErrorMessage": format!("record {i} failed") }),
            None => serde_json::json!({ "SequenceNumber": "1", "ShardId": "shardId-000000000000" }),
        })
        .collect();
    serde_json::json!({ "FailedRecordCount": failures.len(), "Records": entries }).to_string().into_bytes()
}

fn assert_signed(h: &Host, r: &OutgoingRequest, at_ms: u64) {
    let time = SigningTime::from_unix_seconds(at_ms / 1000);
    assert_eq!(header(r, "x-amz-date"), time.amz_date());
    let expected = harness::authorization(r, "127.0.0.1:4567", "/", time, &h.creds);
    assert_eq!(header(r, "authorization"), expected);
}

// ---- batching and flow control --------------------------------------------------------------

#[test]
fn a_full_batch_is_ready_as_soon_as_it_is_full() {
    let mut h = Host::new(Options { max_batch_size: Some(3.0), ..options() });
    h.submit_n(2);
    assert_eq!(h.poll(), None, "two of three: not full yet");
    assert!(!h.d.has_ready(h.now));
    h.submit(b"rec-2", "k-2");
    assert!(h.d.has_ready(h.now));
    let r = h.poll().expect("full at three");
    assert_eq!(keys(&r), ["k-0", "k-1", "k-2"]);
    assert_eq!(r.record_count, 3);

    // Full by bytes: exactly maxRequestBytes closes the batch at once.
    let mut h = Host::new(Options { max_request_bytes: Some(20.0), ..options() });
    h.submit(b"123456789", "a"); // 10 bytes
    assert_eq!(h.poll(), None);
    h.submit(b"12345678", "bé"); // 8 + 3 = 11: does not fit, so the first batch closes
    let r = h.poll().expect("the first batch closed before the record that would overflow");
    assert_eq!((r.record_count, r.bytes), (1, 10));
    h.submit(b"1234567", "cc"); // 11 + 9 = 20 exactly
    let r = h.poll().expect("exactly maxRequestBytes is full");
    assert_eq!((r.record_count, r.bytes), (2, 20));
}

#[test]
fn flush_sends_the_partial_batch() {
    let mut h = Host::new(options());
    h.submit_n(3);
    assert_eq!(h.poll(), None);
    assert_eq!(h.d.poll_timeout(), None, "no linger set: it waits for flush");
    h.d.flush();
    let r = h.poll().unwrap();
    assert_eq!(keys(&r), ["k-0", "k-1", "k-2"]);
    assert_eq!(h.poll(), None);
    h.d.flush();
    assert_eq!(h.poll(), None, "flushing nothing sends nothing");
}

#[test]
fn max_in_flight_is_honoured() {
    let mut h = Host::new(Options { max_batch_size: Some(1.0), max_in_flight: Some(2.0), ..options() });
    h.submit_n(5);
    let a = h.poll().unwrap();
    let b = h.poll().unwrap();
    assert_eq!(h.poll(), None, "two in flight");
    assert_eq!(h.d.in_flight(), 2);
    assert_eq!(h.d.progress().in_flight, 2);
    assert!(h.d.has_ready(h.now), "the rest wait for a slot");
    h.respond(b.id, 200, &ok(1));
    let c = h.poll().expect("a slot freed up");
    assert_eq!(keys(&c), ["k-2"]);
    assert_eq!(h.poll(), None);
    h.respond(a.id, 200, &ok(1));
    h.respond(c.id, 200, &ok(1));
    assert_eq!(h.d.take_acked(), [1, 0, 2]);
}

#[test]
fn max_buffered_time_closes_the_open_batch_on_time() {
    let mut h = Host::new(Options { max_buffered_time_ms: Some(50.0), max_request_bytes: Some(20.0), ..options() });
    h.submit(b"123456789", "a"); // 10 bytes at T0
    assert_eq!(h.d.poll_timeout(), Some(T0 + 50));
    h.now = T0 + 49;
    assert_eq!(h.poll(), None);
    h.now = T0 + 50;
    let r = h.poll().expect("closed after 50 ms");
    assert_eq!(keys(&r), ["a"]);
    assert_eq!(h.d.poll_timeout(), None);

    // A record that opens a new batch (the old one closed full) starts that batch's clock.
    h.submit(b"123456789", "b"); // T0+50
    h.now = T0 + 80;
    h.submit(b"123456789012", "c"); // does not fit with "b": b's batch closes, c opens at T0+80
    let r = h.poll().unwrap();
    assert_eq!(keys(&r), ["b"]);
    assert_eq!(h.d.poll_timeout(), Some(T0 + 130), "c has waited since T0+80, not since b arrived");
    h.now = T0 + 129;
    assert_eq!(h.poll(), None, "c's batch must not close early");
    h.now = T0 + 130;
    assert_eq!(keys(&h.poll().unwrap()), ["c"]);
}

#[test]
fn buffered_bytes_count_until_each_record_ends() {
    let mut h = Host::new(Options { max_buffered_bytes: Some(10.0), ..options() });
    h.submit(b"12345", "k"); // 6
    assert!(!h.d.over_buffer_limit());
    h.submit(b"12345", "kk"); // 7 → 13
    assert_eq!(h.d.buffered_bytes(), 13);
    assert!(h.d.over_buffer_limit());
    h.d.flush();
    let r = h.poll().unwrap();
    assert_eq!(h.d.buffered_bytes(), 13, "in flight still counts");
    h.respond(r.id, 200, &partial(2, &[(1, "InvalidArgumentException")]));
    assert_eq!(h.d.buffered_bytes(), 0);
    assert!(!h.d.over_buffer_limit());
}

// ---- per-record failures ---------------------------------------------------------------------

#[test]
fn only_failed_records_are_retried() {
    let mut h = Host::new(options());
    let ids = h.submit_n(5);
    h.d.flush();
    let first = h.poll().unwrap();
    h.respond(first.id, 200, &partial(5, &[(1, "ProvisionedThroughputExceededException"), (3, "InternalFailure")]));
    assert_eq!(h.d.take_acked(), [ids[0], ids[2], ids[4]]);
    assert!(h.failed().is_empty());
    assert_eq!(h.poll(), None, "backing off");
    let retry = h.next_retry();
    assert_eq!(
        records(&retry),
        [SentRecord { data: b"rec-1".to_vec(), key: "k-1".into() }, SentRecord { data: b"rec-3".to_vec(), key: "k-3".into() }],
        "the retry carries exactly the failed records, in order"
    );
    assert_eq!((retry.record_count, retry.bytes), (2, 16));
    assert_ne!(retry.id, first.id);
    h.respond(retry.id, 200, &ok(2));
    assert_eq!(h.d.take_acked(), [ids[1], ids[3]]);
    assert_eq!(h.d.progress(), Progress { accepted: 5, sent: 5, failed: 0, in_flight: 0, retries: 2, requests: 2 });
    assert!(h.d.is_idle());
}

#[test]
fn per_record_final_codes_fail_at_once_and_the_rest_continue() {
    let mut h = Host::new(options());
    let ids = h.submit_n(3);
    h.d.flush();
    let r = h.poll().unwrap();
    h.respond(r.id, 200, &partial(3, &[(0, "InvalidArgumentException"), (2, "ProvisionedThroughputExceededException")]));
    assert_eq!(h.d.take_acked(), [ids[1]]);
    let failed = h.failed();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].id, failed[0].code.as_str(), failed[0].attempts), (ids[0], "InvalidArgumentException", 1));
    assert_eq!(failed[0].partition_key, "k-0");
    assert_eq!(failed[0].message, "record 0 failed");
    assert_eq!(keys(&h.next_retry()), ["k-2"]);
}

#[test]
fn a_record_that_keeps_failing_ends_with_its_last_code_and_attempts() {
    let mut h = Host::new(Options { max_attempts: Some(3.0), ..options() });
    let ids = h.submit_n(2);
    h.d.flush();
    let mut r = h.poll().unwrap();
    for attempt in 1..=3 {
        let code = if attempt == 3 { "InternalFailure" } else { "ProvisionedThroughputExceededException" };
        let n = if attempt == 1 { 2 } else { 1 };
        h.respond(r.id, 200, &partial(n, &[(0, code)]));
        if attempt == 1 {
            assert_eq!(h.d.take_acked(), [ids[1]]);
        }
        if attempt < 3 {
            assert!(h.failed().is_empty());
            r = h.next_retry();
            assert_eq!(keys(&r), ["k-0"]);
        }
    }
    let failed = h.failed();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].code.as_str(), failed[0].attempts), ("InternalFailure", 3));
    assert!(h.d.is_idle());
}

// ---- backoff ---------------------------------------------------------------------------------

#[test]
fn backoff_is_full_jitter_within_the_capped_exponential_and_poll_timeout_reports_it() {
    let o = Options { max_attempts: Some(10.0), retry_base_delay_ms: Some(100.0), retry_max_delay_ms: Some(1_000.0), ..options() };
    let policy = RetryPolicy::new(Some(10.0), Some(100.0), Some(1_000.0)).unwrap();
    let mut delays_at_4 = Vec::new();
    for seed in 0..40 {
        let mut h = Host::new(o.clone());
        h.entropy = SeededEntropy(seed);
        h.submit_n(1);
        h.d.flush();
        let mut r = h.poll().unwrap();
        for attempts in 1..10u32 {
            let mut predicted = h.entropy.clone();
            h.error(r.id, 500, "InternalFailure", "try later");
            let due = h.d.poll_timeout().unwrap();
            let delay = due - h.now;
            let ceiling = (100u64 << (attempts - 1)).min(1_000);
            assert!(delay <= ceiling, "attempt {attempts}: delay {delay} > {ceiling}");
            assert_eq!(
                delay,
                policy.backoff_ms(attempts, kinesis_batch::Entropy::next_u32(&mut predicted)),
                "the delay comes from the entropy given"
            );
            if attempts == 4 {
                delays_at_4.push(delay);
            }
            r = h.next_retry();
            assert_eq!(h.now, due);
        }
    }
    let distinct: std::collections::HashSet<_> = delays_at_4.iter().collect();
    assert!(distinct.len() > 20, "full jitter spreads the delays: {delays_at_4:?}");
    assert!(delays_at_4.iter().any(|&d| d < 400), "full jitter reaches down towards 0");
}

// ---- request-level failures ------------------------------------------------------------------

#[test]
fn retryable_request_errors_retry_the_whole_batch_signed_again() {
    type Fail = Box<dyn Fn(&mut Host, u64)>;
    let cases: Vec<(&str, Fail)> = vec![
        ("Http500", Box::new(|h, id| h.respond(id, 500, b""))),
        ("InternalFailure", Box::new(|h, id| h.error(id, 500, "InternalFailure", "x"))),
        ("ServiceUnavailable", Box::new(|h, id| h.error(id, 503, "ServiceUnavailable", "x"))),
        ("ThrottlingException", Box::new(|h, id| h.error(id, 400, "com.amazon.coral.availability#ThrottlingException", "Rate exceeded"))),
        ("ProvisionedThroughputExceededException", Box::new(|h, id| h.error(id, 400, "ProvisionedThroughputExceededException", "x"))),
        ("LimitExceededException", Box::new(|h, id| h.error(id, 400, "LimitExceededException", "x"))),
        ("KMSThrottlingException", Box::new(|h, id| h.error(id, 400, "KMSThrottlingException", "x"))),
        ("Http429", Box::new(|h, id| h.respond(id, 429, b"Too Many Requests"))),
        ("Http502", Box::new(|h, id| h.respond(id, 502, b"<html>Bad Gateway</html>"))),
        (
            "ThrottlingException",
            Box::new(|h, id| {
                h.respond_full(
                    id,
                    HttpResponse { status: 400, error_type: Some("ThrottlingException:http://internal/"), server_date_ms: None, body: b"" },
                )
            }),
        ),
        ("NetworkError", Box::new(|h, id| h.transport(id, TransportError::Network))),
        ("Timeout", Box::new(|h, id| h.transport(id, TransportError::Timeout))),
    ];
    for (code, fail) in cases {
        let mut h = Host::new(Options { max_attempts: Some(2.0), ..options() });
        h.submit_n(3);
        h.d.flush();
        let first = h.poll().unwrap();
        h.now += 1_500; // the answer took a while
        fail(&mut h, first.id);
        assert!(h.failed().is_empty(), "{code}: retried, not failed");
        assert!(h.d.take_acked().is_empty());
        let retry = h.next_retry();
        assert_eq!(records(&retry), records(&first), "{code}: the whole batch again");
        assert_ne!(header(&retry, "x-amz-date"), header(&first, "x-amz-date"), "{code}: signed again at the new time");
        assert_ne!(header(&retry, "authorization"), header(&first, "authorization"));
        assert_signed(&h, &retry, h.now);
        // The budget of two runs out on the second failure: all fail with that code.
        fail(&mut h, retry.id);
        let failed = h.failed();
        assert_eq!(failed.len(), 3, "{code}");
        assert!(failed.iter().all(|f| f.code == code && f.attempts == 2), "{code}: {failed:?}");
        assert!(h.d.is_idle());
    }
}

#[test]
fn final_request_errors_fail_every_record_at_once() {
    let finals: Vec<(u16, Option<&str>, &[u8], &str)> = vec![
        (400, None, br#"{"__type":"ResourceNotFoundException","message":"Stream orders under account 1 not found."}"#, "ResourceNotFoundException"),
        (400, None, br#"{"__type":"AccessDeniedException","message":"User is not authorized"}"#, "AccessDeniedException"),
        (400, None, br#"{"__type":"InvalidArgumentException","message":"bad"}"#, "InvalidArgumentException"),
        (400, None, br#"{"__type":"com.amazon.coral.validate#ValidationException","message":"1 validation error"}"#, "ValidationException"),
        (400, None, br#"{"__type":"KMSDisabledException","message":"x"}"#, "KMSDisabledException"),
        (400, None, br#"{"__type":"KMSAccessDeniedException","message":"x"}"#, "KMSAccessDeniedException"),
        (400, None, br#"{"__type":"KMSInvalidStateException","message":"x"}"#, "KMSInvalidStateException"),
        (400, None, br#"{"__type":"KMSNotFoundException","message":"x"}"#, "KMSNotFoundException"),
        (400, None, br#"{"__type":"KMSOptInRequired","message":"x"}"#, "KMSOptInRequired"),
        (400, Some("UnrecognizedClientException:http://internal/"), b"{}", "UnrecognizedClientException"),
        (413, None, b"Request Entity Too Large", "Http413"),
        (
            403,
            None,
            b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></ErrorResponse>",
            "SignatureDoesNotMatch",
        ),
    ];
    for (status, error_type, response_body, code) in finals {
        let mut h = Host::new(options());
        h.submit_n(3);
        h.d.flush();
        // Fail once retryably first, so the attempt count is not trivially 1.
        let r = h.poll().unwrap();
        h.respond(r.id, 500, b"");
        let r = h.next_retry();
        h.respond_full(r.id, HttpResponse { status, error_type, server_date_ms: None, body: response_body });
        let failed = h.failed();
        assert_eq!(failed.len(), 3, "{code}: every record at once");
        assert!(failed.iter().all(|f| f.code == code && f.attempts == 2), "{code}: {failed:?}");
        assert_eq!(failed.iter().map(|f| f.partition_key.as_str()).collect::<Vec<_>>(), ["k-0", "k-1", "k-2"]);
        assert!(h.d.is_idle(), "{code}: nothing retried");
        assert_eq!(h.d.poll_timeout(), None);
        assert_eq!(h.d.progress().failed, 3);
    }
}

#[test]
fn max_attempts_one_fails_at_once_with_the_code() {
    let mut h = Host::new(Options { max_attempts: Some(1.0), max_batch_size: Some(2.0), ..options() });
    let ids = h.submit_n(6);
    let a = h.poll().unwrap();
    let b = h.poll().unwrap();
    let c = h.poll().unwrap();
    h.respond(a.id, 200, &partial(2, &[(1, "ProvisionedThroughputExceededException")]));
    h.error(b.id, 400, "ThrottlingException", "Rate exceeded");
    h.transport(c.id, TransportError::Timeout);
    assert_eq!(h.d.take_acked(), [ids[0]]);
    let got: Vec<(u64, String, u32)> = h.failed().into_iter().map(|f| (f.id, f.code, f.attempts)).collect();
    assert_eq!(
        got,
        [
            (ids[1], "ProvisionedThroughputExceededException".into(), 1),
            (ids[2], "ThrottlingException".into(), 1),
            (ids[3], "ThrottlingException".into(), 1),
            (ids[4], "Timeout".into(), 1),
            (ids[5], "Timeout".into(), 1),
        ]
    );
    assert!(h.d.is_idle());
}

#[test]
fn malformed_or_mismatched_answers_are_retried() {
    let bad: Vec<(u16, &[u8])> = vec![
        (200, b"<html>gateway</html>"),
        (200, b""),
        (200, br#"{"Records":{}}"#),
        (200, br#"{"FailedRecordCount":0}"#),
        (200, br#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1"}]}"#), // 1 answer for 2 records
        (200, br#"{"Records":[{},{},{}]}"#),                                     // 3 for 2
        (204, b""),
    ];
    for (status, answer) in bad {
        let mut h = Host::new(Options { max_attempts: Some(2.0), ..options() });
        h.submit_n(2);
        h.d.flush();
        let r = h.poll().unwrap();
        h.respond(r.id, status, answer);
        assert!(h.d.take_acked().is_empty(), "{status} {:?}: nothing acknowledged", String::from_utf8_lossy(answer));
        assert!(h.failed().is_empty());
        let retry = h.next_retry();
        assert_eq!(records(&retry), records(&r));
        h.respond(retry.id, status, answer);
        let failed = h.failed();
        assert_eq!(failed.len(), 2);
        assert!(failed.iter().all(|f| f.code == "MalformedResponse" && f.attempts == 2), "{failed:?}");
    }
}

// ---- credentials and clock -------------------------------------------------------------------

#[test]
fn expired_token_asks_for_new_credentials_and_retries_at_once() {
    let mut h = Host::new(options());
    h.submit_n(2);
    h.d.flush();
    let r = h.poll().unwrap();
    assert!(!h.d.take_credentials_refresh());
    h.error(r.id, 400, "ExpiredTokenException", "The security token included in the request is expired");
    assert!(h.d.take_credentials_refresh());
    assert!(!h.d.take_credentials_refresh(), "true once");
    assert!(h.failed().is_empty());
    assert!(h.d.poll_timeout().is_some_and(|t| t <= h.now), "no backoff: the fix is in hand");
    h.creds = Credentials {
        access_key_id: "AKIANEWKEY000000000".into(),
        secret_access_key: "newSecret/abcdefghijklmnop".into(),
        session_token: Some("NEWTOKEN123456".into()),
    };
    let retry = h.poll().expect("retried at once");
    assert_eq!(records(&retry), records(&r));
    assert!(header(&retry, "authorization").contains("Credential=AKIANEWKEY000000000/"));
    assert_eq!(header(&retry, "x-amz-security-token"), "NEWTOKEN123456");
    assert_signed(&h, &retry, h.now);
    h.respond(retry.id, 200, &ok(2));
    assert_eq!(h.d.take_acked().len(), 2);
}

#[test]
fn clock_skew_corrects_the_signing_time_from_the_server_date() {
    let skew = 17 * 60 * 1000; // the server is 17 minutes ahead
    for (code, message) in [
        ("RequestTimeTooSkewed", "The difference between the request time and the server's time is too large."),
        (
            "InvalidSignatureException",
            "Signature expired: 20251124T160000Z is now earlier than 20251124T161200Z (20251124T161700Z - 5 min.)",
        ),
    ] {
        let mut h = Host::new(options());
        h.submit_n(1);
        h.d.flush();
        let r = h.poll().unwrap();
        assert_signed(&h, &r, T0);
        h.now += 2_000;
        let body = serde_json::json!({ "__type": code, "message": message }).to_string();
        h.respond_full(r.id, HttpResponse { status: 400, error_type: None, server_date_ms: Some(h.now + skew), body: body.as_bytes() });
        assert!(h.failed().is_empty(), "{code}");
        let retry = h.poll().expect("retried at once");
        assert_signed(&h, &retry, h.now + skew);
        h.respond(retry.id, 200, &ok(1));
        // Later requests keep the correction.
        h.now += 60_000;
        h.submit_n(1);
        h.d.flush();
        let later = h.poll().unwrap();
        assert_signed(&h, &later, h.now + skew);
    }
}

// ---- abort -----------------------------------------------------------------------------------

#[test]
fn abort_ends_everything_with_aborted_and_ignores_late_answers() {
    let mut h = Host::new(Options { max_batch_size: Some(2.0), max_in_flight: Some(2.0), ..options() });
    let ids = h.submit_n(7); // batches: [0,1] [2,3] [4,5] and 6 open
    let a = h.poll().unwrap();
    let b = h.poll().unwrap();
    h.respond(a.id, 200, &partial(2, &[(1, "ProvisionedThroughputExceededException")])); // 1 waits to retry
    let c = h.poll().unwrap(); // [4,5]
    assert_eq!(h.d.take_acked(), [ids[0]]);
    h.d.abort(ABORTED, "the signal was aborted");
    let mut failed = h.failed();
    failed.sort_by_key(|f| f.id);
    assert_eq!(failed.iter().map(|f| f.id).collect::<Vec<_>>(), &ids[1..]);
    assert!(failed.iter().all(|f| f.code == ABORTED && f.message == "the signal was aborted"));
    assert_eq!(failed.iter().map(|f| f.attempts).collect::<Vec<_>>(), [1, 1, 1, 1, 1, 0]);
    assert!(h.d.is_idle());
    assert_eq!(h.d.poll_timeout(), None);
    assert_eq!(h.poll(), None);
    let before = h.d.progress();
    assert_eq!(before, Progress { accepted: 7, sent: 1, failed: 6, in_flight: 0, retries: 0, requests: 3 });

    h.respond(b.id, 200, &ok(2));
    h.transport(c.id, TransportError::Network);
    assert!(h.d.take_acked().is_empty() && h.failed().is_empty(), "late answers are ignored");
    assert_eq!(h.d.progress(), before);

    // It keeps working afterwards.
    let id = h.submit(b"after", "k-after");
    h.d.flush();
    let r = h.poll().unwrap();
    assert_eq!(keys(&r), ["k-after"]);
    h.respond(r.id, 200, &ok(1));
    assert_eq!(h.d.take_acked(), [id]);
}

#[test]
fn an_answer_for_an_unknown_or_already_answered_request_is_ignored() {
    let mut h = Host::new(options());
    h.submit_n(1);
    h.d.flush();
    let r = h.poll().unwrap();
    h.respond(r.id + 100, 200, &ok(1));
    h.respond(r.id, 200, &ok(1));
    h.respond(r.id, 200, &ok(1));
    h.error(r.id, 400, "ExpiredTokenException", "x");
    assert_eq!(h.d.take_acked().len(), 1);
    assert!(!h.d.take_credentials_refresh());
    assert_eq!(h.d.progress().sent, 1);
}

// ---- secrets ---------------------------------------------------------------------------------

#[test]
fn secrets_echoed_by_the_server_never_reach_a_failed_record() {
    let all = format!("key {AKID} secret {SECRET} token {TOKEN}");
    // A long message puts a secret across the 512-byte cut, where a prefix could leak.
    let long = format!("{} {SECRET}{TOKEN}", "x".repeat(500));
    let xml = format!("<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>{all}</Message></Error></ErrorResponse>");
    let json = |code: &str, message: &str| serde_json::json!({ "__type": code, "message": message }).to_string();
    let answers: Vec<(u16, String)> = vec![
        (400, json("AccessDeniedException", &all)),
        (400, json("AccessDeniedException", &long)),
        (403, xml),
        (400, json(&format!("Bad{AKID}Code"), "x")),
        (200, String::from_utf8(partial(1, &[(0, "InvalidArgumentException")])).unwrap().replace("record 0 failed", &all)),
    ];
    let mut messages = Vec::new();
    for (status, answer) in &answers {
        let mut h = Host::new(options());
        h.submit_n(1);
        h.d.flush();
        let r = h.poll().unwrap();
        h.respond(r.id, *status, answer.as_bytes());
        messages.extend(h.failed());
    }
    // Transport messages and abort reasons are scrubbed as well.
    let mut h = Host::new(Options { max_attempts: Some(1.0), ..options() });
    h.submit_n(2);
    h.d.flush();
    let r = h.poll().unwrap();
    h.d.handle_transport_error(r.id, TransportError::Network, &format!("connect failed {all}"), h.now, &mut h.entropy);
    h.submit_n(1);
    h.d.abort(ABORTED, &long);
    messages.extend(h.failed());

    assert_eq!(messages.len(), answers.len() + 3);
    for f in &messages {
        for secret in [AKID, SECRET, TOKEN] {
            for piece in secret.as_bytes().windows(12) {
                let piece = std::str::from_utf8(piece).unwrap();
                assert!(!f.message.contains(piece) && !f.code.contains(piece), "secret piece {piece:?} in {f:?}");
            }
        }
    }
    assert!(messages[0].message.contains("[redacted]"), "the rest of the message survives: {:?}", messages[0].message);
    // A stream-level error says which stream, region and endpoint it is about.
    assert!(messages[0].message.starts_with("stream orders in us-east-1 at http://127.0.0.1:4567/: key "), "{}", messages[0].message);
    assert!(messages.iter().all(|f| f.message.len() <= 600), "messages stay bounded");
}

// ---- stream identity and signing ---------------------------------------------------------

#[test]
fn a_stream_arn_goes_in_the_body_and_picks_the_account_endpoint() {
    let arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/orders";
    let mut h = Host::new(Options { stream: arn, region: None, endpoint: None, ..Options::default() });
    h.submit_n(1);
    h.d.flush();
    let r = h.poll().unwrap();
    assert_eq!(r.url, "https://123456789012.data-kinesis.eu-west-1.amazonaws.com/");
    let b = body(&r);
    assert_eq!(b["StreamARN"], arn);
    assert!(b.get("StreamName").is_none());
    assert!(header(&r, "authorization").contains("/eu-west-1/kinesis/aws4_request"));
    // The signed host is the ARN endpoint's.
    let time = SigningTime::from_unix_seconds(T0 / 1000);
    let auth = header(&r, "authorization").to_owned();
    let rebuilt = harness_authorization(&r, "123456789012.data-kinesis.eu-west-1.amazonaws.com", "eu-west-1", time);
    assert_eq!(auth, rebuilt);

    // An explicit endpoint wins, and its host is what is signed.
    let mut h = Host::new(Options { stream: arn, region: None, endpoint: Some("http://localhost:4567/kinesis"), ..Options::default() });
    h.submit_n(1);
    h.d.flush();
    let r = h.poll().unwrap();
    assert_eq!(r.url, "http://localhost:4567/kinesis");
    assert_eq!(body(&r)["StreamARN"], arn);

    // A name goes in as StreamName to the regional endpoint.
    let mut h = Host::new(Options { stream: "orders", region: Some("ap-south-1"), endpoint: None, ..Options::default() });
    h.submit_n(1);
    h.d.flush();
    let r = h.poll().unwrap();
    assert_eq!(r.url, "https://kinesis.ap-south-1.amazonaws.com/");
    assert_eq!(body(&r)["StreamName"], "orders");
}

/// `harness::authorization` for another host and region.
fn harness_authorization(r: &OutgoingRequest, host: &str, region: &str, time: SigningTime) -> String {
    use kinesis_batch::sigv4::*;
    let auth = header(r, "authorization");
    let listed = auth.split("SignedHeaders=").nth(1).unwrap().split(',').next().unwrap();
    let mut headers: Vec<(&str, &str)> = vec![("host", host)];
    headers.extend(listed.split(';').filter(|n| *n != "host").map(|n| (n, header(r, n))));
    let hash = sha256_hex(&r.body);
    let creq = canonical_request(&SignableRequest { method: "POST", path: "/", query: "", headers: &headers, payload_sha256_hex: &hash });
    let scope = credential_scope(time, region, "kinesis");
    let key = signing_key(SECRET, &time.date_stamp(), region, "kinesis");
    authorization_value(AKID, &scope, &signed_headers(&headers), &signature(&key, &string_to_sign(time, &scope, &creq)))
}

#[test]
fn the_authorization_header_verifies() {
    let mut h = Host::new(options());
    h.submit(&[0, 255, 1, 2], "é😀");
    h.d.flush();
    let r = h.poll().unwrap();
    assert_eq!(header(&r, "content-type"), "application/x-amz-json-1.1");
    assert_eq!(header(&r, "x-amz-target"), "Kinesis_20131202.PutRecords");
    assert_eq!(header(&r, "x-amz-security-token"), TOKEN);
    assert!(header(&r, "authorization").contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"));
    assert_signed(&h, &r, T0);
    assert_eq!(records(&r), [SentRecord { data: vec![0, 255, 1, 2], key: "é😀".into() }]);
    assert_eq!(r.bytes, 4 + "é😀".len());

    // A tampered body no longer verifies: the check can fail.
    let mut tampered = r.clone();
    tampered.body.push(b' ');
    let time = SigningTime::from_unix_seconds(T0 / 1000);
    assert_ne!(harness::authorization(&tampered, "127.0.0.1:4567", "/", time, &h.creds), header(&r, "authorization"));

    // Without a session token there is no token header, and it still verifies.
    h.creds.session_token = None;
    h.submit_n(1);
    h.d.flush();
    let r = h.poll().unwrap();
    assert!(r.headers.iter().all(|(k, _)| k != "x-amz-security-token"));
    assert_signed(&h, &r, T0);
}

#[test]
fn times_far_outside_the_usual_range_do_not_panic() {
    let mut h = Host::new(Options { max_buffered_time_ms: Some(86_400_000.0), retry_max_delay_ms: Some(3_600_000.0), ..options() });
    h.now = u64::MAX - 5;
    h.submit_n(1);
    assert!(h.d.poll_timeout().is_some());
    h.d.flush();
    let r = h.poll().unwrap();
    h.respond_full(r.id, HttpResponse { status: 400, error_type: Some("RequestTimeTooSkewed"), server_date_ms: Some(1), body: b"" });
    let r = h.poll().unwrap();
    h.respond(r.id, 500, b"");
    assert!(h.d.poll_timeout().is_some());
    h.now = 0;
    h.submit_n(1);
    h.d.flush();
    assert!(h.poll().is_some());
}

// ---- the state machine under random operations ------------------------------------------

fn setup_strategy() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(500usize), 1usize..=8, 1usize..=40],
        prop_oneof![64usize..=600, 600usize..=4_000],
        prop_oneof![64usize..=600, 600usize..=8_000],
        prop_oneof![Just(1u32), 1u32..=4, 5u32..=10],
        1usize..=4,
        prop_oneof![Just(0u64), 1u64..=500],
        (0u64..=200, 0u64..=2_000),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(batch, record, request, attempts, in_flight, linger, (base, max), arn, seed)| Setup {
            max_batch_size: batch,
            max_record_bytes: record,
            max_request_bytes: request,
            max_attempts: attempts,
            max_in_flight: in_flight,
            max_buffered_time_ms: linger,
            base_delay_ms: base,
            max_delay_ms: max.max(base),
            use_arn: arn,
            seed,
        })
}

fn answer_strategy() -> impl Strategy<Value = Answer> {
    let rendering = prop_oneof![Just(Rendering::Json), Just(Rendering::JsonNamespaced), Just(Rendering::Header), Just(Rendering::Xml)];
    let malformed = prop_oneof![
        Just(Malformed::NotJson),
        Just(Malformed::CountPlusOne),
        Just(Malformed::CountMinusOne),
        Just(Malformed::RecordsNotArray),
        Just(Malformed::Empty),
        Just(Malformed::NoContent),
    ];
    prop_oneof![
        4 => Just(Answer::Ok { failures: Vec::new() }),
        4 => prop::collection::vec((0usize..64, 0usize..5), 1..6).prop_map(|failures| Answer::Ok { failures }),
        4 => (0..REQUEST_ERRORS.len(), rendering, any::<bool>(), prop::option::of(-1_200_000i64..=1_200_000))
            .prop_map(|(which, rendering, echo_secret, server_skew_ms)| Answer::Error { which, rendering, echo_secret, server_skew_ms }),
        2 => (any::<bool>(), any::<bool>()).prop_map(|(timeout, echo_secret)| Answer::Transport { timeout, echo_secret }),
        1 => malformed.prop_map(Answer::Malformed),
    ]
}

fn key_strategy() -> impl Strategy<Value = Key> {
    prop_oneof![
        3 => Just(Key::Default),
        6 => "[a-z0-9é中😀\"\\\\ -]{0,12}".prop_map(Key::Given),
        1 => "[😀é]{120,135}".prop_map(Key::Given),
        1 => Just(Key::Empty),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let hash_key =
        prop_oneof![8 => Just(HashKey::None), 1 => any::<u8>().prop_map(HashKey::Valid), 1 => any::<u8>().prop_map(HashKey::Invalid)];
    prop_oneof![
        10 => (prop_oneof![0usize..=64, 0usize..=1_200, 3_900usize..=8_200], key_strategy(), hash_key)
            .prop_map(|(data_len, key, hash_key)| Op::Submit { data_len, key, hash_key }),
        5 => Just(Op::Poll),
        5 => (any::<usize>(), answer_strategy()).prop_map(|(pick, answer)| Op::Respond { pick, answer }),
        2 => prop_oneof![0u64..=100, 0u64..=5_000].prop_map(Op::Advance),
        2 => Just(Op::AdvanceToTimeout),
        1 => Just(Op::Flush),
        // About one abort per run: enough to meet retries and requests in flight.
        1 => (prop::bool::weighted(0.25), any::<bool>()).prop_map(|(abort, echo_secret)| if abort { Op::Abort { echo_secret } } else { Op::Flush }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, max_shrink_iters: 4_000, ..ProptestConfig::default() })]

    /// Random submits, flushes, answers (per-record failures, the retry table, transport errors,
    /// malformed bodies), time steps and aborts: every invariant holds after every step, and
    /// answering everything 200 OK at the end settles every record exactly once.
    #[test]
    fn the_state_machine_keeps_its_invariants(setup in setup_strategy(), ops in prop::collection::vec(op_strategy(), 1..120)) {
        Harness::run(setup, &ops);
    }
}
