//! The node's Prometheus metrics: HTTP requests, the ledger, rejected records and open `/sync`
//! long-polls, kept in one registry per node and encoded in the Prometheus text format for
//! the metrics listener (`metrics_listen`), away from the client port.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use consort_bridge::RejectionKind;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::services::chain_ledger::ChainLedger;

/// Labels of one HTTP request: the route it matched (its template, not the concrete path, so
/// that user and room ids do not become series), the method and the status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The matched route template, or `unmatched`.
    pub endpoint: String,
    /// The HTTP method.
    pub method: String,
    /// The response status code.
    pub status: u16,
}

/// Labels of a request latency: route and method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The matched route template, or `unmatched`.
    pub endpoint: String,
    /// The HTTP method.
    pub method: String,
}

/// Labels of a rejected record: its stable rejection code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

/// Latency buckets of HTTP requests, in seconds (a `/sync` long-poll lasts up to its timeout).
const REQUEST_SECONDS_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric of a node.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<EndpointLabels, Histogram>,
    sync_long_polls: Gauge,
    ledger_height: Gauge,
    applied_height: Gauge,
    consortium_height: Gauge,
    mempool: Gauge,
    peers: Gauge,
    rejected: Family<ReasonLabels, Counter>,
    /// One scrape at a time: each brings the rejection counters up to the bridge's counts.
    scrape: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry with every series; the ledger's appear only on a node with a ledger.
    pub fn new(chain: Option<&ChainLedger>) -> Self {
        let mut registry = Registry::with_prefix("consort");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        let request_seconds =
            Family::<EndpointLabels, Histogram>::new_with_constructor(new_request_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route and method",
            request_seconds.clone(),
        );
        let sync_long_polls = Gauge::default();
        registry.register(
            "sync_long_polls",
            "Open /sync requests waiting for something new",
            sync_long_polls.clone(),
        );
        let ledger_height = Gauge::default();
        let applied_height = Gauge::default();
        let consortium_height = Gauge::default();
        let mempool = Gauge::default();
        let peers = Gauge::default();
        let rejected = Family::<ReasonLabels, Counter>::default();
        if let Some(chain) = chain {
            registry.register(
                "ledger_height",
                "Height of the last block this node committed",
                ledger_height.clone(),
            );
            registry.register(
                "ledger_applied_height",
                "Height of the last block applied to this node's projection",
                applied_height.clone(),
            );
            registry.register(
                "ledger_consortium_height",
                "Height the consortium is known to have committed (0 until enough peers were heard)",
                consortium_height.clone(),
            );
            registry.register(
                "block_commit_seconds",
                "Time from the start of a height to the commit of its block",
                chain.node().commit_seconds(),
            );
            registry.register(
                "mempool_transactions",
                "Transactions waiting for a block",
                mempool.clone(),
            );
            registry.register(
                "peers_connected",
                "Validators the consensus network is connected to",
                peers.clone(),
            );
            registry.register(
                "records_rejected",
                "Ledger records this node's projection rejected since it started, by reason",
                rejected.clone(),
            );
            // Every reason from the start, at zero: a rate needs the series before its first.
            for kind in RejectionKind::ALL {
                let _ = rejected.get_or_create(&ReasonLabels {
                    reason: kind.code().to_owned(),
                });
            }
        }
        Self {
            registry,
            requests,
            request_seconds,
            sync_long_polls,
            ledger_height,
            applied_height,
            consortium_height,
            mempool,
            peers,
            rejected,
            scrape: Mutex::new(()),
        }
    }

    /// Counts one answered request and its latency.
    pub fn request(&self, labels: RequestLabels, elapsed: Duration) {
        self.request_seconds
            .get_or_create(&EndpointLabels {
                endpoint: labels.endpoint.clone(),
                method: labels.method.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&labels).inc();
    }

    /// Marks one `/sync` long-poll open until the guard drops.
    pub fn long_poll(self: &Arc<Self>) -> LongPoll {
        self.sync_long_polls.inc();
        LongPoll(self.clone())
    }

    /// Everything, in the Prometheus text format, with the ledger's values read now.
    pub fn encode(&self, chain: Option<&ChainLedger>) -> String {
        let _one_at_a_time = self.scrape.lock().expect("lock");
        if let Some(chain) = chain {
            let status = chain.node().status();
            let set = |gauge: &Gauge, value: u64| {
                gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
            };
            set(&self.ledger_height, status.height);
            set(&self.applied_height, chain.applied_height());
            set(
                &self.consortium_height,
                status.consortium_height.unwrap_or(0),
            );
            set(&self.mempool, status.mempool_size as u64);
            set(&self.peers, status.peers_connected as u64);
            for kind in RejectionKind::ALL {
                let counter = self.rejected.get_or_create(&ReasonLabels {
                    reason: kind.code().to_owned(),
                });
                let seen = chain.rejections().get(kind);
                counter.inc_by(seen.saturating_sub(counter.get()));
            }
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

fn new_request_histogram() -> Histogram {
    Histogram::new(REQUEST_SECONDS_BUCKETS.iter().copied())
}

/// An open `/sync` long-poll; the gauge goes down when it drops.
pub struct LongPoll(Arc<Metrics>);

impl Drop for LongPoll {
    fn drop(&mut self) {
        self.0.sync_long_polls.dec();
    }
}
