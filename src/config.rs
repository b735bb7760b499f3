//! The settings under `[<profile>.auth]`: typed configuration, read from Rocket's figment and
//! validated once at ignite so that a bad setting stops the app with one clear line.
//! Only this module turns configuration into working parts (the keyring): the parts
//! themselves know nothing of it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use figment::providers::{Env, Serialized};
use figment::Figment;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};
use url::Url;

use crate::crypto::{KeyError, Keyring};
use crate::db::Schema;

/// Environment variables honoured for people coming from a NextAuth + Keycloak setup,
/// and the figment key each one sets. `ROCKET_*` variables still win over these.
const COMPAT_ENV: &[(&str, &str)] = &[
    ("DATABASE_URL", "databases.auth.url"),
    ("KEYCLOAK_ISSUER", "auth.providers.keycloak.issuer"),
    ("KEYCLOAK_CLIENT_ID", "auth.providers.keycloak.client_id"),
    ("KEYCLOAK_CLIENT_SECRET", "auth.providers.keycloak.client_secret"),
];

/// Rocket's own figment (`Rocket.toml`, `ROCKET_*`), plus what people coming from a
/// NextAuth + Keycloak setup already have: `DATABASE_URL`, `KEYCLOAK_ISSUER`,
/// `KEYCLOAK_CLIENT_ID`, `KEYCLOAK_CLIENT_SECRET`, and a `.env` file that never overrides
/// the real environment. `ROCKET_*` variables keep the last word.
///
/// Use it in place of `rocket::Config::figment()`: `rocket::custom(latchkey::figment())`.
pub fn figment() -> Figment {
    // A missing .env is normal; a malformed one is reported but not fatal.
    if let Err(error) = dotenvy::dotenv() {
        if !error.not_found() {
            eprintln!("latchkey: ignoring .env: {error}");
        }
    }
    with_compat_env(rocket::Config::figment(), |name| std::env::var(name).ok())
}

/// Layers the NextAuth-style variables over `base`, then `ROCKET_*` again on top so that
/// Rocket's own variables keep the last word, as Rocket users expect.
fn with_compat_env(base: Figment, lookup: impl Fn(&str) -> Option<String>) -> Figment {
    let mut figment = base;
    for (variable, key) in COMPAT_ENV {
        if let Some(value) = lookup(variable).filter(|v| !v.is_empty()) {
            figment = figment.merge(Serialized::global(key, value));
        }
    }
    figment.merge(Env::prefixed("ROCKET_").ignore(&["PROFILE"]).global())
}

/// Everything under `auth`, validated: what [`Latchkey`](crate::Latchkey) reads at ignite.
///
/// ```toml
/// [default.auth]
/// base_url = "https://app.example.com"
///
/// [default.auth.providers.keycloak]
/// issuer = "https://id.example.com/realms/main"
/// client_id = "app"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The public URL people reach the app at; redirect URIs are built from it.
    pub base_url: Url,
    /// The PostgreSQL schema of latchkey's tables and of their migration history.
    #[serde(default)]
    pub schema: Schema,
    /// Whether this profile is for development, where the production checks (https,
    /// `secret_key`, encryption keys, client secrets) are off. Unset: only in Rocket's
    /// `debug` profile; every other profile (`release`, `prod`, `staging`, …) is checked.
    #[serde(default)]
    pub development: Option<bool>,
    /// Apply latchkey's migrations at ignite. Off for least-privilege deployments.
    #[serde(default = "default_true")]
    pub run_migrations: bool,
    /// How long a started sign-in may take before its flow cookie is refused.
    #[serde(default = "default_login_timeout", deserialize_with = "human_duration")]
    pub login_timeout: Duration,
    /// How recent the person's authentication must be for sensitive actions (revoking
    /// the other sessions, signing out everywhere, the admin console's revocations):
    /// older, and the provider asks for the password again first.
    #[serde(default = "default_recent_auth_max_age", deserialize_with = "human_duration")]
    pub recent_auth_max_age: Duration,
    /// Session lifetimes and the sweeper.
    #[serde(default)]
    pub session: SessionConfig,
    /// The trail of sign-ins, sign-outs and revocations shown as "Recent activity".
    #[serde(default)]
    pub security_events: SecurityEventsConfig,
    /// `/metrics` for Prometheus: off unless a bearer token is configured.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The session cookie.
    #[serde(default)]
    pub cookie: CookieConfig,
    /// Peers whose `X-Forwarded-For` is believed. Empty: the socket address is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<IpNet>,
    /// Keys that seal the IdP's tokens at rest. Absent: an ephemeral key outside the
    /// release profile, a refusal to start in it.
    #[serde(default)]
    pub encryption: Option<EncryptionConfig>,
    /// The OpenID Connect providers people sign in with, by name (the name is part of
    /// the stored rows: keep it when the provider's URL changes).
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Built from `encryption` during validation.
    #[serde(skip)]
    keyring: Option<Keyring>,
}

