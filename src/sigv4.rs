//! AWS Signature Version 4 for header-signed requests.
//!
//! Sans-IO: signing is a pure function of the request, the credentials and a
//! time passed in by the caller, and returns the headers to add. The stages
//! (canonical request, string to sign, signature) are public so each can be
//! tested on its own against the AWS test suite.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SCOPE_TERMINATOR: &str = "aws4_request";
const AMZ_DATE_HEADER: &str = "x-amz-date";
const SECURITY_TOKEN_HEADER: &str = "x-amz-security-token";
const AUTHORIZATION_HEADER: &str = "authorization";
const REDACTED: &str = "<redacted>";

/// AWS credentials. `Debug` redacts the secret and the session token.
#[derive(Clone, PartialEq)]
pub struct Credentials {
    /// Access key id, e.g. `AKIDEXAMPLE`; not secret.
    pub access_key_id: String,
    /// Secret access key; used only to derive signing keys.
    pub secret_access_key: String,
    /// Session token of temporary (STS) credentials.
    pub session_token: Option<String>,
}

/// Prints as `<redacted>` (no quotes) in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &Redacted)
            // Show whether a token is present, never its value.
            .field("session_token", &self.session_token.as_ref().map(|_| Redacted))
            .finish()
    }
}

/// UTC time of signing, from unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigningTime {
    unix_seconds: u64,
}

/// A UTC calendar date and time of day.
struct CivilTime {
    year: u64,
    month: u64,
    day: u64,
    hour: u64,
    minute: u64,
    second: u64,
}

impl SigningTime {
    /// The time `secs` seconds after 1970-01-01T00:00:00Z.
    pub fn from_unix_seconds(secs: u64) -> Self {
        Self { unix_seconds: secs }
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix_seconds(&self) -> u64 {
        self.unix_seconds
    }

    /// `YYYYMMDDTHHMMSSZ`, the value of `x-amz-date`, e.g. `20150830T123600Z`.
    pub fn amz_date(&self) -> String {
        let t = self.civil();
        format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", t.year, t.month, t.day, t.hour, t.minute, t.second)
    }

    /// `YYYYMMDD`, the date in the credential scope, e.g. `20150830`.
    pub fn date_stamp(&self) -> String {
        let t = self.civil();
        format!("{:04}{:02}{:02}", t.year, t.month, t.day)
    }

    fn civil(&self) -> CivilTime {
        let days = self.unix_seconds / 86_400;
        let secs_of_day = self.unix_seconds % 86_400;
        let (year, month, day) = civil_from_days(days);
        CivilTime { year, month, day, hour: secs_of_day / 3_600, minute: secs_of_day % 3_600 / 60, second: secs_of_day % 60 }
    }
}

/// Howard Hinnant's `civil_from_days` (proleptic Gregorian calendar), for
/// days since 1970-01-01. Unsigned because the input is never before 1970;
/// `u64::MAX / 86_400 + 719_468` cannot overflow.
fn civil_from_days(days_since_epoch: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a year.
    let z = days_since_epoch + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097; // [0, 146096]
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11]
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1; // [1, 31]
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// What `sign` needs besides the request.
#[derive(Clone, Copy, Debug)]
pub struct SigningParams<'a> {
    /// Who signs.
    pub credentials: &'a Credentials,
    /// Region of the endpoint, e.g. `us-east-1`.
    pub region: &'a str,
    /// Signing name of the service, e.g. `kinesis`.
    pub service: &'a str,
    /// When the request is signed; AWS rejects it about 5 minutes either side.
    pub time: SigningTime,
}

