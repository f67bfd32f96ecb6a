//! Runs every case of the AWS Signature Version 4 test suite vendored in
//! `tests/sigv4-test-suite/`, checking each stage on its own, then checks a
//! Kinesis PutRecords request against botocore.

use std::fs;
use std::path::{Path, PathBuf};

use kinesis_batch::sigv4::{
    canonical_request, credential_scope, sha256_hex, sign, signature, signed_headers, signing_key, string_to_sign, Credentials,
    SignableRequest, Signer, SigningParams, SigningTime,
};

// Inputs shared by every suite case (see the suite's README.md).
const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const SERVICE: &str = "service";
const AMZ_DATE: &str = "20150830T123600Z";
const SUITE_UNIX_SECONDS: u64 = 1_440_938_160; // 2015-08-30T12:36:00Z

/// One parsed `.req` file.
struct ParsedRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A suite case: its name, folder and parsed request.
struct Case {
    name: String,
    dir: PathBuf,
    request: ParsedRequest,
}

impl Case {
    fn expected(&self, extension: &str) -> String {
        let path = self.dir.join(format!("{}.{extension}", self.name));
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn header_pairs(&self) -> Vec<(&str, &str)> {
        self.request.headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect()
    }
}

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4-test-suite")
}

fn suite_time() -> SigningTime {
    SigningTime::from_unix_seconds(SUITE_UNIX_SECONDS)
}

/// Every `.req` file under `dir`, at any depth, sorted.
fn find_req_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("readable directory entry").path();
        if path.is_dir() {
            find_req_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "req") {
            found.push(path);
        }
    }
}

fn load_cases() -> (Vec<Case>, usize) {
    let mut req_files = Vec::new();
    find_req_files(&suite_dir(), &mut req_files);
    req_files.sort();
    let cases = req_files
        .iter()
        .map(|path| {
            let name = path.file_stem().expect("file name").to_string_lossy().into_owned();
            let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Case { request: parse_request(&name, &bytes), dir: path.parent().expect("parent folder").to_path_buf(), name }
        })
        .collect();
    (cases, req_files.len())
}

/// Parses an HTTP/1.1 request as the suite writes it. The request target may
/// hold spaces (`GET /example space/ HTTP/1.1`), so the method ends at the
/// first space and the version starts after the last. A header line that
/// starts with whitespace or has no colon continues the previous header: the
/// suite (get-header-value-multiline) counts each such line as another value
/// of that header, joined with ',' in the canonical request.
fn parse_request(case: &str, bytes: &[u8]) -> ParsedRequest {
    let (head, body) = match find(bytes, b"\n\n") {
        Some(at) => (&bytes[..at], bytes[at + 2..].to_vec()),
        None => (bytes, Vec::new()),
    };
    let head = std::str::from_utf8(head).unwrap_or_else(|e| panic!("{case}: .req head: {e}"));
    let mut lines = head.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line));

    let request_line = lines.next().unwrap_or_default();
    let (method, rest) = request_line.split_once(' ').unwrap_or_else(|| panic!("{case}: bad request line {request_line:?}"));
    let (target, _version) = rest.rsplit_once(' ').unwrap_or_else(|| panic!("{case}: bad request line {request_line:?}"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        let continues = line.starts_with([' ', '\t']) || !line.contains(':');
        if continues {
            let name = match headers.last() {
                Some((name, _)) => name.clone(),
                None => panic!("{case}: continuation line before any header: {line:?}"),
            };
            headers.push((name, line.trim().to_owned()));
        } else {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            headers.push((name.to_owned(), value.to_owned()));
        }
    }

    ParsedRequest { method: method.to_owned(), path: path.to_owned(), query: query.to_owned(), headers, body }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn is_named(header: &(&str, &str), name: &str) -> bool {
    header.0.eq_ignore_ascii_case(name)
}

#[test]
fn every_suite_case_passes_each_stage() {
    let (cases, req_files) = load_cases();
    let key = signing_key(SECRET, &suite_time().date_stamp(), REGION, SERVICE);
    let scope = credential_scope(suite_time(), REGION, SERVICE);

    let mut run = 0;
    for case in &cases {
        let name = &case.name;
        let headers = case.header_pairs();
        let payload_hash = sha256_hex(&case.request.body);
        let request = SignableRequest {
            method: &case.request.method,
            path: &case.request.path,
            query: &case.request.query,
            headers: &headers,
            payload_sha256_hex: &payload_hash,
        };

        let creq = canonical_request(&request);
        assert_eq!(creq, case.expected("creq"), "{name}: stage 1, canonical request (.creq)");

        let sts = string_to_sign(suite_time(), &scope, &creq);
        assert_eq!(sts, case.expected("sts"), "{name}: stage 2, string to sign (.sts)");

        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/{scope}, SignedHeaders={}, Signature={}",
            signed_headers(&headers),
            signature(&key, &sts)
        );
        assert_eq!(authorization, case.expected("authz"), "{name}: stage 3, authorization (.authz)");
        run += 1;
    }

    assert!(run >= req_files, "ran {run} cases but found {req_files} .req files");
    assert!(run > 25, "only {run} suite cases found under {}", suite_dir().display());
}

