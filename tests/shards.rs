//! The shard-aware features (aggregation, per-shard rate limits, per-key ordering, PutRecord,
//! the stream's own limits) over a simulated Kinesis in virtual time: shards with real hash
//! ranges, per-shard per-second limits, partial failures and resharding.
//!
//! The same features are shown against real servers in tests/node/shards.test.mjs.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;
use kinesis_batch::aggregate;
use kinesis_batch::dispatcher::{Config, Dispatcher, Options, OutgoingRequest};
use kinesis_batch::engine::{
    CredentialSource, Engine, EngineProgress, Events, LocalFuture, PutRecordError, Runtime, Transport, TransportFailure, TransportResponse,
};
use kinesis_batch::local_executor::{Executor, LocalRuntime, VirtualTime};
use kinesis_batch::record::{KeyInput, SeededEntropy};
use kinesis_batch::shard_map::{hash_key_of, ShardMap};
use kinesis_batch::sigv4::Credentials;
use serde_json::Value;

const START_MS: u64 = 1_764_000_000_000;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One Kinesis record as stored.
#[derive(Debug, Clone)]
struct Stored {
    shard: String,
    partition_key: String,
    explicit_hash_key: Option<String>,
    data: Vec<u8>,
}

#[derive(Default)]
struct Kinesis {
    /// Open shards: (start, end, id).
    shards: Vec<(u128, u128, String)>,
    stored: Vec<Stored>,
    next_sequence: u64,
    /// Records per shard per second; over it, ProvisionedThroughputExceededException.
    per_second: Option<usize>,
    windows: BTreeMap<String, (u64, usize)>,
    throttled: usize,
    /// One entry in `fail_every` fails with InternalFailure (0: none).
    fail_every: u64,
    entries_seen: u64,
    deny_control: bool,
    max_record_kib: Option<u64>,
    by_target: BTreeMap<String, usize>,
    /// After this many PutRecords requests, the stream is resharded to `reshard_to` shards.
    reshard_after: Option<(usize, u32)>,
    put_records_requests: usize,
    /// Every n-th PutRecords request answers 500 (0: none).
    status_500_every: usize,
}

impl Kinesis {
    fn with_shards(n: u32) -> Self {
        let mut k = Kinesis::default();
        k.reshard(n, 0);
        k
    }

    fn reshard(&mut self, n: u32, generation: u32) {
        let map = ShardMap::even(n);
        self.shards = (0..n as usize)
            .map(|i| {
                let (start, end) = range_of(&map, i, n);
                (start, end, format!("shardId-{generation:04}{i:08}"))
            })
            .collect();
    }

    fn shard_of(&self, hash: u128) -> String {
        self.shards.iter().find(|(s, e, _)| *s <= hash && hash <= *e).map(|s| s.2.clone()).unwrap()
    }

