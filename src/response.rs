//! Parsing PutRecords answers and error envelopes, and sorting errors into what to do next.
//!
//! The JSON is read with serde_json as tokens (`json::tokens`): strings borrow from the body
//! unless they hold escapes, and members not named are skipped (`IgnoredAny`) without being
//! read into a value. No `serde_json::Value` and no derived type per answer: either would link
//! a generic map, number handling or float formatting into the wasm.

/// What to do after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Retry with backoff.
    Retry,
    /// Get credentials again, sign again, retry.
    RefreshCredentials,
    /// Correct the clock from the server's Date, sign again, retry.
    CorrectClock,
    /// Stop: the records go to `failed` with this code.
    Final,
}

/// An error code and message from the service, the proxy or the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub code: String,
    pub message: String,
}

/// One entry of a PutRecords answer, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    Ok,
    Failed(ServiceError),
}

/// Strips a `namespace#` prefix and a `:...` suffix from an error code.
pub fn normalize_code(raw: &str) -> &str {
    let code = raw.rsplit_once('#').map_or(raw, |(_, c)| c);
    let code = code.split_once(':').map_or(code, |(c, _)| c);
    code.trim()
}

/// How to handle a per-record error code inside a 200 answer.
pub fn classify_record_error(code: &str) -> Action {
    match normalize_code(code) {
        "ProvisionedThroughputExceededException"
        | "InternalFailure"
        | "InternalFailureException"
        | "ServiceUnavailable"
        | "KMSThrottlingException"
        // An entry that neither acknowledges nor fails its record (see `parse_put_records`).
        | MALFORMED_RESPONSE => Action::Retry,
        _ => Action::Final,
    }
}

/// How to handle a request-level error from its HTTP status and parsed error.
pub fn classify_request_error(status: u16, error: &ServiceError) -> Action {
    match normalize_code(&error.code) {
        "ExpiredTokenException" | "ExpiredToken" | "RequestExpired" | "TokenRefreshRequired" => Action::RefreshCredentials,
        "RequestTimeTooSkewed" | "RequestInTheFuture" => Action::CorrectClock,
        "InvalidSignatureException" | "SignatureDoesNotMatch" if is_clock_skew_message(&error.message) => Action::CorrectClock,
        "ThrottlingException"
        | "Throttling"
        | "ThrottledException"
        | "ProvisionedThroughputExceededException"
        | "LimitExceededException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "KMSThrottlingException"
        | "InternalFailure"
        | "InternalFailureException"
        | "InternalServerError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "SlowDown"
        | "MalformedResponse"
        | "NetworkError"
        | "Timeout" => Action::Retry,
        _ => match status {
            429 | 500..=599 => Action::Retry,
            _ => Action::Final,
        },
    }
}

/// Final errors that concern the whole stream, or the caller's access to it, rather than one
/// record: after one, the dispatcher stops sending (fails fast) and tries again later.
pub fn is_stream_error(code: &str) -> bool {
    matches!(
        normalize_code(code),
        "ResourceNotFoundException"
            | "AccessDeniedException"
            | "AccessDenied"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "KMSAccessDeniedException"
            | "KMSNotFoundException"
            | "KMSDisabledException"
            | "KMSInvalidStateException"
            | "KMSOptInRequired"
    )
}

/// A signature error that means the clock is off rather than the key being wrong.
pub fn is_clock_skew_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["signature expired", "signature not yet current", "request time too skewed"].iter().any(|s| crate::find(&m, s).is_some())
}

use crate::json::{tokens, walk, Token};

/// The code of a failed record whose `ErrorCode` is unreadable.
pub const UNKNOWN_RECORD_ERROR: &str = "UnknownError";

/// The code of a record whose entry in a 200 answer has neither a `SequenceNumber` nor an
/// `ErrorCode`, and of an answer that cannot be read (see the dispatcher); retried.
pub const MALFORMED_RESPONSE: &str = "MalformedResponse";