/// `sign` adds x-amz-date (and the session token) itself, so it gets the
/// case's headers without them. post-sts-header-after is left out: its token
/// goes on after signing, while `sign` always signs the token.
#[test]
fn sign_reproduces_suite_authorization() {
    let (cases, _) = load_cases();
    let mut signer = Signer::new();
    let mut run = 0;
    for case in cases.iter().filter(|c| c.name != "post-sts-header-after") {
        let name = &case.name;
        let all_headers = case.header_pairs();
        let date = all_headers.iter().find(|h| is_named(h, "x-amz-date"));
        assert_eq!(date.map(|h| h.1), Some(AMZ_DATE), "{name}: .req x-amz-date");
        let token = all_headers.iter().find(|h| is_named(h, "x-amz-security-token")).map(|h| h.1.to_owned());
        let own_headers: Vec<(&str, &str)> =
            all_headers.iter().filter(|h| !is_named(h, "x-amz-date") && !is_named(h, "x-amz-security-token")).copied().collect();

        let credentials =
            Credentials { access_key_id: ACCESS_KEY_ID.to_owned(), secret_access_key: SECRET.to_owned(), session_token: token.clone() };
        let params = SigningParams { credentials: &credentials, region: REGION, service: SERVICE, time: suite_time() };
        let payload_hash = sha256_hex(&case.request.body);
        let request = SignableRequest {
            method: &case.request.method,
            path: &case.request.path,
            query: &case.request.query,
            headers: &own_headers,
            payload_sha256_hex: &payload_hash,
        };

        let signed = sign(&request, &params);
        assert_eq!(signed.authorization, case.expected("authz"), "{name}: sign() authorization");
        assert_eq!(signed.amz_date, AMZ_DATE, "{name}: sign() x-amz-date");
        assert_eq!(signed.security_token, token, "{name}: sign() security token");
        assert_eq!(signer.sign(&request, &params), signed, "{name}: Signer::sign vs sign");
        run += 1;
    }
    assert!(run > 25, "only {run} suite cases signed end to end");
}

#[test]
fn parser_keeps_body_bytes_and_multiline_values() {
    let parsed = parse_request("inline", b"POST /a b/?x=1 HTTP/1.1\nHost:h\nMy:v1\n  v2\nv3\n\nbody \n");
    assert_eq!(parsed.method, "POST");
    assert_eq!(parsed.path, "/a b/");
    assert_eq!(parsed.query, "x=1");
    let expected_headers = [("Host", "h"), ("My", "v1"), ("My", "v2"), ("My", "v3")];
    let headers: Vec<(&str, &str)> = parsed.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(headers, expected_headers);
    assert_eq!(parsed.body, b"body \n");
}