    fn answer(&mut self, now_ms: u64, target: &str, body: &Value) -> (u16, String) {
        *self.by_target.entry(target.to_owned()).or_default() += 1;
        match target {
            "ListShards" | "DescribeStreamSummary" if self.deny_control => {
                (400, r#"{"__type":"AccessDeniedException","message":"not allowed"}"#.into())
            }
            "ListShards" => {
                // Two shards per page, to make the client page.
                let from: usize = body.get("NextToken").and_then(Value::as_str).map_or(0, |t| t.parse().unwrap());
                let page: Vec<Value> = self.shards[from..(from + 2).min(self.shards.len())]
                    .iter()
                    .map(|(s, e, id)| {
                        serde_json::json!({"ShardId": id, "HashKeyRange": {"StartingHashKey": s.to_string(), "EndingHashKey": e.to_string()},
                            "SequenceNumberRange": {"StartingSequenceNumber": "1"}})
                    })
                    .collect();
                let mut out = serde_json::json!({ "Shards": page });
                if from + 2 < self.shards.len() {
                    out["NextToken"] = Value::String((from + 2).to_string());
                }
                (200, out.to_string())
            }
            "DescribeStreamSummary" => {
                let mut summary = serde_json::json!({"StreamName": "orders", "OpenShardCount": self.shards.len()});
                if let Some(kib) = self.max_record_kib {
                    summary["MaxRecordSizeInKiB"] = kib.into();
                }
                (200, serde_json::json!({ "StreamDescriptionSummary": summary }).to_string())
            }
            "PutRecord" => match self.put_one(now_ms, body) {
                Ok((shard, sequence)) => (200, serde_json::json!({"ShardId": shard, "SequenceNumber": sequence.to_string()}).to_string()),
                Err(code) => (400, format!(r#"{{"__type":"{code}","message":"Rate exceeded for shard"}}"#)),
            },
            "PutRecords" => {
                self.put_records_requests += 1;
                if self.status_500_every > 0 && self.put_records_requests % self.status_500_every == 0 {
                    return (500, r#"{"__type":"InternalFailure","message":"try again"}"#.into());
                }
                let entries: Vec<Value> = body["Records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| match self.put_one(now_ms, r) {
                        Ok((shard, sequence)) => serde_json::json!({"ShardId": shard, "SequenceNumber": sequence.to_string()}),
                        Err(code) => serde_json::json!({"ErrorCode": code, "ErrorMessage": "no"}),
                    })
                    .collect();
                if let Some((after, to)) = self.reshard_after {
                    if self.put_records_requests == after {
                        self.reshard(to, 1);
                    }
                }
                let failed = entries.iter().filter(|e| e.get("ErrorCode").is_some()).count();
                (200, serde_json::json!({"FailedRecordCount": failed, "Records": entries}).to_string())
            }
            other => panic!("unexpected target {other}"),
        }
    }

    fn put_one(&mut self, now_ms: u64, r: &Value) -> Result<(String, u64), &'static str> {
        let partition_key = r["PartitionKey"].as_str().unwrap().to_owned();
        let explicit_hash_key = r.get("ExplicitHashKey").and_then(Value::as_str).map(str::to_owned);
        let data = B64.decode(r["Data"].as_str().unwrap()).unwrap();
        let hash = explicit_hash_key.as_deref().map_or_else(|| hash_key_of(&partition_key), |h| h.parse().unwrap());
        let shard = self.shard_of(hash);
        self.entries_seen += 1;
        if self.fail_every > 0 && self.entries_seen % self.fail_every == 0 {
            return Err("InternalFailure");
        }
        if let Some(limit) = self.per_second {
            let second = now_ms / 1000;
            let window = self.windows.entry(shard.clone()).or_insert((second, 0));
            if window.0 != second {
                *window = (second, 0);
            }
            if window.1 >= limit {
                self.throttled += 1;
                return Err("ProvisionedThroughputExceededException");
            }
            window.1 += 1;
        }
        self.next_sequence += 1;
        self.stored.push(Stored { shard: shard.clone(), partition_key, explicit_hash_key, data });
        Ok((shard, self.next_sequence))
    }

    /// Every user record stored, aggregates opened, in sequence order: (shard, key, data, hash
    /// inside the shard's range at the time of the check).
    fn user_records(&self) -> Vec<(String, String, Vec<u8>, u128)> {
        let mut out = Vec::new();
        for s in &self.stored {
            match aggregate::decode(&s.data) {
                Some(agg) => {
                    for r in agg.records {
                        let key = agg.partition_key_table[r.partition_key_index as usize].clone();
                        let hash = r
                            .explicit_hash_key_index
                            .map_or_else(|| hash_key_of(&key), |i| agg.explicit_hash_key_table[i as usize].parse().unwrap());
                        out.push((s.shard.clone(), key, r.data, hash));
                    }
                }
                None => {
                    let hash = s.explicit_hash_key.as_deref().map_or_else(|| hash_key_of(&s.partition_key), |h| h.parse().unwrap());
                    out.push((s.shard.clone(), s.partition_key.clone(), s.data.clone(), hash));
                }
            }
        }
        out
    }

    fn range(&self, shard: &str) -> Option<(u128, u128)> {
        self.shards.iter().find(|s| s.2 == shard).map(|s| (s.0, s.1))
    }
}

fn range_of(map: &ShardMap, i: usize, n: u32) -> (u128, u128) {
    // The even map's ranges, read back through index_of at the edges.
    let _ = map;
    if n == 1 {
        return (0, u128::MAX);
    }
    let width = u128::MAX / n as u128 + u128::from(u128::MAX % n as u128 == n as u128 - 1);
    let start = width * i as u128;
    let end = if i + 1 == n as usize { u128::MAX } else { width * (i as u128 + 1) - 1 };
    (start, end)
}

struct FakeTransport {
    runtime: LocalRuntime,
    kinesis: Rc<RefCell<Kinesis>>,
}

impl Transport for FakeTransport {
    fn send(&self, request: OutgoingRequest) -> LocalFuture<'static, Result<TransportResponse, TransportFailure>> {
        let runtime = self.runtime.clone();
        let kinesis = self.kinesis.clone();
        Box::pin(async move {
            runtime.sleep(20).await;
            let target = request.headers.iter().find(|(k, _)| k == "x-amz-target").unwrap().1.clone();
            let action = target.rsplit('.').next().unwrap().to_owned();
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let (status, text) = kinesis.borrow_mut().answer(runtime.now_ms(), &action, &body);
            Ok(TransportResponse { status, error_type: None, server_date_ms: None, body: text.into_bytes() })
        })
    }
}

#[derive(Default)]
struct Notices(RefCell<Vec<String>>);

struct NoticeEvents(Rc<Notices>);

impl Events<u64> for NoticeEvents {
    fn wants_progress(&self) -> bool {
        false
    }

