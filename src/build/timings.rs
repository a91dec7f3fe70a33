//! Where a `--backend oci` build's time goes: wall-clock time per phase,
//! summed over the build's steps, for the `timings_ms` of the JSON summary
//! (docs/cli.md lists the phases). Within a stage phases do not overlap;
//! stages built at once each count their own time, so a build of
//! independent stages can show more phase time than `total`.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The phases, in the order a build meets them.
pub const PHASES: &[&str] = &["base_fetch", "base_extract", "context_hash", "remote_cache", "runc", "diff_walk", "layer_write", "unpack", "output", "cache_export"];

#[derive(Debug, Default)]
pub struct Timings {
    phases: Mutex<BTreeMap<&'static str, Duration>>,
}

impl Timings {
    fn phases(&self) -> MutexGuard<'_, BTreeMap<&'static str, Duration>> {
        self.phases.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f`, counting its time to `phase` (one of [`PHASES`]).
    pub fn time<T>(&self, phase: &'static str, f: impl FnOnce() -> T) -> T {
        debug_assert!(PHASES.contains(&phase), "{phase} is not a phase");
        let started = Instant::now();
        let res = f();
        *self.phases().entry(phase).or_default() += started.elapsed();
        res
    }

    /// Counts `spent` to `phase`, for a span `time` cannot wrap.
    pub fn add(&self, phase: &'static str, spent: Duration) {
        debug_assert!(PHASES.contains(&phase), "{phase} is not a phase");
        *self.phases().entry(phase).or_default() += spent;
    }

    /// Every phase (those a build did not meet as 0) and `total`, in
    /// whole milliseconds.
    pub fn millis(&self, total: Duration) -> BTreeMap<String, u64> {
        let phases = self.phases();
        let mut res: BTreeMap<String, u64> = PHASES.iter().map(|p| (p.to_string(), phases.get(p).map_or(0, |d| d.as_millis() as u64))).collect();
        res.insert("total".into(), total.as_millis() as u64);
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_add_up_and_every_one_is_reported() {
        let t = Timings::default();
        t.time("runc", || std::thread::sleep(Duration::from_millis(20)));
        t.time("runc", || std::thread::sleep(Duration::from_millis(20)));
        let got = t.time("layer_write", || 7);
        assert_eq!(got, 7);
        let ms = t.millis(Duration::from_millis(100));
        assert!(ms["runc"] >= 40, "{ms:?}");
        assert_eq!(ms.len(), PHASES.len() + 1);
        assert_eq!(ms["total"], 100);
        assert_eq!(ms["base_fetch"], 0);
    }
}
