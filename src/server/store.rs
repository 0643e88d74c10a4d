//! The records of one served resource: a base set (a list, or records generated on demand from a
//! seed) plus the changes made through the API. Records are JSON objects read through the
//! resource's field table, so one store serves every resource.
//!
//! Every record has a *slot*: base records occupy `0..base.len()`, created records follow. A
//! generated base is never materialised; only overridden (changed or deleted) base records and
//! created records are stored, so a million-record set costs memory only for what changed.

use super::odata::{CollectionQuery, Cursor, compare_sort_values, sort_values};
use crate::graph::resource::Record;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Which top-level properties a caller needs from a record (`None`: all), the key included. A
/// generated base may leave the others out, so a scan computes no 4 KB hash (and no id) it does
/// not read.
pub(super) type Wanted<'a> = Option<&'a [&'static str]>;

/// The records a store starts with, by slot.
pub(super) trait Base: fmt::Debug + Send + Sync {
    /// How many slots the base has.
    fn len(&self) -> u64;

    /// The record in a slot, with at least the `wanted` properties.
    fn record(&self, slot: u64, wanted: Wanted<'_>) -> Option<Record>;

    /// The slot of the record with this id (ids compare without case, as Graph's GUID keys do).
    fn slot_of(&self, id: &str) -> Option<u64>;

    /// An id for a record created at `slot` that looks like the base's own, if it makes them.
    fn id_for(&self, _slot: u64) -> Option<String> {
        None
    }
}

/// A base held in memory: the demo sets.
#[derive(Debug)]
pub(super) struct Listed {
    records: Vec<Record>,
    /// Lower-cased id -> slot.
    slots: HashMap<String, u64>,
}

impl Listed {
    /// A base of these records, keyed by their `key` property.
    pub(super) fn new(records: Vec<Record>, key: &str) -> Listed {
        let slots = records
            .iter()
            .enumerate()
            .filter_map(|(slot, r)| Some((r.get(key)?.as_str()?.to_lowercase(), slot as u64)))
            .collect();
        Listed { records, slots }
    }
}

impl Base for Listed {
    fn len(&self) -> u64 {
        self.records.len() as u64
    }

    fn record(&self, slot: u64, _wanted: Wanted<'_>) -> Option<Record> {
        self.records.get(usize::try_from(slot).ok()?).cloned()
    }

    fn slot_of(&self, id: &str) -> Option<u64> {
        self.slots.get(&id.to_lowercase()).copied()
    }
}

/// One page of a collection query.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Page {
    /// The records on this page.
    pub(super) records: Vec<Record>,
    /// Where the next page starts, when there is one.
    pub(super) next: Option<Cursor>,
    /// The number of matching records, when `$count=true` asked for it.
    pub(super) count: Option<usize>,
}

/// Why a store change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StoreError {
    /// No live record has this id.
    NotFound,
    /// A record with this id exists already.
    Duplicate,
}

/// One resource's records, base plus changes. Callers hold it behind one lock.
#[derive(Debug)]
pub(super) struct Store {
    /// The key property (`id`).
    key: &'static str,
    base: Box<dyn Base>,
    /// Base slots that were changed (`Some`) or deleted (`None`).
    overrides: HashMap<u64, Option<Record>>,
    /// Records created through the API, in creation order; `None` once deleted.
    created: Vec<Option<Record>>,
    /// Lower-cased id -> slot of created records.
    created_slots: HashMap<String, u64>,
    /// Live records, kept so an unfiltered `$count` is O(1).
    live: u64,
    /// Bumped on every change; a sorted order is reusable only for the version it was made at.
    version: u64,
    /// The last sorted query's matching slots, so following its next links costs O(page), not
    /// a fresh sort of the whole set per page.
    sorted: Mutex<Option<SortedSlots>>,
}

#[derive(Debug)]
struct SortedSlots {
    version: u64,
    /// `$filter` and `$orderby` of the query, as parsed.
    shape: String,
    slots: Arc<Vec<u64>>,
}

fn id_of<'a>(record: &'a Record, key: &str) -> Option<&'a str> {
    record.get(key).and_then(Value::as_str)
}

