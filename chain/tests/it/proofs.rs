//! Inclusion proofs verify against the genesis; any flipped byte breaks them.

use consort_chain::{TxProof, verify};

use consort_chain::testnet::{Db, TestNet};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proofs_verify_and_any_flipped_byte_breaks_them() {
    let net = TestNet::start(4, Db::Sqlite).await;
    let mut receipts = Vec::new();
    let submits = (0..9).map(|i| {
        let node = net.node(i % 4);
        async move { node.submit(format!("p{i}").into_bytes()).await }
    });
    for r in futures::future::join_all(submits).await {
        receipts.push(r.unwrap());
    }
    // Node 3 commits each block on its own, moments after the submitting node may have.
    let last = receipts.iter().map(|r| r.height).max().expect("receipts");
    let mut tip = net.node(3).watch_tip();
    tip.wait_for(|t| t.height >= last)
        .await
        .expect("node 3 runs");
    for r in &receipts {
        // Any node proves any transaction, wherever it was submitted.
        let proof = net.node(3).proof(&r.tx_hash).await.unwrap().expect("proof");
        assert_eq!(proof.header.height, r.height);
        verify(&proof, &net.genesis).expect("valid proof");
    }

    let proof = net
        .node(1)
        .proof(&receipts[0].tx_hash)
        .await
        .unwrap()
        .unwrap();
    let bytes = proof.encode();
    assert!(verify(&TxProof::decode(&bytes).unwrap(), &net.genesis).is_ok());
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        if let Ok(p) = TxProof::decode(&bad) {
            assert!(
                verify(&p, &net.genesis).is_err(),
                "flipping byte {i} of {} must break the proof",
                bytes.len()
            );
        }
    }

    // A proof checked against another consortium's genesis fails.
    let other = TestNet::start(1, Db::Sqlite).await;
    assert!(verify(&proof, &other.genesis).is_err());
    other.shutdown().await;

    assert!(
        net.node(0)
            .proof(&consort_chain::TxHash([7; 32]))
            .await
            .unwrap()
            .is_none()
    );
    net.shutdown().await;
}
