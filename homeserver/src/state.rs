//! The state every handler shares through axum's `State(Arc<AppState>)`.

use std::sync::Arc;

use ruma::OwnedServerName;

use crate::{
    config::{Config, ConfigError},
    error::{Error, Result},
    services::{
        chain_ledger::ChainLedger, media::Media, notifier::LocalNotifier, presence::Presence,
        rate_limit::RateLimiter, registration_ledger::RegistrationLedger,
        rooms::notifications::UnreadCache, rooms::send::TxnLocks, shared_secret::NonceStore,
        typing::Typing, uiaa::UiaaSessions,
    },
    storage::Db,
};

/// Configuration, database, ledger and the small in-memory stores of one node.
pub struct AppState {
    /// The node's configuration.
    pub config: Config,
    /// Parsed `config.server_name`.
    pub server_name: OwnedServerName,
    /// The node's database.
    pub db: Db,
    /// Where registrations and deactivations are published.
    pub ledger: Arc<dyn RegistrationLedger>,
    /// `POST /login` limiter.
    pub login_limiter: RateLimiter,
    /// `POST /register` limiter.
    pub register_limiter: RateLimiter,
    /// Open user-interactive-auth sessions.
    pub uiaa: UiaaSessions,
    /// Nonces of the shared-secret registration.
    pub nonces: NonceStore,
    /// The consortium ledger, which rooms live on (`None` on a node without one).
    pub chain: Option<Arc<ChainLedger>>,
    /// Who is typing where (this node's users only).
    pub typing: Typing,
    /// Presence of this node's users.
    pub presence: Presence,
    /// Wakes `/sync` on org-local changes.
    pub notifier: LocalNotifier,
    /// Serialises retries of one `(device, txn id)` while its first send is in flight.
    pub txn_locks: TxnLocks,
    /// Unread counts already computed for `/sync`.
    pub unread: UnreadCache,
    /// Sliding sync connections and where each left off.
    pub sliding_connections: crate::services::sliding_sync::connections::Connections,
    /// The media repository.
    pub media: Media,
    /// The node's Prometheus metrics.
    pub metrics: Arc<crate::services::metrics::Metrics>,
}

impl AppState {
    /// Assembles the state from its parts.
    pub fn new(
        config: Config,
        db: Db,
        ledger: Arc<dyn RegistrationLedger>,
        chain: Option<Arc<ChainLedger>>,
    ) -> Result<Self, ConfigError> {
        let server_name = OwnedServerName::try_from(config.server_name.as_str())
            .map_err(|e| ConfigError::Invalid(format!("server_name: {e}")))?;
        let media = Media::open(&config, &db.pool, chain.as_deref())?;
        let metrics = Arc::new(crate::services::metrics::Metrics::new(chain.as_deref()));
        Ok(Self {
            media,
            metrics,
            login_limiter: RateLimiter::new(config.rate_limits.login),
            register_limiter: RateLimiter::new(config.rate_limits.register),
            server_name,
            config,
            db,
            ledger,
            uiaa: UiaaSessions::default(),
            nonces: NonceStore::default(),
            chain,
            typing: Typing::default(),
            presence: Presence::default(),
            notifier: LocalNotifier::default(),
            txn_locks: TxnLocks::default(),
            unread: UnreadCache::default(),
            sliding_connections: Default::default(),
        })
    }

    /// The consortium ledger, or the error clients get on a node without one.
    pub fn chain(&self) -> Result<&ChainLedger> {
        self.chain.as_deref().ok_or_else(|| {
            Error::new(
                http::StatusCode::BAD_REQUEST,
                ruma::api::error::ErrorKind::Unrecognized,
                "Rooms need the consortium ledger, and this node has none (no chain_dir)",
            )
        })
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}
