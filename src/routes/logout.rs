//! Signing out: `auth/logout` (a confirm page on GET, the sign-out on POST, which also
//! ends the IdP session), the signed-out page, and `auth/backchannel-logout`, where the
//! IdP tells us that sessions ended on its side.

use rocket::form::Form;
use rocket::http::{CookieJar, Header};
use rocket::response::Redirect;
use rocket::serde::json::{json, Json, Value};

use crate::error::Error;
use crate::guards::Ctx;
#[cfg(feature = "pages")]
use crate::guards::SignedIn;
use crate::guards::{ChangeRequest, ClientInfo};
use crate::hooks::Event;
use crate::oidc::{backchannel, logout};
use crate::shared::Shared;
use crate::store::{Actor, EventKind};

pub(crate) fn routes() -> Vec<rocket::Route> {
    #[cfg(feature = "pages")]
    return rocket::routes![confirm, sign_out, signed_out, backchannel_logout];
    #[cfg(not(feature = "pages"))]
    return rocket::routes![sign_out, signed_out, backchannel_logout];
}

/// A form's CSRF token field.
#[derive(rocket::FromForm)]
pub(crate) struct CsrfForm<'r> {
    pub csrf_token: Option<&'r str>,
}

#[cfg(feature = "pages")]
#[derive(rocket::Responder)]
enum Confirm {
    Page(rocket::response::content::RawHtml<String>),
    AlreadySignedOut(Box<Redirect>),
}

/// GET changes nothing: it asks (or, signed out already, says so).
#[cfg(feature = "pages")]
#[rocket::get("/auth/logout")]
async fn confirm(signed_in: SignedIn, shared: Ctx<'_>) -> Result<Confirm, Error> {
    match signed_in.0 {
        Ok(user) => {
            let layout = crate::guards::Layout::for_page(&shared, &user).await;
            shared.pages.render("logout", &json!({ "layout": layout })).map(Confirm::Page)
        }
        Err(Error::Unauthenticated) => {
            Ok(Confirm::AlreadySignedOut(Box::new(Redirect::to(shared.paths.signed_out.clone()))))
        }
        Err(error) => Err(error),
    }
}

#[rocket::post("/auth/logout", data = "<form>")]
async fn sign_out(
    form: Form<CsrfForm<'_>>,
    change: ChangeRequest,
    client: ClientInfo,
    shared: Ctx<'_>,
    jar: &CookieJar<'_>,
) -> Result<Redirect, Error> {
    let user = change.verified(form.csrf_token)?;
    let by = Actor::at(client.user_agent.as_deref(), client.ip);
    let ended = shared.store.end(user.id, user.session.id, EventKind::SignOut, &by).await?;
    tracing::info!(user_id = %user.id, session_id = %user.session.id, "signed out");
    shared.announce(&Event::SignedOut { user_id: user.id, session_id: user.session.id }, shared.rocket).await;
    Ok(Redirect::to(logout::finish(&shared.oidc(), jar, ended)))
}

/// Where people land after signing out (here, everywhere, or back from the IdP's logout,
/// whose `state` must be the one this browser was sent with).
#[rocket::get("/signed-out?<state>")]
fn signed_out(state: Option<&str>, jar: &CookieJar<'_>, shared: Ctx<'_>) -> Result<SignedOutPage, Error> {
    let provider = logout::returned_from(&shared.oidc(), state, jar);
    let name = provider.as_deref().map(|name| match shared.providers.get(name) {
        Some(provider) => provider.config.display_name(&provider.name).to_string(),
        None => name.to_string(),
    });
    signed_out_page(&shared, provider.as_deref(), name.as_deref())
}

#[cfg(feature = "pages")]
type SignedOutPage = rocket::response::content::RawHtml<String>;

#[cfg(feature = "pages")]
fn signed_out_page(shared: &Shared, _provider: Option<&str>, name: Option<&str>) -> Result<SignedOutPage, Error> {
    let message = match name {
        Some(name) => format!("You are signed out of {} and of {name}.", shared.site_name),
        None => format!("You are signed out of {}.", shared.site_name),
    };
    shared
        .pages
        .render("signed_out", &json!({ "layout": crate::guards::Layout::new(shared, None), "message": message }))
}

#[cfg(not(feature = "pages"))]
type SignedOutPage = Json<Value>;

#[cfg(not(feature = "pages"))]
fn signed_out_page(_: &Shared, provider: Option<&str>, _: Option<&str>) -> Result<SignedOutPage, Error> {
    Ok(Json(json!({ "signed_out": true, "provider": provider })))
}

#[derive(rocket::FromForm)]
struct BackchannelForm<'r> {
    logout_token: Option<&'r str>,
}

#[derive(rocket::Responder)]
struct NoStore<T>(T, Header<'static>);

/// Server to server, so no CSRF token: the signed logout token is the authentication.
/// Verified, not replayed, then the sessions it names are deleted, all in one
/// transaction; anything invalid is 400 and deletes nothing.
#[rocket::post("/auth/backchannel-logout", data = "<form>")]
async fn backchannel_logout(form: Form<BackchannelForm<'_>>, shared: Ctx<'_>) -> Result<NoStore<Json<Value>>, Error> {
    let token = form.logout_token.filter(|token| !token.is_empty() && token.len() <= 16 * 1024);
    let token = token.ok_or_else(|| Error::InvalidLogoutToken("no logout_token".into()))?;
    let request = backchannel::verify(token, &shared.providers).await?;
    let deleted = shared
        .store
        .backchannel_logout(&request.as_token())
        .await?
        .ok_or_else(|| Error::InvalidLogoutToken("this token was already used".into()))?;

    let by_sid = matches!(request.ends, backchannel::Ends::ProviderSession { .. });
    tracing::info!(provider = %request.provider, by_sid, deleted, "back-channel logout");
    let event = Event::BackchannelLogout { provider: request.provider.clone(), sessions: deleted };
    shared.announce(&event, shared.rocket).await;
    Ok(NoStore(Json(json!({ "deleted": deleted })), Header::new("Cache-Control", "no-store")))
}
