//! Reading and changing the records the client hands back (JSON objects), for tests.

#![allow(dead_code)]

use autopilot_tui::graph::resource::Record;

/// Accessors by property name (`serialNumber`, `state/deviceErrorCode`).
pub trait RecordExt {
    /// The `id`.
    fn id(&self) -> String;
    /// A string property, `None` when absent or not a string.
    fn text(&self, path: &str) -> Option<&str>;
    /// Sets a string property (`None`: null).
    fn set_text(&mut self, path: &str, value: Option<&str>);
}

impl RecordExt for Record {
    fn id(&self) -> String {
        self.text("id").unwrap_or_default().to_string()
    }

    fn text(&self, path: &str) -> Option<&str> {
        let value = match path.split_once('/') {
            Some((parent, name)) => self.get(parent)?.get(name)?,
            None => self.get(path)?,
        };
        value.as_str()
    }

    fn set_text(&mut self, path: &str, value: Option<&str>) {
        let value = value.map_or(serde_json::Value::Null, |v| serde_json::Value::String(v.into()));
        self.insert(path.to_string(), value);
    }
}
