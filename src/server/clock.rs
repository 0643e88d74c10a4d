//! The server's time: token and device-code lifetimes, the Autopilot sync rules, the dates of
//! generated devices, every timestamp it writes and the latency it injects all read one clock,
//! so a test drives time instead of sleeping through it.
//!
//! The clock follows tokio's: in a test runtime started paused
//! (`#[tokio::test(start_paused = true)]`) it moves with `tokio::time::advance` and skips the
//! sleeps that runtime auto-advances over, the client's own waits included. [`Clock::advance`]
//! jumps it forward for a test that cannot pause its runtime. Wall time is the wall time at the
//! start plus what passed on this clock, so both kinds of time move together.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// The server's clock. Clones share the same time.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

struct Inner {
    /// When the clock was made, on tokio's clock.
    origin: Instant,
    /// The wall time at `origin`.
    origin_wall: SystemTime,
    /// How far [`Clock::advance`] moved it, in nanoseconds.
    skipped_nanos: AtomicU64,
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Clock {
        Clock::starting_at(SystemTime::now())
    }

    /// A clock whose wall time starts at `wall` (two servers on the same fixed start generate
    /// the same dates).
    pub fn starting_at(wall: SystemTime) -> Clock {
        Clock {
            inner: Arc::new(Inner {
                origin: Instant::now(),
                origin_wall: wall,
                skipped_nanos: AtomicU64::new(0),
            }),
        }
    }

    fn skipped(&self) -> Duration {
        Duration::from_nanos(self.inner.skipped_nanos.load(Ordering::Relaxed))
    }

    /// The monotonic time now, for deadlines and lifetimes.
    pub fn now(&self) -> Instant {
        Instant::now() + self.skipped()
    }

    /// The wall time now, for timestamps.
    pub fn wall(&self) -> SystemTime {
        self.inner.origin_wall + self.elapsed()
    }

    /// How much time passed on this clock since it was made (the journal's arrival times).
    pub fn elapsed(&self) -> Duration {
        self.now().saturating_duration_since(self.inner.origin)
    }

    /// Moves the clock forward without waiting (tokens expire, the sync cool-down ends).
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.inner.skipped_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Waits `duration` on tokio's clock (instant in a paused test runtime).
    pub async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock").field("wall", &crate::graph::timestamp::format(self.wall())).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_a_paused_runtime_and_jumps_on_advance() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_860_000);
        let clock = Clock::starting_at(start);
        let t0 = clock.now();
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now() - t0, Duration::from_secs(90));
        clock.advance(Duration::from_secs(600));
        assert_eq!(clock.now() - t0, Duration::from_secs(690));
        assert_eq!(clock.wall(), start + Duration::from_secs(690));
        // Clones share the time.
        let other = clock.clone();
        other.advance(Duration::from_secs(10));
        assert_eq!(clock.wall(), start + Duration::from_secs(700));
        clock.sleep(Duration::from_secs(5)).await;
        assert_eq!(clock.wall(), start + Duration::from_secs(705));
    }
}
