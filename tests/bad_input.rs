//! Bad input from anyone, anywhere a request carries text: the session cookie (odd,
//! huge, doubled, not UTF-8), session ids in paths, return paths, every parameter of
//! the sign-in callback, the CSRF header, the user agent and the login query. Each is
//! answered with a 4xx, or as an anonymous request (pages: 303 to sign-in, `/api`: 401
//! `unauthenticated`), never a 5xx, and changes nothing: no row written or deleted, no
//! signed-in person signed out.
//!
//! Cookie headers are sent as raw bytes over a real socket (`Served`): Rocket's local
//! client neither parses a `Cookie` header into the jar nor takes non-UTF-8 values.

mod common;

use std::time::Duration;

use common::browser::{Browser, Page, APP_ORIGIN};
use common::fake_idp::{self, FakeIdp, Signer};
use common::{app, figment, keycloak_issuer, query_param, Served, TestDb};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rocket::http::{Method, Status};
use rocket::local::asynchronous::Client;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/// What people type when they try to break out of a string literal or a statement.
const SQL_METACHARACTERS: &[&str] = &[
    "'",
    "''",
    "' OR '1'='1",
    "1' OR 1=1 --",
    "'; DROP TABLE sessions; --",
    "\"; DELETE FROM users; --",
    "\\",
    "\\'",
    ";",
    "--",
    "/* */",
    "%",
    "_",
    "$1",
    "\0",
    "%00",
    "' || pg_sleep(5) || '",
    "\u{ff07} OR \u{ff07}1\u{ff07}=\u{ff07}1",
    "<script>alert(1)</script>",
];

// ---- shared helpers --------------------------------------------------------------------

/// Every row of every table, as text: equal before and after means nothing was written,
/// deleted or touched (not even a `last_seen_at` or `updated_at`).
async fn fingerprint(db: &TestDb) -> String {
    let mut connection = db.connect().await;
    let mut all = String::new();
    for table in ["users", "accounts", "sessions", "logout_token_jtis"] {
        let rows: String = sqlx::query_scalar(&format!(
            "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {table} t"
        ))
        .fetch_one(&mut connection)
        .await
        .unwrap_or_else(|e| panic!("fingerprint {table}: {e}"));
        all.push_str(&format!("{table}: {rows}\n"));
    }
    all
}

/// The stable code of an error page (`Error code <span class="code">…</span>`), or of
/// an `/api` JSON body.
fn error_code(body: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        return json["error"].as_str().map(str::to_string);
    }
    let start = body.find("<span class=\"code\">")? + "<span class=\"code\">".len();
    let end = start + body[start..].find("</span>")?;
    Some(body[start..end].to_string())
}

/// Every byte but the unreserved ones as `%XX`: the text arrives intact as one segment
/// or one query value.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn proptest_config(default_cases: u32) -> Config {
    let cases = std::env::var("LATCHKEY_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default_cases);
    Config { cases, failure_persistence: None, max_shrink_iters: 64, ..Config::default() }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn assert_not_5xx(status: u16, what: &str, body: &str) {
    assert!(status < 500, "{what}: {status} {body}");
}

// ---- raw HTTP over a real socket ---------------------------------------------------------

struct RawResponse {
    status: u16,
    head: String,
    body: String,
}

impl RawResponse {
    fn header<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.headers(name).next()
    }

    fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.head.lines().skip(1).filter_map(move |line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// Whether the response tells the browser to drop its session cookie.
    fn clears_session_cookie(&self) -> bool {
        self.headers("Set-Cookie").any(|cookie| {
            let lower = cookie.to_ascii_lowercase();
            lower.starts_with("latchkey_session=")
                && (lower.starts_with("latchkey_session=;") || lower.contains("max-age=0") || lower.contains("1970"))
        })
    }

    /// Anonymous, as the guard answers it: pages go to sign-in, `/api` says 401
    /// `unauthenticated`; or any other 4xx (e.g. hyper refusing the request outright).
    fn is_anonymous_or_4xx(&self, api: bool) -> bool {
        match (api, self.status) {
            (false, 303) => self.header("Location").is_some_and(|to| to.starts_with("/auth/login")),
            (true, 401) => self.body.contains("unauthenticated"),
            (_, status) => (400..500).contains(&status),
        }
    }
}

/// One HTTP/1.1 request, exactly these bytes in the header block, to the served app.
async fn raw_request(port: u16, method: &str, path: &str, headers: &[u8]) -> RawResponse {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bad-input-test\r\nConnection: close\r\nContent-Length: 0\r\n"
    )
    .into_bytes();
    request.extend_from_slice(headers);
    request.extend_from_slice(b"\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect to the app");
        stream.write_all(&request).await.expect("send the request");
        let mut answer = Vec::new();
        // The server may close while we still write on a refused request; read what came.
        let _ = stream.read_to_end(&mut answer).await;
        answer
    };
    let answer = tokio::time::timeout(Duration::from_secs(20), exchange).await.expect("the app answered in time");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status =
        head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("no status: {text:?}"));
    RawResponse { status, head: head.to_string(), body: body.to_string() }
}

