//! serde_json reads that never format the value they reject.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, Visitor};
use serde::Deserialize;

// Every value is read with `deserialize_any` (or skipped with `IgnoredAny`), and a visitor
// rejects the kinds it does not read with a fixed message (`reject!`). serde's default for those,
// and serde_json's typed reads (`deserialize_str`, `_seq`, `_map`, on which derived types rely),
// format the unexpected value into the error: for a number, a float, and that links float
// formatting, about 28 KB of wasm, for error messages nobody reads (`parse_*` keep no error).

/// The error of a JSON value of the wrong kind.
pub(crate) const WRONG_KIND: &str = "unexpected JSON value";

/// `Visitor` methods that reject these kinds of JSON value: `scalars` (booleans, numbers,
/// `null`), `str`, `seq`, `map`.
macro_rules! reject {
    ($($kind:ident)*) => { $(reject!(@ $kind);)* };
    (@ scalars) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(E::custom($crate::json::WRONG_KIND))
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(E::custom($crate::json::WRONG_KIND))
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(E::custom($crate::json::WRONG_KIND))
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(E::custom($crate::json::WRONG_KIND))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Err(E::custom($crate::json::WRONG_KIND))
        }
    };
    (@ str) => {
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(E::custom($crate::json::WRONG_KIND))
        }
    };
    (@ seq) => {
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(serde::de::Error::custom($crate::json::WRONG_KIND))
        }
    };
    (@ map) => {
        fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(serde::de::Error::custom($crate::json::WRONG_KIND))
        }
    };
}

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
            reject!(scalars seq map);
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

pub(crate) use reject;
