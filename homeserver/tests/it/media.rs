//! Media on IPFS across organisations: uploads on one node are downloaded byte for byte from
//! the others (which fetch the blocks from its gateway and check each against its CID), the
//! CIDs are those of `ipfs add --cid-version=1 --raw-leaves`, files are served safely,
//! thumbnails are made, a tampering peer is skipped, an admin's removal reaches every node,
//! and bad input leaves nothing behind.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use consort_bridge::media::read;
use consort_bridge::media::unixfs;
use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{User, admin, register};

const KIB: usize = 1024;

/// Bytes that differ at every offset (so a misplaced chunk would show).
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + 7 + seed as usize) % 251) as u8)
        .collect()
}

/// `(server, id)` of an `mxc://` URI.
pub fn parts(mxc: &str) -> (&str, &str) {
    mxc.strip_prefix("mxc://")
        .and_then(|r| r.split_once('/'))
        .expect("an mxc URI")
}

/// The authenticated download path of `mxc`.
pub fn download_path(mxc: &str) -> String {
    let (server, id) = parts(mxc);
    format!("/_matrix/client/v1/media/download/{server}/{id}")
}

async fn count(c: &Consortium, org: usize, sql: &str, arg: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(arg.to_owned())
        .fetch_one(&c.org(org).node.state.db.pool)
        .await
        .expect("count")
        .try_get(0)
        .expect("a number")
}

/// How many block files organisation `org`'s embedded store holds.
fn block_files(c: &Consortium, org: usize) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() { walk(&path) } else { 1 }
                })
                .sum()
        })
    }
    walk(&std::path::Path::new(&c.org(org).config.data_dir).join("media/blocks"))
}

/// Waits until `user` gets `status` for `path`.
async fn until_status(user: &User, path: &str, status: StatusCode) {
    for _ in 0..100 {
        if user.get_bytes(path, false).await.0 == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never answered {status} on {}", user.base);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn media_crosses_organisations() {
    media_across(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn media_crosses_organisations_postgres() {
    media_across(Db::Postgres).await;
}

async fn media_across(db: Db) {
    let c = Consortium::start(3, db, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(3).base_url, "carol").await;

    for (i, len) in [0, KIB, 256 * KIB, 256 * KIB + 1, 3 * KIB * KIB]
        .into_iter()
        .enumerate()
    {
        let data = pattern(len, i as u8);
        let started = std::time::Instant::now();
        let mxc = alice
            .upload_ok(data.clone(), "application/octet-stream")
            .await;
        let uploaded = started.elapsed();
        // The ledger names the file by the CID an IPFS node gives the same bytes.
        let (status, _, _) = carol.get_bytes(&download_path(&mxc), false).await;
        assert_eq!(status, StatusCode::OK, "{len} bytes on org3");
        let row = read::get(&c.org(3).node.state.db.pool, &mxc)
            .await
            .expect("read")
            .expect("pinned on org3 once it served it");
        assert_eq!(
            row.cid,
            unixfs::build(&data).root.to_string(),
            "{len} bytes"
        );
        assert_eq!(row.size, len as u64);
        assert_eq!(row.uploader, alice.user_id);
        for user in [&bob, &carol, &alice] {
            let started = std::time::Instant::now();
            let (status, headers, body) = user.get_bytes(&download_path(&mxc), false).await;
            assert_eq!(status, StatusCode::OK, "{len} bytes from {}", user.base);
            assert!(
                body == data,
                "{len} bytes from {}: different bytes",
                user.base
            );
            assert_eq!(headers["content-type"], "application/octet-stream");
            println!(
                "{len} bytes: upload {uploaded:?}, download from {} {:?}",
                user.base,
                started.elapsed()
            );
        }
        // The other organisations now hold the file themselves.
        for org in [2, 3] {
            let held = count(
                &c,
                org,
                "SELECT COUNT(*) FROM hs_blob_blocks WHERE root = $1",
                &row.cid,
            )
            .await;
            assert!(held > 0, "org{org} keeps what it fetched");
        }
    }

    // Served safely: HTML is an attachment with a sandbox policy; images are inline; the
    // uploader's file name is known to its organisation only, a name in the path anywhere.
    let html = b"<html><script>alert(1)</script></html>".to_vec();
    let (status, v) = alice
        .upload(html.clone(), "text/html", Some("page.html"))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let html_mxc = v["content_uri"].as_str().expect("uri").to_owned();
    let (status, headers, body) = bob.get_bytes(&download_path(&html_mxc), false).await;
    assert_eq!((status, body), (StatusCode::OK, html.clone()));
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("sandbox")
    );
    let (_, headers, _) = alice.get_bytes(&download_path(&html_mxc), false).await;
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("page.html"),
        "{headers:?}"
    );
    let png = png_bytes(20, 10);
    let (status, v) = alice.upload(png, "image/png", Some("cat.png")).await;
    assert_eq!(status, StatusCode::OK);
    let png_mxc = v["content_uri"].as_str().expect("uri").to_owned();
    let (_, headers, _) = carol
        .get_bytes(&format!("{}/kitten.png", download_path(&png_mxc)), false)
        .await;
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("inline") && disposition.contains("kitten.png"),
        "{disposition}"
    );

    // Authenticated media only: no token is 401; the legacy paths answer 404 as Synapse does.
    let (status, _, body) = bob.get_bytes(&download_path(&png_mxc), true).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["errcode"],
        "M_MISSING_TOKEN"
    );
    let (server, id) = parts(&png_mxc);
    for anonymous in [true, false] {
        for path in [
            format!("/_matrix/media/v3/download/{server}/{id}"),
            format!("/_matrix/media/v3/thumbnail/{server}/{id}?width=10&height=10"),
        ] {
            let (status, _, body) = bob.get_bytes(&path, anonymous).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(
                serde_json::from_slice::<Value>(&body).unwrap()["errcode"],
                "M_NOT_FOUND"
            );
        }
    }
    let config = bob
        .ok(Method::GET, "/_matrix/client/v1/media/config", None)
        .await;
    assert_eq!(config["m.upload.size"], 50 * 1024 * 1024);
    c.shutdown().await;
}

