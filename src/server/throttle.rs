//! Throttling as Intune does it, deterministically (`graph-registered.md` section 7): token
//! buckets per tenant, one for writes (`POST`, `PUT`, `PATCH`, `DELETE`) and one for every
//! request, refilled evenly on the server's clock (so a test with a paused clock drives them).
//! A request that finds a bucket empty is answered `429 TooManyRequests` in Intune's shape, with
//! an integer `Retry-After`: the time until the bucket has a token again, rounded up to a whole
//! second. A refused request takes no token. Off by default; `serve --throttle-writes 100/20`
//! and `--throttle-requests 1000/20` switch them on.
//!
//! The tenant is the `tid` of a token the sign-in imitation issued; every other token (a static
//! `--token`, any token when none is fixed) counts as one tenant. The buckets sit on the Graph
//! resource routes, outside the random faults (a throttled request draws no fault), so each
//! request of a `$batch` is throttled on its own and the `$batch` envelope itself never is. A
//! throttled request is journaled as [`FaultKind::Throttled`]: it did not reach its handler.

use super::AppState;
use super::conventions::{ApiError, RequestIds};
use super::faults::{FaultKind, retry_after_value};
use super::routes::below_version_root;
use super::tokens;
use crate::graph::pacer::{Rate, TokenBucket};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Which buckets the server keeps per tenant. `Default` is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleConfig {
    /// Writes (`POST`, `PUT`, `PATCH`, `DELETE` on a Graph resource) per tenant.
    pub writes: Option<Rate>,
    /// Graph requests of any method per tenant (writes count here too).
    pub requests: Option<Rate>,
}

impl ThrottleConfig {
    /// Whether any bucket is on.
    pub fn is_active(&self) -> bool {
        self.writes.is_some() || self.requests.is_some()
    }
}

/// The buckets of every tenant seen so far.
#[derive(Debug, Default)]
pub(super) struct Throttle {
    config: ThrottleConfig,
    tenants: HashMap<String, TenantBuckets>,
}

#[derive(Debug, Clone)]
struct TenantBuckets {
    writes: Option<TokenBucket>,
    requests: Option<TokenBucket>,
}

impl Throttle {
    /// Full buckets for every tenant, as configured.
    pub(super) fn new(config: ThrottleConfig) -> Throttle {
        Throttle { config, tenants: HashMap::new() }
    }

    /// Takes a token from each bucket that applies to this request, or none of them and says
    /// how long until all of them have one.
    fn admit(&mut self, tenant: &str, write: bool, now: Instant) -> Result<(), Duration> {
        let config = self.config;
        let buckets = self.tenants.entry(tenant.to_string()).or_insert_with(|| TenantBuckets {
            writes: config.writes.map(TokenBucket::new),
            requests: config.requests.map(TokenBucket::new),
        });
        // Tried on a copy, so a request refused by one bucket takes nothing from the other.
        let mut tried = buckets.clone();
        let mut wait = Duration::ZERO;
        let applying = [tried.writes.as_mut().filter(|_| write), tried.requests.as_mut()];
        for bucket in applying.into_iter().flatten() {
            if let Err(more) = bucket.try_take(1, now) {
                wait = wait.max(more);
            }
        }
        if wait.is_zero() {
            *buckets = tried;
            Ok(())
        } else {
            Err(wait)
        }
    }
}

/// Whether a request writes (the enrollment service's POST/PUT/DELETE/PATCH bucket).
fn is_write(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

/// The tenant a request's bearer token belongs to: the `tid` of a token issued here, else `""`
/// (every other token is the same tenant). Runs after the token was accepted.
fn tenant_of(request: &Request) -> String {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .and_then(|(_, token)| tokens::claim_of(token.trim(), "tid"))
        .unwrap_or_default()
}

/// The middleware on the Graph resource routes: lets a request through when its tenant's
/// buckets have a token, otherwise answers 429 with `Retry-After`.
pub(super) async fn limit(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let verdict = {
        let mut throttle = app.throttle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !throttle.config.is_active() {
            None
        } else {
            let tenant = tenant_of(&request);
            throttle.admit(&tenant, is_write(request.method()), app.clock.now()).err()
        }
    };
    let Some(wait) = verdict else { return next.run(request).await };
    let ids = request
        .extensions()
        .get::<RequestIds>()
        .cloned()
        .unwrap_or_else(|| RequestIds { request_id: String::new(), client_request_id: String::new() });
    // Intune's words for it, with its JSON document inside the message, as the live 429s have.
    let error = ApiError::intune(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "An error has occurred",
        &ids,
        &below_version_root(request.uri()),
    );
    let retry_after = retry_after_value(wait);
    tracing::info!(method = %request.method(), path = %request.uri().path(), retry_after = %retry_after, "throttled");
    let mut response = error.into_response();
    if let Ok(value) = HeaderValue::from_str(&retry_after) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response.extensions_mut().insert(FaultKind::Throttled);
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_requests_are_separate_buckets_per_tenant() {
        let t0 = Instant::now();
        let mut throttle = Throttle::new(ThrottleConfig {
            writes: Some(Rate::new(2, Duration::from_secs(20))),
            requests: Some(Rate::new(3, Duration::from_secs(3))),
        });
        throttle.admit("a", true, t0).unwrap();
        throttle.admit("a", true, t0).unwrap();
        // Writes are spent; the refused write takes no request token.
        assert_eq!(throttle.admit("a", true, t0), Err(Duration::from_secs(10)));
        throttle.admit("a", false, t0).unwrap();
        assert_eq!(throttle.admit("a", false, t0), Err(Duration::from_secs(1)));
        // Both empty: the longer wait.
        assert_eq!(throttle.admit("a", true, t0), Err(Duration::from_secs(10)));
        // Another tenant has buckets of its own.
        throttle.admit("b", true, t0).unwrap();
        let t1 = t0 + Duration::from_secs(10);
        throttle.admit("a", true, t1).unwrap();
        assert_eq!(throttle.admit("a", true, t1), Err(Duration::from_secs(10)));
    }
}
