//! The control-plane calls the shard-aware features make (ListShards, DescribeStreamSummary),
//! and PutRecord: request bodies and answers.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::json::{reject, Text};
use crate::request::StreamId;
use crate::response::{List, NullableText, Object};
use crate::shard_map::ShardMap;

pub const LIST_SHARDS: &str = "Kinesis_20131202.ListShards";
pub const DESCRIBE_STREAM_SUMMARY: &str = "Kinesis_20131202.DescribeStreamSummary";
pub const PUT_RECORD: &str = "Kinesis_20131202.PutRecord";

/// `{"StreamName":"s"` or `{"StreamARN":"arn…"`, without the closing brace.
pub fn stream_field(stream: &StreamId) -> String {
    match stream {
        // Names and ARNs are validated to need no JSON escaping.
        StreamId::Name(name) => format!("{{\"StreamName\":\"{name}\""),
        StreamId::Arn { arn, .. } => format!("{{\"StreamARN\":\"{arn}\""),
    }
}

/// The body of ListShards: the stream on the first page, only the token after it (the API
/// refuses both together).
pub fn list_shards_body(stream: &StreamId, next_token: Option<&str>) -> Vec<u8> {
    match next_token {
        Some(token) => format!("{{\"NextToken\":{}}}", serde_json::to_string(token).unwrap_or_default()).into_bytes(),
        None => format!("{}}}", stream_field(stream)).into_bytes(),
    }
}

pub fn describe_stream_summary_body(stream: &StreamId) -> Vec<u8> {
    format!("{}}}", stream_field(stream)).into_bytes()
}

// Read through the types of `response` and `json`, which never format a rejected value (a
// derived `Option` or number would link float formatting into the wasm).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListShardsOutput<'a> {
    #[serde(default)]
    shards: List<Object<Shard<'a>>>,
    #[serde(borrow, default)]
    next_token: NullableText<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Shard<'a> {
    #[serde(borrow)]
    shard_id: Text<'a>,
    #[serde(borrow)]
    hash_key_range: Object<HashKeyRange<'a>>,
    #[serde(borrow, default)]
    sequence_number_range: Object<SequenceNumberRange<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HashKeyRange<'a> {
    #[serde(borrow)]
    starting_hash_key: Text<'a>,
    #[serde(borrow)]
    ending_hash_key: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct SequenceNumberRange<'a> {
    #[serde(borrow, default)]
    ending_sequence_number: NullableText<'a>,
}

/// One page of a ListShards answer: the open shards' ranges and the next page's token.
pub type ShardPage = (Vec<(u128, u128, String)>, Option<String>);

/// Reads one ListShards page. Closed shards (with an ending sequence number) are left out.
pub fn parse_list_shards(body: &[u8]) -> Result<ShardPage, String> {
    let Object(out) = serde_json::from_slice::<Object<ListShardsOutput>>(body).map_err(|_| "unreadable ListShards answer".to_owned())?;
    let mut ranges = Vec::new();
    for Object(shard) in out.shards.0 {
        if shard.sequence_number_range.0.ending_sequence_number.0.is_some() {
            continue;
        }
        let id = shard.shard_id.0.into_owned();
        let parse = |s: &str| s.parse::<u128>().map_err(|_| format!("shard {id} has a bad hash key"));
        let Object(range) = shard.hash_key_range;
        let start = parse(&range.starting_hash_key.0)?;
        let end = parse(&range.ending_hash_key.0)?;
        ranges.push((start, end, id));
    }
    Ok((ranges, out.next_token.non_empty()))
}

