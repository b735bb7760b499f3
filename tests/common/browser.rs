//! A person with a browser, made of plain HTTP clients: the app (Rocket's in-process
//! client) and the real Keycloak (reqwest), each with this person's own cookies.

use std::collections::HashMap;

use rocket::http::{ContentType, Cookie, Header, Method, Status};
use rocket::local::asynchronous::{Client, LocalResponse};

/// The origin of the app in tests (its base_url).
pub const APP_ORIGIN: &str = "http://127.0.0.1:8000";

/// One browser profile: its cookies for the app, and a cookie jar for Keycloak.
pub struct Browser<'c> {
    pub app: &'c Client,
    pub cookies: HashMap<String, String>,
    pub user_agent: String,
    /// latchkey's sign-in route on this app.
    login: String,
    idp: reqwest::Client,
}

/// An app response, reduced to what tests look at.
#[derive(Debug)]
pub struct Page {
    pub status: Status,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Page {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl<'c> Browser<'c> {
    pub fn new(app: &'c Client, user_agent: &str) -> Browser<'c> {
        let idp = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client");
        Browser { app, cookies: HashMap::new(), user_agent: user_agent.to_string(), login: "/auth/login".into(), idp }
    }

    /// A browser in which `user` (password = user name) has signed in on `app`.
    pub async fn signed_in(app: &'c Client, user: &str, agent: &str) -> Browser<'c> {
        let mut browser = Browser::new(app, agent);
        let page = browser.sign_in(user, user, "/").await;
        assert_eq!(page.status, Status::SeeOther, "{}", page.body);
        browser
    }

    /// This browser signs in with the provider `name` (of several).
    pub fn for_provider(mut self, name: &str) -> Browser<'c> {
        self.login = format!("{}?provider={name}", self.login);
        self
    }

    /// A browser on an app that mounts latchkey under `base` (e.g. "/account").
    pub fn under(app: &'c Client, user_agent: &str, base: &str) -> Browser<'c> {
        let mut browser = Browser::new(app, user_agent);
        browser.login = format!("{base}/auth/login");
        browser
    }

    /// Another browser on `app` with a copy of `other`'s app cookies (the same device).
    pub fn with_cookies(app: &'c Client, other: &Browser<'_>) -> Browser<'c> {
        let mut browser = Browser::new(app, &other.user_agent);
        browser.cookies = other.cookies.clone();
        browser
    }

    /// A GET to the app from 127.0.0.1 with this browser's cookies; remembers what it sets.
    pub async fn get(&mut self, uri: &str) -> Page {
        self.send(Method::Get, uri, None, &[]).await
    }

    /// A form POST as a page of this site submits it (same-origin `Origin`).
    pub async fn post_form(&mut self, uri: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        self.send(Method::Post, uri, Some(body), &[("Origin", APP_ORIGIN)]).await
    }

    /// Any request, with exactly the extra headers given (no implicit `Origin`).
    pub async fn send(&mut self, method: Method, uri: &str, form: Option<String>, headers: &[(&str, &str)]) -> Page {
        let mut request =
            self.app.req(method, uri.to_string()).header(Header::new("User-Agent", self.user_agent.clone()));
        request = request.remote("127.0.0.1:40000".parse().expect("socket address"));
        for (name, value) in headers {
            request = request.header(Header::new(name.to_string(), value.to_string()));
        }
        if let Some(body) = form {
            request = request.header(ContentType::Form).body(body);
        }
        for (name, value) in &self.cookies {
            request = request.cookie(Cookie::new(name.clone(), value.clone()));
        }
        let response = request.dispatch().await;
        self.absorb(response).await
    }

    async fn absorb(&mut self, response: LocalResponse<'_>) -> Page {
        let status = response.status();
        let location = response.headers().get_one("Location").map(str::to_string);
        let set_cookies: Vec<String> = response.headers().get("Set-Cookie").map(str::to_string).collect();
        for header in &set_cookies {
            // Rocket percent-encodes cookie values on the wire.
            let Ok(cookie) = Cookie::parse_encoded(header.clone()) else { continue };
            let removed =
                cookie.max_age().is_some_and(|age| age.is_zero() || age.is_negative()) || cookie.value().is_empty();
            if removed {
                self.cookies.remove(cookie.name());
            } else {
                self.cookies.insert(cookie.name().to_string(), cookie.value().to_string());
            }
        }
        let body = response.into_string().await.unwrap_or_default();
        Page { status, location, set_cookies, body }
    }

    /// Starts sign-in at the app and returns the IdP authorization URL it redirects to.
    pub async fn start_sign_in(&mut self, return_to: &str) -> String {
        let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        let separator = if self.login.contains('?') { '&' } else { '?' };
        let page = self.get(&format!("{}{separator}return_to={encoded}", self.login)).await;
        assert_eq!(page.status, Status::SeeOther, "login did not redirect: {}", page.body);
        page.location.expect("login redirect has a Location")
    }

    /// Submits Keycloak's login form for `authorize_url`; returns where Keycloak sends
    /// the browser next (the app's callback URL on success).
    pub async fn keycloak_login(&self, authorize_url: &str, username: &str, password: &str) -> String {
        let form = self.idp.get(authorize_url).send().await.expect("Keycloak login page");
        let status = form.status();
        let html = form.text().await.expect("login page text");
        if status.is_redirection() {
            panic!("Keycloak redirected without a login form (SSO session?): {html}");
        }
        let action = form_action(&html).unwrap_or_else(|| panic!("no kc-form-login in: {html}"));
        let answer = self
            .idp
            .post(action)
            .form(&[("username", username), ("password", password), ("credentialId", "")])
            .send()
            .await
            .expect("post credentials");
        assert!(answer.status().is_redirection(), "Keycloak did not accept {username}: {}", answer.status());
        answer.headers()["location"].to_str().expect("location").to_string()
    }

    /// Keycloak's answer to `authorize_url` in this browser, whatever it is.
    pub async fn idp_get(&self, authorize_url: &str) -> reqwest::Response {
        self.idp.get(authorize_url).send().await.expect("Keycloak authorize")
    }

    /// Where Keycloak sends the browser for `authorize_url` when it already has an SSO
    /// session (no login form).
    pub async fn idp_redirect(&self, authorize_url: &str) -> String {
        let answer = self.idp.get(authorize_url).send().await.expect("Keycloak authorize");
        let status = answer.status();
        if !status.is_redirection() {
            let body = answer.text().await.unwrap_or_default();
            panic!(
                "Keycloak showed a page ({status}) instead of redirecting: {}",
                body.chars().take(600).collect::<String>()
            );
        }
        answer.headers()["location"].to_str().expect("location").to_string()
    }

    /// Follows an absolute URL on the app (as Keycloak redirects to it) in this browser.
    pub async fn follow(&mut self, absolute: &str) -> Page {
        let url = url::Url::parse(absolute).expect("absolute URL");
        let path = match url.query() {
            Some(query) => format!("{}?{}", url.path(), query),
            None => url.path().to_string(),
        };
        self.get(&path).await
    }

    /// The whole sign-in: app → Keycloak form → callback. Returns the callback's answer.
    pub async fn sign_in(&mut self, username: &str, password: &str, return_to: &str) -> Page {
        let authorize = self.start_sign_in(return_to).await;
        let callback = self.keycloak_login(&authorize, username, password).await;
        self.follow(&callback).await
    }

    /// This browser's session CSRF token, as an API client gets it.
    pub async fn csrf_token(&mut self) -> String {
        self.get("/api/csrf").await.json()["csrf_token"].as_str().expect("csrf token").to_string()
    }

    pub async fn is_signed_in(&mut self) -> bool {
        self.get("/api/session").await.status == Status::Ok
    }

    /// `GET /api/sessions`: this person's sessions.
    pub async fn sessions(&mut self) -> Vec<serde_json::Value> {
        let page = self.get("/api/sessions").await;
        assert_eq!(page.status, Status::Ok, "{}", page.body);
        page.json()["sessions"].as_array().cloned().expect("sessions array")
    }

    /// The public id of this browser's own session, on an app with latchkey under `base`.
    pub async fn current_session_id_at(&mut self, base: &str) -> String {
        let page = self.get(&format!("{base}/api/sessions")).await;
        let sessions = page.json()["sessions"].as_array().cloned().expect("sessions array");
        let current = sessions.iter().find(|s| s["current"] == true).expect("a current session");
        current["id"].as_str().expect("id").to_string()
    }

    /// The public id of this browser's own session.
    pub async fn current_session_id(&mut self) -> String {
        let sessions = self.sessions().await;
        let current = sessions.iter().find(|s| s["current"] == true).expect("a current session");
        current["id"].as_str().expect("id").to_string()
    }

    pub fn session_cookie(&self) -> Option<&String> {
        self.cookies.get("latchkey_session").or_else(|| self.cookies.get("__Host-latchkey_session"))
    }
}

/// The `action` of Keycloak's `<form id="kc-form-login">`, HTML-unescaped.
fn form_action(html: &str) -> Option<String> {
    let form = &html[html.find("id=\"kc-form-login\"")?..];
    let start = form.find("action=\"")? + "action=\"".len();
    let end = start + form[start..].find('"')?;
    Some(form[start..end].replace("&amp;", "&"))
}
