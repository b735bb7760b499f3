//! Single requests to the app, before anything is measured: seeded cookies are answered
//! with 200 and the right content, by exactly the expected number of SQL statements; and
//! what the app says about itself (the sessions page size).

use std::time::Duration;

use crate::database::{calls_between, total, Calls, Databases};
use crate::error::{bail, log, Context, Result};

/// The app's session cookie (plain http: no `__Host-` prefix).
const COOKIE: &str = "latchkey_session";

pub struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    pub fn new(port: u16) -> Result<Http> {
        let client = reqwest::Client::builder()
            // A redirect to sign-in is an answer to check, not to follow.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Http { client, base: format!("http://127.0.0.1:{port}") })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The status of an unauthenticated GET, or None when nothing answers.
    pub async fn status(&self, path: &str) -> Option<u16> {
        let response = self.client.get(self.url(path)).timeout(Duration::from_secs(2)).send().await.ok()?;
        Some(response.status().as_u16())
    }

    /// GET with a session cookie: the status and the body.
    pub async fn get(&self, path: &str, token: &str) -> Result<(u16, String)> {
        let response = self
            .client
            .get(self.url(path))
            .header("Cookie", format!("{COOKIE}={token}"))
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status().as_u16();
        let body = response.text().await.with_context(|| format!("reading the answer to GET {path}"))?;
        Ok((status, body))
    }
}

/// What a single request must show besides its 200.
pub enum Expect {
    /// /: nothing more.
    Page,
    /// /api/session: the seeded person.
    SeededPerson,
    /// /sessions: this many rows.
    Rows(usize),
}

/// Each of the first `n` cookies on `path`, once unseen and once counted: every answer
/// must be 200 and as expected, and exactly `per_request` statements must run per counted
/// request. Returns the statements that ran, per statement.
///
/// The first request of a seeded cookie may write the session's activity stamp (due on
/// the seeded rows, as after a few minutes away), which real traffic does once per
/// interval: only the requests after it are counted.
pub async fn exact(
    http: &Http,
    db: &Databases,
    path: &str,
    cookies: &[String],
    n: usize,
    per_request: i64,
    expect: Expect,
) -> Result<Calls> {
    let cookies = &cookies[..n.min(cookies.len())];
    for token in cookies {
        let (status, _) = http.get(path, token).await?;
        if status != 200 {
            bail!("GET {path} with a seeded cookie answered {status}, not 200");
        }
    }
    let before = db.statement_calls().await?;
    for token in cookies {
        let (status, body) = http.get(path, token).await?;
        if status != 200 {
            bail!("GET {path} with a seeded cookie answered {status}, not 200");
        }
        match expect {
            Expect::Page => {}
            Expect::SeededPerson => {
                let json: serde_json::Value = serde_json::from_str(&body)
                    .with_context(|| format!("GET {path} did not answer JSON: {}", excerpt(&body)))?;
                let email = json.pointer("/user/email").and_then(|email| email.as_str()).unwrap_or_default();
                if !email.starts_with("bench-") {
                    bail!("GET {path} did not name the seeded person: {}", excerpt(&body));
                }
            }
            Expect::Rows(rows) => {
                let listed = body.matches("data-session-id=").count();
                if listed != rows {
                    bail!("GET {path} listed {listed} sessions, not {rows}");
                }
            }
        }
    }
    let after = db.statement_calls().await?;
    let ran = calls_between(&before, &after);
    let statements = total(&ran);
    let requests = cookies.len() as i64;
    if statements != requests * per_request {
        bail!("GET {path}: {statements} SQL statements for {requests} requests; expected {per_request} per request");
    }
    log!("GET {path}: {requests} seeded cookies, all 200, {per_request} statement(s) each");
    Ok(ran)
}

/// The sessions list as the app pages it, from /api/sessions.
pub struct Paging {
    pub per_page: u64,
    pub total: u64,
    pub pages: u64,
}

pub async fn paging(http: &Http, token: &str) -> Result<Paging> {
    let (status, body) = http.get("/api/sessions", token).await?;
    if status != 200 {
        bail!("GET /api/sessions with a seeded cookie answered {status}, not 200");
    }
    let json: serde_json::Value = serde_json::from_str(&body)
        .with_context(|| format!("GET /api/sessions did not answer JSON: {}", excerpt(&body)))?;
    let number = |key: &str| {
        json.get(key).and_then(serde_json::Value::as_u64).with_context(|| format!("GET /api/sessions has no {key}"))
    };
    Ok(Paging { per_page: number("per_page")?, total: number("total")?, pages: number("pages")? })
}

fn excerpt(body: &str) -> String {
    body.chars().take(300).collect()
}
