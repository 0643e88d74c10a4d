//! The devices the embedded server serves: a base set (the demo asset, or devices generated on
//! demand from a seed) plus the changes made through the API.
//!
//! Every record has a *slot*: base records occupy `0..base_len`, created records follow. A
//! generated base is never materialised; only overridden (patched or deleted) base records and
//! created records are stored, so a million-device set costs memory only for what changed.

use super::data::{device_id, generated_device, hardware_hash, index_of_id, key_of};
use super::odata::{CollectionQuery, Cursor, compare_devices};
use super::{DataSet, ServerError};
use crate::graph::model::Device;
use serde_json::Value;
use std::collections::HashMap;

/// The demo data set, generated once by `examples/gen_demo_devices.rs`. Records without a
/// `hardwareIdentifier` key get a deterministic 4 KB hash at load (keeps the asset small).
const DEMO_DEVICES: &str = include_str!("../../assets/demo-devices.json");

#[derive(Debug)]
enum Base {
    Demo(Vec<Device>),
    Generated { devices: u64, seed: u64 },
}

/// One page of a collection query.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The devices on this page.
    pub devices: Vec<Device>,
    /// Where the next page starts, when there is one.
    pub next: Option<Cursor>,
    /// The number of matching devices, when `$count=true` asked for it.
    pub count: Option<usize>,
}

/// Why a store change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// No live device has this id.
    NotFound,
    /// A device with this id exists already.
    Duplicate,
}

/// The devices, base plus changes. Callers hold it behind one lock.
#[derive(Debug)]
pub struct Store {
    base: Base,
    /// Base slots that were patched (`Some`) or deleted (`None`).
    overrides: HashMap<u64, Option<Device>>,
    /// Records created through the API, in creation order; `None` once deleted.
    created: Vec<Option<Device>>,
    /// Lower-cased id -> slot, for the demo base and created records (generated ids are
    /// reversible and need no table).
    slots_by_id: HashMap<String, u64>,
    /// Live records, kept so an unfiltered `$count` is O(1).
    live: u64,
}

impl Store {
    /// Builds the store for a data set.
    pub fn new(data: &DataSet) -> Result<Store, ServerError> {
        let base = match *data {
            DataSet::Demo => Base::Demo(demo_devices()?),
            DataSet::Generated { devices, seed } => Base::Generated { devices, seed },
        };
        let mut slots_by_id = HashMap::new();
        if let Base::Demo(devices) = &base {
            for (slot, device) in devices.iter().enumerate() {
                slots_by_id.insert(device.id.to_lowercase(), slot as u64);
            }
        }
        let mut store = Store { base, overrides: HashMap::new(), created: Vec::new(), slots_by_id, live: 0 };
        store.live = store.base_len();
        Ok(store)
    }

    fn base_len(&self) -> u64 {
        match &self.base {
            Base::Demo(devices) => devices.len() as u64,
            Base::Generated { devices, .. } => *devices,
        }
    }

    fn slot_count(&self) -> u64 {
        self.base_len() + self.created.len() as u64
    }

    /// The number of live devices.
    pub fn len(&self) -> u64 {
        self.live
    }

