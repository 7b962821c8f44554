//! What the node has nothing behind yet answers as Synapse does when the feature is not
//! configured: third-party lookups find nothing; third-party identifiers cannot be
//! validated (400 `M_THREEPID_MEDIUM_NOT_SUPPORTED` with Synapse's messages) and none is
//! listed; without configured registration tokens none is valid; no TURN server is offered. Nothing is written by any of these.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::register;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unconfigured_features_answer_like_synapse() {
    let c = Consortium::start(1, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let v3 = "/_matrix/client/v3";
    let empty_list = json!([]);
    let answers: Vec<(Method, String, Option<Value>, StatusCode, Value)> = vec![
        (
            Method::GET,
            format!("{v3}/thirdparty/protocols"),
            None,
            StatusCode::OK,
            json!({}),
        ),
        (
            Method::GET,
            format!("{v3}/thirdparty/location/irc"),
            None,
            StatusCode::OK,
            empty_list.clone(),
        ),
        (
            Method::GET,
            format!("{v3}/thirdparty/location?alias=%23a%3Ab"),
            None,
            StatusCode::OK,
            empty_list.clone(),
        ),
        (
            Method::GET,
            format!("{v3}/thirdparty/user/irc"),
            None,
            StatusCode::OK,
            empty_list.clone(),
        ),
        (
            Method::GET,
            format!("{v3}/thirdparty/user?userid=%40a%3Ab"),
            None,
            StatusCode::OK,
            empty_list,
        ),
        (
            Method::GET,
            format!("{v3}/account/3pid"),
            None,
            StatusCode::OK,
            json!({"threepids": []}),
        ),
        (
            Method::POST,
            format!("{v3}/account/3pid/delete"),
            Some(json!({"medium": "email", "address": "a@example.org"})),
            StatusCode::OK,
            json!({"id_server_unbind_result": "no-support"}),
        ),
        (
            Method::POST,
            format!("{v3}/account/3pid/unbind"),
            Some(json!({"medium": "email", "address": "a@example.org"})),
            StatusCode::OK,
            json!({"id_server_unbind_result": "no-support"}),
        ),
        (
            Method::GET,
            "/_matrix/client/v1/register/m.login.registration_token/validity?token=abc".into(),
            None,
            StatusCode::OK,
            json!({"valid": false}),
        ),
    ];
    for (method, path, body, status, want) in answers {
        let (got, answer) = alice.call(method.clone(), &path, body).await;
        assert_eq!((got, &answer), (status, &want), "{method} {path}");
    }

    let email = json!({"client_secret": "s3cret", "email": "a@example.org", "send_attempt": 1});
    let phone = json!({"client_secret": "s3cret", "country": "GB", "phone_number": "07700900000", "send_attempt": 1});
    let refusals = [
        (
            "/account/3pid/email/requestToken",
            &email,
            "Adding an email to your account is disabled on this server",
        ),
        (
            "/account/3pid/msisdn/requestToken",
            &phone,
            "Adding phone numbers to user account is not supported by this homeserver",
        ),
        (
            "/account/password/email/requestToken",
            &email,
            "Email-based password resets have been disabled on this server",
        ),
        (
            "/account/password/msisdn/requestToken",
            &phone,
            "Password resets by phone number are not supported on this homeserver",
        ),
        (
            "/register/email/requestToken",
            &email,
            "Email-based registration has been disabled on this server",
        ),
        (
            "/register/msisdn/requestToken",
            &phone,
            "Registration by phone number is not supported on this homeserver",
        ),
    ];
    for (path, body, message) in refusals {
        let (status, answer) = alice
            .call(Method::POST, &format!("{v3}{path}"), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        assert_eq!(
            answer["errcode"], "M_THREEPID_MEDIUM_NOT_SUPPORTED",
            "{path}"
        );
        assert_eq!(answer["error"], message, "{path}");
    }
    for (path, errcode) in [
        ("/account/3pid/add", "M_THREEPID_AUTH_FAILED"),
        ("/account/3pid/bind", "M_THREEPID_DENIED"),
    ] {
        let body = json!({"client_secret": "s3cret", "sid": "1", "id_server": "id.example.org", "id_access_token": "t"});
        let (status, answer) = alice
            .call(Method::POST, &format!("{v3}{path}"), Some(body))
            .await;
        assert_eq!(
            (status, answer["errcode"].as_str()),
            (StatusCode::BAD_REQUEST, Some(errcode)),
            "{path}: {answer}"
        );
    }
    let (status, answer) = alice
        .call(Method::GET, &format!("{v3}/thirdparty/protocol/irc"), None)
        .await;
    assert_eq!(
        (status, answer["errcode"].as_str()),
        (StatusCode::NOT_FOUND, Some("M_NOT_FOUND"))
    );
    // Bad input still gets the usual answers.
    let (status, answer) = alice
        .call(
            Method::POST,
            &format!("{v3}/account/3pid/delete"),
            Some(json!({"medium": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    c.shutdown().await;
}
