//! Every room, sync and account endpoint fuzzed from the Matrix specification's own OpenAPI
//! files with schemathesis: whatever it sends (wrong types, missing fields, odd strings,
//! garbage ids), no answer is a server error, a dropped connection or anything but a JSON
//! object (`fuzz-tests/consort_checks.py`), and the two organisations' nodes still agree on
//! every record afterwards.

use std::path::PathBuf;
use std::process::Command;

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use serde_json::json;
use sqlx::Row;

use crate::client::register;

/// The specification files of what this node serves, fuzzed one after another.
/// (`logout` last: it ends the fuzzing user's session.)
const SPEC_FILES: [&str; 35] = [
    "create_room",
    "room_send",
    "room_state",
    "rooms",
    "joining",
    "leaving",
    "kicking",
    "banning",
    "inviting",
    "redaction",
    "message_pagination",
    "event_context",
    "directory",
    "list_public_rooms",
    "list_joined_rooms",
    "users",
    "receipts",
    "read_markers",
    "typing",
    "account-data",
    "tags",
    "pushrules",
    "notifications",
    "presence",
    "sync",
    "filter",
    "login",
    "profile",
    "device_management",
    "capabilities",
    "keys",
    "cross_signing",
    "to_device",
    "key_backup",
    "logout",
];

/// The specification's OpenAPI files, kept with the fuzz test.
fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz-tests/matrix-spec")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_specification_fuzzer_finds_no_server_error() {
    let spec = spec_dir().join("data/api/client-server");
    assert!(spec.is_dir(), "missing {}", spec.display());
    let setup = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz-tests/setup.sh");
    let out = Command::new("bash")
        .arg(&setup)
        .output()
        .expect("run fuzz-tests/setup.sh");
    assert!(
        out.status.success(),
        "setup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let schemathesis = String::from_utf8_lossy(&out.stdout).trim().to_owned();

    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "fuzz").await;
    let bob = register(&c.org(2).base_url, "peer").await;
    alice.bind(&bob).await;
    let room = alice
        .create_room(
            json!({"name": "fuzzed", "room_alias_name": "fuzzed", "invite": [bob.user_id]}),
        )
        .await;
    let event = alice.send(&room, "a message to point at").await;

    // Real ids for the path parameters, so requests reach the handlers' own checks; the
    // long-poll's timeout is zero so that no request outlives the fuzzer's patience.
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("schemathesis.toml");
    let toml = format!(
        "[parameters]\n\"path.roomId\" = {room:?}\n\"path.userId\" = {user:?}\n\
         \"path.eventId\" = {event:?}\n\"query.timeout\" = 0\n",
        user = alice.user_id,
    );
    std::fs::write(&config, toml).expect("config");
    let mut failures = Vec::new();
    for file in SPEC_FILES {
        let out = tokio::task::spawn_blocking({
            let schemathesis = schemathesis.clone();
            let config = config.clone();
            let yaml = spec.join(format!("{file}.yaml"));
            let url = format!("{}/_matrix/client/v3", alice.base);
            let token = format!("Authorization: Bearer {}", alice.token);
            let hooks = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz-tests");
            move || {
                Command::new(schemathesis)
                    .env("PYTHONPATH", hooks)
                    .env("SCHEMATHESIS_HOOKS", "consort_checks")
                    .arg("--config-file")
                    .arg(config)
                    .arg("run")
                    .arg(yaml)
                    .args(["--url", &url, "--header", &token])
                    .args(["--checks", "not_a_server_error,json_answer"])
                    .args(["--max-examples", "10", "--request-timeout", "30"])
                    .args(["--seed", "20261126"])
                    .output()
                    .expect("run schemathesis")
            }
        })
        .await
        .expect("schemathesis task");
        if !out.status.success() {
            failures.push(format!("{file}:\n{}", String::from_utf8_lossy(&out.stdout)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // Garbage in changed nothing the two nodes disagree on.
    let mut all = Vec::new();
    for org in &c.orgs {
        let rows = sqlx::query(
            "SELECT height, idx, accepted, reason FROM bridge_outcomes ORDER BY height, idx",
        )
        .fetch_all(&org.node.state.db.pool)
        .await
        .expect("outcomes");
        let rows: Vec<(i64, i64, i64, Option<String>)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        all.push(rows);
    }
    let common = all.iter().map(Vec::len).min().expect("nodes");
    assert!(common > 0);
    assert_eq!(all[0][..common], all[1][..common], "the nodes disagree");
    c.shutdown().await;
}
