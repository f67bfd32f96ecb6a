//! Parsing PutRecords answers and error envelopes, and sorting errors into what to do next.

use serde::Deserialize;

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
        "ProvisionedThroughputExceededException" | "InternalFailure" | "InternalFailureException" | "ServiceUnavailable"
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
        "ThrottlingException" | "Throttling" | "ThrottledException" | "ProvisionedThroughputExceededException"
        | "LimitExceededException" | "RequestLimitExceeded" | "TooManyRequestsException" | "KMSThrottlingException"
        | "InternalFailure" | "InternalFailureException" | "InternalServerError" | "ServiceUnavailable"
        | "ServiceUnavailableException" | "SlowDown" | "MalformedResponse" | "NetworkError" | "Timeout" => Action::Retry,
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

#[derive(Deserialize)]
struct PutRecordsOutput {
    #[serde(rename = "Records")]
    records: Vec<ResultEntry>,
}

#[derive(Deserialize)]
struct ResultEntry {
    #[serde(rename = "ErrorCode", default)]
    error_code: Option<String>,
    #[serde(rename = "ErrorMessage", default)]
    error_message: Option<String>,
}

/// Parses a 200 PutRecords answer. `None` if it is not one for `expected` records.
pub fn parse_put_records(body: &[u8], expected: usize) -> Option<Vec<RecordOutcome>> {
    let out: PutRecordsOutput = serde_json::from_slice(body).ok()?;
    if out.records.len() != expected {
        return None;
    }
    Some(
        out.records
            .into_iter()
            .map(|e| match e.error_code.filter(|c| !c.is_empty()) {
                None => RecordOutcome::Ok,
                Some(code) => RecordOutcome::Failed(ServiceError {
                    code: normalize_code(&code).to_owned(),
                    message: e.error_message.unwrap_or_default(),
                }),
            })
            .collect(),
    )
}

#[derive(Deserialize, Default)]
struct Envelope {
    #[serde(rename = "__type", alias = "code", alias = "Code", default)]
    kind: Option<String>,
    #[serde(alias = "Message", default)]
    message: Option<String>,
}

/// Reads the error from a non-200 answer: JSON `__type`/`code`, the `x-amzn-ErrorType`
/// header, or an XML `<Code>`; else a code named after the status.
pub fn parse_error(status: u16, error_type_header: Option<&str>, body: &[u8]) -> ServiceError {
    let envelope: Envelope = serde_json::from_slice(body).unwrap_or_default();
    let text = std::str::from_utf8(body).unwrap_or("");
    let code = envelope
        .kind
        .or_else(|| error_type_header.map(str::to_owned))
        .or_else(|| xml_element(text, "Code"))
        .map(|c| normalize_code(&c).to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("Http{status}"));
    let message = envelope
        .message
        .or_else(|| xml_element(text, "Message"))
        .unwrap_or_else(|| format!("HTTP {status}"));
    ServiceError { code, message: truncate(&message, 512) }
}

fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(text[start..end].trim().to_owned())
}

fn truncate(s: &str, max: usize) -> String {
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
            "ResourceNotFoundException", "AccessDeniedException", "InvalidArgumentException", "ValidationException",
            "KMSDisabledException", "KMSAccessDeniedException", "SignatureDoesNotMatch", "InvalidClientTokenId",
            "InvalidSignatureException", "SomethingNew",
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
        assert_eq!(out[1], RecordOutcome::Failed(ServiceError { code: "ProvisionedThroughputExceededException".into(), message: "slow down".into() }));
        assert_eq!(out[2], RecordOutcome::Ok);
        assert!(parse_put_records(body, 2).is_none(), "a count mismatch is not trusted");
        assert!(parse_put_records(b"<html>", 1).is_none());
    }

    #[test]
    fn error_envelopes() {
        let e = parse_error(400, None, br#"{"__type":"com.amazon#ThrottlingException","message":"Rate exceeded"}"#);
        assert_eq!((e.code.as_str(), e.message.as_str()), ("ThrottlingException", "Rate exceeded"));
        let e = parse_error(400, None, br#"{"code":"ValidationException","Message":"bad"}"#);
        assert_eq!((e.code.as_str(), e.message.as_str()), ("ValidationException", "bad"));
        let e = parse_error(403, None, b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error></ErrorResponse>");
        assert_eq!((e.code.as_str(), e.message.as_str()), ("SignatureDoesNotMatch", "no"));
        let e = parse_error(400, Some("ExpiredTokenException:http://x"), b"");
        assert_eq!(e.code, "ExpiredTokenException");
        let e = parse_error(502, None, b"Bad Gateway");
        assert_eq!((e.code.as_str(), e.message.as_str()), ("Http502", "HTTP 502"));
    }

    #[test]
    fn skew_messages() {
        assert!(is_clock_skew_message("Signature expired: 20260101T000000Z is now earlier than ..."));
        assert!(!is_clock_skew_message("The request signature we calculated does not match"));
    }
}