fn cookie_header(value: &[u8]) -> Vec<u8> {
    let mut header = b"Cookie: ".to_vec();
    header.extend_from_slice(value);
    header.extend_from_slice(b"\r\n");
    header
}

/// One database, the app in-process (where people sign in) and the same app served on
/// a real port (where raw cookie headers go): a session made on one works on the other.
struct CookieScene {
    db: TestDb,
    app: Client,
    served: Served,
}

impl CookieScene {
    async fn new() -> CookieScene {
        let db = TestDb::create().await;
        let app = app(figment(&db)).await;
        let served = Served::start(figment(&db)).await;
        CookieScene { db, app, served }
    }
}

// ---- 1. session cookies ------------------------------------------------------------------

#[tokio::test]
async fn malformed_oversized_and_non_utf8_session_cookies_are_anonymous_and_change_nothing() {
    let scene = CookieScene::new().await;
    let mut laptop = Browser::signed_in(&scene.app, "alice", FIREFOX).await;
    let mut phone = Browser::signed_in(&scene.app, "alice", SAFARI).await;
    let phone_id = phone.current_session_id().await;
    let csrf = laptop.csrf_token().await;
    let valid = laptop.session_cookie().expect("session cookie").clone();
    let unknown = common::session_token().0;
    let before = fingerprint(&scene.db).await;

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty value", cookie_header(b"latchkey_session=")),
        ("no value at all", cookie_header(b"latchkey_session")),
        ("short", cookie_header(b"latchkey_session=abc")),
        ("42 characters", cookie_header(format!("latchkey_session={}", "A".repeat(42)).as_bytes())),
        ("44 characters", cookie_header(format!("latchkey_session={}", "A".repeat(44)).as_bytes())),
        ("padded", cookie_header(format!("latchkey_session={unknown}=").as_bytes())),
        ("standard base64 alphabet", cookie_header(format!("latchkey_session={}+/", "A".repeat(41)).as_bytes())),
        ("non-canonical last character", cookie_header(format!("latchkey_session={}B", "A".repeat(42)).as_bytes())),
        ("well formed but unknown", cookie_header(format!("latchkey_session={unknown}").as_bytes())),
        ("quoted", cookie_header(format!("latchkey_session=\"{unknown}\"").as_bytes())),
        ("the valid token plus one character", cookie_header(format!("latchkey_session={valid}x").as_bytes())),
        ("the valid token under another name", cookie_header(format!("__Host-latchkey_session={valid}").as_bytes())),
        ("SQL, percent-encoded", cookie_header(b"latchkey_session=%27%20OR%20%271%27%3D%271%27%3B%20--")),
        ("SQL, raw", cookie_header(b"latchkey_session=' OR '1'='1' --")),
        ("percent-encoded invalid UTF-8", cookie_header(b"latchkey_session=%FF%FE%FD")),
        ("8 KiB", cookie_header(format!("latchkey_session={}", "A".repeat(8 * 1024)).as_bytes())),
        ("64 KiB", cookie_header(format!("latchkey_session={}", "A".repeat(64 * 1024)).as_bytes())),
        ("1000 cookies", cookie_header((0..1000).map(|i| format!("c{i}=v")).collect::<Vec<_>>().join("; ").as_bytes())),
        ("non-UTF-8 bytes", cookie_header(b"latchkey_session=\xff\xfe\x80abc")),
        ("non-UTF-8 beside a well-formed token", {
            let mut value = b"other=\xc3\x28; latchkey_session=".to_vec();
            value.extend_from_slice(unknown.as_bytes());
            cookie_header(&value)
        }),
        ("NUL byte", cookie_header(b"latchkey_session=a\0b")),
        (
            "two bad ones, well formed first",
            cookie_header(format!("latchkey_session={unknown}; latchkey_session=junk").as_bytes()),
        ),
        (
            "two bad ones, well formed last",
            cookie_header(format!("latchkey_session=junk; latchkey_session={unknown}").as_bytes()),
        ),
        (
            "two Cookie header lines",
            [cookie_header(b"latchkey_session=junk"), cookie_header(format!("latchkey_session={unknown}").as_bytes())]
                .concat(),
        ),
    ];

    let port = scene.served.port;
    for (what, cookie) in &cases {
        let page = raw_request(port, "GET", "/sessions", cookie).await;
        assert_not_5xx(page.status, what, &page.body);
        assert!(page.is_anonymous_or_4xx(false), "{what}: page answered {}\n{}", page.status, page.head);

        let api = raw_request(port, "GET", "/api/sessions", cookie).await;
        assert_not_5xx(api.status, what, &api.body);
        assert!(api.is_anonymous_or_4xx(true), "{what}: api answered {}\n{}", api.status, api.head);

        // Even with alice's CSRF token, a request that is not hers changes nothing.
        let mut headers = cookie.clone();
        headers.extend_from_slice(format!("Origin: {APP_ORIGIN}\r\nX-CSRF-Token: {csrf}\r\n").as_bytes());
        let delete = raw_request(port, "DELETE", &format!("/api/sessions/{phone_id}"), &headers).await;
        assert_not_5xx(delete.status, what, &delete.body);
        assert!(delete.is_anonymous_or_4xx(true), "{what}: delete answered {}\n{}", delete.status, delete.head);
    }

    assert_eq!(fingerprint(&scene.db).await, before, "bad cookies changed rows");
    assert!(laptop.is_signed_in().await && phone.is_signed_in().await, "alice lost a session");
    let hers =
        raw_request(port, "GET", "/api/session", &cookie_header(format!("latchkey_session={valid}").as_bytes())).await;
    assert_eq!(hers.status, 200, "alice's own cookie no longer works on the served app: {}", hers.body);
}