    fn notice(&self, message: String, _progress: EngineProgress) {
        self.0 .0.borrow_mut().push(message);
    }
}

struct Setup {
    options: Options<'static>,
    kinesis: Kinesis,
}

struct Run {
    executor: Executor,
    engine: Engine<u64>,
    kinesis: Rc<RefCell<Kinesis>>,
    notices: Rc<Notices>,
}

fn options() -> Options<'static> {
    Options {
        stream: "orders",
        region: Some("us-east-1"),
        endpoint: Some("http://127.0.0.1:4567"),
        retry_base_delay_ms: Some(100.0),
        retry_max_delay_ms: Some(1_000.0),
        max_attempts: Some(30.0),
        ..Options::default()
    }
}

fn start(setup: Setup) -> Run {
    let time = VirtualTime::starting_at(START_MS);
    let executor = Executor::new(Box::new(time));
    let runtime = executor.runtime();
    let dispatcher = Dispatcher::new(Config::new(&setup.options).unwrap());
    let kinesis = Rc::new(RefCell::new(setup.kinesis));
    let notices = Rc::new(Notices::default());
    let credentials = Credentials { access_key_id: "AKIDEXAMPLE".into(), secret_access_key: "secret".into(), session_token: None };
    let engine = Engine::new(
        dispatcher,
        Box::new(SeededEntropy(3)),
        Box::new(FakeTransport { runtime: runtime.clone(), kinesis: kinesis.clone() }),
        Box::new(runtime),
        CredentialSource::Static(credentials),
        Box::new(NoticeEvents(notices.clone())),
    );
    Run { executor, engine, kinesis, notices }
}

impl Run {
    /// Submits `count` records `{"i":N}` with key `k{N % keys}`, waiting for room as told, then
    /// flushes. Returns (sent, failed).
    fn deliver(&mut self, count: u64, keys: u64, data_bytes: usize) -> (u64, u64) {
        let engine = self.engine.clone();
        let result = self.executor.block_on(async move {
            for i in 0..count {
                let data = record_data(i, data_bytes);
                let key = format!("k{}", i % keys);
                if engine.limits_pending() {
                    engine.wait_for_limits().await;
                }
                if engine.submit(data.as_bytes(), KeyInput::Given(&key), None, i).unwrap() {
                    engine.wait_for_room().await;
                }
            }
            let report = engine.flush().await;
            (report.sent, report.failed_count)
        });
        result.expect("the flush ends")
    }
}