/// Parses a 200 PutRecords answer. `None` if it is not one for `expected` records.
///
/// An entry with a non-empty `ErrorCode` failed, even beside a `SequenceNumber`; an entry with
/// a non-empty `SequenceNumber` and no code was written; an entry with neither (missing, `null`
/// or `""`) proves nothing, so its record fails with `MALFORMED_RESPONSE`, which is retried.
pub fn parse_put_records(body: &[u8], expected: usize) -> Option<Vec<RecordOutcome>> {
    Some(parse_put_records_with_shards(body, expected, false)?.into_iter().map(|(outcome, _)| outcome).collect())
}

/// `parse_put_records`, with each entry's `ShardId` when `shard_ids` (the shard-aware features
/// check where records landed).
pub fn parse_put_records_with_shards(body: &[u8], expected: usize, shard_ids: bool) -> Option<Vec<(RecordOutcome, Option<String>)>> {
    const FIELDS: [&str; 4] = ["SequenceNumber", "ErrorCode", "ErrorMessage", "ShardId"];
    let tokens = tokens(body, &["Records", FIELDS[0], FIELDS[1], FIELDS[2], FIELDS[3]])?;
    // `{"Records":[{"SequenceNumber":…,"ShardId":…},{"ErrorCode":…,"ErrorMessage":…},…]}`: one
    // `Records`, an array of objects whose four fields are each a string or null, once.
    let mut entries: Vec<[Option<&str>; 4]> = Vec::with_capacity(expected);
    let mut seen = 0u8;
    let (mut depth, mut records, mut in_records) = (0, 0, false);
    let mut name: Option<&str> = None;
    for token in &tokens {
        let named = name.take();
        match token {
            Token::Name(n) => {
                name = Some(n);
                continue;
            }
            Token::Close => {
                depth -= 1;
                in_records &= depth > 1;
                continue;
            }
            _ => {}
        }
        if depth == 1 && named == Some("Records") {
            if !matches!(token, Token::OpenArray) {
                return None;
            }
            records += 1;
            in_records = true;
        } else if in_records && depth == 2 {
            if !matches!(token, Token::Open) {
                return None; // an entry that is not an object
            }
            entries.push([None; 4]);
            seen = 0;
        } else if let Some(i) = named.filter(|_| in_records && depth == 3).and_then(|n| FIELDS.iter().position(|f| *f == n)) {
            if seen & (1 << i) != 0 {
                return None; // a repeated field
            }
            seen |= 1 << i;
            match token {
                Token::Text(v) => entries.last_mut()?[i] = Some(v),
                Token::Null => {}
                _ => return None,
            }
        }
        if matches!(token, Token::Open | Token::OpenArray) {
            depth += 1;
        }
    }
    if records != 1 || entries.len() != expected {
        return None;
    }
    Some(
        entries
            .into_iter()
            .map(|[sequence_number, error_code, error_message, shard_id]| {
                let shard = if shard_ids { shard_id.map(str::to_owned) } else { None };
                let outcome = match error_code.filter(|c| !c.is_empty()) {
                    Some(code) => RecordOutcome::Failed(ServiceError {
                        // A code that is all namespace or suffix still says the record failed.
                        code: Some(normalize_code(code)).filter(|c| !c.is_empty()).unwrap_or(UNKNOWN_RECORD_ERROR).to_owned(),
                        message: error_message.unwrap_or_default().to_owned(),
                    }),
                    None if sequence_number.is_some_and(|s| !s.is_empty()) => RecordOutcome::Ok,
                    None => RecordOutcome::Failed(ServiceError {
                        code: MALFORMED_RESPONSE.to_owned(),
                        message: "the answer's entry has neither SequenceNumber nor ErrorCode".to_owned(),
                    }),
                };
                (outcome, shard)
            })
            .collect(),
    )
}

const ENVELOPE_NAMES: [&str; 5] = ["__type", "code", "Code", "message", "Message"];

/// The string fields of a JSON error envelope that name the error: `__type`, `code`, `Code`,
/// `message`, `Message`. A repeated name: the last value counts; a value that is not a string
/// is none. Empty when the body is not a JSON object.
fn envelope(body: &[u8]) -> [Option<String>; 5] {
    let mut fields: [Option<String>; 5] = Default::default();
    if let Some(tokens) = tokens(body, &ENVELOPE_NAMES) {
        walk(&tokens, |depth, name, value| {
            if let (1, Some(i)) = (depth, ENVELOPE_NAMES.iter().position(|n| *n == name)) {
                fields[i] = match value {
                    Token::Text(v) => Some(v.to_string()),
                    _ => None,
                };
            }
        });
    }
    fields
}

