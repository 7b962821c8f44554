//! MSC2666 mutual rooms across organisations: the rooms both users are joined to, announced
//! in `/versions`; asking about oneself is refused as Synapse refuses it.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::client::{enc, register};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mutual_rooms_are_the_rooms_both_users_joined() {
    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    alice.bind(&bob).await;
    let shared = alice.create_room(json!({"invite": [bob.user_id]})).await;
    bob.accept_invite(&shared).await;
    let invited_only = alice.create_room(json!({"invite": [bob.user_id]})).await;
    let _alone = alice.create_room(json!({})).await;

    let path = |user: &str| {
        format!(
            "/_matrix/client/unstable/uk.half-shot.msc2666/user/mutual_rooms?user_id={}",
            enc(user)
        )
    };
    let mut answer = json!(null);
    for _ in 0..50 {
        answer = alice.ok(Method::GET, &path(&bob.user_id), None).await;
        if answer["joined"] == json!([shared]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        answer["joined"],
        json!([shared]),
        "not {invited_only}: {answer}"
    );
    let answer = bob.ok(Method::GET, &path(&alice.user_id), None).await;
    assert_eq!(
        answer["joined"],
        json!([shared]),
        "from bob's node: {answer}"
    );
    let (status, answer) = alice.call(Method::GET, &path(&alice.user_id), None).await;
    assert_eq!(
        (status, answer["errcode"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("M_INVALID_PARAM")),
        "{answer}"
    );
    let versions = alice
        .ok(Method::GET, "/_matrix/client/versions", None)
        .await;
    assert_eq!(
        versions["unstable_features"]["uk.half-shot.msc2666.query_mutual_rooms"],
        true
    );
    c.shutdown().await;
}
