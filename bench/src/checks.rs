//! Single requests to the app, before anything is measured: seeded cookies are answered
//! with 200 and the right content, by exactly the expected number of SQL statements; and
//! what the app says about itself (the sessions page size).

use std::time::Duration;

use crate::database::{calls_between, total, Calls, Databases};
use crate::error::{bail, log, Context, Result};
use crate::wrk::COOKIE;

pub struct Http {
    client: reqwest::Client,
    base: String,
    port: u16,
}

impl Http {
    pub fn new(port: u16) -> Result<Http> {
        let client = reqwest::Client::builder()
            // A redirect to sign-in is an answer to check, not to follow.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Http { client, base: format!("http://127.0.0.1:{port}"), port })
    }

    pub fn port(&self) -> u16 {
        self.port
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

impl Http {
    /// The session's CSRF token, from /api/csrf.
    pub async fn csrf_token(&self, token: &str) -> Result<String> {
        let (status, body) = self.get("/api/csrf", token).await?;
        if status != 200 {
            bail!("GET /api/csrf with a seeded cookie answered {status}, not 200");
        }
        let json: serde_json::Value = serde_json::from_str(&body)
            .with_context(|| format!("GET /api/csrf did not answer JSON: {}", excerpt(&body)))?;
        json.get("csrf_token")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .with_context(|| format!("GET /api/csrf has no csrf_token: {}", excerpt(&body)))
    }

    /// DELETE with a session cookie and its CSRF token, from this site's own origin (as a
    /// browser's fetch sends it): the status.
    pub async fn delete(&self, path: &str, token: &str, csrf_token: &str) -> Result<u16> {
        let response = self
            .client
            .delete(self.url(path))
            .header("Cookie", format!("{COOKIE}={token}"))
            .header("Origin", &self.base)
            .header("X-CSRF-Token", csrf_token)
            .send()
            .await
            .with_context(|| format!("DELETE {path}"))?;
        Ok(response.status().as_u16())
    }
}

/// SQL statements per request over `n` single GETs of `path` with one cookie, each of
/// which must be answered 200: the peers' count (theirs from PostgreSQL's statement log,
/// this one from pg_stat_statements).
pub async fn statements_per_request(http: &Http, db: &Databases, path: &str, token: &str, n: usize) -> Result<f64> {
    let before = db.statement_calls().await?;
    for _ in 0..n {
        let (status, _) = http.get(path, token).await?;
        if status != 200 {
            bail!("GET {path} with a seeded cookie answered {status}, not 200");
        }
    }
    // A write that falls due may finish after the answer: let it be counted.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = db.statement_calls().await?;
    Ok(total(&calls_between(&before, &after)) as f64 / n.max(1) as f64)
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
