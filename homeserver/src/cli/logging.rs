//! The process's logs: `tracing` to stderr, plain or JSON (`log_format`), filtered by
//! `RUST_LOG`; and the consensus network's dial failures, which it reports at ERROR several
//! times a second while a peer is down, turned into one WARN line per peer a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// The least time between two reports of the same unreachable peer.
pub const DIAL_REPORT_EVERY: Duration = Duration::from_secs(60);

/// How the consensus network's dial-failure messages start (libp2p's swarm, and Malachite's
/// discovery giving up a round of retries).
const DIAL_FAILURES: [&str; 2] = ["Error dialing peer", "Failed to dial peer"];

/// The filter without `RUST_LOG`.
const DEFAULT_FILTER: &str = "warn,consort=info";

/// Installs the global subscriber. Call [`DialFailures::report_periodically`] on the
/// returned value from within the runtime.
pub fn init(format: LogFormat) -> DialFailures {
    let failures = DialFailures::default();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(DialThrottle(failures.clone()));
    match format {
        LogFormat::Plain => registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
    failures
}

/// Dial failures seen per peer address since the last report.
#[derive(Clone, Debug, Default)]
pub struct DialFailures(Arc<Mutex<HashMap<String, PeerFailures>>>);

#[derive(Debug, Default)]
struct PeerFailures {
    /// Failures since the last report.
    unreported: u64,
    /// The last failure's text.
    last_error: String,
    /// When this peer was last reported.
    reported: Option<Instant>,
}

impl DialFailures {
    /// Counts one failure to reach `peer`.
    fn record(&self, peer: String, error: String) {
        let mut peers = self.0.lock().expect("lock");
        let entry = peers.entry(peer).or_default();
        entry.unreported += 1;
        entry.last_error = error;
    }

    /// The peers due for a report at `now` (failures since their last report, which is at
    /// least [`DIAL_REPORT_EVERY`] ago), marked reported.
    pub fn due(&self, now: Instant) -> Vec<(String, u64, String)> {
        let mut peers = self.0.lock().expect("lock");
        let mut due = Vec::new();
        for (peer, f) in peers.iter_mut() {
            let quiet_long_enough = f
                .reported
                .is_none_or(|at| now.duration_since(at) >= DIAL_REPORT_EVERY);
            if f.unreported > 0 && quiet_long_enough {
                due.push((
                    peer.clone(),
                    f.unreported,
                    std::mem::take(&mut f.last_error),
                ));
                f.unreported = 0;
                f.reported = Some(now);
            }
        }
        due.sort();
        due
    }

    /// Writes the due reports every few seconds, for as long as the runtime runs.
    pub fn report_periodically(self) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                for (peer, failures, error) in self.due(Instant::now()) {
                    tracing::warn!(
                        target: "consort::p2p",
                        %peer,
                        failures,
                        last_error = %error,
                        "cannot reach a peer of the consortium; still trying"
                    );
                }
            }
        });
    }
}

/// Drops the consensus network's dial-failure events (from every output) and counts them in
/// [`DialFailures`] instead.
struct DialThrottle(DialFailures);

impl<S: Subscriber> Layer<S> for DialThrottle {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() != Level::ERROR || !meta.target().starts_with("arc_malachitebft_") {
            return true;
        }
        let mut message = MessageText::default();
        event.record(&mut message);
        if !DIAL_FAILURES.iter().any(|p| message.0.starts_with(p)) {
            return true;
        }
        // One line: libp2p's error text spans several.
        let error = message.0.split_whitespace().collect::<Vec<_>>().join(" ");
        self.0.record(peer_address(&error), error);
        false
    }
}

/// The first multiaddr in a dial error's text (what names the peer), or `unknown`.
fn peer_address(text: &str) -> String {
    ["/ip4/", "/ip6/", "/dns4/", "/dns6/", "/dns/"]
        .iter()
        .filter_map(|p| text.find(p))
        .min()
        .map(|start| {
            let rest = &text[start..];
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, ')' | ',' | ']' | '"'))
                .unwrap_or(rest.len());
            rest[..end].trim_end_matches(':').to_owned()
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The `message` field of an event.
#[derive(Default)]
struct MessageText(String);

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_named_by_the_address_it_failed_at() {
        assert_eq!(
            peer_address(
                "Error dialing peer: Failed to negotiate transport protocol(s): [(/ip4/127.0.0.1/tcp/27796: : Multiple dial errors occurred"
            ),
            "/ip4/127.0.0.1/tcp/27796"
        );
        assert_eq!(
            peer_address("Error dialing peer Some(12D3) at [/dns4/org2.example/tcp/26656]: x"),
            "/dns4/org2.example/tcp/26656"
        );
        assert_eq!(peer_address("Error dialing peer: no address"), "unknown");
    }

    #[test]
    fn each_peer_is_reported_at_most_once_a_minute() {
        let failures = DialFailures::default();
        let start = Instant::now();
        for _ in 0..50 {
            failures.record("/ip4/10.0.0.2/tcp/1".into(), "refused".into());
        }
        failures.record("/ip4/10.0.0.3/tcp/1".into(), "timeout".into());
        let first = failures.due(start);
        assert_eq!(
            first,
            vec![
                ("/ip4/10.0.0.2/tcp/1".to_owned(), 50, "refused".to_owned()),
                ("/ip4/10.0.0.3/tcp/1".to_owned(), 1, "timeout".to_owned()),
            ]
        );
        // More failures within the minute: nothing yet, then one report counting them all.
        for _ in 0..7 {
            failures.record("/ip4/10.0.0.2/tcp/1".into(), "refused".into());
        }
        assert!(failures.due(start + Duration::from_secs(30)).is_empty());
        assert_eq!(
            failures.due(start + DIAL_REPORT_EVERY),
            vec![("/ip4/10.0.0.2/tcp/1".to_owned(), 7, "refused".to_owned())]
        );
        // A peer that stopped failing is not reported again.
        assert!(failures.due(start + 3 * DIAL_REPORT_EVERY).is_empty());
    }
}
