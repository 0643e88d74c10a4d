//! Deterministic, plausible Autopilot devices derived from `(seed, index)`.
//!
//! Nothing here stores devices: every field (and the 4 KB hardware hash) is recomputed from the
//! pair on demand, so a data set of a million devices costs no memory until one is changed.

use crate::graph::model::{Device, DeviceState, ImportStatus};
use crate::graph::validate::encode_binary;
use serde_json::Map;

/// Size of a generated hardware hash before base64 (real Autopilot hashes are about 4 KB).
pub const HASH_BYTES: usize = 4096;

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
const STREAM_REGISTRATION: u64 = 5;

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

/// The id of device `index` (below 2^48) in the data set of `seed`: GUID-shaped,
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

/// A GUID derived from a seed, a stream and a number (import batches, registration ids).
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

/// Device `index` of the data set `seed`. The hash is only computed when `with_hash` is set
/// (it is most of the cost); otherwise `hardwareIdentifier` is left `None`.
pub fn generated_device(seed: u64, index: u64, with_hash: bool) -> Device {
    let mut g = SplitMix64::new(seed ^ STREAM_FIELDS, index);
    let serial_number = serial(&mut g);
    let group_tag = g.pick(GROUP_TAGS).map(str::to_string);
    let upn =
        if g.below(2) == 0 { None } else { Some(format!("{}.{}@contoso.com", g.pick(FIRST), g.pick(LAST))) };
    let product_key = match g.below(10) {
        0..7 => Some(String::new()),
        7..9 => None,
        _ => Some(format!("00330-{:05}-{:05}-AAOEM", g.below(100_000), g.below(100_000))),
    };
    // Devices arrive in batches of a few dozen per import.
    let import_id = Some(derived_guid(seed, STREAM_IMPORT, index / 40));
    let state = match g.below(100) {
        0..70 => DeviceState {
            device_import_status: ImportStatus::Complete,
            device_registration_id: Some(derived_guid(seed, STREAM_REGISTRATION, index)),
            ..DeviceState::default()
        },
        70..82 => {
            let (code, name) = *g.pick(ERRORS);
            DeviceState {
                device_import_status: ImportStatus::Error,
                device_error_code: code,
                device_error_name: Some(name.to_string()),
                ..DeviceState::default()
            }
        }
        82..87 => DeviceState { device_import_status: ImportStatus::Pending, ..DeviceState::default() },
        87..92 => DeviceState { device_import_status: ImportStatus::Partial, ..DeviceState::default() },
        _ => DeviceState::default(),
    };
    let id = device_id(seed, index);
    let hardware_identifier = with_hash.then(|| hardware_hash(key_of(&id)));
    Device {
        id,
        assigned_user_principal_name: upn,
        group_tag,
        hardware_identifier,
        import_id,
        product_key,
        serial_number: Some(serial_number),
        state,
        extra: Map::new(),
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
    }
}
