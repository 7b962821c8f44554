//! Node configuration: one `Config` struct with serde defaults, read from a TOML file and then
//! overridden by `CONSORT_*` environment variables.

use std::{net::SocketAddr, path::Path};

use serde::{Deserialize, Serialize};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file that was asked for.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML file is not a valid configuration.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file that was asked for.
        path: String,
        /// The parse error.
        source: Box<toml::de::Error>,
    },
    /// An environment variable holds a value of the wrong shape.
    #[error("invalid value for environment variable {name}: {reason}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Who may create an account with `POST /register`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    /// Anyone may register and use the account at once.
    Open,
    /// Anyone may register, but the account is usable only once an admin approved it (MSC3866).
    #[default]
    Approval,
    /// `POST /register` is refused; admins create accounts.
    Closed,
}

impl std::str::FromStr for RegistrationMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Self::Open),
            "approval" => Ok(Self::Approval),
            "closed" => Ok(Self::Closed),
            other => Err(format!("expected open, approval or closed, got {other:?}")),
        }
    }
}

/// Which new rooms get Megolm encryption in their initial state (Synapse's
/// `encryption_enabled_by_default_for_room_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncryptionDefault {
    /// Rooms created with the `private_chat` or `trusted_private_chat` preset, and direct chats.
    #[default]
    Invite,
    /// Every new room.
    All,
    /// None: clients choose.
    Off,
}

impl std::str::FromStr for EncryptionDefault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "invite" => Ok(Self::Invite),
            "all" => Ok(Self::All),
            "off" => Ok(Self::Off),
            other => Err(format!("expected invite, all or off, got {other:?}")),
        }
    }
}

/// A token bucket: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Sustained rate, in requests per second.
    pub per_second: f64,
    /// How many requests may come at once.
    pub burst: u32,
}

/// Rate limits of the endpoints that attackers like; keyed by client address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimits {
    /// `POST /login`.
    pub login: RateLimit,
    /// `POST /register` (and the admin shared-secret registration).
    pub register: RateLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            login: RateLimit {
                per_second: 0.5,
                burst: 10,
            },
            register: RateLimit {
                per_second: 0.17,
                burst: 5,
            },
        }
    }
}

/// Where a node keeps media blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaBackend {
    /// Blocks on disk under `{data_dir}/media`, laid out as IPFS lays out a file (no
    /// external service).
    #[default]
    Embedded,
    /// An IPFS node's RPC API (`kubo_url`).
    Kubo,
}

impl std::str::FromStr for MediaBackend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "embedded" => Ok(Self::Embedded),
            "kubo" => Ok(Self::Kubo),
            other => Err(format!("expected embedded or kubo, got {other:?}")),
        }
    }
}

/// The media repository: uploads, the blob store, and the other organisations' gateways.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaConfig {
    /// Largest upload accepted, in bytes (Synapse's `max_upload_size`, 50 MiB by default).
    pub max_upload_bytes: usize,
    /// Where blobs are stored.
    pub backend: MediaBackend,
    /// The IPFS node's RPC API, for the `kubo` backend (`http://127.0.0.1:5001`).
    pub kubo_url: Option<String>,
    /// The base URL of every other organisation's node (`org2 = "https://..."`), whose
    /// `/ipfs/{cid}` gateway this node fetches media blocks from.
    pub peers: std::collections::BTreeMap<String, String>,
    /// Whether `/preview_url` fetches pages. Off, as in Synapse by default (it makes the node
    /// fetch any URL a user gives); turning it on is refused until previews are built.
    pub url_previews: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 50 * 1024 * 1024,
            backend: MediaBackend::default(),
            kubo_url: None,
            peers: Default::default(),
            url_previews: false,
        }
    }
}

