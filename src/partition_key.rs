//! Partition keys: reading one from the record's data, random UUIDv4 keys, validation,
//! and explicit hash keys.
//!
//! The key rule lives here, once, and reads the data bytes the record will carry, so every host
//! (JS library, CLI, preview page, WASI component) picks the same key for the same record.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{OptionError, RecordError, RecordErrorCode};
use crate::json::Text;
use crate::limits::MAX_PARTITION_KEY_UNITS;

/// Where a record's partition key comes from when the record does not name one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A random UUIDv4 per record (the boto3_batch_utils default).
    Random,
    /// A value inside the record's JSON data (`partitionKeyIdentifier`); see `key_from_data`.
    Path(KeyPath),
}

/// A parsed `partitionKeyIdentifier`: the path from the top-level JSON object to the key.
///
/// An identifier that starts with `/` is an RFC 6901 JSON Pointer (`/customer/id`): split on
/// `/`, then `~1` becomes `/` and `~0` becomes `~` (so `~01` is `~1`); a segment applied to an
/// array is a decimal index without leading zeros (`0`, `12`; never `01` or `-`). Any other
/// identifier is one top-level member name, taken literally (`a/b` is the member "a/b").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath {
    /// As the user wrote it, for messages.
    identifier: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    /// The member name, unescaped.
    name: String,
    /// The array index the name spells, if it spells one.
    index: Option<usize>,
}

impl Segment {
    fn new(name: String) -> Self {
        let digits = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
        let index = if digits && (name == "0" || !name.starts_with('0')) { name.parse().ok() } else { None };
        Self { name, index }
    }
}