/// Alice's real cookie twice, or after a junk one (as a browser sends a cookie of a
/// longer path first): she stays signed in and her cookie is not cleared.
#[tokio::test]
async fn a_duplicated_session_cookie_with_the_valid_one_last_keeps_the_user_signed_in() {
    let scene = CookieScene::new().await;
    let mut alice = Browser::signed_in(&scene.app, "alice", FIREFOX).await;
    let valid = alice.session_cookie().expect("session cookie").clone();
    let unknown = common::session_token().0;
    let before = fingerprint(&scene.db).await;

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "the valid cookie twice",
            cookie_header(format!("latchkey_session={valid}; latchkey_session={valid}").as_bytes()),
        ),
        ("junk, then valid", cookie_header(format!("latchkey_session=junk; latchkey_session={valid}").as_bytes())),
        (
            "unknown token, then valid",
            cookie_header(format!("latchkey_session={unknown}; latchkey_session={valid}").as_bytes()),
        ),
        (
            "64 KiB junk, then valid",
            cookie_header(format!("latchkey_session={}; latchkey_session={valid}", "A".repeat(64 * 1024)).as_bytes()),
        ),
        (
            "two header lines, valid in the last",
            [cookie_header(b"latchkey_session=junk"), cookie_header(format!("latchkey_session={valid}").as_bytes())]
                .concat(),
        ),
        (
            "non-UTF-8 header line, then valid",
            [
                cookie_header(b"latchkey_session=\xff\xfe"),
                cookie_header(format!("latchkey_session={valid}").as_bytes()),
            ]
            .concat(),
        ),
    ];
    for (what, cookie) in &cases {
        assert_still_signed_in(scene.served.port, what, cookie).await;
    }

    assert_eq!(fingerprint(&scene.db).await, before, "a duplicated cookie changed rows");
    assert!(alice.is_signed_in().await);
}

/// The same with the junk cookie last. Rocket's jar keeps only the last cookie of a
/// name, so today the guard sees junk, treats the request as anonymous and answers with
/// a Set-Cookie that deletes alice's real cookie: one odd cookie signs her out.
/// FAILS until the guard considers every session cookie the request carries (see the
/// fix in the hardening report).
#[tokio::test]
async fn a_duplicated_session_cookie_with_the_valid_one_first_keeps_the_user_signed_in() {
    let scene = CookieScene::new().await;
    let mut alice = Browser::signed_in(&scene.app, "alice", FIREFOX).await;
    let valid = alice.session_cookie().expect("session cookie").clone();
    let unknown = common::session_token().0;
    let before = fingerprint(&scene.db).await;

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("valid, then junk", cookie_header(format!("latchkey_session={valid}; latchkey_session=junk").as_bytes())),
        (
            "valid, then an unknown token",
            cookie_header(format!("latchkey_session={valid}; latchkey_session={unknown}").as_bytes()),
        ),
        (
            "two header lines, valid in the first",
            [cookie_header(format!("latchkey_session={valid}").as_bytes()), cookie_header(b"latchkey_session=junk")]
                .concat(),
        ),
    ];
    let mut failures = Vec::new();
    for (what, cookie) in &cases {
        if let Err(problem) = still_signed_in(scene.served.port, what, cookie).await {
            failures.push(problem);
        }
    }

    assert_eq!(fingerprint(&scene.db).await, before, "a duplicated cookie changed rows");
    assert!(alice.is_signed_in().await);
    assert!(failures.is_empty(), "a duplicated session cookie signed alice out:\n{}", failures.join("\n"));
}

