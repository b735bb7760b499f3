//! Each configured provider's discovery document and signing keys, cached per instance.
//!
//! Discovery runs in the background from liftoff and retries with backoff, so the app
//! starts and serves existing sessions while the IdP is unreachable; sign-in also tries
//! once more on demand. Keys are re-fetched when a token names an unknown `kid`.
//!
//! Everything a request can make latchkey ask the IdP is bounded, so that strangers'
//! requests against a slow IdP cannot pile up: key refreshes and on-demand discovery run
//! one at a time per provider and at most once per cooldown, and the sign-in probe's
//! answer is reused for a few seconds.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey,
    CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, IssuerUrl, JsonWebKeySetUrl, LogoutProviderMetadata, ProviderMetadata,
};
use rocket::Shutdown;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::config::{Config, ProviderConfig};
use crate::error::{cause, chain, Error};

/// How long to wait for the IdP on any one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a sign-in waits to learn whether the IdP is up.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the answer of that probe is reused.
const PROBE_FRESH_FOR: Duration = Duration::from_secs(5);
/// Backoff bounds for discovery while the IdP is unreachable.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How often a loaded document is refreshed (key rotation, changed endpoints).
const REFRESH_EVERY: Duration = Duration::from_secs(60 * 60);
/// Least time between two key fetches (or two on-demand discoveries) that requests cause.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(10);

/// What latchkey reads of a discovery document beyond openidconnect's core fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct MoreMetadata {
    /// RFC 9207: the provider puts `iss` in every authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}

impl AdditionalProviderMetadata for MoreMetadata {}

/// A provider's discovery document, with its JWKS.
pub(crate) type Metadata = ProviderMetadata<
    LogoutProviderMetadata<MoreMetadata>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// All configured providers, in configuration order.
pub(crate) struct Providers {
    list: Vec<Arc<Provider>>,
}

impl Providers {
    pub fn from_config(config: &Config) -> Result<Self, reqwest::Error> {
        let http = http_client()?;
        let list = config
            .providers
            .iter()
            .map(|(name, provider)| {
                Arc::new(Provider {
                    name: name.clone(),
                    algorithms: provider.id_token_algorithms.iter().filter_map(|name| algorithm(name)).collect(),
                    config: provider.clone(),
                    http: http.clone(),
                    metadata: RwLock::new(None),
                    asked: Mutex::new(Asked::default()),
                    probe: Mutex::new(None),
                    unreachable_at: std::sync::Mutex::new(None),
                    service_token: Mutex::new(None),
                })
            })
            .collect();
        Ok(Providers { list })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Provider>> {
        self.list.iter().find(|provider| provider.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }
}

/// Keycloak's Admin REST API base for a realm's issuer: `{base}/realms/{realm}` →
/// `{base}/admin/realms/{realm}`.
fn keycloak_admin_url(issuer: &str) -> Option<String> {
    let (base, realm) = issuer.trim_end_matches('/').rsplit_once("/realms/")?;
    (!realm.is_empty() && !realm.contains('/')).then(|| format!("{base}/admin/realms/{realm}"))
}

/// The algorithm of a JWA name (`RS256`); the configuration has checked the names.
fn algorithm(name: &str) -> Option<CoreJwsSigningAlgorithm> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

/// The client used for every call to an IdP: no redirects (an IdP answer that redirects
/// is refused rather than followed to wherever it points), bounded time.
fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(3))
        .timeout(REQUEST_TIMEOUT)
        .build()
}

/// When requests last made latchkey fetch the keys, or discover, for a provider.
#[derive(Default)]
struct Asked {
    keys: Option<Instant>,
    discovery: Option<Instant>,
}

pub(crate) struct Provider {
    pub name: String,
    pub config: ProviderConfig,
    /// The signature algorithms its ID tokens may use (never what discovery lists).
    pub algorithms: Vec<CoreJwsSigningAlgorithm>,
    pub http: reqwest::Client,
    metadata: RwLock<Option<Arc<Metadata>>>,
    /// Held while a request-caused key fetch or discovery runs: one at a time.
    asked: Mutex<Asked>,
    /// The sign-in probe's last answer (whether the IdP answered), and when.
    probe: Mutex<Option<(Instant, bool)>>,
    /// When a refresh last found the IdP unreachable.
    unreachable_at: std::sync::Mutex<Option<Instant>>,
    /// The service account's token for Keycloak's Admin REST API, until it expires.
    service_token: Mutex<Option<(String, Instant)>>,
}

