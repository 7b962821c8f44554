//! The bridge on a real 4-organisation consortium: registrations certified on the ledger,
//! rejected the same way by every node, applied identically everywhere.

use std::sync::Arc;
use std::time::Duration;

use consort_bridge::{
    Bridge, BridgeError, Record, Registration, RejectionKind, submit_record, users,
};
use consort_chain::testnet::{Db, ExecutorFactory, TestNet};

mod rooms;

pub(crate) fn bridges() -> (ExecutorFactory, Arc<std::sync::Mutex<Vec<Option<Bridge>>>>) {
    let all = Arc::new(std::sync::Mutex::new(vec![None; 4]));
    let keep = all.clone();
    let factory: ExecutorFactory = Arc::new(move |i, pool, genesis| {
        let bridge = Bridge::new(pool.clone(), genesis.clone());
        keep.lock().unwrap()[i] = Some(bridge.clone());
        Arc::new(bridge)
    });
    (factory, all)
}

async fn registrations_are_certified_and_enforced_everywhere(db: Db) {
    let (factory, bridges) = bridges();
    let net = TestNet::start_with(4, db, Some(factory)).await;
    let bridge = |i: usize| bridges.lock().unwrap()[i].clone().unwrap();

    let alice = "@alice:org2.localhost";
    let cert = Registration::new_signed(
        alice,
        "org2",
        "@admin:org2.localhost",
        1,
        &net.keys[1].node_key,
    );
    let receipt = submit_record(
        &net.node(1),
        &bridge(1),
        &Record::Registration(cert.clone()),
    )
    .await
    .expect("org2 registers its own user");

    // Org 3 cannot register (or approve) a user of org 2, even with org 2's certificate.
    let err = submit_record(
        &net.node(2),
        &bridge(2),
        &Record::Registration(cert.clone()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, BridgeError::Rejected(r) if r.kind() == RejectionKind::WrongOrganisation && r.message().contains("does not belong")),
        "{err}"
    );
    // Nor can org 2 register the same id twice.
    let again = Registration::new_signed(
        alice,
        "org2",
        "@admin:org2.localhost",
        2,
        &net.keys[1].node_key,
    );
    let err = submit_record(&net.node(1), &bridge(1), &Record::Registration(again))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BridgeError::Rejected(r) if r.kind() == RejectionKind::UserInUse && r.message().contains("already registered")),
        "{err}"
    );
    // A certificate not signed by org 2's key is refused.
    let forged = Registration::new_signed(
        "@bob:org2.localhost",
        "org2",
        "@x:org2.localhost",
        1,
        &net.keys[0].node_key,
    );
    let err = submit_record(&net.node(1), &bridge(1), &Record::Registration(forged))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BridgeError::Rejected(r) if r.kind() == RejectionKind::BadSignature && r.message().contains("signature")),
        "{err}"
    );
    // Garbage payloads commit as rejected records and change nothing.
    let r = net.node(0).submit(b"not a record".to_vec()).await.unwrap();
    net.wait_height(r.height, Duration::from_secs(30)).await;

    // Every node sees the same projection and the same outcome.
    for i in 0..4 {
        let b = bridge(i);
        let row = users::get(b.pool(), alice)
            .await
            .unwrap()
            .expect("visible on every node");
        assert_eq!(row.org, "org2");
        assert_eq!(row.height, receipt.height);
        assert!(
            users::get(b.pool(), "@bob:org2.localhost")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            b.outcome(receipt.height, receipt.index).await.unwrap(),
            Some(Ok(()))
        );
        assert!(matches!(
            b.outcome(r.height, r.index).await.unwrap(),
            Some(Err(_))
        ));
    }
    // The outcomes are part of the app hash, which all nodes agree on.
    // A later block's header carries the app hash after every block before it.
    let next = net.node(1).submit(b"next".to_vec()).await.unwrap();
    net.wait_height(next.height, Duration::from_secs(30)).await;
    let h = next.height;
    let reference = net.node(0).block(h).await.unwrap().unwrap().header.app_hash;
    for i in 1..4 {
        assert_eq!(
            net.node(i).block(h).await.unwrap().unwrap().header.app_hash,
            reference
        );
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registrations_on_sqlite() {
    registrations_are_certified_and_enforced_everywhere(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registrations_on_postgres() {
    registrations_are_certified_and_enforced_everywhere(Db::Postgres).await;
}
