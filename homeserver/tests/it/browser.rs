//! A real web client in a real browser: the Hydrogen app, bundled from npm and driven by
//! playwright-core in Debian's chromium (`homeserver/browser-tests/`), logs in to org 1,
//! opens a room shared with a user on org 2, sends a message and sees the reply.

use std::path::PathBuf;
use std::process::Command;

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use serde_json::json;

use crate::client::register;

fn browser_tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser-tests")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hydrogen_chats_across_organisations() {
    let dir = browser_tests_dir();
    // Idempotent: installs chromium and the npm packages and bundles the app when needed.
    let setup = Command::new("bash")
        .arg(dir.join("setup.sh"))
        .status()
        .expect("run browser-tests/setup.sh");
    assert!(setup.success(), "browser-tests/setup.sh failed");

    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    alice.bind(&bob).await;
    let room = alice
        .create_room(json!({"name": "Browser room", "invite": [bob.user_id]}))
        .await;
    bob.accept_invite(&room).await;
    alice.send(&room, "welcome, bob").await;

    let evidence = tempfile::tempdir().expect("tempdir");
    let nonce = rand::random::<u32>();
    let config = json!({
        "homeserver": c.org(1).base_url,
        "user": "alice",
        "password": "pw-alice-1",
        "room_id": room,
        "peer": {
            "base_url": c.org(2).base_url,
            "access_token": bob.token,
            "user_id": bob.user_id,
        },
        "message": format!("hello from hydrogen {nonce}"),
        "reply": format!("reply from org2 {nonce}"),
        "screenshot_dir": evidence.path(),
    });
    let config_file = evidence.path().join("config.json");
    std::fs::write(&config_file, config.to_string()).expect("write config");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("hydrogen-chat.mjs"))
            .arg(&config_file)
            .output()
            .expect("run node")
    })
    .await
    .expect("harness task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let log =
            |name: &str| std::fs::read_to_string(evidence.path().join(name)).unwrap_or_default();
        panic!(
            "Hydrogen harness failed ({}):\n{stdout}\n{stderr}\nconsole:\n{}\nrequests:\n{}",
            output.status,
            log("hydrogen-console.log"),
            log("hydrogen-requests.log"),
        );
    }
    assert!(stdout.contains("PASS"), "{stdout}");
    c.shutdown().await;
}