/// Whether a part the app depends on answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Health {
    Up,
    Down,
}

impl Provider {
    /// The cached document, if discovery has succeeded at least once.
    pub fn metadata(&self) -> Option<Arc<Metadata>> {
        self.metadata.read().ok().and_then(|guard| guard.clone())
    }

    /// What `/readyz` reports: whether the document is loaded (the reason it is not goes
    /// to the log, not to whoever asks).
    pub fn health(&self) -> Health {
        if self.metadata().is_some() {
            Health::Up
        } else {
            Health::Down
        }
    }

    /// The cached document, or one discovery attempt now (at most one at a time, and
    /// not again within the cooldown); `idp_unavailable` when neither.
    pub async fn metadata_or_discover(&self) -> Result<Arc<Metadata>, Error> {
        if let Some(metadata) = self.metadata() {
            return Ok(metadata);
        }
        let mut asked = self.asked.lock().await;
        // Someone else discovered while this request waited.
        if let Some(metadata) = self.metadata() {
            return Ok(metadata);
        }
        if asked.discovery.is_some_and(|at| at.elapsed() < ASK_AGAIN_AFTER) {
            return Err(self.unavailable("discovery failed moments ago"));
        }
        asked.discovery = Some(Instant::now());
        self.discover().await
    }

    /// The metadata for a new sign-in, after checking that the IdP answers right now:
    /// sending a person to an IdP that is down would leave them at a browser error page,
    /// so that case is a 503 `idp_unavailable` here instead. One small request per
    /// provider every few seconds, however many people sign in.
    pub async fn metadata_for_sign_in(&self) -> Result<Arc<Metadata>, Error> {
        let Some(metadata) = self.metadata() else { return self.metadata_or_discover().await };
        let mut probe = self.probe.lock().await;
        let answered = match *probe {
            Some((at, answered)) if at.elapsed() < PROBE_FRESH_FOR => answered,
            _ => {
                let answered = self.answers().await;
                *probe = Some((Instant::now(), answered));
                answered
            }
        };
        if answered {
            Ok(metadata)
        } else {
            Err(self.unavailable("the discovery document did not answer just now"))
        }
    }