fn record_data(i: u64, bytes: usize) -> String {
    let head = format!("{{\"i\":{i},\"pad\":\"");
    let pad = bytes.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

fn index_of(data: &[u8]) -> u64 {
    let v: Value = serde_json::from_slice(data).unwrap();
    v["i"].as_u64().unwrap()
}

#[test]
fn aggregates_stay_on_their_shard_and_decode_to_every_record() {
    let mut run = start(Setup {
        options: Options { aggregate: Some(true), max_in_flight: Some(4.0), ..options() },
        kinesis: Kinesis::with_shards(5),
    });
    let (sent, failed) = run.deliver(5_000, 300, 250);
    assert_eq!((sent, failed), (5_000, 0));
    let k = run.kinesis.borrow();
    assert_eq!(k.by_target["ListShards"], 3, "five shards, two per page");
    let users = k.user_records();
    let mut seen: Vec<u64> = users.iter().map(|u| index_of(&u.2)).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..5_000).collect::<Vec<_>>(), "every record once");
    for (shard, key, data, hash) in &users {
        let (start, end) = k.range(shard).unwrap();
        assert!(start <= *hash && *hash <= end, "a KCL would drop {key} on {shard}");
        assert_eq!(format!("k{}", index_of(data) % 300), *key, "each record keeps its key");
    }
    // 5,000 × ~250 B is about 1.3 MB: a few dozen aggregates of at most 51,200 bytes.
    assert!(k.stored.len() < 60, "{} Kinesis records", k.stored.len());
    for s in &k.stored {
        assert!(s.data.len() + s.partition_key.len() <= 51_200);
    }
    assert!(k.by_target["PutRecords"] < 10, "{} requests", k.by_target["PutRecords"]);
}

#[test]
fn a_lone_record_goes_raw_and_a_record_too_big_to_share_goes_alone() {
    let mut run = start(Setup {
        options: Options { aggregate: Some(true), max_aggregate_bytes: Some(1_000.0), ..options() },
        kinesis: Kinesis::with_shards(1),
    });
    let engine = run.engine.clone();
    let report = run
        .executor
        .block_on(async move {
            engine.submit(record_data(0, 100).as_bytes(), KeyInput::Given("a"), None, 0).unwrap();
            engine.submit(record_data(1, 2_000).as_bytes(), KeyInput::Given("b"), None, 1).unwrap();
            engine.flush().await
        })
        .unwrap();
    assert_eq!(report.sent, 2);
    let k = run.kinesis.borrow();
    assert_eq!(k.stored.len(), 2);
    assert!(k.stored.iter().all(|s| aggregate::decode(&s.data).is_none()), "both raw");
}

#[test]
fn without_list_shards_aggregation_groups_by_key_and_says_so_once() {
    let mut kinesis = Kinesis::with_shards(4);
    kinesis.deny_control = true;
    let mut run = start(Setup { options: Options { aggregate: Some(true), shard_rate_limit: Some(0.5), ..options() }, kinesis });
    let (sent, failed) = run.deliver(2_000, 10, 100);
    assert_eq!((sent, failed), (2_000, 0), "a denied control-plane call fails no record");
    let k = run.kinesis.borrow();
    for s in &k.stored {
        if let Some(agg) = aggregate::decode(&s.data) {
            assert_eq!(agg.partition_key_table, std::slice::from_ref(&s.partition_key), "one key per aggregate");
        }
    }
    assert!(k.stored.len() <= 20, "{} records", k.stored.len());
    let notices = run.notices.0.borrow();
    let listing: Vec<&String> = notices.iter().filter(|n| n.contains("ListShards")).collect();
    assert_eq!(listing.len(), 1, "{notices:?}");
    assert!(listing[0].contains("same partition key") && listing[0].contains("shardRateLimit is off"), "{}", listing[0]);
    assert!(notices.iter().any(|n| n.contains("DescribeStreamSummary")), "{notices:?}");
}

#[test]
fn after_a_reshard_records_outside_their_shard_are_sent_again() {
    let mut kinesis = Kinesis::with_shards(2);
    kinesis.reshard_after = Some((2, 6));
    let mut run = start(Setup {
        options: Options { aggregate: Some(true), max_batch_size: Some(5.0), max_in_flight: Some(1.0), ..options() },
        kinesis,
    });
    let (sent, failed) = run.deliver(4_000, 500, 200);
    assert_eq!((sent, failed), (4_000, 0));
    let k = run.kinesis.borrow();
    assert!(k.by_target["ListShards"] >= 2, "the map was listed again");
    // Every record has at least one copy a KCL keeps: inside its shard's range at the time.
    let mut kept = vec![false; 4_000];
    for (shard, _, data, hash) in k.user_records() {
        let start = if shard.starts_with("shardId-0000") { None } else { k.range(&shard) };
        let inside = match start {
            Some((s, e)) => s <= hash && hash <= e,
            // A shard of the first map: its range is gone from `shards`; recompute it.
            None => {
                let i: usize = shard[12..].parse().unwrap();
                let (s, e) = range_of(&ShardMap::even(2), i, 2);
                s <= hash && hash <= e
            }
        };
        kept[index_of(&data) as usize] |= inside;
    }
    assert!(kept.iter().all(|k| *k), "{} records only outside their shard", kept.iter().filter(|k| !**k).count());
}

