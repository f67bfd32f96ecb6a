//! kinesis-batch: a sans-IO core that turns records into signed Kinesis `PutRecords`
//! requests and settles every record exactly once.
//!
//! The host (JS through `wasm`, or any other) sends the requests and passes time and
//! randomness in. See `dispatcher::Dispatcher`.

pub mod aggregate;
pub mod control;
pub mod dispatcher;
pub mod engine;
pub mod error;
mod json;
pub mod limits;
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub mod local_executor;
pub mod packing;
pub mod partition_key;
pub mod plan;
pub mod record;
pub mod request;
pub mod response;
pub mod retry;
pub mod shard_map;
pub mod sigv4;
pub mod stage;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod wasm;

// The WebAssembly component (wit/kinesis-batch.wit): `--target wasm32-wasip2 --features component`.
#[cfg(all(feature = "component", target_arch = "wasm32", target_os = "wasi"))]
mod component;

pub use dispatcher::{Config, Dispatcher, FailedRecord, HttpResponse, Options, OutgoingRequest, Progress, TransportError};
pub use error::{OptionError, RecordError, RecordErrorCode};
pub use record::{Entropy, KeyInput};
pub use sigv4::Credentials;

/// Where `needle` first occurs in `haystack`. A plain scan: the strings searched are short
/// (endpoints, error messages), and `str::find` with a `&str` pattern costs about 3 KB of wasm.
pub(crate) fn find(haystack: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    (0..=h.len().checked_sub(n.len())?).find(|&i| &h[i..i + n.len()] == n)
}

/// `haystack` with every `needle` replaced by `with`.
pub(crate) fn replace_all(haystack: &str, needle: &str, with: &str) -> String {
    let mut out = String::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = find(rest, needle).filter(|_| !needle.is_empty()) {
        out.push_str(&rest[..at]);
        out.push_str(with);
        rest = &rest[at + needle.len()..];
    }
    out.push_str(rest);
    out
}

/// Stable insertion sort for the short lists the core sorts (headers, query pairs, in-flight
/// requests, shard ranges, which arrive sorted): each `slice::sort` instantiation costs about
/// 4 KB of wasm, and there were six.
pub(crate) fn insertion_sort_by<T>(v: &mut [T], mut less: impl FnMut(&T, &T) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}