/// A PNG of `w` x `h` pixels.
pub fn png_bytes(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([x as u8, y as u8, 90, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

fn jpeg_bytes(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 200]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("jpeg");
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_removal_reaches_every_node() {
    let c = Consortium::start(3, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(3).base_url, "carol").await;
    let data = pattern(256 * KIB + 1, 3);
    let (status, v) = alice
        .upload(data.clone(), "application/pdf", Some("report.pdf"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let first = v["content_uri"].as_str().unwrap().to_owned();
    // The same bytes again: a second medium sharing the file.
    let second = alice.upload_ok(data.clone(), "application/pdf").await;
    let other = alice.upload_ok(pattern(KIB, 4), "text/plain").await;
    for m in [&first, &second, &other] {
        assert_eq!(
            bob.get_bytes(&download_path(m), false).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(
        carol.get_bytes(&download_path(&other), false).await.0,
        StatusCode::OK
    );

    let (status, list) = admin(
        &c,
        1,
        Method::GET,
        &format!("/_synapse/admin/v1/users/{}/media?dir=f", alice.user_id),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 3);
    assert_eq!(list["media"][0]["media_id"], parts(&first).1);
    assert_eq!(list["media"][0]["upload_name"], "report.pdf");
    assert_eq!(list["media"][0]["media_length"], data.len());
    assert_eq!(list["media"][0]["media_type"], "application/pdf");

    let (server, id) = parts(&first);
    let delete = format!("/_synapse/admin/v1/media/{server}/{id}");
    // Only the uploading organisation's admins remove it.
    let (status, v) = alice.call(Method::DELETE, &delete, None).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_FORBIDDEN"))
    );
    let (status, v) = admin(&c, 2, Method::DELETE, &delete).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, v) = admin(&c, 1, Method::DELETE, &delete).await;
    assert_eq!(
        (status, v),
        (StatusCode::OK, json!({"deleted_media": [id], "total": 1}))
    );
    for user in [&alice, &bob, &carol] {
        until_status(user, &download_path(&first), StatusCode::NOT_FOUND).await;
    }
    let (status, _) = admin(&c, 1, Method::DELETE, &delete).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The medium with the same bytes keeps them.
    let (status, _, body) = bob.get_bytes(&download_path(&second), false).await;
    assert_eq!((status, body == data), (StatusCode::OK, true));

    // The command line removes the second, through the running node.
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("homeserver.toml");
    std::fs::write(&config_path, toml::to_string(&c.org(1).config).unwrap()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_consort"))
        .args(["admin", "media", "delete", "--config"])
        .arg(&config_path)
        .arg(&second)
        .output()
        .expect("consort admin media delete");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_consort"))
        .args(["admin", "media", "list", "--config"])
        .arg(&config_path)
        .arg(&alice.user_id)
        .output()
        .expect("consort admin media list");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listing.lines().count(), 3, "{listing}");
    assert_eq!(
        listing.lines().filter(|l| l.ends_with("removed")).count(),
        2,
        "{listing}"
    );

    for user in [&alice, &bob, &carol] {
        until_status(user, &download_path(&second), StatusCode::NOT_FOUND).await;
    }
    // Every embedded store deletes the file's blocks and keeps the other medium's.
    let root = unixfs::build(&data).root.to_string();
    for org in [1, 2] {
        let mut left = -1;
        for _ in 0..100 {
            left = count(
                &c,
                org,
                "SELECT COUNT(*) FROM hs_blob_blocks WHERE root = $1",
                &root,
            )
            .await;
            if left == 0 && block_files(&c, org) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(left, 0, "org{org} still indexes the removed file");
        assert_eq!(
            block_files(&c, org),
            1,
            "org{org} keeps only the other medium's block"
        );
    }
    assert_eq!(
        carol.get_bytes(&download_path(&other), false).await.0,
        StatusCode::OK
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reserved_uploads_thumbnails_and_bad_input() {
    let c = Consortium::start_with(2, Db::Sqlite, RegistrationMode::Open, |config| {
        config.media.max_upload_bytes = 1024 * 1024;
    })
    .await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let carol = register(&c.org(1).base_url, "carol").await;
    let bob = register(&c.org(2).base_url, "bob").await;

    // `/create`, then the upload: before it, a download waits and answers 504.
    let v = alice
        .ok(Method::POST, "/_matrix/media/v1/create", Some(json!({})))
        .await;
    let mxc = v["content_uri"].as_str().expect("content_uri").to_owned();
    assert!(v["unused_expires_at"].as_u64().is_some(), "{v}");
    let (status, _, body) = alice
        .get_bytes(&format!("{}?timeout_ms=300", download_path(&mxc)), false)
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["errcode"],
        "M_NOT_YET_UPLOADED"
    );
    let (server, id) = parts(&mxc);
    let put = format!("/_matrix/media/v3/upload/{server}/{id}");
    let (status, v) = carol
        .call_raw(Method::PUT, &put, b"not yours".to_vec())
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_FORBIDDEN"))
    );
    let (status, v) = alice
        .call_raw(
            Method::PUT,
            "/_matrix/media/v3/upload/org1.localhost/unknownid",
            b"x".to_vec(),
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::NOT_FOUND, Some("M_NOT_FOUND"))
    );
    let (status, v) = alice
        .call_raw(Method::PUT, &put, b"{\"late\": 1}".to_vec())
        .await;
    assert_eq!((status, v), (StatusCode::OK, json!({})));
    let (status, v) = alice.call_raw(Method::PUT, &put, b"again".to_vec()).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::CONFLICT, Some("M_CANNOT_OVERWRITE_MEDIA"))
    );
    let (status, _, body) = bob.get_bytes(&download_path(&mxc), false).await;
    assert_eq!((status, body), (StatusCode::OK, b"{\"late\": 1}".to_vec()));
    for _ in 0..5 {
        alice
            .ok(Method::POST, "/_matrix/media/v1/create", Some(json!({})))
            .await;
    }
    let (status, v) = alice
        .call(Method::POST, "/_matrix/media/v1/create", Some(json!({})))
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("M_LIMIT_EXCEEDED"))
    );

    // Too large, with and without Content-Length: 413, and nothing stored or pinned.
    let pins = count(
        &c,
        1,
        "SELECT COUNT(*) FROM bridge_media WHERE uploader = $1",
        &alice.user_id,
    )
    .await;
    let blocks = count(
        &c,
        1,
        "SELECT COUNT(*) FROM hs_blob_blocks WHERE root <> $1",
        "",
    )
    .await;
    let (status, v) = alice
        .upload(vec![7; 1024 * 1024 + 1], "application/octet-stream", None)
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("M_TOO_LARGE"))
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..32).map(|_| Ok(vec![1u8; 64 * 1024])).collect();
    let response = reqwest::Client::new()
        .post(format!("{}/_matrix/media/v3/upload", alice.base))
        .bearer_auth(&alice.token)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    // The node answers 413 as soon as the limit is crossed and closes the connection; a
    // client still writing the rest of the body may see that as a broken pipe instead.
    match response {
        Ok(response) => assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(e) => assert!(
            e.is_request() && e.status().is_none(),
            "streamed upload: {e:?}"
        ),
    }
    assert_eq!(
        count(
            &c,
            1,
            "SELECT COUNT(*) FROM bridge_media WHERE uploader = $1",
            &alice.user_id
        )
        .await,
        pins
    );
    assert_eq!(
        count(
            &c,
            1,
            "SELECT COUNT(*) FROM hs_blob_blocks WHERE root <> $1",
            ""
        )
        .await,
        blocks
    );

    // Unknown and malformed media ids, a bad server name.
    for (path, status, code) in [
        (
            "/_matrix/client/v1/media/download/org1.localhost/nosuchmedia",
            StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
        ),
        (
            "/_matrix/client/v1/media/download/org1.localhost/bad.id",
            StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
        ),
        (
            "/_matrix/client/v1/media/download/org2.localhost/nosuchmedia",
            StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
        ),
        (
            "/_matrix/client/v1/media/download/bad%20server/abc",
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
        ),
        (
            "/_matrix/client/v1/media/preview_url?url=http://127.0.0.1/",
            StatusCode::NOT_FOUND,
            "M_UNRECOGNIZED",
        ),
    ] {
        let (got, _, body) = bob.get_bytes(path, false).await;
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(
            (got, v["errcode"].as_str()),
            (status, Some(code)),
            "{path}: {v}"
        );
    }

    // Thumbnails of a PNG and a JPEG, cropped and scaled, cached; absurd sizes get the
    // largest there is; a non-image and a zero size get 400.
    let png = alice.upload_ok(png_bytes(200, 100), "image/png").await;
    let jpeg = alice.upload_ok(jpeg_bytes(300, 200), "image/jpeg").await;
    let text = alice.upload_ok(b"just text".to_vec(), "text/plain").await;
    let thumb = |mxc: &str, query: &str| {
        let (server, id) = parts(mxc);
        format!("/_matrix/client/v1/media/thumbnail/{server}/{id}?{query}")
    };
    for (path, ct, size) in [
        (
            thumb(&png, "width=32&height=32&method=crop"),
            "image/png",
            (32, 32),
        ),
        (
            thumb(&png, "width=50&height=50&method=scale"),
            "image/png",
            (50, 25),
        ),
        (
            thumb(&jpeg, "width=96&height=96&method=scale"),
            "image/jpeg",
            (96, 64),
        ),
        (
            thumb(&jpeg, "width=100000&height=100000"),
            "image/jpeg",
            (300, 200),
        ),
    ] {
        let (status, headers, body) = bob.get_bytes(&path, false).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers["content-type"], ct, "{path}");
        let img = image::load_from_memory(&body).expect("an image");
        assert_eq!((img.width(), img.height()), size, "{path}");
        let (_, _, again) = bob.get_bytes(&path, false).await;
        assert_eq!(again, body, "{path}: served from the cache");
    }
    for path in [
        thumb(&text, "width=32&height=32"),
        thumb(&png, "width=0&height=32"),
    ] {
        let (status, _, body) = bob.get_bytes(&path, false).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    // A file stored by an upload that stopped before the ledger (a node killed in between)
    // is deleted by the sweep; pinned files stay.
    let state = &c.org(1).node.state;
    let orphan = pattern(256 * KIB + 1, 77);
    let dag = unixfs::build(&orphan);
    state
        .media
        .store
        .put(&dag, &bytes::Bytes::from(orphan))
        .await
        .expect("stored");
    let root = dag.root.to_string();
    let indexed = "SELECT COUNT(*) FROM hs_blob_blocks WHERE root = $1";
    assert!(count(&c, 1, indexed, &root).await > 0);
    let files_before = block_files(&c, 1);
    use consort_homeserver::services::media::janitor::sweep_orphans;
    assert_eq!(sweep_orphans(state, Duration::ZERO).await, 1);
    assert_eq!(count(&c, 1, indexed, &root).await, 0);
    assert_eq!(block_files(&c, 1), files_before - dag.blocks.len());
    let (status, _, body) = bob.get_bytes(&download_path(&png), false).await;
    assert_eq!(
        (status, body == png_bytes(200, 100)),
        (StatusCode::OK, true)
    );
    c.shutdown().await;
}