async fn still_signed_in(port: u16, what: &str, cookie: &[u8]) -> Result<(), String> {
    let answer = raw_request(port, "GET", "/api/session", cookie).await;
    assert_not_5xx(answer.status, what, &answer.body);
    if answer.clears_session_cookie() {
        let set: Vec<&str> = answer.headers("Set-Cookie").collect();
        return Err(format!("{what}: {} and the session cookie is deleted: {set:?}", answer.status));
    }
    if answer.status != 200 || !answer.body.contains("alice@example.com") {
        return Err(format!("{what}: {} {}", answer.status, answer.body));
    }
    let page = raw_request(port, "GET", "/sessions", cookie).await;
    if page.status != 200 || page.clears_session_cookie() {
        return Err(format!("{what}: the sessions page answered {}", page.status));
    }
    Ok(())
}

async fn assert_still_signed_in(port: u16, what: &str, cookie: &[u8]) {
    if let Err(problem) = still_signed_in(port, what, cookie).await {
        panic!("{problem}");
    }
}

// ---- 2. generated session ids and return paths ----------------------------------------

fn session_id_like() -> impl Strategy<Value = String> {
    let sql = prop::sample::select(SQL_METACHARACTERS.to_vec()).prop_map(str::to_string);
    let uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
    prop_oneof![
        3 => any::<String>(),
        2 => "[0-9a-fA-F{}-]{28,40}",
        // A well-formed UUID that names no session (or someone else's, below).
        1 => uuid,
        2 => (uuid, sql.clone()).prop_map(|(id, sql)| format!("{id}{sql}")),
        2 => prop::collection::vec(sql, 1..4).prop_map(|parts| parts.concat()),
        1 => "[ -~]{0,20}",
        1 => (1usize..12 * 1024).prop_map(|n| "a".repeat(n)),
    ]
}

