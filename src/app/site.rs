//! The reference app's Rocket: latchkey with its security headers, request log and admin
//! console, latchkey's catchers for the whole site, and two pages of the app's own in
//! latchkey's layout: the guarded home page, and the person's Keycloak account as
//! Keycloak's account API tells it, called with their access token.

use std::time::Duration;

use latchkey::{AccessToken, AuthenticatedUser, Latchkey, Layout, RequestLog, SecurityHeaders};
use rocket::figment::Figment;
use rocket::shield::Shield;
use rocket::{get, routes, Build, Rocket, State};
use rocket_dyn_templates::{context, Template};
use serde_json::Value;

/// The app on `figment` (`latchkey::figment()` when run; the tests pass their own).
pub fn rocket(figment: Figment) -> Rocket<Build> {
    let account_api = AccountApi::new(&figment);
    rocket::custom(figment)
        .manage(account_api)
        .attach(Latchkey::fairing().admin_console("latchkey-admin"))
        // Rocket's default Shield sets X-Content-Type-Options, X-Frame-Options and
        // Permissions-Policy on every response, and SecurityHeaders then replaces all three
        // with stricter values: a Shield without policies does no work that is thrown away.
        .attach(Shield::new())
        .attach(SecurityHeaders::fairing())
        .attach(RequestLog)
        .attach(Template::try_custom(|engines| Ok(latchkey::register_templates(&mut engines.tera)?)))
        .mount("/", routes![home, account])
        .register("/", latchkey::catchers())
}

#[get("/")]
fn home(user: AuthenticatedUser, layout: Layout<'_>) -> Template {
    Template::render(
        "home",
        context! {
            layout,
            expires: user.session.expires_at.to_rfc3339(),
            absolute_expires: user.session.absolute_expires_at.to_rfc3339(),
            roles: &user.roles,
        },
    )
}

/// The upstream API the account page calls: Keycloak's account REST API
/// (`{issuer}/account`), which answers only to the person's own access token.
struct AccountApi {
    http: reqwest::Client,
    url: Option<String>,
}

impl AccountApi {
    fn new(figment: &Figment) -> AccountApi {
        let issuer = figment.extract_inner::<String>("auth.providers.keycloak.issuer").ok();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        AccountApi { http, url: issuer.map(|issuer| format!("{}/account", issuer.trim_end_matches('/'))) }
    }
}

#[get("/account")]
async fn account(token: AccessToken, layout: Layout<'_>, api: &State<AccountApi>) -> Result<Template, latchkey::Error> {
    let url = api.url.as_deref().ok_or(latchkey::Error::NotFound)?;
    let answer = api.http.get(url).bearer_auth(token.secret()).header("Accept", "application/json").send().await;
    let response = answer.map_err(|error| {
        tracing::warn!("Keycloak's account API did not answer: {error}");
        latchkey::Error::Unavailable
    })?;
    let status = response.status().as_u16();
    let account: Value = response.json().await.unwrap_or(Value::Null);
    Ok(Template::render(
        "account",
        context! {
            layout,
            status,
            account,
            token_expires: token.expires_at().map(|at| at.to_rfc3339()),
        },
    ))
}
