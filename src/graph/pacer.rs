//! The write budget every write passes through: a token bucket (Intune allows about 100 writes
//! per 20 s per app and tenant, `graph-registered.md` section 7), a small limit on writes in
//! flight, and a pause that a 429's `Retry-After` puts on every writer sharing the pacer, not
//! only on the request that got it.
//!
//! The bucket itself ([`TokenBucket`]) is pure: time is passed in, so the embedded server's
//! throttling (`server/throttle.rs`) runs the same arithmetic on its own clock. The pacer waits on
//! tokio's clock, so a test started paused (`#[tokio::test(start_paused = true)]`) runs a
//! 10,000-write plan without waiting in real time.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// `count` events per `per`: a bucket of `count` tokens, refilled evenly over `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Tokens in a full bucket, and tokens added per `per`.
    pub count: u32,
    /// The refill period.
    pub per: Duration,
}

/// What the pacer allows by default: 100 writes per 20 s, Intune's per-app share of the
/// enrollment service's write limit.
pub const DEFAULT_WRITE_RATE: Rate = Rate { count: 100, per: Duration::from_secs(20) };

/// Writes in flight at once by default.
pub const DEFAULT_CONCURRENCY: usize = 4;

impl Rate {
    /// `count` per `per`.
    pub const fn new(count: u32, per: Duration) -> Rate {
        Rate { count, per }
    }

    /// How long `tokens` take to refill (`per * tokens / count`).
    pub fn refill_time(&self, tokens: u32) -> Duration {
        let nanos = self.per.as_nanos() * u128::from(tokens) / u128::from(self.count.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The time `writes` take at this rate after the first full bucket is spent (the floor a
    /// paced job cannot beat): `(writes - count) * per / count`, zero for one bucket or less.
    pub fn floor(&self, writes: u64) -> Duration {
        let beyond = writes.saturating_sub(u64::from(self.count));
        let nanos = self.per.as_nanos() * u128::from(beyond) / u128::from(self.count.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn check(self) -> Result<Rate, String> {
        if self.count == 0 {
            return Err("a rate needs at least 1 per period".into());
        }
        if self.per.is_zero() {
            return Err("a rate's period must be longer than 0 seconds".into());
        }
        Ok(self)
    }
}

impl fmt::Display for Rate {
    /// `100/20` (seconds), as [`Rate::from_str`] reads it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.per.as_secs_f64())
    }
}

impl FromStr for Rate {
    type Err = String;

    /// `N/SECONDS`: `100/20` is 100 per 20 s; `5/0.5` works too. `N` is a whole number from 1,
    /// `SECONDS` more than 0 and at most a day.
    fn from_str(text: &str) -> Result<Rate, String> {
        let form = || format!("'{text}' is not a rate: write N/SECONDS, e.g. 100/20");
        let (count, per) = text.trim().split_once('/').ok_or_else(form)?;
        let count: u32 = count.trim().parse().map_err(|_| form())?;
        let seconds: f64 = per.trim().trim_end_matches('s').parse().map_err(|_| form())?;
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0) {
            return Err(format!("'{text}': the period must be more than 0 and at most 86400 seconds"));
        }
        Rate { count, per: Duration::from_secs_f64(seconds) }.check().map_err(|e| format!("'{text}': {e}"))
    }
}

/// Parses `--write-rate N/SECONDS` (and the server's `--throttle-*`) for clap.
pub fn parse_rate(text: &str) -> Result<Rate, String> {
    text.parse()
}

/// A token bucket in its GCRA form: instead of a token count it keeps the time at which the
/// bucket would be full again, so it needs no timer and is exact in nanoseconds. Starts full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    rate: Rate,
    /// When the bucket is full again (the "theoretical arrival time"); `None`: full.
    full_at: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket of `rate.count` tokens.
    pub fn new(rate: Rate) -> TokenBucket {
        TokenBucket { rate, full_at: None }
    }

    /// The rate it refills at.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes `tokens` at `now`, or says how long until that many are there (then nothing is
    /// taken). More than a full bucket is taken as a full bucket.
    pub fn try_take(&mut self, tokens: u32, now: Instant) -> Result<(), Duration> {
        let tokens = tokens.min(self.rate.count);
        let debt = self.full_at.map_or(now, |at| at.max(now)) + self.rate.refill_time(tokens);
        let ready_at = debt.checked_sub(self.rate.per).unwrap_or(now);
        if ready_at <= now {
            self.full_at = Some(debt);
            Ok(())
        } else {
            Err(ready_at - now)
        }
    }

    /// Whole tokens in the bucket at `now`.
    pub fn available(&self, now: Instant) -> u32 {
        let Some(full_at) = self.full_at else { return self.rate.count };
        let missing = full_at.saturating_duration_since(now);
        let spare = self.rate.per.saturating_sub(missing);
        let tokens = spare.as_nanos() * u128::from(self.rate.count) / self.rate.per.as_nanos().max(1);
        u32::try_from(tokens).unwrap_or(self.rate.count).min(self.rate.count)
    }

    /// Empties the bucket so that its next token is there at `at` (after a 429: the server's
    /// bucket is empty, whatever this one thought).
    pub fn empty_until(&mut self, at: Instant) {
        let one = self.rate.refill_time(1);
        self.full_at = Some(at + self.rate.per.saturating_sub(one));
    }
}

/// How a [`WritePacer`] paces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacerConfig {
    /// The budget: writes per period (each write inside a `$batch` counts).
    pub rate: Rate,
    /// Requests that write in flight at once (a `$batch` is one).
    pub concurrency: usize,
}

impl Default for PacerConfig {
    fn default() -> PacerConfig {
        PacerConfig { rate: DEFAULT_WRITE_RATE, concurrency: DEFAULT_CONCURRENCY }
    }
}

/// What a pacer is doing, for a jobs view (rate, countdown) and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacerStatus {
    /// The budget.
    pub rate: Rate,
    /// Writes that may go now without waiting.
    pub available: u32,
    /// How much longer every writer waits because of a 429 (`None`: not paused).
    pub paused_for: Option<Duration>,
    /// Requests holding a [`WritePermit`] now.
    pub in_flight: usize,
    /// Writes granted so far.
    pub granted: u64,
    /// Pauses so far (429s and 503s with `Retry-After` told to [`WritePacer::pause_for`]).
    pub pauses: u64,
}

