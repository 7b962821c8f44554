//! Transactions submitted anywhere commit once, in the same order, everywhere.

use std::collections::BTreeMap;
use std::time::Duration;

use consort_chain::testnet::{Db, TestNet};
use futures::future::join_all;

async fn same_order_everywhere(db: Db) {
    let net = TestNet::start(4, db).await;
    let submits = (0..40).map(|i| {
        let node = net.node(i % 4);
        async move {
            let payload = format!("payload-{i}").into_bytes();
            let receipt = node.submit(payload.clone()).await.expect("committed");
            (receipt, payload)
        }
    });
    let receipts = join_all(submits).await;
    let top = receipts.iter().map(|(r, _)| r.height).max().unwrap();
    net.wait_height(top, Duration::from_secs(30)).await;

    // Every node holds the same blocks, and every payload exactly once at its receipt.
    let mut reference: Option<Vec<_>> = None;
    for i in 0..4 {
        let node = net.node(i);
        let mut chain = Vec::new();
        let mut seen = BTreeMap::new();
        for h in 1..=top {
            let block = node.block(h).await.unwrap().expect("block stored");
            for (idx, tx) in block.txs.iter().enumerate() {
                *seen.entry(tx.payload.clone()).or_insert(0) += 1;
                chain.push((h, idx as u32, tx.hash()));
            }
            chain.push((h, u32::MAX, consort_chain::TxHash(block.hash().0)));
        }
        for (receipt, payload) in &receipts {
            assert_eq!(
                seen.get(payload),
                Some(&1),
                "payload committed exactly once"
            );
            let block = node.block(receipt.height).await.unwrap().unwrap();
            assert_eq!(&block.txs[receipt.index as usize].payload, payload);
        }
        match &reference {
            None => reference = Some(chain),
            Some(r) => assert_eq!(r, &chain, "node {i} has a different chain"),
        }
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_validators_commit_the_same_order_sqlite() {
    same_order_everywhere(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_validators_commit_the_same_order_postgres() {
    same_order_everywhere(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscribe_streams_every_block_in_order_from_any_height() {
    use futures::StreamExt;
    let net = TestNet::start(4, Db::Sqlite).await;
    // An idle chain adds no blocks: a writer keeps them coming, one transaction per block.
    let writer = {
        let node = net.node(0);
        tokio::spawn(async move {
            for i in 0..10u32 {
                node.submit(i.to_be_bytes().to_vec()).await.unwrap();
            }
        })
    };
    net.wait_height(3, Duration::from_secs(30)).await;
    let node = net.node(2);
    let mut stream = Box::pin(node.subscribe(2));
    let mut last = 1;
    for _ in 0..5 {
        let b = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("a block arrives")
            .expect("stream open")
            .expect("readable");
        assert_eq!(b.block.header.height, last + 1);
        if last >= 2 {
            let prev = node.block(last).await.unwrap().unwrap();
            assert_eq!(b.block.header.prev_hash, prev.hash().0);
        }
        last = b.block.header.height;
    }
    writer.await.unwrap();
    net.shutdown().await;
}
