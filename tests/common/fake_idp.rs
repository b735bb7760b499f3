//! A stand-in OpenID provider for what the real Keycloak will not produce: ID tokens with
//! a bad signature, wrong claims, `alg: none`, HS256 or an unknown key; an issuer at the
//! root of its host; profile claims only from userinfo. It serves discovery, a JWKS, a
//! token endpoint that hands out whatever ID token the test forged, and a userinfo
//! endpoint that answers whatever the test set.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use figment::providers::Serialized;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::serde::json::{json, Json, Value};
use rocket::State;
use serde_json::Map;

use super::browser::{Browser, Page};
use super::{app, figment, TestDb};

const SIGNERS: &str = include_str!("../fixtures/test-signers.jwk.json");
const KEY_A: &str = include_str!("../fixtures/test-signer-a.pem");
const KEY_B: &str = include_str!("../fixtures/test-signer-b.pem");

#[derive(Default)]
struct Shared {
    next_id_token: Option<String>,
    userinfo: Option<Value>,
    jwks: Value,
    jwks_fetches: usize,
}

/// What the stand-in's discovery document says of it.
#[derive(Clone)]
pub struct Options {
    /// Served at the root of its host (issuer `http://127.0.0.1:PORT`), not under `/fake`.
    pub at_root: bool,
    /// `id_token_signing_alg_values_supported`.
    pub algorithms: Vec<&'static str>,
    /// Whether it lists a userinfo endpoint.
    pub userinfo: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { at_root: false, algorithms: vec!["RS256"], userinfo: false }
    }
}

pub struct FakeIdp {
    pub issuer: String,
    pub client_id: String,
    shared: Arc<Mutex<Shared>>,
}

/// Which key signs a forged token.
#[derive(Clone, Copy)]
pub enum Signer {
    /// Published in the JWKS as `test-key-a`.
    Published,
    /// Key B, but claiming to be `test-key-a`: a forged signature.
    Impostor,
    /// Key B under its own kid `test-key-b`, not (yet) in the JWKS.
    Unpublished,
}

impl FakeIdp {
    pub async fn start(client_id: &str) -> FakeIdp {
        FakeIdp::start_with(client_id, Options::default()).await
    }

    pub async fn start_with(client_id: &str, options: Options) -> FakeIdp {
        let port = super::closed_port();
        let base = if options.at_root { "" } else { "/fake" };
        let issuer = format!("http://127.0.0.1:{port}{base}");
        let signers: Value = serde_json::from_str(SIGNERS).expect("signers fixture");
        let shared = Arc::new(Mutex::new(Shared { jwks: json!({ "keys": [signers["a"]] }), ..Shared::default() }));
        let config = rocket::Config {
            port,
            address: std::net::Ipv4Addr::LOCALHOST.into(),
            log_level: rocket::config::LogLevel::Off,
            ..rocket::Config::debug_default()
        };
        let rocket = rocket::custom(config)
            .manage(Arc::clone(&shared))
            .manage(Served { issuer: issuer.clone(), options })
            .mount(if base.is_empty() { "/" } else { base }, rocket::routes![discovery, jwks, token, userinfo]);
        tokio::spawn(rocket.launch());
        let up = super::eventually(Duration::from_secs(10), || async {
            reqwest::get(format!("{issuer}/.well-known/openid-configuration")).await.is_ok()
        })
        .await;
        assert!(up, "fake IdP did not start");
        FakeIdp { issuer, client_id: client_id.to_string(), shared }
    }

    /// Claims a real IdP would put in an ID token for this flow's `nonce`.
    pub fn valid_claims(&self, nonce: &str) -> Map<String, Value> {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": self.issuer, "sub": "fake-subject-1", "aud": self.client_id, "azp": self.client_id,
            "iat": now, "exp": now + 300, "nonce": nonce, "sid": "fake-sid-1",
            "name": "Mallory Fake", "email": "mallory@example.com", "email_verified": true,
        });
        claims.as_object().cloned().expect("object")
    }

    /// The token endpoint's next answer carries `claims`, signed by `signer`.
    pub fn issue(&self, claims: &Map<String, Value>, signer: Signer) {
        self.issue_raw(Self::sign(claims, signer, "JWT"));
    }

    /// A compact JWT of `claims`, signed by `signer`, with header `typ`.
    pub fn sign(claims: &Map<String, Value>, signer: Signer, typ: &str) -> String {
        let (kid, pem) = match signer {
            Signer::Published => ("test-key-a", KEY_A),
            Signer::Impostor => ("test-key-a", KEY_B),
            Signer::Unpublished => ("test-key-b", KEY_B),
        };
        let header = Header { kid: Some(kid.into()), typ: Some(typ.into()), ..Header::new(Algorithm::RS256) };
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("test key");
        jsonwebtoken::encode(&header, claims, &key).expect("sign")
    }

    /// Claims of a back-channel logout token for the stand-in's session `fake-sid-1`.
    pub fn logout_claims(&self) -> Map<String, Value> {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 120,
            "jti": uuid::Uuid::new_v4().to_string(), "sub": "fake-subject-1", "sid": "fake-sid-1",
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        });
        claims.as_object().cloned().expect("object")
    }

    /// The token endpoint's next answer carries this exact compact JWT.
    pub fn issue_raw(&self, token: String) {
        self.shared.lock().expect("lock").next_id_token = Some(token);
    }

    /// The userinfo endpoint's next answers.
    pub fn set_userinfo(&self, claims: Value) {
        self.shared.lock().expect("lock").userinfo = Some(claims);
    }

    /// An HS256 token keyed with `secret` (a client secret), as an IdP that lists HS256
    /// could sign one.
    pub fn sign_hs256(claims: &Map<String, Value>, secret: &str) -> String {
        let header = Header { typ: Some("JWT".into()), ..Header::new(Algorithm::HS256) };
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret.as_bytes())).expect("sign")
    }

    /// An unsigned token (`alg: none`) with these claims.
    pub fn unsigned(claims: &Map<String, Value>) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims"));
        format!("{header}.{payload}.")
    }

    /// Publishes key B too, as an IdP does when it rotates keys.
    pub fn rotate_in_key_b(&self) {
        let signers: Value = serde_json::from_str(SIGNERS).expect("signers fixture");
        self.shared.lock().expect("lock").jwks = json!({ "keys": [signers["a"], signers["b"]] });
    }

    pub fn jwks_fetches(&self) -> usize {
        self.shared.lock().expect("lock").jwks_fetches
    }
}