/// The write budget shared by everything that writes (the form's save, a bulk job, `apply`):
/// a token bucket, a limit on writes in flight, and a pause on every writer after a 429.
/// Cheap to clone; clones share the budget.
#[derive(Clone)]
pub struct WritePacer {
    inner: Arc<Shared>,
}

struct Shared {
    config: PacerConfig,
    slots: Arc<Semaphore>,
    state: Mutex<PacerState>,
}

struct PacerState {
    bucket: TokenBucket,
    /// Nobody writes before this (a 429's `Retry-After`).
    paused_until: Option<Instant>,
    granted: u64,
    pauses: u64,
}

impl fmt::Debug for WritePacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WritePacer").field("status", &self.status()).finish()
    }
}

/// Leave to send: holds one of the pacer's in-flight places until dropped (after the answer is
/// read). The writes it stands for were taken from the bucket when it was granted.
#[derive(Debug)]
pub struct WritePermit {
    _slot: OwnedSemaphorePermit,
    /// Writes this permit took from the bucket.
    pub writes: u32,
}

impl WritePacer {
    /// A pacer with this budget and concurrency (at least 1); the bucket starts full.
    pub fn new(config: PacerConfig) -> WritePacer {
        let concurrency = config.concurrency.max(1);
        WritePacer {
            inner: Arc::new(Shared {
                config: PacerConfig { concurrency, ..config },
                slots: Arc::new(Semaphore::new(concurrency)),
                state: Mutex::new(PacerState {
                    bucket: TokenBucket::new(config.rate),
                    paused_until: None,
                    granted: 0,
                    pauses: 0,
                }),
            }),
        }
    }

    /// The budget and concurrency.
    pub fn config(&self) -> PacerConfig {
        self.inner.config
    }