/// Everything a node needs to run its homeserver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The Matrix server name: the part after `:` in this node's user ids.
    pub server_name: String,
    /// Address the client-server API listens on.
    pub listen: SocketAddr,
    /// Base URL clients should use, advertised by `/.well-known/matrix/client`.
    /// Defaults to `http://{listen}`.
    pub public_base_url: Option<String>,
    /// Directory for the node's files; the default SQLite database lives there.
    pub data_dir: String,
    /// `sqlite://...` or `postgres://...`; defaults to `sqlite://{data_dir}/consort.db?mode=rwc`.
    pub database_url: Option<String>,
    /// Who may register.
    pub registration: RegistrationMode,
    /// When non-empty, `/register` also requires one of these tokens (`m.login.registration_token`).
    pub registration_tokens: Vec<String>,
    /// Secret for Synapse's shared-secret admin registration; the endpoint is off when unset.
    pub registration_shared_secret: Option<String>,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Which new rooms are end-to-end encrypted from their creation.
    pub encryption_default: EncryptionDefault,
    /// The room version of new rooms when the creator does not ask for one (10, 11 or 12).
    pub default_room_version: String,
    /// This organisation's ledger directory, as written by `consort chain init`
    /// (`genesis.json`, `keys.json`, `node.toml`). Without it the node runs alone, with no
    /// consortium (registrations are recorded only locally).
    pub chain_dir: Option<String>,
    /// The media repository.
    pub media: MediaConfig,
    /// Address of the Prometheus listener (`GET /metrics`), apart from the client port;
    /// off when unset.
    pub metrics_listen: Option<SocketAddr>,
    /// How log lines are written: `plain` text, or one JSON object per line.
    pub log_format: LogFormat,
    /// Addresses (CIDR ranges) this node refuses to send requests to on a user's behalf
    /// (push gateways): by default loopback, private, link-local and reserved ranges, so
    /// that a pusher cannot reach a consortium's internal services.
    pub ip_range_blacklist: Vec<String>,
    /// Ranges allowed even when blacklisted (e.g. `127.0.0.1/32` for a local push gateway).
    pub ip_range_whitelist: Vec<String>,
    /// Lifetime of an access token issued with a refresh token (clients that ask for one), in
    /// milliseconds; other access tokens do not expire.
    pub refreshable_access_token_lifetime_ms: u64,
}

/// Where requests made for users (push gateways) may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRanges {
    /// Refused ranges.
    pub blacklist: Vec<ipnet::IpNet>,
    /// Allowed even when refused.
    pub whitelist: Vec<ipnet::IpNet>,
}

impl OutboundRanges {
    /// Whether a request may go to `ip`.
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        // An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is judged as IPv4.
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.whitelist.iter().any(|n| n.contains(&ip))
            || !self.blacklist.iter().any(|n| n.contains(&ip))
    }
}

/// Synapse's recommended `ip_range_blacklist`.
pub const DEFAULT_IP_RANGE_BLACKLIST: [&str; 20] = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "192.0.0.0/24",
    "169.254.0.0/16",
    "192.88.99.0/24",
    "198.18.0.0/15",
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "0.0.0.0/8",
    "::1/128",
    "fe80::/10",
    "fc00::/7",
    "2001:db8::/32",
    "ff00::/8",
    "fec0::/10",
];

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Plain,
    /// One JSON object per line, for log collectors.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "plain" => Ok(Self::Plain),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format `{other}` (plain or json)")),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server_name: "localhost".to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8008)),
            public_base_url: None,
            data_dir: ".".to_owned(),
            database_url: None,
            registration: RegistrationMode::default(),
            registration_tokens: Vec::new(),
            registration_shared_secret: None,
            rate_limits: RateLimits::default(),
            max_body_bytes: 1024 * 1024,
            encryption_default: EncryptionDefault::default(),
            default_room_version: "11".to_owned(),
            chain_dir: None,
            media: MediaConfig::default(),
            metrics_listen: None,
            log_format: LogFormat::default(),
            ip_range_blacklist: DEFAULT_IP_RANGE_BLACKLIST
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
            ip_range_whitelist: Vec::new(),
            refreshable_access_token_lifetime_ms: 5 * 60 * 1000,
        }
    }
}

