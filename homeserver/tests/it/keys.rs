//! End-to-end encryption keys over raw HTTP across organisations: what every node checks
//! (device keys signed by the device, one-time keys by the device key), one-time keys handed
//! out once in block order even when two organisations claim in the same block, the fallback
//! key after them, to-device messages delivered once, bad input refused with nothing
//! written, the consortium's plaintext policy enforced on the ledger itself, and the key
//! history that every node answers the same way.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use consort_bridge::{Record, RoomEvent};
use consort_homeserver::config::{EncryptionDefault, RegistrationMode};
use consort_homeserver::services::rooms::send::{Draft, build};
use consort_homeserver::testing::{Consortium, Db};
use ed25519_dalek::{Signer, SigningKey};
use reqwest::{Method, StatusCode};
use ruma::signatures::to_canonical_json_string_for_signing;
use ruma::{CanonicalJsonObject, CanonicalJsonValue};
use serde_json::{Value, json};

use crate::client::{User, enc, register};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// Signs `object` as `user` with `key` under `ed25519:{key_name}`.
fn sign(mut object: Value, user: &str, key_name: &str, key: &SigningKey) -> Value {
    let canonical: CanonicalJsonObject =
        match serde_json::from_value::<CanonicalJsonValue>(object.clone()).expect("canonical") {
            CanonicalJsonValue::Object(o) => o,
            _ => panic!("not an object"),
        };
    let text = to_canonical_json_string_for_signing(&canonical).expect("canonical text");
    let sig = b64(&key.sign(text.as_bytes()).to_bytes());
    object["signatures"][user][format!("ed25519:{key_name}")] = json!(sig);
    object
}

/// A device of a logged-in user with its own signing key.
struct Device {
    user: User,
    id: String,
    key: SigningKey,
}

impl Device {
    async fn of(user: User) -> Self {
        let whoami = user
            .ok(Method::GET, "/_matrix/client/v3/account/whoami", None)
            .await;
        Self {
            id: whoami["device_id"].as_str().expect("device").to_owned(),
            key: SigningKey::from_bytes(&rand::random::<[u8; 32]>()),
            user,
        }
    }

    fn device_keys(&self) -> Value {
        let keys = json!({
            "user_id": self.user.user_id,
            "device_id": self.id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {
                format!("curve25519:{}", self.id): b64(&rand::random::<[u8; 32]>()),
                format!("ed25519:{}", self.id): b64(self.key.verifying_key().as_bytes()),
            },
        });
        sign(keys, &self.user.user_id, &self.id, &self.key)
    }

    fn one_time_key(&self) -> Value {
        sign(
            json!({"key": b64(&rand::random::<[u8; 32]>())}),
            &self.user.user_id,
            &self.id,
            &self.key,
        )
    }

    async fn upload(&self, body: Value) -> (StatusCode, Value) {
        self.user
            .call(Method::POST, "/_matrix/client/v3/keys/upload", Some(body))
            .await
    }
}

async fn claim(user: &User, target: &Device) -> Value {
    let body = json!({"one_time_keys": {
        target.user.user_id.clone(): {target.id.clone(): "signed_curve25519"}
    }});
    user.ok(Method::POST, "/_matrix/client/v3/keys/claim", Some(body))
        .await
}

/// The key id a claim answered for `target`.
fn claimed_id(answer: &Value, target: &Device) -> String {
    let keys = &answer["one_time_keys"][&target.user.user_id][&target.id];
    let map = keys.as_object().expect("a key for the device");
    assert_eq!(map.len(), 1, "{answer}");
    map.keys().next().expect("key").clone()
}