/// `auth.session`: how long sessions live and how expired ones are swept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Sliding lifetime: activity moves `expires_at` to now + max_age.
    #[serde(deserialize_with = "human_duration")]
    pub max_age: Duration,
    /// How stale the last extension must be before a request extends again.
    #[serde(deserialize_with = "human_duration")]
    pub update_age: Duration,
    /// Hard limit from sign-in that no activity extends.
    #[serde(deserialize_with = "human_duration")]
    pub absolute_max_age: Duration,
    /// How often `last_seen_at` may be written.
    #[serde(deserialize_with = "human_duration")]
    pub activity_interval: Duration,
    /// How often the sweeper deletes expired rows.
    #[serde(deserialize_with = "human_duration")]
    pub sweep_interval: Duration,
    /// Rows deleted per statement by the sweeper; bounds each statement's locks.
    pub sweep_batch_size: u32,
    /// Most live sessions one person keeps; a sign-in past it ends their oldest.
    pub max_per_user: u32,
    /// Keep resolved sessions in memory, dropped at once on every instance when
    /// PostgreSQL announces a change (revocation stays instant everywhere).
    pub cache: bool,
    /// Most sessions the cache keeps.
    pub cache_capacity: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        const DAY: u64 = 24 * 60 * 60;
        SessionConfig {
            max_age: Duration::from_secs(30 * DAY),
            update_age: Duration::from_secs(DAY),
            absolute_max_age: Duration::from_secs(90 * DAY),
            activity_interval: Duration::from_secs(5 * 60),
            sweep_interval: Duration::from_secs(60 * 60),
            sweep_batch_size: 1000,
            max_per_user: 100,
            cache: true,
            cache_capacity: 10_000,
        }
    }
}

/// `auth.security_events`: how long the trail of what happened to people's sessions is
/// kept (the sweeper removes older events).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SecurityEventsConfig {
    /// How long an event is kept; also how far back a sign-in's device counts as seen
    /// before (a device unused for longer is "new" again).
    #[serde(deserialize_with = "human_duration")]
    pub retention: Duration,
}

/// The default of `auth.security_events.retention`: 90 days.
pub(crate) const DEFAULT_SECURITY_EVENTS_RETENTION: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// The longest `auth.security_events.retention` accepted: a hundred years.
const MAX_SECURITY_EVENTS_RETENTION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

impl Default for SecurityEventsConfig {
    fn default() -> Self {
        SecurityEventsConfig { retention: DEFAULT_SECURITY_EVENTS_RETENTION }
    }
}

impl SecurityEventsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.retention.is_zero() {
            return Err(invalid("auth.security_events.retention", "must be longer than zero"));
        }
        if self.retention > MAX_SECURITY_EVENTS_RETENTION {
            return Err(invalid("auth.security_events.retention", "must be at most 100 years"));
        }
        Ok(())
    }
}

/// `auth.metrics`: Prometheus metrics at `{base_path}/metrics`, for scrapers that
/// present the bearer token. Without a token the route is not mounted (404), so that
/// nothing about the sessions is published by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// The bearer token a scraper presents (`Authorization: Bearer …`), at least 32
    /// characters. Absent: no `/metrics`.
    pub token: Option<Secret>,
    /// How often the live sessions are counted in the database (never per scrape).
    #[serde(deserialize_with = "human_duration")]
    pub live_sessions_interval: Duration,
}

/// The shortest `auth.metrics.token` accepted.
const MIN_METRICS_TOKEN_LEN: usize = 32;

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { token: None, live_sessions_interval: Duration::from_secs(30) }
    }
}