/// A request as it will go on the wire.
///
/// - `path`: the path exactly as sent (e.g. `/`). The canonical URI
///   percent-encodes it once more, so a `%` in it becomes `%25`: AWS does this
///   for every service except S3 (botocore and smithy-rs agree). A path
///   without reserved characters, such as Kinesis' `/`, is unchanged.
/// - `query`: the query string without `?`, possibly empty. Keys and values
///   are percent-decoded (`+` as a space, as in form encoding) and re-encoded
///   the AWS way, so raw and already-encoded queries sign the same.
/// - `headers`: the headers to sign, in wire order. For [`sign`], leave out
///   `x-amz-date`, `x-amz-security-token` and `authorization`: `sign` adds
///   the first two itself and ignores caller copies of all three.
/// - `payload_sha256_hex`: lowercase hex SHA-256 of the body (see
///   [`sha256_hex`]).
#[derive(Clone, Copy, Debug)]
pub struct SignableRequest<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// Path as sent, e.g. `/`.
    pub path: &'a str,
    /// Query string without `?`; empty for none.
    pub query: &'a str,
    /// Headers to sign as (name, value), in wire order.
    pub headers: &'a [(&'a str, &'a str)],
    /// Lowercase hex SHA-256 of the body.
    pub payload_sha256_hex: &'a str,
}

/// The headers `sign` produced. `Debug` redacts the session token.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// Value of `authorization`.
    pub authorization: String,
    /// Value of `x-amz-date`.
    pub amz_date: String,
    /// Value of `x-amz-security-token`, with temporary credentials.
    pub security_token: Option<String>,
}

impl SignedHeaders {
    /// Lowercase header names with their values, ready to add to a request.
    pub fn into_pairs(self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![(AUTHORIZATION_HEADER, self.authorization), (AMZ_DATE_HEADER, self.amz_date)];
        if let Some(token) = self.security_token {
            pairs.push((SECURITY_TOKEN_HEADER, token));
        }
        pairs
    }
}

impl fmt::Debug for SignedHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedHeaders")
            .field("authorization", &self.authorization)
            .field("amz_date", &self.amz_date)
            .field("security_token", &self.security_token.as_ref().map(|_| Redacted))
            .finish()
    }
}

/// A host's SHA-256 (e.g. Node's `crypto.createHash`), faster than `sha2` compiled to wasm for
/// request bodies. It returns lowercase hex, or `None` to fall back to `sha2`.
pub type Sha256Backend = Box<dyn Fn(&[u8]) -> Option<String>>;

/// Inputs shorter than this are hashed by `sha2` even with a backend: the call costs more.
const BACKEND_MIN_BYTES: usize = 2048;

std::thread_local! {
    static SHA256_BACKEND: std::cell::RefCell<Option<Sha256Backend>> = const { std::cell::RefCell::new(None) };
}

/// Sets (or, with `None`, clears) the SHA-256 used by [`sha256_hex`] for large inputs, for this
/// thread. Results must equal `sha2`'s; a backend answer that is not 64 lowercase hex digits is
/// ignored.
pub fn set_sha256_backend(backend: Option<Sha256Backend>) {
    SHA256_BACKEND.with(|b| *b.borrow_mut() = backend);
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    if bytes.len() >= BACKEND_MIN_BYTES {
        let hex = SHA256_BACKEND.with(|b| b.borrow().as_ref().and_then(|f| f(bytes)));
        if let Some(hex) = hex.filter(|h| h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))) {
            return hex;
        }
    }
    hex_lower(&Sha256::digest(bytes))
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Stage 1: the canonical request.
pub fn canonical_request(req: &SignableRequest) -> String {
    let headers = CanonicalHeaders::new(req.headers);
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        canonical_uri(req.path),
        canonical_query(req.query),
        headers.canonical,
        headers.signed,
        req.payload_sha256_hex
    )
}

/// The `SignedHeaders` list for `headers`: lowercase names, sorted, unique,
/// joined with `;`.
pub fn signed_headers(headers: &[(&str, &str)]) -> String {
    CanonicalHeaders::new(headers).signed
}

/// `<date>/<region>/<service>/aws4_request`.
pub fn credential_scope(time: SigningTime, region: &str, service: &str) -> String {
    format!("{}/{region}/{service}/{SCOPE_TERMINATOR}", time.date_stamp())
}

/// Stage 2: the string to sign.
pub fn string_to_sign(time: SigningTime, scope: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}\n{scope}\n{}", time.amz_date(), sha256_hex(canonical_request.as_bytes()))
}

/// The key derived from the secret for one day, region and service.
pub fn signing_key(secret: &str, date_stamp: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date_stamp.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, SCOPE_TERMINATOR.as_bytes())
}

