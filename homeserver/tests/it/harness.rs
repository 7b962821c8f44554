//! Starts a real node (router, database, single-node ledger) per test and talks HTTP to it.

use std::{net::SocketAddr, sync::Arc};

use consort_homeserver::{
    AppState, Config,
    config::{RateLimit, RegistrationMode},
    services::accounts::{self, NewAccount},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend: `both_backends!(name)` expects `async fn name(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::harness::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::harness::Backend::Postgres).await
            }
        }
    )*};
}

/// A running node.
pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub state: Arc<AppState>,
    pub server_name: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
    pg_database: Option<String>,
}

fn postgres_base() -> String {
    consort_chain::testnet::pg_base()
}

fn relaxed() -> RateLimit {
    RateLimit {
        per_second: 1000.0,
        burst: 1000,
    }
}

impl TestServer {
    /// Starts a node in open registration mode with relaxed limits, then applies `configure`.
    pub async fn start(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            server_name: "org1.localhost".to_owned(),
            data_dir: dir.path().display().to_string(),
            registration: RegistrationMode::Open,
            ..Config::default()
        };
        config.rate_limits.login = relaxed();
        config.rate_limits.register = relaxed();
        let mut pg_database = None;
        if let Backend::Postgres = backend {
            let name = format!("hs_test_{}", random_suffix());
            admin_sql(&format!("CREATE DATABASE {name}")).await;
            config.database_url = Some(format!("{}/{name}", postgres_base()));
            pg_database = Some(name);
        }
        configure(&mut config);
        config.validate().expect("valid test config");

        let (app, state) = consort_homeserver::build_local_app(config)
            .await
            .expect("app builds");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            consort_homeserver::serve(listener, app, async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            server_name: state.server_name.to_string(),
            state,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
            pg_database,
        }
    }

    /// Stops the server and drops its PostgreSQL database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.state.db.pool.close().await;
        if let Some(name) = self.pg_database.take() {
            admin_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }

    /// `@local:server`.
    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name)
    }

    /// Sends a request with an optional JSON body and token; returns status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body read");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer: {text}"))
        };
        (status, value)
    }

    /// Sends raw bytes as the body.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let value = response.json().await.expect("JSON answer");
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    /// Registers through `/register` with `m.login.dummy`; returns (user_id, token, device_id).
    pub async fn register(&self, localpart: &str, password: &str) -> (String, String, String) {
        let (status, body) = self
            .post(
                "/_matrix/client/v3/register",
                None,
                json!({"username": localpart, "password": password, "auth": {"type": "m.login.dummy"}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "register failed: {body}");
        (
            body["user_id"].as_str().expect("user_id").to_owned(),
            body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            body["device_id"].as_str().expect("device_id").to_owned(),
        )
    }

    /// Logs in with a password; returns the whole answer.
    pub async fn login(&self, user: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password}),
        )
        .await
    }

    /// Creates an admin the way `consort admin create-user --admin` does and logs it in.
    pub async fn admin_token(&self, localpart: &str) -> String {
        accounts::create(
            &self.state,
            NewAccount {
                localpart: localpart.to_owned(),
                password: Some("admin-password".to_owned()),
                admin: true,
                displayname: None,
                approve_now: Some(None),
            },
        )
        .await
        .expect("admin created");
        let (status, body) = self.login(localpart, "admin-password").await;
        assert_eq!(status, StatusCode::OK, "admin login: {body}");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// Number of rows in a table (to prove nothing was half-written).
    pub async fn count(&self, table: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {table}"
        )))
        .fetch_one(&self.state.db.pool)
        .await
        .expect("count")
        .try_get("n")
        .expect("n")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // A test that panicked before `stop` still must not leave its database behind.
        if let Some(name) = self.pg_database.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Runtime::new() {
                    rt.block_on(admin_sql(&format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )));
                }
            })
            .join();
        }
    }
}

/// Asserts a Matrix error answer.
#[track_caller]
pub fn assert_error(answer: &(StatusCode, Value), status: StatusCode, errcode: &str) {
    assert_eq!(answer.0, status, "unexpected status, body: {}", answer.1);
    assert_eq!(
        answer.1["errcode"], errcode,
        "unexpected body: {}",
        answer.1
    );
}

fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
        .collect()
}

async fn admin_sql(statement: &str) {
    sqlx::any::install_default_drivers();
    let url = format!("{}/postgres", postgres_base());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is required for these tests: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}