impl MetricsConfig {
    /// Whether `/metrics` is mounted.
    pub fn enabled(&self) -> bool {
        self.token.is_some()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(token) = &self.token {
            if token.expose().chars().count() < MIN_METRICS_TOKEN_LEN {
                return Err(invalid(
                    "auth.metrics.token",
                    format!("must be at least {MIN_METRICS_TOKEN_LEN} characters (`openssl rand -base64 32`)"),
                ));
            }
        }
        if self.live_sessions_interval < Duration::from_secs(1) {
            return Err(invalid("auth.metrics.live_sessions_interval", "must be at least 1s"));
        }
        Ok(())
    }
}

/// `auth.cookie`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct CookieConfig {
    /// `Secure` flag and `__Host-` prefix. Unset: on exactly when base_url is https.
    pub secure: Option<bool>,
}

/// `auth.providers.<name>`: one OpenID Connect provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// The issuer, exactly as the provider writes it (`https://accounts.google.com`, no
    /// slash added): its `/.well-known/openid-configuration` is discovered, and the
    /// document's `issuer` must equal it (OpenID Connect Discovery 1.0, 4.3).
    pub issuer: String,
    /// This app's client id at the provider.
    pub client_id: String,
    /// The client's secret (confidential clients).
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Scopes asked for; must include `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Where the IdP sends the browser after its logout; default `{base_url}/signed-out`.
    #[serde(default)]
    pub post_logout_redirect: Option<Url>,
    /// Link a sign-in to an existing user with the same, IdP-verified e-mail.
    #[serde(default)]
    pub allow_email_linking: bool,
    /// Name shown on the provider chooser; default the provider's key.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The algorithms an ID token may be signed with: asymmetric ones only, whatever the
    /// provider's discovery document lists (Keycloak lists HS256, which would make the
    /// client secret a signing key). Default: RS, PS and ES of every size, and EdDSA.
    #[serde(default = "default_id_token_algorithms")]
    pub id_token_algorithms: Vec<String>,
    /// Where the ID token (or userinfo) lists the person's realm roles: a dotted path, or
    /// a JSON pointer when it starts with `/` (for claim names with dots in them).
    #[serde(default = "default_realm_roles_claim")]
    pub realm_roles_claim: String,
    /// Where it lists the roles of this client; `{client_id}` stands for the client id.
    #[serde(default = "default_client_roles_claim")]
    pub client_roles_claim: String,
    /// Where it lists the person's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// How long before its expiry an access token counts as expired, so that one handed
    /// to a route still works when the upstream API receives it. Default 60 s.
    #[serde(default = "default_refresh_skew", deserialize_with = "human_duration")]
    pub refresh_skew: Duration,
    /// Binds each session to the provider's: even routes that need no token have the
    /// session confirmed with a refresh at most this often, so that a logout at the
    /// provider ends it when back-channel logout cannot reach the app. Default: off.
    #[serde(default, deserialize_with = "optional_human_duration")]
    pub check_session_every: Option<Duration>,
    /// The provider is Keycloak and this client's service account may end user sessions
    /// (`realm-management` `manage-users`): a revoked session's Keycloak session is ended
    /// too, through the Admin REST API. Default: off.
    #[serde(default)]
    pub keycloak_admin_api: bool,
    /// Authentication context classes to ask for (`acr_values`); when set, a sign-in's
    /// ID token must carry one of them as `acr`.
    #[serde(default)]
    pub acr_values: Vec<String>,
}

/// `auth.encryption`: the keys that seal the provider's tokens at rest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EncryptionConfig {
    /// The key id new values are sealed with.
    pub current: String,
    /// Key id → 32 random bytes, base64 (`openssl rand -base64 32`). Keep retired keys
    /// listed until no row uses them.
    pub keys: BTreeMap<String, Secret>,
}

/// A configuration secret that never shows up in `Debug` output or logs.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A configuration problem, phrased as `key: problem` so the operator knows where to look.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The settings could not be read (a missing key, a value of the wrong type).
    #[error("{0}")]
    Figment(#[from] Box<figment::Error>),
    /// A setting was read but cannot be used.
    #[error("{key}: {problem}")]
    Invalid {
        /// The setting, e.g. `auth.session.update_age`.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), problem: problem.into() }
}

impl Config {
    /// Extracts and validates `auth` from the selected profile of `figment`.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let mut config: Config = figment.extract_inner("auth").map_err(Box::new)?;
        let development = config.development.unwrap_or(figment.profile() == rocket::Config::DEBUG_PROFILE);
        let strict = !development;
        // Rocket's own defaults always carry a (zero) secret_key, so ask Rocket, not the figment.
        let secret_key_set = figment.extract::<rocket::Config>().is_ok_and(|rocket| !rocket.secret_key.is_zero());
        config.validate(strict, secret_key_set)?;
        config.keyring = config.encryption.as_ref().map(EncryptionConfig::keyring).transpose()?;
        Ok(config)
    }

    /// The keys of `auth.encryption`; `None` when none are configured (outside the
    /// release profile, latchkey then seals with a key that dies with the process).
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_ref()
    }

    /// Whether cookies get `Secure` and the `__Host-` prefix.
    pub fn secure_cookies(&self) -> bool {
        self.cookie.secure.unwrap_or(self.base_url.scheme() == "https")
    }

    /// `base_url` joined with an absolute path such as `/auth/callback`.
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{}", self.base_url.as_str().trim_end_matches('/'), path)
    }

    /// The provider configured under `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.get(name)
    }

    fn validate(&self, strict: bool, secret_key_set: bool) -> Result<(), ConfigError> {
        match self.base_url.scheme() {
            "http" | "https" => {}
            other => return Err(invalid("auth.base_url", format!("scheme must be http or https, not {other}"))),
        }
        if self.cookie.secure == Some(true) && self.base_url.scheme() == "http" {
            return Err(invalid(
                "auth.cookie.secure",
                "is true but auth.base_url is http://: browsers drop Secure cookies over plain http",
            ));
        }
        if self.cookie.secure == Some(false) && self.base_url.scheme() == "https" {
            return Err(invalid(
                "auth.cookie.secure",
                "is false but auth.base_url is https://: session cookies would also travel over plain http",
            ));
        }
        if self.recent_auth_max_age > Duration::from_secs(24 * 60 * 60) {
            return Err(invalid("auth.recent_auth_max_age", "must be at most 24h"));
        }
        if self.login_timeout.is_zero() {
            return Err(invalid("auth.login_timeout", "must be longer than zero"));
        }
        self.session.validate()?;
        self.security_events.validate()?;
        self.metrics.validate()?;
        if self.providers.is_empty() {
            return Err(invalid("auth.providers", "configure at least one OpenID Connect provider"));
        }
        for (name, provider) in &self.providers {
            provider.validate(name, strict)?;
        }
        if strict {
            if !secret_key_set {
                return Err(invalid(
                    "secret_key",
                    "is required in production (flow cookies are encrypted with it); generate one with `openssl rand -base64 32`",
                ));
            }
            if self.base_url.scheme() != "https" {
                return Err(invalid("auth.base_url", "must be https:// in production"));
            }
            if self.encryption.is_none() {
                return Err(invalid(
                    "auth.encryption",
                    "keys are required in production (tokens are sealed at rest): set auth.encryption.current and auth.encryption.keys.<id> = `openssl rand -base64 32`",
                ));
            }
        }
        Ok(())
    }
}

