//! Stream identity, endpoints and the PutRecords body and headers.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::OptionError;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
pub const TARGET: &str = "Kinesis_20131202.PutRecords";
pub const SERVICE: &str = "kinesis";

/// The stream a dispatcher writes to: a name goes in as `StreamName`, an ARN as `StreamARN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamId {
    Name(String),
    Arn { arn: String, partition: String, region: String, account: String },
}

impl StreamId {
    pub fn parse(stream: &str) -> Result<Self, OptionError> {
        if stream.starts_with("arn:") {
            return parse_arn(stream);
        }
        if is_stream_name(stream) {
            Ok(Self::Name(stream.to_owned()))
        } else {
            Err(OptionError::new("stream", "a stream name is 1 to 128 of [a-zA-Z0-9_.-], or give a stream ARN"))
        }
    }

    pub fn region(&self) -> Option<&str> {
        match self {
            Self::Name(_) => None,
            Self::Arn { region, .. } => Some(region),
        }
    }

    /// The body's opening, up to the first record.
    fn body_prefix(&self) -> String {
        let (field, value) = match self {
            Self::Name(name) => ("StreamName", name),
            Self::Arn { arn, .. } => ("StreamARN", arn),
        };
        // Names and ARNs are validated to need no JSON escaping.
        format!("{{\"{field}\":\"{value}\",\"Records\":[")
    }
}

fn is_stream_name(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn parse_arn(arn: &str) -> Result<StreamId, OptionError> {
    let bad = || OptionError::new("stream", "a stream ARN looks like arn:aws:kinesis:<region>:<12-digit account>:stream/<name>");
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, partition, service, region, account, resource] = parts[..] else { return Err(bad()) };
    let name = resource.strip_prefix("stream/").ok_or_else(bad)?;
    let region_ok = !region.is_empty() && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !partition.starts_with("aws")
        || !partition.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        || service != "kinesis"
        || !region_ok
        || account.len() != 12
        || !account.bytes().all(|b| b.is_ascii_digit())
        || !is_stream_name(name)
    {
        return Err(bad());
    }
    Ok(StreamId::Arn { arn: arn.to_owned(), partition: partition.to_owned(), region: region.to_owned(), account: account.to_owned() })
}

/// Picks the signing region: the option, else the ARN's, else the environment's.
pub fn resolve_region(stream: &StreamId, option: Option<&str>, environment: Option<&str>) -> Result<String, OptionError> {
    let option = option.filter(|r| !r.is_empty());
    if let (Some(given), Some(arn_region)) = (option, stream.region()) {
        if given != arn_region {
            return Err(OptionError::new("region", format!("region {given} differs from the stream ARN's region {arn_region}")));
        }
    }
    let region = option
        .or(stream.region())
        .or(environment.filter(|r| !r.is_empty()))
        .ok_or_else(|| OptionError::new("region", "no region: pass the region option or set AWS_REGION or AWS_DEFAULT_REGION"))?;
    if !region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(OptionError::new("region", "a region is letters, digits and dashes, e.g. us-east-1"));
    }
    Ok(region.to_owned())
}

/// Where requests go: the URL, and the host and path that are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub host: String,
    pub path: String,
}

impl Endpoint {
    /// Parses an `http(s)://host[:port][/path]` override.
    pub fn parse(url: &str) -> Result<Self, OptionError> {
        let bad = |why: &str| OptionError::new("endpoint", format!("{why}; expected http(s)://host[:port][/path]"));
        let at = crate::find(url, "://").ok_or_else(|| bad("missing scheme"))?;
        let (scheme, rest) = (&url[..at], &url[at + 3..]);
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => "443",
            "http" => "80",
            _ => return Err(bad("the scheme must be http or https")),
        };
        if rest.contains(['?', '#', '@']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("no query, fragment, user info or spaces allowed"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = authority.to_ascii_lowercase();
        // An IPv6 literal is bracketed; its colons are not a port separator.
        let port_at = match authority.rfind(']') {
            Some(close) => authority[close..].find(':').map(|i| close + i),
            None => authority.rfind(':'),
        };
        let (host_only, port) = match port_at {
            Some(i) => (&authority[..i], Some(&authority[i + 1..])),
            None => (authority.as_str(), None),
        };
        if host_only.is_empty() {
            return Err(bad("missing host"));
        }
        let host = match port {
            Some(p) if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) => return Err(bad("bad port")),
            Some(p) if p == default_port => host_only.to_owned(),
            Some(p) => format!("{host_only}:{p}"),
            None => host_only.to_owned(),
        };
        Ok(Self { url: format!("{scheme}://{host}{path}"), host, path: path.to_owned() })
    }