/// Reads the error from a non-200 answer: JSON `__type`/`code`, the `x-amzn-ErrorType`
/// header, or an XML `<Code>`; else a code named after the status. The message is whole:
/// the caller scrubs secrets from it before bounding its length (see `truncate`).
pub fn parse_error(status: u16, error_type_header: Option<&str>, body: &[u8]) -> ServiceError {
    let mut fields = envelope(body).into_iter();
    // `__type`, else `code`, else `Code`; `message`, else `Message`: the first that is a string.
    let code = fields.by_ref().take(3).flatten().next();
    let message = fields.flatten().next();
    let text = std::str::from_utf8(body).unwrap_or("");
    let code = code
        .or_else(|| error_type_header.map(str::to_owned))
        .or_else(|| xml_element(text, "Code"))
        .map(|c| normalize_code(&c).to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("Http{status}"));
    let message = message.or_else(|| xml_element(text, "Message")).unwrap_or_else(|| format!("HTTP {status}"));
    ServiceError { code, message }
}

fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = crate::find(text, &open)? + open.len();
    let end = crate::find(&text[start..], &format!("</{name}>"))? + start;
    Some(text[start..end].trim().to_owned())
}

/// `s` cut to at most `max` bytes on a character boundary, marked with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Text;
    use std::borrow::Cow;

    #[test]
    fn codes_lose_namespace_and_suffix() {
        assert_eq!(normalize_code("com.amazonaws.kinesis.v20131202#ResourceNotFoundException"), "ResourceNotFoundException");
        assert_eq!(normalize_code("ThrottlingException:http://internal.amazon.com/"), "ThrottlingException");
        assert_eq!(normalize_code("ns#Code:suffix"), "Code");
    }

    #[test]
    fn the_retry_table() {
        let err = |code: &str| ServiceError { code: code.into(), message: "m".into() };
        for code in ["ThrottlingException", "ProvisionedThroughputExceededException", "LimitExceededException", "KMSThrottlingException"] {
            assert_eq!(classify_request_error(400, &err(code)), Action::Retry, "{code}");
        }
        assert_eq!(classify_request_error(500, &err("Http500")), Action::Retry);
        assert_eq!(classify_request_error(503, &err("ServiceUnavailable")), Action::Retry);
        assert_eq!(classify_request_error(429, &err("Http429")), Action::Retry);
        assert_eq!(classify_request_error(400, &err("ExpiredTokenException")), Action::RefreshCredentials);
        assert_eq!(classify_request_error(400, &err("RequestTimeTooSkewed")), Action::CorrectClock);
        let expired = ServiceError { code: "InvalidSignatureException".into(), message: "Signature expired: 20260101T000000Z".into() };
        assert_eq!(classify_request_error(400, &expired), Action::CorrectClock);
        for code in [
            "ResourceNotFoundException",
            "AccessDeniedException",
            "InvalidArgumentException",
            "ValidationException",
            "KMSDisabledException",
            "KMSAccessDeniedException",
            "SignatureDoesNotMatch",
            "InvalidClientTokenId",
            "InvalidSignatureException",
            "SomethingNew",
        ] {
            assert_eq!(classify_request_error(400, &err(code)), Action::Final, "{code}");
        }
        assert_eq!(classify_request_error(413, &err("Http413")), Action::Final);
        assert_eq!(classify_record_error("ProvisionedThroughputExceededException"), Action::Retry);
        assert_eq!(classify_record_error("InternalFailure"), Action::Retry);
        assert_eq!(classify_record_error("InvalidArgumentException"), Action::Final);
        assert_eq!(classify_record_error("KMSAccessDeniedException"), Action::Final);
    }

    #[test]
    fn put_records_answers() {
        let body = br#"{"FailedRecordCount":1,"Records":[{"SequenceNumber":"1","ShardId":"s"},{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"slow down"},{"ErrorCode":null,"SequenceNumber":"2"}]}"#;
        let out = parse_put_records(body, 3).unwrap();
        assert_eq!(out[0], RecordOutcome::Ok);
        assert_eq!(
            out[1],
            RecordOutcome::Failed(ServiceError { code: "ProvisionedThroughputExceededException".into(), message: "slow down".into() })
        );
        assert_eq!(out[2], RecordOutcome::Ok);
        assert!(parse_put_records(body, 2).is_none(), "a count mismatch is not trusted");
        assert!(parse_put_records(b"<html>", 1).is_none());
        // An empty ErrorCode is no failure (an entry with nothing else: see the test below).
        let odd = parse_put_records(br#"{"Records":[{"ErrorCode":"ns#"},{"ErrorCode":"","SequenceNumber":"3"}]}"#, 2).unwrap();
        assert_eq!(odd[0], RecordOutcome::Failed(ServiceError { code: "UnknownError".into(), message: String::new() }));
        assert_eq!(odd[1], RecordOutcome::Ok);
    }

    #[test]
    fn an_entry_without_sequence_number_or_error_code_is_not_acknowledged() {
        let malformed = RecordOutcome::Failed(ServiceError {
            code: "MalformedResponse".into(),
            message: "the answer's entry has neither SequenceNumber nor ErrorCode".into(),
        });
        for entry in [
            r#"{}"#,
            r#"{"ShardId":"shardId-000000000000"}"#,
            r#"{"SequenceNumber":null,"ErrorCode":null}"#,
            r#"{"SequenceNumber":"","ErrorCode":""}"#,
            r#"{"SequenceNumber":"","ErrorMessage":"no code"}"#,
        ] {
            let body = format!(r#"{{"FailedRecordCount":0,"Records":[{{"SequenceNumber":"1","ShardId":"s"}},{entry}]}}"#);
            let out = parse_put_records(body.as_bytes(), 2).expect(entry);
            assert_eq!(out[0], RecordOutcome::Ok, "{entry}");
            assert_eq!(out[1], malformed, "{entry} must not be acknowledged");
        }
        assert_eq!(classify_record_error("MalformedResponse"), Action::Retry, "retried within its attempt budget");
        // An ErrorCode fails the record even beside a SequenceNumber.
        let both = parse_put_records(br#"{"Records":[{"SequenceNumber":"1","ErrorCode":"InternalFailure","ErrorMessage":"m"}]}"#, 1);
        assert_eq!(both.unwrap()[0], RecordOutcome::Failed(ServiceError { code: "InternalFailure".into(), message: "m".into() }));
    }

    #[test]
    fn json_details() {
        let failed = |code: &str, message: &str| RecordOutcome::Failed(ServiceError { code: code.into(), message: message.into() });
        // Strings borrow from the body unless they hold escapes.
        assert!(matches!(serde_json::from_slice::<Text>(br#""ab""#).unwrap().0, Cow::Borrowed("ab")));
        assert!(matches!(serde_json::from_slice::<Text>(br#""a\nb""#).unwrap().0, Cow::Owned(s) if s == "a\nb"));
        // Escapes in values and names; unknown fields of every type skipped.
        let body = br#"{"FailedRecordCount":1,"EncryptionType":"KMS","x":[1,-2.5e+3,true,null,{"y":{}}],"\u0052ecords":[{"SequenceNumber":"1","ShardId":"s","z":{"a":[]}},{"ErrorCode":"Internal\u0046ailure","ErrorMessage":"a\"b\u00e9\ud83d\ude00\n"}]}"#;
        assert_eq!(parse_put_records(body, 2).unwrap(), [RecordOutcome::Ok, failed("InternalFailure", "a\"b\u{e9}\u{1f600}\n")]);
        assert_eq!(parse_put_records(br#" {"Records":[]} "#, 0).unwrap(), []);
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        // Skipped values are stepped over without recursion, however deep.
        let deep = format!(r#"{{"x":{},"Records":[]}}"#, nested(100_000));
        assert_eq!(parse_put_records(deep.as_bytes(), 0).unwrap(), []);
        let deep_records = format!(r#"{{"Records":[{}]}}"#, nested(100_000));
        for bad in [
            &br#"{"Records":[]} {}"#[..],
            br#"{"Records":[],}"#,
            br#"{"Records":[{"SequenceNumber":"1",}]}"#,
            br#"{"Records":null}"#,
            br#"{"FailedRecordCount":0}"#,
            br#"{"Records":[],"Records":[]}"#,
            br#"{"Records":[{"ErrorCode":"A","ErrorCode":"B"}]}"#,
            br#"{"Records":[{"ErrorCode":7}]}"#,
            br#"{"Records":[{"ErrorCode":"A","ErrorMessage":"\ud83d"}]}"#,
            b"{\"Records\":[{\"ErrorCode\":\"A\",\"ErrorMessage\":\"\xff\"}]}",
            b"[]",
            b"[[]]",
            br#"[[["1"]]]"#,
            br#"{"Records":[["1"]]}"#,
            b"",
            deep_records.as_bytes(),
        ] {
            assert_eq!(parse_put_records(bad, 0).or_else(|| parse_put_records(bad, 1)), None, "{}", String::from_utf8_lossy(bad));
        }
        // Envelopes: a repeated name keeps its last value, also when that is no string.
        let e = parse_error(400, None, br#"{"__type":"Other","__type":"ExpiredTokenException","message":"x\u00e9"}"#);
        assert_eq!((e.code.as_str(), e.message.as_str()), ("ExpiredTokenException", "x\u{e9}"));
        let e = parse_error(400, Some("B"), br#"{"__type":"A","__type":null,"x":{"y":[1.5e300]},"Message":["no"]}"#);
        assert_eq!((e.code.as_str(), e.message.as_str()), ("B", "HTTP 400"));
        let e = parse_error(400, None, br#"{"__type":{"a":1},"code":"ns#ValidationException"}"#);
        assert_eq!(e.code, "ValidationException");
        let deep_type = format!(r#"{{"__type":{}}}"#, nested(100_000));
        for body in [&br#"["ThrottlingException"]"#[..], br#"{"__type":"A""#, deep.as_bytes(), deep_type.as_bytes()] {
            assert_eq!(parse_error(400, None, body).code, "Http400", "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn error_envelopes() {
        let e = parse_error(400, None, br#"{"__type":"com.amazon#ThrottlingException","message":"Rate exceeded"}"#);
        assert_eq!((e.code.as_str(), e.message.as_str()), ("ThrottlingException", "Rate exceeded"));
        let e = parse_error(400, None, br#"{"code":"ValidationException","Message":"bad"}"#);
        assert_eq!((e.code.as_str(), e.message.as_str()), ("ValidationException", "bad"));
        let e = parse_error(
            403,
            None,
            b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error></ErrorResponse>",
        );
        assert_eq!((e.code.as_str(), e.message.as_str()), ("SignatureDoesNotMatch", "no"));
        let e = parse_error(400, Some("ExpiredTokenException:http://x"), b"");
        assert_eq!(e.code, "ExpiredTokenException");
        let e = parse_error(502, None, b"Bad Gateway");
        assert_eq!((e.code.as_str(), e.message.as_str()), ("Http502", "HTTP 502"));
        // Duplicate or oddly typed fields keep what can be read.
        let e = parse_error(400, None, br#"{"__type":"ThrottlingException","message":"a","Message":"b"}"#);
        assert_eq!((e.code.as_str(), e.message.as_str()), ("ThrottlingException", "a"));
        let e = parse_error(400, Some("AccessDeniedException"), br#"{"__type":7,"message":"m"}"#);
        assert_eq!((e.code.as_str(), e.message.as_str()), ("AccessDeniedException", "m"));
        // The message is whole; the dispatcher bounds it after scrubbing secrets.
        let long = "é".repeat(1_000);
        assert_eq!(parse_error(400, None, format!(r#"{{"__type":"X","message":"{long}"}}"#).as_bytes()).message, long);
        assert_eq!(truncate("aé", 2), "a…");
        assert_eq!(truncate("abc", 3), "abc");
    }

    #[test]
    fn skew_messages() {
        assert!(is_clock_skew_message("Signature expired: 20260101T000000Z is now earlier than ..."));
        assert!(!is_clock_skew_message("The request signature we calculated does not match"));
    }
}