impl KeyPath {
    /// Parses an identifier once, at configuration. Empty is an error, and so is a pointer with
    /// a `~` not followed by `0` or `1` (RFC 6901 has no other escape).
    pub fn parse(identifier: &str) -> Result<Self, OptionError> {
        let invalid = |message: String| OptionError::new("partitionKeyIdentifier", message);
        if identifier.is_empty() {
            return Err(invalid("must be a non-empty field name or JSON Pointer".into()));
        }
        let segments = match identifier.strip_prefix('/') {
            None => vec![Segment::new(identifier.to_owned())],
            Some(pointer) => pointer
                .split('/')
                .map(|token| {
                    let mut name = String::with_capacity(token.len());
                    let mut chars = token.chars();
                    while let Some(c) = chars.next() {
                        name.push(match c {
                            '~' => match chars.next() {
                                Some('0') => '~',
                                Some('1') => '/',
                                _ => return None,
                            },
                            c => c,
                        });
                    }
                    Some(Segment::new(name))
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid(format!("\"{identifier}\" is not a valid JSON Pointer: \"~\" must be followed by 0 or 1")))?,
        };
        Ok(Self { identifier: identifier.to_owned(), segments })
    }

    /// The identifier as the user wrote it.
    pub fn identifier(&self) -> &str {
        &self.identifier
    }
}

/// Checks a key: 1 to 256 UTF-16 code units.
pub fn validate(key: &str) -> Result<(), RecordError> {
    if key.is_empty() {
        return Err(RecordError::new(RecordErrorCode::InvalidPartitionKey, "partition key is empty"));
    }
    // Every char is 1 or 2 UTF-16 units, so short keys need no count.
    if key.len() > MAX_PARTITION_KEY_UNITS {
        let units = key.encode_utf16().count();
        if units > MAX_PARTITION_KEY_UNITS {
            return Err(RecordError::new(
                RecordErrorCode::InvalidPartitionKey,
                format!("partition key is {units} UTF-16 code units; the limit is {MAX_PARTITION_KEY_UNITS}"),
            ));
        }
    }
    Ok(())
}

/// Reads the partition key at `path` from a record's data, which must be a UTF-8 JSON object.
///
/// - Data that is not valid JSON, not an object at the top, or has nothing at `path` (a member
///   missing, an index out of range, or a step into a string, number, boolean or null):
///   `MissingPartitionKey`.
/// - A string is the key, unescaped (`"a\u00e9"` is `aé`). A number is the key exactly as the
///   data writes it (`1.0`, `-0`, `1e3`, `12345678901234567890`); `true` and `false` are
///   `true` and `false`. Null, an object or an array: `InvalidPartitionKey`.
/// - Duplicate member names: the last one wins, at every step of the path.
/// - A key string that cannot be read (a lone surrogate escape such as `"\ud800"`):
///   `InvalidPartitionKey`, as no valid Unicode key can come of it. In other values it is
///   accepted and carried unchanged (JSON allows the escape and `JSON.stringify` writes it); in
///   a member name it makes the data unreadable here, so `MissingPartitionKey`.
/// - Then `validate`: 1 to 256 UTF-16 code units.
///
/// One pass, with no `serde_json::Value`: the other members are skipped unparsed. Numbers come
/// as written through serde_json's `arbitrary_precision`, which also keeps float parsing and
/// formatting out of the wasm.
pub fn key_from_data(data: &[u8], path: &KeyPath) -> Result<String, RecordError> {
    key_from_json(data, path, false)
}

/// `key_from_data` for data known to be canonical JSON, as `JSON.stringify` writes it: valid,
/// with unique member names. The first match is the key, so the rest is not read.
pub fn key_from_canonical_json(data: &[u8], path: &KeyPath) -> Result<String, RecordError> {
    key_from_json(data, path, true)
}

fn key_from_json(data: &[u8], path: &KeyPath, canonical: bool) -> Result<String, RecordError> {
    let identifier = &path.identifier;
    let missing = |why: &str| {
        RecordError::new(RecordErrorCode::MissingPartitionKey, format!("payload {why} \"{identifier}\" to use as partition key"))
    };
    let invalid = |what: &str| {
        RecordError::new(
            RecordErrorCode::InvalidPartitionKey,
            format!("field \"{identifier}\" {what}; a partition key must be a string, number or boolean"),
        )
    };
    if data.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) != Some(&b'{') {
        return Err(missing("is not a JSON object, so it has no field"));
    }
    let in_key = std::cell::Cell::new(false);
    let early = std::cell::RefCell::new(None);
    // `from_slice`, as the response parser reads: one instance of serde_json's reader in the wasm.
    let mut de = serde_json::Deserializer::from_slice(data);
    let seed = PathSeed { rest: &path.segments, in_key: &in_key, early: canonical.then_some(&early) };
    let found = seed.deserialize(&mut de).and_then(|found| de.end().map(|()| found));
    // Found early, serde_json fails the rest of the document, which was left unread.
    let found = match (found, early.into_inner()) {
        (_, Some(found)) => Ok(Some(found)),
        (found, None) => found,
    };
    let key = match found {
        Ok(Some(Found::Key(key))) => key,
        Ok(Some(Found::Kind(kind))) => return Err(invalid(kind)),
        Ok(None) => return Err(missing("has no field")),
        // A syntax error inside the key's own value: a lone surrogate or a bad escape.
        Err(e) if in_key.get() && e.classify() == serde_json::error::Category::Syntax => {
            return Err(invalid("is a string that is not valid Unicode (a lone surrogate escape such as \\ud800)"))
        }
        Err(e) => {
            let why = format!("is not valid JSON (line {}, column {}), so it has no field", e.line(), e.column());
            return Err(missing(&why));
        }
    };
    validate(&key).map_err(|e| RecordError::new(e.code, format!("field \"{identifier}\": {}", e.message)))?;
    Ok(key)
}

/// The name serde_json gives a number's text under `arbitrary_precision`: a number arrives as a
/// one-member map from this name to its digits as written.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// What the path names.
enum Found {
    Key(String),
    /// A value that cannot be a key: "is null", "is an object", "is an array".
    Kind(&'static str),
}

/// The rest of the path from one value: `None` when nothing is there.
struct PathSeed<'p> {
    rest: &'p [Segment],
    /// Set while the key's own value is read, to tell its errors from the data's.
    in_key: &'p std::cell::Cell<bool>,
    /// For canonical JSON: where the key goes when found; every level then returns at once.
    early: Option<&'p std::cell::RefCell<Option<Found>>>,
}