/// Arbitrary text as the `<id>` of `DELETE /api/sessions/<id>` and
/// `POST /sessions/<id>/revoke`, with a valid CSRF token: always not found (any 4xx
/// when the raw text does not make a routable path), and every session survives.
#[test]
fn arbitrary_session_ids_are_not_found_and_revoke_nothing() {
    let runtime = runtime();
    let db = runtime.block_on(TestDb::create());
    let app = runtime.block_on(app(figment(&db)));
    let (laptop, phone, bob_id, token) = runtime.block_on(async {
        let mut laptop = Browser::signed_in(&app, "alice", FIREFOX).await;
        let phone = Browser::signed_in(&app, "alice", SAFARI).await;
        let mut bob = Browser::signed_in(&app, "bob", FIREFOX).await;
        let token = laptop.csrf_token().await;
        (laptop, phone, bob.current_session_id().await, token)
    });
    let before = runtime.block_on(fingerprint(&db));
    let laptop = tokio::sync::Mutex::new(laptop);

    let mut runner = TestRunner::new(proptest_config(64));
    // Bob's session id is a well-formed id that alice may not revoke: also not found.
    let ids = prop_oneof![9 => session_id_like(), 1 => Just(bob_id.clone())];
    let outcome = runner.run(&ids, |id| {
        runtime.block_on(async {
            let mut laptop = laptop.lock().await;
            let encoded = percent_encode(&id);
            let headers = [("Origin", APP_ORIGIN), ("X-CSRF-Token", token.as_str())];
            let mut answers = vec![
                (
                    "api, encoded",
                    laptop.send(Method::Delete, &format!("/api/sessions/{encoded}"), None, &headers).await,
                ),
                (
                    "form, encoded",
                    laptop.post_form(&format!("/sessions/{encoded}/revoke"), &[("csrf_token", &token)]).await,
                ),
            ];
            // As typed, when that still makes one path segment.
            let one_segment = !id.is_empty() && id.chars().all(|c| c.is_ascii_graphic() && !"/?#%\\".contains(c));
            if one_segment {
                answers.push((
                    "api, raw",
                    laptop.send(Method::Delete, &format!("/api/sessions/{id}"), None, &headers).await,
                ));
                answers.push((
                    "form, raw",
                    laptop.post_form(&format!("/sessions/{id}/revoke"), &[("csrf_token", &token)]).await,
                ));
            }
            for (how, page) in &answers {
                let status = page.status.code;
                prop_assert!(status < 500, "{}: {} for {:?}: {}", how, status, id, page.body);
                if encoded.is_empty() || how.ends_with("raw") {
                    prop_assert!((400..500).contains(&status), "{}: {} for {:?}", how, status, id);
                } else {
                    prop_assert_eq!(status, 404, "{}: for {:?}: {}", how, id, page.body);
                    let code = error_code(&page.body);
                    prop_assert_eq!(code.as_deref(), Some("not_found"), "{}", how);
                }
            }
            prop_assert_eq!(db.count("sessions").await, 3, "{:?} revoked a session", id);
            Ok(())
        })
    });
    let mut laptop = laptop.into_inner();
    let mut phone = phone;
    runtime.block_on(async {
        assert!(laptop.is_signed_in().await && phone.is_signed_in().await);
        assert_eq!(fingerprint(&db).await, before, "generated ids changed rows");
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// Text built from what makes a return path point elsewhere, or from plain paths.
fn return_to_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "/",
            "//",
            "\\",
            "%2F",
            "%2f",
            "%5C",
            "%252F",
            "%09",
            "%0a",
            "%00",
            "%",
            "+",
            "https:",
            "javascript:",
            "@",
            "?",
            "#",
            "&",
            "=",
            "..",
            ":",
            " ",
            "\t",
            "\u{0}",
            "\u{2028}",
            "\u{ff0f}",
            "é",
            "evil.example",
            "'",
            ";",
        ])
        .prop_map(str::to_string),
        "[a-z0-9]{1,6}",
        any::<char>().prop_map(String::from),
    ];
    let built = prop::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat());
    prop_oneof![
        2 => built.clone(),
        3 => built.prop_map(|rest| format!("/{rest}")),
        2 => plain_path(),
        1 => any::<String>(),
    ]
}

fn plain_path() -> impl Strategy<Value = String> {
    "(/[A-Za-z0-9._~-]{1,10}){1,3}(\\?[a-z]{1,5}=[A-Za-z0-9._~-]{0,8})?"
}

fn is_plain_path(text: &str) -> bool {
    text.starts_with('/')
        && !text.starts_with("//")
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._~-?=".contains(c))
        && text.matches('?').count() <= 1
}

