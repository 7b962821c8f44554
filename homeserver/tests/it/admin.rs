//! The Synapse-shaped admin API and the `consort admin` command.

use reqwest::StatusCode;
use serde_json::json;

use consort_homeserver::services::shared_secret::compute_mac_hex;

use crate::{
    both_backends,
    harness::{Backend, TestServer, assert_error},
};

both_backends!(admin_users_api, shared_secret_registration, whois);

async fn admin_users_api(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let admin = hs.admin_token("root").await;
    for name in ["pat", "quinn", "rose"] {
        hs.register(name, "some-password").await;
    }

    let (status, body) = hs
        .get("/_synapse/admin/v2/users?limit=2", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 4);
    assert_eq!(body["users"].as_array().expect("users").len(), 2);
    assert_eq!(body["next_token"], "2");
    let (_, body) = hs
        .get("/_synapse/admin/v2/users?from=2&limit=2", Some(&admin))
        .await;
    assert_eq!(body["users"].as_array().expect("users").len(), 2);
    assert!(body.get("next_token").is_none(), "{body}");
    assert_error(
        &hs.get("/_synapse/admin/v2/users?limit=lots", Some(&admin))
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );

    let (status, body) = hs
        .get(
            &format!("/_synapse/admin/v2/users/{}", hs.user_id("pat")),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], hs.user_id("pat"));
    assert_eq!(body["admin"], false);
    assert_eq!(body["deactivated"], false);
    assert_eq!(body["approved"], true);
    assert_error(
        &hs.get(
            &format!("/_synapse/admin/v2/users/{}", hs.user_id("nobody")),
            Some(&admin),
        )
        .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    assert_error(
        &hs.get("/_synapse/admin/v2/users/@pat:other.example", Some(&admin))
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );

    // Password reset logs the user out and changes what works.
    let (_, pat_login) = hs.login("pat", "some-password").await;
    let (status, _) = hs
        .put(
            &format!("/_synapse/admin/v2/users/{}", hs.user_id("pat")),
            Some(&admin),
            json!({"password": "reset-password", "displayname": "Pat", "admin": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &hs.get(
            "/_matrix/client/v3/account/whoami",
            pat_login["access_token"].as_str(),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );
    assert_error(
        &hs.login("pat", "some-password").await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let (status, pat) = hs.login("pat", "reset-password").await;
    assert_eq!(status, StatusCode::OK);
    // Pat is now an admin.
    let (status, body) = hs
        .get(
            &format!("/_synapse/admin/v2/users/{}", hs.user_id("pat")),
            pat["access_token"].as_str(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["displayname"], "Pat");
    assert_eq!(body["admin"], true);

    // Deactivation.
    let (status, body) = hs
        .put(
            &format!("/_synapse/admin/v2/users/{}", hs.user_id("quinn")),
            Some(&admin),
            json!({"deactivated": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["deactivated"], true);
    assert_error(
        &hs.login("quinn", "some-password").await,
        StatusCode::FORBIDDEN,
        "M_USER_DEACTIVATED",
    );
    let (_, body) = hs.get("/_synapse/admin/v2/users", Some(&admin)).await;
    assert_eq!(body["total"], 3, "deactivated hidden by default");
    let (_, body) = hs
        .get("/_synapse/admin/v2/users?deactivated=true", Some(&admin))
        .await;
    assert_eq!(body["total"], 4);

    // Tokens: none, unknown.
    assert_error(
        &hs.get("/_synapse/admin/v2/users", None).await,
        StatusCode::UNAUTHORIZED,
        "M_MISSING_TOKEN",
    );
    assert_error(
        &hs.get("/_synapse/admin/v2/users", Some("not-a-token"))
            .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );

    let (status, body) = hs.get("/_synapse/admin/v1/server_version", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["server_version"]
            .as_str()
            .expect("version")
            .starts_with("consort ")
    );
    hs.stop().await;
}

/// `GET /admin/whois/{userId}`: admins see any local user's devices, a user sees their own,
/// anyone else is refused; other organisations' users are not whois-ed here.
async fn whois(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let admin = hs.admin_token("root").await;
    let (user_id, token, device_id) = hs.register("jane", "jane-password").await;
    let (_, other, _) = hs.register("kim", "kim-password").await;
    let path = format!("/_matrix/client/v3/admin/whois/{user_id}");
    // One authenticated request records the device's address and time.
    let (status, _) = hs
        .get("/_matrix/client/v3/account/whoami", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    for who in [&admin, &token] {
        let (status, body) = hs.get(&path, Some(who)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user_id"], json!(user_id));
        let sessions = &body["devices"][&device_id]["sessions"];
        assert!(sessions.is_array(), "{body}");
        let connection = &sessions[0]["connections"][0];
        assert_eq!(connection["ip"], "127.0.0.1", "{body}");
        assert!(connection["last_seen"].as_u64().unwrap_or(0) > 0, "{body}");
    }
    assert_error(
        &hs.get(&path, Some(&other)).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &hs.get(
            "/_matrix/client/v3/admin/whois/@x:elsewhere.example",
            Some(&admin),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    hs.stop().await;
}

async fn shared_secret_registration(backend: Backend) {
    let hs = TestServer::start(backend, |c| {
        c.registration_shared_secret = Some("s3cret".into())
    })
    .await;
    let nonce = |hs: &TestServer| {
        let hs_base = hs.base.clone();
        let http = hs.http.clone();
        async move {
            let body: serde_json::Value = http
                .get(format!("{hs_base}/_synapse/admin/v1/register"))
                .send()
                .await
                .expect("nonce")
                .json()
                .await
                .expect("json");
            body["nonce"].as_str().expect("nonce").to_owned()
        }
    };

    // A wrong MAC creates nothing.
    let n = nonce(&hs).await;
    let bad = json!({"nonce": n, "username": "sam", "password": "sam-password", "admin": true,
                     "mac": compute_mac_hex("wrong", &n, "sam", "sam-password", true)});
    assert_error(
        &hs.post("/_synapse/admin/v1/register", None, bad).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_eq!(hs.count("hs_users").await, 0);

    let n = nonce(&hs).await;
    let good = json!({"nonce": n, "username": "sam", "password": "sam-password", "admin": true,
                      "mac": compute_mac_hex("s3cret", &n, "sam", "sam-password", true)});
    let (status, body) = hs
        .post("/_synapse/admin/v1/register", None, good.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], hs.user_id("sam"));
    let token = body["access_token"].as_str().expect("token");
    // The new account is an admin and usable at once.
    let (status, body) = hs.get("/_synapse/admin/v2/users", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Nonces are single-use.
    assert_error(
        &hs.post("/_synapse/admin/v1/register", None, good).await,
        StatusCode::BAD_REQUEST,
        "M_UNKNOWN",
    );

    // A taken or invalid name.
    for (name, errcode) in [("sam", "M_USER_IN_USE"), ("Sam!", "M_INVALID_USERNAME")] {
        let n = nonce(&hs).await;
        let body = json!({"nonce": n, "username": name, "password": "pw-123456", "admin": false,
                          "mac": compute_mac_hex("s3cret", &n, name, "pw-123456", false)});
        assert_error(
            &hs.post("/_synapse/admin/v1/register", None, body).await,
            StatusCode::BAD_REQUEST,
            errcode,
        );
    }
    assert_eq!(hs.count("hs_users").await, 1);
    hs.stop().await;

    // Without a configured secret the endpoint is off.
    let off = TestServer::start(backend, |_| {}).await;
    assert_error(
        &off.get("/_synapse/admin/v1/register", None).await,
        StatusCode::BAD_REQUEST,
        "M_UNKNOWN",
    );
    off.stop().await;
}

/// `consort admin create-user / list-users --pending / approve` on a node's SQLite database.
#[tokio::test]
async fn admin_cli_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "server_name = \"org9.localhost\"\ndata_dir = \"{}\"\nregistration = \"approval\"\n",
            dir.path().display()
        ),
    )
    .expect("config written");
    let consort = env!("CARGO_BIN_EXE_consort");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(consort)
            .args(args)
            .output()
            .expect("consort runs");
        assert!(
            out.status.success(),
            "consort {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let cfg = config.to_str().expect("utf-8 path");
    let out = run(&[
        "admin",
        "create-user",
        "--config",
        cfg,
        "boss",
        "--password",
        "boss-password",
        "--admin",
    ]);
    assert!(out.contains("@boss:org9.localhost (admin)"), "{out}");

    // A pending registration, made through the real server over the same database.
    let mut node = consort_homeserver::Config::load(Some(&config)).expect("config loads");
    node.rate_limits.register.burst = 10;
    let (app, state) = consort_homeserver::build_local_app(node)
        .await
        .expect("app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(consort_homeserver::serve(listener, app, async {
        let _ = rx.await;
    }));
    let response = reqwest::Client::new()
        .post(format!("{base}/_matrix/client/v3/register"))
        .json(&json!({"username": "newbie", "password": "newbie-pw", "auth": {"type": "m.login.dummy"}}))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let out = run(&["admin", "list-users", "--config", cfg, "--pending"]);
    assert_eq!(out.trim(), "@newbie:org9.localhost\tpending");
    let out = run(&["admin", "approve", "--config", cfg, "newbie"]);
    assert!(out.contains("approved @newbie:org9.localhost"), "{out}");
    assert_eq!(
        run(&["admin", "list-users", "--config", cfg, "--pending"]).trim(),
        ""
    );
    let all = run(&["admin", "list-users", "--config", cfg]);
    assert!(
        all.contains("@boss:org9.localhost\tapproved\tadmin"),
        "{all}"
    );
    assert!(all.contains("@newbie:org9.localhost\tapproved"), "{all}");

    let response = reqwest::Client::new()
        .post(format!("{base}/_matrix/client/v3/login"))
        .json(&json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "newbie"}, "password": "newbie-pw"}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::OK);
    let _ = tx.send(());
    let _ = server.await;
    state.db.pool.close().await;
}
