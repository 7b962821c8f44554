//! Rooms on a real 4-organisation consortium: events built and signed by one node, checked
//! with the Matrix auth rules and applied identically by every node.

use std::time::{Duration, Instant};

use consort_bridge::rooms::event::{NewEvent, Pdu, RoomState, build_pdu};
use consort_bridge::rooms::store;
use consort_bridge::{
    Bridge, BridgeError, Record, Registration, RejectionKind, RoomEvent, submit_record,
};
use consort_chain::testnet::{Db, TestNet};
use ruma::{OwnedRoomId, OwnedUserId, RoomId, RoomVersionId};
use serde_json::json;

use crate::bridges;

const ALICE: &str = "@alice:org1.localhost";
const BOB: &str = "@bob:org2.localhost";

/// Waits until `bridge` has applied the room up to `latest` and returns its state.
async fn state_at(bridge: &Bridge, room: &OwnedRoomId, latest: &Pdu) -> RoomState {
    let start = Instant::now();
    loop {
        if let Some(state) = store::room_state(bridge.pool(), room.as_str())
            .await
            .unwrap()
            && state.latest.as_ref().map(|l| &l.0) == Some(&latest.event_id)
        {
            return state;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "room never caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn event(
    sender: &str,
    kind: &str,
    state_key: Option<&str>,
    content: serde_json::Value,
) -> NewEvent {
    NewEvent {
        sender: OwnedUserId::try_from(sender).unwrap(),
        kind: kind.into(),
        state_key: state_key.map(Into::into),
        content,
        origin_server_ts: 1_700_000_000_000,
    }
}

async fn rooms_are_shared_and_enforced_everywhere(db: Db) {
    let (factory, bridges) = bridges();
    let net = TestNet::start_with(4, db, Some(factory)).await;
    let bridge = |i: usize| bridges.lock().unwrap()[i].clone().unwrap();
    let org = |i: usize| net.genesis.orgs[i].server_name.clone();
    let sign = |i: usize, room: &RoomState, new: NewEvent| {
        build_pdu(&net.keys[i].node_key, &org(i), room, new).unwrap()
    };
    let send = |i: usize, pdu: &Pdu| {
        let record = Record::RoomEvent(RoomEvent {
            pdu: pdu.json.clone(),
        });
        let (node, b) = (net.node(i), bridge(i));
        async move { submit_record(&node, &b, &record).await }
    };

    for (i, user) in [(0, ALICE), (1, BOB)] {
        let cert = Registration::new_signed(
            user,
            &format!("org{}", i + 1),
            "@admin:x",
            1,
            &net.keys[i].node_key,
        );
        submit_record(&net.node(i), &bridge(i), &Record::Registration(cert))
            .await
            .expect("registered");
    }

    // Alice (org 1) creates a public room and talks in it.
    let room: OwnedRoomId = RoomId::parse("!lobby:org1.localhost").unwrap();
    let fresh = RoomState::new_room(Some(room.clone()), RoomVersionId::V11);
    let create = sign(
        0,
        &fresh,
        event(
            ALICE,
            "m.room.create",
            Some(""),
            json!({"room_version": "11"}),
        ),
    );
    send(0, &create).await.expect("create");
    let mut last = create;
    for (kind, key, content) in [
        ("m.room.member", Some(ALICE), json!({"membership": "join"})),
        (
            "m.room.power_levels",
            Some(""),
            json!({"users": {ALICE: 100}}),
        ),
        (
            "m.room.join_rules",
            Some(""),
            json!({"join_rule": "public"}),
        ),
        (
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": "hello"}),
        ),
    ] {
        let state = state_at(&bridge(0), &room, &last).await;
        let pdu = sign(0, &state, event(ALICE, kind, key, content));
        send(0, &pdu)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        last = pdu;
    }

    // Bob (org 2) cannot send before joining: rejected by the consortium.
    let state = state_at(&bridge(1), &room, &last).await;
    let early = sign(
        1,
        &state,
        event(
            BOB,
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": "early"}),
        ),
    );
    let err = send(1, &early).await.unwrap_err();
    assert!(
        matches!(&err, BridgeError::Rejected(r) if r.kind() == RejectionKind::Forbidden && r.message().contains("membership")),
        "{err}"
    );
    // He joins the public room and sends.
    let join = sign(
        1,
        &state,
        event(
            BOB,
            "m.room.member",
            Some(BOB),
            json!({"membership": "join"}),
        ),
    );
    let joined = send(1, &join).await.expect("bob joins");
    let state = state_at(&bridge(1), &room, &join).await;
    let hey = sign(
        1,
        &state,
        event(
            BOB,
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": "hey"}),
        ),
    );
    send(1, &hey).await.expect("bob sends");

    // A v12 room of its own; citing its create event from the lobby is refused, and the
    // consortium keeps going.
    let fresh12 = RoomState::new_room(None, RoomVersionId::V12);
    let create12 = sign(
        0,
        &fresh12,
        event(
            ALICE,
            "m.room.create",
            Some(""),
            json!({"room_version": "12"}),
        ),
    );
    send(0, &create12).await.expect("v12 room");
    let mut cross = state_at(&bridge(0), &room, &hey).await;
    let honest_latest = cross.latest.clone();
    cross.latest = Some((create12.event_id.clone(), 1));
    let bad = sign(
        0,
        &cross,
        event(
            ALICE,
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": "x"}),
        ),
    );
    let err = send(0, &bad).await.unwrap_err();
    assert!(
        matches!(&err, BridgeError::Rejected(r) if r.kind() == RejectionKind::NotFound && r.message().contains("not in the room")),
        "{err}"
    );
    cross.latest = honest_latest;
    let bye = sign(
        0,
        &cross,
        event(
            ALICE,
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": "bye"}),
        ),
    );
    let r = send(0, &bye).await.expect("alice sends again");

    net.wait_height(r.height, Duration::from_secs(30)).await;
    let reference_timeline = store::timeline(bridge(0).pool(), room.as_str())
        .await
        .unwrap();
    let reference_state = store::current_state(bridge(0).pool(), room.as_str())
        .await
        .unwrap();
    assert_eq!(reference_timeline.len(), 8);
    assert_eq!(reference_timeline[6].0, hey.event_id.as_str());
    assert_eq!(reference_timeline[7].0, bye.event_id.as_str());
    assert!(
        reference_timeline
            .iter()
            .all(|(id, _)| id != early.event_id.as_str())
    );
    assert!(
        reference_state
            .iter()
            .any(|(t, k, id)| t == "m.room.member" && k == BOB && id == join.event_id.as_str())
    );
    for i in 0..4 {
        let b = bridge(i);
        assert_eq!(
            store::timeline(b.pool(), room.as_str()).await.unwrap(),
            reference_timeline
        );
        assert_eq!(
            store::current_state(b.pool(), room.as_str()).await.unwrap(),
            reference_state
        );
        assert_eq!(
            b.outcome(joined.height, joined.index).await.unwrap(),
            Some(Ok(()))
        );
        let v12 = store::room_state(b.pool(), create12.room.as_str())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v12.version, RoomVersionId::V12);
    }
    // Every node rejected the same two events, at the same positions, for the same reasons.
    let mut rejected = std::collections::BTreeMap::new();
    for h in 1..=r.height {
        for i in 0..4 {
            for idx in 0..8u32 {
                if let Some(Err(reason)) = bridge(i).outcome(h, idx).await.unwrap() {
                    *rejected
                        .entry((h, idx, reason.code(), reason.message().to_owned()))
                        .or_insert(0) += 1;
                }
            }
        }
    }
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected.values().all(|n| *n == 4), "{rejected:?}");
    // A later block's header carries the app hash after every block before it.
    let next = net.node(1).submit(b"next".to_vec()).await.unwrap();
    net.wait_height(next.height, Duration::from_secs(30)).await;
    let h = next.height;
    let app_hash = net.node(0).block(h).await.unwrap().unwrap().header.app_hash;
    for i in 1..4 {
        assert_eq!(
            net.node(i).block(h).await.unwrap().unwrap().header.app_hash,
            app_hash
        );
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rooms_on_sqlite() {
    rooms_are_shared_and_enforced_everywhere(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rooms_on_postgres() {
    rooms_are_shared_and_enforced_everywhere(Db::Postgres).await;
}
