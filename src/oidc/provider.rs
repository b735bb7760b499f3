//! Each configured provider's discovery document and signing keys, cached per instance.
//!
//! Discovery runs in the background from liftoff and retries with backoff, so the app
//! starts and serves existing sessions while the IdP is unreachable; sign-in also tries
//! once more on demand. Keys are re-fetched when a token names an unknown `kid`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::{IssuerUrl, JsonWebKeySetUrl, ProviderMetadataWithLogout};
use rocket::Shutdown;
use serde::Serialize;

use crate::config::{Config, ProviderConfig};
use crate::error::{cause, chain, Error};

/// How long to wait for the IdP on any one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a sign-in waits to learn whether the IdP is up.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Backoff bounds for discovery while the IdP is unreachable.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How often a loaded document is refreshed (key rotation, changed endpoints).
const REFRESH_EVERY: Duration = Duration::from_secs(60 * 60);

pub(crate) type Metadata = ProviderMetadataWithLogout;

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
                    config: provider.clone(),
                    http: http.clone(),
                    metadata: RwLock::new(None),
                    last_error: RwLock::new(Some("discovery has not run yet".into())),
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

/// The client used for every call to an IdP: no redirects (an IdP answer that redirects
/// is refused rather than followed to wherever it points), bounded time.
fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(3))
        .timeout(REQUEST_TIMEOUT)
        .build()
}

pub(crate) struct Provider {
    pub name: String,
    pub config: ProviderConfig,
    pub http: reqwest::Client,
    metadata: RwLock<Option<Arc<Metadata>>>,
    last_error: RwLock<Option<String>>,
}

/// Whether a part the app depends on answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Health {
    Up,
    Down,
}

/// What `/readyz` reports for one provider.
#[derive(Debug, Serialize)]
pub(crate) struct ProviderStatus {
    pub status: Health,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Provider {
    /// The cached document, if discovery has succeeded at least once.
    pub fn metadata(&self) -> Option<Arc<Metadata>> {
        self.metadata.read().ok().and_then(|guard| guard.clone())
    }

    pub fn status(&self) -> ProviderStatus {
        match self.metadata() {
            Some(_) => ProviderStatus { status: Health::Up, error: None },
            None => ProviderStatus {
                status: Health::Down,
                error: self.last_error.read().ok().and_then(|guard| guard.clone()),
            },
        }
    }

    /// The cached document, or one discovery attempt now; `idp_unavailable` when neither.
    pub async fn metadata_or_discover(&self) -> Result<Arc<Metadata>, Error> {
        match self.metadata() {
            Some(metadata) => Ok(metadata),
            None => self.discover().await,
        }
    }

    /// The metadata for a new sign-in, after checking that the IdP answers right now:
    /// sending a person to an IdP that is down would leave them at a browser error page,
    /// so that case is a 503 `idp_unavailable` here instead. One small request per sign-in.
    pub async fn metadata_for_sign_in(&self) -> Result<Arc<Metadata>, Error> {
        let Some(metadata) = self.metadata() else { return self.metadata_or_discover().await };
        let discovery_url =
            format!("{}/.well-known/openid-configuration", self.config.issuer.as_str().trim_end_matches('/'));
        let probe = self.http.get(discovery_url).timeout(PROBE_TIMEOUT).send().await;
        match probe {
            Ok(response) if response.status().is_success() => Ok(metadata),
            Ok(response) => Err(self.unavailable(format!("discovery document answered {}", response.status()))),
            Err(error) => Err(self.unavailable(error)),
        }
    }

    fn unavailable(&self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::IdpUnavailable { provider: self.name.clone(), source: cause(source) }
    }

    /// Fetches the discovery document and its JWKS, and caches both on success.
    pub async fn discover(&self) -> Result<Arc<Metadata>, Error> {
        let issuer = IssuerUrl::from_url(self.config.issuer.clone());
        match Metadata::discover_async(issuer, &self.http).await {
            Ok(metadata) => {
                let metadata = Arc::new(metadata);
                self.store(Arc::clone(&metadata));
                tracing::info!(provider = %self.name, "discovery document and keys loaded");
                Ok(metadata)
            }
            Err(error) => {
                if let Ok(mut guard) = self.last_error.write() {
                    *guard = Some(chain(&error));
                }
                Err(self.unavailable(error))
            }
        }
    }

    /// Re-fetches only the signing keys, after a token named a `kid` we do not know.
    pub async fn refresh_keys(&self) -> Result<Arc<Metadata>, Error> {
        let current = self.metadata_or_discover().await?;
        let jwks_url: JsonWebKeySetUrl = current.jwks_uri().clone();
        let keys = CoreJsonWebKeySet::fetch_async(&jwks_url, &self.http)
            .await
            .map_err(|error| self.unavailable(error))?;
        let refreshed = Arc::new((*current).clone().set_jwks(keys));
        self.store(Arc::clone(&refreshed));
        tracing::info!(provider = %self.name, "signing keys refreshed");
        Ok(refreshed)
    }

    fn store(&self, metadata: Arc<Metadata>) {
        if let Ok(mut guard) = self.metadata.write() {
            *guard = Some(metadata);
        }
        if let Ok(mut guard) = self.last_error.write() {
            *guard = None;
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