    /// The AWS endpoint: regional for names, the account's data endpoint for ARNs.
    pub fn default_for(stream: &StreamId, region: &str) -> Self {
        let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
        let host = match stream {
            StreamId::Name(_) => format!("kinesis.{region}.{suffix}"),
            StreamId::Arn { account, .. } => format!("{account}.data-kinesis.{region}.{suffix}"),
        };
        Self { url: format!("https://{host}/"), host, path: "/".into() }
    }

    /// The AWS endpoint for control-plane calls (ListShards, DescribeStreamSummary): an ARN's
    /// account has a control endpoint beside its data endpoint.
    pub fn control_for(stream: &StreamId, region: &str) -> Self {
        let data = Self::default_for(stream, region);
        match stream {
            StreamId::Name(_) => data,
            StreamId::Arn { .. } => {
                let host = crate::replace_all(&data.host, ".data-kinesis.", ".control-kinesis.");
                Self { url: format!("https://{host}/"), host, path: "/".into() }
            }
        }
    }
}

/// One record's PutRecords entry, whole: `{"Data":…,"PartitionKey":…}` (PutRecord's body is
/// built around it).
pub fn render_record(data: &[u8], partition_key: &str, explicit_hash_key: Option<&str>) -> String {
    let mut json = Vec::new();
    write_entry(&mut json, &Entry { data: data.into(), partition_key, explicit_hash_key: explicit_hash_key.map(Into::into) });
    // Safety: base64 and the JSON text of `&str`s are UTF-8.
    unsafe { String::from_utf8_unchecked(json) }
}

/// What a PutRecords entry is written from. Records keep their data as submitted and are written
/// into the body only when their request is built: the base64 text is a third larger, and a
/// stored copy of it would be a second copy of every buffered record.
pub struct Entry<'a> {
    pub data: Cow<'a, [u8]>,
    pub partition_key: &'a str,
    /// Validated as digits only.
    pub explicit_hash_key: Option<Cow<'a, str>>,
}

impl Entry<'_> {
    /// Its length, but for escapes in the key (rare: the body grows then).
    fn len(&self) -> usize {
        let hash_key = self.explicit_hash_key.as_ref().map_or(0, |h| h.len() + 20);
        self.data.len().div_ceil(3) * 4 + self.partition_key.len() + hash_key + 30
    }
}

/// Appends `{"Data":"<base64>","PartitionKey":"…"[,"ExplicitHashKey":"…"]}`.
fn write_entry(out: &mut Vec<u8>, entry: &Entry) {
    let encoded = entry.data.len().div_ceil(3) * 4;
    out.reserve(entry.len());
    out.extend_from_slice(b"{\"Data\":\"");
    // Straight into the buffer: `encode_string` goes through a chunked encoder that checks every
    // chunk is UTF-8 again (a fifth of the time for small records). Zeroed with one memset:
    // `resize` is a byte loop at opt-level "z".
    let start = out.len();
    // Safety: capacity was reserved; the bytes are zeros until base64 overwrites them.
    unsafe {
        out.as_mut_ptr().add(start).write_bytes(0, encoded);
        out.set_len(start + encoded);
    }
    let written = STANDARD.encode_slice(&entry.data, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
    out.extend_from_slice(b"\",\"PartitionKey\":");
    push_json_string(out, entry.partition_key);
    if let Some(hash_key) = &entry.explicit_hash_key {
        out.extend_from_slice(b",\"ExplicitHashKey\":\"");
        out.extend_from_slice(hash_key.as_bytes());
        out.push(b'"');
    }
    out.push(b'}');
}

fn push_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out.push(b'"');
}

