//! Sign-in: `/auth/login` starts the flow (or shows the provider chooser) and
//! `/auth/callback` finishes it, creating the user, account and session in one transaction.

use rocket::http::CookieJar;
use rocket::response::Redirect;
use rocket::State;
use rocket_db_pools::Connection;
use rocket_dyn_templates::{context, Template};

use crate::accounts;
use crate::config::AuthConfig;
use crate::crypto::TokenCipher;
use crate::db::AuthDb;
use crate::error::AppError;
use crate::guards::ClientInfo;
use crate::oidc::flow::{self, CallbackParams};
use crate::oidc::{return_to, Providers};
use crate::session::{cookie, NewSession, SessionStore, SessionToken};

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![login, callback]
}

#[derive(rocket::Responder)]
pub enum LoginResponse {
    Redirect(Redirect),
    Chooser(Template),
}

/// `prompt=login` (the only prompt value accepted) makes the IdP ask for credentials even
/// when it has a single sign-on session.
#[rocket::get("/auth/login?<return_to>&<provider>&<prompt>")]
async fn login(
    return_to: Option<&str>,
    provider: Option<&str>,
    prompt: Option<&str>,
    providers: &State<Providers>,
    config: &State<AuthConfig>,
    jar: &CookieJar<'_>,
) -> Result<LoginResponse, AppError> {
    let return_to = return_to::sanitize(return_to);
    let chosen = match provider {
        Some(name) => providers.get(name).ok_or(AppError::UnknownProvider)?,
        None if providers.len() == 1 => providers.iter().next().ok_or(AppError::UnknownProvider)?,
        None => {
            let choices: Vec<_> =
                providers.iter().map(|p| context! { name: &p.name, label: p.config.display_name(&p.name) }).collect();
            return Ok(LoginResponse::Chooser(Template::render(
                "choose_provider",
                context! { providers: choices, return_to: &return_to, prompt: prompt == Some("login") },
            )));
        }
    };
    let metadata = chosen.metadata_for_sign_in().await?;
    let force_login = prompt == Some("login") || cookie::reauth_required(jar);
    let url = flow::start(chosen, &metadata, config, return_to, force_login, jar)?;
    Ok(LoginResponse::Redirect(Redirect::to(url)))
}

#[rocket::get("/auth/callback?<params..>")]
async fn callback(
    params: CallbackParams<'_>,
    providers: &State<Providers>,
    config: &State<AuthConfig>,
    client: ClientInfo,
    cipher: &State<TokenCipher>,
    jar: &CookieJar<'_>,
    mut db: Connection<AuthDb>,
) -> Result<Redirect, AppError> {
    let completed = flow::finish(&params, providers, config, jar).await?;
    let allow_linking = providers.get(&completed.provider).is_some_and(|p| p.config.allow_email_linking);

    // A fresh token at every sign-in: nothing an attacker planted survives it.
    let token = SessionToken::generate();
    let mut tx = rocket_db_pools::sqlx::Connection::begin(&mut **db).await?;
    let user_id =
        accounts::upsert(&mut tx, &completed.identity, &completed.account_tokens(), cipher, allow_linking).await?;
    let new = NewSession {
        user_id,
        provider: &completed.provider,
        idp_sid: completed.idp_sid.as_deref(),
        id_token: Some(&completed.id_token),
        user_agent: client.user_agent.as_deref(),
        ip: client.ip,
    };
    let (session_id, _expires_at) = SessionStore::create(&config.session, cipher, &mut tx, &token, new).await?;
    tx.commit().await?;

    tracing::info!(%user_id, %session_id, provider = %completed.provider, "signed in");
    cookie::set(jar, config, &token, config.session.max_age);
    cookie::clear_reauth(jar);
    Ok(Redirect::to(completed.return_to))
}
