//! Opt-in faults on the Graph routes, for tests and demos of the client's retry rules: a share
//! of requests answered 429 (with `Retry-After`), 503 (with and without it), 500, dropped
//! connections, truncated or malformed JSON bodies, and added latency.
//!
//! Each request draws one number from a deterministic generator (SplitMix64 over the fault
//! seed and a per-server request counter), so a sequential client sees the same faults on
//! every run with the same seed. The rates are *shares* of requests: at most one fault hits a
//! request, and the rates must add up to at most 1.
//!
//! When a fault happens relative to the handler matters for "exactly once":
//! - 429, 503, 500 and half of the dropped connections happen **before** the handler runs: the
//!   request changed nothing.
//! - The other half of the dropped connections, and every truncated or malformed body, happen
//!   **after** the handler ran: a PATCH was applied but its answer was lost or garbled, as on a
//!   real network. A client that retries the same PATCH body ends in the same state.
//!
//! Truncated and malformed bodies only hit answers that are 2xx with a body; other answers pass
//! unchanged (and are journaled as unfaulted). Faults never touch paging state: a retried next
//! link answers the same page.

use super::AppState;
use super::conventions::ApiError;
use super::data::SplitMix64;
pub use super::journal::FaultKind;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Largest answer body a truncating or malformed fault reads back before garbling it.
const MAX_REWRITTEN_BODY: usize = 256 * 1024 * 1024;

/// Which faults the server injects, and how often. `Default` is off.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultConfig {
    /// Share of requests answered 429 `TooManyRequests` with `Retry-After`.
    pub throttle: f64,
    /// Share answered 503 `serviceNotAvailable` (half with `Retry-After`, half without).
    pub unavailable: f64,
    /// Share answered 500 `InternalServerError`.
    pub internal_error: f64,
    /// Share whose connection is closed without a complete answer.
    pub drop_connection: f64,
    /// Share of 2xx answers whose JSON body is cut in half (status and length still consistent).
    pub truncate_body: f64,
    /// Share of 2xx answers whose JSON body is made invalid.
    pub malformed_body: f64,
    /// The wait sent as `Retry-After` with 429 and half of the 503s, in whole seconds (a fraction
    /// is rounded up).
    pub retry_after: Duration,
    /// Added to every Graph request before it is handled, faulted or not.
    pub latency: Option<LatencyRange>,
    /// Seed of the fault generator: the same seed gives the same faults in the same order.
    pub seed: u64,
}

impl FaultConfig {
    /// Every fault kind at `rate` (six kinds, so `rate` is at most 1/6), `Retry-After: 1` (the
    /// shortest whole wait; the fault-run clients cap their waits far lower) and 0-5 ms of
    /// latency: the stress setting of the fault-run tests.
    pub fn every_kind(rate: f64, seed: u64) -> FaultConfig {
        FaultConfig {
            throttle: rate,
            unavailable: rate,
            internal_error: rate,
            drop_connection: rate,
            truncate_body: rate,
            malformed_body: rate,
            retry_after: Duration::from_secs(1),
            latency: Some(LatencyRange { min: Duration::ZERO, max: Duration::from_millis(5) }),
            seed,
        }
    }

    /// Whether any fault or latency is switched on.
    pub fn is_active(&self) -> bool {
        self.total_rate() > 0.0 || self.latency.is_some()
    }

    fn rates(&self) -> [(f64, Fault); 6] {
        [
            (self.throttle, Fault::Throttle),
            (self.unavailable, Fault::Unavailable),
            (self.internal_error, Fault::InternalError),
            (self.drop_connection, Fault::Drop),
            (self.truncate_body, Fault::Truncate),
            (self.malformed_body, Fault::Malformed),
        ]
    }

    fn total_rate(&self) -> f64 {
        self.rates().iter().map(|(rate, _)| rate).sum()
    }

    /// Checks that every rate is a probability and that together they are at most 1.
    pub fn validate(&self) -> Result<(), String> {
        let names = ["429", "503", "500", "drop", "truncate", "malformed"];
        for ((rate, _), name) in self.rates().iter().zip(names) {
            if !(0.0..=1.0).contains(rate) {
                return Err(format!("the {name} fault rate must be from 0 to 1, not {rate}"));
            }
        }
        let total = self.total_rate();
        if total > 1.0 + 1e-9 {
            return Err(format!(
                "the fault rates add up to {total}; they are shares of requests and must add up to at most 1"
            ));
        }
        Ok(())
    }

