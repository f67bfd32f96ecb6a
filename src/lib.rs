//! kinesis-batch: a sans-IO core that turns records into signed Kinesis `PutRecords`
//! requests and settles every record exactly once.
//!
//! The host (JS through `wasm`, or any other) sends the requests and passes time and
//! randomness in. See `dispatcher::Dispatcher`.

pub mod dispatcher;
pub mod error;
pub mod limits;
pub mod packing;
pub mod partition_key;
pub mod plan;
pub mod record;
pub mod request;
pub mod response;
pub mod retry;
pub mod shard_map;
pub mod sigv4;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use dispatcher::{Config, Dispatcher, FailedRecord, HttpResponse, Options, OutgoingRequest, Progress, TransportError};
pub use error::{OptionError, RecordError, RecordErrorCode};
pub use record::{Entropy, KeyInput};
pub use sigv4::Credentials;
