//! A real Python client library: matrix-nio (`homeserver/nio-tests/`), as bots and scripts use
//! it, logs in on two organisations, creates a room, invites, joins, chats both ways through
//! `/sync`, sets and reads a display name across organisations and leaves. nio sends requests
//! other clients do not (`POST /join/{roomIdOrAlias}` with no body at all), and validates
//! every answer against its own schemas, so this catches what the Rust and web clients miss.

use std::path::PathBuf;
use std::process::Command;

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use serde_json::json;

use crate::client::register;

fn nio_tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("nio-tests")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn matrix_nio_chats_across_organisations() {
    let dir = nio_tests_dir();
    // Idempotent: creates the virtual environment with the pinned matrix-nio when needed.
    let setup = Command::new("bash")
        .arg(dir.join("setup.sh"))
        .output()
        .expect("run nio-tests/setup.sh");
    assert!(
        setup.status.success(),
        "nio-tests/setup.sh failed: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let python = String::from_utf8_lossy(&setup.stdout).trim().to_owned();

    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    // The organisations' default policy: only contacts invite users of another organisation.
    alice.bind(&bob).await;

    let work = tempfile::tempdir().expect("tempdir");
    let config = json!({
        "org1": {"homeserver": c.org(1).base_url, "user": "alice", "password": "pw-alice-1"},
        "org2": {"homeserver": c.org(2).base_url, "user": "bob", "password": "pw-bob-1"},
    });
    let config_file = work.path().join("config.json");
    std::fs::write(&config_file, config.to_string()).expect("write config");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(dir.join("nio_chat.py"))
            .arg(&config_file)
            .output()
            .expect("run nio_chat.py")
    })
    .await
    .expect("harness task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "matrix-nio harness failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("PASS"), "{stdout}\n{stderr}");
    // The steps and any event nio could not parse, shown with --nocapture.
    eprintln!("{stderr}");
    c.shutdown().await;
}
