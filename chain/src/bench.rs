//! `consort chain bench`: a local N-validator network on 127.0.0.1 under load, measuring
//! committed transactions per second and submit-to-commit latency, then the same with one
//! validator killed, plus the longest time without a commit after the kill.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::local::{free_local_ports, local_consortium};
use crate::node::{ChainNode, NodeConfig, Tuning};

/// Benchmark parameters.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Number of validators.
    pub validators: usize,
    /// Duration of each phase.
    pub seconds: u64,
    /// Payload size of each transaction.
    pub tx_bytes: usize,
    /// Offered load in tx/s; `None` saturates with a fixed number in flight.
    pub rate: Option<u64>,
    /// Transactions in flight per node when saturating.
    pub in_flight: usize,
}

/// Figures for one phase.
#[derive(Clone, Debug)]
pub struct PhaseReport {
    /// What ran.
    pub name: String,
    /// Transactions committed per second (receipts received in the phase / its length).
    pub tx_per_s: f64,
    /// Median submit→commit latency at the submitting node.
    pub p50_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Blocks per second at node 1.
    pub blocks_per_s: f64,
    /// Longest interval without a new block at node 1.
    pub max_gap_ms: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// Runs the benchmark in `dir` and returns the two phases' figures.
pub async fn run(opts: &BenchOptions, dir: &Path) -> Result<Vec<PhaseReport>, String> {
    let n = opts.validators.max(1);
    let ports = free_local_ports(n).map_err(|e| e.to_string())?;
    let (genesis, keys) = local_consortium("consort-bench", &ports);
    let mut nodes = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let home = dir.join(format!("org{}", i + 1));
        std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
        let node = ChainNode::start(NodeConfig {
            database_url: crate::local::default_database_url(&home),
            home,
            genesis: genesis.clone(),
            org_id: format!("org{}", i + 1),
            node_key: k.node_key.clone(),
            validator_key: k.validator_key.clone(),
            tuning: Tuning::default(),
            listen: Default::default(),
            executor: None,
            pool: None,
        })
        .await
        .map_err(|e| e.to_string())?;
        nodes.push(Arc::new(node));
    }
    // Warm up: the network is live once a few blocks commit. An idle consortium holds each
    // height until a transaction arrives, so the warm-up brings one per block, through each
    // node in turn.
    for i in 0..3 {
        let node = &nodes[i % nodes.len()];
        tokio::time::timeout(Duration::from_secs(60), node.submit(vec![i as u8; 16]))
            .await
            .map_err(|_| "the network did not start committing within 60 s".to_string())?
            .map_err(|e| format!("a warm-up transaction failed: {e}"))?;
    }
    let mut reports = Vec::new();
    reports.push(phase("all validators up", opts, &nodes).await);
    if n > 1 {
        let victim = nodes.pop().expect("n > 1");
        victim.kill().await;
        reports.push(phase("one validator killed", opts, &nodes).await);
    }
    for node in nodes {
        node.kill().await;
    }
    Ok(reports)
}

async fn phase(name: &str, opts: &BenchOptions, nodes: &[Arc<ChainNode>]) -> PhaseReport {
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let start = Instant::now();
    let end = start + Duration::from_secs(opts.seconds);

    // Block commit times at node 1.
    let mut tip = nodes[0].watch_tip();
    let h0 = tip.borrow_and_update().height;
    let monitor = tokio::spawn(async move {
        let mut last = Instant::now();
        let mut max_gap = Duration::ZERO;
        let mut height = h0;
        while let Ok(Ok(())) = tokio::time::timeout_at(end.into(), tip.changed()).await {
            let now = Instant::now();
            max_gap = max_gap.max(now - last);
            last = now;
            height = tip.borrow_and_update().height;
        }
        max_gap = max_gap.max(Instant::now() - last);
        (height - h0, max_gap)
    });

    let submit_one = move |node: Arc<ChainNode>, bytes: usize, lat: Arc<Mutex<Vec<f64>>>| async move {
        let mut payload = vec![0u8; bytes];
        rand::Rng::fill(&mut rand::thread_rng(), &mut payload[..]);
        let t = Instant::now();
        if node.submit(payload).await.is_ok() && Instant::now() <= end {
            lat.lock()
                .expect("lock")
                .push(t.elapsed().as_secs_f64() * 1000.0);
        }
    };

    let mut workers = Vec::new();
    match opts.rate {
        Some(rate) => {
            let nodes = nodes.to_vec();
            let lat = latencies.clone();
            let bytes = opts.tx_bytes;
            workers.push(tokio::spawn(async move {
                let mut sent = 0u64;
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                while Instant::now() < end {
                    tick.tick().await;
                    let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
                    while sent < due {
                        let node = nodes[(sent as usize) % nodes.len()].clone();
                        tokio::spawn(submit_one(node, bytes, lat.clone()));
                        sent += 1;
                    }
                }
            }));
        }
        None => {
            for node in nodes {
                for _ in 0..opts.in_flight {
                    let node = node.clone();
                    let lat = latencies.clone();
                    let bytes = opts.tx_bytes;
                    workers.push(tokio::spawn(async move {
                        while Instant::now() < end {
                            submit_one(node.clone(), bytes, lat.clone()).await;
                        }
                    }));
                }
            }
        }
    }
    tokio::time::sleep_until(end.into()).await;
    for w in &workers {
        w.abort();
    }
    let (blocks, max_gap) = monitor.await.unwrap_or((0, Duration::ZERO));
    let secs = opts.seconds as f64;
    let mut l = latencies.lock().expect("lock").clone();
    l.sort_by(|a, b| a.total_cmp(b));
    // Let in-flight submissions of this phase drain before the next one starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    PhaseReport {
        name: name.to_string(),
        tx_per_s: l.len() as f64 / secs,
        p50_ms: percentile(&l, 0.50),
        p99_ms: percentile(&l, 0.99),
        blocks_per_s: blocks as f64 / secs,
        max_gap_ms: max_gap.as_secs_f64() * 1000.0,
    }
}
