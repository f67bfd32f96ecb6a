//! Parsing PutRecords answers and error envelopes, and sorting errors into what to do next.

use crate::json::Reader;

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
        | "KMSThrottlingException" => Action::Retry,
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

/// A signature error that means the clock is off rather than the key being wrong.
pub fn is_clock_skew_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("signature expired") || m.contains("signature not yet current") || m.contains("request time too skewed")
}

struct PutRecordsOutput {
    records: Vec<ResultEntry>,
}

#[derive(Default)]
struct ResultEntry {
    error_code: Option<String>,
    error_message: Option<String>,
}

/// Sets a field once: a repeated field makes the answer unreadable, as it did with serde.
fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = value;
            Some(())
        }
    }
}

impl PutRecordsOutput {
    /// `{"Records":[{"ErrorCode":..., "ErrorMessage":...}, ...], ...}`; other fields are skipped.
    fn read(body: &[u8]) -> Option<Self> {
        let mut r = Reader::new(body);
        let mut records = None;
        r.object(|r, key| match key {
            "Records" => {
                let mut entries = Vec::new();
                r.array(|r| {
                    let (mut code, mut message, mut seen) = (None, None, [false; 2]);
                    r.object(|r, key| match key {
                        "ErrorCode" if !std::mem::replace(&mut seen[0], true) => r.string_or_null().map(|v| code = v),
                        "ErrorMessage" if !std::mem::replace(&mut seen[1], true) => r.string_or_null().map(|v| message = v),
                        "ErrorCode" | "ErrorMessage" => None,
                        _ => r.skip(),
                    })?;
                    entries.push(ResultEntry { error_code: code, error_message: message });
                    Some(())
                })?;
                once(&mut records, Some(entries))
            }
            _ => r.skip(),
        })?;
        r.end()?;
        Some(Self { records: records? })
    }
}

/// The code of a failed record whose `ErrorCode` is unreadable.
pub const UNKNOWN_RECORD_ERROR: &str = "UnknownError";

/// Parses a 200 PutRecords answer. `None` if it is not one for `expected` records.
pub fn parse_put_records(body: &[u8], expected: usize) -> Option<Vec<RecordOutcome>> {
    let out = PutRecordsOutput::read(body)?;
    if out.records.len() != expected {
        return None;
    }
    Some(
        out.records
            .into_iter()
            .map(|e| match e.error_code.filter(|c| !c.is_empty()) {
                None => RecordOutcome::Ok,
                Some(code) => RecordOutcome::Failed(ServiceError {
                    // A code that is all namespace or suffix still says the record failed.
                    code: Some(normalize_code(&code)).filter(|c| !c.is_empty()).unwrap_or(UNKNOWN_RECORD_ERROR).to_owned(),
                    message: e.error_message.unwrap_or_default(),
                }),
            })
            .collect(),
    )
}

/// The top-level fields of a JSON object body, as (name, string value or `None`); empty when
/// the body is not a JSON object. A repeated name keeps its last value.
fn json_fields(body: &[u8]) -> Vec<(String, Option<String>)> {
    let mut fields: Vec<(String, Option<String>)> = Vec::new();
    let mut r = Reader::new(body);
    let read = r
        .object(|r, key| {
            let value = if r.is_string() { Some(r.string()?) } else { r.skip().map(|_| None)? };
            fields.retain(|(k, _)| k != key);
            fields.push((key.to_owned(), value));
            Some(())
        })
        .and_then(|_| r.end());
    if read.is_none() {
        fields.clear();
    }
    fields
}

/// The first of `names` that is a string field.
fn json_field(fields: &[(String, Option<String>)], names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| fields.iter().find(|(k, _)| k == n)?.1.clone())
}

/// Reads the error from a non-200 answer: JSON `__type`/`code`, the `x-amzn-ErrorType`
/// header, or an XML `<Code>`; else a code named after the status. The message is whole:
/// the caller scrubs secrets from it before bounding its length (see `truncate`).
pub fn parse_error(status: u16, error_type_header: Option<&str>, body: &[u8]) -> ServiceError {
    // A generic value, not a struct: duplicate or oddly typed fields must not lose the code.
    let envelope = json_fields(body);
    let text = std::str::from_utf8(body).unwrap_or("");
    let code = json_field(&envelope, &["__type", "code", "Code"])
        .or_else(|| error_type_header.map(str::to_owned))
        .or_else(|| xml_element(text, "Code"))
        .map(|c| normalize_code(&c).to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("Http{status}"));
    let message =
        json_field(&envelope, &["message", "Message"]).or_else(|| xml_element(text, "Message")).unwrap_or_else(|| format!("HTTP {status}"));
    ServiceError { code, message }
}

fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
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
        let odd = parse_put_records(br#"{"Records":[{"ErrorCode":"ns#"},{"ErrorCode":""}]}"#, 2).unwrap();
        assert_eq!(odd[0], RecordOutcome::Failed(ServiceError { code: "UnknownError".into(), message: String::new() }));
        assert_eq!(odd[1], RecordOutcome::Ok);
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