    /// Whether the discovery document answers right now.
    async fn answers(&self) -> bool {
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer.trim_end_matches('/'));
        match self.http.get(url).timeout(PROBE_TIMEOUT).send().await {
            Ok(response) if response.status().is_success() => true,
            Ok(response) => {
                tracing::warn!(provider = %self.name, "discovery document answered {}", response.status());
                false
            }
            Err(error) => {
                tracing::warn!(provider = %self.name, "discovery document unreachable: {}", chain(&error));
                false
            }
        }
    }

    /// Ends the Keycloak session `sid` through the Admin REST API, with this client's
    /// service account (`keycloak_admin_api`). A session Keycloak no longer has is fine.
    pub async fn end_keycloak_session(&self, sid: &str) -> Result<(), Error> {
        let admin = keycloak_admin_url(&self.config.issuer).ok_or_else(|| self.unavailable("not a Keycloak issuer"))?;
        let token = self.service_token().await?;
        let mut url = reqwest::Url::parse(&admin).map_err(|e| self.unavailable(e))?;
        url.path_segments_mut().map_err(|()| self.unavailable("admin URL"))?.extend(["sessions", sid]);
        let response = self.http.delete(url).bearer_auth(token).send().await.map_err(|e| self.unavailable(e))?;
        match response.status() {
            status if status.is_success() || status == reqwest::StatusCode::NOT_FOUND => Ok(()),
            status => Err(self.unavailable(format!("Keycloak's admin API answered {status} to ending a session"))),
        }
    }

    /// The service account's access token (client credentials grant), reused until a
    /// little before it expires.
    async fn service_token(&self) -> Result<String, Error> {
        let mut cached = self.service_token.lock().await;
        if let Some((token, _)) = cached.as_ref().filter(|(_, until)| Instant::now() < *until) {
            return Ok(token.clone());
        }
        let metadata = self.metadata_or_discover().await?;
        let secret = self.config.client_secret.as_ref().map(|secret| secret.expose()).unwrap_or_default();
        let response = self
            .http
            .post(
                metadata
                    .token_endpoint()
                    .map(|url| url.url().clone())
                    .ok_or_else(|| self.unavailable("no token endpoint"))?,
            )
            .basic_auth(&self.config.client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| self.unavailable(e))?;
        if !response.status().is_success() {
            return Err(self.unavailable(format!("the service account's token request answered {}", response.status())));
        }
        #[derive(Deserialize)]
        struct Granted {
            access_token: String,
            expires_in: Option<u64>,
        }
        let granted: Granted = response.json().await.map_err(|e| self.unavailable(e))?;
        let lifetime = Duration::from_secs(granted.expires_in.unwrap_or(60).saturating_sub(10));
        *cached = Some((granted.access_token.clone(), Instant::now() + lifetime));
        Ok(granted.access_token)
    }

    /// Notes that a refresh found the IdP unreachable.
    pub fn mark_unreachable(&self) {
        if let Ok(mut at) = self.unreachable_at.lock() {
            *at = Some(Instant::now());
        }
    }

    /// Whether a refresh found the IdP unreachable within the cooldown: session checks
    /// that can wait do not ask it again meanwhile.
    pub fn recently_unreachable(&self) -> bool {
        self.unreachable_at.lock().ok().and_then(|at| *at).is_some_and(|at| at.elapsed() < ASK_AGAIN_AFTER)
    }

    fn unavailable(&self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::IdpUnavailable { provider: self.name.clone(), source: cause(source) }
    }

    /// Fetches the discovery document and its JWKS, and caches both on success. The
    /// issuer is compared exactly as configured.
    pub async fn discover(&self) -> Result<Arc<Metadata>, Error> {
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(|e| self.unavailable(e))?;
        let metadata = Metadata::discover_async(issuer, &self.http).await.map_err(|e| self.unavailable(e))?;
        let metadata = Arc::new(metadata);
        self.store(Arc::clone(&metadata));
        tracing::info!(provider = %self.name, "discovery document and keys loaded");
        Ok(metadata)
    }

    /// Re-fetches the signing keys after a token named a `kid` we do not know: one fetch
    /// at a time, and none within the cooldown of the last one (the keys as they are
    /// then decide).
    pub async fn refresh_keys(&self) -> Result<Arc<Metadata>, Error> {
        let current = self.metadata_or_discover().await?;
        let mut asked = self.asked.lock().await;
        if asked.keys.is_some_and(|at| at.elapsed() < ASK_AGAIN_AFTER) {
            return self.metadata().ok_or_else(|| self.unavailable("no discovery document"));
        }
        asked.keys = Some(Instant::now());
        let jwks_url: JsonWebKeySetUrl = current.jwks_uri().clone();
        let keys = CoreJsonWebKeySet::fetch_async(&jwks_url, &self.http).await.map_err(|e| self.unavailable(e))?;
        let refreshed = Arc::new((*current).clone().set_jwks(keys));
        self.store(Arc::clone(&refreshed));
        tracing::info!(provider = %self.name, "signing keys refreshed");
        Ok(refreshed)
    }

    fn store(&self, metadata: Arc<Metadata>) {
        if let Ok(mut guard) = self.metadata.write() {
            *guard = Some(metadata);
        }
    }

    /// Discovers until it succeeds (backing off), then refreshes now and then; a failed
    /// refresh keeps the last good document. Ends when Rocket shuts down.
    pub async fn keep_discovered(self: Arc<Self>, mut shutdown: Shutdown) {
        let mut retry = RETRY_FIRST;
        loop {
            let wait = match self.discover().await {
                Ok(_) => {
                    retry = RETRY_FIRST;
                    REFRESH_EVERY
                }
                Err(error) => {
                    tracing::warn!(provider = %self.name, "discovery failed, retrying in {retry:?}: {}", chain(&error));
                    let wait = retry;
                    retry = (retry * 2).min(RETRY_MAX);
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut shutdown => break,
            }
        }
    }
}
