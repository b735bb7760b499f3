//! The OpenID Connect client latchkey uses: openidconnect's core types, except that an
//! ID token keeps every claim the provider sent (Keycloak's `sid`, `realm_access`, an
//! app's own), for the hooks and the store, instead of only the standard ones.

use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, Client, ClientId, ClientSecret, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IdTokenFields, RedirectUrl, StandardErrorResponse, StandardTokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::oidc::provider::{Metadata, Provider};
use crate::oidc::OidcContext;

/// How far a token's `iat` may lie in the future (clock skew between us and the IdP).
pub(crate) const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Every claim that is not a standard one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OtherClaims {
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

type Fields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// The token endpoint's answer.
pub(crate) type TokenResponse = StandardTokenResponse<Fields, CoreTokenType>;

/// An ID token with all its claims.
pub(crate) type IdToken =
    openidconnect::IdToken<OtherClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// A client with the provider's authorization endpoint, and token and userinfo endpoints
/// where the discovery document names them.
pub(crate) type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The client for `provider`, redirecting back to this app's callback.
pub(crate) fn client(provider: &Provider, metadata: &Metadata, ctx: &OidcContext<'_>) -> Result<OidcClient, Error> {
    let secret = provider.config.client_secret.as_ref().map(|secret| ClientSecret::new(secret.expose().to_string()));
    let redirect = RedirectUrl::new(ctx.config.url_for(&ctx.paths.callback))
        .map_err(|e| Error::internal_from("redirect URL", e))?;
    Ok(Client::from_provider_metadata(metadata.clone(), ClientId::new(provider.config.client_id.clone()), secret)
        .set_redirect_uri(redirect))
}
