//! Every Matrix endpoint of the router, walked from the router's own list (so a new endpoint is
//! covered without touching this file): bodies of `{}` and bodies missing each required field
//! in turn (from the specification's OpenAPI files) get a JSON answer below 500, and where the
//! body is all-optional, no body, an empty body and `{}` are the same request, as in Synapse.

use std::path::PathBuf;

use consort_homeserver::api::router::{RoutedEndpoint, matrix_endpoints};
use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{User, enc, register};
use crate::spec_bodies::{Spec, path_shape};

/// What a request's path parameters are filled with: real ids, so requests reach the handlers.
struct Context {
    user: User,
    device_id: String,
    room: String,
    event: String,
    server_name: String,
}

impl Context {
    async fn new(c: &Consortium, n: usize) -> Self {
        let org = c.org(1);
        let user = register(&org.base_url, &format!("walker{n}")).await;
        let whoami = user
            .ok(Method::GET, "/_matrix/client/v3/account/whoami", None)
            .await;
        let room = user
            .create_room(json!({"name": "walked", "preset": "public_chat"}))
            .await;
        let event = user.send(&room, "to point at").await;
        Self {
            device_id: whoami["device_id"].as_str().expect("device").to_owned(),
            user,
            room,
            event,
            server_name: org.server_name.clone(),
        }
    }

