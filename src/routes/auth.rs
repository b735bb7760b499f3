//! Sign-in: `auth/login` starts the flow (or offers a choice of providers) and
//! `auth/callback` finishes it: the app's hooks decide, then the user, account and
//! session are written in one transaction.

use std::sync::Arc;

use rocket::http::CookieJar;
use rocket::response::Redirect;

use crate::error::{cause, Error};
use crate::guards::Ctx;
use crate::guards::{ClientInfo, SessionCookies};
use crate::hooks::{Event, SignIn};
use crate::oidc::flow::{self, CallbackParams, Completed, Insist};
use crate::oidc::logout::ID_TOKEN_COLUMN;
use crate::oidc::refresh::{ACCESS_TOKEN_COLUMN, REFRESH_TOKEN_COLUMN};
use crate::oidc::return_to;
use crate::session::SessionToken;
use crate::shared::Shared;
use crate::store::{AccountTokens, NewSession, NewSignIn, SignInOutcome};

/// Most the app's extra profile fields may take, serialized: they are read with the
/// session on every guarded request.
const EXTRA_MAX_BYTES: usize = 8 * 1024;

/// The largest `max_age` a sign-in may ask for: a day.
const MAX_AGE_LIMIT: u64 = 24 * 60 * 60;

pub(crate) fn routes() -> Vec<rocket::Route> {
    rocket::routes![login, callback]
}

#[derive(rocket::Responder)]
enum LoginResponse {
    Redirect(Box<Redirect>),
    #[cfg(feature = "pages")]
    Chooser(rocket::response::content::RawHtml<String>),
    #[cfg(not(feature = "pages"))]
    Chooser(rocket::serde::json::Json<serde_json::Value>),
}

/// `prompt=login` (the only prompt value accepted) makes the IdP ask for credentials even
/// when it has a single sign-on session; `max_age=N` accepts only an authentication at
/// most N seconds old (the recent-sign-in guard sends people here with it).
#[rocket::get("/auth/login?<return_to>&<provider>&<prompt>&<max_age>")]
async fn login(
    return_to: Option<&str>,
    provider: Option<&str>,
    prompt: Option<&str>,
    max_age: Option<&str>,
    shared: Ctx<'_>,
    jar: &CookieJar<'_>,
) -> Result<LoginResponse, Error> {
    let return_to = return_to::sanitize(return_to);
    let force_login = prompt == Some("login");
    let max_age = match max_age {
        None => None,
        Some(text) => match text.parse::<u64>() {
            Ok(seconds) if seconds <= MAX_AGE_LIMIT => Some(std::time::Duration::from_secs(seconds)),
            _ => {
                return Err(Error::BadRequest(format!(
                    "max_age must be a whole number of seconds up to {MAX_AGE_LIMIT}"
                )))
            }
        },
    };
    let chosen = match provider {
        Some(name) => shared.providers.get(name).ok_or(Error::UnknownProvider)?,
        None if shared.providers.len() == 1 => shared.providers.iter().next().ok_or(Error::UnknownProvider)?,
        None => return chooser(&shared, &return_to, force_login).map(LoginResponse::Chooser),
    };
    let metadata = chosen.metadata_for_sign_in().await?;
    let insist = Insist { login: force_login || shared.cookies.reauth_required(jar), max_age };
    let url = flow::start(chosen, &metadata, &shared.oidc(), return_to, insist, jar)?;
    Ok(LoginResponse::Redirect(Box::new(Redirect::to(url))))
}

#[cfg(feature = "pages")]
fn chooser(
    shared: &Shared,
    return_to: &str,
    prompt: bool,
) -> Result<rocket::response::content::RawHtml<String>, Error> {
    let providers: Vec<_> = shared
        .providers
        .iter()
        .map(|p| serde_json::json!({ "name": &p.name, "label": p.config.display_name(&p.name) }))
        .collect();
    let layout = crate::guards::Layout::new(shared, None);
    shared.pages.render(
        "choose_provider",
        &serde_json::json!({ "layout": layout, "providers": providers, "return_to": return_to, "prompt": prompt }),
    )
}

/// Without pages: the choice as JSON, each with the link that starts it.
#[cfg(not(feature = "pages"))]
fn chooser(
    shared: &Shared,
    return_to: &str,
    prompt: bool,
) -> Result<rocket::serde::json::Json<serde_json::Value>, Error> {
    let query = |name: &str| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("provider", name).append_pair("return_to", return_to);
        if prompt {
            query.append_pair("prompt", "login");
        }
        query.finish()
    };
    let providers: Vec<_> = shared
        .providers
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": &p.name, "label": p.config.display_name(&p.name),
                "login_url": format!("{}?{}", shared.paths.login, query(&p.name)),
            })
        })
        .collect();
    Ok(rocket::serde::json::Json(serde_json::json!({ "providers": providers })))
}

#[rocket::get("/auth/callback?<params..>")]
async fn callback(
    params: CallbackParams<'_>,
    shared: Ctx<'_>,
    client: ClientInfo,
    brought: SessionCookies,
    jar: &CookieJar<'_>,
) -> Result<Redirect, Error> {
    // A refusal is counted under the provider once the answer is known to be its own.
    let completed = match flow::finish(&params, &shared.oidc(), jar).await {
        Ok(completed) => completed,
        Err(error) => {
            shared.metrics.sign_in(UNKNOWN_PROVIDER, error.code());
            return Err(error);
        }
    };
    let provider = Arc::clone(&completed.provider);
    let finished = complete(&shared, completed, &client, &brought, jar).await;
    if let Err(error) = &finished {
        shared.metrics.sign_in(&provider.name, error.code());
    }
    finished
}

