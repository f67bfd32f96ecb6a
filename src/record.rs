//! Accepting one record: choosing and checking its key, and its exact size.

use crate::error::{RecordError, RecordErrorCode};
use crate::limits::Limits;
use crate::partition_key::{self, FieldValue, KeySource};

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
    /// A per-record override.
    Given(&'a str),
    /// The payload's value for the configured identifier field.
    Field(FieldValue<'a>),
    /// Nothing: a random UUIDv4 unless an identifier field is configured.
    Default,
}

/// A record that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub partition_key: String,
    /// Data bytes plus key UTF-8 bytes.
    pub size: usize,
}

pub fn accept(
    limits: &Limits,
    key_source: &KeySource,
    data_len: usize,
    key: KeyInput,
    explicit_hash_key: Option<&str>,
    entropy: &mut dyn Entropy,
) -> Result<Accepted, RecordError> {
    let partition_key = match (key, key_source) {
        (KeyInput::Given(k), _) => {
            partition_key::validate(k)?;
            k.to_owned()
        }
        (KeyInput::Field(value), KeySource::Field(field)) => partition_key::from_field(field, value)?,
        (KeyInput::Field(value), KeySource::Random) => {
            // The host extracted a field without one being configured; treat as given.
            partition_key::from_field("partitionKey", value)?
        }
        (KeyInput::Default, KeySource::Field(field)) => partition_key::from_field(field, FieldValue::Missing)?,
        (KeyInput::Default, KeySource::Random) => {
            let mut bytes = [0u8; 16];
            entropy.fill(&mut bytes);
            partition_key::uuid_v4(bytes)
        }
    };
    if let Some(hash_key) = explicit_hash_key {
        partition_key::validate_explicit_hash_key(hash_key)?;
    }
    let size = data_len + partition_key.len();
    let ceiling = limits.record_ceiling();
    if size > ceiling {
        let which = if ceiling < limits.max_record_bytes { "maxRequestBytes" } else { "maxRecordBytes" };
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
    use proptest::prelude::*;

    fn limits(record: usize) -> Limits {
        Limits { max_batch_size: 500, max_record_bytes: record, max_request_bytes: 5 * 1024 * 1024 }
    }

    #[test]
    fn size_is_data_plus_key_utf8_bytes_exactly() {
        let l = limits(100);
        let e = &mut SeededEntropy(1);
        // "é" is 2 UTF-8 bytes.
        assert_eq!(accept(&l, &KeySource::Random, 98, KeyInput::Given("é"), None, e).unwrap().size, 100);
        let err = accept(&l, &KeySource::Random, 99, KeyInput::Given("é"), None, e).unwrap_err();
        assert_eq!(err.code, RecordErrorCode::RecordTooLarge);
        assert!(err.message.contains("101 bytes"), "{}", err.message);
    }

    #[test]
    fn default_keys_are_uuids_and_identifier_fields_are_required() {
        let l = limits(1000);
        let e = &mut SeededEntropy(7);
        let a = accept(&l, &KeySource::Random, 1, KeyInput::Default, None, e).unwrap();
        let b = accept(&l, &KeySource::Random, 1, KeyInput::Default, None, e).unwrap();
        assert_eq!(a.partition_key.len(), 36);
        assert_ne!(a.partition_key, b.partition_key);
        let field = KeySource::Field("id".into());
        let err = accept(&l, &field, 1, KeyInput::Default, None, e).unwrap_err();
        assert_eq!(err.code, RecordErrorCode::MissingPartitionKey);
        assert_eq!(accept(&l, &field, 1, KeyInput::Field(FieldValue::Text("7")), None, e).unwrap().partition_key, "7");
        let err = accept(&l, &field, 1, KeyInput::Given("k"), Some("01"), e).unwrap_err();
        assert_eq!(err.code, RecordErrorCode::InvalidExplicitHashKey);
    }

    proptest! {
        #[test]
        fn accepted_exactly_when_data_plus_key_bytes_fit(
            data_len in 0usize..2_000,
            key in "[a-zé😀\u{4e2d}]{1,64}",
            record_limit in 1usize..2_000,
        ) {
            let l = limits(record_limit);
            let got = accept(&l, &KeySource::Random, data_len, KeyInput::Given(&key), None, &mut SeededEntropy(0));
            let size = data_len + key.len();
            match got {
                Ok(a) => { prop_assert!(size <= record_limit); prop_assert_eq!(a.size, size); }
                Err(e) => { prop_assert!(size > record_limit); prop_assert_eq!(e.code, RecordErrorCode::RecordTooLarge); }
            }
        }
    }
}