    /// Whether no device is left.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn slot_of(&self, id: &str) -> Option<u64> {
        let slot = match self.slots_by_id.get(&id.to_lowercase()) {
            Some(slot) => *slot,
            None => match self.base {
                Base::Generated { devices, seed } => index_of_id(seed, id).filter(|i| *i < devices)?,
                Base::Demo(_) => return None,
            },
        };
        self.is_live(slot).then_some(slot)
    }

    fn is_live(&self, slot: u64) -> bool {
        let base_len = self.base_len();
        if slot < base_len {
            !matches!(self.overrides.get(&slot), Some(None))
        } else {
            self.created.get((slot - base_len) as usize).is_some_and(Option::is_some)
        }
    }

    /// The device in a slot, with its hash only when `with_hash` (a generated hash is costly).
    fn device_at(&self, slot: u64, with_hash: bool) -> Option<Device> {
        let base_len = self.base_len();
        let mut device = if slot < base_len {
            match self.overrides.get(&slot) {
                Some(stored) => stored.clone()?,
                None => match &self.base {
                    Base::Demo(devices) => devices.get(slot as usize)?.clone(),
                    Base::Generated { seed, .. } => generated_device(*seed, slot, with_hash),
                },
            }
        } else {
            self.created.get((slot - base_len) as usize)?.clone()?
        };
        if !with_hash {
            device.hardware_identifier = None;
        }
        Some(device)
    }

    /// The live device with this id (ids compare without case, as Graph's GUID keys do).
    pub fn get(&self, id: &str, with_hash: bool) -> Option<Device> {
        self.device_at(self.slot_of(id)?, with_hash)
    }

    /// Replaces a live device (same id) with its updated version.
    pub fn replace(&mut self, device: Device) -> Result<(), StoreError> {
        let slot = self.slot_of(&device.id).ok_or(StoreError::NotFound)?;
        let base_len = self.base_len();
        if slot < base_len {
            self.overrides.insert(slot, Some(device));
        } else if let Some(entry) = self.created.get_mut((slot - base_len) as usize) {
            *entry = Some(device);
        }
        Ok(())
    }

    /// Adds a new device; its id must not be in use.
    pub fn insert(&mut self, device: Device) -> Result<(), StoreError> {
        if self.slot_of(&device.id).is_some() {
            return Err(StoreError::Duplicate);
        }
        let slot = self.slot_count();
        self.slots_by_id.insert(device.id.to_lowercase(), slot);
        self.created.push(Some(device));
        self.live += 1;
        Ok(())
    }

    /// Deletes a live device.
    pub fn delete(&mut self, id: &str) -> Result<(), StoreError> {
        let slot = self.slot_of(id).ok_or(StoreError::NotFound)?;
        let base_len = self.base_len();
        if slot < base_len {
            self.overrides.insert(slot, None);
        } else if let Some(entry) = self.created.get_mut((slot - base_len) as usize) {
            *entry = None;
        }
        self.live = self.live.saturating_sub(1);
        Ok(())
    }

    /// A fresh id for a created device: for a generated set, the next index's id (so it looks
    /// like its neighbours); otherwise a random GUID.
    pub fn fresh_id(&self) -> String {
        let mut candidate = match self.base {
            Base::Generated { seed, .. } => device_id(seed, self.slot_count()),
            Base::Demo(_) => uuid::Uuid::new_v4().to_string(),
        };
        while self.slot_of(&candidate).is_some() || self.slots_by_id.contains_key(&candidate) {
            candidate = uuid::Uuid::new_v4().to_string();
        }
        candidate
    }

    /// The number of devices matching the query's filter.
    pub fn count(&self, query: &CollectionQuery) -> u64 {
        match &query.filter {
            None => self.live,
            Some(filter) => {
                let with_hash = query.scan_needs_hash();
                (0..self.slot_count())
                    .filter_map(|slot| self.device_at(slot, with_hash))
                    .filter(|d| filter.matches(d))
                    .count() as u64
            }
        }
    }

    /// One page of the query. Without `$orderby` pages follow store order and continue after
    /// the last slot delivered (O(page) when unfiltered); with it, the matching slots are
    /// sorted and the page is cut at an offset.
    pub fn page(&self, query: &CollectionQuery, default_page_size: usize) -> Page {
        let page_size = query.page_size(default_page_size);
        let with_hash = query.shows_hash();
        let count = query.count.then(|| self.count(query) as usize);
        if page_size == 0 {
            return Page { devices: Vec::new(), next: None, count };
        }
        if query.orderby.is_empty() {
            self.page_in_store_order(query, page_size, with_hash, count)
        } else {
            self.page_sorted(query, page_size, with_hash, count)
        }
    }

    fn page_in_store_order(
        &self,
        query: &CollectionQuery,
        page_size: usize,
        with_hash: bool,
        count: Option<usize>,
    ) -> Page {
        let (start, mut to_skip) = match query.cursor {
            Some(Cursor::AfterSlot(slot)) => (slot.saturating_add(1), 0),
            // An offset cursor only comes from a sorted query; store order has none.
            Some(Cursor::Offset(_)) | None => (0, query.skip),
        };
        let scan_hash = query.scan_needs_hash();
        let mut slots = Vec::with_capacity(page_size + 1);
        for slot in start..self.slot_count() {
            if !self.is_live(slot) {
                continue;
            }
            if let Some(filter) = &query.filter {
                match self.device_at(slot, scan_hash) {
                    Some(device) if filter.matches(&device) => {}
                    _ => continue,
                }
            }
            if to_skip > 0 {
                to_skip -= 1;
                continue;
            }
            slots.push(slot);
            // One more than a page tells whether a next page exists.
            if slots.len() > page_size {
                break;
            }
        }
        let more = slots.len() > page_size;
        slots.truncate(page_size);
        let next = if more { slots.last().map(|slot| Cursor::AfterSlot(*slot)) } else { None };
        let devices = slots.iter().filter_map(|slot| self.device_at(*slot, with_hash)).collect();
        Page { devices, next, count }
    }

    fn page_sorted(
        &self,
        query: &CollectionQuery,
        page_size: usize,
        with_hash: bool,
        count: Option<usize>,
    ) -> Page {
        let scan_hash = query.scan_needs_hash();
        let mut candidates: Vec<(u64, Device)> = (0..self.slot_count())
            .filter_map(|slot| self.device_at(slot, scan_hash).map(|d| (slot, d)))
            .filter(|(_, d)| query.filter.as_ref().is_none_or(|f| f.matches(d)))
            .collect();
        // Stable sort: ties keep store order, so pages never overlap.
        candidates.sort_by(|(_, a), (_, b)| compare_devices(&query.orderby, a, b));
        let offset = match query.cursor {
            Some(Cursor::Offset(offset)) => offset,
            Some(Cursor::AfterSlot(_)) | None => query.skip,
        };
        let end = offset.saturating_add(page_size);
        let next = (end < candidates.len()).then_some(Cursor::Offset(end));
        let devices = candidates
            .into_iter()
            .skip(offset)
            .take(page_size)
            .filter_map(
                |(slot, device)| {
                    if with_hash && !scan_hash { self.device_at(slot, true) } else { Some(device) }
                },
            )
            .collect();
        Page { devices, next, count }
    }
}

