//! Reports of events, rooms and users across organisations: a report goes to the reporter's
//! own organisation, whose admins list, read and delete event reports through Synapse's admin
//! API; an event the reporter cannot see, an unknown room or user get 404 as in Synapse.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::client::{admin, enc, register};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reports_go_to_the_reporters_organisation() {
    reports_across_organisations(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reports_go_to_the_reporters_organisation_postgres() {
    reports_across_organisations(Db::Postgres).await;
}

async fn reports_across_organisations(db: Db) {
    let c = Consortium::start(2, db, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let carol = register(&c.org(1).base_url, "carol").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    alice.bind(&bob).await;
    let room = alice.create_room(json!({"invite": [bob.user_id]})).await;
    bob.accept_invite(&room).await;
    let event = bob.send(&room, "something to report").await;
    // Alice's node has the event once it applied bob's block.
    alice
        .sync_until(None, 10, |v| v.to_string().contains(&event))
        .await;

    let v3 = "/_matrix/client/v3";
    let report = format!("{v3}/rooms/{}/report/{}", enc(&room), enc(&event));
    let (status, answer) = alice
        .call(Method::POST, &report, Some(json!({"reason": "spam"})))
        .await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
    for (who, path) in [
        (&carol, report.clone()),
        (
            &alice,
            format!("{v3}/rooms/{}/report/{}", enc(&room), enc("$nope")),
        ),
    ] {
        let (status, answer) = who.call(Method::POST, &path, Some(json!({}))).await;
        assert_eq!(
            (status, answer["errcode"].as_str()),
            (StatusCode::NOT_FOUND, Some("M_NOT_FOUND")),
            "{path}: {answer}"
        );
    }
    let (status, answer) = alice
        .call(
            Method::POST,
            &report,
            Some(json!({"reason": "x".repeat(10_001)})),
        )
        .await;
    assert_eq!(
        (status, answer["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_INVALID_PARAM"))
    );

    let room_report = format!("{v3}/rooms/{}/report", enc(&room));
    let (status, answer) = bob
        .call(
            Method::POST,
            &room_report,
            Some(json!({"reason": "bad room"})),
        )
        .await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
    let (status, answer) = bob
        .call(
            Method::POST,
            &format!("{v3}/rooms/{}/report", enc("!nope:org1.localhost")),
            Some(json!({"reason": "?"})),
        )
        .await;
    assert_eq!(
        (status, answer["errcode"].as_str()),
        (StatusCode::NOT_FOUND, Some("M_NOT_FOUND")),
        "{answer}"
    );
    // Matrix 1.13 had the reason optional; a missing one is an empty reason.
    let (status, answer) = bob.call(Method::POST, &room_report, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = bob
        .call(Method::POST, &room_report, Some(json!({"reason": 7})))
        .await;
    assert_eq!(
        (status, answer["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_BAD_JSON")),
        "{answer}"
    );
    let (status, answer) = alice
        .call(
            Method::POST,
            &format!("{v3}/users/{}/report", enc(&bob.user_id)),
            Some(json!({"reason": "rude"})),
        )
        .await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
    let (status, answer) = alice
        .call(
            Method::POST,
            &format!("{v3}/users/{}/report", enc("@nobody:org2.localhost")),
            Some(json!({"reason": "?"})),
        )
        .await;
    assert_eq!(
        (status, answer["errcode"].as_str()),
        (StatusCode::NOT_FOUND, Some("M_NOT_FOUND")),
        "{answer}"
    );

    // Org1's admins see alice's event report; org2's see none of it.
    let (status, list) = admin(&c, 1, Method::GET, "/_synapse/admin/v1/event_reports").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1, "{list}");
    let entry = &list["event_reports"][0];
    assert_eq!(entry["event_id"], json!(event));
    assert_eq!(entry["room_id"], json!(room));
    assert_eq!(entry["user_id"], json!(alice.user_id));
    assert_eq!(entry["sender"], json!(bob.user_id));
    assert_eq!(entry["reason"], "spam");
    assert!(list.get("next_token").is_none(), "{list}");
    let (_, filtered) = admin(
        &c,
        1,
        Method::GET,
        &format!(
            "/_synapse/admin/v1/event_reports?user_id={}",
            enc(&carol.user_id)
        ),
    )
    .await;
    assert_eq!(filtered["total"], 0, "{filtered}");
    let (_, other) = admin(&c, 2, Method::GET, "/_synapse/admin/v1/event_reports").await;
    assert_eq!(other["total"], 0, "{other}");
    let id = entry["id"].as_i64().expect("id");
    let (status, one) = admin(
        &c,
        1,
        Method::GET,
        &format!("/_synapse/admin/v1/event_reports/{id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(
        one["event_json"]["content"]["body"], "something to report",
        "{one}"
    );
    let (status, answer) = admin(&c, 1, Method::GET, "/_synapse/admin/v1/event_reports/abc").await;
    assert_eq!(
        (status, answer["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_INVALID_PARAM"))
    );
    let (status, answer) =
        admin(&c, 1, Method::GET, "/_synapse/admin/v1/event_reports?dir=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = alice
        .call(Method::GET, "/_synapse/admin/v1/event_reports", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, _) = admin(
        &c,
        1,
        Method::DELETE,
        &format!("/_synapse/admin/v1/event_reports/{id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin(
        &c,
        1,
        Method::GET,
        &format!("/_synapse/admin/v1/event_reports/{id}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin(
        &c,
        1,
        Method::DELETE,
        &format!("/_synapse/admin/v1/event_reports/{id}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    c.shutdown().await;
}
