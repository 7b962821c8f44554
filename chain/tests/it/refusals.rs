//! Transactions that must never commit: bad signature, unknown organisation, oversize,
//! replay; and malformed gossip from a peer.

use std::time::Duration;

use consort_chain::crypto::generate_key;
use consort_chain::{SubmitError, Tx, TxError};
use tokio::io::AsyncWriteExt;

use consort_chain::testnet::{Db, TestNet};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_transactions_are_refused_with_a_reason_and_never_committed() {
    let net = TestNet::start(4, Db::Sqlite).await;
    let node = net.node(0);

    let forged = Tx::new_signed("org1", 1, b"forged".to_vec(), &generate_key());
    assert_eq!(
        node.submit_tx(forged.clone()).await,
        Err(SubmitError::Refused(TxError::BadSignature("org1".into())))
    );

    let stranger = Tx::new_signed("org9", 1, b"who".to_vec(), &generate_key());
    assert_eq!(
        node.submit_tx(stranger.clone()).await,
        Err(SubmitError::Refused(TxError::UnknownOrg("org9".into())))
    );

    let max = net.genesis.params.max_tx_bytes;
    let big = Tx::new_signed("org1", 1, vec![0; max + 1], &net.keys[0].node_key);
    assert_eq!(
        node.submit_tx(big.clone()).await,
        Err(SubmitError::Refused(TxError::TooLarge {
            size: max + 1,
            max
        }))
    );

    // Another org's validly signed transaction may be relayed by any node.
    let relayed = Tx::new_signed("org2", 7, b"relayed".to_vec(), &net.keys[1].node_key);
    let receipt = node.submit_tx(relayed.clone()).await.unwrap();
    // Until a node has applied the block the copy in its mempool answers "already pending";
    // once applied everywhere, every node calls it a replay.
    net.wait_height(receipt.height, Duration::from_secs(30))
        .await;
    for i in 0..4 {
        assert_eq!(
            net.node(i).submit_tx(relayed.clone()).await,
            Err(SubmitError::Refused(TxError::Replayed(receipt.tx_hash))),
            "replay refused at node {i}"
        );
    }

    // The message says why.
    let msg = SubmitError::Refused(TxError::TooLarge { size: 3, max: 2 }).to_string();
    assert!(msg.contains("limit is 2"), "{msg}");

    let later = node.submit(b"after".to_vec()).await.unwrap();
    net.wait_height(later.height, Duration::from_secs(30)).await;
    for i in 0..4 {
        let n = net.node(i);
        for bad in [&forged, &stranger, &big] {
            assert!(n.proof(&bad.hash()).await.unwrap().is_none());
        }
        let mut count = 0;
        for h in 1..=later.height {
            let b = n.block(h).await.unwrap().unwrap();
            count += b.txs.iter().filter(|t| t.hash() == receipt.tx_hash).count();
        }
        assert_eq!(
            count, 1,
            "the relayed transaction is committed exactly once"
        );
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_on_the_gossip_port_changes_nothing() {
    let net = TestNet::start(4, Db::Sqlite).await;
    let addr = net.genesis.orgs[0].gossip_addr.clone();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(&8u32.to_be_bytes()).await.unwrap();
    s.write_all(b"notborsh").await.unwrap();
    let mut s2 = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s2.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    // A forged transaction inside a well-formed frame is refused like any other.
    let forged = Tx::new_signed("org2", 1, b"x".to_vec(), &generate_key());
    let frame = borsh::to_vec(&vec![forged.clone()]).unwrap();
    let mut s3 = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s3.write_all(&(frame.len() as u32).to_be_bytes())
        .await
        .unwrap();
    s3.write_all(&frame).await.unwrap();

    let r = net.node(0).submit(b"still fine".to_vec()).await.unwrap();
    // One block more, so that a forged transaction gossiped with the first would have had
    // its chance to commit.
    let later = net.node(1).submit(b"and after".to_vec()).await.unwrap();
    assert!(later.height > r.height);
    net.wait_height(later.height, Duration::from_secs(30)).await;
    assert!(net.node(0).proof(&forged.hash()).await.unwrap().is_none());
    net.shutdown().await;
}
