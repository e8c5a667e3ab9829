//! Typed configuration, read once per invocation from the [`Settings`] port.
//!
//! Setting names are the Spin variable names (lower snake case); the native adapter reads the
//! same names upper-cased from the environment (`tmdb_token` ← `TMDB_TOKEN`).

use std::fmt;
use std::time::Duration;

use crate::ports::Settings;

/// A secret value: never printed, never serialised, and not comparable with `==` (a comparison
/// of secrets must be constant-time: `subtle`, as the admin-token check does).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// `text` with this secret blanked out, for anything that could reach a log or a response.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.0)
    }
}

/// `text` with every occurrence of `secret` replaced by `***` (nothing to do for an empty secret).
/// The one redaction rule, for secrets typed [`Secret`] or read as plain strings.
pub fn redact(text: &str, secret: &str) -> String {
    let secret = secret.trim();
    if secret.is_empty() { text.to_owned() } else { text.replace(secret, "***") }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the TMDB client authenticates.
#[derive(Clone, Debug)]
pub enum TmdbAuth {
    /// v4 "API Read Access Token", sent as `Authorization: Bearer`. Preferred: keeps the secret
    /// out of URLs.
    Bearer(Secret),
    /// v3 key, sent as the `api_key` query parameter.
    ApiKey(Secret),
}

#[derive(Clone, Debug)]
pub struct TmdbConfig {
    pub base_url: String,
    /// `None` when neither a token nor a key is configured: reading the catalog still works,
    /// calling TMDB fails with a configuration error.
    pub auth: Option<TmdbAuth>,
    pub language: String,
    pub rate_limit_rps: u32,
    pub max_in_flight: usize,
    pub request_timeout: Duration,
    pub max_attempts: u32,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// The PostgreSQL URL (it may hold a password); `None` when unset, and every route that
    /// needs the database then answers with a configuration error.
    pub database_url: Option<Secret>,
    pub tmdb: TmdbConfig,
    pub admin_token: Option<Secret>,
    /// Wall-time budget of one invocation.
    pub time_budget: Duration,
    /// How long `ingest-movie` waits for another invocation's in-flight ingest of the same movie.
    pub ingest_wait: Duration,
    /// Most database sessions one invocation holds at once (its pool's size).
    pub db_max_connections: usize,
    /// Stripe webhook signing secrets (`whsec_…`), any of which may sign a delivery; empty: the
    /// Stripe route refuses every delivery.
    pub stripe_webhook_secrets: Vec<Secret>,
    /// A bearer token that opens `GET /metrics` (besides the admin token), so that a Prometheus
    /// scraper needs no admin rights; `None` when unset.
    pub metrics_token: Option<Secret>,
}

/// What is wrong with the configuration; names the setting, never its value when it is secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting this operation needs is unset.
    #[error("invalid configuration: `{setting}` is not set; {consequence}")]
    Missing { setting: &'static str, consequence: &'static str },
    /// A (non-secret) setting has a value it cannot take.
    #[error("invalid configuration: `{setting}` must be {expected}, got {got:?}")]
    Invalid { setting: &'static str, expected: &'static str, got: String },
}

pub const DEFAULT_TMDB_BASE_URL: &str = "https://api.themoviedb.org/3";

/// Every setting Marquee reads, with its default (`None`: no default) and whether it is secret.
/// `spin.toml`'s `[variables]` and the README's table are checked against this list.
pub const SETTINGS: &[(&str, Option<&str>, bool)] = &[
    ("database_url", None, true),
    ("admin_token", None, true),
    ("tmdb_token", Some(""), true),
    ("tmdb_api_key", Some(""), true),
    ("tmdb_base_url", Some(DEFAULT_TMDB_BASE_URL), false),
    ("tmdb_language", Some("en-US"), false),
    ("tmdb_rate_limit_rps", Some("40"), false),
    ("tmdb_max_in_flight", Some("20"), false),
    ("tmdb_timeout_ms", Some("10000"), false),
    ("tmdb_max_attempts", Some("5"), false),
    ("time_budget_ms", Some("20000"), false),
    ("ingest_wait_ms", Some("30000"), false),
    ("db_max_connections", Some("4"), false),
    ("stripe_webhook_secrets", Some(""), true),
    // The catalog API (issue 16).
    ("catalog_public", Some("false"), false),
    // The dashboard (issue 12).
    ("metrics_token", Some(""), true),
];

