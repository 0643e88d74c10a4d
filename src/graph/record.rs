//! A record from a server, checked against its resource's field table: every known property
//! must have the JSON type its field says (a string for text, an int32 for an error code, one
//! of the enum's values, an object for a complex property; `null` only where the field is
//! nullable), no known property twice; anything unknown is let through untouched. The check
//! walks the JSON once and builds nothing, so a listing of 100,000 records passed through to a
//! file costs no copies.

use crate::graph::resource::{Field, Kind, Record, Resource};
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, Unexpected, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Checks one record's JSON text; the reason reads like serde's (`invalid type: string "806",
/// expected i32`).
pub fn check(resource: &Resource, text: &str) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_str(text);
    Shape { resource, parent: None }.deserialize(&mut de).map_err(|e| reason(&e))?;
    de.end().map_err(|e| reason(&e))
}

/// Checks one record's JSON text and reads it (unknown properties kept, in their order).
pub fn parse(resource: &Resource, text: &str) -> Result<Record, String> {
    check(resource, text)?;
    serde_json::from_str(text).map_err(|e| reason(&e))
}

/// serde_json's message without its ` at line 1 column 40`, which points into one record.
fn reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).map(String::from).unwrap_or(text)
}

/// The properties of a record (`parent: None`) or of one of its complex properties.
struct Shape<'r> {
    resource: &'r Resource,
    parent: Option<&'static str>,
}

impl Shape<'_> {
    /// The field this key names at this level, or the complex property it opens. (Compared
    /// on the paths as they are, without splitting them: this runs for every property of
    /// every record of a listing.)
    fn known(&self, key: &str) -> Known {
        let fields = self.resource.fields;
        match self.parent {
            None => {
                if let Some(f) = fields.iter().find(|f| f.path == key && !key.contains('/')) {
                    return Known::Field(f);
                }
                let opens = |f: &&Field| {
                    f.path.len() > key.len()
                        && f.path.starts_with(key)
                        && f.path.as_bytes()[key.len()] == b'/'
                };
                match fields.iter().find(opens) {
                    Some(f) => Known::Complex(&f.path[..key.len()]),
                    None => Known::Unknown,
                }
            }
            Some(parent) => fields
                .iter()
                .find(|f| {
                    f.path.len() == parent.len() + 1 + key.len()
                        && f.path.starts_with(parent)
                        && f.path.as_bytes()[parent.len()] == b'/'
                        && f.path.ends_with(key)
                })
                .map_or(Known::Unknown, Known::Field),
        }
    }
}

enum Known {
    Field(&'static Field),
    Complex(&'static str),
    Unknown,
}

impl<'de> DeserializeSeed<'de> for Shape<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Shape<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.parent {
            None => write!(f, "a {} object", self.resource.entity),
            Some(parent) => write!(f, "an object for {parent}"),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen: Vec<&'static str> = Vec::new();
        let mut has_key = self.parent.is_some();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let key = key.0;
            match self.known(&key) {
                Known::Field(field) => {
                    if seen.contains(&field.path) {
                        return Err(A::Error::duplicate_field(field.name()));
                    }
                    seen.push(field.path);
                    has_key |= field.kind == Kind::Key;
                    map.next_value_seed(Value(field))?;
                }
                Known::Complex(parent) => {
                    if seen.contains(&parent) {
                        return Err(A::Error::duplicate_field(parent));
                    }
                    seen.push(parent);
                    map.next_value_seed(Shape { resource: self.resource, parent: Some(parent) })?;
                }
                Known::Unknown => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !has_key {
            return Err(A::Error::missing_field(self.resource.fields[0].name()));
        }
        Ok(())
    }
}

/// A property name, borrowed from the text when it holds no escape.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a property name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(Visit)
    }
}

