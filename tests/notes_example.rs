//! The notes example (examples/notes): an app with its own pages, table and sqlx
//! migrations adopts latchkey, and a person signs in to it through the real Keycloak in
//! Debian's Chromium, adds a note, and signs out. Screenshots go to target/e2e/.

mod common;

#[path = "../examples/notes/app.rs"]
mod notes;

use common::chromium::{log_in_at_keycloak, screenshot, wait_for_url, ChromeDriver, WAIT};
use common::{closed_port, keycloak_issuer, Served, TestDb};
use fantoccini::{Client, Locator};
use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use sqlx::Row;

/// The example's own Rocket.toml (debug profile), pointed at `db`, the test client of the
/// dev realm and a free port.
fn settings(db: &TestDb, port: u16) -> Figment {
    Figment::from(rocket::Config::default())
        .merge(Toml::file("examples/notes/Rocket.toml").nested())
        .select("debug")
        .merge(Serialized::global("log_level", "off"))
        .merge(Serialized::global("databases.notes.url", &db.url))
        .merge(Serialized::global("auth.base_url", format!("http://127.0.0.1:{port}")))
        .merge(Serialized::global("auth.providers.keycloak.issuer", keycloak_issuer()))
        .merge(Serialized::global("auth.providers.keycloak.client_id", "latchkey-test"))
        .merge(Serialized::global("auth.providers.keycloak.client_secret", "latchkey-test-secret"))
        .merge(Serialized::global("secret_key", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="))
}

async fn notes_listed(browser: &Client) -> Vec<String> {
    let mut texts = Vec::new();
    for item in browser.find_all(Locator::Css("ul.notes li")).await.expect("notes") {
        texts.push(item.text().await.expect("text"));
    }
    texts
}

#[tokio::test]
async fn a_person_signs_in_to_the_notes_app_adds_a_note_and_signs_out() {
    let db = TestDb::create().await;
    let port = closed_port();
    let app = Served::launch(notes::rocket, settings(&db, port), port).await;
    let mut driver = ChromeDriver::start().await;
    let browser = driver.browser().await;

    // The guarded page sends a stranger to latchkey's sign-in under /account, and back.
    browser.goto(&app.url("/notes")).await.expect("open /notes");
    log_in_at_keycloak(&browser, "alice", "alice").await;
    wait_for_url(&browser, &app.url("/notes")).await;
    browser.wait().at_most(WAIT).for_element(Locator::Id("notes-title")).await.expect("the notes page");
    let title = browser.find(Locator::Id("notes-title")).await.expect("title").text().await.expect("text");
    assert!(title.contains("@alice"), "the profile hook kept the username: {title}");
    assert_eq!(notes_listed(&browser).await, ["Welcome to your notes."], "the sign-in event wrote the welcome note");

    browser.find(Locator::Id("text")).await.expect("note field").send_keys("Buy milk").await.expect("type");
    browser.find(Locator::Css("form.actions button")).await.expect("add").click().await.expect("add");
    wait_for_url(&browser, &app.url("/notes")).await;
    browser.wait().at_most(WAIT).for_element(Locator::XPath("//li[text()='Buy milk']")).await.expect("the new note");
    assert_eq!(notes_listed(&browser).await, ["Welcome to your notes.", "Buy milk"]);
    screenshot(&browser, "notes-01-notes").await;

    // The app's tables and history in `public`, latchkey's in its own schema.
    let mut connection = db.connect().await;
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM public.notes) AS notes,
                (SELECT array_agg(description ORDER BY version) FROM public._sqlx_migrations) AS app_history,
                (SELECT count(*) FROM notes_auth._sqlx_migrations) AS latchkey_history,
                (SELECT count(*) FROM notes_auth.sessions) AS sessions,
                (SELECT extra->>'username' FROM notes_auth.users) AS username",
    )
    .fetch_one(&mut connection)
    .await
    .expect("rows");
    assert_eq!(row.get::<i64, _>("notes"), 2);
    assert_eq!(row.get::<Vec<String>, _>("app_history"), ["notes"]);
    let migrations = std::fs::read_dir("migrations").expect("migrations/").count() as i64;
    assert_eq!(row.get::<i64, _>("latchkey_history"), migrations);
    assert_eq!(row.get::<i64, _>("sessions"), 1);
    assert_eq!(row.get::<Option<String>, _>("username").as_deref(), Some("alice"));

    // latchkey's header is on the app's page; signing out lands on latchkey's page.
    browser.find(Locator::Css("header form.inline button")).await.expect("sign out").click().await.expect("click");
    wait_for_url(&browser, &app.url("/account/signed-out")).await;
    let text = browser.find(Locator::Css("main")).await.expect("main").text().await.expect("text");
    assert!(text.contains("You are signed out of Notes and of Keycloak."), "{text}");
    screenshot(&browser, "notes-02-signed-out").await;
    browser.goto(&app.url("/notes")).await.expect("open /notes again");
    wait_for_url(&browser, "/protocol/openid-connect/auth").await;
}