fn default_of(name: &str) -> &'static str {
    SETTINGS.iter().find(|(n, ..)| *n == name).and_then(|(_, d, _)| *d).unwrap_or("")
}

async fn read(settings: &impl Settings, name: &str) -> String {
    match settings.get(name).await {
        Some(v) if !v.trim().is_empty() => v.trim().to_owned(),
        _ => default_of(name).to_owned(),
    }
}

/// The database URL alone, for commands that need nothing else (migrations, backfills); the same
/// rule [`Config::load`] uses.
pub async fn database_url(settings: &impl Settings) -> Result<Secret, ConfigError> {
    Some(read(settings, "database_url").await)
        .filter(|u| !u.is_empty())
        .map(Secret::new)
        .ok_or(ConfigError::Missing { setting: "database_url", consequence: "set DATABASE_URL to a PostgreSQL URL" })
}

async fn number<T: std::str::FromStr + PartialOrd + From<u8>>(
    settings: &impl Settings,
    name: &'static str,
) -> Result<T, ConfigError> {
    let raw = read(settings, name).await;
    match raw.parse::<T>() {
        Ok(v) if v > T::from(0) => Ok(v),
        _ => Err(ConfigError::Invalid { setting: name, expected: "a positive integer", got: raw }),
    }
}

impl Config {
    pub async fn load(settings: &impl Settings) -> Result<Config, ConfigError> {
        let token = read(settings, "tmdb_token").await;
        let api_key = read(settings, "tmdb_api_key").await;
        let auth = match (token.is_empty(), api_key.is_empty()) {
            (false, _) => Some(TmdbAuth::Bearer(Secret::new(token))),
            (true, false) => Some(TmdbAuth::ApiKey(Secret::new(api_key))),
            (true, true) => None,
        };
        let base_url = read(settings, "tmdb_base_url").await.trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ConfigError::Invalid { setting: "tmdb_base_url", expected: "an http(s) URL", got: base_url });
        }
        let admin_token = Some(read(settings, "admin_token").await).filter(|t| !t.is_empty()).map(Secret::new);
        Ok(Config {
            database_url: database_url(settings).await.ok(),
            tmdb: TmdbConfig {
                base_url,
                auth,
                language: read(settings, "tmdb_language").await,
                rate_limit_rps: number(settings, "tmdb_rate_limit_rps").await?,
                max_in_flight: number::<u32>(settings, "tmdb_max_in_flight").await? as usize,
                request_timeout: Duration::from_millis(number(settings, "tmdb_timeout_ms").await?),
                max_attempts: number(settings, "tmdb_max_attempts").await?,
            },
            admin_token,
            time_budget: Duration::from_millis(number(settings, "time_budget_ms").await?),
            ingest_wait: Duration::from_millis(number(settings, "ingest_wait_ms").await?),
            db_max_connections: number::<u32>(settings, "db_max_connections").await? as usize,
            stripe_webhook_secrets: read(settings, "stripe_webhook_secrets")
                .await
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
                .collect(),
            metrics_token: Some(read(settings, "metrics_token").await).filter(|t| !t.is_empty()).map(Secret::new),
        })
    }
}

/// What one catalog API request needs of the configuration (issue 16), read once per request
/// and only as far as the route needs it: on Spin every setting read is a host call, so the
/// catalog routes do not load the whole [`Config`].
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub database_url: Option<Secret>,
    pub time_budget: Duration,
    /// Read only for routes that take an admin token or sign browse cursors with a key derived
    /// from it.
    pub admin_token: Option<Secret>,
}

impl ApiConfig {
    pub async fn load(settings: &impl Settings, admin_token: bool) -> Result<ApiConfig, ConfigError> {
        Ok(ApiConfig {
            database_url: database_url(settings).await.ok(),
            time_budget: Duration::from_millis(number(settings, "time_budget_ms").await?),
            admin_token: if admin_token {
                Some(read(settings, "admin_token").await).filter(|t| !t.is_empty()).map(Secret::new)
            } else {
                None
            },
        })
    }
}

/// `catalog_public`: whether the catalog API answers reads without a key (local development).
/// Read only for a request that brings no key.
pub async fn catalog_public(settings: &impl Settings) -> Result<bool, ConfigError> {
    match read(settings, "catalog_public").await.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(ConfigError::Invalid { setting: "catalog_public", expected: "true or false", got: other.into() }),
    }
}