/// `claims` with `key` set to `value`.
pub fn with(mut claims: Map<String, Value>, key: &str, value: Value) -> Map<String, Value> {
    claims.insert(key.into(), value);
    claims
}

/// `claims` without `key`.
pub fn without(mut claims: Map<String, Value>, key: &str) -> Map<String, Value> {
    claims.remove(key);
    claims
}

/// A fresh database, a stand-in IdP, and the app with the stand-in configured as the
/// provider `fake` (plus `settings`, e.g. `allow_email_linking`), discovered and ready.
pub async fn setup(settings: Value) -> (TestDb, FakeIdp, Client) {
    setup_with(Options::default(), settings).await
}

/// As [`setup`], with a stand-in that says `options` of itself.
pub async fn setup_with(options: Options, settings: Value) -> (TestDb, FakeIdp, Client) {
    let db = TestDb::create().await;
    let idp = FakeIdp::start_with("latchkey-test", options).await;
    let mut provider = json!({ "issuer": idp.issuer, "client_id": "latchkey-test", "client_secret": "fake-secret" });
    if let (Some(provider), Some(settings)) = (provider.as_object_mut(), settings.as_object()) {
        provider.extend(settings.clone());
    }
    let app = app(figment(&db).merge(Serialized::global("auth.providers.fake", provider))).await;
    // Let background discovery finish, so that key fetches counted later are the test's.
    let discovered = super::eventually(std::time::Duration::from_secs(10), || async {
        let body: Value = app.get("/readyz").dispatch().await.into_json().await.unwrap_or_default();
        body["checks"]["providers"]["fake"]["status"] == "up"
    })
    .await;
    assert!(discovered, "the stand-in IdP was never discovered");
    (db, idp, app)
}

/// Starts a sign-in with the stand-in, lets `forge` decide the token endpoint's ID token
/// for the flow's nonce, and returns the callback's answer.
pub async fn sign_in_with(app: &Client, idp: &FakeIdp, forge: impl FnOnce(&FakeIdp, &str)) -> Page {
    browser_signed_in_with(app, idp, forge).await.1
}

/// As [`sign_in_with`], also returning the browser (signed in if the callback took).
pub async fn browser_signed_in_with<'c>(
    app: &'c Client,
    idp: &FakeIdp,
    forge: impl FnOnce(&FakeIdp, &str),
) -> (Browser<'c>, Page) {
    let mut browser = Browser::new(app, "test");
    let login = browser.get("/auth/login?provider=fake&return_to=/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let authorize = url::Url::parse(&login.location.expect("location")).expect("authorize URL");
    let param = |name: &str| authorize.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let (state, nonce) = (param("state").expect("state"), param("nonce").expect("nonce"));
    forge(idp, &nonce);
    let page = browser.get(&format!("/auth/callback?state={state}&code=fake-code")).await;
    (browser, page)
}

/// The stand-in's own issuer string and what it says of itself.
struct Served {
    issuer: String,
    options: Options,
}

#[rocket::get("/.well-known/openid-configuration")]
fn discovery(served: &State<Served>) -> Json<Value> {
    let issuer = &served.issuer;
    let mut document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": served.options.algorithms,
    });
    if served.options.userinfo {
        document["userinfo_endpoint"] = json!(format!("{issuer}/userinfo"));
    }
    Json(document)
}

#[rocket::get("/userinfo")]
fn userinfo(shared: &State<Arc<Mutex<Shared>>>) -> Option<Json<Value>> {
    shared.lock().expect("lock").userinfo.clone().map(Json)
}

#[rocket::get("/jwks")]
fn jwks(shared: &State<Arc<Mutex<Shared>>>) -> Json<Value> {
    let mut shared = shared.lock().expect("lock");
    shared.jwks_fetches += 1;
    Json(shared.jwks.clone())
}

#[rocket::post("/token")]
fn token(shared: &State<Arc<Mutex<Shared>>>) -> Json<Value> {
    let id_token = shared.lock().expect("lock").next_id_token.clone();
    Json(
        json!({ "access_token": "fake-access-token", "token_type": "Bearer", "expires_in": 300, "id_token": id_token }),
    )
}