/// Builds the PutRecords body from its entries.
pub fn put_records_body(stream: &StreamId, entries: &[Entry]) -> Vec<u8> {
    let prefix = stream.body_prefix();
    let len = prefix.len() + 2 + entries.iter().map(|e| e.len() + 1).sum::<usize>();
    let mut body = Vec::with_capacity(len);
    body.extend_from_slice(prefix.as_bytes());
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        write_entry(&mut body, entry);
    }
    body.extend_from_slice(b"]}");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_and_arns() {
        assert_eq!(StreamId::parse("My.Stream_1-x").unwrap(), StreamId::Name("My.Stream_1-x".into()));
        assert!(StreamId::parse("").is_err());
        assert!(StreamId::parse("has space").is_err());
        assert!(StreamId::parse(&"a".repeat(129)).is_err());
        let arn = StreamId::parse("arn:aws:kinesis:eu-west-1:123456789012:stream/orders").unwrap();
        assert_eq!(arn.region(), Some("eu-west-1"));
        assert!(StreamId::parse("arn:aws:kinesis:eu-west-1:12345:stream/orders").is_err());
        assert!(StreamId::parse("arn:aws:sqs:eu-west-1:123456789012:stream/orders").is_err());
        assert!(StreamId::parse("arn:aws:kinesis:eu-west-1:123456789012:table/orders").is_err());
        assert!(StreamId::parse("arn:aws-cn:kinesis:cn-north-1:123456789012:stream/o").is_ok());
    }

    #[test]
    fn arn_streams_use_the_account_data_endpoint() {
        let arn = StreamId::parse("arn:aws:kinesis:us-east-1:123456789012:stream/s").unwrap();
        assert_eq!(Endpoint::default_for(&arn, "us-east-1").url, "https://123456789012.data-kinesis.us-east-1.amazonaws.com/");
        let name = StreamId::parse("s").unwrap();
        assert_eq!(Endpoint::default_for(&name, "cn-north-1").host, "kinesis.cn-north-1.amazonaws.com.cn");
    }

    #[test]
    fn region_resolution_order() {
        let name = StreamId::parse("s").unwrap();
        let arn = StreamId::parse("arn:aws:kinesis:eu-west-1:123456789012:stream/s").unwrap();
        assert_eq!(resolve_region(&name, Some("us-west-2"), Some("us-east-1")).unwrap(), "us-west-2");
        assert_eq!(resolve_region(&name, None, Some("us-east-1")).unwrap(), "us-east-1");
        assert_eq!(resolve_region(&arn, None, Some("us-east-1")).unwrap(), "eu-west-1");
        assert!(resolve_region(&arn, Some("us-east-1"), None).is_err());
        assert_eq!(resolve_region(&name, None, None).unwrap_err().option, "region");
    }

    #[test]
    fn endpoint_overrides() {
        let e = Endpoint::parse("http://127.0.0.1:4567").unwrap();
        assert_eq!((e.url.as_str(), e.host.as_str(), e.path.as_str()), ("http://127.0.0.1:4567/", "127.0.0.1:4567", "/"));
        let e = Endpoint::parse("HTTPS://Vpce-1.Kinesis.example.com:443/base").unwrap();
        assert_eq!(
            (e.url.as_str(), e.host.as_str(), e.path.as_str()),
            ("https://vpce-1.kinesis.example.com/base", "vpce-1.kinesis.example.com", "/base")
        );
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("127.0.0.1:4567").is_err());
        assert!(Endpoint::parse("http://:80").is_err());
        assert!(Endpoint::parse("http://h:x").is_err());
        assert!(Endpoint::parse("http://u:p@h").is_err());
    }

    #[test]
    fn body_is_valid_json_with_base64_data() {
        let a = Entry { data: b"\x00\xffhi".into(), partition_key: "k\"\\\n", explicit_hash_key: None };
        let b = Entry { data: b"{}".into(), partition_key: "\u{e9}", explicit_hash_key: Some("42".into()) };
        let body = put_records_body(&StreamId::Name("s".into()), &[a, b]);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["StreamName"], "s");
        assert_eq!(v["Records"][0]["Data"], "AP9oaQ==");
        assert_eq!(v["Records"][0]["PartitionKey"], "k\"\\\n");
        assert_eq!(v["Records"][1]["ExplicitHashKey"], "42");
        assert_eq!(v["Records"][1]["PartitionKey"], "é");
        let arn = StreamId::parse("arn:aws:kinesis:us-east-1:123456789012:stream/s").unwrap();
        let empty = put_records_body(&arn, &[]);
        assert_eq!(empty, br#"{"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s","Records":[]}"#);
        let rendered = render_record(b"{}", "\u{e9}", Some("42"));
        assert_eq!(rendered, r#"{"Data":"e30=","PartitionKey":"é","ExplicitHashKey":"42"}"#);
    }
}
