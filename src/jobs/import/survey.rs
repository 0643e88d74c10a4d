//! Reading what the tenant holds for the serials of a file: both collections listed whole, side
//! by side, with `$select` (no hashes), and matched by serial here.
//!
//! Why listing rather than a look-up per serial: the registered devices take only
//! `contains(serialNumber,'...')` (a substring, and refused for some serial shapes), the live
//! service refuses `eq`, and a 10,000-row file would be 20,000 requests against Intune's 2,000
//! per 20 s; a listing is one request per 999 records, whatever the file's size. Only records
//! whose serial is in the file are kept.

use super::ImportError;
use super::progress::{ImportEvent, Reporter};
use super::reconcile::{QueueRecord, RegisteredDevice, Tenant, serial_key};
use crate::graph::client::{GraphClient, ListQuery, Outcome, Page};
use crate::graph::imported::IMPORTED;
use crate::graph::registered::REGISTERED;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::collections::HashSet;

/// What is read of a registered device.
pub const REGISTERED_SELECT: &[&str] = &["id", "serialNumber", "groupTag", "userPrincipalName"];
/// What is read of an import record.
pub const QUEUE_SELECT: &[&str] = &["id", "serialNumber", "importId", "state"];

/// The query of a listing: these properties, pages as large as Graph gives.
fn query(select: &[&str], page_size: u32) -> ListQuery {
    ListQuery {
        select: select.iter().map(|s| s.to_string()).collect(),
        top: Some(page_size.clamp(1, 999)),
        ..ListQuery::default()
    }
}

/// The import queue listed whole with [`QUEUE_SELECT`] (the client's resource is ignored).
pub(super) fn list_queue(client: &GraphClient, page_size: u32) -> BoxStream<'static, Outcome<Page>> {
    client.for_resource(&IMPORTED).list(&query(QUEUE_SELECT, page_size))
}

/// Reads both collections and keeps the records of `serials` (keys of [`serial_key`]); a
/// cancel stops it between pages.
pub(super) async fn survey(
    client: &GraphClient,
    serials: &HashSet<String>,
    page_size: u32,
    reporter: &Reporter,
) -> Result<Tenant, ImportError> {
    enum Of {
        Registered(Outcome<Page>),
        Queue(Outcome<Page>),
    }
    let registered =
        client.for_resource(&REGISTERED).list(&query(REGISTERED_SELECT, page_size)).map(Of::Registered);
    let queue = list_queue(client, page_size).map(Of::Queue);
    let mut pages = futures_util::stream::select(registered, queue);
    let mut tenant = Tenant::default();
    loop {
        let page = tokio::select! {
            biased;
            _ = reporter.token().cancelled() => return Err(ImportError::Cancelled),
            page = pages.next() => page,
        };
        let Some(page) = page else { break };
        let (registered, outcome) = match page {
            Of::Registered(outcome) => (true, outcome),
            Of::Queue(outcome) => (false, outcome),
        };
        let collection = if registered { REGISTERED.title } else { IMPORTED.title };
        let page = outcome.result.map_err(|source| ImportError::Survey { collection, source })?;
        for warning in page.warnings.iter().filter(|w| w.skipped()) {
            if let Some(serial) = warning.serial_number.as_deref().map(serial_key)
                && serials.contains(&serial)
            {
                tenant.unreadable.insert(serial);
            }
        }
        for record in page.devices {
            if registered {
                tenant.registered_seen += 1;
            } else {
                tenant.queue_seen += 1;
            }
            let Some(serial) = record.get("serialNumber").and_then(|s| s.as_str()).map(serial_key) else {
                continue;
            };
            if !serials.contains(&serial) {
                continue;
            }
            if registered {
                if let Some(id) = REGISTERED.id(&record).map(str::to_string) {
                    tenant.registered.entry(serial).or_default().push(RegisteredDevice { id, record });
                }
            } else if let Some(queued) = QueueRecord::from_record(&record) {
                tenant.queue.entry(serial).or_default().push(queued);
            }
        }
        reporter
            .emit(ImportEvent::Surveying { registered: tenant.registered_seen, queue: tenant.queue_seen });
    }
    Ok(tenant)
}