impl SessionConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let named = [
            ("max_age", self.max_age),
            ("update_age", self.update_age),
            ("absolute_max_age", self.absolute_max_age),
            ("activity_interval", self.activity_interval),
            ("sweep_interval", self.sweep_interval),
        ];
        for (name, value) in named {
            if value.is_zero() {
                return Err(invalid(format!("auth.session.{name}"), "must be longer than zero"));
            }
        }
        if self.sweep_batch_size == 0 {
            return Err(invalid("auth.session.sweep_batch_size", "must be at least 1"));
        }
        if self.max_per_user == 0 {
            return Err(invalid("auth.session.max_per_user", "must be at least 1"));
        }
        if self.cache && self.cache_capacity == 0 {
            return Err(invalid("auth.session.cache_capacity", "must be at least 1 (or auth.session.cache = false)"));
        }
        if self.update_age > self.max_age {
            return Err(invalid(
                "auth.session.update_age",
                format!(
                    "({}) must not be larger than auth.session.max_age ({})",
                    short_duration(self.update_age),
                    short_duration(self.max_age)
                ),
            ));
        }
        if self.absolute_max_age < self.max_age {
            return Err(invalid(
                "auth.session.absolute_max_age",
                format!(
                    "({}) must not be shorter than auth.session.max_age ({})",
                    short_duration(self.absolute_max_age),
                    short_duration(self.max_age)
                ),
            ));
        }
        // Chrono durations are what the store computes with; reject what it cannot hold.
        if chrono::Duration::from_std(self.absolute_max_age).is_err() {
            return Err(invalid("auth.session.absolute_max_age", "is too large"));
        }
        Ok(())
    }
}