/// A gateway in front of another: forwards block requests as they come (signature included)
/// and flips the last byte of every answer, as a node serving wrong data would.
async fn tampering_gateway(target: Arc<OnceLock<String>>) -> String {
    let app = axum::Router::new().route(
        "/ipfs/{cid}",
        axum::routing::get(
            move |axum::extract::Path(cid): axum::extract::Path<String>,
                  headers: axum::http::HeaderMap| {
                let target = target.clone();
                async move {
                    let mut request = reqwest::Client::new()
                        .get(format!("{}/ipfs/{cid}", target.get().expect("target set")));
                    for (name, value) in headers.iter() {
                        if name.as_str().starts_with("x-consort") || name == "accept" {
                            request = request.header(name.as_str(), value.as_bytes());
                        }
                    }
                    let response = request.send().await.expect("forwarded");
                    let status = response.status().as_u16();
                    let mut body = response.bytes().await.expect("body").to_vec();
                    if let Some(last) = body.last_mut() {
                        *last ^= 0xff;
                    }
                    (axum::http::StatusCode::from_u16(status).unwrap(), body)
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_serving_a_wrong_block_is_skipped() {
    let target = Arc::new(OnceLock::new());
    let proxy = tampering_gateway(target.clone()).await;
    let c = Consortium::start_with(3, Db::Sqlite, RegistrationMode::Open, |config| {
        if config.server_name.starts_with("org3") {
            config.media.peers.insert("org1".into(), proxy.clone());
        }
    })
    .await;
    target.set(c.org(1).base_url.clone()).unwrap();
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(3).base_url, "carol").await;
    let data = pattern(256 * KIB + 1, 9);
    let mxc = alice
        .upload_ok(data.clone(), "application/octet-stream")
        .await;
    let root = unixfs::build(&data).root.to_string();

    // Only the tampering peer has it: refused, nothing kept.
    let (status, _, _) = carol.get_bytes(&download_path(&mxc), false).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        count(
            &c,
            3,
            "SELECT COUNT(*) FROM hs_blob_blocks WHERE root = $1",
            &root
        )
        .await,
        0
    );
    // Once org2 holds it too, org3 gets it from org2.
    let (status, _, body) = bob.get_bytes(&download_path(&mxc), false).await;
    assert_eq!((status, body == data), (StatusCode::OK, true));
    let (status, _, body) = carol.get_bytes(&download_path(&mxc), false).await;
    assert_eq!((status, body == data), (StatusCode::OK, true));

    // The gateway serves raw blocks, to the consortium's nodes only.
    let http = reqwest::Client::new();
    let url = format!("{}/ipfs/{root}", c.org(1).base_url);
    let unsigned = http
        .get(&url)
        .header("accept", "application/vnd.ipld.raw")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
    let not_raw = http.get(&url).send().await.unwrap();
    assert_eq!(not_raw.status(), StatusCode::NOT_ACCEPTABLE);
    let forged = http
        .get(&url)
        .header("accept", "application/vnd.ipld.raw")
        .header("x-consort-org", "org2")
        .header("x-consort-ts", "1")
        .header("x-consort-signature", "00".repeat(64))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    c.shutdown().await;
}