impl<'de> DeserializeSeed<'de> for PathSeed<'_> {
    type Value = Option<Found>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.rest.is_empty() {
            self.in_key.set(true);
            let found = d.deserialize_any(KeyValue)?;
            self.in_key.set(false);
            if let Some(early) = self.early {
                *early.borrow_mut() = Some(found);
                return Ok(None);
            }
            return Ok(Some(found));
        }
        // `deserialize_any`, not `_map`/`_seq`: see `crate::json`.
        d.deserialize_any(self)
    }
}

impl PathSeed<'_> {
    fn found_early(&self) -> bool {
        self.early.is_some_and(|early| early.borrow().is_some())
    }
}

impl<'de> Visitor<'de> for PathSeed<'_> {
    type Value = Option<Found>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object or array")
    }

    // A step into a scalar finds nothing.
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (segment, rest) = (&self.rest[0], &self.rest[1..]);
        let mut found = None;
        while let Some(name) = map.next_key::<Text>()? {
            if name.0 == NUMBER_TOKEN {
                map.next_value::<IgnoredAny>()?; // a number: nothing inside
                return Ok(None);
            }
            if name.0 == segment.name {
                found = map.next_value_seed(PathSeed { rest, in_key: self.in_key, early: self.early })?;
                if self.found_early() {
                    return Ok(None);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (segment, rest) = (&self.rest[0], &self.rest[1..]);
        let mut found = None;
        let mut i = 0;
        loop {
            if Some(i) == segment.index {
                match seq.next_element_seed(PathSeed { rest, in_key: self.in_key, early: self.early })? {
                    Some(_) if self.found_early() => return Ok(None),
                    Some(value) => found = value,
                    None => return Ok(found),
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(found);
            }
            i += 1;
        }
    }
}

/// The value at the end of the path.
struct KeyValue;

impl<'de> Visitor<'de> for KeyValue {
    type Value = Found;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a partition key")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Found, E> {
        Ok(Found::Key(if v { "true" } else { "false" }.to_owned()))
    }
    // Only without `arbitrary_precision`, which keeps a number's text.
    fn visit_i64<E>(self, v: i64) -> Result<Found, E> {
        Ok(Found::Key(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Found, E> {
        Ok(Found::Key(v.to_string()))
    }
    // Never reached: `arbitrary_precision` gives a number as its digits, and only a float would
    // come here.
    fn visit_f64<E>(self, _: f64) -> Result<Found, E> {
        Ok(Found::Kind("is a number that cannot be read"))
    }
    fn visit_unit<E>(self) -> Result<Found, E> {
        Ok(Found::Kind("is null"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Found, E> {
        Ok(Found::Key(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Found, E> {
        Ok(Found::Key(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Found::Kind("is an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut first = true;
        while let Some(name) = map.next_key::<Text>()? {
            if first && name.0 == NUMBER_TOKEN {
                return Ok(Found::Key(map.next_value::<Text>()?.0.into_owned()));
            }
            first = false;
            map.next_value::<IgnoredAny>()?;
        }
        Ok(Found::Kind("is an object"))
    }
}

/// Formats 16 random bytes as a UUIDv4 (RFC 9562: version 4, variant 10).
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
    out
}

/// Checks an ExplicitHashKey: decimal `0|[1-9][0-9]{0,38}` and at most 2^128 − 1.
pub fn validate_explicit_hash_key(key: &str) -> Result<u128, RecordError> {
    let bad = |why: &str| RecordError::new(RecordErrorCode::InvalidExplicitHashKey, format!("explicit hash key {why}"));
    if key.is_empty() || key.len() > 39 || !key.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("must be a decimal number of 1 to 39 digits"));
    }
    if key.len() > 1 && key.starts_with('0') {
        return Err(bad("must not have leading zeros"));
    }
    key.parse::<u128>().map_err(|_| bad("must be at most 2^128 - 1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn key_length_counts_utf16_units() {
        assert!(validate(&"é".repeat(256)).is_ok(), "256 é are 512 bytes but 256 units");
        assert!(validate(&"😀".repeat(128)).is_ok(), "128 emoji are 256 units");
        let err = validate(&"😀".repeat(129)).unwrap_err();
        assert_eq!(err.code, RecordErrorCode::InvalidPartitionKey);
        assert!(err.message.contains("258"), "{}", err.message);
        assert!(validate(&"a".repeat(256)).is_ok());
        assert!(validate(&"a".repeat(257)).is_err());
        assert_eq!(validate("").unwrap_err().code, RecordErrorCode::InvalidPartitionKey);
    }

    fn key(data: &str, identifier: &str) -> Result<String, RecordError> {
        key_from_data(data.as_bytes(), &KeyPath::parse(identifier).unwrap())
    }

    fn code(data: &str, identifier: &str) -> RecordErrorCode {
        key(data, identifier).unwrap_err().code
    }

    #[test]
    fn identifiers_parse_as_field_names_or_pointers() {
        let err = KeyPath::parse("").unwrap_err();
        assert_eq!(err.option, "partitionKeyIdentifier");
        let names = |id: &str| KeyPath::parse(id).unwrap().segments.into_iter().map(|s| (s.name, s.index)).collect::<Vec<_>>();
        assert_eq!(names("id"), [("id".into(), None)]);
        assert_eq!(names("a/b"), [("a/b".into(), None)], "no leading slash: one literal name");
        assert_eq!(names("~1"), [("~1".into(), None)], "no leading slash: no unescaping");
        assert_eq!(names("/a~1b/~0c/~01"), [("a/b".into(), None), ("~c".into(), None), ("~1".into(), None)]);
        assert_eq!(names("/"), [("".into(), None)]);
        assert_eq!(
            names("/0/7/10/01/-/+1/1.0"),
            [
                ("0".into(), Some(0)),
                ("7".into(), Some(7)),
                ("10".into(), Some(10)),
                ("01".into(), None),
                ("-".into(), None),
                ("+1".into(), None),
                ("1.0".into(), None)
            ]
        );
        for bad in ["/a~", "/a~2", "/~/b"] {
            assert_eq!(KeyPath::parse(bad).unwrap_err().option, "partitionKeyIdentifier", "{bad}");
        }
        assert_eq!(KeyPath::parse("/a/b").unwrap().identifier(), "/a/b");
    }

    #[test]
    fn top_level_fields() {
        assert_eq!(key(r#"{"id":"a4f3","n":1}"#, "id").unwrap(), "a4f3");
        assert_eq!(key(r#" { "x" : [1, {"id": 2}], "id" : "k" } "#, "id").unwrap(), "k");
        assert_eq!(key(r#"{"a/b":"slash","a":{"b":"nested"}}"#, "a/b").unwrap(), "slash");
        assert_eq!(key(r#"{"a/b":"slash","a":{"b":"nested"}}"#, "/a/b").unwrap(), "nested");
        assert_eq!(key(r#"{"":"empty name"}"#, "/").unwrap(), "empty name");
    }

    #[test]
    fn pointers_into_objects_and_arrays() {
        let data = r#"{"customer":{"id":"c-1","tags":["t0","t1",{"k":"deep"}]},"items":[[1,2],[3,4]]}"#;
        assert_eq!(key(data, "/customer/id").unwrap(), "c-1");
        assert_eq!(key(data, "/customer/tags/1").unwrap(), "t1");
        assert_eq!(key(data, "/customer/tags/2/k").unwrap(), "deep");
        assert_eq!(key(data, "/items/1/0").unwrap(), "3");
        for missing in
            ["/customer/name", "/customer/tags/3", "/customer/tags/01", "/customer/tags/-", "/customer/id/x", "/items/0/0/0", "/x"]
        {
            assert_eq!(code(data, missing), RecordErrorCode::MissingPartitionKey, "{missing}");
        }
        // An array index is only a name on an object.
        assert_eq!(key(r#"{"m":{"0":"zero"}}"#, "/m/0").unwrap(), "zero");
        // Not an object at the top, even though the pointer would fit an array.
        assert_eq!(code(r#"["a"]"#, "/0"), RecordErrorCode::MissingPartitionKey);
    }

    #[test]
    fn pointer_escapes() {
        let data = r#"{"a/b":{"c~d":"both"},"~1":"tilde one","/":"slash"}"#;
        assert_eq!(key(data, "/a~1b/c~0d").unwrap(), "both");
        assert_eq!(key(data, "/~01").unwrap(), "tilde one");
        assert_eq!(key(data, "/~1").unwrap(), "slash");
        // Member names are compared unescaped.
        assert_eq!(key(r#"{"\u0069d":"escaped name","a\/b":"x"}"#, "id").unwrap(), "escaped name");
        assert_eq!(key(r#"{"a\/b":"x"}"#, "/a~1b").unwrap(), "x");
    }

    #[test]
    fn duplicate_names_last_wins() {
        assert_eq!(key(r#"{"id":"first","id":"last"}"#, "id").unwrap(), "last");
        assert_eq!(key(r#"{"id":null,"x":0,"id":7}"#, "id").unwrap(), "7");
        assert_eq!(code(r#"{"id":"k","id":null}"#, "id"), RecordErrorCode::InvalidPartitionKey);
        assert_eq!(key(r#"{"a":{"b":"first"},"a":{"b":"last"}}"#, "/a/b").unwrap(), "last");
        assert_eq!(key(r#"{"a":{"b":"x","b":"y"}}"#, "/a/b").unwrap(), "y");
        // The last "a" has no "b": missing, though an earlier one had it.
        assert_eq!(code(r#"{"a":{"b":"first"},"a":{"c":1}}"#, "/a/b"), RecordErrorCode::MissingPartitionKey);
        assert_eq!(code(r#"{"a":{"b":"first"},"a":5}"#, "/a/b"), RecordErrorCode::MissingPartitionKey);
        assert_eq!(key(r#"{"a":5,"a":{"b":"last"}}"#, "/a/b").unwrap(), "last");
    }

    #[test]
    fn strings_are_unescaped() {
        assert_eq!(key(r#"{"id":"a\u00e9"}"#, "id").unwrap(), "aé");
        assert_eq!(key(r#"{"id":"\ud83d\ude00 \"q\" \\ \/ \n"}"#, "id").unwrap(), "😀 \"q\" \\ / \n");
        assert_eq!(key("{\"id\":\"中é😀\"}", "id").unwrap(), "中é😀");
    }

    #[test]
    fn numbers_keep_their_digits_and_booleans_their_names() {
        for n in ["0", "-0", "7", "1.0", "1.50", "-2.5e-7", "12345678901234567890", "1e+400", "0.1000000000000000000001"] {
            assert_eq!(key(&format!(r#"{{"id": {n} }}"#), "id").unwrap(), n);
        }
        // An exponent is written as serde_json writes it: `e`, then its sign.
        for (n, written) in [("1e3", "1e+3"), ("1E+3", "1e+3"), ("2E-7", "2e-7")] {
            assert_eq!(key(&format!(r#"{{"id": {n} }}"#), "id").unwrap(), written);
        }
        assert_eq!(key(r#"{"id":true}"#, "id").unwrap(), "true");
        assert_eq!(key(r#"{"id":false}"#, "id").unwrap(), "false");
        assert_eq!(key(r#"{"a":[false,true]}"#, "/a/1").unwrap(), "true");
    }

    #[test]
    fn null_objects_and_arrays_are_invalid_keys() {
        for (value, kind) in
            [("null", "is null"), ("{}", "is an object"), (r#"{"id":1}"#, "is an object"), ("[]", "is an array"), ("[1]", "is an array")]
        {
            let err = key(&format!(r#"{{"o":{{"id":{value}}}}}"#), "/o/id").unwrap_err();
            assert_eq!(err.code, RecordErrorCode::InvalidPartitionKey, "{value}");
            assert!(err.message.contains("field \"/o/id\""), "{}", err.message);
            assert!(err.message.contains(kind), "{}", err.message);
        }
    }

    #[test]
    fn missing_fields_and_non_object_data() {
        let err = key(r#"{"other":"x"}"#, "id").unwrap_err();
        assert_eq!(err.code, RecordErrorCode::MissingPartitionKey);
        assert_eq!(err.message, "payload has no field \"id\" to use as partition key");
        assert_eq!(code("{}", "id"), RecordErrorCode::MissingPartitionKey);
        assert_eq!(code(r#"{"a":{"id":"nested"}}"#, "id"), RecordErrorCode::MissingPartitionKey, "top level only");
        let not_objects: [&[u8]; 10] =
            [br#""id""#, br#"[{"id":"k"}]"#, b"42", b"true", b"null", b"", b"   ", b"just text", b"\xff\xfe{}", b"\x00"];
        for data in not_objects {
            let err = key_from_data(data, &KeyPath::parse("id").unwrap()).unwrap_err();
            assert_eq!(err.code, RecordErrorCode::MissingPartitionKey, "{:?}", String::from_utf8_lossy(data));
            assert!(err.message.contains("\"id\""), "{}", err.message);
        }
        // Bytes that are not UTF-8 are carried as they are, but no key can come of them.
        assert_eq!(key_from_data(b"{\"x\":\"\xff\",\"id\":\"k\"}", &KeyPath::parse("id").unwrap()).unwrap(), "k");
        assert_eq!(
            key_from_data(b"{\"id\":\"\xff\"}", &KeyPath::parse("id").unwrap()).unwrap_err().code,
            RecordErrorCode::InvalidPartitionKey
        );
        // Invalid JSON: the whole data is checked, also after the key.
        for bad in [
            r#"{"id":"k""#,
            r#"{"id":"k",}"#,
            r#"{"id":"k"} x"#,
            r#"{"id":"k","x":[1,]}"#,
            r#"{"id":"k","x":"\q"}"#,
            "{\"id\":\"k\",\"x\":\"\t\"}",
            r#"{id:"k"}"#,
            r#"{"id":"k"}{}"#,
        ] {
            let err = key(bad, "id").unwrap_err();
            assert_eq!(err.code, RecordErrorCode::MissingPartitionKey, "{bad}");
            assert!(err.message.contains("not valid JSON"), "{}", err.message);
        }
    }

    #[test]
    fn canonical_json_is_read_up_to_the_key_only() {
        let path = KeyPath::parse("id").unwrap();
        // The rest is not read: JSON.stringify's output is valid and has unique names.
        assert_eq!(key_from_canonical_json(br#"{"id":"k","x":[1,2"#, &path).unwrap(), "k");
        assert_eq!(key_from_data(br#"{"id":"k","x":[1,2"#, &path).unwrap_err().code, RecordErrorCode::MissingPartitionKey);
        // What it finds is judged the same way.
        assert_eq!(key_from_canonical_json(br#"{"a":1,"id":null}"#, &path).unwrap_err().code, RecordErrorCode::InvalidPartitionKey);
        assert_eq!(key_from_canonical_json(br#"{"a":1}"#, &path).unwrap_err().code, RecordErrorCode::MissingPartitionKey);
        assert_eq!(key_from_canonical_json(br#"{"id":"\ud800"}"#, &path).unwrap_err().code, RecordErrorCode::InvalidPartitionKey);
        let nested = KeyPath::parse("/c/id").unwrap();
        assert_eq!(key_from_canonical_json(br#"{"c":{"id":12345678901234567890},"z":"#, &nested).unwrap(), "12345678901234567890");
    }

    #[test]
    fn lone_surrogates() {
        // In the key: invalid, whichever half, wherever in the string.
        for s in [r#""\ud800""#, r#""\udc00""#, r#""a\ud83dz""#, r#""\ude00\ud83d""#, r#""\ud83d\u0041""#] {
            let err = key(&format!(r#"{{"id":{s}}}"#), "id").unwrap_err();
            assert_eq!(err.code, RecordErrorCode::InvalidPartitionKey, "{s}");
            assert!(err.message.contains("lone surrogate"), "{}", err.message);
            assert!(err.message.contains("\"id\""), "{}", err.message);
        }
        // In values off the path: accepted, the key is read as usual.
        assert_eq!(key(r#"{"x":"\ud800","id":"k","y":["\udfff"]}"#, "id").unwrap(), "k");
        assert_eq!(key(r#"{"a":{"x":"\ud800","b":"k"}}"#, "/a/b").unwrap(), "k");
        // In a member name, or in a value the path reads: the data cannot be read for a key.
        assert_eq!(code(r#"{"\ud800":1,"id":"k"}"#, "id"), RecordErrorCode::MissingPartitionKey);
        assert_eq!(code(r#"{"\ud800":"k"}"#, "\u{fffd}"), RecordErrorCode::MissingPartitionKey);
        assert_eq!(code(r#"{"id":"\ud800","id":"k"}"#, "id"), RecordErrorCode::InvalidPartitionKey);
    }

    #[test]
    fn found_keys_are_validated() {
        let err = key(r#"{"id":""}"#, "id").unwrap_err();
        assert_eq!(err.code, RecordErrorCode::InvalidPartitionKey);
        assert!(err.message.contains("\"id\"") && err.message.contains("empty"), "{}", err.message);
        assert_eq!(key(&format!(r#"{{"id":"{}"}}"#, "😀".repeat(128)), "id").unwrap(), "😀".repeat(128));
        let err = key(&format!(r#"{{"id":"{}"}}"#, "😀".repeat(129)), "id").unwrap_err();
        assert_eq!(err.code, RecordErrorCode::InvalidPartitionKey);
        assert!(err.message.contains("258 UTF-16"), "{}", err.message);
        // Escapes count once unescaped: 256 × "\u00e9" is 256 units.
        assert!(key(&format!(r#"{{"id":"{}"}}"#, r"\u00e9".repeat(256)), "id").is_ok());
        assert_eq!(code(&format!(r#"{{"id":{}}}"#, "1".repeat(257)), "id"), RecordErrorCode::InvalidPartitionKey);
    }

    /// JSON string text for `s` with every non-ASCII character as `\u` escapes (pairs for
    /// astral ones), the way an ASCII-only encoder writes it.
    fn ascii_json(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
                c => c.encode_utf16(&mut [0; 2]).iter().for_each(|u| out.push_str(&format!("\\u{u:04x}"))),
            }
        }
        out.push('"');
        out
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            (-1e300f64..1e300).prop_map(|n| serde_json::json!(n)),
            any::<String>().prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
                prop::collection::vec((any::<String>(), inner), 0..5).prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// An object's text with `members` in order (duplicates kept), written by serde_json.
    fn object(members: &[(String, String)]) -> String {
        let body: Vec<String> = members.iter().map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap())).collect();
        format!("{{{}}}", body.join(","))
    }

    proptest! {
        #[test]
        fn reads_the_key_from_generated_objects(
            name in "[a-z/~é😀\"\\\\ ]{1,6}",
            outer in prop::option::of("[a-z/~é😀]{0,4}"),
            string_key in prop::option::of("[a-zé😀中\"\\\\/\u{0}\u{1f}\u{7f}\u{2028}\u{ffff}\u{10ffff} ]{1,40}"),
            int_key in any::<i64>(),
            big in any::<u64>(),
            ascii_only in any::<bool>(),
            others in prop::collection::vec(("[a-z/~é\"]{0,6}", json_value()), 0..6),
            at in any::<prop::sample::Index>(),
        ) {
            let (value, expected) = match &string_key {
                Some(s) if ascii_only => (ascii_json(s), s.clone()),
                Some(s) => (serde_json::to_string(s).unwrap(), s.clone()),
                None if ascii_only => (big.to_string(), big.to_string()),
                None => (int_key.to_string(), int_key.to_string()),
            };
            let mut members: Vec<(String, String)> =
                others.iter().filter(|(k, _)| *k != name).map(|(k, v)| (k.clone(), serde_json::to_string(v).unwrap())).collect();
            members.insert(at.index(members.len() + 1), (name.clone(), value));
            let escape = |s: &str| s.replace('~', "~0").replace('/', "~1");
            let (data, identifier) = match &outer {
                // The key one level down, under `outer`, next to the same other members.
                Some(outer) => {
                    let mut top: Vec<(String, String)> =
                        others.iter().filter(|(k, _)| k != outer).map(|(k, v)| (k.clone(), serde_json::to_string(v).unwrap())).collect();
                    top.insert(at.index(top.len() + 1), (outer.clone(), object(&members)));
                    (object(&top), format!("/{}/{}", escape(outer), escape(&name)))
                }
                None if name.starts_with('/') => (object(&members), format!("/{}", escape(&name))),
                None => (object(&members), name.clone()),
            };
            let path = KeyPath::parse(&identifier).unwrap();
            // Canonical JSON (the key's name unique at each level): the early stop gives the same.
            prop_assert_eq!(key_from_canonical_json(data.as_bytes(), &path), Ok(expected.clone()), "{} in {}", identifier, data);
            prop_assert_eq!(key_from_data(data.as_bytes(), &path), Ok(expected), "{} in {}", identifier, data);
        }

    }

    #[test]
    fn canonical_reads_stop_wherever_the_key_is() {
        // The early stop leaves the rest unread: in an array with more elements after it, in an
        // object with more members, or at the very end, the answer is the full read's.
        let cases = [
            (r#"{"a":[{"id":"x","b":2},1,[3]],"z":true}"#, "/a/0/id", Ok("x")),
            (r#"{"a":[0,{"id":7}],"z":{"id":"no"}}"#, "/a/1/id", Ok("7")),
            (r#"{"a":1,"id":"last"}"#, "id", Ok("last")),
            (r#"{"id":"first","a":{"b":[1,2,3]}}"#, "id", Ok("first")),
            (r#"{"id":null,"a":1}"#, "id", Err(RecordErrorCode::InvalidPartitionKey)),
            (r#"{"id":{"x":1},"a":1}"#, "id", Err(RecordErrorCode::InvalidPartitionKey)),
            (r#"{"a":[{"b":1}],"z":2}"#, "/a/0/id", Err(RecordErrorCode::MissingPartitionKey)),
        ];
        for (data, identifier, expected) in cases {
            let path = KeyPath::parse(identifier).unwrap();
            let full = key_from_data(data.as_bytes(), &path);
            let canonical = key_from_canonical_json(data.as_bytes(), &path);
            assert_eq!(full.as_ref().map(String::as_str).map_err(|e| e.code), expected, "{identifier} in {data}");
            assert_eq!(canonical, full, "{identifier} in {data}");
        }
    }

    #[test]
    fn uuid_has_version_and_variant() {
        let u = uuid_v4([0xff; 16]);
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let u = uuid_v4([0; 16]);
        assert_eq!(u, "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn explicit_hash_keys() {
        assert_eq!(validate_explicit_hash_key("0").unwrap(), 0);
        assert_eq!(validate_explicit_hash_key("42").unwrap(), 42);
        assert_eq!(validate_explicit_hash_key(&u128::MAX.to_string()).unwrap(), u128::MAX);
        let over = "340282366920938463463374607431768211456"; // 2^128
        for bad in ["", "01", "-1", "1.5", " 1", "abc", over, "1000000000000000000000000000000000000000"] {
            let err = validate_explicit_hash_key(bad).unwrap_err();
            assert_eq!(err.code, RecordErrorCode::InvalidExplicitHashKey, "{bad:?}");
        }
    }
}