    /// The endpoint's path with every parameter filled in.
    fn path(&self, endpoint: &RoutedEndpoint, n: usize) -> String {
        endpoint
            .path
            .split('/')
            .map(|segment| {
                let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                    return segment.to_owned();
                };
                // ruma names some parameters in snake case (`{device_id}`).
                let value = match name.replace('_', "").to_ascii_lowercase().as_str() {
                    "roomid" | "roomidoralias" => self.room.clone(),
                    "userid" => self.user.user_id.clone(),
                    "eventid" => self.event.clone(),
                    "deviceid" => self.device_id.clone(),
                    "roomalias" => format!("#walked{n}:{}", self.server_name),
                    "eventtype" => "m.room.topic".to_owned(),
                    "reltype" => "m.thread".to_owned(),
                    "statekey" => String::new(),
                    "txnid" => format!("walk-{n}-{}", rand::random::<u32>()),
                    "filterid" => "0".to_owned(),
                    "type" => "org.consort.walked".to_owned(),
                    "tag" => "u.walked".to_owned(),
                    "scope" => "global".to_owned(),
                    "kind" => "override".to_owned(),
                    "ruleid" => "org.consort.walked".to_owned(),
                    "keyname" | "field" => "displayname".to_owned(),
                    "receipttype" => "m.read".to_owned(),
                    "version" => "1".to_owned(),
                    "sessionid" => "walked-session".to_owned(),
                    "protocol" => "irc".to_owned(),
                    "servername" => self.server_name.clone(),
                    "mediaid" => format!("walked{n}"),
                    "filename" => "walked.txt".to_owned(),
                    other => panic!("no value for path parameter {other} of {}", endpoint.path),
                };
                enc(&value)
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// How a request carries its body.
#[derive(Debug, Clone, Copy)]
enum Body<'a> {
    Absent,
    Empty,
    Json(&'a Value),
}

/// Sends one request; the answer must come (no dropped connection) and be JSON (an object,
/// or the array some endpoints answer with).
async fn send(user: &User, method: &Method, path: &str, body: Body<'_>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method.clone(), format!("{}{path}", user.base))
        .bearer_auth(&user.token);
    request = match body {
        Body::Absent => request,
        Body::Empty => request.header("content-type", "application/json").body(""),
        Body::Json(value) => request.json(value),
    };
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path} {body:?}: no answer: {e}"));
    let status = response.status();
    let text = response.text().await.expect("answer body");
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{method} {path} {body:?}: not JSON ({status}): {text:?}"));
    assert!(
        value.is_object() || value.is_array(),
        "{method} {path} {body:?}: neither an object nor an array: {text}"
    );
    (status, value)
}

fn spec() -> Spec {
    Spec::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz-tests/matrix-spec/data/api/client-server"),
    )
}

/// Status, error code and top-level keys: what must agree between the body variants (ids,
/// tokens and UIA sessions differ from call to call).
fn shape(answer: &(StatusCode, Value)) -> (StatusCode, Option<String>, Vec<String>) {
    let (status, value) = answer;
    let errcode = value["errcode"].as_str().map(str::to_owned);
    let keys = value.as_object().into_iter().flatten();
    (*status, errcode, keys.map(|(k, _)| k.clone()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_answers_bad_bodies_with_json_below_500() {
    let spec = spec();
    let c = Consortium::start(1, Db::Sqlite, RegistrationMode::Open).await;
    let endpoints = matrix_endpoints();
    assert!(endpoints.len() > 60, "the router lists its endpoints");
    let mut cx = Context::new(&c, 0).await;
    let mut checked = 0;
    for (n, endpoint) in endpoints.iter().enumerate() {
        let body = spec
            .body(endpoint.method.as_str(), endpoint.path)
            .cloned()
            .unwrap_or_default();
        let mut bodies = vec![json!({})];
        for missing in body.required.keys() {
            let mut partial = body.required.clone();
            partial.remove(missing);
            bodies.push(json!(partial));
        }
        for candidate in &bodies {
            let path = cx.path(endpoint, n);
            let (status, value) =
                send(&cx.user, &endpoint.method, &path, Body::Json(candidate)).await;
            assert!(
                status.as_u16() < 500,
                "{} {path} with {candidate}: {status} {value}",
                endpoint.method
            );
            checked += 1;
            // A logout or a password change ends the session: carry on with a new user.
            let (whoami, _) = send(
                &cx.user,
                &Method::GET,
                "/_matrix/client/v3/account/whoami",
                Body::Absent,
            )
            .await;
            if whoami != StatusCode::OK {
                cx = Context::new(&c, n + 1000).await;
            }
        }
    }
    assert!(checked > endpoints.len(), "required fields were walked too");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_body_an_empty_body_and_an_empty_object_are_the_same_request() {
    let spec = spec();
    let c = Consortium::start(1, Db::Sqlite, RegistrationMode::Open).await;
    let mut compared = Vec::new();
    let mut shared = Context::new(&c, 0).await;
    let mut fresh = 1;
    for (n, endpoint) in matrix_endpoints().iter().enumerate() {
        let Some(body) = spec.body(endpoint.method.as_str(), endpoint.path) else {
            // Unstable endpoints (sliding sync) are not in the specification yet.
            assert!(
                endpoint.path.contains("/unstable/"),
                "{} {} is not in the specification",
                endpoint.method,
                endpoint.path
            );
            continue;
        };
        if !body.all_optional() {
            continue;
        }
        let mut shapes = Vec::new();
        for variant in [Body::Absent, Body::Empty, Body::Json(&json!({}))] {
            // A request that changes something gets a context of its own, so that each
            // variant meets the same state.
            let cx = if endpoint.method == Method::GET {
                &shared
            } else {
                shared = Context::new(&c, fresh).await;
                fresh += 1;
                &shared
            };
            let path = cx.path(endpoint, n);
            let answer = send(&cx.user, &endpoint.method, &path, variant).await;
            assert!(
                answer.0.as_u16() < 500,
                "{} {path} {variant:?}: {answer:?}",
                endpoint.method
            );
            shapes.push(shape(&answer));
        }
        assert!(
            shapes.iter().all(|s| *s == shapes[0]),
            "{} {}: the body variants differ: {shapes:?}",
            endpoint.method,
            endpoint.path
        );
        compared.push(format!("{} {}", endpoint.method, path_shape(endpoint.path)));
    }
    // The endpoints the Python clients call without a body are among them.
    for must in [
        "POST /_matrix/client/v3/join/{roomIdOrAlias}",
        "POST /_matrix/client/v3/rooms/{roomId}/join",
        "POST /_matrix/client/v3/rooms/{roomId}/leave",
        "POST /_matrix/client/v3/logout",
    ] {
        let must = path_shape(must);
        assert!(compared.contains(&must), "{must} not compared");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_with_an_empty_object_is_refused_not_dropped() {
    let c = Consortium::start(1, Db::Sqlite, RegistrationMode::Open).await;
    let user = register(&c.org(1).base_url, "login").await;
    for body in [
        json!({}),
        json!({"identifier": {"type": "m.id.user", "user": "login"}}),
    ] {
        let (status, value) = send(
            &user,
            &Method::POST,
            "/_matrix/client/v3/login",
            Body::Json(&body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {value}");
        assert_eq!(value["errcode"], "M_MISSING_PARAM", "{value}");
    }
    let (status, value) = send(
        &user,
        &Method::POST,
        "/_matrix/client/v3/login",
        Body::Absent,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    // A body that is there but not JSON is still M_NOT_JSON.
    let (status, value) = user
        .call_raw(
            Method::POST,
            "/_matrix/client/v3/join/%21abc%3Aorg1.localhost",
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(
        (status, value["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_NOT_JSON"))
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_query_token_works_and_two_different_tokens_are_refused() {
    let c = Consortium::start(1, Db::Sqlite, RegistrationMode::Open).await;
    let user = register(&c.org(1).base_url, "tokens").await;
    let other = register(&c.org(1).base_url, "tokens2").await;
    let http = reqwest::Client::new();
    let whoami = format!("{}/_matrix/client/v3/account/whoami", user.base);
    let by_query = http
        .get(format!("{whoami}?access_token={}", user.token))
        .send()
        .await
        .expect("answer");
    assert_eq!(by_query.status(), StatusCode::OK);
    let body: Value = by_query.json().await.expect("json");
    assert_eq!(body["user_id"], user.user_id.as_str());
    let same = http
        .get(format!("{whoami}?access_token={}", user.token))
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("answer");
    assert_eq!(same.status(), StatusCode::OK);
    let mixed = http
        .get(format!("{whoami}?access_token={}", other.token))
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("answer");
    assert_eq!(mixed.status(), StatusCode::BAD_REQUEST);
    let body: Value = mixed.json().await.expect("json");
    assert_eq!(body["errcode"], "M_INVALID_PARAM", "{body}");
    // Unknown extra fields in a body are ignored.
    let room = user
        .create_room(json!({"name": "extra", "org.example.unknown": {"x": 1}}))
        .await;
    let (status, value) = user
        .call(
            Method::PUT,
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.message/extra1",
                enc(&room)
            ),
            Some(json!({"msgtype": "m.text", "body": "hi", "org.example.extra": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    c.shutdown().await;
}