/// Where a whole sign-in ends for an arbitrary `return_to`: the input when it is a path
/// on this site, `/` otherwise; never protocol-relative, a backslash or a scheme.
#[test]
fn arbitrary_return_paths_end_on_this_site_after_a_real_sign_in() {
    let runtime = runtime();
    let (db, idp, app) = runtime.block_on(fake_idp::setup(json!({})));

    let mut runner = TestRunner::new(proptest_config(64));
    let outcome = runner.run(&return_to_like(), |input| {
        runtime.block_on(async {
            let page = sign_in_returning_to(&app, &idp, &input).await;
            prop_assert_eq!(page.status, Status::SeeOther, "{:?}: {}", input, page.body);
            let location = page.location.clone().unwrap_or_default();
            prop_assert!(location == input || location == "/", "{:?} ended at {:?}", input, location);
            prop_assert!(location.starts_with('/') && !location.starts_with("//"), "{:?}", location);
            prop_assert!(!location.contains('\\') && url::Url::parse(&location).is_err(), "{:?}", location);
            let resolved = url::Url::parse(APP_ORIGIN).and_then(|base| base.join(&location)).expect("resolves");
            prop_assert_eq!(resolved.origin().ascii_serialization(), APP_ORIGIN);
            if is_plain_path(&input) && input.len() <= 2048 {
                prop_assert_eq!(&location, &input, "a plain path was not kept");
            }
            Ok(())
        })
    });
    drop(app);
    drop(db);
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

async fn sign_in_returning_to(app: &Client, idp: &FakeIdp, return_to: &str) -> Page {
    let mut browser = Browser::new(app, "test");
    let login = browser.get(&format!("/auth/login?provider=fake&return_to={}", percent_encode(return_to))).await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let authorize = url::Url::parse(&login.location.expect("location")).expect("authorize URL");
    let param = |name: &str| authorize.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let (state, nonce) = (param("state").expect("state"), param("nonce").expect("nonce"));
    idp.issue(&idp.valid_claims(&nonce), Signer::Published);
    browser.get(&format!("/auth/callback?state={state}&code=fake-code")).await
}

// ---- 3. the sign-in callback ------------------------------------------------------------

/// Codes the callback may refuse a forged answer with.
const CALLBACK_REFUSALS: &[&str] = &[
    "state_mismatch",
    "flow_expired",
    "idp_error",
    "code_rejected",
    "issuer_mismatch",
    "bad_request",
    "invalid_id_token",
];

/// For one parameter, each way it can be wrong: (label, the raw query part, or None to
/// leave the parameter out).
fn variants(name: &str, good: &str) -> Vec<(String, Option<String>)> {
    let mut all = vec![
        ("missing".to_string(), None),
        ("empty".to_string(), Some(format!("{name}="))),
        ("repeated, good first".to_string(), Some(format!("{name}={}&{name}=evil", percent_encode(good)))),
        ("repeated, good last".to_string(), Some(format!("{name}=evil&{name}={}", percent_encode(good)))),
        ("10 KiB".to_string(), Some(format!("{name}={}", "A".repeat(10 * 1024)))),
        ("invalid UTF-8".to_string(), Some(format!("{name}=%FF%FE"))),
        ("raw quote".to_string(), Some(format!("{name}='%20OR%20'1'='1"))),
    ];
    for sql in SQL_METACHARACTERS {
        all.push((format!("{sql:?}"), Some(format!("{name}={}", percent_encode(sql)))));
    }
    all
}

/// A forged `/auth/callback` (no code the IdP ever issued) with each parameter
/// missing, empty, repeated, oversized or full of SQL metacharacters, with and without a
/// started sign-in in the browser: always a 4xx page with a stable code, nothing written.
#[tokio::test]
async fn forged_callbacks_with_odd_parameters_are_refused_with_a_code_and_write_nothing() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    // Someone is signed in, so that there are rows a bad callback could touch.
    let _alice = Browser::signed_in(&app, "alice", FIREFOX).await;
    let before = fingerprint(&db).await;
    let issuer = keycloak_issuer();

    let mut refusals = std::collections::BTreeMap::<String, usize>::new();
    for started in [false, true] {
        for param in ["state", "code", "error", "iss", "session_state"] {
            let good = match param {
                "state" => "the-real-state",
                "code" => "forged-code",
                "error" => "access_denied",
                "iss" => issuer.as_str(),
                _ => "b1a2c3d4-0000-4000-8000-000000000000",
            };
            for (label, variant) in variants(param, good) {
                let mut browser = Browser::new(&app, "test");
                let state = if started {
                    let authorize = browser.start_sign_in("/").await;
                    query_param(&authorize, "state")
                } else {
                    "AAAAAAAAAAAAAAAAAAAAAA".to_string()
                };
                let mut query = vec![];
                for (name, value) in [("state", state.as_str()), ("code", "forged-code"), ("iss", issuer.as_str())] {
                    if name != param {
                        query.push(format!("{name}={value}"));
                    }
                }
                if let Some(variant) = variant {
                    query.push(variant.replace("the-real-state", &state));
                }
                let uri = format!("/auth/callback?{}", query.join("&"));

                let page = browser.get(&uri).await;

                let what = format!("{param} {label} (flow started: {started})");
                assert!((400..500).contains(&page.status.code), "{what}: {} {}", page.status, page.body);
                let code = error_code(&page.body).unwrap_or_else(|| panic!("{what}: no error code in {}", page.body));
                assert!(CALLBACK_REFUSALS.contains(&code.as_str()), "{what}: unexpected code {code}");
                assert!(
                    page.set_cookies
                        .iter()
                        .all(|c| !c.starts_with("latchkey_session=") || c.starts_with("latchkey_session=;")),
                    "{what}: a session cookie was set"
                );
                *refusals.entry(code).or_default() += 1;
            }
            assert_eq!(fingerprint(&db).await, before, "forged callbacks with an odd {param} changed rows");
        }
    }
    // The forged answers met each line of defence, not only the first.
    for code in ["state_mismatch", "flow_expired", "idp_error", "code_rejected", "issuer_mismatch", "bad_request"] {
        assert!(refusals.contains_key(code), "no case was refused with {code}: {refusals:?}");
    }
}

