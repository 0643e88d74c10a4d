//! The demo tenant's records, and deterministic, plausible ones derived from `(seed, index)`:
//! imported identities (the import queue) and registered Autopilot devices, consistent with each
//! other. A completed import has a registered twin with its serial whose id is the import's
//! `state.deviceRegistrationId`; an import that failed with 806 (`ZtdDeviceAlreadyAssigned`)
//! has a registered device with its serial, registered before (so not linked by id); other
//! failed or unfinished imports have none. Registered devices without an import record were
//! registered by the OEM or reseller, or imported long ago and cleaned up.
//!
//! Nothing generated is stored: every field (and the 4 KB hardware hash) is recomputed from the
//! pair on demand, and only the properties a caller wants are built, so a data set of a million
//! devices costs no memory until one is changed and a scan builds only what it reads.

use super::schema::NEVER;
use super::store::{Base, Wanted};
use crate::graph::model::{Device, DeviceState, ImportStatus};
use crate::graph::resource::Record;
use crate::graph::validate::encode_binary;
use serde_json::{Map, Value};
use std::time::{Duration, SystemTime};

/// Size of a generated hardware hash before base64 (real Autopilot hashes are about 4 KB).
pub const HASH_BYTES: usize = 4096;

/// The demo imported identities, generated once by `examples/gen_demo_devices.rs`. Records
/// without a `hardwareIdentifier` key get a deterministic 4 KB hash at load (keeps the asset small).
const DEMO_DEVICES: &str = include_str!("../../assets/demo-devices.json");
/// The seed `examples/gen_demo_devices.rs` made the demo asset with; the demo's registered
/// devices are drawn from it too.
const DEMO_SEED: u64 = 2026;
/// Registered devices of the demo tenant that have no import record (OEM-registered, or imported
/// long ago and cleaned up), beside the twins of its imports.
const DEMO_REGISTERED_ONLY: u64 = 230;

/// SplitMix64: tiny, fast, and good enough to make demo data look random.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for the stream named by `seed` and `index`.
    pub fn new(seed: u64, index: u64) -> SplitMix64 {
        // Mix the pair first so neighbouring indices start far apart.
        let mut g = SplitMix64(seed ^ 0x9E37_79B9_7F4A_7C15);
        let a = g.next_u64();
        SplitMix64(a ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (bound > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Streams of the generator, so that adding a field never reshuffles the others.
const STREAM_ID: u64 = 1;
const STREAM_FIELDS: u64 = 2;
const STREAM_HASH: u64 = 3;
const STREAM_IMPORT: u64 = 4;
const STREAM_REGISTERED: u64 = 6;
const STREAM_MANAGED: u64 = 7;
const STREAM_ENTRA: u64 = 8;
/// Mixed into the seed for registered devices' ids, so they never pass for imported ones.
const REGISTRATION_SALT: u64 = 0x5EED_0FA0_7091_1007;

fn guid(bits_hi: u64, bits_lo: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        bits_hi >> 32,
        (bits_hi >> 16) & 0xffff,
        bits_hi & 0xfff,
        0x8000 | ((bits_lo >> 48) & 0x3fff),
        bits_lo & 0xffff_ffff_ffff
    )
}

fn index_mask(seed: u64) -> u64 {
    SplitMix64::new(seed, u64::MAX).next_u64() & MASK48
}

const MASK48: u64 = 0xffff_ffff_ffff;
/// Odd multipliers and their inverses modulo 2^48: a bijection on 48 bits that hides the index.
const MUL_A: u64 = 0x5851_f42d_4c95;
const MUL_B: u64 = 0x2545_f491_4f6d;

/// The inverse of an odd number modulo 2^64 (Newton's iteration), hence modulo 2^48 too.
const fn inverse(odd: u64) -> u64 {
    let mut inv = odd;
    let mut round = 0;
    while round < 6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(inv)));
        round += 1;
    }
    inv
}

fn scramble(seed: u64, index: u64) -> u64 {
    let f = ((index ^ index_mask(seed)).wrapping_mul(MUL_A)) & MASK48;
    let g = f ^ (f >> 24);
    g.wrapping_mul(MUL_B) & MASK48
}

fn unscramble(seed: u64, hidden: u64) -> u64 {
    let g = hidden.wrapping_mul(inverse(MUL_B)) & MASK48;
    let f = g ^ (g >> 24);
    (f.wrapping_mul(inverse(MUL_A)) & MASK48) ^ index_mask(seed)
}

/// The id of imported device `index` (below 2^48) in the data set of `seed`: GUID-shaped,
/// random-looking, and reversible (the last group hides the index), so a lookup by id needs no
/// table.
pub fn device_id(seed: u64, index: u64) -> String {
    let mut g = SplitMix64::new(seed ^ STREAM_ID, index);
    let hi = g.next_u64();
    let lo = (g.next_u64() & !MASK48) | scramble(seed, index & MASK48);
    guid(hi, lo)
}

