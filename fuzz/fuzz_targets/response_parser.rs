//! The PutRecords answer parser, the error-envelope parser and the retry classification on
//! arbitrary bytes. Input: status (2 bytes, big-endian), expected record count (1 byte),
//! header length + 1 (1 byte, 0 = no `x-amzn-ErrorType`), the header, then the body; so
//! seeds in `fuzz/seeds/response_parser/` are readable bodies behind a 4-byte prefix.

#![no_main]

use kinesis_batch::response::{
    classify_record_error, classify_request_error, is_clock_skew_message, normalize_code, parse_error, parse_put_records, truncate, Action,
    RecordOutcome,
};
use libfuzzer_sys::fuzz_target;

fn check_code(code: &str) {
    assert!(!code.is_empty(), "empty error code");
    assert!(!code.contains('#') && !code.contains(':'), "code {code:?} kept a namespace or suffix");
    assert_eq!(normalize_code(code), code, "normalizing twice changes {code:?}");
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let status = u16::from_be_bytes([data[0], data[1]]);
    let expected = usize::from(data[2]);
    let rest = &data[4..];
    let (header, body) = match usize::from(data[3]) {
        0 => (None, rest),
        n => {
            let n = (n - 1).min(rest.len());
            (Some(String::from_utf8_lossy(&rest[..n]).into_owned()), &rest[n..])
        }
    };

    if let Some(outcomes) = parse_put_records(body, expected) {
        assert_eq!(outcomes.len(), expected, "an answer for the wrong number of records");
        for outcome in outcomes {
            if let RecordOutcome::Failed(e) = outcome {
                check_code(&e.code);
                let _ = classify_record_error(&e.code);
            }
        }
    }

    let error = parse_error(status, header.as_deref(), body);
    check_code(&error.code);
    let action = classify_request_error(status, &error);
    if status == 429 || (500..=599).contains(&status) {
        assert_ne!(action, Action::Final, "HTTP {status} ({}) must not be final", error.code);
    }
    let _ = is_clock_skew_message(&error.message);
    let cut = truncate(&error.message, 512);
    assert!(cut.len() <= 512 + '…'.len_utf8());
    assert!(error.message.starts_with(cut.trim_end_matches('…')));
});