/// One known property's value, checked against its field.
struct Value(&'static Field);

impl<'de> DeserializeSeed<'de> for Value {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Value {
    fn refuse<E: serde::de::Error>(&self, got: Unexpected<'_>) -> Result<(), E> {
        Err(E::invalid_type(got, self))
    }
}

impl<'de> Visitor<'de> for Value {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let what = match self.0.kind {
            Kind::Int32 => "i32",
            Kind::Enum(_) => "one of the enum's values",
            _ => "a string",
        };
        if self.0.nullable { write!(f, "{what} or null") } else { f.write_str(what) }
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        match self.0.kind {
            Kind::Int32 => self.refuse(Unexpected::Str(v)),
            Kind::Enum(values) if !values.contains(&v) => Err(E::unknown_variant(v, values)),
            _ => Ok(()),
        }
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        match self.0.kind {
            Kind::Int32 if i32::try_from(v).is_ok() => Ok(()),
            Kind::Int32 => Err(E::invalid_value(Unexpected::Signed(v), &self)),
            _ => self.refuse(Unexpected::Signed(v)),
        }
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        match self.0.kind {
            Kind::Int32 if i32::try_from(v).is_ok() => Ok(()),
            Kind::Int32 => Err(E::invalid_value(Unexpected::Unsigned(v), &self)),
            _ => self.refuse(Unexpected::Unsigned(v)),
        }
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.refuse(Unexpected::Float(v))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.refuse(Unexpected::Bool(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        if self.0.nullable { Ok(()) } else { self.refuse(Unexpected::Unit) }
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.refuse(Unexpected::Seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.refuse(Unexpected::Map)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::imported::IMPORTED;
    use crate::graph::model::Device;

    /// The check over the imported identity agrees with the typed model the embedded server
    /// keeps (which serde checks field by field), case by case.
    #[test]
    fn the_check_agrees_with_the_typed_model() {
        let base = serde_json::json!({
            "@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity",
            "id": "d1", "groupTag": "Sales", "assignedUserPrincipalName": null, "hardwareIdentifier": "AAEC",
            "importId": "i", "productKey": "", "serialNumber": "S\\u00e9\"1", "future": {"x": [1]},
            "state": {"deviceImportStatus": "error", "deviceRegistrationId": null, "deviceErrorCode": 806,
                      "deviceErrorName": "ZtdDeviceAlreadyAssigned", "@odata.type": "x"}
        });
        let values = [
            serde_json::json!(null),
            serde_json::json!("text"),
            serde_json::json!("error"),
            serde_json::json!("Complete"),
            serde_json::json!(806),
            serde_json::json!(-1),
            serde_json::json!(2_147_483_648_i64),
            serde_json::json!(1.5),
            serde_json::json!(true),
            serde_json::json!([]),
            serde_json::json!(["error", null, 806, null]),
            serde_json::json!({}),
        ];
        let device_keys = [
            "id",
            "assignedUserPrincipalName",
            "groupTag",
            "hardwareIdentifier",
            "importId",
            "productKey",
            "serialNumber",
            "state",
            "future",
        ];
        let state_keys =
            ["deviceImportStatus", "deviceRegistrationId", "deviceErrorCode", "deviceErrorName", "other"];
        let mut cases = vec![
            base.clone(),
            serde_json::json!({"id": "only"}),
            serde_json::json!({}),
            serde_json::json!([1]),
        ];
        for key in device_keys {
            let mut without = base.clone();
            without.as_object_mut().unwrap().remove(key);
            cases.push(without);
            for v in &values {
                let mut doc = base.clone();
                doc[key] = v.clone();
                cases.push(doc);
            }
        }
        for key in state_keys {
            let mut without = base.clone();
            without["state"].as_object_mut().unwrap().remove(key);
            cases.push(without);
            for v in &values {
                let mut doc = base.clone();
                doc["state"][key] = v.clone();
                cases.push(doc);
            }
        }
        let mut refused = 0;
        for case in &cases {
            let text = case.to_string();
            let model = serde_json::from_str::<Device>(&text).is_ok();
            assert_eq!(check(&IMPORTED, &text).is_ok(), model, "{text}");
            refused += usize::from(!model);
        }
        assert!(refused > 50, "only {refused} of {} cases were refused", cases.len());
        let duplicated = r#"{"id": "a", "groupTag": "x", "groupTag": "y"}"#;
        assert!(check(&IMPORTED, duplicated).is_err());
        assert_eq!(
            check(&IMPORTED, r#"{"id": "b2", "state": {"deviceErrorCode": "806"}}"#),
            Err(r#"invalid type: string "806", expected i32"#.to_string())
        );
    }

    #[test]
    fn parse_keeps_unknown_properties_in_order() {
        let record = parse(&IMPORTED, r#"{"id":"a","zeta":1,"groupTag":"x","alpha":[2]}"#).unwrap();
        let keys: Vec<&str> = record.keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "zeta", "groupTag", "alpha"]);
    }
}