/// The index hidden in an id made by [`device_id`] for this seed, if it is one.
pub fn index_of_id(seed: u64, id: &str) -> Option<u64> {
    let last = id.rsplit('-').next()?;
    if last.len() != 12 {
        return None;
    }
    let index = unscramble(seed, u64::from_str_radix(last, 16).ok()?);
    (device_id(seed, index).eq_ignore_ascii_case(id)).then_some(index)
}

/// The id of registered device `index` of the data set `seed`, which is also the
/// `deviceRegistrationId` of imported device `index` when that import completed. Reversible
/// like [`device_id`].
pub fn registration_id(seed: u64, index: u64) -> String {
    device_id(seed ^ REGISTRATION_SALT, index)
}

/// The index hidden in an id made by [`registration_id`] for this seed, if it is one.
pub fn index_of_registration_id(seed: u64, id: &str) -> Option<u64> {
    index_of_id(seed ^ REGISTRATION_SALT, id)
}

/// A GUID derived from a seed, a stream and a number (import batches, Entra and Intune ids).
fn derived_guid(seed: u64, stream: u64, n: u64) -> String {
    let mut g = SplitMix64::new(seed ^ stream.rotate_left(17), n);
    guid(g.next_u64(), g.next_u64())
}

/// The base64 text of a 4 KB pseudo-random hardware hash named by `key`.
pub fn hardware_hash(key: u64) -> String {
    let mut g = SplitMix64::new(STREAM_HASH, key);
    let mut bytes = Vec::with_capacity(HASH_BYTES);
    // Real hashes start with a small fixed header; imitate one so blobs look alike at a glance.
    bytes.extend_from_slice(&[0x4f, 0x41, 0x01, 0x00, 0x10, 0x00]);
    while bytes.len() < HASH_BYTES {
        bytes.extend_from_slice(&g.next_u64().to_le_bytes());
    }
    bytes.truncate(HASH_BYTES);
    encode_binary(&bytes)
}