impl Store {
    /// A store over a base, whose records are keyed by `key`.
    pub(super) fn new(key: &'static str, base: Box<dyn Base>) -> Store {
        let live = base.len();
        Store {
            key,
            base,
            overrides: HashMap::new(),
            created: Vec::new(),
            created_slots: HashMap::new(),
            live,
            version: 0,
            sorted: Mutex::new(None),
        }
    }

    fn slot_count(&self) -> u64 {
        self.base.len() + self.created.len() as u64
    }

    fn slot_of(&self, id: &str) -> Option<u64> {
        let slot = match self.created_slots.get(&id.to_lowercase()) {
            Some(slot) if self.is_live(*slot) => *slot,
            _ => self.base.slot_of(id)?,
        };
        self.is_live(slot).then_some(slot)
    }

    fn is_live(&self, slot: u64) -> bool {
        let base_len = self.base.len();
        if slot < base_len {
            !matches!(self.overrides.get(&slot), Some(None))
        } else {
            self.created.get((slot - base_len) as usize).is_some_and(Option::is_some)
        }
    }

    /// The record in a slot, with at least the `wanted` properties.
    fn record_at(&self, slot: u64, wanted: Wanted<'_>) -> Option<Record> {
        let base_len = self.base.len();
        if slot < base_len {
            match self.overrides.get(&slot) {
                Some(stored) => stored.clone(),
                None => self.base.record(slot, wanted),
            }
        } else {
            self.created.get((slot - base_len) as usize)?.clone()
        }
    }

    /// The live record with this id.
    pub(super) fn get(&self, id: &str, wanted: Wanted<'_>) -> Option<Record> {
        self.record_at(self.slot_of(id)?, wanted)
    }

    /// Replaces a live record (same id) with its changed version.
    pub(super) fn replace(&mut self, record: Record) -> Result<(), StoreError> {
        let id = id_of(&record, self.key).ok_or(StoreError::NotFound)?;
        let slot = self.slot_of(id).ok_or(StoreError::NotFound)?;
        self.version += 1;
        let base_len = self.base.len();
        if slot < base_len {
            self.overrides.insert(slot, Some(record));
        } else if let Some(entry) = self.created.get_mut((slot - base_len) as usize) {
            *entry = Some(record);
        }
        Ok(())
    }

    /// Adds a new record; its id must not be in use.
    pub(super) fn insert(&mut self, record: Record) -> Result<(), StoreError> {
        let id = id_of(&record, self.key).ok_or(StoreError::NotFound)?.to_lowercase();
        if self.slot_of(&id).is_some() {
            return Err(StoreError::Duplicate);
        }
        let slot = self.slot_count();
        self.version += 1;
        self.created_slots.insert(id, slot);
        self.created.push(Some(record));
        self.live += 1;
        Ok(())
    }

    /// Deletes a live record.
    pub(super) fn delete(&mut self, id: &str) -> Result<(), StoreError> {
        let slot = self.slot_of(id).ok_or(StoreError::NotFound)?;
        self.version += 1;
        let base_len = self.base.len();
        if slot < base_len {
            self.overrides.insert(slot, None);
        } else if let Some(entry) = self.created.get_mut((slot - base_len) as usize) {
            *entry = None;
        }
        self.live = self.live.saturating_sub(1);
        Ok(())
    }

