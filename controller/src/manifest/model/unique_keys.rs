//! Mappings in which a key written twice is an error.
//!
//! serde's maps keep the last of two equal keys without a word: `env: {A: "1", A: "2"}` would
//! deploy `A=2` and nobody would learn that the first was ever written. serde's derive already
//! rejects a struct field written twice; these readers do the same for the free-form maps of a
//! manifest (labels, annotations, env, secrets, environment overrides at any depth), so the
//! guarantee holds whatever reads the document, not only the YAML position index.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// The message of a repeated key; the YAML reader recognises it to point at both lines.
pub fn duplicate_key_message(key: &str) -> String {
    format!("duplicate key `{key}`")
}

/// A `BTreeMap<String, V>` field that refuses a repeated key
/// (`#[serde(deserialize_with = "unique_keys::map")]`).
pub fn map<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Keys<V>(PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for Keys<V> {
        type Value = BTreeMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = access.next_key::<String>()? {
                if out.contains_key(&key) {
                    return Err(A::Error::custom(duplicate_key_message(&key)));
                }
                let value = access.next_value()?;
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(Keys(PhantomData))
}

/// A map of free-form JSON values that refuses a repeated key at any depth.
pub fn json_map<'de, D>(deserializer: D) -> Result<BTreeMap<String, serde_json::Value>, D::Error>
where
    D: Deserializer<'de>,
{
    match UniqueJson.deserialize(deserializer)? {
        serde_json::Value::Object(object) => Ok(object.into_iter().collect()),
        serde_json::Value::Null => Ok(BTreeMap::new()),
        other => Err(D::Error::custom(format!(
            "invalid type: {}, expected a mapping",
            kind(&other)
        ))),
    }
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a sequence",
        serde_json::Value::Object(_) => "a mapping",
    }
}

/// Reads any value as `serde_json::Value` does, refusing repeated keys.
struct UniqueJson;

impl<'de> DeserializeSeed<'de> for UniqueJson {
    type Value = serde_json::Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueJson {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
        // As serde_json::Value reads it: a number JSON cannot hold (NaN, infinities) is null.
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E: Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueJson)? {
            items.push(item);
        }
        Ok(items.into())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(A::Error::custom(duplicate_key_message(&key)));
            }
            let value = access.next_value_seed(UniqueJson)?;
            object.insert(key, value);
        }
        Ok(object.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Doc {
        #[serde(default, deserialize_with = "map")]
        env: BTreeMap<String, String>,
        #[serde(default, deserialize_with = "json_map")]
        over: BTreeMap<String, serde_json::Value>,
    }

    fn read(text: &str) -> Result<Doc, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_and_distinct_keys_are_kept() {
        let err = read(r#"{"env": {"A": "1", "A": "2"}}"#).unwrap_err();
        assert!(err.contains("duplicate key `A`"), "{err}");
        let err = read(r#"{"over": {"x": {"y": [{"z": 1, "z": 2}]}}}"#).unwrap_err();
        assert!(err.contains("duplicate key `z`"), "{err}");
        let doc = read(r#"{"env": {"A": "1", "B": "2"}, "over": {"x": {"y": [1, {"z": null}]}}}"#)
            .unwrap();
        assert_eq!(doc.env.len(), 2);
        assert_eq!(doc.over["x"]["y"][1]["z"], serde_json::Value::Null);
    }

    #[test]
    fn an_override_that_is_not_a_mapping_is_refused() {
        let err = read(r#"{"over": [1]}"#).unwrap_err();
        assert!(err.contains("expected a mapping"), "{err}");
    }
}
