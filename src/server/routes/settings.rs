//! The Autopilot account settings, beta only (`graph-registered.md` section 4): `GET
//! /deviceManagement/windowsAutopilotSettings` and its `sync` action (bare or
//! `microsoft.graph.`-prefixed): 204; 409 while a sync runs; 429 within 10 minutes of the last
//! manual sync. A manual sync runs for [`SYNC_TAKES`] on the server's clock, then completes.
//! Not served on `/v1.0`, which answers as Graph does for a segment it does not know.

use super::{context, entity_response, is_beta, service_root};
use crate::graph::registered::{SETTINGS_FIELDS, SETTINGS_PATH, SETTINGS_TYPE_NAMES};
use crate::graph::resource::Record;
use crate::graph::timestamp;
use crate::server::AppState;
use crate::server::clock::Clock;
use crate::server::conventions::{ApiError, RequestIds};
use crate::server::odata::Selection;
use crate::server::schema::{EntityType, NEVER};
use axum::Router;
use axum::extract::{Extension, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How long a manual sync runs before it completes.
const SYNC_TAKES: Duration = Duration::from_secs(60);
/// How long after a manual sync the next one is refused with 429.
const SYNC_COOL_DOWN: Duration = Duration::from_secs(600);
/// How long before the server started the service last synced on its own.
const LAST_SYNC_BEFORE_START: Duration = Duration::from_secs(3 * 3600);

/// The settings' entity type.
pub(super) const ENTITY: EntityType =
    EntityType { name: "windowsAutopilotSettings", fields: SETTINGS_FIELDS, names: &SETTINGS_TYPE_NAMES };

/// The settings' state on the server's clock.
#[derive(Debug)]
pub(in crate::server) struct AutopilotSettings {
    clock: Clock,
    /// When the service last synced on its own.
    background_sync: SystemTime,
    /// The last manual sync: when it was triggered, on the clock and on the wall.
    manual: Option<(Instant, SystemTime)>,
}

/// Why a manual sync was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// One is running.
    InProgress,
    /// The last was triggered less than [`SYNC_COOL_DOWN`] ago; the next is allowed then.
    TooSoon { last: SystemTime },
}

impl AutopilotSettings {
    /// Settings whose last (automatic) sync was a few hours before now.
    pub(in crate::server) fn new(clock: &Clock) -> AutopilotSettings {
        let background_sync = clock.wall() - LAST_SYNC_BEFORE_START;
        AutopilotSettings { clock: clock.clone(), background_sync, manual: None }
    }

    fn running(&self) -> bool {
        self.manual.is_some_and(|(at, _)| self.clock.now() < at + SYNC_TAKES)
    }

    /// The entity as Graph answers it.
    fn record(&self) -> Record {
        let (last_sync, last_manual) = match self.manual {
            Some((_, wall)) if !self.running() => (wall + SYNC_TAKES, Some(wall)),
            Some((_, wall)) => (self.background_sync, Some(wall)),
            None => (self.background_sync, None),
        };
        let status = if self.running() { "inProgress" } else { "completed" };
        let mut record = Record::new();
        // One account, one settings object: a fixed id.
        record.insert("id".into(), Value::String("a5d7f2c1-3b4e-4f60-9a81-2c6e0b7d5f13".into()));
        record.insert("lastSyncDateTime".into(), Value::String(timestamp::format(last_sync)));
        record.insert(
            "lastManualSyncTriggerDateTime".into(),
            Value::String(last_manual.map_or_else(|| NEVER.into(), timestamp::format)),
        );
        record.insert("syncStatus".into(), Value::String(status.into()));
        record
    }

    /// Starts a manual sync, unless one runs or the last was too recent.
    fn sync(&mut self) -> Result<(), Refusal> {
        if self.running() {
            return Err(Refusal::InProgress);
        }
        let now = self.clock.now();
        if let Some((at, wall)) = self.manual
            && now < at + SYNC_COOL_DOWN
        {
            return Err(Refusal::TooSoon { last: wall });
        }
        self.manual = Some((now, self.clock.wall()));
        Ok(())
    }
}

/// The routes of the settings, below the beta root.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(SETTINGS_PATH, get(settings))
        .route(&format!("{SETTINGS_PATH}/sync"), post(sync))
        .route(&format!("{SETTINGS_PATH}/microsoft.graph.sync"), post(sync))
}

fn lock(app: &AppState) -> MutexGuard<'_, AutopilotSettings> {
    app.settings.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn settings(
    State(app): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let beta = is_beta(&uri);
    let select = match uri
        .query()
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "$select"))
    {
        Some((_, text)) => Some(Selection::parse(&text, &ENTITY, beta)?),
        None => None,
    };
    let record = lock(&app).record();
    let context = context(&service_root(&app, &headers, &uri), SETTINGS_PATH, select.as_ref(), true);
    Ok(entity_response(StatusCode::OK, context, &ENTITY, beta, record, select.as_ref()))
}

async fn sync(
    State(app): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    Extension(ids): Extension<RequestIds>,
) -> Result<Response, ApiError> {
    let at = super::below_version_root(&uri);
    match lock(&app).sync() {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        // The live texts are not known; these are Intune's shape with plausible words.
        Err(Refusal::InProgress) => Err(ApiError::intune(
            StatusCode::CONFLICT,
            "Conflict",
            "A sync of Windows Autopilot devices is already in progress",
            &ids,
            &at,
        )),
        Err(Refusal::TooSoon { last }) => Err(ApiError::intune(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            &format!(
                "The last manual sync was triggered at {}; the next one is allowed 10 minutes after it, at {}",
                timestamp::format(last),
                timestamp::format(last + SYNC_COOL_DOWN)
            ),
            &ids,
            &at,
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sync_runs_then_cools_down() {
        let clock = Clock::new();
        let mut settings = AutopilotSettings::new(&clock);
        assert_eq!(settings.record()["syncStatus"], "completed");
        assert_eq!(settings.record()["lastManualSyncTriggerDateTime"], NEVER);
        settings.sync().unwrap();
        let triggered = settings.record()["lastManualSyncTriggerDateTime"].clone();
        assert_eq!(settings.record()["syncStatus"], "inProgress");
        assert_eq!(settings.sync(), Err(Refusal::InProgress));
        clock.advance(SYNC_TAKES);
        assert_eq!(settings.record()["syncStatus"], "completed");
        assert!(matches!(settings.sync(), Err(Refusal::TooSoon { .. })));
        assert_eq!(
            settings.record()["lastManualSyncTriggerDateTime"],
            triggered,
            "a refusal changes nothing"
        );
        clock.advance(SYNC_COOL_DOWN - SYNC_TAKES);
        settings.sync().unwrap();
        assert_ne!(settings.record()["lastManualSyncTriggerDateTime"], triggered);
    }
}
