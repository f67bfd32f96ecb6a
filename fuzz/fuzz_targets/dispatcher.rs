//! The dispatcher state machine under arbitrary operations: submits, flushes, polls, answers
//! (per-record failures, the retry table, transport errors, malformed bodies), time steps
//! and aborts. The harness checks the invariants after every step and panics on a break;
//! it is the one `tests/dispatcher.rs` runs in CI as a proptest.

#![no_main]

#[path = "../../tests/dispatcher/harness.rs"]
mod harness;

use arbitrary::Arbitrary;
use harness::{Answer, Harness, HashKey, Key, Malformed, Op, Rendering, Setup};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    batch: u16,
    record: u16,
    request: u16,
    attempts: u8,
    in_flight: u8,
    linger: u16,
    base_delay: u16,
    max_delay: u16,
    arn: bool,
    seed: u64,
    ops: Vec<FuzzOp>,
}

#[derive(Debug, Arbitrary)]
enum FuzzKey {
    Default,
    Given(String),
    Empty,
}

#[derive(Debug, Arbitrary)]
enum FuzzAnswer {
    Ok(Vec<(u8, u8)>),
    Error { which: u8, rendering: u8, echo_secret: bool, skew_s: Option<i16> },
    Transport { timeout: bool, echo_secret: bool },
    Malformed(u8),
}

#[derive(Debug, Arbitrary)]
enum FuzzOp {
    Submit { data_len: u16, key: FuzzKey, hash_key: Option<(bool, u8)> },
    Flush,
    Poll,
    Respond { pick: u8, answer: FuzzAnswer },
    Advance(u16),
    AdvanceToTimeout,
    Abort { echo_secret: bool },
}

fn answer(a: FuzzAnswer) -> Answer {
    match a {
        FuzzAnswer::Ok(failures) => Answer::Ok { failures: failures.into_iter().map(|(p, c)| (usize::from(p), usize::from(c))).collect() },
        FuzzAnswer::Error { which, rendering, echo_secret, skew_s } => Answer::Error {
            which: usize::from(which),
            rendering: [Rendering::Json, Rendering::JsonNamespaced, Rendering::Header, Rendering::Xml][usize::from(rendering % 4)],
            echo_secret,
            server_skew_ms: skew_s.map(|s| i64::from(s) * 1000),
        },
        FuzzAnswer::Transport { timeout, echo_secret } => Answer::Transport { timeout, echo_secret },
        FuzzAnswer::Malformed(k) => Answer::Malformed(
            [
                Malformed::NotJson,
                Malformed::CountPlusOne,
                Malformed::CountMinusOne,
                Malformed::RecordsNotArray,
                Malformed::Empty,
                Malformed::NoContent,
            ][usize::from(k % 6)],
        ),
    }
}

fn op(o: FuzzOp) -> Op {
    match o {
        FuzzOp::Submit { data_len, key, hash_key } => Op::Submit {
            data_len: usize::from(data_len % 9_000),
            key: match key {
                FuzzKey::Default => Key::Default,
                FuzzKey::Given(s) => Key::Given(s.chars().take(300).collect()),
                FuzzKey::Empty => Key::Empty,
            },
            hash_key: match hash_key {
                None => HashKey::None,
                Some((true, i)) => HashKey::Valid(i),
                Some((false, i)) => HashKey::Invalid(i),
            },
        },
        FuzzOp::Flush => Op::Flush,
        FuzzOp::Poll => Op::Poll,
        FuzzOp::Respond { pick, answer: a } => Op::Respond { pick: usize::from(pick), answer: answer(a) },
        FuzzOp::Advance(ms) => Op::Advance(u64::from(ms)),
        FuzzOp::AdvanceToTimeout => Op::AdvanceToTimeout,
        FuzzOp::Abort { echo_secret } => Op::Abort { echo_secret },
    }
}

fuzz_target!(|input: Input| {
    let base_delay = u64::from(input.base_delay % 1_000);
    let setup = Setup {
        max_batch_size: 1 + usize::from(input.batch) % 500,
        max_record_bytes: 1 + usize::from(input.record),
        max_request_bytes: 1 + usize::from(input.request),
        max_attempts: 1 + u32::from(input.attempts % 12),
        max_in_flight: 1 + usize::from(input.in_flight % 6),
        max_buffered_time_ms: u64::from(input.linger % 2_000),
        base_delay_ms: base_delay,
        max_delay_ms: base_delay + u64::from(input.max_delay % 5_000),
        use_arn: input.arn,
        seed: input.seed,
    };
    let ops: Vec<Op> = input.ops.into_iter().take(400).map(op).collect();
    Harness::run(setup, &ops);
});