// Expected values below were produced once, offline, with botocore 1.43.11:
// `botocore.auth.SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET, token),
// "kinesis", "us-east-1").add_auth(AWSRequest("POST",
// "https://kinesis.us-east-1.amazonaws.com/", data=KINESIS_BODY, headers={Host,
// Content-Type, X-Amz-Target}))`, with `botocore.auth.get_current_datetime`
// patched to return 2024-02-29T12:34:56 (unix 1709210096).
const KINESIS_BODY: &[u8] = br#"{"StreamName":"orders","Records":[{"Data":"aGVsbG8=","PartitionKey":"user-1"}]}"#;
const KINESIS_UNIX_SECONDS: u64 = 1_709_210_096;
const KINESIS_HEADERS: &[(&str, &str)] = &[
    ("Host", "kinesis.us-east-1.amazonaws.com"),
    ("Content-Type", "application/x-amz-json-1.1"),
    ("X-Amz-Target", "Kinesis_20131202.PutRecords"),
];

fn sign_kinesis(session_token: Option<&str>) -> kinesis_batch::sigv4::SignedHeaders {
    let credentials = Credentials {
        access_key_id: ACCESS_KEY_ID.to_owned(),
        secret_access_key: SECRET.to_owned(),
        session_token: session_token.map(str::to_owned),
    };
    let payload_hash = sha256_hex(KINESIS_BODY);
    assert_eq!(payload_hash, "426af56b2f222a0e2b9d0e1593a4f471c43a6b9c194baf4fadfcdeb1e0aa41d3");
    let request = SignableRequest { method: "POST", path: "/", query: "", headers: KINESIS_HEADERS, payload_sha256_hex: &payload_hash };
    let params = SigningParams {
        credentials: &credentials,
        region: "us-east-1",
        service: "kinesis",
        time: SigningTime::from_unix_seconds(KINESIS_UNIX_SECONDS),
    };
    sign(&request, &params)
}

#[test]
fn kinesis_put_records_matches_botocore() {
    let signed = sign_kinesis(None);
    assert_eq!(
        signed.authorization,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240229/us-east-1/kinesis/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
         Signature=f0672a9b2d175e83bd615437fbdb2b2b99d9889e9483bdefc7a230c688e13b97"
    );
    assert_eq!(signed.amz_date, "20240229T123456Z");
    assert_eq!(signed.security_token, None);
}

#[test]
fn kinesis_put_records_with_session_token_matches_botocore() {
    let token = "FQoGZXIvYXdzEXAMPLETOKEN+/=";
    let signed = sign_kinesis(Some(token));
    assert_eq!(
        signed.authorization,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240229/us-east-1/kinesis/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
         Signature=b25451f361aa0016fb54c3e64b50bf7eea3c522ebb0fed9bfd71f48e2d73137e"
    );
    assert_eq!(signed.security_token.as_deref(), Some(token));
}

/// A path already percent-encoded on the wire is encoded once more, as
/// botocore does for every service but S3. Produced the same way as above
/// (service "service", URL https://example.amazonaws.com/example%20space/a%2Fb,
/// empty body, only a Host header).
#[test]
fn encoded_wire_path_matches_botocore() {
    let credentials = Credentials { access_key_id: ACCESS_KEY_ID.to_owned(), secret_access_key: SECRET.to_owned(), session_token: None };
    let headers = [("Host", "example.amazonaws.com")];
    let payload_hash = sha256_hex(b"");
    let request =
        SignableRequest { method: "POST", path: "/example%20space/a%2Fb", query: "", headers: &headers, payload_sha256_hex: &payload_hash };
    assert!(canonical_request(&request).starts_with("POST\n/example%2520space/a%252Fb\n"));
    let params = SigningParams {
        credentials: &credentials,
        region: REGION,
        service: SERVICE,
        time: SigningTime::from_unix_seconds(KINESIS_UNIX_SECONDS),
    };
    assert_eq!(
        sign(&request, &params).authorization,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240229/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, \
         Signature=b54f881f625b9c944ab13d4e14a9feb9b2b122c99dcd8c0485018bdb2c12374c"
    );
}