/// Builds the map from every page's open shards.
pub fn shard_map_of(ranges: Vec<(u128, u128, String)>) -> Result<ShardMap, String> {
    if ranges.is_empty() {
        return Err("ListShards reported no open shard".into());
    }
    ShardMap::from_ranges(ranges)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeStreamSummaryOutput {
    stream_description_summary: Object<StreamDescriptionSummary>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamDescriptionSummary {
    #[serde(default)]
    max_record_size_in_ki_b: Digits,
}

/// A whole number, as its digits (serde_json's `arbitrary_precision` hands them over as a map
/// entry); anything else reads as none.
#[derive(Default)]
struct Digits(Option<usize>);

impl<'de> Deserialize<'de> for Digits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Digits;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Digits, E> {
                Ok(Digits(usize::try_from(v).ok()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Digits, A::Error> {
                let mut digits = None;
                while let Some((_, Text(v))) = map.next_entry::<IgnoredAny, Text>()? {
                    digits = v.parse().ok();
                }
                Ok(Digits(digits))
            }
            reject!(str seq);
            fn visit_unit<E>(self) -> Result<Digits, E> {
                Ok(Digits(None))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Digits, E> {
                Err(E::custom(crate::json::WRONG_KIND))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Digits, E> {
                Err(E::custom(crate::json::WRONG_KIND))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Digits, E> {
                Err(E::custom(crate::json::WRONG_KIND))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The stream's record size limit in bytes, if the answer gives one.
pub fn parse_max_record_bytes(body: &[u8]) -> Result<Option<usize>, String> {
    let Object(out) = serde_json::from_slice::<Object<DescribeStreamSummaryOutput>>(body)
        .map_err(|_| "unreadable DescribeStreamSummary answer".to_owned())?;
    let kib = out.stream_description_summary.0.max_record_size_in_ki_b.0;
    Ok(kib.filter(|k| *k > 0).map(|k| k.saturating_mul(1024)))
}

/// Where a PutRecord landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordOutput {
    pub shard_id: String,
    pub sequence_number: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRecordAnswer<'a> {
    #[serde(borrow, default)]
    shard_id: NullableText<'a>,
    #[serde(borrow, default)]
    sequence_number: NullableText<'a>,
}

pub fn parse_put_record(body: &[u8]) -> Option<PutRecordOutput> {
    let Object(out) = serde_json::from_slice::<Object<PutRecordAnswer>>(body).ok()?;
    Some(PutRecordOutput { shard_id: out.shard_id.non_empty().unwrap_or_default(), sequence_number: out.sequence_number.non_empty()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_shards_pages_and_closed_shards() {
        let body = br#"{"Shards":[
            {"ShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"99"},
             "SequenceNumberRange":{"StartingSequenceNumber":"1","EndingSequenceNumber":"5"}},
            {"ShardId":"shardId-000000000001","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"49"},
             "SequenceNumberRange":{"StartingSequenceNumber":"6"}}],
            "NextToken":"t1"}"#;
        let (ranges, token) = parse_list_shards(body).unwrap();
        assert_eq!(ranges, [(0, 49, "shardId-000000000001".to_owned())]);
        assert_eq!(token.as_deref(), Some("t1"));
        assert!(parse_list_shards(b"{}").unwrap().0.is_empty());
        assert!(parse_list_shards(br#"{"Shards":[{"ShardId":"x","HashKeyRange":{"StartingHashKey":"-1","EndingHashKey":"2"}}]}"#).is_err());
        let name = StreamId::parse("s").unwrap();
        assert_eq!(list_shards_body(&name, None), br#"{"StreamName":"s"}"#);
        assert_eq!(list_shards_body(&name, Some("a\"b")), br#"{"NextToken":"a\"b"}"#);
    }

    #[test]
    fn stream_limits() {
        let body = br#"{"StreamDescriptionSummary":{"StreamName":"s","MaxRecordSizeInKiB":2048,"OpenShardCount":2}}"#;
        assert_eq!(parse_max_record_bytes(body).unwrap(), Some(2 * 1024 * 1024));
        assert_eq!(parse_max_record_bytes(br#"{"StreamDescriptionSummary":{"StreamName":"s"}}"#).unwrap(), None);
        assert!(parse_max_record_bytes(b"[]").is_err());
        let out = parse_put_record(br#"{"ShardId":"shardId-000000000001","SequenceNumber":"42"}"#).unwrap();
        assert_eq!(out.sequence_number, "42");
        assert!(parse_put_record(br#"{"ShardId":"x"}"#).is_none());
    }
}
