//! Partition keys: extraction from a payload field, random UUIDv4 keys, validation,
//! and explicit hash keys.

use crate::error::{RecordError, RecordErrorCode};
use crate::limits::MAX_PARTITION_KEY_UNITS;

/// Where a record's partition key comes from when the record does not name one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A random UUIDv4 per record (the boto3_batch_utils default).
    Random,
    /// A top-level field of the payload.
    Field(String),
}

/// The payload's value for the identifier field, as the host saw it.
/// Numbers and booleans arrive already formatted as the host formats them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue<'a> {
    Missing,
    Null,
    Text(&'a str),
    /// An object, array or other value that cannot name a key; holds its kind.
    Unsupported(&'a str),
}

/// Checks a key: 1 to 256 UTF-16 code units.
pub fn validate(key: &str) -> Result<(), RecordError> {
    if key.is_empty() {
        return Err(RecordError::new(RecordErrorCode::InvalidPartitionKey, "partition key is empty"));
    }
    // Every char is 1 or 2 UTF-16 units, so short keys need no count.
    if key.len() > MAX_PARTITION_KEY_UNITS {
        let units = key.encode_utf16().count();
        if units > MAX_PARTITION_KEY_UNITS {
            return Err(RecordError::new(
                RecordErrorCode::InvalidPartitionKey,
                format!("partition key is {units} UTF-16 code units; the limit is {MAX_PARTITION_KEY_UNITS}"),
            ));
        }
    }
    Ok(())
}

/// Turns the identifier field's value into a validated key.
pub fn from_field(field: &str, value: FieldValue) -> Result<String, RecordError> {
    let key = match value {
        FieldValue::Text(text) => text,
        FieldValue::Missing => {
            return Err(RecordError::new(
                RecordErrorCode::MissingPartitionKey,
                format!("payload has no field \"{field}\" to use as partition key"),
            ))
        }
        FieldValue::Null => {
            return Err(RecordError::new(
                RecordErrorCode::InvalidPartitionKey,
                format!("field \"{field}\" is null; a partition key must be a string, number or boolean"),
            ))
        }
        FieldValue::Unsupported(kind) => {
            return Err(RecordError::new(
                RecordErrorCode::InvalidPartitionKey,
                format!("field \"{field}\" is {kind}; a partition key must be a string, number or boolean"),
            ))
        }
    };
    validate(key)?;
    Ok(key.to_owned())
}

/// Formats 16 random bytes as a UUIDv4 (RFC 9562: version 4, variant 10).
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
    out
}

/// Checks an ExplicitHashKey: decimal `0|[1-9][0-9]{0,38}` and at most 2^128 − 1.
pub fn validate_explicit_hash_key(key: &str) -> Result<u128, RecordError> {
    let bad = |why: &str| RecordError::new(RecordErrorCode::InvalidExplicitHashKey, format!("explicit hash key {why}"));
    if key.is_empty() || key.len() > 39 || !key.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("must be a decimal number of 1 to 39 digits"));
    }
    if key.len() > 1 && key.starts_with('0') {
        return Err(bad("must not have leading zeros"));
    }
    key.parse::<u128>().map_err(|_| bad("must be at most 2^128 - 1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_length_counts_utf16_units() {
        assert!(validate(&"é".repeat(256)).is_ok(), "256 é are 512 bytes but 256 units");
        assert!(validate(&"😀".repeat(128)).is_ok(), "128 emoji are 256 units");
        let err = validate(&"😀".repeat(129)).unwrap_err();
        assert_eq!(err.code, RecordErrorCode::InvalidPartitionKey);
        assert!(err.message.contains("258"), "{}", err.message);
        assert!(validate(&"a".repeat(256)).is_ok());
        assert!(validate(&"a".repeat(257)).is_err());
        assert_eq!(validate("").unwrap_err().code, RecordErrorCode::InvalidPartitionKey);
    }

    #[test]
    fn field_values_map_to_codes() {
        assert_eq!(from_field("id", FieldValue::Text("a4f3")).unwrap(), "a4f3");
        assert_eq!(from_field("id", FieldValue::Missing).unwrap_err().code, RecordErrorCode::MissingPartitionKey);
        assert_eq!(from_field("id", FieldValue::Null).unwrap_err().code, RecordErrorCode::InvalidPartitionKey);
        let err = from_field("id", FieldValue::Unsupported("an object")).unwrap_err();
        assert_eq!(err.code, RecordErrorCode::InvalidPartitionKey);
        assert!(err.message.contains("an object"));
        assert_eq!(from_field("id", FieldValue::Text("")).unwrap_err().code, RecordErrorCode::InvalidPartitionKey);
    }

    #[test]
    fn uuid_has_version_and_variant() {
        let u = uuid_v4([0xff; 16]);
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let u = uuid_v4([0; 16]);
        assert_eq!(u, "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn explicit_hash_keys() {
        assert_eq!(validate_explicit_hash_key("0").unwrap(), 0);
        assert_eq!(validate_explicit_hash_key("42").unwrap(), 42);
        assert_eq!(validate_explicit_hash_key(&u128::MAX.to_string()).unwrap(), u128::MAX);
        let over = "340282366920938463463374607431768211456"; // 2^128
        for bad in ["", "01", "-1", "1.5", " 1", "abc", over, "1000000000000000000000000000000000000000"] {
            let err = validate_explicit_hash_key(bad).unwrap_err();
            assert_eq!(err.code, RecordErrorCode::InvalidExplicitHashKey, "{bad:?}");
        }
    }
}
