//! A whole consortium in one process, for tests: N organisations, each a real ledger node and
//! homeserver on 127.0.0.1 ephemeral ports with its own database (SQLite file or a fresh
//! PostgreSQL database) and an admin created through the shared-secret API.

use std::collections::BTreeMap;
use std::time::Duration;

use consort_chain::local::{free_local_ports, init_dir_with_app};
use consort_chain::testnet::{Db as Backend, create_pg_db, drop_pg_db};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::admin_client::{AdminCredentials, register_admin};
use crate::config::{Config, EncryptionDefault, RateLimit, RegistrationMode};
use crate::node::{Node, start};

pub use consort_chain::testnet::Db;

/// One organisation of the test consortium.
pub struct OrgNode {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// `orgK.localhost`.
    pub server_name: String,
    /// The org's admin.
    pub admin: AdminCredentials,
    /// The running node.
    pub node: Node,
    /// Its configuration, to restart it.
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Starts a node and serves its API on `listener` until the returned sender fires.
async fn serve_node(
    config: Config,
    listener: TcpListener,
) -> (Node, oneshot::Sender<()>, JoinHandle<()>) {
    let node = start(config).await.expect("node starts");
    let (tx, rx) = oneshot::channel::<()>();
    let router = node.router.clone();
    let task = tokio::spawn(async move {
        let _ = crate::serve(listener, router, async {
            let _ = rx.await;
        })
        .await;
    });
    (node, tx, task)
}

/// The running consortium.
pub struct Consortium {
    /// Organisations in genesis order (org1 first).
    pub orgs: Vec<OrgNode>,
    _dir: tempfile::TempDir,
    pg_dbs: Vec<String>,
}

impl Consortium {
    /// Starts `n` organisations with the given registration mode and relaxed rate limits.
    pub async fn start(n: usize, backend: Backend, registration: RegistrationMode) -> Self {
        Self::start_with(n, backend, registration, |_| {}).await
    }

    /// `start`, with `configure` applied to every node's configuration.
    pub async fn start_with(
        n: usize,
        backend: Backend,
        registration: RegistrationMode,
        configure: impl Fn(&mut Config),
    ) -> Self {
        Self::start_with_app(n, backend, registration, BTreeMap::new(), configure).await
    }

    /// `start_with`, with consortium-wide settings (`plaintext_in_encrypted_rooms`, ...) in
    /// the genesis.
    pub async fn start_with_app(
        n: usize,
        backend: Backend,
        registration: RegistrationMode,
        app: BTreeMap<String, String>,
        configure: impl Fn(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = free_local_ports(n).expect("free ports");
        let genesis = init_dir_with_app(dir.path(), &ports, "consort-test", app).expect("genesis");
        let mut orgs = Vec::new();
        let mut pg_dbs = Vec::new();
        let http = reqwest::Client::new();
        let relaxed = RateLimit {
            per_second: 1000.0,
            burst: 10_000,
        };
        // Every node's address first: each fetches media from the others' gateways.
        let mut listeners = Vec::new();
        for org in &genesis.orgs {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let address = listener.local_addr().expect("address");
            listeners.push((org.id.clone(), listener, address));
        }
        let peers: BTreeMap<String, String> = listeners
            .iter()
            .map(|(id, _, address)| (id.clone(), format!("http://{address}")))
            .collect();
        let mut started = Vec::new();
        for (org, (_, listener, address)) in genesis.orgs.iter().zip(listeners) {
            let org_dir = dir.path().join(&org.id);
            let database_url = match backend {
                Backend::Sqlite => None,
                Backend::Postgres => {
                    let (url, name) = create_pg_db().await;
                    pg_dbs.push(name);
                    Some(url)
                }
            };
            let secret = hex::encode(rand::random::<[u8; 16]>());
            let mut config = Config {
                server_name: org.server_name.clone(),
                data_dir: org_dir.display().to_string(),
                chain_dir: Some(org_dir.display().to_string()),
                database_url,
                registration,
                registration_shared_secret: Some(secret.clone()),
                ..Config::default()
            };
            config.rate_limits.login = relaxed;
            config.rate_limits.register = relaxed;
            // Tests of plain rooms and of clients built without end-to-end encryption get
            // plain rooms; the encryption tests ask for the product's default themselves.
            config.encryption_default = EncryptionDefault::Off;
            config.media.peers = peers
                .iter()
                .filter(|(id, _)| **id != org.id)
                .map(|(id, url)| (id.clone(), url.clone()))
                .collect();
            configure(&mut config);
            config.listen = address;
            let (node, tx, task) = serve_node(config.clone(), listener).await;
            started.push((
                org.server_name.clone(),
                format!("http://{address}"),
                secret,
                node,
                tx,
                task,
                config,
            ));
        }
        // Admins are registrations on the ledger: every node must be up first.
        for (server_name, base_url, secret, node, tx, task, config) in started {
            let admin = tokio::time::timeout(Duration::from_secs(60), async {
                loop {
                    match register_admin(&http, &base_url, &secret, "admin").await {
                        // The ledger is not up on every node yet: ask again, as a client does.
                        Err(e) if e.to_string().contains("503") => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        other => break other,
                    }
                }
            })
            .await
            .expect("admin registration commits in time")
            .expect("admin registered");
            orgs.push(OrgNode {
                base_url,
                server_name,
                admin,
                node,
                config,
                shutdown: Some(tx),
                task: Some(task),
            });
        }
        Consortium {
            orgs,
            _dir: dir,
            pg_dbs,
        }
    }

    /// Kills organisation `k`'s node as a crash would: its HTTP server and its ledger node stop
    /// at once, whatever they were doing (open database transactions roll back).
    pub async fn kill(&mut self, k: usize) {
        let org = &mut self.orgs[k - 1];
        org.shutdown.take();
        if let Some(task) = org.task.take() {
            task.abort();
            let _ = task.await;
        }
        org.node.stop().await;
    }

    /// Starts organisation `k`'s node again from its directory and database, on its address.
    pub async fn restart(&mut self, k: usize) {
        let org = &mut self.orgs[k - 1];
        let listener = TcpListener::bind(org.config.listen).await.expect("rebind");
        let (node, tx, task) = serve_node(org.config.clone(), listener).await;
        org.node = node;
        org.shutdown = Some(tx);
        org.task = Some(task);
    }

    /// Organisation `k` counted from 1, as in `orgK`.
    pub fn org(&self, k: usize) -> &OrgNode {
        &self.orgs[k - 1]
    }

    /// Stops every node and drops PostgreSQL databases.
    pub async fn shutdown(mut self) {
        for org in &mut self.orgs {
            if let Some(tx) = org.shutdown.take() {
                let _ = tx.send(());
            }
            if let Some(task) = org.task.take() {
                let _ = task.await;
            }
            org.node.stop().await;
        }
        for name in &self.pg_dbs {
            drop_pg_db(name).await;
        }
    }
}
