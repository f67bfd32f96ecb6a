//! serde_json reads that never format the value they reject.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

// Every value is read with `deserialize_any` (or skipped with `IgnoredAny`), and every visitor
// answers every kind of value itself. serde's defaults for the kinds a visitor does not read, and
// serde_json's typed reads (`deserialize_str`, `_seq`, `_map`, on which derived types rely), go
// through `Error::custom`: it formats the unexpected value (for a number, a float: float
// formatting, about 28 KB of wasm) and then searches the message for a position (1.8 KB
// gzipped), for error messages nobody reads (`parse_*` keep no error). Without it, every error
// here is serde_json's own syntax error.

/// A JSON string, borrowed from the body when it has no escapes.
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<Text<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            // serde_json gives member names and a number's digits only as strings. Any other
            // kind reads as empty text, which names no member and is no number.
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed("")))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed("")))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed("")))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed("")))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed("")))
            }
            // Left unread: serde_json then fails the document on its own syntax check.
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
                Ok(Text(Cow::Borrowed("")))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
                Ok(Text(Cow::Borrowed("")))
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// One token of a JSON document, in order. Service answers are read as tokens, then walked:
/// one visitor in the wasm instead of a derived type per answer.
#[derive(Debug)]
pub(crate) enum Token<'a> {
    /// An object begins.
    Open,
    /// An array begins.
    OpenArray,
    Close,
    Name(Cow<'a, str>),
    Text(Cow<'a, str>),
    /// A number, as its digits.
    Number(Cow<'a, str>),
    Null,
    /// `true` or `false`.
    Other,
}

/// Appends the tokens of one JSON value; members named other than `names` are skipped unread
/// (serde_json steps over them without recursion, however deep).
struct Tokens<'a, 'b> {
    out: &'b mut Vec<Token<'a>>,
    names: &'b [&'b str],
}

/// The map key serde_json's `arbitrary_precision` gives a number as.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl<'de: 'a, 'a> DeserializeSeed<'de> for Tokens<'a, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Tokens<'a, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.out.push(Token::Text(Cow::Borrowed(v)));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.out.push(Token::Text(Cow::Owned(v.to_owned())));
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.out.push(Token::Number(Cow::Owned(v.to_string())));
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.out.push(Token::Other);
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.out.push(Token::Other);
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.out.push(Token::Other);
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.push(Token::Null);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(Token::OpenArray);
        while seq.next_element_seed(Tokens { out: self.out, names: self.names })?.is_some() {}
        self.out.push(Token::Close);
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut first = true;
        while let Some(Text(name)) = map.next_key::<Text>()? {
            if first && name == NUMBER_TOKEN {
                let Text(digits) = map.next_value::<Text>()?;
                self.out.push(Token::Number(digits));
                return Ok(());
            }
            if first {
                self.out.push(Token::Open);
                first = false;
            }
            if self.names.contains(&name.as_ref()) {
                self.out.push(Token::Name(name));
                map.next_value_seed(Tokens { out: self.out, names: self.names })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if first {
            self.out.push(Token::Open);
        }
        self.out.push(Token::Close);
        Ok(())
    }
}

/// The tokens of an answer that is a JSON object, keeping the members named in `names`.
pub(crate) fn tokens<'a>(body: &'a [u8], names: &[&str]) -> Option<Vec<Token<'a>>> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    Tokens { out: &mut out, names }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    matches!(out.first(), Some(Token::Open)).then_some(out)
}

/// Calls `on_value(depth, name, value)` for each named value (for an object or array, its
/// opening token; its members are one deeper).
pub(crate) fn walk<'a>(tokens: &'a [Token<'a>], mut on_value: impl FnMut(usize, &'a str, &'a Token<'a>)) {
    let mut depth = 0;
    let mut name: Option<&str> = None;
    for token in tokens {
        match token {
            Token::Open | Token::OpenArray => {
                if let Some(n) = name.take() {
                    on_value(depth, n, token);
                }
                depth += 1;
            }
            Token::Close => depth -= 1,
            Token::Name(n) => name = Some(n),
            value => {
                if let Some(n) = name.take() {
                    on_value(depth, n, value);
                }
            }
        }
    }
}