fn throttles_and_time(rate: Option<f64>, keys: u64) -> (usize, u64, u64) {
    let mut kinesis = Kinesis::with_shards(4);
    kinesis.per_second = Some(1_000);
    let mut run = start(Setup {
        options: Options { shard_rate_limit: rate, max_in_flight: Some(8.0), max_attempts: Some(100.0), ..options() },
        kinesis,
    });
    let began = run.executor.now_ms();
    let (sent, failed) = run.deliver(20_000, keys, 100);
    assert_eq!((sent, failed), (20_000, 0));
    let throttled = run.kinesis.borrow().throttled;
    (throttled, run.executor.now_ms() - began, sent)
}

#[test]
fn the_rate_limiter_removes_most_throttles_at_equal_or_better_throughput() {
    for keys in [1_000, 1] {
        let (throttled_without, ms_without, _) = throttles_and_time(None, keys);
        let (throttled_with, ms_with, _) = throttles_and_time(Some(1.0), keys);
        assert!(throttled_without > 0, "the server throttles without the limiter ({keys} keys)");
        assert!(
            throttled_with * 10 <= throttled_without,
            "{keys} keys: {throttled_with} throttles with the limiter vs {throttled_without} without"
        );
        assert!(ms_with <= ms_without + ms_without / 20, "{keys} keys: {ms_with} ms with vs {ms_without} ms without");
    }
}

/// Per key, the first stored copy of each record comes in submit order.
fn assert_first_copies_in_order(k: &Kinesis, count: u64) {
    let mut seen = vec![false; count as usize];
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for (_, key, data, _) in k.user_records() {
        let i = index_of(&data);
        if std::mem::replace(&mut seen[i as usize], true) {
            continue;
        }
        if let Some(before) = last.insert(key.clone(), i) {
            assert!(before < i, "key {key}: record {i} stored before {before}'s first copy was after it");
        }
    }
    assert!(seen.iter().all(|s| *s));
}

#[test]
fn ordered_keeps_each_keys_order_under_partial_failures() {
    for aggregate in [true, false] {
        let mut kinesis = Kinesis::with_shards(4);
        kinesis.fail_every = 7;
        // A reshard midway: the map is listed again and what waits is placed again.
        kinesis.reshard_after = Some((5, 6));
        let mut run = start(Setup {
            options: Options {
                ordered: Some(true),
                aggregate: Some(aggregate),
                max_in_flight: Some(8.0),
                max_aggregate_bytes: Some(2_000.0),
                ..options()
            },
            kinesis,
        });
        let (sent, failed) = run.deliver(3_000, 20, 120);
        assert_eq!((sent, failed), (3_000, 0));
        assert!(run.kinesis.borrow().by_target["ListShards"] >= 2 + 3, "listed again after the reshard");
        assert_first_copies_in_order(&run.kinesis.borrow(), 3_000);
    }
    // The control: without `ordered`, the same faults break some key's order.
    let mut kinesis = Kinesis::with_shards(4);
    kinesis.fail_every = 7;
    let mut run = start(Setup { options: Options { max_in_flight: Some(8.0), max_batch_size: Some(50.0), ..options() }, kinesis });
    run.deliver(3_000, 20, 120);
    let broken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| assert_first_copies_in_order(&run.kinesis.borrow(), 3_000)));
    assert!(broken.is_err(), "without ordered the faults reorder records");
}

#[test]
fn put_record_returns_where_it_landed_and_retries_throttles() {
    let mut kinesis = Kinesis::with_shards(2);
    kinesis.per_second = Some(1);
    let mut run = start(Setup { options: options(), kinesis });
    let engine = run.engine.clone();
    let results = run
        .executor
        .block_on(async move {
            let a = engine.put_record(b"one", KeyInput::Given("a"), None, None).await;
            let b = engine.put_record(b"two", KeyInput::Given("a"), None, None).await; // throttled, then stored
            let c = engine.put_record(b"x", KeyInput::Given(""), None, None).await;
            let report = engine.flush().await;
            (a, b, c, report.sent, report.requests)
        })
        .unwrap();
    let (a, b, c, sent, requests) = results;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.shard_id.starts_with("shardId-") && b.shard_id == a.shard_id);
    assert!(b.sequence_number.parse::<u64>().unwrap() > a.sequence_number.parse::<u64>().unwrap());
    assert!(matches!(c, Err(PutRecordError::Submit(_))), "a bad key is refused at once");
    assert_eq!((sent, requests), (0, 0), "PutRecord is not in flush reports");
    let k = run.kinesis.borrow();
    assert!(k.by_target["PutRecord"] >= 3, "throttled answers retried");
    assert_eq!(k.stored.len(), 2);
}