/// A stable 64-bit key for a string (FNV-1a), to derive a hash for a device known by its id.
pub fn key_of(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

const ALNUM: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";

fn chars(g: &mut SplitMix64, alphabet: &[u8], n: usize) -> String {
    (0..n).map(|_| char::from(*g.pick(alphabet))).collect()
}

/// A serial number in the style of one of the big OEMs.
fn serial(g: &mut SplitMix64) -> String {
    match g.below(100) {
        // Dell service tag: 7 alphanumerics.
        0..35 => chars(g, ALNUM, 7),
        // Lenovo: PF + 6.
        35..65 => format!("PF{}", chars(g, ALNUM, 6)),
        // HP: 5CG + 7, 10 in all.
        65..90 => format!("5CG{}{}", chars(g, DIGITS, 4), chars(g, ALNUM, 3)),
        // Microsoft Surface: 12 digits.
        _ => chars(g, DIGITS, 12),
    }
}

const GROUP_TAGS: &[Option<&str>] = &[
    Some("Sales-EMEA"),
    Some("Sales-NA"),
    Some("Kiosk"),
    Some("Finance-NYC"),
    Some("Engineering"),
    Some("HR-London"),
    Some("Warehouse-DE"),
    Some("Exec"),
    None,
    None,
];
const FIRST: &[&str] =
    &["ana", "ben", "chloe", "dmitri", "elif", "farah", "goran", "hana", "ivan", "jia", "kofi", "lena"];
const LAST: &[&str] =
    &["silva", "novak", "martin", "okafor", "berg", "tanaka", "rossi", "kowalski", "nguyen", "smith"];
const ERRORS: &[(i32, &str)] = &[
    (806, "ZtdDeviceAlreadyAssigned"),
    (808, "ZtdDeviceAssignedToOtherTenant"),
    (807, "ZtdDeviceDuplicated"),
    (802, "InvalidZtdHardwareHash"),
    (500, "StorageError"),
];
/// `ZtdDeviceAlreadyAssigned`: the device is registered in this tenant already.
pub(super) const ALREADY_REGISTERED: i32 = 806;
/// `ZtdDeviceAssignedToOtherTenant`: the device is registered in another tenant.
pub(super) const OTHER_TENANT: i32 = 808;
/// Where a registered device keeps its hardware hash: not a property of
/// `windowsAutopilotDeviceIdentity`, so never answered (only the field table's names are), but
/// the import processing compares hashes with it.
pub(super) const REGISTERED_HASH: &str = "@server.hardwareIdentifier";

fn user_principal_name(first: &str, last: &str) -> String {
    format!("{first}.{last}@contoso.com")
}

// ---------------------------------------------------------------------------------------------
// Imported identities

/// What imported device `index` of data set `seed` is, before it is written out as a typed
/// [`Device`] or a JSON record.
struct ImportedDraw {
    serial: String,
    group_tag: Option<&'static str>,
    user: Option<(&'static str, &'static str)>,
    product_key: Option<String>,
    status: ImportStatus,
    error: Option<(i32, &'static str)>,
    index: u64,
    seed: u64,
}

fn imported_draw(seed: u64, index: u64) -> ImportedDraw {
    let mut g = SplitMix64::new(seed ^ STREAM_FIELDS, index);
    let serial = serial(&mut g);
    let group_tag = *g.pick(GROUP_TAGS);
    let user = if g.below(2) == 0 { None } else { Some((*g.pick(FIRST), *g.pick(LAST))) };
    let product_key = match g.below(10) {
        0..7 => Some(String::new()),
        7..9 => None,
        _ => Some(format!("00330-{:05}-{:05}-AAOEM", g.below(100_000), g.below(100_000))),
    };
    let (status, error) = match g.below(100) {
        0..70 => (ImportStatus::Complete, None),
        70..82 => (ImportStatus::Error, Some(*g.pick(ERRORS))),
        82..87 => (ImportStatus::Pending, None),
        87..92 => (ImportStatus::Partial, None),
        _ => (ImportStatus::Unknown, None),
    };
    ImportedDraw { serial, group_tag, user, product_key, status, error, index, seed }
}

impl ImportedDraw {
    fn id(&self) -> String {
        device_id(self.seed, self.index)
    }

    fn registration_id(&self) -> Option<String> {
        (self.status == ImportStatus::Complete).then(|| registration_id(self.seed, self.index))
    }

    fn import_id(&self) -> String {
        // Devices arrive in batches of a few dozen per import.
        derived_guid(self.seed, STREAM_IMPORT, self.index / 40)
    }

    fn hash(&self) -> String {
        hardware_hash(key_of(&self.id()))
    }
}

/// Imported device `index` of the data set `seed`. The hash is only computed when `with_hash` is
/// set (it is most of the cost); otherwise `hardwareIdentifier` is left `None`.
pub fn generated_device(seed: u64, index: u64, with_hash: bool) -> Device {
    let draw = imported_draw(seed, index);
    let state = DeviceState {
        device_import_status: draw.status,
        device_registration_id: draw.registration_id(),
        device_error_code: draw.error.map_or(0, |(code, _)| code),
        device_error_name: draw.error.map(|(_, name)| name.to_string()),
        extra: Map::new(),
    };
    Device {
        hardware_identifier: with_hash.then(|| draw.hash()),
        assigned_user_principal_name: draw.user.map(|(first, last)| user_principal_name(first, last)),
        group_tag: draw.group_tag.map(str::to_string),
        import_id: Some(draw.import_id()),
        product_key: draw.product_key.clone(),
        serial_number: Some(draw.serial.clone()),
        state,
        extra: Map::new(),
        id: draw.id(),
    }
}

fn wants(wanted: Wanted<'_>, name: &str) -> bool {
    wanted.is_none_or(|names| names.contains(&name))
}

fn text(value: Option<impl Into<String>>) -> Value {
    value.map_or(Value::Null, |v| Value::String(v.into()))
}

/// Imported device `index` of the data set `seed` as a record with (at least) the `wanted`
/// properties, in the field table's order (the key only when wanted: a scan does not read it).
fn imported_record(seed: u64, index: u64, wanted: Wanted<'_>) -> Record {
    let draw = imported_draw(seed, index);
    let mut record = Map::new();
    let mut put = |name: &str, value: &dyn Fn() -> Value| {
        if wants(wanted, name) {
            record.insert(name.to_string(), value());
        }
    };
    put("assignedUserPrincipalName", &|| text(draw.user.map(|(f, l)| user_principal_name(f, l))));
    put("groupTag", &|| text(draw.group_tag));
    put("hardwareIdentifier", &|| Value::String(draw.hash()));
    put("importId", &|| Value::String(draw.import_id()));
    put("productKey", &|| text(draw.product_key.clone()));
    put("serialNumber", &|| Value::String(draw.serial.clone()));
    put("state", &|| {
        let mut state = Map::new();
        state.insert("deviceImportStatus".into(), Value::String(draw.status.as_str().into()));
        state.insert("deviceRegistrationId".into(), text(draw.registration_id()));
        state.insert("deviceErrorCode".into(), Value::from(draw.error.map_or(0, |(code, _)| code)));
        state.insert("deviceErrorName".into(), text(draw.error.map(|(_, name)| name)));
        Value::Object(state)
    });
    let mut out = Map::new();
    if wants(wanted, "id") {
        out.insert("id".into(), Value::String(draw.id()));
    }
    out.append(&mut record);
    out
}

/// `--devices N`: imported identities made on demand from `(seed, index)`.
#[derive(Debug, Clone, Copy)]
pub(super) struct GeneratedImported {
    /// How many.
    pub(super) devices: u64,
    /// Which data set.
    pub(super) seed: u64,
}

impl Base for GeneratedImported {
    fn len(&self) -> u64 {
        self.devices
    }

    fn record(&self, slot: u64, wanted: Wanted<'_>) -> Option<Record> {
        (slot < self.devices).then(|| imported_record(self.seed, slot, wanted))
    }

    fn slot_of(&self, id: &str) -> Option<u64> {
        index_of_id(self.seed, id).filter(|i| *i < self.devices)
    }

    fn id_for(&self, slot: u64) -> Option<String> {
        Some(device_id(self.seed, slot))
    }
}

/// The demo imported identities, deriving the hash of records that carry none and leaving the
/// annotations out (they are added when answering).
pub(super) fn demo_imported() -> Result<Vec<Record>, String> {
    let records: Vec<Value> = serde_json::from_str(DEMO_DEVICES).map_err(|e| e.to_string())?;
    records
        .into_iter()
        .map(|record| {
            let Value::Object(mut map) = record else { return Err("a demo record is not an object".into()) };
            map.shift_remove("@odata.type");
            if let Some(Value::Object(state)) = map.get_mut("state") {
                state.shift_remove("@odata.type");
            }
            if !map.contains_key("hardwareIdentifier") {
                let id = map.get("id").and_then(Value::as_str).unwrap_or_default();
                let hash = Value::String(hardware_hash(key_of(id)));
                map.insert("hardwareIdentifier".into(), hash);
            }
            Ok(map)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Registered devices

/// Who a registered device is: what it shares with its import, when it has one.
struct Identity {
    id: String,
    serial: String,
    group_tag: Option<String>,
    user: Option<String>,
    product_key: Option<String>,
    /// Its hardware hash, when the server knows it (kept as [`REGISTERED_HASH`]).
    hash: Option<String>,
    /// Registered by the OEM or reseller (they fill in a purchase order), not by an import.
    by_partner: bool,
}

impl Identity {
    /// The device an import record describes, registered under `id`.
    fn of_import(import: &Record, id: String) -> Option<Identity> {
        let text = |name: &str| import.get(name).and_then(Value::as_str).map(str::to_string);
        Some(Identity {
            id,
            serial: text("serialNumber")?,
            group_tag: text("groupTag"),
            user: text("assignedUserPrincipalName"),
            product_key: text("productKey"),
            hash: text("hardwareIdentifier"),
            by_partner: false,
        })
    }
}

/// A model line: manufacturer, model, system family, SKU.
type Model = (&'static str, &'static str, &'static str, &'static str);

const DELL: &[Model] = &[
    ("Dell Inc.", "Latitude 5440", "Latitude", "0C0D"),
    ("Dell Inc.", "Latitude 7440", "Latitude", "0C0F"),
    ("Dell Inc.", "OptiPlex 7010", "OptiPlex", "0B1F"),
    ("Dell Inc.", "Precision 3581", "Precision", "0C21"),
];
const LENOVO: &[Model] = &[
    ("LENOVO", "21HD0032US", "ThinkPad T14 Gen 4", "LENOVO_MT_21HD_BU_Think_FM_ThinkPad T14 Gen 4"),
    (
        "LENOVO",
        "20XW0026US",
        "ThinkPad X1 Carbon Gen 9",
        "LENOVO_MT_20XW_BU_Think_FM_ThinkPad X1 Carbon Gen 9",
    ),
    ("LENOVO", "21JK0047GE", "ThinkPad E14 Gen 5", "LENOVO_MT_21JK_BU_SMB_FM_ThinkPad E14 Gen 5"),
];
const HP: &[Model] = &[
    ("HP", "HP EliteBook 840 14 inch G10 Notebook PC", "103C_5336AN HP EliteBook", "7L7S0EA#ABD"),
    ("HP", "HP ProBook 450 15.6 inch G9 Notebook PC", "103C_5336AN HP ProBook", "6S6W8EA#ABU"),
    ("HP", "HP EliteDesk 800 G8 Desktop Mini PC", "103C_53307F HP EliteDesk", "2V4V4EA#ABD"),
];
const SURFACE: &[Model] = &[
    ("Microsoft Corporation", "Surface Laptop 5", "Surface", "Surface_Laptop_5_1950"),
    ("Microsoft Corporation", "Surface Pro 9", "Surface", "Surface_Pro_9_2038"),
];

/// The maker of a serial in the styles [`serial`] makes (by its shape, as the OEMs' differ).
fn models_for(serial: &str) -> Option<&'static [Model]> {
    let all = |alphabet: &[u8], text: &str| text.bytes().all(|b| alphabet.contains(&b));
    match serial.len() {
        7 if all(ALNUM, serial) => Some(DELL),
        8 if serial.starts_with("PF") && all(ALNUM, serial) => Some(LENOVO),
        10 if serial.starts_with("5CG") && all(ALNUM, serial) => Some(HP),
        12 if all(DIGITS, serial) => Some(SURFACE),
        _ => None,
    }
}

const ENROLLMENT: &[(u64, &str)] =
    &[(60, "enrolled"), (22, "notContacted"), (10, "unknown"), (5, "failed"), (3, "pendingReset")];
const ASSIGNED: &[(u64, &str)] = &[
    (75, "assignedInSync"),
    (8, "assignedUnkownSyncState"),
    (5, "assignedOutOfSync"),
    (7, "pending"),
    (5, "failed"),
];
const NO_ID: &str = "00000000-0000-0000-0000-000000000000";
const DAY: u64 = 86_400;

/// One of `choices` by weight (the weights add up to 100).
fn weighted(g: &mut SplitMix64, choices: &[(u64, &'static str)]) -> &'static str {
    let mut roll = g.below(100);
    for (weight, choice) in choices {
        if roll < *weight {
            return choice;
        }
        roll -= weight;
    }
    choices.last().map_or("unknown", |(_, choice)| choice)
}

/// `Ana Silva` for `ana.silva@contoso.com`: the name the portal shows beside a UPN.
fn addressable_name(upn: &str) -> String {
    let local = upn.split('@').next().unwrap_or(upn);
    local
        .split('.')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the Autopilot service and Intune report about a registered device, beside who it is.
struct Reported {
    model: Model,
    enrollment: &'static str,
    /// Seconds before `now`; `None` is Intune's "never".
    last_contacted: Option<u64>,
    /// Enrolled in Intune at some point: it has a managed device id.
    managed: bool,
    /// Has a display name.
    named: bool,
    /// (year, number) of its purchase order.
    purchase_order: Option<(u64, u64)>,
    assignment: &'static str,
    assigned_at: Option<u64>,
    remediation: &'static str,
    remediated_at: Option<u64>,
    userless: &'static str,
    /// `(seed, n)` its Intune and Entra device ids are derived from.
    ids_from: (u64, u64),
}

/// What the service reports about registered device `index` of data set `seed`, drawn from the
/// pair (the draws never depend on what a caller wants, so the record does not either).
fn drawn_report(seed: u64, index: u64, identity: &Identity) -> Reported {
    let mut g = SplitMix64::new(seed ^ STREAM_REGISTERED, index);
    let models = models_for(&identity.serial).unwrap_or(*g.pick(&[DELL, LENOVO, HP, SURFACE]));
    let model = *g.pick(models);
    let enrollment = weighted(&mut g, ENROLLMENT);
    let ago = |days: std::ops::Range<u64>, g: &mut SplitMix64| {
        Some(days.start * DAY + g.below((days.end - days.start) * DAY))
    };
    let last_contacted = match enrollment {
        "notContacted" => None,
        // Most enrolled devices checked in this week; the rest are going stale.
        "enrolled" if g.below(10) < 8 => ago(0..8, &mut g),
        _ => ago(8..180, &mut g),
    };
    let managed = matches!(enrollment, "enrolled" | "pendingReset" | "failed");
    let named = enrollment == "enrolled" && g.below(10) < 3;
    let purchase_order =
        (identity.by_partner && g.below(10) < 6).then(|| (2024 + g.below(3), g.below(100_000)));
    let assignment = match (is_tagged(identity), g.below(10)) {
        (true, _) | (false, 0..3) => weighted(&mut g, ASSIGNED),
        (false, _) => "notAssigned",
    };
    let assigned_at = match assignment {
        "notAssigned" | "pending" => None,
        _ => ago(30..400, &mut g),
    };
    let remediation = match g.below(20) {
        0 => "automaticRemediationRequired",
        1..3 => "unknown",
        _ => "noRemediationRequired",
    };
    let remediated_at = if remediation == "automaticRemediationRequired" { ago(1..60, &mut g) } else { None };
    let userless = if g.below(10) == 0 { "allowed" } else { "unknown" };
    Reported {
        model,
        enrollment,
        last_contacted,
        managed,
        named,
        purchase_order,
        assignment,
        assigned_at,
        remediation,
        remediated_at,
        userless,
        ids_from: (seed, index),
    }
}

/// What the service reports about a device it has just registered from an import: never
/// contacted, not in Intune, its profile assignment pending when a group tag can put it in a
/// dynamic group; make and model from the serial's OEM style (else drawn from its id).
fn fresh_report(identity: &Identity) -> Reported {
    let key = key_of(&identity.id);
    let mut g = SplitMix64::new(STREAM_REGISTERED, key);
    let models = models_for(&identity.serial).unwrap_or(*g.pick(&[DELL, LENOVO, HP, SURFACE]));
    Reported {
        model: *g.pick(models),
        enrollment: "notContacted",
        last_contacted: None,
        managed: false,
        named: false,
        purchase_order: None,
        assignment: if is_tagged(identity) { "pending" } else { "notAssigned" },
        assigned_at: None,
        remediation: "unknown",
        remediated_at: None,
        userless: "unknown",
        ids_from: (key ^ REGISTRATION_SALT, 0),
    }
}

fn is_tagged(identity: &Identity) -> bool {
    identity.group_tag.as_deref().is_some_and(|t| !t.is_empty())
}

/// A registered device: `identity` plus what the service reports about it (`report`, made
/// only when a wanted property needs it: a look-up by serial draws nothing else), dated back
/// from `now`, with (at least) the `wanted` properties (only their text is built).
fn registered_record(
    identity: Identity,
    report: impl Fn(&Identity) -> Reported,
    now: SystemTime,
    wanted: Wanted<'_>,
) -> Record {
    let made = std::cell::OnceCell::new();
    let reported = || made.get_or_init(|| report(&identity));
    let model = || reported().model;
    let ids = || reported().ids_from;
    let date = |seconds: Option<u64>| {
        Value::String(seconds.map_or_else(
            || NEVER.to_string(),
            |s| crate::graph::timestamp::format(now - Duration::from_secs(s)),
        ))
    };
    let text = |value: &str| Value::String(value.to_string());
    let or_empty = |value: Option<String>| Value::String(value.unwrap_or_default());
    let serial = &identity.serial;
    let user = identity.user.as_deref();
    let assignment = || reported().assignment;
    let values: [(&str, &dyn Fn() -> Value); 26] = [
        ("serialNumber", &|| text(serial)),
        ("groupTag", &|| or_empty(identity.group_tag.clone())),
        ("userPrincipalName", &|| text(user.unwrap_or_default())),
        ("addressableUserName", &|| or_empty(user.map(addressable_name))),
        ("displayName", &|| {
            or_empty(reported().named.then(|| format!("LT-{}", &serial[serial.len().saturating_sub(7)..])))
        }),
        ("deviceAccountUpn", &|| text("")),
        // A secret: never stored, never answered.
        ("deviceAccountPassword", &|| Value::Null),
        ("deviceFriendlyName", &|| text("")),
        ("enrollmentState", &|| text(reported().enrollment)),
        ("lastContactedDateTime", &|| date(reported().last_contacted)),
        ("manufacturer", &|| text(model().0)),
        ("model", &|| text(model().1)),
        ("systemFamily", &|| text(model().2)),
        ("skuNumber", &|| text(model().3)),
        ("productKey", &|| or_empty(identity.product_key.clone())),
        ("purchaseOrderIdentifier", &|| {
            or_empty(reported().purchase_order.map(|(year, n)| format!("PO-{year}-{n:05}")))
        }),
        ("resourceName", &|| text("")),
        ("managedDeviceId", &|| {
            let (seed, index) = ids();
            Value::String(if reported().managed {
                derived_guid(seed, STREAM_MANAGED, index)
            } else {
                NO_ID.into()
            })
        }),
        ("azureActiveDirectoryDeviceId", &|| Value::String(derived_guid(ids().0, STREAM_ENTRA, ids().1))),
        ("azureAdDeviceId", &|| Value::String(derived_guid(ids().0, STREAM_ENTRA, ids().1))),
        ("deploymentProfileAssignmentStatus", &|| text(assignment())),
        ("deploymentProfileAssignmentDetailedStatus", &|| {
            text(if assignment() == "failed" { "hardwareRequirementsNotMet" } else { "none" })
        }),
        ("deploymentProfileAssignedDateTime", &|| date(reported().assigned_at)),
        ("remediationState", &|| text(reported().remediation)),
        ("remediationStateLastModifiedDateTime", &|| date(reported().remediated_at)),
        ("userlessEnrollmentStatus", &|| text(reported().userless)),
    ];
    let mut record = Map::new();
    if wants(wanted, "id") {
        record.insert("id".into(), Value::String(identity.id.clone()));
    }
    for (name, value) in values {
        if wants(wanted, name) {
            record.insert(name.into(), value());
        }
    }
    if wants(wanted, REGISTERED_HASH)
        && let Some(hash) = &identity.hash
    {
        record.insert(REGISTERED_HASH.into(), Value::String(hash.clone()));
    }
    record
}

/// Registered device `index` of the data set `seed`, its report drawn from the pair.
fn drawn_registered(
    seed: u64,
    index: u64,
    identity: Identity,
    now: SystemTime,
    wanted: Wanted<'_>,
) -> Record {
    registered_record(identity, |identity| drawn_report(seed, index, identity), now, wanted)
}

/// A registered device that has no import record: its own serial, tag and user.
fn partner_identity(seed: u64, index: u64) -> Identity {
    let mut g = SplitMix64::new(seed ^ STREAM_REGISTERED, index.wrapping_add(1 << 56));
    let serial = serial(&mut g);
    let group_tag = g.pick(GROUP_TAGS).map(str::to_string);
    let user = (g.below(10) < 4).then(|| {
        let (first, last) = (*g.pick::<&str>(FIRST), *g.pick::<&str>(LAST));
        user_principal_name(first, last)
    });
    Identity {
        id: registration_id(seed, index),
        serial,
        group_tag,
        user,
        product_key: None,
        hash: None,
        by_partner: true,
    }
}

/// Registered device `index` of the data set `seed`: the twin of imported device `index` when
/// that import completed, the earlier registration of its serial when it failed with 806, and a
/// device without an import record otherwise.
fn generated_registered(seed: u64, index: u64, now: SystemTime, wanted: Wanted<'_>) -> Record {
    let import = imported_draw(seed, index);
    let identity = match (import.status, import.error) {
        (ImportStatus::Complete, _) => Identity {
            id: registration_id(seed, index),
            user: import.user.map(|(first, last)| user_principal_name(first, last)),
            group_tag: import.group_tag.map(str::to_string),
            product_key: import.product_key,
            serial: import.serial,
            // A 4 KB hash per device is not worth deriving for a look-up: generated devices
            // are known by serial only.
            hash: None,
            by_partner: false,
        },
        (_, Some((ALREADY_REGISTERED, _))) => {
            Identity { serial: import.serial, ..partner_identity(seed, index) }
        }
        _ => partner_identity(seed, index),
    };
    drawn_registered(seed, index, identity, now, wanted)
}

/// `--devices N`: as many registered devices, made on demand and consistent with the imported
/// identities of the same seed.
#[derive(Debug, Clone, Copy)]
pub(super) struct GeneratedRegistered {
    /// How many.
    pub(super) devices: u64,
    /// Which data set.
    pub(super) seed: u64,
    /// What "now" was when the server started: dates are drawn back from it.
    pub(super) now: SystemTime,
}

impl Base for GeneratedRegistered {
    fn len(&self) -> u64 {
        self.devices
    }

    fn record(&self, slot: u64, wanted: Wanted<'_>) -> Option<Record> {
        (slot < self.devices).then(|| generated_registered(self.seed, slot, self.now, wanted))
    }

    fn slot_of(&self, id: &str) -> Option<u64> {
        index_of_registration_id(self.seed, id).filter(|i| *i < self.devices)
    }

    fn id_for(&self, slot: u64) -> Option<String> {
        Some(registration_id(self.seed, slot))
    }
}

/// The demo tenant's registered devices, dated back from `now`: the twins of its completed
/// imports (id = their `deviceRegistrationId`), the earlier registrations behind its 806
/// errors, and [`DEMO_REGISTERED_ONLY`] devices without an import record.
pub(super) fn demo_registered(imported: &[Record], now: SystemTime) -> Vec<Record> {
    let text = |record: &Record, path: &str| -> Option<String> {
        let value = match path.split_once('/') {
            Some((parent, name)) => record.get(parent)?.get(name)?,
            None => record.get(path)?,
        };
        value.as_str().map(str::to_string)
    };
    let mut registered = Vec::new();
    for (index, import) in imported.iter().enumerate() {
        let index = index as u64;
        let Some(serial) = text(import, "serialNumber") else { continue };
        let code = import.get("state").and_then(|s| s.get("deviceErrorCode")).and_then(Value::as_i64);
        let identity = match (text(import, "state/deviceImportStatus").as_deref(), code) {
            (Some("complete"), _) => {
                let Some(id) = text(import, "state/deviceRegistrationId") else { continue };
                let Some(identity) = Identity::of_import(import, id) else { continue };
                identity
            }
            // The same device, registered before: same serial and hash, its own tag and user.
            (_, Some(code)) if code == i64::from(ALREADY_REGISTERED) => Identity {
                serial,
                hash: text(import, "hardwareIdentifier"),
                ..partner_identity(DEMO_SEED, index)
            },
            _ => continue,
        };
        registered.push(drawn_registered(DEMO_SEED, index, identity, now, None));
    }
    let first = imported.len() as u64;
    for index in first..first + DEMO_REGISTERED_ONLY {
        registered.push(drawn_registered(DEMO_SEED, index, partner_identity(DEMO_SEED, index), now, None));
    }
    registered
}

/// The registered device the Autopilot service makes of a completed import: the import's
/// serial, hash, group tag, product key and user (`assignedUserPrincipalName` becomes
/// `userPrincipalName`) under `id` (the import's `state.deviceRegistrationId`), just registered
/// as of `now`. `None` for an import without a serial.
pub(super) fn registered_twin(import: &Record, id: String, now: SystemTime) -> Option<Record> {
    Some(registered_record(Identity::of_import(import, id)?, fresh_report, now, None))
}

/// The serials of the demo's imports that failed with `code`.
pub(super) fn serials_failed_with(imported: &[Record], code: i32) -> Vec<String> {
    imported
        .iter()
        .filter(|r| {
            r.get("state").and_then(|s| s.get("deviceErrorCode")).and_then(Value::as_i64) == Some(code.into())
        })
        .filter_map(|r| r.get("serialNumber").and_then(Value::as_str).map(str::to_string))
        .collect()
}

impl GeneratedImported {
    /// The serials of the generated imports that failed with `code` (a pass over the draws,
    /// no record built).
    pub(super) fn serials_failed_with(&self, code: i32) -> Vec<String> {
        (0..self.devices)
            .map(|index| imported_draw(self.seed, index))
            .filter(|draw| draw.error.is_some_and(|(c, _)| c == code))
            .map(|draw| draw.serial)
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::graph::validate::decode_binary;

    #[test]
    fn ids_are_guids_and_reversible() {
        for index in [0, 1, 2, 999_999, 1 << 40] {
            let id = device_id(7, index);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
            assert_eq!(index_of_id(7, &id), Some(index));
            assert_eq!(index_of_id(7, &id.to_uppercase()), Some(index));
            assert_eq!(index_of_id(8, &id), None);
            let registered = registration_id(7, index);
            assert!(uuid::Uuid::parse_str(&registered).is_ok(), "{registered}");
            assert_eq!(index_of_registration_id(7, &registered), Some(index));
            assert_eq!(index_of_registration_id(7, &id), None, "an imported id is not a registered one");
            assert_eq!(index_of_id(7, &registered), None);
        }
        assert_ne!(device_id(1, 0), device_id(1, 1));
        assert_eq!(index_of_id(1, "not-a-guid"), None);
    }

    #[test]
    fn devices_are_deterministic_and_plausible() {
        let a = generated_device(3, 42, true);
        assert_eq!(a, generated_device(3, 42, true));
        assert_ne!(a, generated_device(4, 42, true));
        assert_eq!(decode_binary(a.hardware_identifier.as_deref().unwrap()).unwrap().len(), HASH_BYTES);
        let without = generated_device(3, 42, false);
        assert_eq!(without.hardware_identifier, None);
        assert_eq!(without.serial_number, a.serial_number);
        // The record is the same device.
        let record = imported_record(3, 42, None);
        assert_eq!(Value::Object(record), serde_json::to_value(&a).unwrap());
    }

    #[test]
    fn generated_sides_agree() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_860_000);
        let (mut twins, mut already, mut others) = (0, 0, 0);
        for index in 0..300 {
            let import = generated_device(5, index, false);
            let registered = generated_registered(5, index, now, None);
            assert_eq!(registered["id"], registration_id(5, index));
            let same_serial = registered["serialNumber"].as_str() == import.serial_number.as_deref();
            match (import.state.device_import_status, import.state.device_error_code) {
                (ImportStatus::Complete, _) => {
                    twins += 1;
                    assert_eq!(import.state.device_registration_id.as_deref(), registered["id"].as_str());
                    assert!(same_serial);
                }
                (_, ALREADY_REGISTERED) => {
                    already += 1;
                    assert!(same_serial);
                    assert_eq!(import.state.device_registration_id, None);
                }
                _ => {
                    others += 1;
                    assert!(!same_serial);
                }
            }
            let (manufacturer, serial) =
                (&registered["manufacturer"], registered["serialNumber"].as_str().unwrap());
            if serial.starts_with("5CG") {
                assert_eq!(manufacturer, "HP");
            }
            if registered["enrollmentState"] == "notContacted" {
                assert_eq!(registered["lastContactedDateTime"], NEVER);
                assert_eq!(registered["managedDeviceId"], NO_ID);
            }
        }
        assert!(twins > 150 && already > 0 && others > 50, "{twins} {already} {others}");
        let lean = generated_registered(5, 1, now, Some(&["serialNumber"]));
        assert_eq!(lean.keys().collect::<Vec<_>>(), ["serialNumber"]);
        let full = generated_registered(5, 1, now, None);
        assert_eq!(full["serialNumber"], lean["serialNumber"]);
        assert_eq!(addressable_name("ana.silva@contoso.com"), "Ana Silva");
    }
}
