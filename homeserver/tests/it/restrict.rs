//! Account suspension and locking by an organisation's admin: a suspended account reads and
//! leaves but does not act (403 `M_USER_SUSPENDED`); a locked one gets 401 `M_USER_LOCKED`
//! with `soft_logout` on every request; both undo; only admins, only their own organisation's
//! accounts.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{User, enc, register};

fn refused(answer: &(StatusCode, Value), status: StatusCode, errcode: &str) {
    assert_eq!(
        (answer.0, answer.1["errcode"].as_str()),
        (status, Some(errcode)),
        "{}",
        answer.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admins_suspend_and_lock_their_organisations_accounts() {
    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let org = c.org(1);
    let admin = User::with_token(&org.base_url, &org.admin.user_id, &org.admin.access_token);
    let alice = register(&org.base_url, "alice").await;
    let bob = register(&org.base_url, "bob").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    assert!(bob.join(&room).await.0.is_success());
    let suspend = |user: &str| format!("/_matrix/client/v1/admin/suspend/{}", enc(user));
    let lock = |user: &str| format!("/_matrix/client/v1/admin/lock/{}", enc(user));

    let answer = admin
        .ok(
            Method::PUT,
            &suspend(&bob.user_id),
            Some(json!({"suspended": true})),
        )
        .await;
    assert_eq!(answer, json!({"suspended": true}));
    assert_eq!(
        admin.ok(Method::GET, &suspend(&bob.user_id), None).await,
        json!({"suspended": true})
    );
    // Suspended: no acting.
    refused(
        &bob.send_txn(&room, "t1", "still here?").await,
        StatusCode::FORBIDDEN,
        "M_USER_SUSPENDED",
    );
    refused(
        &bob.call(
            Method::POST,
            "/_matrix/client/v3/createRoom",
            Some(json!({})),
        )
        .await,
        StatusCode::FORBIDDEN,
        "M_USER_SUSPENDED",
    );
    refused(
        &bob.call(
            Method::PUT,
            &format!(
                "/_matrix/client/v3/profile/{}/displayname",
                enc(&bob.user_id)
            ),
            Some(json!({"displayname": "B"})),
        )
        .await,
        StatusCode::FORBIDDEN,
        "M_USER_SUSPENDED",
    );
    refused(
        &bob.upload(b"x".to_vec(), "text/plain", None).await,
        StatusCode::FORBIDDEN,
        "M_USER_SUSPENDED",
    );
    // ... but reading and leaving.
    let (status, _) = bob
        .call(
            Method::GET,
            &format!("/_matrix/client/v3/rooms/{}/messages?dir=b", enc(&room)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        bob.room_action(&room, "leave", json!({}))
            .await
            .0
            .is_success()
    );
    // Lifted.
    admin
        .ok(
            Method::PUT,
            &suspend(&bob.user_id),
            Some(json!({"suspended": false})),
        )
        .await;
    bob.create_room(json!({})).await;

    // Locked: every request, with a soft logout; then unlocked.
    admin
        .ok(
            Method::PUT,
            &lock(&bob.user_id),
            Some(json!({"locked": true})),
        )
        .await;
    let locked = bob
        .call(Method::GET, "/_matrix/client/v3/account/whoami", None)
        .await;
    refused(&locked, StatusCode::UNAUTHORIZED, "M_USER_LOCKED");
    assert_eq!(locked.1["soft_logout"], true);
    assert_eq!(
        admin.ok(Method::GET, &lock(&bob.user_id), None).await,
        json!({"locked": true})
    );
    admin
        .ok(
            Method::PUT,
            &lock(&bob.user_id),
            Some(json!({"locked": false})),
        )
        .await;
    let (status, _) = bob
        .call(Method::GET, "/_matrix/client/v3/account/whoami", None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Only admins; only this organisation's accounts; only existing ones.
    refused(
        &alice
            .call(
                Method::PUT,
                &suspend(&bob.user_id),
                Some(json!({"suspended": true})),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    refused(
        &admin
            .call(
                Method::PUT,
                &suspend("@carol:org2.localhost"),
                Some(json!({"suspended": true})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    refused(
        &admin
            .call(Method::GET, &lock("@nobody:org1.localhost"), None)
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    refused(
        &admin
            .call(
                Method::PUT,
                &lock(&bob.user_id),
                Some(json!({"locked": "yes"})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    c.shutdown().await;
}