#[test]
fn the_streams_record_limit_is_read_before_the_first_record() {
    let mut kinesis = Kinesis::with_shards(1);
    kinesis.max_record_kib = Some(2);
    let mut run = start(Setup { options: Options { discover_limits: Some(true), ..options() }, kinesis });
    let engine = run.engine.clone();
    let (small, big) = run
        .executor
        .block_on(async move {
            assert!(engine.limits_pending());
            engine.wait_for_limits().await;
            let small = engine.submit(&[b'x'; 2_000], KeyInput::Given("k"), None, 0);
            let big = engine.submit(&[b'x'; 2_048], KeyInput::Given("k"), None, 1);
            engine.flush().await;
            (small, big)
        })
        .unwrap();
    assert!(small.is_ok());
    let Err(kinesis_batch::engine::SubmitError::Record(e)) = big else { panic!("{big:?}") };
    assert_eq!(e.code.as_str(), "RecordTooLarge");
    assert!(e.message.contains("MaxRecordSize is 2048"), "{}", e.message);
    // A stream that reports no limit, or a denied call, leaves maxRecordBytes.
    let mut kinesis = Kinesis::with_shards(1);
    kinesis.deny_control = true;
    let mut run = start(Setup { options: Options { discover_limits: Some(true), max_record_bytes: Some(100.0), ..options() }, kinesis });
    let engine = run.engine.clone();
    let refused = run
        .executor
        .block_on(async move {
            engine.wait_for_limits().await;
            engine.submit(&[b'x'; 100], KeyInput::Given("k"), None, 0)
        })
        .unwrap();
    assert!(refused.is_err(), "still 100 bytes");
    assert!(run.notices.0.borrow().iter().any(|n| n.contains("DescribeStreamSummary failed")));
}

#[test]
fn planning_with_aggregation_yields_the_kinesis_records_the_engine_sends() {
    use kinesis_batch::limits::Limits;
    use kinesis_batch::plan::{payload_units, Planner};
    // Sizes from 10 bytes to 30 KB (some too big to share a 51,200-byte aggregate with another
    // large one, a few over it: raw), 40 keys plus lone ones, and some explicit hash keys.
    let inputs: Vec<(String, String, Option<String>)> = (0..3_000u64)
        .map(|i| {
            let bytes = match i % 101 {
                0 => 60_000,
                1..=3 => 30_000,
                n => 10 + (n as usize * 37) % 900,
            };
            let key = if i % 97 == 0 { format!("lone-{i}") } else { format!("k{}", i % 40) };
            let explicit = (i % 13 == 0).then(|| hash_key_of(&format!("e{}", i % 3)).to_string());
            (record_data(i, bytes), key, explicit)
        })
        .collect();
    let mut run = start(Setup {
        // Room for everything: no back-pressure closes an aggregate early.
        options: Options { aggregate: Some(true), max_buffered_bytes: Some(1e9), ..options() },
        kinesis: Kinesis::with_shards(5),
    });
    let engine = run.engine.clone();
    let submitted = inputs.clone();
    let report = run
        .executor
        .block_on(async move {
            for (i, (data, key, explicit)) in submitted.iter().enumerate() {
                assert!(!engine.submit(data.as_bytes(), KeyInput::Given(key), explicit.as_deref(), i as u64).unwrap());
            }
            engine.flush().await
        })
        .unwrap();
    assert_eq!((report.sent, report.failed_count), (3_000, 0));

    let mut planner = Planner::new(Limits::default(), None).unwrap().with_shard_map(ShardMap::even(5)).with_aggregation(51_200);
    let entropy = &mut SeededEntropy(3);
    for (data, key, explicit) in &inputs {
        planner.add(data.as_bytes(), KeyInput::Given(key), explicit.as_deref(), entropy).unwrap();
    }
    let plan = planner.finish();

    let k = run.kinesis.borrow();
    let mut sent: Vec<usize> = k.stored.iter().map(|s| s.data.len() + s.partition_key.len()).collect();
    let mut planned: Vec<usize> = plan.batches.iter().flat_map(|b| b.kinesis_sizes.iter().copied()).collect();
    sent.sort_unstable();
    planned.sort_unstable();
    assert_eq!(planned.len(), plan.kinesis_records);
    assert_eq!(planned, sent, "the same Kinesis records, by size");
    assert!(k.stored.iter().filter(|s| aggregate::decode(&s.data).is_some()).count() > 20);
    assert!(sent.len() < 1_000, "{} Kinesis records", sent.len());
    assert_eq!(plan.payload_units, sent.iter().map(|s| payload_units(*s)).sum::<usize>());
    // Per shard too: Kinesis records and units where the engine's landed.
    for (i, shard) in plan.shards.iter().enumerate() {
        let on: Vec<usize> = k.stored.iter().filter(|s| s.shard == k.shards[i].2).map(|s| s.data.len() + s.partition_key.len()).collect();
        assert_eq!(shard.kinesis_records, on.len(), "{}", shard.shard_id);
        assert_eq!(shard.payload_units, on.iter().map(|s| payload_units(*s)).sum::<usize>());
    }
    assert_eq!(plan.batches.iter().map(|b| b.indices.len()).sum::<usize>(), 3_000);
}