/// What the metrics name the provider of a sign-in refused before its answer was known
/// to come from a configured provider.
const UNKNOWN_PROVIDER: &str = "unknown";

/// The rest of a sign-in, once the provider's answer is verified: the app's hooks, the
/// rows, the cookie.
async fn complete(
    shared: &Ctx<'_>,
    completed: Completed,
    client: &ClientInfo,
    brought: &SessionCookies,
    jar: &CookieJar<'_>,
) -> Result<Redirect, Error> {
    if let Some(again) = silent_reentry(shared, &completed).await? {
        return Ok(again);
    }
    let sign_in = SignIn { provider: &completed.provider.name, subject: &completed.subject, claims: &completed.claims };
    let profile =
        shared.hooks.profile(&sign_in, completed.profile.clone(), shared.rocket).await.map_err(Error::SignInRefused)?;
    shared.hooks.allow_sign_in(&sign_in, &profile, shared.rocket).await.map_err(Error::SignInRefused)?;
    let extra_size = serde_json::to_string(&profile.extra).map_or(usize::MAX, |text| text.len());
    if extra_size > EXTRA_MAX_BYTES {
        return Err(Error::internal(format!(
            "the profile hook's extra fields take {extra_size} bytes, over {EXTRA_MAX_BYTES}"
        )));
    }

    // A fresh token at every sign-in: nothing an attacker planted survives it.
    let token = SessionToken::generate();
    let new = NewSignIn {
        provider: &completed.provider.name,
        subject: &completed.subject,
        profile: &profile,
        allow_email_linking: completed.provider.config.allow_email_linking,
        tokens: sealed_tokens(shared, &completed)?,
        token: &token,
        session: NewSession {
            provider: &completed.provider.name,
            subject: &completed.subject,
            idp_sid: completed.idp_sid.as_deref(),
            sealed_id_token: Some(seal(shared, &completed.id_token, ID_TOKEN_COLUMN)?),
            sealed_access_token: Some(seal(shared, &completed.access_token, ACCESS_TOKEN_COLUMN)?),
            access_expires_at: completed.expires_at,
            sealed_refresh_token: match &completed.refresh_token {
                Some(token) => Some(seal(shared, token, REFRESH_TOKEN_COLUMN)?),
                None => None,
            },
            auth_time: completed.auth_time,
            user_agent: client.user_agent.as_deref(),
            ip: client.ip,
            roles: &profile.roles,
        },
        previous: &brought.0,
    };
    let signed_in = match shared.store.sign_in(new).await? {
        SignInOutcome::SignedIn(signed_in) => signed_in,
        SignInOutcome::EmailTaken => return Err(Error::AccountNotLinked),
    };

    let (user_id, session_id) = (signed_in.user_id, signed_in.session_id);
    tracing::info!(
        %user_id, %session_id, provider = %completed.provider.name, ended = signed_in.ended,
        new_device = signed_in.new_device, "signed in"
    );
    shared.cookies.set_session(jar, &token, shared.config.session.max_age);
    shared.cookies.clear_reauth(jar);
    let event = Event::SignedIn {
        user_id,
        session_id,
        provider: completed.provider.name.clone(),
        new_user: signed_in.new_user,
    };
    shared.announce(&event, shared.rocket).await;
    if signed_in.new_device {
        let event = Event::NewDevice { user_id, session_id, device: signed_in.device, ip: client.ip };
        shared.announce(&event, shared.rocket).await;
    }
    Ok(Redirect::to(completed.return_to))
}

/// Whether the provider signed the person in silently on a provider session whose latchkey
/// session was revoked (no authentication since): then the sign-in starts again, asking
/// the provider for the password. If the provider was asked already and still did not
/// authenticate, the sign-in is refused.
async fn silent_reentry(shared: &Ctx<'_>, completed: &Completed) -> Result<Option<Redirect>, Error> {
    let Some(sid) = completed.idp_sid.as_deref() else { return Ok(None) };
    let Some((revoked_at, revoked_auth)) = shared.store.revoked(&completed.provider.name, sid).await? else {
        return Ok(None);
    };
    // Compared on the provider's clock where it can be: a newer authentication than the
    // one the revoked session rested on. Without that, one after the revocation.
    let authenticated_since = match (completed.auth_time, revoked_auth) {
        (Some(now), Some(then)) => now > then,
        (Some(now), None) => now > revoked_at,
        (None, _) => false,
    };
    if authenticated_since {
        return Ok(None);
    }
    if completed.forced_login {
        return Err(Error::InvalidIdToken(cause("auth_time is not after the revocation of this provider session")));
    }
    tracing::info!(provider = %completed.provider.name, "a sign-in rode a revoked provider session: asking for the password");
    let again = format!(
        "{}&provider={}&prompt=login",
        shared.paths.login_returning(&completed.return_to),
        completed.provider.name
    );
    Ok(Some(Redirect::to(again)))
}

fn seal(shared: &Shared, text: &str, column: &str) -> Result<String, Error> {
    shared.keyring.seal(text, column).map_err(|e| Error::internal_from(format!("sealing {column}"), e))
}

/// The token endpoint's answer as the account row keeps it.
fn sealed_tokens<'a>(shared: &Shared, completed: &'a Completed) -> Result<AccountTokens<'a>, Error> {
    Ok(AccountTokens {
        sealed_access_token: seal(shared, &completed.access_token, "accounts.access_token")?,
        sealed_refresh_token: match &completed.refresh_token {
            Some(token) => Some(seal(shared, token, "accounts.refresh_token")?),
            None => None,
        },
        sealed_id_token: seal(shared, &completed.id_token, "accounts.id_token")?,
        expires_at: completed.expires_at,
        token_type: &completed.token_type,
        scope: completed.scope.as_deref(),
        session_state: completed.session_state.as_deref(),
    })
}
