//! Small helpers several test files share: a plausible hardware hash, every record of a
//! collection.

#![allow(clippy::unwrap_used, dead_code)] // test helpers; not every file uses each

use autopilot_tui::graph::client::GraphClient;
use autopilot_tui::graph::resource::Record;
use base64::Engine;
use futures_util::StreamExt;

/// A plausible hardware hash (1,100 bytes: above the checker's floor), different for every `n`.
pub fn hash(n: u32) -> String {
    let mut state = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let bytes: Vec<u8> = (0..1100)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Every record the client lists.
pub async fn records(client: &GraphClient) -> Vec<Record> {
    let mut all = Vec::new();
    let mut pages = client.list(&Default::default());
    while let Some(page) = pages.next().await {
        all.extend(page.result.unwrap().devices);
    }
    all
}
