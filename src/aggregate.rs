//! KPL-compatible aggregation: several user records in one Kinesis record.
//!
//! The format, as the KPL writes it and the KCL and `aws-kinesis-agg` read it: the magic bytes
//! `F3 89 9A C2`, a protobuf `AggregatedRecord`, then the MD5 of the protobuf bytes. Sizes are
//! counted exactly as the record is encoded, incrementally, so an aggregate never exceeds its
//! limit: `encoded_len` of the message is the check in the tests.

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, uint64, WireType};
use prost::Message;

use crate::error::OptionError;
use crate::limits::{whole_in_range, MAX_RECORD_BYTES};

pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
/// Magic bytes plus the MD5 digest.
pub const OVERHEAD: usize = MAGIC.len() + 16;
/// The KPL's default and ours: two whole 25 KB PUT payload units, small enough that a throttled
/// aggregate resends little, large enough to cut requests and units by two orders of magnitude
/// for 250-byte records.
pub const DEFAULT_MAX_AGGREGATE_BYTES: usize = 51_200;

/// The `maxAggregateBytes` option, for the dispatcher and the planner alike.
pub fn max_aggregate_bytes(value: Option<f64>) -> Result<usize, OptionError> {
    whole_in_range("maxAggregateBytes", value, DEFAULT_MAX_AGGREGATE_BYTES, 64, MAX_RECORD_BYTES)
}

#[derive(Clone, PartialEq, Message)]
pub struct AggregatedRecord {
    #[prost(string, repeated, tag = "1")]
    pub partition_key_table: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub explicit_hash_key_table: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    pub records: Vec<InnerRecord>,
}

#[derive(Clone, PartialEq, Message)]
pub struct InnerRecord {
    #[prost(uint64, required, tag = "1")]
    pub partition_key_index: u64,
    #[prost(uint64, optional, tag = "2")]
    pub explicit_hash_key_index: Option<u64>,
    #[prost(bytes = "vec", required, tag = "3")]
    pub data: Vec<u8>,
}

/// A length-delimited field: one tag byte (field numbers below 16), the length, the bytes.
fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// The running size of an aggregate being built: which keys its tables hold and how long its
/// protobuf encoding is.
#[derive(Debug, Clone, Default)]
pub struct AggregateSize {
    keys: Vec<String>,
    hash_keys: Vec<String>,
    protobuf_bytes: usize,
    count: usize,
}

impl AggregateSize {
    /// The protobuf bytes one more record would add.
    pub fn added_by(&self, partition_key: &str, explicit_hash_key: Option<&str>, data_len: usize) -> usize {
        let (key_index, key_table) = index_and_cost(&self.keys, partition_key);
        let mut inner = 1 + encoded_len_varint(key_index as u64) + field_len(data_len);
        let mut tables = key_table;
        if let Some(hash_key) = explicit_hash_key {
            let (index, cost) = index_and_cost(&self.hash_keys, hash_key);
            inner += 1 + encoded_len_varint(index as u64);
            tables += cost;
        }
        tables + field_len(inner)
    }

    pub fn add(&mut self, partition_key: &str, explicit_hash_key: Option<&str>, data_len: usize) {
        self.protobuf_bytes += self.added_by(partition_key, explicit_hash_key, data_len);
        if !self.keys.iter().any(|k| k == partition_key) {
            self.keys.push(partition_key.to_owned());
        }
        if let Some(h) = explicit_hash_key.filter(|h| !self.hash_keys.iter().any(|k| k == h)) {
            self.hash_keys.push(h.to_owned());
        }
        self.count += 1;
    }

    /// The aggregate's data bytes: magic, protobuf, digest.
    pub fn data_bytes(&self) -> usize {
        OVERHEAD + self.protobuf_bytes
    }

    pub fn count(&self) -> usize {
        self.count
    }
}

fn index_and_cost(table: &[String], key: &str) -> (usize, usize) {
    match table.iter().position(|k| k == key) {
        Some(i) => (i, 0),
        None => (table.len(), field_len(key.len())),
    }
}

/// One user record going into an aggregate.
pub struct Part<'a> {
    pub partition_key: &'a str,
    pub explicit_hash_key: Option<&'a str>,
    pub data: &'a [u8],
}