/// Stage 3 core: the hex HMAC of the string to sign.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex_lower(&hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

/// The `Authorization` header value.
pub fn authorization_value(access_key_id: &str, scope: &str, signed_headers: &str, signature: &str) -> String {
    format!("{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}")
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length (long ones are hashed), so this cannot fail.
    // `expect` would link the error's Debug formatting (string escaping, Unicode tables) into wasm.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { unreachable!() };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Stage 3: the headers to add to the request: `authorization`,
/// `x-amz-date` and, with a session token, `x-amz-security-token`.
///
/// `sign` adds `x-amz-date` and the token to the signed headers itself, so
/// pass only your own headers (e.g. `host`, `content-type`, `x-amz-target`);
/// any `x-amz-date`, `x-amz-security-token` or `authorization` in
/// `req.headers` is ignored so the signed set always matches what is sent.
pub fn sign(req: &SignableRequest, params: &SigningParams) -> SignedHeaders {
    let key = signing_key(&params.credentials.secret_access_key, &params.time.date_stamp(), params.region, params.service);
    sign_with_key(req, params, &key)
}

fn sign_with_key(req: &SignableRequest, params: &SigningParams, key: &[u8; 32]) -> SignedHeaders {
    let amz_date = params.time.amz_date();
    let token = params.credentials.session_token.as_deref();

    let mut headers: Vec<(&str, &str)> = req.headers.iter().filter(|(name, _)| !is_owned_by_sign(name)).copied().collect();
    headers.push((AMZ_DATE_HEADER, &amz_date));
    if let Some(token) = token {
        headers.push((SECURITY_TOKEN_HEADER, token));
    }
    let full = SignableRequest { headers: &headers, ..*req };

    let creq = canonical_request(&full);
    let scope = credential_scope(params.time, params.region, params.service);
    let sts = string_to_sign(params.time, &scope, &creq);
    let authorization = authorization_value(&params.credentials.access_key_id, &scope, &signed_headers(&headers), &signature(key, &sts));
    SignedHeaders { authorization, amz_date, security_token: token.map(str::to_owned) }
}

fn is_owned_by_sign(name: &str) -> bool {
    let name = name.trim();
    [AMZ_DATE_HEADER, SECURITY_TOKEN_HEADER, AUTHORIZATION_HEADER].iter().any(|owned| name.eq_ignore_ascii_case(owned))
}

/// Keys kept before the oldest is dropped; one per (region, service,
/// credentials) in use, so a handful is plenty.
const SIGNER_CACHE_CAPACITY: usize = 8;

/// Signs like [`sign`], but caches the derived signing key per (date, region,
/// service, secret), so a busy producer runs the 4-HMAC key chain once a day
/// instead of on every request.
///
/// The cache is keyed on a SHA-256 of the secret so the secret itself is not
/// kept; `Debug` shows only the number of cached keys.
#[derive(Clone, Default)]
pub struct Signer {
    cache: Vec<CachedKey>,
}

#[derive(Clone)]
struct CachedKey {
    date_stamp: String,
    region: String,
    service: String,
    secret_sha256: [u8; 32],
    key: [u8; 32],
}

impl Signer {
    /// A signer with an empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Same result as [`sign`], reusing a cached signing key when it can.
    pub fn sign(&mut self, req: &SignableRequest, params: &SigningParams) -> SignedHeaders {
        let key = self.cached_signing_key(params);
        sign_with_key(req, params, &key)
    }

    fn cached_signing_key(&mut self, params: &SigningParams) -> [u8; 32] {
        let date_stamp = params.time.date_stamp();
        let secret_sha256: [u8; 32] = Sha256::digest(params.credentials.secret_access_key.as_bytes()).into();
        let hit = self.cache.iter().find(|c| {
            c.date_stamp == date_stamp && c.region == params.region && c.service == params.service && c.secret_sha256 == secret_sha256
        });
        if let Some(cached) = hit {
            return cached.key;
        }

        let key = signing_key(&params.credentials.secret_access_key, &date_stamp, params.region, params.service);
        // Earlier days' keys are dead weight once the date moves on; if the
        // clock steps back, a miss only costs a recompute.
        self.cache.retain(|c| c.date_stamp == date_stamp);
        if self.cache.len() >= SIGNER_CACHE_CAPACITY {
            self.cache.remove(0);
        }
        self.cache.push(CachedKey { date_stamp, region: params.region.to_owned(), service: params.service.to_owned(), secret_sha256, key });
        key
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("cached_keys", &self.cache.len()).finish()
    }
}

/// Canonical header block (each line ending in `\n`) and signed-header list.
struct CanonicalHeaders {
    canonical: String,
    signed: String,
}

impl CanonicalHeaders {
    fn new(headers: &[(&str, &str)]) -> Self {
        let mut entries: Vec<(String, String)> = headers.iter().map(|(name, value)| (name.to_ascii_lowercase(), trim_all(value))).collect();
        // Stable: values of a repeated header keep their wire order.
        crate::insertion_sort_by(&mut entries, |a, b| a.0 < b.0);

        let mut canonical = String::new();
        let mut signed = String::new();
        let mut previous: Option<&str> = None;
        for (name, value) in &entries {
            if previous == Some(name.as_str()) {
                canonical.pop(); // the '\n' of this header's line
                canonical.push(',');
            } else {
                if previous.is_some() {
                    signed.push(';');
                }
                signed.push_str(name);
                canonical.push_str(name);
                canonical.push(':');
            }
            canonical.push_str(value);
            canonical.push('\n');
            previous = Some(name);
        }
        Self { canonical, signed }
    }
}

/// Trims the value and collapses each run of whitespace inside it to one
/// space. Collapsing CR/LF too keeps a folded or hostile value from adding
/// lines to the canonical request.
fn trim_all(value: &str) -> String {
    join(value.split_ascii_whitespace(), ' ')
}

/// `items` with `separator` between them: one small loop, where `[..].join` costs about 1 KB of
/// wasm per element type.
fn join<'a>(items: impl Iterator<Item = &'a str>, separator: char) -> String {
    let mut out = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(separator);
        }
        out.push_str(item);
    }
    out
}