impl ProviderConfig {
    fn validate(&self, name: &str, strict: bool) -> Result<(), ConfigError> {
        let key = |field: &str| format!("auth.providers.{name}.{field}");
        let name_ok = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(invalid(format!("auth.providers.{name}"), "provider names use only a-z, 0-9, '-' and '_'"));
        }
        let issuer = Url::parse(&self.issuer).map_err(|e| invalid(key("issuer"), format!("is not a URL ({e})")))?;
        if !matches!(issuer.scheme(), "http" | "https") || issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(invalid(key("issuer"), "must be an http(s) URL without query or fragment"));
        }
        if let Some(unknown) =
            self.id_token_algorithms.iter().find(|alg| !ASYMMETRIC_ALGORITHMS.contains(&alg.as_str()))
        {
            return Err(invalid(
                key("id_token_algorithms"),
                format!("{unknown:?} is not one of {}", ASYMMETRIC_ALGORITHMS.join(", ")),
            ));
        }
        if self.id_token_algorithms.is_empty() {
            return Err(invalid(key("id_token_algorithms"), "must list at least one algorithm"));
        }
        if self.client_id.trim().is_empty() {
            return Err(invalid(key("client_id"), "is empty"));
        }
        if self.check_session_every.is_some_and(|every| every < Duration::from_secs(10)) {
            return Err(invalid(
                key("check_session_every"),
                "must be at least 10s (each check is a refresh at the provider)",
            ));
        }
        if self.refresh_skew > Duration::from_secs(24 * 60 * 60) {
            return Err(invalid(key("refresh_skew"), "must be at most 24h"));
        }
        if !self.scopes.iter().any(|scope| scope == "openid") {
            return Err(invalid(key("scopes"), "must include \"openid\""));
        }
        if strict {
            if self.client_secret.as_ref().is_none_or(|s| s.expose().is_empty()) {
                return Err(invalid(key("client_secret"), "is required in production"));
            }
            if issuer.scheme() != "https" {
                return Err(invalid(key("issuer"), "must be https:// in production"));
            }
        }
        Ok(())
    }

    /// The label for the provider chooser: `display_name`, or the provider's key.
    pub fn display_name<'a>(&'a self, key: &'a str) -> &'a str {
        self.display_name.as_deref().unwrap_or(key)
    }
}

impl EncryptionConfig {
    /// The keyring, with each refusal naming the setting at fault.
    fn keyring(&self) -> Result<Keyring, ConfigError> {
        let keys = self.keys.iter().map(|(id, key)| (id.as_str(), key.expose()));
        Keyring::new(&self.current, keys).map_err(|error| {
            let key = match &error {
                KeyError::BadId { .. } => "auth.encryption.keys".to_string(),
                KeyError::NotAKey { id } => format!("auth.encryption.keys.{id}"),
                KeyError::NoCurrent { .. } => "auth.encryption.current".to_string(),
            };
            invalid(key, error.to_string())
        })
    }
}

/// "90d", "36h", "15m" or "45s": the largest whole unit, as an operator would write it.
fn short_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn default_recent_auth_max_age() -> Duration {
    Duration::from_secs(10 * 60)
}

fn default_login_timeout() -> Duration {
    Duration::from_secs(10 * 60)
}

fn default_true() -> bool {
    true
}

/// The signature algorithms an ID token may use: asymmetric ones, whose keys the
/// provider publishes (never HS*, keyed with the client secret, and never `none`).
const ASYMMETRIC_ALGORITHMS: [&str; 10] =
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

fn default_id_token_algorithms() -> Vec<String> {
    ASYMMETRIC_ALGORITHMS.map(String::from).to_vec()
}

fn default_realm_roles_claim() -> String {
    "realm_access.roles".into()
}

fn default_client_roles_claim() -> String {
    "resource_access.{client_id}.roles".into()
}

fn default_groups_claim() -> String {
    "groups".into()
}

fn default_refresh_skew() -> Duration {
    Duration::from_secs(60)
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(String::from).to_vec()
}

/// Parses "30d", "24h", "15m", "1h 30m" (humantime's grammar) into a `Duration`.
fn human_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// As [`human_duration`], for a setting that may be left out.
fn optional_human_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    human_duration(deserializer).map(Some)
}

/// The duration grammar of the configuration.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|error| format!("{text:?} is not a duration like \"30d\", \"24h\" or \"15m\" ({error})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_durations() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5_400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret("hunter2".into());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