#[test]
fn a_request_that_fails_after_the_flush_took_everything_is_sent_again() {
    // Regression: retried records waited for a full batch once the flush's urge had been spent,
    // and the flush never ended.
    for (aggregate, ordered, rate) in [(true, false, None), (false, true, None), (false, false, Some(1.0)), (true, true, None)] {
        let mut kinesis = Kinesis::with_shards(2);
        kinesis.status_500_every = 2;
        let mut run = start(Setup {
            options: Options { aggregate: Some(aggregate), ordered: Some(ordered), shard_rate_limit: rate, ..options() },
            kinesis,
        });
        let (sent, failed) = run.deliver(50, 5, 100);
        assert_eq!((sent, failed), (50, 0), "aggregate {aggregate} ordered {ordered} rate {rate:?}");
    }
}

#[test]
fn without_list_shards_many_keys_stay_safe_and_bounded() {
    // More distinct keys than key groups: past the bound, records go unaggregated; no aggregate
    // ever mixes hash keys.
    let mut kinesis = Kinesis::with_shards(4);
    kinesis.deny_control = true;
    let mut run = start(Setup { options: Options { aggregate: Some(true), ..options() }, kinesis });
    let (sent, failed) = run.deliver(6_000, 3_000, 60);
    assert_eq!((sent, failed), (6_000, 0));
    let k = run.kinesis.borrow();
    let mut aggregated = 0;
    for s in &k.stored {
        if let Some(agg) = aggregate::decode(&s.data) {
            assert_eq!(agg.partition_key_table, std::slice::from_ref(&s.partition_key), "one key per aggregate");
            aggregated += agg.records.len();
        }
    }
    assert!(aggregated > 0, "keys within the bound are still aggregated");
    assert_eq!(k.user_records().len(), 6_000);
}

#[test]
fn linger_sends_an_aggregate_that_waited_behind_its_shards_request() {
    // Ordered + aggregate + maxBufferedTimeMs, a trickle of records: an aggregate left open
    // because its shard had a request in flight is closed by a later linger, not held until full.
    let mut run = start(Setup {
        // Linger shorter than the 20 ms round trip: it fires while the shard's request is out.
        options: Options { aggregate: Some(true), ordered: Some(true), max_buffered_time_ms: Some(10.0), ..options() },
        kinesis: Kinesis::with_shards(1),
    });
    let engine = run.engine.clone();
    let runtime = run.executor.runtime();
    run.executor.block_on(async move {
        for i in 0..40u64 {
            engine.submit(record_data(i, 100).as_bytes(), KeyInput::Given("k"), None, i).unwrap();
            runtime.sleep(3).await;
        }
    });
    // No flush: linger alone must deliver everything within a few waits.
    run.executor.run_for(2_000);
    assert_eq!(run.kinesis.borrow().user_records().len(), 40);
}
