//! Integers on the wire as JSON Schema reads them.
//!
//! JSON Schema's `integer` accepts any number with a zero fractional part
//! (JSON Schema 2020-12 Validation, §6.1.1: "1.0" is an integer), so a
//! client that sends `"file_size": 35.0` follows the OpenAPI document; serde's
//! `u64` would refuse it. These `deserialize_with` helpers take such numbers
//! and refuse real fractions with a message naming what is allowed.

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Num {
    Int(u64),
    Float(f64),
}

fn to_u64<E: serde::de::Error>(n: Num) -> Result<u64, E> {
    match n {
        Num::Int(v) => Ok(v),
        Num::Float(f) if f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f) => Ok(f as u64),
        Num::Float(f) => Err(E::custom(format!("expected a whole non-negative number, got {f}"))),
    }
}

fn to_u32<E: serde::de::Error>(n: Num) -> Result<u32, E> {
    let v = to_u64::<E>(n)?;
    u32::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))
}

/// A `u64` that may arrive as `35.0`.
pub fn u64_int<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    to_u64(Num::deserialize(d)?)
}

/// An optional `u32` that may arrive as `720.0`.
pub fn opt_u32_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Option::<Num>::deserialize(d)?.map(to_u32).transpose()
}

/// A list of `u32` whose items may arrive as `720.0`.
pub fn vec_u32_int<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
    Vec::<Num>::deserialize(d)?.into_iter().map(to_u32::<D::Error>).collect()
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct S {
        #[serde(deserialize_with = "super::u64_int")]
        a: u64,
        #[serde(default, deserialize_with = "super::opt_u32_int")]
        b: Option<u32>,
        #[serde(deserialize_with = "super::vec_u32_int")]
        c: Vec<u32>,
    }

    #[test]
    fn whole_floats_are_integers_and_fractions_are_refused() {
        let s: S = serde_json::from_str(r#"{"a": 35.0, "b": 720.0, "c": [1080, 720.0]}"#).unwrap();
        assert_eq!((s.a, s.b, s.c), (35, Some(720), vec![1080, 720]));
        let s: S = serde_json::from_str(r#"{"a": 1, "b": null, "c": []}"#).unwrap();
        assert_eq!((s.a, s.b), (1, None));
        for bad in [r#"{"a": 1.5, "c": []}"#, r#"{"a": -1, "c": []}"#, r#"{"a": 1, "c": [1e12]}"#] {
            assert!(serde_json::from_str::<S>(bad).is_err(), "{bad}");
        }
    }
}
