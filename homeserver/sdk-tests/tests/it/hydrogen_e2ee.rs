//! Hydrogen (the web client, with its libolm build) in headless chromium, in an encrypted
//! direct chat with a matrix-sdk user of another organisation: the matrix-sdk user opens the
//! direct chat, Hydrogen accepts the invite in its UI, sends a message that matrix-sdk
//! decrypts, and shows matrix-sdk's encrypted reply decrypted. The browser side is
//! `homeserver/browser-tests/hydrogen-chat.mjs` with an external peer.

use std::path::PathBuf;

use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;

use crate::e2ee::{encrypted_consortium, receive_decrypted};
use crate::support::{account_only, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hydrogen_and_matrix_sdk_decrypt_each_other_in_a_direct_chat() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../browser-tests");
    let setup = tokio::process::Command::new("bash")
        .arg(dir.join("setup.sh"))
        .status()
        .await
        .expect("run browser-tests/setup.sh");
    assert!(setup.success(), "browser-tests/setup.sh failed");

    let c = encrypted_consortium(2).await;
    // Alice's account only: Hydrogen logs in with its password and creates her one device.
    let alice_id = account_only(&c.org(1).base_url, "alice").await;
    let bob = user(&c.org(2).base_url, "bob").await;
    bob.sync_once(SyncSettings::default()).await.expect("sync");
    // What Element does for "start a chat": trusted_private_chat, is_direct, m.direct.
    let room = bob
        .create_dm(&alice_id)
        .await
        .expect("create the direct chat");
    let room_id = room.room_id().to_owned();
    assert!(
        room.latest_encryption_state()
            .await
            .expect("encryption state")
            .is_encrypted(),
        "the direct chat is encrypted from its creation"
    );

    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let message = format!("hello bob, from hydrogen on org1 {nonce}");
    let reply = format!("hello alice, from matrix-sdk on org2 {nonce}");
    let evidence = tempfile::tempdir().expect("tempdir");
    let config = evidence.path().join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "homeserver": c.org(1).base_url,
            "user": "alice",
            "password": "alice-password-1",
            "room_id": room_id,
            "peer": {"external": true},
            "accept_invite": true,
            "expect_encrypted": true,
            "message": message,
            "reply": reply,
            "screenshot_dir": evidence.path(),
        })
        .to_string(),
    )
    .expect("config");
    let browser = tokio::process::Command::new("node")
        .arg(dir.join("hydrogen-chat.mjs"))
        .arg(&config)
        .kill_on_drop(true)
        .output();
    let peer = tokio::spawn(async move {
        receive_decrypted(&bob, &room_id, &message).await;
        room.send(RoomMessageEventContent::text_plain(reply))
            .await
            .expect("bob replies");
    });
    // The browser side ends after the reply is shown, or at its first failure.
    let output = browser.await.expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let log = |name: &str| std::fs::read_to_string(evidence.path().join(name)).unwrap_or_default();
    if !(output.status.success() && stdout.contains("PASS")) {
        peer.abort();
    }
    let peer = peer.await;
    assert!(
        peer.is_ok() && output.status.success() && stdout.contains("PASS"),
        "matrix-sdk side: {peer:?}; Hydrogen side ({}):\n{stdout}\n{}\nconsole:\n{}\nrequests:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        log("hydrogen-console.log"),
        log("hydrogen-requests.log"),
    );
    c.shutdown().await;
}