    /// A fresh id for a created record: one like its neighbours' when the base makes ids,
    /// otherwise a random GUID.
    pub(super) fn fresh_id(&self) -> String {
        let mut candidate =
            self.base.id_for(self.slot_count()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        while self.slot_of(&candidate).is_some() || self.base.slot_of(&candidate).is_some() {
            candidate = uuid::Uuid::new_v4().to_string();
        }
        candidate
    }

    /// Every live record in store order, with at least the `wanted` properties (a scan that
    /// no query option describes, such as the import processing's look-up of serials).
    pub(super) fn scan<'a>(&'a self, wanted: Wanted<'a>) -> impl Iterator<Item = Record> + 'a {
        (0..self.slot_count())
            .filter(|slot| self.is_live(*slot))
            .filter_map(move |slot| self.record_at(slot, wanted))
    }

    /// The number of records matching the query's filter.
    pub(super) fn count(&self, query: &CollectionQuery) -> u64 {
        match &query.filter {
            None => self.live,
            Some(filter) => {
                let scan = query.scan_names();
                (0..self.slot_count())
                    .filter(|slot| self.is_live(*slot))
                    .filter_map(|slot| self.record_at(slot, Some(&scan)))
                    .filter(|r| filter.matches(r))
                    .count() as u64
            }
        }
    }

    /// One page of the query. Without `$orderby` pages follow store order and continue after
    /// the last slot delivered (O(page) when unfiltered); with it, the matching slots are
    /// sorted and the page is cut at an offset.
    pub(super) fn page(&self, query: &CollectionQuery, default_page_size: usize) -> Page {
        let page_size = query.page_size(default_page_size);
        let count = query.count.then(|| self.count(query) as usize);
        if page_size == 0 {
            return Page { records: Vec::new(), next: None, count };
        }
        let (slots, next) = if query.orderby.is_empty() {
            self.slots_in_store_order(query, page_size)
        } else {
            self.slots_sorted(query, page_size)
        };
        let shown = query.select.as_ref().and_then(|s| s.names());
        let records = slots.iter().filter_map(|slot| self.record_at(*slot, shown)).collect();
        Page { records, next, count }
    }

    fn slots_in_store_order(&self, query: &CollectionQuery, page_size: usize) -> (Vec<u64>, Option<Cursor>) {
        let (start, mut to_skip) = match query.cursor {
            Some(Cursor::AfterSlot(slot)) => (slot.saturating_add(1), 0),
            // An offset cursor only comes from a sorted query; store order has none.
            Some(Cursor::Offset(_)) | None => (0, query.skip),
        };
        let scan = query.scan_names();
        let mut slots = Vec::with_capacity(page_size + 1);
        for slot in start..self.slot_count() {
            if !self.is_live(slot) {
                continue;
            }
            if let Some(filter) = &query.filter {
                match self.record_at(slot, Some(&scan)) {
                    Some(record) if filter.matches(&record) => {}
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
        (slots, next)
    }

    fn slots_sorted(&self, query: &CollectionQuery, page_size: usize) -> (Vec<u64>, Option<Cursor>) {
        let slots = self.sorted_slots(query);
        let offset = match query.cursor {
            Some(Cursor::Offset(offset)) => offset,
            Some(Cursor::AfterSlot(_)) | None => query.skip,
        };
        let end = offset.saturating_add(page_size);
        let next = (end < slots.len()).then_some(Cursor::Offset(end));
        (slots.iter().skip(offset).take(page_size).copied().collect(), next)
    }

    /// The matching slots in `$orderby` order, from the cache when the same filter and order
    /// were sorted at this version.
    fn sorted_slots(&self, query: &CollectionQuery) -> Arc<Vec<u64>> {
        let shape = format!("{:?} {:?}", query.filter, query.orderby);
        let mut cache = self.sorted.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cached) = cache.as_ref()
            && cached.version == self.version
            && cached.shape == shape
        {
            return Arc::clone(&cached.slots);
        }
        let scan = query.scan_names();
        // Keep only (key values, slot): a million full records would cost far more memory.
        let mut keyed: Vec<(Vec<_>, u64)> = (0..self.slot_count())
            .filter(|slot| self.is_live(*slot))
            .filter_map(|slot| self.record_at(slot, Some(&scan)).map(|r| (slot, r)))
            .filter(|(_, r)| query.filter.as_ref().is_none_or(|f| f.matches(r)))
            .map(|(slot, r)| (sort_values(&query.orderby, &r), slot))
            .collect();
        // Stable sort: ties keep store order, so pages never overlap.
        keyed.sort_by(|(a, _), (b, _)| compare_sort_values(&query.orderby, a, b));
        let slots = Arc::new(keyed.into_iter().map(|(_, slot)| slot).collect::<Vec<u64>>());
        *cache = Some(SortedSlots { version: self.version, shape, slots: Arc::clone(&slots) });
        slots
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::graph::imported;
    use crate::server::data::GeneratedImported;
    use crate::server::schema::EntityType;

    const IMPORTED: EntityType = EntityType::of(&imported::IMPORTED, &imported::TYPE_NAMES);

    fn generated(n: u64) -> Store {
        Store::new("id", Box::new(GeneratedImported { devices: n, seed: 9 }))
    }

    fn id(record: &Record) -> String {
        record["id"].as_str().unwrap().to_string()
    }

    fn all_ids(store: &Store, query: &str) -> Vec<String> {
        let mut query = CollectionQuery::parse(query, &IMPORTED, false).unwrap();
        let mut ids = Vec::new();
        loop {
            let page = store.page(&query, 7);
            ids.extend(page.records.iter().map(id));
            match page.next {
                Some(cursor) => query.cursor = Some(cursor),
                None => return ids,
            }
        }
    }

    #[test]
    fn paging_survives_deletes_and_creates() {
        let mut store = generated(50);
        let ids = all_ids(&store, "");
        assert_eq!(ids.len(), 50);
        store.delete(&ids[3]).unwrap();
        assert_eq!(store.delete(&ids[3]), Err(StoreError::NotFound));
        let mut extra = store.get(&ids[4], None).unwrap();
        extra.insert("id".into(), Value::String(store.fresh_id()));
        store.insert(extra.clone()).unwrap();
        assert_eq!(store.insert(extra.clone()), Err(StoreError::Duplicate));
        let after = all_ids(&store, "");
        assert_eq!(after.len(), 50);
        assert!(!after.contains(&ids[3]));
        assert_eq!(after.last(), Some(&id(&extra)));
        assert_eq!(store.count(&CollectionQuery::default()), 50);
        let sorted = all_ids(&store, "$orderby=serialNumber desc");
        assert_eq!(sorted.len(), 50);
        // A deleted base id may be used again by a created record.
        let mut again = extra.clone();
        again.insert("id".into(), Value::String(ids[3].clone()));
        store.insert(again).unwrap();
        assert!(store.get(&ids[3].to_uppercase(), None).is_some());
    }

    #[test]
    fn skip_and_filter_in_store_order() {
        let store = generated(200);
        let all = all_ids(&store, "");
        assert_eq!(all_ids(&store, "$skip=195"), all[195..].to_vec());
        let errors = all_ids(&store, "$filter=state/deviceImportStatus%20eq%20'error'");
        assert!(!errors.is_empty());
        for id in &errors {
            assert_eq!(store.get(id, None).unwrap()["state"]["deviceImportStatus"], "error");
        }
        let q = CollectionQuery::parse("$filter=state/deviceImportStatus%20eq%20'error'", &IMPORTED, false)
            .unwrap();
        assert_eq!(store.count(&q), errors.len() as u64);
    }

    #[test]
    fn sorted_order_is_cached_per_version() {
        let mut store = generated(30);
        let first = all_ids(&store, "$orderby=serialNumber");
        assert_eq!(all_ids(&store, "$orderby=serialNumber"), first);
        // A change invalidates the cached order.
        let mut d = store.get(&first[29], None).unwrap();
        d.insert("serialNumber".into(), Value::String("0000 first".into()));
        store.replace(d).unwrap();
        assert_eq!(all_ids(&store, "$orderby=serialNumber")[0], first[29]);
        assert_eq!(all_ids(&store, "$orderby=serialNumber desc").last(), Some(&first[29]));
    }

    #[test]
    fn a_change_is_served_and_a_scan_leaves_out_what_it_does_not_read() {
        let mut store = generated(10);
        let mut d = store.record_at(4, None).unwrap();
        assert!(d["hardwareIdentifier"].is_string());
        d.insert("groupTag".into(), Value::String("Changed".into()));
        store.replace(d.clone()).unwrap();
        assert_eq!(store.get(&id(&d), None), Some(d));
        let lean = store.record_at(5, Some(&["groupTag"])).unwrap();
        assert!(lean.contains_key("groupTag") && !lean.contains_key("hardwareIdentifier"), "{lean:?}");
    }
}
