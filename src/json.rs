//! A small JSON reader for the two answers the core reads: the PutRecords result and the error
//! envelope. It walks the bytes once and copies out only the strings asked for.
//!
//! Why not serde_json: it was the largest part of the wasm (about 60 KB of 215 KB, float
//! formatting and parsing included, 27 KB gzipped), for two objects of at most three string
//! fields. See BENCHMARKS.md ("wasm size"). serde_json stays a dev-dependency: the tests check
//! this reader against it.
//!
//! It accepts exactly RFC 8259 JSON (UTF-8, no trailing commas, no comments, nothing after the
//! value) and nests at most `MAX_DEPTH` deep; anything else is `None`.

const MAX_DEPTH: usize = 128;

pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0, depth: 0 }
    }

    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.at) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    #[inline(always)]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    /// `null` gives `Some(None)`; a string gives `Some(Some(text))`; anything else `None`.
    pub fn string_or_null(&mut self) -> Option<Option<String>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        self.string().map(Some)
    }

    pub fn is_string(&mut self) -> bool {
        self.peek() == Some(b'"')
    }

    pub fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let start = self.at;
            while let Some(&b) = self.bytes.get(self.at) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            out.extend_from_slice(&self.bytes[start..self.at]);
            match *self.bytes.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return String::from_utf8(out).ok();
                }
                b'\\' => {
                    let escape = *self.bytes.get(self.at + 1)?;
                    self.at += 2;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                _ => return None, // a raw control character
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        self.at += 4;
        digits.iter().try_fold(0, |n, &d| Some(n * 16 + (d as char).to_digit(16)?))
    }

    /// After `\u`: one code point, from a surrogate pair when it takes two escapes.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xd800..0xdc00).contains(&first) {
            if self.bytes.get(self.at..self.at + 2)? != b"\\u" {
                return None;
            }
            self.at += 2;
            let second = self.hex4()?;
            if !(0xdc00..0xe000).contains(&second) {
                return None;
            }
            return char::from_u32(0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00));
        }
        char::from_u32(first)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.bytes.get(self.at..self.at + word.len())? == word).then(|| self.at += word.len())
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.bytes.get(self.at)? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            (self.digits() > 0).then_some(())?;
        }
        if matches!(self.bytes.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.bytes.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        Some(())
    }

    /// Steps over any one value.
    pub fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => self.object(|r, _| r.skip()),
            b'[' => self.array(Reader::skip),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    /// Reads an object, calling `field` with each key; `field` must read or skip the value.
    pub fn object(&mut self, mut field: impl FnMut(&mut Self, &str) -> Option<()>) -> Option<()> {
        let mut escaped = String::new();
        self.nested(b'{', b'}', &mut |r| {
            let key = match r.raw_string()? {
                Some(raw) => raw,
                None => {
                    escaped = r.string()?;
                    &escaped
                }
            };
            r.eat(b':')?;
            field(r, key)
        })
    }

    /// A string without escapes, borrowed from the input; `Some(None)` (nothing consumed) when it
    /// has escapes.
    fn raw_string(&mut self) -> Option<Option<&'a str>> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at + 1;
        let mut end = start;
        loop {
            match *self.bytes.get(end)? {
                b'"' => break,
                b'\\' => return Some(None),
                b if b < 0x20 => return None,
                _ => end += 1,
            }
        }
        let text = std::str::from_utf8(&self.bytes[start..end]).ok()?;
        self.at = end + 1;
        Some(Some(text))
    }

    /// Steps over a string, checking it as `string` does, without copying it.
    fn skip_string(&mut self) -> Option<()> {
        match self.raw_string()? {
            Some(_) => Some(()),
            None => self.string().map(drop),
        }
    }

    /// Reads an array, calling `item` for each element; `item` must read or skip it.
    pub fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.nested(b'[', b']', &mut item)
    }

    /// `each` is `dyn`: a copy of this loop per caller cost 4 KB of wasm.
    fn nested(&mut self, open: u8, close: u8, each: &mut dyn FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(open)?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        if self.eat(close).is_none() {
            loop {
                each(self)?;
                if self.eat(b',').is_none() {
                    self.eat(close)?;
                    break;
                }
            }
        }
        self.depth -= 1;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every string in `bytes` in document order, or `None` where serde_json would fail.
    fn strings(bytes: &[u8]) -> Option<Vec<String>> {
        fn walk(r: &mut Reader, out: &mut Vec<String>) -> Option<()> {
            if r.is_string() {
                out.push(r.string()?);
                return Some(());
            }
            match r.peek()? {
                b'{' => r.object(|r, k| {
                    out.push(k.to_owned());
                    walk(r, out)
                }),
                b'[' => r.array(|r| walk(r, out)),
                _ => r.skip(),
            }
        }
        let mut r = Reader::new(bytes);
        let mut out = Vec::new();
        walk(&mut r, &mut out)?;
        r.end()?;
        Some(out)
    }

    fn serde_strings(bytes: &[u8]) -> Option<Vec<String>> {
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::String(s) => out.push(s.clone()),
                serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                serde_json::Value::Object(o) => o.iter().for_each(|(k, v)| {
                    out.push(k.clone());
                    walk(v, out)
                }),
                _ => {}
            }
        }
        let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let mut out = Vec::new();
        walk(&v, &mut out);
        Some(out)
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let cases: &[&[u8]] = &[
            br#"{"a":"x","b":[1,-2.5e+3,true,false,null,{"c":"\u00e9\ud83d\ude00\n\"\\\/"}],"d":{}}"#,
            b" [ ] ",
            b"0",
            b"-0.0E-0",
            br#""\u0000""#,
            "\"é😀\"".as_bytes(),
        ];
        for case in cases {
            assert_eq!(strings(case), serde_strings(case), "{}", String::from_utf8_lossy(case));
            assert!(strings(case).is_some());
        }
        let bad: &[&[u8]] = &[
            b"",
            b"{",
            b"[1,]",
            b"{\"a\":1,}",
            b"01",
            b"1.",
            b"1e",
            b"-",
            b"+1",
            b"tru",
            b"nul",
            b"\"a",
            b"\"\x01\"",
            br#""\x""#,
            br#""\ud83d""#,
            br#""\ud83dx""#,
            br#""\ude00""#,
            b"\"\xff\"",
            b"{} {}",
            b"{1:2}",
            b"[1 2]",
            b"NaN",
        ];
        for case in bad {
            assert_eq!(strings(case), None, "{}", String::from_utf8_lossy(case));
            assert_eq!(serde_strings(case), None, "{}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(strings(deep(MAX_DEPTH).as_bytes()).is_some());
        assert!(strings(deep(100_000).as_bytes()).is_none(), "no stack overflow");
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json_on_generated_documents(v in json_value()) {
            let text = serde_json::to_vec(&v).unwrap();
            prop_assert_eq!(strings(&text), serde_strings(&text));
        }

        #[test]
        fn agrees_with_serde_json_on_arbitrary_bytes(bytes in prop::collection::vec(prop::sample::select(&b"{}[]\",:\\u0123456789abcdefnultrsE.+- \xc3\xa9"[..]), 0..40)) {
            // Validity only: serde_json's map sorts and dedups keys, so the order of strings differs.
            prop_assert_eq!(strings(&bytes).is_some(), serde_strings(&bytes).is_some());
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            (-1e300f64..1e300).prop_map(|n| serde_json::json!(n)),
            any::<String>().prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6).prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