/// Parses the demo asset, deriving the hash of records that carry none.
fn demo_devices() -> Result<Vec<Device>, ServerError> {
    let records: Vec<Value> =
        serde_json::from_str(DEMO_DEVICES).map_err(|e| ServerError::DemoData(e.to_string()))?;
    records
        .into_iter()
        .map(|mut record| {
            if let Value::Object(map) = &mut record
                && !map.contains_key("hardwareIdentifier")
            {
                let id = map.get("id").and_then(Value::as_str).unwrap_or_default();
                map.insert("hardwareIdentifier".into(), Value::String(hardware_hash(key_of(id))));
            }
            let mut device: Device =
                serde_json::from_value(record).map_err(|e| ServerError::DemoData(e.to_string()))?;
            // Annotations are added when answering; the store keeps data only.
            device.extra.remove("@odata.type");
            device.state.extra.remove("@odata.type");
            Ok(device)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn generated(n: u64) -> Store {
        Store::new(&DataSet::Generated { devices: n, seed: 9 }).unwrap()
    }

    fn all_ids(store: &Store, query: &str) -> Vec<String> {
        let mut query = CollectionQuery::parse(query).unwrap();
        let mut ids = Vec::new();
        loop {
            let page = store.page(&query, 7);
            ids.extend(page.devices.into_iter().map(|d| d.id));
            match page.next {
                Some(cursor) => query.cursor = Some(cursor),
                None => return ids,
            }
        }
    }

    #[test]
    fn demo_asset_loads_with_hashes() {
        let store = Store::new(&DataSet::Demo).unwrap();
        assert!(store.len() >= 200, "{}", store.len());
        let first = store.device_at(0, true).unwrap();
        assert!(first.hardware_identifier.is_some());
        assert_eq!(store.get(&first.id.to_uppercase(), false).unwrap().id, first.id);
    }

    #[test]
    fn paging_survives_deletes_and_creates() {
        let mut store = generated(50);
        let ids = all_ids(&store, "");
        assert_eq!(ids.len(), 50);
        store.delete(&ids[3]).unwrap();
        assert_eq!(store.delete(&ids[3]), Err(StoreError::NotFound));
        let mut extra = generated_device(1, 1, false);
        extra.id = store.fresh_id();
        store.insert(extra.clone()).unwrap();
        assert_eq!(store.insert(extra.clone()), Err(StoreError::Duplicate));
        let after = all_ids(&store, "");
        assert_eq!(after.len(), 50);
        assert!(!after.contains(&ids[3]));
        assert_eq!(after.last(), Some(&extra.id));
        assert_eq!(store.len(), 50);
        let sorted = all_ids(&store, "$orderby=serialNumber desc");
        assert_eq!(sorted.len(), 50);
    }

    #[test]
    fn skip_and_filter_in_store_order() {
        let store = generated(200);
        let all = all_ids(&store, "");
        assert_eq!(all_ids(&store, "$skip=195"), all[195..].to_vec());
        let errors = all_ids(&store, "$filter=state/deviceImportStatus%20eq%20'error'");
        assert!(!errors.is_empty());
        for id in &errors {
            assert_eq!(store.get(id, false).unwrap().state.device_import_status.as_str(), "error");
        }
        let q = CollectionQuery::parse("$filter=state/deviceImportStatus%20eq%20'error'").unwrap();
        assert_eq!(store.count(&q), errors.len() as u64);
    }

    #[test]
    fn patch_override_is_served() {
        let mut store = generated(10);
        let mut d = store.device_at(4, true).unwrap();
        d.group_tag = Some("Changed".into());
        store.replace(d.clone()).unwrap();
        assert_eq!(store.get(&d.id, true), Some(d));
    }
}
