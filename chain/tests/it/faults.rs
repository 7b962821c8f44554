//! Crash faults: f = 1 of 4 validators may fail; with 2 of 4 down the chain halts safely;
//! restarted and lagging nodes catch up to the same blocks and app hash.

use std::time::Duration;

use futures::future::join_all;

use consort_chain::Tuning;
use consort_chain::testnet::{Db, TestNet};

/// Blocks as fast as transactions come, and a short propose timeout, because the dead node
/// is the proposer of every fourth height while the others race 1,000 blocks ahead.
fn catch_up_tuning() -> Tuning {
    Tuning {
        propose_timeout: Duration::from_millis(200),
        empty_block_wait: Duration::ZERO,
        ..Tuning::default()
    }
}

/// The nodes' logs in the test's output (shown when it fails), filtered by RUST_LOG.
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commits_continue_with_one_of_four_down_and_halt_with_two() {
    logs();
    let mut net = TestNet::start(4, Db::Sqlite).await;
    let before = net.node(0).submit(b"before".to_vec()).await.unwrap();

    // One of four down: every live node still commits.
    net.kill(3).await;
    let mut acknowledged = vec![before];
    for i in 0..3 {
        let r = tokio::time::timeout(
            Duration::from_secs(30),
            net.node(i).submit(format!("one-down-{i}").into_bytes()),
        )
        .await
        .expect("commits continue with one validator down")
        .unwrap();
        acknowledged.push(r);
    }

    // Two of four down: no quorum, so nothing commits and the live nodes agree.
    net.kill(2).await;
    // A block already decided when the node died may still be applied: wait until the
    // heights have stood still for a second before taking them.
    let mut stalled = net.heights();
    let mut still_since = tokio::time::Instant::now();
    while still_since.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = net.heights();
        if now != stalled {
            stalled = now;
            still_since = tokio::time::Instant::now();
        }
    }
    let pending = {
        let node = net.node(0);
        tokio::spawn(async move { node.submit(b"during-halt".to_vec()).await })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(net.heights(), stalled, "no node commits without a quorum");
    assert!(
        !pending.is_finished(),
        "a submission cannot commit without a quorum"
    );
    let (h0, h1) = (stalled[0].unwrap(), stalled[1].unwrap());
    for h in 1..=h0.min(h1) {
        let a = net.node(0).block(h).await.unwrap().unwrap();
        let b = net.node(1).block(h).await.unwrap().unwrap();
        assert_eq!(a.hash(), b.hash(), "no fork at height {h}");
    }

    // One comes back: commits resume, the waiting submission lands, nothing acknowledged
    // before is lost on any node.
    net.start_node(2).await;
    let during = tokio::time::timeout(Duration::from_secs(60), pending)
        .await
        .expect("commits resume after a validator returns")
        .unwrap()
        .unwrap();
    acknowledged.push(during);
    let top = acknowledged.iter().map(|r| r.height).max().unwrap();
    net.wait_height(top, Duration::from_secs(60)).await;
    for i in 0..3 {
        for r in &acknowledged {
            let block = net.node(i).block(r.height).await.unwrap().unwrap();
            assert_eq!(block.txs[r.index as usize].hash(), r.tx_hash);
        }
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_1000_blocks_behind_catches_up_to_the_same_chain() {
    let mut net = TestNet::start_with_tuning(4, Db::Sqlite, None, catch_up_tuning()).await;
    net.node(0).submit(b"early".to_vec()).await.unwrap();
    net.kill(3).await;
    let start = net.node(0).status().height;
    // The others race 1,000 blocks ahead, one transaction after another.
    let load = {
        let nodes: Vec<_> = (0..3).map(|i| net.node(i)).collect();
        tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                let node = &nodes[(n % 3) as usize];
                let _ = node.submit(format!("load-{n}").into_bytes()).await;
                n += 1;
            }
        })
    };
    net.wait_height(start + 1000, Duration::from_secs(900))
        .await;
    load.abort();
    let _ = load.await;

    net.start_node(3).await;
    let target = net.node(0).status().height;
    net.wait_height(target, Duration::from_secs(600)).await;
    let a = net.node(0).status();
    let late = net.node(3);
    let stored = late.block(target).await.unwrap().unwrap();
    let reference = net.node(0).block(target).await.unwrap().unwrap();
    assert_eq!(stored.hash(), reference.hash());
    // The app hash after `target` is carried by the next block's header (an idle chain
    // decides one when there is something to commit).
    net.node(1).submit(b"next".to_vec()).await.unwrap();
    let next = target + 1;
    net.wait_height(next, Duration::from_secs(60)).await;
    assert_eq!(
        late.block(next).await.unwrap().unwrap().header.app_hash,
        net.node(0)
            .block(next)
            .await
            .unwrap()
            .unwrap()
            .header
            .app_hash
    );
    for h in (1..=target).step_by(97) {
        assert_eq!(
            late.block(h).await.unwrap().unwrap().hash(),
            net.node(1).block(h).await.unwrap().unwrap().hash(),
            "block {h}"
        );
    }
    assert!(a.height >= target);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_under_load_restarts_with_a_consistent_store() {
    logs();
    let mut net = TestNet::start(4, Db::Sqlite).await;
    let node = net.node(1);
    let load = tokio::spawn(async move {
        join_all((0..300).map(|i| {
            let node = node.clone();
            async move { node.submit(format!("k-{i}").into_bytes()).await }
        }))
        .await
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    net.kill(1).await;
    let results = load.await.unwrap();
    let acked: Vec<_> = results.into_iter().filter_map(Result::ok).collect();

    net.start_node(1).await;
    // Two more blocks after the restart (an idle chain adds none on its own).
    net.node(0).submit(b"after-1".to_vec()).await.unwrap();
    let top = net
        .node(2)
        .submit(b"after-2".to_vec())
        .await
        .unwrap()
        .height;
    net.wait_height(top, Duration::from_secs(60)).await;
    let restarted = net.node(1);
    for r in &acked {
        let b = restarted.block(r.height).await.unwrap().unwrap();
        assert_eq!(
            b.txs[r.index as usize].hash(),
            r.tx_hash,
            "acknowledged tx kept"
        );
    }
    for h in 1..=top {
        let b = restarted
            .block(h)
            .await
            .unwrap()
            .expect("no gap in the store");
        assert_eq!(
            b.hash(),
            net.node(0).block(h).await.unwrap().unwrap().hash()
        );
        for tx in &b.txs {
            assert!(
                restarted.proof(&tx.hash()).await.unwrap().is_some(),
                "tx index complete"
            );
        }
    }
    net.shutdown().await;
}
