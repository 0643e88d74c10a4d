//! Writes `assets/demo-devices.json`, the demo data set the binary embeds.
//!
//! Run once with `cargo run --example gen_demo_devices`; the output is committed. Hashes are left
//! out on purpose: the server derives a deterministic 4 KB hash for every record that has no
//! `hardwareIdentifier` key, which keeps the asset small. A few records are adjusted by hand
//! below so the demo shows the cases admins meet (a quote in a tag, a missing hash).

use autopilot_tui::graph::model::{DEVICE_ODATA_TYPE, STATE_ODATA_TYPE};
use autopilot_tui::server::data::generated_device;
use serde_json::{Map, Value};

const SEED: u64 = 2026;
const DEVICES: u64 = 250;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut records = Vec::new();
    for index in 0..DEVICES {
        let device = generated_device(SEED, index, false);
        let mut record = serde_json::to_value(&device)?;
        let Value::Object(fields) = &mut record else { continue };
        fields.shift_remove("hardwareIdentifier");
        if let Some(Value::Object(state)) = fields.get_mut("state") {
            let mut typed = Map::new();
            typed.insert("@odata.type".into(), Value::String(STATE_ODATA_TYPE.into()));
            typed.append(state);
            *state = typed;
        }
        // Graph puts the type annotation first.
        let mut map = Map::new();
        map.insert("@odata.type".into(), Value::String(DEVICE_ODATA_TYPE.into()));
        map.append(fields);
        match index {
            // A quote inside a value, for '' escapes in $filter.
            7 => {
                map.insert("groupTag".into(), Value::String("O'Brien-Lab".into()));
            }
            // Records imported without a usable hash.
            13 | 101 => {
                map.insert("hardwareIdentifier".into(), Value::Null);
            }
            _ => {}
        }
        records.push(Value::Object(map));
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo-devices.json");
    std::fs::write(path, serde_json::to_string_pretty(&records)? + "\n")?;
    println!("wrote {} devices to {path}", records.len());
    Ok(())
}