async fn count(c: &Consortium, org: usize, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
        .fetch_one(&c.org(org).node.state.db.pool)
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_are_checked_claimed_once_and_seen_alike_by_every_organisation() {
    keys_across_organisations(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_are_checked_claimed_once_and_seen_alike_on_postgres() {
    keys_across_organisations(Db::Postgres).await;
}

async fn keys_across_organisations(db: Db) {
    let c = Consortium::start(3, db, RegistrationMode::Open).await;
    let alice = Device::of(register(&c.org(1).base_url, "alice").await).await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(3).base_url, "carol").await;

    // Bad input first: nothing of it reaches any node's projection.
    let mut unsigned = alice.device_keys();
    unsigned["signatures"] = json!({});
    let refused = alice.upload(json!({"device_keys": unsigned})).await;
    assert_eq!(refused.0, StatusCode::BAD_REQUEST, "{:?}", refused.1);
    let mut forged = alice.device_keys();
    forged["keys"][format!("curve25519:{}", alice.id)] = json!(b64(&[1; 32]));
    let refused = alice.upload(json!({"device_keys": forged})).await;
    assert_eq!(
        refused.0,
        StatusCode::BAD_REQUEST,
        "tampered after signing: {:?}",
        refused.1
    );
    let mut others = alice.device_keys();
    others["user_id"] = json!(bob.user_id);
    let refused = alice.upload(json!({"device_keys": others})).await;
    assert_eq!(refused.0, StatusCode::BAD_REQUEST, "{:?}", refused.1);
    let refused = alice
        .upload(json!({"one_time_keys": {"signed_curve25519:AAAA": alice.one_time_key()}}))
        .await;
    assert_eq!(
        refused.0,
        StatusCode::BAD_REQUEST,
        "signed keys before device keys: {:?}",
        refused.1
    );
    for org in 1..=3 {
        assert_eq!(count(&c, org, "bridge_device_keys").await, 0);
        assert_eq!(count(&c, org, "bridge_one_time_keys").await, 0);
    }

    // A device with its keys, two one-time keys and a fallback key.
    let started = Instant::now();
    let (status, answer) = alice
        .upload(json!({
            "device_keys": alice.device_keys(),
            "one_time_keys": {
                "signed_curve25519:AAAA": alice.one_time_key(),
                "signed_curve25519:AAAB": alice.one_time_key(),
            },
            "fallback_keys": {"signed_curve25519:FFFF": alice.one_time_key()},
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["one_time_key_counts"]["signed_curve25519"], 2);
    eprintln!("upload answered in {:?}", started.elapsed());
    // A one-time key that exists with another value is refused.
    let (status, _) = alice
        .upload(json!({"one_time_keys": {"signed_curve25519:AAAA": alice.one_time_key()}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Every organisation sees the same device keys.
    let query = json!({"device_keys": {alice.user.user_id.clone(): []}});
    let mut seen = Vec::new();
    for user in [&bob, &carol] {
        let mut answer = Value::Null;
        for _ in 0..50 {
            answer = user
                .ok(
                    Method::POST,
                    "/_matrix/client/v3/keys/query",
                    Some(query.clone()),
                )
                .await;
            if answer["device_keys"][&alice.user.user_id][&alice.id].is_object() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(answer["failures"], json!({}), "as Synapse: {answer}");
        seen.push(answer["device_keys"][&alice.user.user_id][&alice.id].clone());
    }
    assert!(seen[0].is_object(), "org2 sees alice's device");
    assert_eq!(seen[0], seen[1], "org2 and org3 see the same keys");
    assert_eq!(
        seen[0]["keys"][format!("ed25519:{}", alice.id)],
        json!(b64(alice.key.verifying_key().as_bytes()))
    );

    // Two organisations claim at once: two different keys, whatever the order.
    let started = Instant::now();
    let (from_bob, from_carol) = tokio::join!(claim(&bob, &alice), claim(&carol, &alice));
    eprintln!("two concurrent claims answered in {:?}", started.elapsed());
    let (a, b) = (
        claimed_id(&from_bob, &alice),
        claimed_id(&from_carol, &alice),
    );
    assert_ne!(a, b, "one one-time key went to two claimers");
    assert!(a.starts_with("signed_curve25519:AAA") && b.starts_with("signed_curve25519:AAA"));
    // The keys are gone; the fallback key is what is left.
    let third = claim(&bob, &alice).await;
    assert_eq!(claimed_id(&third, &alice), "signed_curve25519:FFFF");
    let counts = alice.upload(json!({})).await.1;
    assert_eq!(
        counts["one_time_key_counts"]["signed_curve25519"]
            .as_u64()
            .unwrap_or(0),
        0
    );
    // A claim for an unknown device answers nothing and puts nothing on the ledger.
    let outcomes = count(&c, 2, "bridge_outcomes").await;
    let unknown = bob
        .ok(
            Method::POST,
            "/_matrix/client/v3/keys/claim",
            Some(json!({"one_time_keys": {alice.user.user_id.clone(): {"NOSUCHDEVICE": "signed_curve25519"}}})),
        )
        .await;
    assert_eq!(unknown["one_time_keys"], json!({}), "{unknown}");
    // Synapse always sends `failures`; Hydrogen reads it without checking that it is there.
    assert_eq!(unknown["failures"], json!({}), "{unknown}");
    assert_eq!(count(&c, 2, "bridge_outcomes").await, outcomes);

    // To-device: delivered once, a replayed txn id sends nothing twice.
    let bob_device = Device::of(bob.clone()).await;
    let path = "/_matrix/client/v3/sendToDevice/m.room_key_request/txn1";
    let body =
        json!({"messages": {bob.user_id.clone(): {bob_device.id.clone(): {"marker": "once"}}}});
    alice.user.ok(Method::PUT, path, Some(body.clone())).await;
    alice.user.ok(Method::PUT, path, Some(body)).await;
    let mut delivered = Vec::new();
    let mut since: Option<String> = None;
    for _ in 0..20 {
        let sync = bob.sync(since.as_deref(), 500).await;
        for e in sync["to_device"]["events"].as_array().into_iter().flatten() {
            delivered.push(e.clone());
        }
        since = sync["next_batch"].as_str().map(str::to_owned);
        if !delivered.is_empty() {
            // One more round: nothing comes again once acknowledged.
            let again = bob.sync(since.as_deref(), 0).await;
            assert!(
                again["to_device"]["events"]
                    .as_array()
                    .is_none_or(|a| a.is_empty()),
                "{again}"
            );
            break;
        }
    }
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["sender"], alice.user.user_id.as_str());
    assert_eq!(delivered[0]["type"], "m.room_key_request");
    assert_eq!(delivered[0]["content"]["marker"], "once");
    // An oversized batch is refused before the ledger.
    let many: serde_json::Map<String, Value> =
        (0..10_001).map(|i| (format!("D{i}"), json!({}))).collect();
    let (status, answer) = alice
        .user
        .call(
            Method::PUT,
            "/_matrix/client/v3/sendToDevice/m.dummy/big",
            Some(json!({"messages": {bob.user_id.clone(): many}})),
        )
        .await;
    assert!(status == StatusCode::PAYLOAD_TOO_LARGE, "{status} {answer}");

    // The key history: the same on every node.
    let path = format!("/_consort/v1/keys/history/{}", enc(&alice.user.user_id));
    let mine = alice.user.ok(Method::GET, &path, None).await;
    let theirs = carol.ok(Method::GET, &path, None).await;
    assert_eq!(mine["history"], theirs["history"]);
    let history = mine["history"].as_array().expect("history");
    assert_eq!(history.len(), 1, "{mine}");
    assert_eq!(history[0]["kind"], "device_added");
    assert_eq!(history[0]["org"], "org1");
    assert_eq!(history[0]["detail"]["device_id"], alice.id.as_str());
    assert_eq!(history[0]["tx_hash"].as_str().map(str::len), Some(64));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_device_list_change_reaches_another_organisation_in_the_next_sync() {
    let c = Consortium::start(3, Db::Sqlite, RegistrationMode::Open).await;
    let alice = Device::of(register(&c.org(1).base_url, "alice").await).await;
    let carol = register(&c.org(3).base_url, "carol").await;
    alice.user.bind(&carol).await;
    let room = alice
        .user
        .create_room(json!({"invite": [carol.user_id]}))
        .await;
    carol.accept_invite(&room).await;
    let first = carol.sync(None, 0).await;
    let mut since = first["next_batch"].as_str().expect("token").to_owned();
    let started = Instant::now();
    let (status, answer) = alice
        .upload(json!({"device_keys": alice.device_keys()}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut changed = false;
    for _ in 0..40 {
        let sync = carol.sync(Some(&since), 5000).await;
        since = sync["next_batch"].as_str().expect("token").to_owned();
        let list = sync["device_lists"]["changed"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if list.contains(&json!(alice.user.user_id)) {
            changed = true;
            break;
        }
    }
    assert!(changed, "carol's sync names alice's device list as changed");
    eprintln!(
        "device key upload on org1 to device_lists.changed on org3: {:?}",
        started.elapsed()
    );

    // Carol leaves their only shared room: alice's next sync names her in `left`, and
    // /keys/changes over the same range says the same (as Synapse).
    let before = alice.user.sync(None, 0).await;
    let from = before["next_batch"].as_str().expect("token").to_owned();
    let (status, answer) = carol.room_action(&room, "leave", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut since = from.clone();
    let mut left = false;
    for _ in 0..40 {
        let sync = alice.user.sync(Some(&since), 5000).await;
        since = sync["next_batch"].as_str().expect("token").to_owned();
        if sync["device_lists"]["left"]
            .as_array()
            .is_some_and(|l| l.contains(&json!(carol.user_id)))
        {
            left = true;
            break;
        }
    }
    assert!(left, "alice's sync names carol in device_lists.left");
    let changes = alice
        .user
        .ok(
            Method::GET,
            &format!("/_matrix/client/v3/keys/changes?from={from}&to={since}"),
            None,
        )
        .await;
    assert_eq!(changes["left"], json!([carol.user_id]), "{changes}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consortium_that_refuses_plaintext_refuses_it_on_every_node() {
    let app = BTreeMap::from([(
        "plaintext_in_encrypted_rooms".to_owned(),
        "refuse".to_owned(),
    )]);
    let c = Consortium::start_with_app(2, Db::Sqlite, RegistrationMode::Open, app, |config| {
        config.encryption_default = EncryptionDefault::Invite;
    })
    .await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let encrypted = alice.create_room(json!({"preset": "private_chat"})).await;
    let plain = alice.create_room(json!({"preset": "public_chat"})).await;
    // The client API refuses it.
    let (status, answer) = alice.send_txn(&encrypted, "p1", "plaintext!").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    // Ciphertext goes through, and plaintext in a room without encryption too.
    let ciphertext = json!({"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgA", "session_id": "S", "sender_key": "K", "device_id": "D"});
    let (status, answer) = alice
        .call(
            Method::PUT,
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.encrypted/c1",
                enc(&encrypted)
            ),
            Some(ciphertext),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        alice.send_txn(&plain, "p2", "fine here").await.0,
        StatusCode::OK
    );

    // Put on the ledger directly, past the node's own check: every node refuses it.
    let state = &c.org(1).node.state;
    let room_id = ruma::RoomId::parse(&encrypted).expect("room id");
    let user_id = ruma::UserId::parse(&alice.user_id).expect("user id");
    let pdu = build(
        state,
        &user_id,
        &room_id,
        Draft {
            kind: "m.room.message".into(),
            state_key: None,
            content: json!({"msgtype": "m.text", "body": "smuggled plaintext"}),
        },
    )
    .await
    .expect("build");
    let record = Record::RoomEvent(RoomEvent {
        pdu: pdu.json.clone(),
    });
    let err = state
        .chain()
        .expect("chain")
        .submit_record(&record)
        .await
        .expect_err("the ledger refuses plaintext");
    assert!(err.to_string().contains("plaintext"), "{err}");
    for org in 1..=2 {
        let mut refused = 0;
        for _ in 0..50 {
            refused = sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM bridge_outcomes WHERE accepted = 0 AND reason LIKE '%plaintext%'",
            )
            .fetch_one(&c.org(org).node.state.db.pool)
            .await
            .expect("outcomes");
            if refused > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(refused, 1, "org{org} refused the smuggled plaintext");
    }
    c.shutdown().await;
}

/// Prints what one new device with 50 one-time keys adds to every node's ledger (the block
/// that carries the upload) and projection (the key rows); a measurement, not a timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ledger_bytes_of_a_new_device_with_fifty_one_time_keys() {
    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let alice = Device::of(register(&c.org(1).base_url, "alice").await).await;
    let pool = &c.org(2).node.state.db.pool;
    let blocks = |pool: &sqlx::AnyPool| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COALESCE(SUM(LENGTH(block)), 0) FROM chain_blocks")
                .fetch_one(&pool)
                .await
                .expect("blocks")
        }
    };
    let before = blocks(pool).await;
    let one_time: serde_json::Map<String, Value> = (0..50)
        .map(|i| (format!("signed_curve25519:K{i:04}"), alice.one_time_key()))
        .collect();
    let (status, answer) = alice
        .upload(json!({"device_keys": alice.device_keys(), "one_time_keys": one_time}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["one_time_key_counts"]["signed_curve25519"], 50);
    // Org 2 stores and applies the block on its own.
    for _ in 0..250 {
        if count(&c, 2, "bridge_one_time_keys").await == 50 && blocks(pool).await > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count(&c, 2, "bridge_one_time_keys").await, 50);
    let block_bytes = blocks(pool).await - before;
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT COALESCE(SUM(LENGTH(key_json)), 0) FROM bridge_one_time_keys) + \
         (SELECT COALESCE(SUM(LENGTH(keys_json)), 0) FROM bridge_device_keys) + \
         (SELECT COALESCE(SUM(LENGTH(detail)), 0) FROM bridge_key_log)",
    )
    .fetch_one(pool)
    .await
    .expect("rows");
    assert!(
        block_bytes > 50 * 100,
        "the block carries the keys: {block_bytes}"
    );
    eprintln!(
        "one device with 50 one-time keys: {block_bytes} bytes of blocks, {rows} bytes of key rows per node"
    );
    c.shutdown().await;
}