    /// The fault (and latency) for the request with this sequence number.
    fn draw(&self, request_number: u64) -> (Option<FaultKind>, Duration) {
        let mut random = SplitMix64::new(self.seed, request_number);
        let pick = unit(random.next_u64());
        let variant = random.next_u64() & 1 == 1;
        let latency = self.latency.map_or(Duration::ZERO, |range| range.at(unit(random.next_u64())));
        let mut edge = 0.0;
        for (rate, fault) in self.rates() {
            edge += rate;
            if rate > 0.0 && pick < edge {
                let kind = match fault {
                    Fault::Throttle => FaultKind::Throttled,
                    Fault::Unavailable => FaultKind::Unavailable { retry_after: variant },
                    Fault::InternalError => FaultKind::InternalError,
                    Fault::Drop if variant => FaultKind::DroppedAfterHandling,
                    Fault::Drop => FaultKind::DroppedBeforeHandling,
                    Fault::Truncate => FaultKind::TruncatedBody,
                    Fault::Malformed => FaultKind::MalformedBody,
                };
                return (Some(kind), latency);
            }
        }
        (None, latency)
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Throttle,
    Unavailable,
    InternalError,
    Drop,
    Truncate,
    Malformed,
}

/// 64 random bits as a number in [0, 1).
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Added latency: a fixed delay (`min == max`) or one drawn evenly from `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyRange {
    /// The shortest delay.
    pub min: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl LatencyRange {
    fn at(self, fraction: f64) -> Duration {
        self.min + self.max.saturating_sub(self.min).mul_f64(fraction.clamp(0.0, 1.0))
    }
}

impl FromStr for LatencyRange {
    type Err = String;

    /// Milliseconds: `50` (fixed) or `0-5` (a range).
    fn from_str(text: &str) -> Result<LatencyRange, String> {
        let millis = |part: &str| {
            part.trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("'{part}' is not a whole number of milliseconds"))
        };
        let (min, max) = match text.split_once('-') {
            Some((min, max)) => (millis(min)?, millis(max)?),
            None => (millis(text)?, millis(text)?),
        };
        if min > max {
            return Err(format!("the latency range {text} ends before it starts"));
        }
        Ok(LatencyRange { min, max })
    }
}

/// `Retry-After` text: whole seconds, a fraction rounded up (`0.25` s is sent as `1`). The live
/// service sends integers, and some SDKs (Kiota's retry handler) ignore a fractional value.
pub fn retry_after_value(wait: Duration) -> String {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.to_string()
}

/// The middleware on the Graph routes: adds latency, then answers with the drawn fault. The
/// fault travels back to the conventions layer as a response extension, so it is journaled.
pub(super) async fn inject(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let config = app.faults.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
    if !config.is_active() {
        return next.run(request).await;
    }
    let number = app.fault_counter.fetch_add(1, Ordering::Relaxed);
    let (fault, latency) = config.draw(number);
    if !latency.is_zero() {
        app.clock.sleep(latency).await;
    }
    let Some(kind) = fault else {
        return next.run(request).await;
    };
    let retry_after = retry_after_value(config.retry_after);
    let mut response = match kind {
        FaultKind::Throttled => with_retry_after(
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests; the application is throttled. Retry after the time in the Retry-After header.",
            )
            .into_response(),
            &retry_after,
        ),
        FaultKind::Unavailable { retry_after: send } => {
            let response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Try again later.",
            )
            .into_response();
            if send { with_retry_after(response, &retry_after) } else { response }
        }
        FaultKind::InternalError => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "An internal server error occurred (injected fault).",
        )
        .into_response(),
        FaultKind::DroppedBeforeHandling => dropped(),
        FaultKind::DroppedAfterHandling => {
            let _lost = next.run(request).await;
            dropped()
        }
        FaultKind::TruncatedBody | FaultKind::MalformedBody => {
            let answer = next.run(request).await;
            match rewrite_body(answer, kind).await {
                Ok(rewritten) => rewritten,
                // Nothing to garble: the answer goes out as it was, unfaulted.
                Err(unchanged) => return unchanged,
            }
        }
    };
    tracing::info!(fault = %kind, request_number = number, "injected fault");
    response.extensions_mut().insert(kind);
    response
}

fn with_retry_after(mut response: Response, value: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A 200 whose body fails before its first byte: hyper closes the connection, and the client
/// sees a transport error instead of an answer.
fn dropped() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("injected fault: connection dropped"))
    });
    Body::from_stream(failing).into_response()
}

/// Cuts or garbles a 2xx JSON answer; gives back `Err(answer)` when there is nothing to garble.
async fn rewrite_body(answer: Response, kind: FaultKind) -> Result<Response, Response> {
    if !answer.status().is_success() {
        return Err(answer);
    }
    let (mut parts, body) = answer.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_REWRITTEN_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return Err(dropped()),
    };
    if bytes.is_empty() {
        return Err(Response::from_parts(parts, Body::empty()));
    }
    let garbled: Vec<u8> = if kind == FaultKind::TruncatedBody {
        bytes[..bytes.len() / 2].to_vec()
    } else {
        // A property without a value up front: not JSON, yet it looks like it at a glance
        // (as a proxy's corruption would).
        let mut text = b"{\"@odata.context\":,".to_vec();
        text.extend_from_slice(bytes.get(1..).unwrap_or_default());
        text
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, Body::from(garbled)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Every kind at `rate`, with the default `Retry-After` and no latency.
    fn every(rate: f64) -> FaultConfig {
        let off = FaultConfig::default();
        FaultConfig { retry_after: off.retry_after, latency: off.latency, ..FaultConfig::every_kind(rate, 7) }
    }

    #[test]
    fn off_by_default() {
        let config = FaultConfig::default();
        assert!(!config.is_active());
        assert!(config.validate().is_ok());
        assert!((0..1000).all(|n| config.draw(n) == (None, Duration::ZERO)));
    }

    #[test]
    fn shares_match_rates_and_draws_repeat() {
        let config = every(0.1);
        let draws: Vec<_> = (0..60_000).map(|n| config.draw(n).0).collect();
        let share = |pred: &dyn Fn(&FaultKind) -> bool| {
            draws.iter().filter(|d| d.as_ref().is_some_and(pred)).count() as f64 / draws.len() as f64
        };
        for (name, observed) in [
            ("429", share(&|k| *k == FaultKind::Throttled)),
            ("503", share(&|k| matches!(k, FaultKind::Unavailable { .. }))),
            ("500", share(&|k| *k == FaultKind::InternalError)),
            (
                "drop",
                share(&|k| matches!(k, FaultKind::DroppedBeforeHandling | FaultKind::DroppedAfterHandling)),
            ),
            ("truncate", share(&|k| *k == FaultKind::TruncatedBody)),
            ("malformed", share(&|k| *k == FaultKind::MalformedBody)),
        ] {
            assert!((observed - 0.1).abs() < 0.01, "{name}: {observed}");
        }
        assert!(draws.contains(&Some(FaultKind::Unavailable { retry_after: true })));
        assert!(draws.contains(&Some(FaultKind::Unavailable { retry_after: false })));
        assert!(draws.contains(&Some(FaultKind::DroppedAfterHandling)));
        assert!(draws.contains(&Some(FaultKind::DroppedBeforeHandling)));
        assert_eq!(draws, (0..60_000).map(|n| config.draw(n).0).collect::<Vec<_>>());
        let other = FaultConfig { seed: 8, ..config };
        assert_ne!(draws, (0..60_000).map(|n| other.draw(n).0).collect::<Vec<_>>());
    }

    #[test]
    fn a_rate_of_one_hits_every_request() {
        let config = FaultConfig { internal_error: 1.0, ..FaultConfig::default() };
        assert!((0..1000).all(|n| config.draw(n).0 == Some(FaultKind::InternalError)));
    }

    #[test]
    fn invalid_rates_are_refused() {
        assert!(every(0.2).validate().unwrap_err().contains("add up to"));
        assert!(FaultConfig { throttle: 1.5, ..FaultConfig::default() }.validate().is_err());
        assert!(FaultConfig { throttle: -0.1, ..FaultConfig::default() }.validate().is_err());
        assert!(FaultConfig { throttle: f64::NAN, ..FaultConfig::default() }.validate().is_err());
        assert!(every(1.0 / 6.0).validate().is_ok());
    }

    #[test]
    fn latency_ranges_parse_and_stay_inside() {
        let fixed: LatencyRange = "50".parse().unwrap();
        assert_eq!((fixed.min, fixed.max), (Duration::from_millis(50), Duration::from_millis(50)));
        let range: LatencyRange = "0-5".parse().unwrap();
        assert_eq!(range.max, Duration::from_millis(5));
        assert!("5-1".parse::<LatencyRange>().is_err());
        assert!("fast".parse::<LatencyRange>().is_err());
        let config = FaultConfig { latency: Some(range), ..FaultConfig::default() };
        assert!(config.is_active());
        let waits: Vec<Duration> = (0..1000).map(|n| config.draw(n).1).collect();
        assert!(waits.iter().all(|w| *w <= range.max));
        assert!(
            waits.iter().any(|w| *w > Duration::from_millis(4))
                && waits.iter().any(|w| *w < Duration::from_millis(1))
        );
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(retry_after_value(Duration::from_secs(2)), "2");
        assert_eq!(retry_after_value(Duration::from_millis(2128)), "3");
        assert_eq!(retry_after_value(Duration::from_millis(10)), "1");
        assert_eq!(retry_after_value(Duration::from_nanos(1)), "1");
        assert_eq!(retry_after_value(Duration::ZERO), "0");
    }
}
