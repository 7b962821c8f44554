//! Server-side key backup (`/room_keys`) with the spec's semantics: versions, the current
//! version only taking keys (`M_WRONG_ROOM_KEYS_VERSION` otherwise), better keys replacing
//! worse ones, `count` and `etag`, deletion, and clear errors for unknown versions.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{enc, register};

fn key(first_message_index: u64, forwarded_count: u64, is_verified: bool, tag: &str) -> Value {
    json!({
        "first_message_index": first_message_index,
        "forwarded_count": forwarded_count,
        "is_verified": is_verified,
        "session_data": {"ephemeral": tag, "ciphertext": tag, "mac": tag},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_backup_versions_and_keys() {
    key_backup(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_backup_versions_and_keys_on_postgres() {
    key_backup(Db::Postgres).await;
}

async fn key_backup(db: Db) {
    let c = Consortium::start(1, db, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let room = "!room:org1.localhost";
    let algorithm = json!({"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {"public_key": "abc"}});

    let (status, none) = alice
        .call(Method::GET, "/_matrix/client/v3/room_keys/version", None)
        .await;
    assert_eq!(
        (status, none["errcode"].as_str()),
        (StatusCode::NOT_FOUND, Some("M_NOT_FOUND"))
    );
    let v1 = alice
        .ok(
            Method::POST,
            "/_matrix/client/v3/room_keys/version",
            Some(algorithm.clone()),
        )
        .await["version"]
        .as_str()
        .expect("version")
        .to_owned();
    let put = |version: &str, session: &str| {
        format!(
            "/_matrix/client/v3/room_keys/keys/{}/{session}?version={version}",
            enc(room)
        )
    };
    let first = alice
        .ok(Method::PUT, &put(&v1, "s1"), Some(key(5, 1, false, "a")))
        .await;
    assert_eq!(first["count"], 1);
    let etag = first["etag"].clone();
    // A worse key changes nothing (same etag); a better one replaces it (new etag).
    let worse = alice
        .ok(Method::PUT, &put(&v1, "s1"), Some(key(9, 0, false, "b")))
        .await;
    assert_eq!(
        (worse["count"].clone(), worse["etag"].clone()),
        (json!(1), etag.clone())
    );
    let better = alice
        .ok(Method::PUT, &put(&v1, "s1"), Some(key(9, 0, true, "c")))
        .await;
    assert_ne!(better["etag"], etag);
    let stored = alice.ok(Method::GET, &put(&v1, "s1"), None).await;
    assert_eq!(stored["session_data"]["ciphertext"], "c");
    // The whole backup, by room.
    let all = alice
        .ok(
            Method::GET,
            &format!("/_matrix/client/v3/room_keys/keys?version={v1}"),
            None,
        )
        .await;
    assert_eq!(all["rooms"][room]["sessions"]["s1"]["is_verified"], true);
    let info = alice
        .ok(Method::GET, "/_matrix/client/v3/room_keys/version", None)
        .await;
    assert_eq!(
        (info["version"].as_str(), info["count"].clone()),
        (Some(v1.as_str()), json!(1))
    );
    assert_eq!(info["auth_data"]["public_key"], "abc");

    // A new version: the old one takes no more keys.
    let v2 = alice
        .ok(
            Method::POST,
            "/_matrix/client/v3/room_keys/version",
            Some(algorithm.clone()),
        )
        .await["version"]
        .as_str()
        .expect("version")
        .to_owned();
    assert_ne!(v1, v2);
    let (status, wrong) = alice
        .call(Method::PUT, &put(&v1, "s2"), Some(key(0, 0, false, "d")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{wrong}");
    assert_eq!(wrong["errcode"], "M_WRONG_ROOM_KEYS_VERSION");
    assert_eq!(wrong["current_version"], v2.as_str());
    // Changing the algorithm is refused; auth_data may change.
    let mut other = algorithm.clone();
    other["algorithm"] = json!("org.example.other");
    let (status, _) = alice
        .call(
            Method::PUT,
            &format!("/_matrix/client/v3/room_keys/version/{v2}"),
            Some(other),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut updated = algorithm.clone();
    updated["auth_data"]["public_key"] = json!("def");
    alice
        .ok(
            Method::PUT,
            &format!("/_matrix/client/v3/room_keys/version/{v2}"),
            Some(updated),
        )
        .await;
    // Bad key data gets a clear error and stores nothing.
    let (status, bad) = alice
        .call(
            Method::PUT,
            &put(&v2, "s3"),
            Some(json!({"first_message_index": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let info = alice
        .ok(
            Method::GET,
            &format!("/_matrix/client/v3/room_keys/version/{v2}"),
            None,
        )
        .await;
    assert_eq!(info["count"], 0);
    assert_eq!(info["auth_data"]["public_key"], "def");

    // Deleting keys, then the version.
    let deleted = alice.ok(Method::DELETE, &put(&v1, "s1"), None).await;
    assert_eq!(deleted["count"], 0);
    alice
        .ok(
            Method::DELETE,
            &format!("/_matrix/client/v3/room_keys/version/{v2}"),
            None,
        )
        .await;
    let (status, gone) = alice
        .call(
            Method::GET,
            &format!("/_matrix/client/v3/room_keys/version/{v2}"),
            None,
        )
        .await;
    assert_eq!(
        (status, gone["errcode"].as_str()),
        (StatusCode::NOT_FOUND, Some("M_NOT_FOUND"))
    );
    let (status, _) = alice
        .call(
            Method::GET,
            "/_matrix/client/v3/room_keys/version/nonsense",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    c.shutdown().await;
}
