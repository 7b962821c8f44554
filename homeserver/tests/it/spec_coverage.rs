//! Which current client-server operations of the specification (its OpenAPI files, kept with
//! the fuzz test) the node does not route: each operation is requested without a token, and
//! an answer of the router's fallback (404 or 405 `M_UNRECOGNIZED`) means unrouted. The list
//! is printed; it must hold only the operations an open issue still owns.

use std::path::PathBuf;

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::Method;
use serde_json::Value;

use crate::spec_bodies::Spec;

/// Operations not routed, and why: the open work that owns them, or a feature Consort does
/// not offer, whose operations Synapse does not route either while it is not configured.
const OWNED_ELSEWHERE: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/_matrix/client/v1/auth_metadata",
        "not offered: OAuth 2.0 delegation (MSC3861 off in Synapse)",
    ),
    (
        "GET",
        "/_matrix/client/v3/login/sso/redirect",
        "not offered: SSO (no SSO configured in Synapse)",
    ),
    (
        "GET",
        "/_matrix/client/v3/login/sso/redirect/{}",
        "not offered: SSO (no SSO configured in Synapse)",
    ),
    (
        "POST",
        "/_matrix/client/v1/login/get_token",
        "not offered: login with an existing session (off by default in Synapse)",
    ),
    (
        "GET",
        "/_matrix/client/v3/events ",
        "not offered: guest peeking of world-readable rooms",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrouted_operations_are_only_those_still_owned_by_an_issue() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz-tests/matrix-spec/data/api/client-server");
    let spec = Spec::load(&dir);
    let c = Consortium::start(1, Db::Sqlite, RegistrationMode::Open).await;
    let base = &c.org(1).base_url;
    let http = reqwest::Client::new();
    let mut current = 0;
    let mut unrouted = Vec::new();
    for (method, path, body) in spec.operations() {
        if body.deprecated {
            continue;
        }
        current += 1;
        let concrete = path.replace("{}", "x");
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let response = http
            .request(method.clone(), format!("{base}{concrete}"))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if matches!(status, 404 | 405) && answer["errcode"] == "M_UNRECOGNIZED" {
            unrouted.push((method.to_string(), path.to_owned()));
        }
    }
    eprintln!(
        "{} of {current} current client-server operations are routed; not routed:",
        current - unrouted.len()
    );
    for (method, path) in &unrouted {
        let owner = OWNED_ELSEWHERE
            .iter()
            .find(|(m, p, _)| m == method && p == path)
            .map_or("NOT OWNED BY ANY ISSUE", |(_, _, o)| o);
        eprintln!("  {method} {path}  ({owner})");
    }
    let unowned: Vec<_> = unrouted
        .iter()
        .filter(|(m, p)| !OWNED_ELSEWHERE.iter().any(|(om, op, _)| om == m && op == p))
        .collect();
    assert!(
        unowned.is_empty(),
        "unrouted and owned by no issue: {unowned:?}"
    );
    assert!(
        current > 100,
        "only {current} operations read from {}",
        dir.display()
    );
    c.shutdown().await;
}