/// A real answer from Keycloak, with `name` replaced by `value` (raw query text), or
/// left out.
async fn genuine_callback_with<'c>(app: &'c Client, name: &str, value: Option<&str>) -> (Browser<'c>, String) {
    let mut browser = Browser::new(app, "test");
    let authorize = browser.start_sign_in("/").await;
    let callback = browser.keycloak_login(&authorize, "alice", "alice").await;
    let url = url::Url::parse(&callback).expect("callback URL");
    let mut query: Vec<String> = url
        .query_pairs()
        .filter(|(key, _)| key != name)
        .map(|(key, value)| format!("{key}={}", percent_encode(&value)))
        .collect();
    if let Some(value) = value {
        query.push(value.to_string());
    }
    (browser, format!("/auth/callback?{}", query.join("&")))
}

/// Keycloak's own answer, with its `session_state` or `iss` made odd: refused with a
/// 4xx and nothing written, or accepted as the sign-in it is with the value stored as
/// given. Never a 5xx.
#[tokio::test]
async fn a_genuine_callback_with_an_odd_session_state_or_iss_is_never_a_server_error() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let issuer = percent_encode(&keycloak_issuer());
    let cases: Vec<(&str, Option<String>)> = vec![
        ("session_state", None),
        ("session_state", Some("session_state=".into())),
        ("session_state", Some(format!("session_state={}", "A".repeat(10 * 1024)))),
        ("session_state", Some(format!("session_state={}", percent_encode("'; DROP TABLE sessions; --")))),
        ("session_state", Some("session_state=%FF%FE".into())),
        ("session_state", Some("session_state=a&session_state=b".into())),
        ("iss", None),
        ("iss", Some("iss=".into())),
        ("iss", Some(format!("iss={}", percent_encode("' OR '1'='1")))),
        ("iss", Some(format!("iss={}", "A".repeat(10 * 1024)))),
        ("iss", Some(format!("iss=https%3A%2F%2Fevil.example&iss={issuer}"))),
        ("iss", Some(format!("iss={issuer}&iss=https%3A%2F%2Fevil.example"))),
    ];
    for (name, value) in cases {
        let (mut browser, uri) = genuine_callback_with(&app, name, value.as_deref()).await;
        let before = fingerprint(&db).await;
        let sessions_before = db.count("sessions").await;

        let page = browser.get(&uri).await;

        let what = format!("{name} = {:?}", value.as_deref().map(|v| v.chars().take(60).collect::<String>()));
        assert_not_5xx(page.status.code, &what, &page.body);
        if page.status == Status::SeeOther {
            assert_eq!(db.count("sessions").await, sessions_before + 1, "{what}");
            assert!(browser.is_signed_in().await, "{what}");
        } else {
            assert!((400..500).contains(&page.status.code), "{what}: {}", page.status);
            assert!(error_code(&page.body).is_some_and(|c| CALLBACK_REFUSALS.contains(&c.as_str())), "{what}");
            assert_eq!(fingerprint(&db).await, before, "{what}: refused, yet rows changed");
        }
    }
}

/// A NUL byte (`%00`) in the `session_state` of a real answer: PostgreSQL's text cannot
/// hold it, so today the account upsert fails and the person gets a 500 `internal`.
/// FAILS until the callback refuses such a value before it writes (see the report).
#[tokio::test]
async fn a_nul_byte_in_the_session_state_of_a_genuine_callback_is_refused_not_a_500() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let (mut browser, uri) = genuine_callback_with(&app, "session_state", Some("session_state=abc%00def")).await;
    let before = fingerprint(&db).await;

    let page = browser.get(&uri).await;

    assert!(
        (400..500).contains(&page.status.code),
        "a NUL in session_state answered {}: {:?}",
        page.status,
        error_code(&page.body)
    );
    assert_eq!(fingerprint(&db).await, before);
}

// ---- 4. SQL metacharacters everywhere else ---------------------------------------------

