//! The Autopilot sync offered after an import (`POST /beta/deviceManagement/
//! windowsAutopilotSettings/sync`): asked once; a 409 (one runs) or a 429 (within ten minutes of
//! the last) is said, never retried.

use crate::graph::client::GraphClient;
use std::time::Duration;

/// How the Autopilot sync went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Started (204): new devices reach Intune within minutes.
    Started,
    /// One runs already (409): it picks the new devices up.
    AlreadyRunning,
    /// Within ten minutes of the last manual sync (429); when the next one is allowed, if the
    /// settings said.
    TooSoon {
        /// The next allowed time, as Graph writes timestamps.
        next_allowed: Option<String>,
    },
    /// Anything else, in words (never tried again here).
    Failed(String),
}

impl std::fmt::Display for SyncOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncOutcome::Started => {
                f.write_str("Autopilot sync started: the new devices reach Intune within minutes.")
            }
            SyncOutcome::AlreadyRunning => f.write_str(
                "An Autopilot sync is running already (409); it picks the new devices up, nothing else to do.",
            ),
            SyncOutcome::TooSoon { next_allowed: Some(at) } => write!(
                f,
                "Intune takes one manual Autopilot sync every 10 minutes (429); the next is allowed at {at}. \
                 Not tried again: run :sync in the app, or the import's --sync, after that."
            ),
            SyncOutcome::TooSoon { next_allowed: None } => f.write_str(
                "Intune takes one manual Autopilot sync every 10 minutes (429); not tried again: run :sync \
                 in the app later.",
            ),
            SyncOutcome::Failed(why) => write!(f, "The Autopilot sync failed: {why}. Not tried again."),
        }
    }
}

/// Asks Intune to sync with the Autopilot service, once: a 409 or 429 is said, never retried.
pub(super) async fn sync(client: &GraphClient) -> SyncOutcome {
    let outcome = client.sync_autopilot().await;
    let Err(error) = outcome.result else { return SyncOutcome::Started };
    match error.service().map(|s| s.status) {
        Some(409) => SyncOutcome::AlreadyRunning,
        Some(429) => {
            let settings = client.autopilot_settings().await.result.ok();
            let last = settings.as_ref().and_then(|s| {
                s.get("lastManualSyncTriggerDateTime")
                    .and_then(|v| v.as_str())
                    .and_then(crate::graph::timestamp::parse)
            });
            let next_allowed = last.map(|at| crate::graph::timestamp::format(at + SYNC_INTERVAL));
            SyncOutcome::TooSoon { next_allowed }
        }
        _ => SyncOutcome::Failed(error.to_string()),
    }
}

/// Intune takes one manual Autopilot sync per this long.
const SYNC_INTERVAL: Duration = Duration::from_secs(600);
