//! What the tests share: building a `matrix-sdk` client for a node, registering through the
//! client's own `/register` with the `m.login.dummy` UIAA stage, reading errcodes, raw HTTP.

use matrix_sdk::{
    Client,
    ruma::api::client::{
        account::register,
        uiaa::{AuthData, AuthType, Dummy},
    },
};

/// A `matrix-sdk` client for the node at `base_url` (`http://127.0.0.1:PORT`): the homeserver URL
/// is given directly, without `.well-known` server discovery; state is kept in memory.
pub async fn client(base_url: &str) -> Client {
    Client::builder()
        .homeserver_url(base_url)
        .build()
        .await
        .expect("matrix-sdk client builds")
}

/// Registers `localpart` the way a client does: a first `/register` without `auth` must answer
/// a UIAA challenge offering `m.login.dummy`; the second completes that stage in the session.
/// Returns the server's final answer to the second request.
pub async fn register(
    client: &Client,
    localpart: &str,
    password: &str,
    inhibit_login: bool,
) -> matrix_sdk::Result<register::v3::Response> {
    let request = || {
        let mut request = register::v3::Request::new();
        request.username = Some(localpart.to_owned());
        request.password = Some(password.to_owned());
        request.inhibit_login = inhibit_login;
        request
    };
    let challenge = client
        .matrix_auth()
        .register(request())
        .await
        .expect_err("registration without auth must be challenged");
    let info = challenge
        .as_uiaa_response()
        .unwrap_or_else(|| panic!("expected a UIAA challenge, got {challenge:?}"));
    assert!(
        info.flows.iter().any(|f| f.stages == [AuthType::Dummy]),
        "m.login.dummy offered: {:?}",
        info.flows
    );
    let session = info.session.clone().expect("the challenge has a session");

    let mut dummy = Dummy::new();
    dummy.session = Some(session);
    let mut request = request();
    request.auth = Some(AuthData::Dummy(dummy));
    client.matrix_auth().register(request).await
}

/// The HTTP status and `errcode` string of a client-API error answer, whatever `matrix-sdk` made
/// of it (codes ruma does not know, like MSC3866's, arrive as custom error kinds).
pub fn errcode(error: &matrix_sdk::Error) -> Option<(u16, String)> {
    let api = error.as_client_api_error()?;
    let kind = api.error_kind()?;
    Some((api.status_code.as_u16(), kind.errcode().as_str().to_owned()))
}

/// Raw `GET` with a bearer token: status and JSON body.
pub async fn raw_get(url: &str, token: &str) -> (reqwest::StatusCode, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

/// A client of `localpart` on the node at `base_url`, registered and (by the registration
/// itself) logged in.
pub async fn user(base_url: &str, localpart: &str) -> Client {
    let c = client(base_url).await;
    register(&c, localpart, &format!("{localpart}-password-1"), false)
        .await
        .expect("register");
    assert!(c.user_id().is_some(), "registration opened a session");
    c
}

/// Makes `a` and `b` contacts through Consort's contacts API (a request from `a`, accepted by
/// `b`), then waits until `a`'s own node has applied the acceptance: under the default
/// `cross_org` policy only contacts invite users of another organisation into a group room.
pub async fn bind(a: &Client, b: &Client) {
    let http = reqwest::Client::new();
    let (a_id, b_id) = (a.user_id().expect("a"), b.user_id().expect("b"));
    let call =
        |c: &Client, method: reqwest::Method, path: &[&str], body: Option<serde_json::Value>| {
            let mut url = reqwest::Url::parse(c.homeserver().as_str()).expect("homeserver url");
            url.path_segments_mut()
                .expect("base url")
                .pop_if_empty()
                .extend(["_matrix", "client", "unstable", "org.consort.contacts"])
                .extend(path);
            let request = http
                .request(method, url)
                .bearer_auth(c.access_token().expect("logged in"));
            let request = match body {
                Some(body) => request.json(&body),
                None => request,
            };
            async move {
                let response = request.send().await.expect("contacts request");
                let status = response.status();
                (
                    status,
                    response
                        .json::<serde_json::Value>()
                        .await
                        .unwrap_or_default(),
                )
            }
        };
    let body = serde_json::json!({"user_id": b_id});
    let (status, answer) = call(a, reqwest::Method::POST, &["requests"], Some(body)).await;
    assert!(status.is_success(), "contact request: {answer}");
    let accept = ["requests", a_id.as_str(), "accept"];
    for _ in 0..100 {
        if call(b, reqwest::Method::POST, &accept, None)
            .await
            .0
            .is_success()
        {
            break;
        }
        // The request is not on b's node yet.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for _ in 0..100 {
        let (_, list) = call(a, reqwest::Method::GET, &["contacts"], None).await;
        if list["contacts"]
            .as_array()
            .is_some_and(|l| l.iter().any(|c| c["user_id"] == b_id.as_str()))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{a_id} and {b_id} never became contacts");
}

/// Registers `localpart` (password `{localpart}-password-1`) without logging in, for a client
/// that is not matrix-sdk (matrix-js-sdk, Hydrogen) to log in itself and own the only device.
pub async fn account_only(base_url: &str, localpart: &str) -> matrix_sdk::ruma::OwnedUserId {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{base_url}/_matrix/client/v3/register"))
        .json(&serde_json::json!({
            "username": localpart,
            "password": format!("{localpart}-password-1"),
            "auth": {"type": "m.login.dummy"},
            "inhibit_login": true,
        }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("register answer");
    matrix_sdk::ruma::UserId::parse(answer["user_id"].as_str().expect("user id")).expect("id")
}