impl Config {
    /// Reads `path` (when given) and then applies `CONSORT_*` environment variables.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.display().to_string(),
                    source: Box::new(source),
                })?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Overrides fields from environment variables, read through `get` (testable without
    /// touching the process environment).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &str, value: String) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e: T::Err| ConfigError::Env {
                name: name.to_owned(),
                reason: e.to_string(),
            })
        }
        if let Some(v) = get("CONSORT_SERVER_NAME") {
            self.server_name = v;
        }
        if let Some(v) = get("CONSORT_LISTEN") {
            self.listen = parse("CONSORT_LISTEN", v)?;
        }
        if let Some(v) = get("CONSORT_PUBLIC_BASE_URL") {
            self.public_base_url = Some(v);
        }
        if let Some(v) = get("CONSORT_DATA_DIR") {
            self.data_dir = v;
        }
        if let Some(v) = get("CONSORT_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = get("CONSORT_REGISTRATION") {
            self.registration = parse("CONSORT_REGISTRATION", v)?;
        }
        if let Some(v) = get("CONSORT_REGISTRATION_TOKENS") {
            self.registration_tokens = v
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = get("CONSORT_REGISTRATION_SHARED_SECRET") {
            self.registration_shared_secret = Some(v);
        }
        if let Some(v) = get("CONSORT_CHAIN_DIR") {
            self.chain_dir = Some(v);
        }
        if let Some(v) = get("CONSORT_ENCRYPTION_DEFAULT") {
            self.encryption_default = parse("CONSORT_ENCRYPTION_DEFAULT", v)?;
        }
        if let Some(v) = get("CONSORT_DEFAULT_ROOM_VERSION") {
            self.default_room_version = v;
        }
        if let Some(v) = get("CONSORT_MAX_BODY_BYTES") {
            self.max_body_bytes = parse("CONSORT_MAX_BODY_BYTES", v)?;
        }
        if let Some(v) = get("CONSORT_REFRESHABLE_ACCESS_TOKEN_LIFETIME_MS") {
            self.refreshable_access_token_lifetime_ms =
                parse("CONSORT_REFRESHABLE_ACCESS_TOKEN_LIFETIME_MS", v)?;
        }
        if let Some(v) = get("CONSORT_METRICS_LISTEN") {
            self.metrics_listen = Some(parse("CONSORT_METRICS_LISTEN", v)?);
        }
        if let Some(v) = get("CONSORT_LOG_FORMAT") {
            self.log_format = parse("CONSORT_LOG_FORMAT", v)?;
        }
        if let Some(v) = get("CONSORT_MEDIA_MAX_UPLOAD_BYTES") {
            self.media.max_upload_bytes = parse("CONSORT_MEDIA_MAX_UPLOAD_BYTES", v)?;
        }
        if let Some(v) = get("CONSORT_MEDIA_BACKEND") {
            self.media.backend = parse("CONSORT_MEDIA_BACKEND", v)?;
        }
        if let Some(v) = get("CONSORT_MEDIA_KUBO_URL") {
            self.media.kubo_url = Some(v);
        }
        if let Some(v) = get("CONSORT_RATE_LIMIT_LOGIN_PER_SECOND") {
            self.rate_limits.login.per_second = parse("CONSORT_RATE_LIMIT_LOGIN_PER_SECOND", v)?;
        }
        if let Some(v) = get("CONSORT_RATE_LIMIT_LOGIN_BURST") {
            self.rate_limits.login.burst = parse("CONSORT_RATE_LIMIT_LOGIN_BURST", v)?;
        }
        if let Some(v) = get("CONSORT_RATE_LIMIT_REGISTER_PER_SECOND") {
            self.rate_limits.register.per_second =
                parse("CONSORT_RATE_LIMIT_REGISTER_PER_SECOND", v)?;
        }
        if let Some(v) = get("CONSORT_RATE_LIMIT_REGISTER_BURST") {
            self.rate_limits.register.burst = parse("CONSORT_RATE_LIMIT_REGISTER_BURST", v)?;
        }
        Ok(())
    }

    /// Checks what serde cannot: a valid server name, sane limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ruma::ServerName::parse(&self.server_name)
            .map_err(|e| ConfigError::Invalid(format!("server_name: {e}")))?;
        let version = ruma::RoomVersionId::try_from(self.default_room_version.as_str())
            .map_err(|e| ConfigError::Invalid(format!("default_room_version: {e}")))?;
        if !consort_bridge::rooms::event::SUPPORTED_VERSIONS.contains(&version) {
            return Err(ConfigError::Invalid(format!(
                "default_room_version: {version} is not supported (10, 11 or 12)"
            )));
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::Invalid("max_body_bytes must be > 0".into()));
        }
        self.outbound_ranges()?;
        if self.refreshable_access_token_lifetime_ms == 0 {
            return Err(ConfigError::Invalid(
                "refreshable_access_token_lifetime_ms must be > 0".into(),
            ));
        }
        if self.media.max_upload_bytes == 0 {
            return Err(ConfigError::Invalid(
                "media.max_upload_bytes must be > 0".into(),
            ));
        }
        if self.media.url_previews {
            return Err(ConfigError::Invalid(
                "media.url_previews = true is not supported yet: /preview_url answers as a \
                 server with previews off"
                    .into(),
            ));
        }
        if self.media.backend == MediaBackend::Kubo && self.media.kubo_url.is_none() {
            return Err(ConfigError::Invalid(
                "media.backend = \"kubo\" needs media.kubo_url".into(),
            ));
        }
        for (name, limit) in [
            ("login", self.rate_limits.login),
            ("register", self.rate_limits.register),
        ] {
            if limit.per_second.is_nan() || limit.per_second <= 0.0 || limit.burst == 0 {
                return Err(ConfigError::Invalid(format!(
                    "rate_limits.{name}: per_second and burst must be > 0"
                )));
            }
        }
        Ok(())
    }

    /// The database URL in force (the explicit one, else SQLite in the data directory).
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}/consort.db?mode=rwc",
                self.data_dir.trim_end_matches('/')
            ),
        }
    }

    /// `ip_range_blacklist` and `ip_range_whitelist`, parsed.
    pub fn outbound_ranges(&self) -> Result<OutboundRanges, ConfigError> {
        let parse = |name: &str, ranges: &[String]| {
            ranges
                .iter()
                .map(|r| {
                    r.parse::<ipnet::IpNet>()
                        .map_err(|e| ConfigError::Invalid(format!("{name}: `{r}`: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(OutboundRanges {
            blacklist: parse("ip_range_blacklist", &self.ip_range_blacklist)?,
            whitelist: parse("ip_range_whitelist", &self.ip_range_whitelist)?,
        })
    }

    /// The base URL clients should use.
    pub fn public_base_url(&self) -> String {
        match &self.public_base_url {
            Some(url) => url.clone(),
            None => format!("http://{}", self.listen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_then_env() {
        let mut config: Config = toml::from_str(
            "server_name = \"org1.localhost\"\nregistration = \"open\"\n[rate_limits.login]\nper_second = 5.0\nburst = 50\n",
        )
        .expect("valid toml");
        assert_eq!(config.registration, RegistrationMode::Open);
        assert_eq!(config.rate_limits.login.burst, 50);
        assert_eq!(config.rate_limits.register, RateLimits::default().register);
        config
            .apply_env(|name| match name {
                "CONSORT_REGISTRATION" => Some("closed".into()),
                "CONSORT_REGISTRATION_TOKENS" => Some("a, b".into()),
                _ => None,
            })
            .expect("valid env");
        assert_eq!(config.registration, RegistrationMode::Closed);
        assert_eq!(config.registration_tokens, vec!["a", "b"]);
        assert!(config.validate().is_ok());
        assert_eq!(config.database_url(), "sqlite://./consort.db?mode=rwc");
    }

    #[test]
    fn media_settings_are_checked() {
        let config: Config = toml::from_str(
            "[media]\nbackend = \"kubo\"\nkubo_url = \"http://127.0.0.1:5001\"\nmax_upload_bytes = 1024\n[media.peers]\norg2 = \"http://127.0.0.1:8009\"\n",
        )
        .expect("valid toml");
        assert!(config.validate().is_ok());
        assert_eq!(config.media.peers["org2"], "http://127.0.0.1:8009");
        for bad in [
            "[media]\nbackend = \"kubo\"\n",
            "[media]\nurl_previews = true\n",
            "[media]\nmax_upload_bytes = 0\n",
        ] {
            let config: Config = toml::from_str(bad).expect("valid toml");
            assert!(config.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn metrics_and_log_settings() {
        let mut config: Config =
            toml::from_str("metrics_listen = \"0.0.0.0:9090\"\nlog_format = \"json\"\n")
                .expect("valid toml");
        assert_eq!(config.metrics_listen, Some(([0, 0, 0, 0], 9090).into()));
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(Config::default().metrics_listen, None);
        assert_eq!(Config::default().log_format, LogFormat::Plain);
        config
            .apply_env(|name| match name {
                "CONSORT_METRICS_LISTEN" => Some("127.0.0.1:9191".into()),
                "CONSORT_LOG_FORMAT" => Some("plain".into()),
                _ => None,
            })
            .expect("valid env");
        assert_eq!(config.metrics_listen, Some(([127, 0, 0, 1], 9191).into()));
        assert_eq!(config.log_format, LogFormat::Plain);
        assert!(toml::from_str::<Config>("log_format = \"yaml\"\n").is_err());
        let err = Config::default()
            .apply_env(|name| (name == "CONSORT_LOG_FORMAT").then(|| "yaml".into()))
            .expect_err("unknown format");
        assert!(err.to_string().contains("CONSORT_LOG_FORMAT"), "{err}");
    }

    #[test]
    fn outbound_ranges_refuse_internal_addresses_unless_allowed() {
        let ranges = Config::default().outbound_ranges().expect("defaults parse");
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.9",
            "169.254.1.1",
            "::1",
            "::ffff:10.0.0.1",
            "fd00::1",
        ] {
            assert!(!ranges.allows(internal.parse().unwrap()), "{internal}");
        }
        for public in ["8.8.8.8", "2606:4700::1111"] {
            assert!(ranges.allows(public.parse().unwrap()), "{public}");
        }
        let config = Config {
            ip_range_whitelist: vec!["127.0.0.1/32".into()],
            ..Config::default()
        };
        let ranges = config.outbound_ranges().expect("parse");
        assert!(ranges.allows("127.0.0.1".parse().unwrap()));
        assert!(!ranges.allows("127.0.0.2".parse().unwrap()));
        let bad = Config {
            ip_range_blacklist: vec!["10.0.0.0/33".into()],
            ..Config::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("ip_range_blacklist")
        );
    }

    #[test]
    fn bad_env_is_reported() {
        let mut config = Config::default();
        let err = config
            .apply_env(|name| (name == "CONSORT_REGISTRATION").then(|| "maybe".into()))
            .expect_err("invalid mode");
        assert!(err.to_string().contains("CONSORT_REGISTRATION"));
    }
}
