//! Accepting one record: choosing and checking its key, and its exact size.

use crate::error::{RecordError, RecordErrorCode};
use crate::limits::Limits;
use crate::partition_key::{self, KeySource};

/// Randomness, passed in so the core stays deterministic under test.
pub trait Entropy {
    fn fill(&mut self, bytes: &mut [u8]);

    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        u32::from_le_bytes(b)
    }
}

/// How the caller names a record's partition key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyInput<'a> {
    /// A per-record override; always wins over the configured key source.
    Given(&'a str),
    /// Nothing: the key source decides (read from the data, or a random UUIDv4).
    Default,
    /// As `Default`, for data that is canonical JSON (`JSON.stringify`'s output: valid, unique
    /// member names): the key read stops at the first match.
    DefaultCanonical,
}

/// A record that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub partition_key: String,
    /// Data bytes plus key UTF-8 bytes.
    pub size: usize,
}

/// Checks one record: its key (given, read from `data`, or random), its explicit hash key,
/// and its size, `data` bytes plus key UTF-8 bytes.
pub fn accept(
    limits: &Limits,
    key_source: &KeySource,
    data: &[u8],
    key: KeyInput,
    explicit_hash_key: Option<&str>,
    entropy: &mut dyn Entropy,
) -> Result<Accepted, RecordError> {
    let partition_key = match (key, key_source) {
        (KeyInput::Given(k), _) => {
            partition_key::validate(k)?;
            k.to_owned()
        }
        (KeyInput::Default, KeySource::Path(path)) => partition_key::key_from_data(data, path)?,
        (KeyInput::DefaultCanonical, KeySource::Path(path)) => partition_key::key_from_canonical_json(data, path)?,
        (KeyInput::Default | KeyInput::DefaultCanonical, KeySource::Random) => {
            let mut bytes = [0u8; 16];
            entropy.fill(&mut bytes);
            partition_key::uuid_v4(bytes)
        }
    };
    if let Some(hash_key) = explicit_hash_key {
        partition_key::validate_explicit_hash_key(hash_key)?;
    }
    let data_len = data.len();
    let size = data_len + partition_key.len();
    let ceiling = limits.record_ceiling();
    if size > ceiling {
        let which = if ceiling < limits.max_record_bytes { "maxRequestBytes" } else { limits.record_limit_name };
        return Err(RecordError::new(
            RecordErrorCode::RecordTooLarge,
            format!("record is {size} bytes ({data_len} data + {} partition key); {which} is {ceiling}", partition_key.len()),
        ));
    }
    Ok(Accepted { partition_key, size })
}

/// Deterministic entropy for tests and fuzzing (SplitMix64).
#[derive(Debug, Clone)]
pub struct SeededEntropy(pub u64);

impl Entropy for SeededEntropy {
    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition_key::KeyPath;
    use proptest::prelude::*;

    fn limits(record: usize) -> Limits {
        Limits { max_batch_size: 500, max_record_bytes: record, max_request_bytes: 5 * 1024 * 1024, ..Limits::default() }
    }

    #[test]
    fn size_is_data_plus_key_utf8_bytes_exactly() {
        let l = limits(100);
        let e = &mut SeededEntropy(1);
        // "é" is 2 UTF-8 bytes.
        assert_eq!(accept(&l, &KeySource::Random, &[0; 98], KeyInput::Given("é"), None, e).unwrap().size, 100);
        let err = accept(&l, &KeySource::Random, &[0; 99], KeyInput::Given("é"), None, e).unwrap_err();
        assert_eq!(err.code, RecordErrorCode::RecordTooLarge);
        assert!(err.message.contains("101 bytes"), "{}", err.message);
        // A key read from the data counts as well: 11 data bytes + "ab".
        let path = KeySource::Path(KeyPath::parse("id").unwrap());
        assert_eq!(accept(&l, &path, br#"{"id":"ab"}"#, KeyInput::Default, None, e).unwrap().size, 13);
        let err = accept(&limits(12), &path, br#"{"id":"ab"}"#, KeyInput::Default, None, e).unwrap_err();
        assert_eq!(err.code, RecordErrorCode::RecordTooLarge);
    }

    #[test]
    fn default_keys_are_uuids_and_identifier_fields_are_required() {
        let l = limits(1000);
        let e = &mut SeededEntropy(7);
        let a = accept(&l, &KeySource::Random, b"x", KeyInput::Default, None, e).unwrap();
        let b = accept(&l, &KeySource::Random, b"x", KeyInput::Default, None, e).unwrap();
        assert_eq!(a.partition_key.len(), 36);
        assert_ne!(a.partition_key, b.partition_key);
        let field = KeySource::Path(KeyPath::parse("id").unwrap());
        let err = accept(&l, &field, b"x", KeyInput::Default, None, e).unwrap_err();
        assert_eq!(err.code, RecordErrorCode::MissingPartitionKey);
        let err = accept(&l, &field, br#"{"other":1}"#, KeyInput::Default, None, e).unwrap_err();
        assert_eq!(err.code, RecordErrorCode::MissingPartitionKey);
        assert_eq!(accept(&l, &field, br#"{"id":7}"#, KeyInput::Default, None, e).unwrap().partition_key, "7");
        let nested = KeySource::Path(KeyPath::parse("/c/id").unwrap());
        assert_eq!(accept(&l, &nested, br#"{"c":{"id":"n"}}"#, KeyInput::Default, None, e).unwrap().partition_key, "n");
        let err = accept(&l, &field, b"x", KeyInput::Given("k"), Some("01"), e).unwrap_err();
        assert_eq!(err.code, RecordErrorCode::InvalidExplicitHashKey);
    }

    #[test]
    fn a_given_key_always_wins() {
        let l = limits(1000);
        let e = &mut SeededEntropy(7);
        let field = KeySource::Path(KeyPath::parse("id").unwrap());
        for data in [&br#"{"id":"from data"}"#[..], b"not json", br#"{"id":null}"#, b""] {
            let a = accept(&l, &field, data, KeyInput::Given("given"), None, e).unwrap();
            assert_eq!(a.partition_key, "given");
            assert_eq!(a.size, data.len() + 5);
        }
        assert_eq!(
            accept(&l, &field, br#"{"id":"ok"}"#, KeyInput::Given(""), None, e).unwrap_err().code,
            RecordErrorCode::InvalidPartitionKey
        );
    }

    proptest! {
        #[test]
        fn accepted_exactly_when_data_plus_key_bytes_fit(
            data_len in 0usize..2_000,
            key in "[a-zé😀\u{4e2d}]{1,64}",
            record_limit in 1usize..2_000,
        ) {
            let l = limits(record_limit);
            let got = accept(&l, &KeySource::Random, &vec![b'x'; data_len], KeyInput::Given(&key), None, &mut SeededEntropy(0));
            let size = data_len + key.len();
            match got {
                Ok(a) => { prop_assert!(size <= record_limit); prop_assert_eq!(a.size, size); }
                Err(e) => { prop_assert!(size > record_limit); prop_assert_eq!(e.code, RecordErrorCode::RecordTooLarge); }
            }
        }
    }
}
