//! The control-plane calls the shard-aware features make (ListShards, DescribeStreamSummary),
//! and PutRecord: request bodies and answers.

use crate::json::{tokens, walk, Token};
use crate::request::StreamId;
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

// Read as tokens (`json::tokens`), then a short walk over them: a derived type per answer
// cost about 20 KB of wasm.

/// One page of a ListShards answer: the open shards' ranges and the next page's token.
pub type ShardPage = (Vec<(u128, u128, String)>, Option<String>);

#[derive(Default)]
struct ShardFields<'a> {
    id: Option<&'a str>,
    start: Option<&'a str>,
    end: Option<&'a str>,
    closed: bool,
}

/// Reads one ListShards page. Closed shards (with an ending sequence number) are left out.
pub fn parse_list_shards(body: &[u8]) -> Result<ShardPage, String> {
    let unreadable = || "unreadable ListShards answer".to_owned();
    const NAMES: &[&str] = &[
        "Shards",
        "ShardId",
        "HashKeyRange",
        "StartingHashKey",
        "EndingHashKey",
        "SequenceNumberRange",
        "EndingSequenceNumber",
        "NextToken",
    ];
    let tokens = tokens(body, NAMES).ok_or_else(unreadable)?;
    // `{"Shards":[{"ShardId":…,"HashKeyRange":{…},"SequenceNumberRange":{…}},…],"NextToken":…}`:
    // a shard's fields are at depth 3 and 4; it starts at each `ShardId`'s object.
    let mut shards: Vec<ShardFields> = Vec::new();
    let mut next_token = None;
    let mut depth = 0;
    let mut in_shards = false;
    let mut name: Option<&str> = None;
    for token in &tokens {
        match token {
            Token::Open | Token::OpenArray => {
                depth += 1;
                if depth == 2 && name == Some("Shards") {
                    in_shards = true;
                } else if depth == 3 && in_shards {
                    shards.push(ShardFields::default());
                }
                name = None;
            }
            Token::Close => {
                if depth == 2 {
                    in_shards = false;
                }
                depth -= 1;
            }
            Token::Name(n) => name = Some(n),
            Token::Text(v) => match (depth, name.take(), shards.last_mut()) {
                (1, Some("NextToken"), _) => next_token = Some(v.to_string()).filter(|t| !t.is_empty()),
                (3.., Some("ShardId"), Some(s)) if in_shards => s.id = Some(v),
                (3.., Some("StartingHashKey"), Some(s)) if in_shards => s.start = Some(v),
                (3.., Some("EndingHashKey"), Some(s)) if in_shards => s.end = Some(v),
                (3.., Some("EndingSequenceNumber"), Some(s)) if in_shards => s.closed = true,
                _ => {}
            },
            Token::Number(_) | Token::Null | Token::Other => name = None,
        }
    }
    let mut ranges = Vec::new();
    for shard in shards.into_iter().filter(|s| !s.closed) {
        let (Some(id), Some(start), Some(end)) = (shard.id, shard.start, shard.end) else { return Err(unreadable()) };
        let parse = |s: &str| s.parse::<u128>().map_err(|_| format!("shard {id} has a bad hash key"));
        ranges.push((parse(start)?, parse(end)?, id.to_owned()));
    }
    Ok((ranges, next_token))
}

/// Builds the map from every page's open shards.
pub fn shard_map_of(ranges: Vec<(u128, u128, String)>) -> Result<ShardMap, String> {
    if ranges.is_empty() {
        return Err("ListShards reported no open shard".into());
    }
    ShardMap::from_ranges(ranges)
}

/// The stream's record size limit in bytes, if the answer gives one.
pub fn parse_max_record_bytes(body: &[u8]) -> Result<Option<usize>, String> {
    let tokens = tokens(body, &["StreamDescriptionSummary", "MaxRecordSizeInKiB"])
        .ok_or_else(|| "unreadable DescribeStreamSummary answer".to_owned())?;
    let mut kib = None;
    walk(&tokens, |depth, name, value| {
        if let (2, "MaxRecordSizeInKiB", Token::Number(digits)) = (depth, name, value) {
            kib = digits.parse::<usize>().ok();
        }
    });
    Ok(kib.filter(|k| *k > 0).map(|k| k.saturating_mul(1024)))
}

/// Where a PutRecord landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordOutput {
    pub shard_id: String,
    pub sequence_number: String,
}

pub fn parse_put_record(body: &[u8]) -> Option<PutRecordOutput> {
    let tokens = tokens(body, &["ShardId", "SequenceNumber"])?;
    let (mut shard_id, mut sequence_number) = (String::new(), String::new());
    walk(&tokens, |depth, name, value| match (depth, name, value) {
        (1, "ShardId", Token::Text(v)) => shard_id = v.to_string(),
        (1, "SequenceNumber", Token::Text(v)) => sequence_number = v.to_string(),
        _ => {}
    });
    (!sequence_number.is_empty()).then_some(PutRecordOutput { shard_id, sequence_number })
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
        assert!(parse_list_shards(b"[]").is_err());
        assert!(parse_list_shards(br#"{"Shards":[{"ShardId":"x"}]}"#).is_err(), "a shard without its range");
        // Escapes, nesting and odd extra fields are read as JSON.
        let odd = br#"{"Extra":{"Shards":[{"ShardId":"no"}]},"Shards":[{"ShardId":"s\u0031","Tags":[1,2.5,null,true],
            "HashKeyRange":{"StartingHashKey":"1","EndingHashKey":"340282366920938463463374607431768211455"}}],"NextToken":""}"#;
        assert_eq!(parse_list_shards(odd).unwrap(), (vec![(1, u128::MAX, "s1".to_owned())], None));
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
        assert_eq!(
            parse_max_record_bytes(br#"{"MaxRecordSizeInKiB":5,"StreamDescriptionSummary":{}}"#).unwrap(),
            None,
            "only inside the summary"
        );
        let out = parse_put_record(br#"{"ShardId":"shardId-000000000001","SequenceNumber":"42"}"#).unwrap();
        assert_eq!(out.sequence_number, "42");
        assert!(parse_put_record(br#"{"ShardId":"x"}"#).is_none());
    }
}
