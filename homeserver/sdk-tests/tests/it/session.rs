//! A whole session of a standard client on org2 of a 4-org consortium: register (UIAA dummy,
//! no login), log in with a device name, `whoami`, the device list and a rename, the display
//! name — also as org4's user sees it through the ledger — and log out, after which the old
//! access token is refused.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use matrix_sdk::ruma::api::client::profile::DisplayName;

use crate::support::{client, raw_get, register};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sdk_login_devices_profile_logout() {
    let c = Consortium::start(4, Db::Sqlite, RegistrationMode::Open).await;
    let (org2, org4) = (c.org(2), c.org(4));
    let alice = format!("@alice:{}", org2.server_name);

    // Registration through the client's own API, without opening a session.
    let registrar = client(&org2.base_url).await;
    let registered = register(&registrar, "alice", "alice-password-1", true)
        .await
        .expect("alice registers");
    assert_eq!(registered.user_id.as_str(), alice);
    assert_eq!(
        registered.access_token, None,
        "inhibit_login opens no session"
    );
    assert_eq!(registered.device_id, None);

    // Log in as a fresh client, naming the device.
    let alice_client = client(&org2.base_url).await;
    let login = alice_client
        .matrix_auth()
        .login_username("alice", "alice-password-1")
        .initial_device_display_name("Alice's laptop")
        .await
        .expect("alice logs in");
    assert_eq!(login.user_id.as_str(), alice);
    assert_eq!(alice_client.user_id().map(|u| u.as_str()), Some(&*alice));
    let device_id = login.device_id.clone();
    let old_token = login.access_token.clone();

    let whoami = alice_client.whoami().await.expect("whoami");
    assert_eq!(whoami.user_id.as_str(), alice);
    assert_eq!(whoami.device_id.as_ref(), Some(&device_id));
    assert!(!whoami.is_guest);

    // Exactly the logged-in device, with the name given at login; then renamed.
    let devices = alice_client.devices().await.expect("devices").devices;
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0].device_id, device_id);
    assert_eq!(devices[0].display_name.as_deref(), Some("Alice's laptop"));
    alice_client
        .rename_device(&device_id, "Alice's phone")
        .await
        .expect("rename device");
    let devices = alice_client.devices().await.expect("devices").devices;
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0].device_id, device_id);
    assert_eq!(devices[0].display_name.as_deref(), Some("Alice's phone"));

    // Display name: the default is the localpart; set it, read it back.
    let account = alice_client.account();
    assert_eq!(
        account.get_display_name().await.expect("display name"),
        Some("alice".to_owned())
    );
    account
        .set_display_name(Some("Alice of Org 2"))
        .await
        .expect("set display name");
    assert_eq!(
        account.get_display_name().await.expect("display name"),
        Some("Alice of Org 2".to_owned())
    );

    // A user of org4 sees the new name: org4 knows alice only through the ledger.
    let bob_client = client(&org4.base_url).await;
    let bob = register(&bob_client, "bob", "bob-password-1", false)
        .await
        .expect("bob registers");
    assert!(bob.access_token.is_some(), "registration logged bob in");
    assert_eq!(
        bob_client.user_id().map(|u| u.as_str()),
        Some(&*format!("@bob:{}", org4.server_name))
    );
    let profile = bob_client
        .account()
        .fetch_user_profile_of(&registered.user_id)
        .await
        .expect("alice's profile from org4");
    assert_eq!(
        profile
            .get_static::<DisplayName>()
            .expect("valid displayname"),
        Some("Alice of Org 2".to_owned())
    );

    // Log out: the old access token is dead.
    alice_client
        .matrix_auth()
        .logout()
        .await
        .expect("alice logs out");
    let (status, body) = raw_get(
        &format!("{}/_matrix/client/v3/account/whoami", org2.base_url),
        &old_token,
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["errcode"].as_str()),
        (401, Some("M_UNKNOWN_TOKEN")),
        "{body}"
    );

    c.shutdown().await;
}
