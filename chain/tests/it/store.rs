//! The block store on both SQL backends.

use consort_chain::block::{Block, BlockHeader};
use consort_chain::crypto::generate_key;
use consort_chain::engine::types::{Address, Height};
use consort_chain::store::{BlockStore, StoredBlock, Undecided, connect_and_migrate};
use consort_chain::{Tx, TxHash};
use malachitebft_core_types::{CommitCertificate, Round};

use consort_chain::testnet::{create_pg_db, drop_pg_db};

fn block(height: u64, prev: [u8; 32], n: u64) -> Block {
    let key = generate_key();
    let txs: Vec<Tx> = (0..n)
        .map(|i| Tx::new_signed("org1", i + height * 100, vec![i as u8; 3], &key))
        .collect();
    Block {
        header: BlockHeader {
            chain_id: "c".into(),
            height,
            time_ms: 1000 + height,
            proposer: Address([1; 20]),
            prev_hash: prev,
            tx_root: Block::compute_tx_root(&txs),
            tx_count: txs.len() as u32,
            app_hash: [2; 32],
        },
        txs,
    }
}

fn stored(b: Block) -> StoredBlock {
    StoredBlock {
        certificate: CommitCertificate::new(
            Height(b.header.height),
            Round::new(0),
            b.hash(),
            vec![],
        ),
        block: b,
        app_hash: [3; 32],
    }
}

async fn exercise(url: &str) {
    let store = BlockStore::new(connect_and_migrate(url).await.unwrap());
    assert!(store.tip().await.unwrap().is_none());
    let b1 = block(1, [0; 32], 3);
    let b2 = block(2, b1.hash().0, 0);

    store
        .put_undecided(&Undecided {
            round: 0,
            proposer: Address([1; 20]),
            valid: true,
            block: b1.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        store.undecided_block(1, &b1.hash()).await.unwrap(),
        Some(b1.clone())
    );

    store.commit(&stored(b1.clone())).await.unwrap();
    store.commit(&stored(b1.clone())).await.unwrap(); // idempotent
    assert!(
        store.undecided_at(1).await.unwrap().is_empty(),
        "undecided cleared"
    );
    let other = block(1, [9; 32], 1);
    assert!(
        store.commit(&stored(other)).await.is_err(),
        "a second block at a height is refused"
    );
    store.commit(&stored(b2.clone())).await.unwrap();

    let tip = store.tip().await.unwrap().unwrap();
    assert_eq!((tip.height, tip.hash), (2, b2.hash().0));
    let back = store.block(1).await.unwrap().unwrap();
    assert_eq!(back.block, b1);
    assert_eq!(back.certificate.value_id, b1.hash());
    assert_eq!(back.app_hash, [3; 32]);
    assert_eq!(
        store.tx_location(&b1.txs[2].hash()).await.unwrap(),
        Some((1, 2))
    );
    assert_eq!(store.tx_location(&TxHash([0; 32])).await.unwrap(), None);
    assert_eq!(store.all_tx_hashes().await.unwrap().len(), 3);

    // Reopening (migrations already applied) sees the same data.
    let again = BlockStore::new(connect_and_migrate(url).await.unwrap());
    assert_eq!(again.tip().await.unwrap().unwrap().height, 2);
}

#[tokio::test]
async fn block_store_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("s.db").display()
    ))
    .await;
}

#[tokio::test]
async fn block_store_on_postgres() {
    let (url, name) = create_pg_db().await;
    exercise(&url).await;
    drop_pg_db(&name).await;
}