/// Normalises `.`, `..` and repeated slashes (RFC 3986 5.2.4, as AWS does
/// for non-S3 services), then percent-encodes each byte but `/` and the
/// unreserved characters.
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut normalized = String::with_capacity(path.len() + 1);
    normalized.push('/');
    normalized.push_str(&join(segments.into_iter(), '/'));
    // A final "/", "/." or "/.." names a directory: keep the trailing slash.
    let names_directory = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if names_directory && !normalized.ends_with('/') {
        normalized.push('/');
    }

    let mut encoded = String::with_capacity(normalized.len());
    for (i, segment) in normalized.as_bytes().split(|&b| b == b'/').enumerate() {
        if i > 0 {
            encoded.push('/');
        }
        percent_encode_into(segment, &mut encoded);
    }
    encoded
}

/// Sorted `key=value` pairs joined with `&`, each part AWS-encoded.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_encode(&form_decode(key)), percent_encode(&form_decode(value)))
        })
        .collect();
    crate::insertion_sort_by(&mut pairs, |a, b| a < b);
    let pairs: Vec<String> = pairs.iter().map(|(key, value)| format!("{key}={value}")).collect();
    join(pairs.iter().map(String::as_str), '&')
}

/// Decodes `%XX` and `+` (space). A `%` not followed by two hex digits is
/// kept as is, so any input decodes.
fn form_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (bytes.get(i + 1).and_then(hex_value), bytes.get(i + 2).and_then(hex_value)) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    out
}

