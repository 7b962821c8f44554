//! The block store on both SQL backends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use consort_chain::block::{Block, BlockHeader};
use consort_chain::crypto::generate_key;
use consort_chain::engine::types::{Address, Height};
use consort_chain::executor::BoxFuture;
use consort_chain::store::{
    BlockStore, PayloadKeeper, StoredBlock, Undecided, connect_and_migrate,
};
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

/// A keeper holding payloads in memory, as an application's table would.
#[derive(Default)]
struct MemoryKeeper(Mutex<HashMap<(u64, u32), Vec<u8>>>);

impl PayloadKeeper for MemoryKeeper {
    fn place(&self) -> &str {
        "the test's keeper"
    }

    fn payloads<'a>(
        &'a self,
        height: u64,
        indexes: &'a [u32],
    ) -> BoxFuture<'a, Result<Vec<Vec<u8>>, String>> {
        Box::pin(async move {
            let kept = self.0.lock().unwrap();
            indexes
                .iter()
                .map(|i| kept.get(&(height, *i)).cloned().ok_or(format!("no {i}")))
                .collect()
        })
    }
}

/// Payloads the keeper keeps are stored once, there, and come back byte for byte; a kept
/// payload that changed is named, and a store without the keeper cannot read the block.
async fn exercise_kept_payloads(url: &str) {
    let pool = connect_and_migrate(url).await.unwrap();
    let keeper = Arc::new(MemoryKeeper::default());
    let store = BlockStore::new(pool.clone()).with_keeper(Some(keeper.clone()));
    let mut b1 = block(1, [0; 32], 3);
    for (i, tx) in b1.txs.iter_mut().enumerate() {
        *tx = Tx::new_signed("org1", i as u64, vec![i as u8 + 7; 500], &generate_key());
    }
    b1.header.tx_root = Block::compute_tx_root(&b1.txs);
    for i in [0u32, 2] {
        let payload = b1.txs[i as usize].payload.clone();
        keeper.0.lock().unwrap().insert((1, i), payload);
    }
    let hashes: Vec<TxHash> = b1.txs.iter().map(Tx::hash).collect();
    store
        .commit_with_hashes(&stored(b1.clone()), &hashes, &[0, 2, 9])
        .await
        .unwrap();
    let stored_bytes: i64 = sqlx::query_scalar("SELECT LENGTH(block) FROM chain_blocks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        (stored_bytes as usize) < b1.encode().len() - 900,
        "the kept payloads are not stored again ({stored_bytes} of {} bytes)",
        b1.encode().len()
    );
    assert_eq!(store.block(1).await.unwrap().unwrap().block, b1);

    let without = BlockStore::new(pool.clone());
    let e = without.block(1).await.unwrap_err().to_string();
    assert!(e.contains("height 1") && e.contains("without it"), "{e}");

    keeper.0.lock().unwrap().get_mut(&(1, 2)).unwrap()[10] ^= 1;
    let e = store.block(1).await.unwrap_err().to_string();
    assert!(
        e.contains("height 1") && e.contains("transaction 2") && e.contains("the test's keeper"),
        "{e}"
    );
    keeper.0.lock().unwrap().remove(&(1, 0));
    let e = store.block(1).await.unwrap_err().to_string();
    assert!(e.contains("no 0"), "{e}");
}

#[tokio::test]
async fn kept_payloads_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise_kept_payloads(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("k.db").display()
    ))
    .await;
}

#[tokio::test]
async fn kept_payloads_on_postgres() {
    let (url, name) = create_pg_db().await;
    exercise_kept_payloads(&url).await;
    drop_pg_db(&name).await;
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