/// Encodes user records into one aggregated record's data. Written field by field with prost's
/// encoding functions, in the order prost's derived encoder writes them (the tests decode it with
/// the derived `AggregatedRecord`): the derived encoder would need the records' data copied into
/// a message first, and costs about 2 KB more of wasm.
pub fn encode<'a>(parts: impl Iterator<Item = Part<'a>>) -> Vec<u8> {
    let mut keys: Vec<&str> = Vec::new();
    let mut hash_keys: Vec<&str> = Vec::new();
    let mut records: Vec<(u64, Option<u64>, &[u8])> = Vec::new();
    for part in parts {
        let key = index_in(&mut keys, part.partition_key);
        let hash_key = part.explicit_hash_key.map(|h| index_in(&mut hash_keys, h));
        records.push((key, hash_key, part.data));
    }
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    for key in &keys {
        length_delimited(1, key.as_bytes(), &mut out);
    }
    for hash_key in &hash_keys {
        length_delimited(2, hash_key.as_bytes(), &mut out);
    }
    for &(key, hash_key, data) in &records {
        let inner = 1 + encoded_len_varint(key) + hash_key.map_or(0, |h| 1 + encoded_len_varint(h)) + field_len(data.len());
        encode_key(3, WireType::LengthDelimited, &mut out);
        encode_varint(inner as u64, &mut out);
        uint64::encode(1, &key, &mut out);
        if let Some(h) = hash_key {
            uint64::encode(2, &h, &mut out);
        }
        length_delimited(3, data, &mut out);
    }
    let digest = crate::shard_map::md5(&out[MAGIC.len()..]);
    out.extend_from_slice(&digest);
    out
}

fn length_delimited(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn index_in<'a>(table: &mut Vec<&'a str>, key: &'a str) -> u64 {
    match table.iter().position(|k| *k == key) {
        Some(i) => i as u64,
        None => {
            table.push(key);
            (table.len() - 1) as u64
        }
    }
}

/// Decodes an aggregated record's data (for tests and tools); `None` if it is not one.
pub fn decode(data: &[u8]) -> Option<AggregatedRecord> {
    let body = data.strip_prefix(&MAGIC)?;
    let (protobuf, digest) = body.split_at(body.len().checked_sub(16)?);
    if crate::shard_map::md5(protobuf) != digest {
        return None;
    }
    AggregatedRecord::decode(protobuf).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encoding() {
        let out = encode([Part { partition_key: "a", explicit_hash_key: None, data: b"x" }].into_iter());
        // table: 0a 01 'a'; record: 1a 05 (08 00 1a 01 'x')
        assert_eq!(&out[..4], &MAGIC);
        assert_eq!(&out[4..out.len() - 16], &[0x0a, 0x01, b'a', 0x1a, 0x05, 0x08, 0x00, 0x1a, 0x01, b'x']);
        let back = decode(&out).unwrap();
        assert_eq!(back.partition_key_table, ["a"]);
        assert_eq!(back.records[0].data, b"x");
    }

    proptest! {
        #[test]
        fn running_size_is_the_encoded_size(
            records in prop::collection::vec(("[a-cé😀]{1,3}", prop::option::of("[0-9]{1,39}"), 0usize..300), 1..60),
        ) {
            let mut size = AggregateSize::default();
            let data: Vec<Vec<u8>> = records.iter().map(|(_, _, n)| vec![7u8; *n]).collect();
            for (i, (key, hash_key, n)) in records.iter().enumerate() {
                let before = size.data_bytes();
                let added = size.added_by(key, hash_key.as_deref(), *n);
                size.add(key, hash_key.as_deref(), *n);
                prop_assert_eq!(size.data_bytes(), before + added);
                let encoded = encode(records[..=i].iter().zip(&data).map(|((k, h, _), d)| Part {
                    partition_key: k, explicit_hash_key: h.as_deref(), data: d,
                }));
                prop_assert_eq!(encoded.len(), size.data_bytes());
            }
            // The same bytes as prost's derived encoder writes.
            let mut message = AggregatedRecord::default();
            for ((k, h, _), d) in records.iter().zip(&data) {
                let index = |table: &mut Vec<String>, key: &str| match table.iter().position(|t| t == key) {
                    Some(i) => i as u64,
                    None => { table.push(key.to_owned()); (table.len() - 1) as u64 }
                };
                let partition_key_index = index(&mut message.partition_key_table, k);
                let explicit_hash_key_index = h.as_deref().map(|h| index(&mut message.explicit_hash_key_table, h));
                message.records.push(InnerRecord { partition_key_index, explicit_hash_key_index, data: d.clone() });
            }
            let protobuf = message.encode_to_vec();
            let ours = encode(records.iter().zip(&data).map(|((k, h, _), d)| Part { partition_key: k, explicit_hash_key: h.as_deref(), data: d }));
            prop_assert_eq!(&ours[4..ours.len() - 16], &protobuf[..]);
            let back = decode(&encode(records.iter().zip(&data).map(|((k, h, _), d)| Part {
                partition_key: k, explicit_hash_key: h.as_deref(), data: d,
            }))).unwrap();
            prop_assert_eq!(back.records.len(), records.len());
            for (r, (k, h, n)) in back.records.iter().zip(&records) {
                prop_assert_eq!(&back.partition_key_table[r.partition_key_index as usize], k);
                prop_assert_eq!(r.explicit_hash_key_index.map(|i| back.explicit_hash_key_table[i as usize].clone()), h.clone());
                prop_assert_eq!(r.data.len(), *n);
            }
        }
    }
}