fn hex_value(digit: &u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    percent_encode_into(bytes, &mut out);
    out
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters
/// (`A-Za-z0-9-_.~`) kept, every other byte as `%XX` with uppercase hex.
fn percent_encode_into(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sha256_backend_is_used_for_large_inputs_only_and_checked() {
        use std::cell::Cell;
        use std::rc::Rc;
        let big = vec![7u8; super::BACKEND_MIN_BYTES];
        let expected = super::hex_lower(&<super::Sha256 as super::Digest>::digest(&big));
        let calls = Rc::new(Cell::new(0));
        let seen = calls.clone();
        let answer = expected.clone();
        super::set_sha256_backend(Some(Box::new(move |b: &[u8]| {
            seen.set(seen.get() + 1);
            Some(if b.len() == super::BACKEND_MIN_BYTES { answer.clone() } else { "not hex".into() })
        })));
        assert_eq!(super::sha256_hex(&big), expected);
        assert_eq!(calls.get(), 1);
        assert_eq!(super::sha256_hex(b"small"), super::hex_lower(&<super::Sha256 as super::Digest>::digest(b"small")));
        assert_eq!(calls.get(), 1, "small inputs stay in sha2");
        let bigger = vec![7u8; super::BACKEND_MIN_BYTES + 1];
        assert_eq!(
            super::sha256_hex(&bigger),
            super::hex_lower(&<super::Sha256 as super::Digest>::digest(&bigger)),
            "a bad answer falls back"
        );
        super::set_sha256_backend(None);
    }

    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const TOKEN: &str = "session-token-value-42";

    fn utc(secs: u64) -> String {
        SigningTime::from_unix_seconds(secs).amz_date()
    }

    #[test]
    fn formats_known_dates() {
        assert_eq!(utc(0), "19700101T000000Z");
        assert_eq!(utc(946_684_799), "19991231T235959Z");
        assert_eq!(utc(951_782_400), "20000229T000000Z");
        assert_eq!(utc(951_868_800), "20000301T000000Z");
        assert_eq!(utc(1_440_938_160), "20150830T123600Z");
        assert_eq!(utc(1_483_228_799), "20161231T235959Z");
        assert_eq!(utc(1_709_210_096), "20240229T123456Z");
        assert_eq!(utc(2_147_483_648), "20380119T031408Z");
        // 2100 is not a leap year: Feb 28 is followed by Mar 1.
        assert_eq!(utc(4_107_542_399), "21000228T235959Z");
        assert_eq!(utc(4_107_542_400), "21000301T000000Z");
    }

    #[test]
    fn date_stamp_is_the_date_part() {
        let time = SigningTime::from_unix_seconds(1_709_210_096);
        assert_eq!(time.date_stamp(), "20240229");
        assert_eq!(time.unix_seconds(), 1_709_210_096);
    }

    #[test]
    fn extreme_time_formats_without_panicking() {
        let far = SigningTime::from_unix_seconds(u64::MAX);
        assert!(far.amz_date().ends_with('Z'));
        assert_eq!(far.amz_date().len(), far.date_stamp().len() + 8);
    }

    #[test]
    fn trims_and_collapses_header_whitespace() {
        assert_eq!(trim_all("  value1 "), "value1");
        assert_eq!(trim_all("\"a   b   c\""), "\"a b c\"");
        assert_eq!(trim_all("a \t b\r\n c"), "a b c");
        assert_eq!(trim_all(" \t "), "");
    }

    #[test]
    fn header_value_newlines_cannot_add_canonical_lines() {
        let creq = canonical_request(&SignableRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &[("host", "h"), ("x-evil", "a\nx-injected:1")],
            payload_sha256_hex: "p",
        });
        assert_eq!(creq, "GET\n/\n\nhost:h\nx-evil:a x-injected:1\n\nhost;x-evil\np");
    }

    #[test]
    fn repeated_headers_join_in_wire_order_and_names_sort() {
        let headers = [("Zed", "1"), ("My-Header", "b"), ("Host", "h"), ("my-header", " a ")];
        let creq = canonical_request(&SignableRequest { method: "POST", path: "/", query: "", headers: &headers, payload_sha256_hex: "p" });
        assert_eq!(creq, "POST\n/\n\nhost:h\nmy-header:b,a\nzed:1\n\nhost;my-header;zed\np");
        assert_eq!(signed_headers(&headers), "host;my-header;zed");
        assert_eq!(signed_headers(&[]), "");
    }

    #[test]
    fn encodes_and_sorts_query() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(canonical_query("b=2&a=1"), "a=1&b=2");
        assert_eq!(canonical_query("a=2&a=1&A=3"), "A=3&a=1&a=2");
        assert_eq!(canonical_query("key"), "key=");
        assert_eq!(canonical_query("a=1&&b"), "a=1&b=");
        assert_eq!(canonical_query("k=a=b"), "k=a%3Db");
        assert_eq!(canonical_query("-._~=AZaz09"), "-._~=AZaz09");
        // Raw and already-encoded forms sign the same.
        assert_eq!(canonical_query("\u{1234}=bar"), "%E1%88%B4=bar");
        assert_eq!(canonical_query("%E1%88%B4=bar"), "%E1%88%B4=bar");
        assert_eq!(canonical_query("%e1%88%b4=bar"), "%E1%88%B4=bar");
        assert_eq!(canonical_query("a b=c/d"), "a%20b=c%2Fd");
        // Form encoding: '+' is a space; a literal plus arrives as %2B.
        assert_eq!(canonical_query("a+b=1%2B1"), "a%20b=1%2B1");
        // Malformed escapes are data, not errors.
        assert_eq!(canonical_query("x=%zz&y=%&z=%4"), "x=%25zz&y=%25&z=%254");
        // Sorted by encoded form: '%' (0x25) sorts before 'z', '}' would not.
        assert_eq!(canonical_query("z=1&}=2"), "%7D=2&z=1");
    }

    #[test]
    fn normalises_and_encodes_path() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("//a//b//"), "/a/b/");
        assert_eq!(canonical_uri("/a/./b"), "/a/b");
        assert_eq!(canonical_uri("/a/b/."), "/a/b/");
        assert_eq!(canonical_uri("/a/b/.."), "/a/");
        assert_eq!(canonical_uri("/a/b/../c"), "/a/c");
        assert_eq!(canonical_uri("/../../x"), "/x");
        assert_eq!(canonical_uri("a/b"), "/a/b");
        assert_eq!(canonical_uri("/a b/\u{1234}"), "/a%20b/%E1%88%B4");
        // A wire path is encoded once more (non-S3 rule): '%' becomes '%25'.
        assert_eq!(canonical_uri("/a%20b"), "/a%2520b");
    }

    #[test]
    fn hashes_and_hex() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex_lower(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn derives_the_documented_signing_key() {
        // Example from the AWS General Reference ("Examples of how to derive a
        // signing key for Signature Version 4").
        let key = signing_key(SECRET, "20120215", "us-east-1", "iam");
        assert_eq!(hex_lower(&key), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }

    #[test]
    fn credentials_debug_redacts_secrets() {
        let creds =
            Credentials { access_key_id: "AKIDEXAMPLE".into(), secret_access_key: SECRET.into(), session_token: Some(TOKEN.into()) };
        let shown = format!("{creds:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains("AKIDEXAMPLE"), "{shown}");
        assert_eq!(shown, "Credentials { access_key_id: \"AKIDEXAMPLE\", secret_access_key: <redacted>, session_token: Some(<redacted>) }");
        let no_token = Credentials { session_token: None, ..creds };
        assert!(format!("{no_token:?}").ends_with("session_token: None }"));
    }

    fn creds(token: Option<&str>) -> Credentials {
        Credentials { access_key_id: "AKIDEXAMPLE".into(), secret_access_key: SECRET.into(), session_token: token.map(str::to_owned) }
    }

    const HEADERS: &[(&str, &str)] = &[("host", "example.amazonaws.com")];

    fn request(headers: &'static [(&'static str, &'static str)]) -> SignableRequest<'static> {
        SignableRequest {
            method: "POST",
            path: "/",
            query: "",
            headers,
            payload_sha256_hex: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        }
    }

    fn params<'a>(credentials: &'a Credentials, region: &'a str, secs: u64) -> SigningParams<'a> {
        SigningParams { credentials, region, service: "service", time: SigningTime::from_unix_seconds(secs) }
    }

    #[test]
    fn signs_post_vanilla() {
        // post-vanilla from the AWS suite, through `sign`.
        let signed = sign(&request(HEADERS), &params(&creds(None), "us-east-1", 1_440_938_160));
        assert_eq!(
            signed.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
        assert_eq!(signed.amz_date, "20150830T123600Z");
        assert_eq!(signed.security_token, None);
    }

    #[test]
    fn sign_ignores_caller_copies_of_its_own_headers() {
        let with_token = creds(Some(TOKEN));
        let p = params(&with_token, "us-east-1", 1_440_938_160);
        let clean = sign(&request(HEADERS), &p);
        let noisy = sign(
            &request(&[
                ("X-Amz-Date", "19990101T000000Z"),
                ("host", "example.amazonaws.com"),
                ("Authorization", "stale"),
                ("x-amz-security-token", "old-token"),
            ]),
            &p,
        );
        assert_eq!(noisy, clean);
        assert!(clean.authorization.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"));
    }

    #[test]
    fn into_pairs_lists_the_headers_to_add() {
        let signed = sign(&request(HEADERS), &params(&creds(Some(TOKEN)), "us-east-1", 0));
        let authorization = signed.authorization.clone();
        assert_eq!(
            signed.into_pairs(),
            vec![
                ("authorization", authorization),
                ("x-amz-date", "19700101T000000Z".to_owned()),
                ("x-amz-security-token", TOKEN.to_owned()),
            ]
        );
        let without = sign(&request(HEADERS), &params(&creds(None), "us-east-1", 0));
        assert_eq!(without.into_pairs().len(), 2);
    }

    #[test]
    fn signed_headers_debug_redacts_token() {
        let signed = sign(&request(HEADERS), &params(&creds(Some(TOKEN)), "us-east-1", 0));
        let shown = format!("{signed:?}");
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains("security_token: Some(<redacted>)"), "{shown}");
    }

    #[test]
    fn signer_matches_sign_across_days_regions_and_secrets() {
        let mut signer = Signer::new();
        let a = creds(None);
        let b = Credentials { secret_access_key: "another-secret".into(), ..creds(Some(TOKEN)) };
        let day = 86_400;
        let cases = [
            (&a, "us-east-1", 1_440_938_160),
            (&a, "us-east-1", 1_440_938_161), // same day: cache hit
            (&a, "eu-west-1", 1_440_938_162),
            (&b, "us-east-1", 1_440_938_163), // same scope, other secret
            (&a, "us-east-1", 1_440_938_160 + day),
            (&a, "us-east-1", 1_440_938_160),
        ];
        for (credentials, region, secs) in cases {
            let p = params(credentials, region, secs);
            assert_eq!(signer.sign(&request(HEADERS), &p), sign(&request(HEADERS), &p));
        }
    }

    #[test]
    fn signer_cache_stays_bounded_and_hides_secrets() {
        let mut signer = Signer::new();
        let c = creds(None);
        for region in ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"] {
            signer.sign(&request(HEADERS), &params(&c, region, 0));
        }
        assert_eq!(signer.cache.len(), SIGNER_CACHE_CAPACITY);
        // A new day drops the old day's keys.
        signer.sign(&request(HEADERS), &params(&c, "r0", 86_400));
        assert_eq!(signer.cache.len(), 1);
        let shown = format!("{signer:?}");
        assert_eq!(shown, "Signer { cached_keys: 1 }");
        assert!(signer.cache.iter().all(|k| k.secret_sha256 != [0; 32]));
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let c = Credentials { access_key_id: String::new(), secret_access_key: String::new(), session_token: Some(String::new()) };
        let req = SignableRequest {
            method: "",
            path: "%/../..//\u{0}",
            query: "%%&==&=%&\u{ffff}=+",
            headers: &[("", ""), ("Ü:;", "\r\n\t"), ("x", "\u{1F600}")],
            payload_sha256_hex: "",
        };
        let p = SigningParams { credentials: &c, region: "", service: "", time: SigningTime::from_unix_seconds(u64::MAX) };
        let signed = sign(&req, &p);
        assert!(signed.authorization.starts_with("AWS4-HMAC-SHA256 Credential=/"));
        assert_eq!(Signer::new().sign(&req, &p), signed);
    }
}