    fn state(&self) -> MutexGuard<'_, PacerState> {
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for an in-flight place, then for any pause to end, then for `writes` tokens (a
    /// `$batch` of 20 writes asks for 20; more than a full bucket counts as a full bucket), and
    /// takes them. Cancel-safe: dropping the future takes nothing.
    pub async fn acquire(&self, writes: u32) -> WritePermit {
        // The semaphore is never closed, so this cannot fail; the fallback keeps it that way.
        let slot = match Arc::clone(&self.inner.slots).acquire_owned().await {
            Ok(slot) => slot,
            Err(_) => unreachable_slot(),
        };
        loop {
            let wake_at = {
                let mut state = self.state();
                let now = Instant::now();
                match state.paused_until {
                    Some(until) if until > now => until,
                    _ => match state.bucket.try_take(writes, now) {
                        Ok(()) => {
                            state.granted += u64::from(writes);
                            return WritePermit { _slot: slot, writes };
                        }
                        Err(wait) => now + wait,
                    },
                }
            };
            // A pause set meanwhile is seen on waking: waits only ever end later.
            tokio::time::sleep_until(wake_at).await;
        }
    }

    /// Waits, taking nothing, until [`WritePacer::acquire`] of `writes` would be granted at
    /// once: an in-flight place is free, no pause is on and the bucket holds the tokens. A job
    /// hands a batch to the writer only then, so what it hands over leaves at once and a cancel
    /// before that sends nothing (another writer may still take the tokens in between; the
    /// batch then waits in `acquire` as any writer does). Cancel-safe.
    pub async fn ready(&self, writes: u32) {
        loop {
            // A free place, given straight back: the batch takes its own.
            drop(self.inner.slots.acquire().await);
            let wake_at = {
                let state = self.state();
                let now = Instant::now();
                match state.paused_until {
                    Some(until) if until > now => until,
                    // Tried on a copy: looking takes nothing.
                    _ => match state.bucket.clone().try_take(writes, now) {
                        Ok(()) => return,
                        Err(wait) => now + wait,
                    },
                }
            };
            tokio::time::sleep_until(wake_at).await;
        }
    }

    /// A 429 (or a 503 with `Retry-After`): every writer waits `wait` from now (a longer pause
    /// already set stays), and the bucket starts again empty, with one token when the pause ends.
    pub fn pause_for(&self, wait: Duration) {
        let mut state = self.state();
        let until = Instant::now() + wait;
        if state.paused_until.is_none_or(|current| current < until) {
            state.paused_until = Some(until);
            state.bucket.empty_until(until);
        }
        state.pauses += 1;
        tracing::info!(wait_ms = wait.as_millis() as u64, "writes paused by the server");
    }

    /// What the pacer is doing now.
    pub fn status(&self) -> PacerStatus {
        let state = self.state();
        let now = Instant::now();
        PacerStatus {
            rate: self.inner.config.rate,
            available: state.bucket.available(now),
            paused_for: state.paused_until.filter(|until| *until > now).map(|until| until - now),
            in_flight: self.inner.config.concurrency - self.inner.slots.available_permits(),
            granted: state.granted,
            pauses: state.pauses,
        }
    }
}

/// The pacer's semaphore is owned by it and never closed.
#[cold]
fn unreachable_slot() -> ! {
    panic!("the write pacer's semaphore was closed")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_print() {
        let rate: Rate = "100/20".parse().unwrap();
        assert_eq!(rate, DEFAULT_WRITE_RATE);
        assert_eq!(rate.to_string(), "100/20");
        assert_eq!("5/0.5".parse::<Rate>().unwrap().per, Duration::from_millis(500));
        assert_eq!(" 10 / 1s ".parse::<Rate>().unwrap(), Rate::new(10, Duration::from_secs(1)));
        for bad in ["", "100", "0/20", "100/0", "-1/20", "1.5/20", "100/x", "100/-2", "1/90000", "1/nan"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        assert_eq!(rate.refill_time(1), Duration::from_millis(200));
        assert_eq!(rate.floor(100), Duration::ZERO);
        assert_eq!(rate.floor(2000), Duration::from_secs(380));
    }

    #[test]
    fn the_bucket_bursts_then_refills_evenly() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(Rate::new(3, Duration::from_secs(3)));
        assert_eq!(bucket.available(t0), 3);
        for _ in 0..3 {
            bucket.try_take(1, t0).unwrap();
        }
        assert_eq!(bucket.available(t0), 0);
        assert_eq!(bucket.try_take(1, t0), Err(Duration::from_secs(1)));
        // A refused take takes nothing.
        assert_eq!(bucket.try_take(1, t0), Err(Duration::from_secs(1)));
        let t1 = t0 + Duration::from_millis(1500);
        assert_eq!(bucket.available(t1), 1);
        bucket.try_take(1, t1).unwrap();
        assert_eq!(bucket.try_take(1, t1), Err(Duration::from_millis(500)));
        // Two at once need two tokens; more than a bucket counts as a bucket.
        assert_eq!(bucket.try_take(2, t1), Err(Duration::from_millis(1500)));
        let later = t0 + Duration::from_secs(60);
        assert_eq!(bucket.available(later), 3);
        bucket.try_take(99, later).unwrap();
        assert_eq!(bucket.available(later), 0);
        // Emptied until a time: one token exactly then, none before.
        let mut bucket = TokenBucket::new(Rate::new(10, Duration::from_secs(20)));
        let at = t0 + Duration::from_secs(5);
        bucket.empty_until(at);
        assert_eq!(bucket.try_take(1, t0), Err(Duration::from_secs(5)));
        bucket.try_take(1, at).unwrap();
        assert_eq!(bucket.try_take(1, at), Err(Duration::from_secs(2)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_holds_writers_to_the_budget() {
        let pacer =
            WritePacer::new(PacerConfig { rate: Rate::new(10, Duration::from_secs(10)), concurrency: 2 });
        let start = Instant::now();
        for _ in 0..10 {
            drop(pacer.acquire(1).await);
        }
        assert_eq!(Instant::now(), start, "the first bucket goes at once");
        drop(pacer.acquire(5).await);
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
        assert_eq!(pacer.status().granted, 15);
        // Two permits held: a third waits for one to be dropped.
        let a = pacer.acquire(0).await;
        let _b = pacer.acquire(0).await;
        assert_eq!(pacer.status().in_flight, 2);
        let third = tokio::spawn({
            let pacer = pacer.clone();
            async move { pacer.acquire(0).await.writes }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!third.is_finished());
        drop(a);
        assert_eq!(third.await.unwrap(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn ready_waits_for_a_place_the_pause_and_the_tokens_and_takes_nothing() {
        let pacer =
            WritePacer::new(PacerConfig { rate: Rate::new(10, Duration::from_secs(10)), concurrency: 1 });
        let start = Instant::now();
        pacer.ready(10).await;
        assert_eq!((Instant::now(), pacer.status().available), (start, 10), "ready at once, nothing taken");
        drop(pacer.acquire(10).await);
        pacer.ready(3).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(3), "until three tokens are back");
        pacer.pause_for(Duration::from_secs(5));
        pacer.ready(1).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(8), "until the pause ends");
        let held = pacer.acquire(0).await;
        let waiting = tokio::spawn({
            let pacer = pacer.clone();
            async move { pacer.ready(1).await }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!waiting.is_finished(), "no place while one is held");
        drop(held);
        waiting.await.unwrap();
        assert_eq!(pacer.status().in_flight, 0, "ready gave its place back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_writer_and_empties_the_bucket() {
        let pacer =
            WritePacer::new(PacerConfig { rate: Rate::new(100, Duration::from_secs(20)), concurrency: 8 });
        let start = Instant::now();
        pacer.pause_for(Duration::from_secs(7));
        assert_eq!(pacer.status().paused_for, Some(Duration::from_secs(7)));
        // A shorter pause does not shorten it.
        pacer.pause_for(Duration::from_secs(1));
        let writers: Vec<_> = (0..3)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move {
                    drop(pacer.acquire(1).await);
                    Instant::now()
                })
            })
            .collect();
        let mut times = Vec::new();
        for writer in writers {
            times.push(writer.await.unwrap() - start);
        }
        times.sort();
        // One token when the pause ends, then one per 200 ms.
        assert_eq!(times, [Duration::from_secs(7), Duration::from_millis(7200), Duration::from_millis(7400)]);
        let status = pacer.status();
        assert_eq!((status.paused_for, status.pauses, status.granted), (None, 2, 3));
    }
}
