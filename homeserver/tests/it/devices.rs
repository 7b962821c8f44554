//! Devices: list, get, rename, delete one and many behind `m.login.password` UIAA.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    both_backends,
    harness::{Backend, TestServer, assert_error},
};

both_backends!(devices_lifecycle);

async fn devices_lifecycle(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let (user_id, token, device) = hs.register("ivy", "ivy-password").await;
    let (_, second) = hs.login("ivy", "ivy-password").await;
    let (_, third) = hs.login("ivy", "ivy-password").await;
    let second_device = second["device_id"].as_str().expect("device").to_owned();
    let third_device = third["device_id"].as_str().expect("device").to_owned();

    let (status, body) = hs.get("/_matrix/client/v3/devices", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    let mut ids: Vec<String> = body["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| d["device_id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    let mut expected = vec![device.clone(), second_device.clone(), third_device.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    let (status, _) = hs
        .put(
            &format!("/_matrix/client/v3/devices/{device}"),
            Some(&token),
            json!({"display_name": "Laptop"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = hs
        .get(
            &format!("/_matrix/client/v3/devices/{device}"),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["display_name"], "Laptop");
    assert_eq!(body["device_id"], device);

    assert_error(
        &hs.get("/_matrix/client/v3/devices/NOSUCHDEVICE", Some(&token))
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    assert_error(
        &hs.put(
            "/_matrix/client/v3/devices/NOSUCHDEVICE",
            Some(&token),
            json!({"display_name": "x"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );

    // Delete one device: challenge, then password.
    let path = format!("/_matrix/client/v3/devices/{second_device}");
    let (status, body) = hs
        .call(Method::DELETE, &path, Some(&token), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["flows"], json!([{"stages": ["m.login.password"]}]));
    let auth = json!({"auth": {"type": "m.login.password", "session": body["session"],
        "identifier": {"type": "m.id.user", "user": user_id}, "password": "ivy-password"}});
    let (status, body) = hs
        .call(Method::DELETE, &path, Some(&token), Some(auth))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_error(
        &hs.get(
            "/_matrix/client/v3/account/whoami",
            second["access_token"].as_str(),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );

    // delete_devices with a wrong password deletes nothing.
    let wrong = json!({"devices": [third_device], "auth": {"type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": "ivy"}, "password": "bad"}});
    assert_error(
        &hs.post("/_matrix/client/v3/delete_devices", Some(&token), wrong)
            .await,
        StatusCode::UNAUTHORIZED,
        "M_FORBIDDEN",
    );
    assert_eq!(hs.count("hs_devices").await, 2);
    let right = json!({"devices": [third_device], "auth": {"type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": "ivy"}, "password": "ivy-password"}});
    let (status, _) = hs
        .post("/_matrix/client/v3/delete_devices", Some(&token), right)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hs.count("hs_devices").await, 1);
    assert_error(
        &hs.get(
            "/_matrix/client/v3/account/whoami",
            third["access_token"].as_str(),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );
    hs.stop().await;
}
