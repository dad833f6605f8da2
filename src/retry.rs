//! Pauses between attempts, from backon's exponential schedule: the first pause, doubling,
//! capped, and optionally a number of retries after which the schedule ends. Callers keep
//! their own loop because they sleep through something of their own (the deploy engine's
//! `Clock` seam, a cancellation token), which backon's `Retryable` cannot borrow: its sleeper
//! must be `'static`.

use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::Duration;

/// `first`, then doubling up to `cap`; after `retries` pauses (None: never) it ends, and the
/// caller gives up.
pub fn doubling(
    first: Duration,
    cap: Duration,
    retries: Option<usize>,
) -> impl Iterator<Item = Duration> + Send {
    let schedule = ExponentialBuilder::new()
        .with_min_delay(first)
        .with_max_delay(cap.max(first))
        .with_factor(2.0);
    match retries {
        Some(n) => schedule.with_max_times(n),
        None => schedule.without_max_times(),
    }
    .build()
}

/// The pause after `failures` failures in a row on the `doubling(first, cap, None)` schedule
/// (0: `first`).
pub fn pause_after(first: Duration, cap: Duration, failures: u32) -> Duration {
    // Past 64 doublings every pause is the cap: no need to walk further.
    doubling(first, cap, None)
        .nth(failures.min(64) as usize)
        .unwrap_or(cap.max(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_ends_after_the_retries() {
        let s = |secs: &[u64]| {
            secs.iter()
                .map(|s| Duration::from_secs(*s))
                .collect::<Vec<_>>()
        };
        let pauses: Vec<_> =
            doubling(Duration::from_secs(1), Duration::from_secs(5), Some(5)).collect();
        assert_eq!(pauses, s(&[1, 2, 4, 5, 5]));
        assert_eq!(
            doubling(Duration::from_secs(3), Duration::from_secs(1), Some(2)).collect::<Vec<_>>(),
            s(&[3, 3])
        );
        let (first, cap) = (Duration::from_secs(60), Duration::from_secs(900));
        assert_eq!(pause_after(first, cap, 0), first);
        assert_eq!(pause_after(first, cap, 2), Duration::from_secs(240));
        assert_eq!(pause_after(first, cap, u32::MAX), cap);
    }
}
