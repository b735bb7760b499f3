//! Ending at the provider the sessions revoked here: each revoked session's provider
//! session (`sid`), for providers whose admin API latchkey may use
//! (`keycloak_admin_api`). It runs apart from the request that revoked, one at a time;
//! when the provider cannot be reached the revocation still holds, because a sign-in
//! that rides a revoked provider session is refused (see `revoked_idp_sessions`).

use std::sync::Arc;

use rocket::Shutdown;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::error::chain;
use crate::oidc::Provider;
use crate::store::IdpSession;

/// Takes revoked provider sessions off `queue` until Rocket shuts down.
pub(crate) fn spawn(providers: Vec<Arc<Provider>>, mut queue: UnboundedReceiver<IdpSession>, mut shutdown: Shutdown) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                ended = queue.recv() => match ended {
                    Some(ended) => end(&providers, &ended).await,
                    None => break,
                },
                _ = &mut shutdown => break,
            }
        }
    });
}

async fn end(providers: &[Arc<Provider>], ended: &IdpSession) {
    let Some(provider) = providers.iter().find(|provider| provider.name == ended.provider) else { return };
    if !provider.config.keycloak_admin_api {
        return;
    }
    match provider.end_keycloak_session(&ended.sid).await {
        Ok(()) => tracing::info!(provider = %provider.name, "ended the provider session of a revoked session"),
        Err(error) => tracing::warn!(
            provider = %provider.name,
            "could not end the provider session of a revoked session (a sign-in riding it is still refused): {}",
            chain(&error)
        ),
    }
}
