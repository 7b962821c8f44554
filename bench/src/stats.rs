//! Latency percentiles and error tallies of one workload.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::client::ApiError;

/// Latency figures of one workload, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Number of samples.
    pub count: usize,
    /// Median (nearest rank).
    pub p50_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Latency {
    /// The figures of `samples`, or `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        Some(Self {
            count: ms.len(),
            p50_ms: percentile(&ms, 50.0),
            p99_ms: percentile(&ms, 99.0),
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
            max_ms: ms[ms.len() - 1],
        })
    }
}

/// Nearest-rank percentile of sorted, non-empty `values`: the smallest value with at least `p`
/// percent of the values at or below it.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Failed requests counted by kind (HTTP status and Matrix errcode, or `transport`). The first
/// failure of each kind is printed to stderr as an example.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct Errors(BTreeMap<String, u64>);

impl Errors {
    /// Counts `error` under `what`'s kind (`what` names the call, e.g. `send`).
    pub fn record(&mut self, what: &str, error: &ApiError) {
        let count = self
            .0
            .entry(format!("{what}: {}", error.kind()))
            .or_default();
        if *count == 0 {
            eprintln!("  first {what} error of this kind: {error}");
        }
        *count += 1;
    }

    /// All failures together.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: Errors) {
        for (kind, n) in other.0 {
            *self.0.entry(kind).or_default() += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u64> = (1..=100).rev().collect();
        let l = Latency::of(&ms(&samples)).unwrap();
        assert_eq!(l.count, 100);
        assert_eq!(l.p50_ms, 50.0);
        assert_eq!(l.p99_ms, 99.0);
        assert_eq!(l.max_ms, 100.0);
        assert_eq!(l.mean_ms, 50.5);

        let one = Latency::of(&ms(&[7])).unwrap();
        assert_eq!((one.p50_ms, one.p99_ms), (7.0, 7.0));
        let three = Latency::of(&ms(&[3, 1, 2])).unwrap();
        assert_eq!((three.p50_ms, three.p99_ms), (2.0, 3.0));
        assert!(Latency::of(&[]).is_none());
    }

    #[test]
    fn errors_add_up_by_kind() {
        let e = ApiError {
            status: None,
            errcode: None,
            message: "refused".into(),
        };
        let mut a = Errors::default();
        a.record("send", &e);
        a.record("send", &e);
        let mut b = Errors::default();
        b.record("sync", &e);
        a.merge(b);
        assert_eq!(a.total(), 3);
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::json!({"send: transport": 2, "sync: transport": 1})
        );
    }
}