#[tokio::test]
async fn sql_metacharacters_in_the_csrf_header_are_refused_and_change_nothing() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX).await;
    let mut phone = Browser::signed_in(&app, "alice", SAFARI).await;
    let phone_id = phone.current_session_id().await;
    let real = laptop.csrf_token().await;
    let before = fingerprint(&db).await;

    let mut tokens: Vec<String> = SQL_METACHARACTERS.iter().map(|s| s.to_string()).collect();
    tokens.extend([String::new(), format!("{real}'--"), format!("' OR '{real}'='{real}"), "A".repeat(10 * 1024)]);
    for token in &tokens {
        let headers = [("Origin", APP_ORIGIN), ("X-CSRF-Token", token.as_str())];
        for (method, uri) in [
            (Method::Delete, format!("/api/sessions/{phone_id}")),
            (Method::Post, "/api/sessions/revoke-others".to_string()),
            (Method::Post, format!("/sessions/{phone_id}/revoke")),
            (Method::Post, "/sessions/revoke-all".to_string()),
            (Method::Post, "/auth/logout".to_string()),
        ] {
            let form = (method == Method::Post && !uri.starts_with("/api")).then(String::new);
            let page = laptop.send(method, &uri, form, &headers).await;
            assert_eq!(page.status, Status::Forbidden, "{method} {uri} with X-CSRF-Token {token:?}: {}", page.body);
            assert_eq!(error_code(&page.body).as_deref(), Some("csrf"), "{method} {uri}");
        }
        // The same text as the form field.
        let page = laptop.post_form(&format!("/sessions/{phone_id}/revoke"), &[("csrf_token", token)]).await;
        assert_eq!(page.status, Status::Forbidden, "csrf_token field {token:?}");
    }

    assert_eq!(fingerprint(&db).await, before, "refused requests changed rows");
    assert!(laptop.is_signed_in().await && phone.is_signed_in().await);
}

#[tokio::test]
async fn a_hostile_user_agent_is_stored_verbatim_and_rendered_escaped() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let hostile = "Mozilla/5.0 <script>alert(\"ua\")</script> <img src=x onerror=alert(1)> '; DROP TABLE sessions; -- \\ %00 \u{ff07} é";
    let long = format!("Mozilla/5.0 ({}) '<script>", "x".repeat(600));
    let mut alice = Browser::signed_in(&app, "alice", hostile).await;
    let _laptop = Browser::signed_in(&app, "alice", &long).await;
    let _bob = Browser::signed_in(&app, "bob", FIREFOX).await;

    let mut connection = db.connect().await;
    let stored: Vec<Option<String>> = sqlx::query_scalar("SELECT user_agent FROM sessions ORDER BY created_at")
        .fetch_all(&mut connection)
        .await
        .expect("agents");
    assert_eq!(stored.len(), 3, "the sessions table was damaged");
    assert_eq!(stored[0].as_deref(), Some(hostile), "not stored verbatim");
    let truncated: String = long.chars().take(512).collect();
    assert_eq!(stored[1].as_deref(), Some(truncated.as_str()), "a long agent is cut at 512 characters");

    let page = alice.get("/sessions").await;
    assert_eq!(page.status, Status::Ok);
    for raw in ["<script>alert", "<img src=x", "onerror=alert(1)>", "'<script>"] {
        assert!(!page.body.contains(raw), "{raw} appears unescaped on the sessions page");
    }
    let api = alice.get("/api/sessions").await;
    assert_eq!(api.status, Status::Ok);
    assert_eq!(api.json()["sessions"].as_array().map(Vec::len), Some(2), "alice sees her two sessions");
}

#[tokio::test]
async fn sql_metacharacters_in_the_login_query_change_nothing() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", FIREFOX).await;
    let before = fingerprint(&db).await;

    let mut values: Vec<String> = SQL_METACHARACTERS.iter().map(|s| percent_encode(s)).collect();
    values.extend(["".into(), "A".repeat(10 * 1024), "%FF%FE".into(), "'%20OR%20'1'='1".into()]);
    for value in &values {
        let mut browser = Browser::new(&app, "test");
        let provider = browser.get(&format!("/auth/login?provider={value}")).await;
        assert_eq!(provider.status, Status::NotFound, "provider={value}: {}", provider.body);
        assert_eq!(error_code(&provider.body).as_deref(), Some("unknown_provider"));

        let return_to = browser.get(&format!("/auth/login?return_to={value}")).await;
        assert_eq!(return_to.status, Status::SeeOther, "return_to={value}: {}", return_to.body);
        let to = return_to.location.unwrap_or_default();
        assert!(to.starts_with(&keycloak_issuer()), "return_to={value} went to {to}");

        let both = browser.get(&format!("/auth/login?provider=keycloak&provider={value}&return_to={value}")).await;
        assert_not_5xx(both.status.code, value, &both.body);
    }
    assert_eq!(fingerprint(&db).await, before, "starting sign-ins changed rows");
    assert!(alice.is_signed_in().await);

    // A return path with SQL in its query is a path on this site: kept, and the
    // sign-in it ends writes exactly one session.
    let path = "/search?q=%27%3BDROP+TABLE+sessions%3B--";
    let mut bob = Browser::new(&app, FIREFOX);
    let page = bob.sign_in("bob", "bob", path).await;
    assert_eq!(page.location.as_deref(), Some(path));
    assert_eq!(db.count("sessions").await, 2);
}
