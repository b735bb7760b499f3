//! End to end in Debian's headless Chromium, against the app on a real port, the real
//! Keycloak and the real PostgreSQL. A screenshot per step goes to target/e2e/.

mod common;

use std::time::Duration;

use common::chromium::{log_in_at_keycloak, screenshot, wait_for_url, ChromeDriver, WAIT};
use common::{closed_port, figment, Served, TestDb};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use figment::providers::Serialized;

async fn serve(db: &TestDb) -> Served {
    let port = closed_port();
    let settings = figment(db).merge(Serialized::global("auth.base_url", format!("http://127.0.0.1:{port}")));
    Served::start_on(settings, port).await
}

async fn text(browser: &Client) -> String {
    browser.find(Locator::Css("body")).await.expect("body").text().await.expect("text")
}

async fn session_rows(browser: &Client) -> usize {
    browser.find_all(Locator::Css("table.sessions tbody tr")).await.expect("rows").len()
}

/// The tag and text of the focused element.
async fn focused(browser: &Client) -> (String, String) {
    let value = browser
        .execute("const e = document.activeElement; return [e.tagName, (e.innerText || e.value || '').trim()];", vec![])
        .await
        .expect("active element");
    let pair = value.as_array().cloned().unwrap_or_default();
    let part = |i: usize| pair.get(i).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    (part(0), part(1))
}

async fn press(browser: &Client, key: Key) {
    let active = browser.active_element().await.expect("active element");
    active.send_keys(&char::from(key).to_string()).await.expect("key press");
}

#[tokio::test]
async fn sign_in_manage_sessions_revoke_and_sign_out_in_a_real_browser() {
    let db = TestDb::create().await;
    let app = serve(&db).await;
    let mut driver = ChromeDriver::start().await;
    let first = driver.browser().await;
    let second = driver.browser().await;

    first.goto(&app.url("/")).await.expect("open /");
    wait_for_url(&first, "/protocol/openid-connect/auth").await;
    screenshot(&first, "01-keycloak-login").await;
    log_in_at_keycloak(&first, "alice", "alice").await;
    wait_for_url(&first, &app.url("/")).await;
    first.wait().at_most(WAIT).for_element(Locator::Id("home-title")).await.expect("home");
    assert!(text(&first).await.contains("Welcome, Alice Liddell"));
    screenshot(&first, "02-home").await;

    first.find(Locator::LinkText("Your sessions")).await.expect("nav link").click().await.expect("click");
    wait_for_url(&first, "/sessions").await;
    assert_eq!(session_rows(&first).await, 1);
    assert!(text(&first).await.contains("This device"));
    screenshot(&first, "03-sessions-this-device").await;

    second.goto(&app.url("/sessions")).await.expect("open /sessions");
    log_in_at_keycloak(&second, "alice", "alice").await;
    wait_for_url(&second, &app.url("/sessions")).await;
    screenshot(&second, "04-second-profile-signed-in").await;

    first.refresh().await.expect("reload");
    assert_eq!(session_rows(&first).await, 2);
    screenshot(&first, "05-two-sessions").await;
    first.find(Locator::Css("tr:not(.current) button")).await.expect("revoke button").click().await.expect("revoke");
    wait_for_url(&first, "/sessions").await;
    assert_eq!(session_rows(&first).await, 1);
    screenshot(&first, "06-second-revoked").await;

    // The revoked profile's next click sends it to sign-in, and Keycloak asks again.
    second.find(Locator::LinkText("Home")).await.expect("home link").click().await.expect("click");
    wait_for_url(&second, "/protocol/openid-connect/auth").await;
    second.wait().at_most(WAIT).for_element(Locator::Id("password")).await.expect("asked for the password again");
    screenshot(&second, "07-revoked-profile-asked-to-sign-in").await;

    first
        .find(Locator::Css("header form.inline button"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("sign out");
    wait_for_url(&first, "/signed-out").await;
    assert!(text(&first).await.contains("You are signed out of latchkey and of Keycloak."), "{}", text(&first).await);
    screenshot(&first, "08-signed-out").await;

    // Keycloak's session ended with it: signing in asks for the password.
    first.goto(&app.url("/")).await.expect("open /");
    wait_for_url(&first, "/protocol/openid-connect/auth").await;
    first.wait().at_most(WAIT).for_element(Locator::Id("password")).await.expect("login form again");
    screenshot(&first, "09-login-form-after-sign-out").await;

    first.close().await.expect("close");
    second.close().await.expect("close");
}

#[tokio::test]
async fn the_sessions_page_works_with_the_keyboard_alone() {
    let db = TestDb::create().await;
    let app = serve(&db).await;
    let mut driver = ChromeDriver::start().await;
    let other = driver.browser().await;
    other.goto(&app.url("/")).await.expect("open /");
    log_in_at_keycloak(&other, "alice", "alice").await;
    wait_for_url(&other, &app.url("/")).await;
    let person = driver.browser().await;

    // Sign in by keyboard: Keycloak focuses the username field.
    person.goto(&app.url("/sessions")).await.expect("open /sessions");
    wait_for_url(&person, "/protocol/openid-connect/auth").await;
    person.wait().at_most(WAIT).for_element(Locator::Id("username")).await.expect("login form");
    person.active_element().await.expect("focus").send_keys("alice").await.expect("type");
    press(&person, Key::Tab).await;
    person.active_element().await.expect("focus").send_keys("alice").await.expect("type");
    press(&person, Key::Enter).await;
    wait_for_url(&person, &app.url("/sessions")).await;
    person.wait().at_most(WAIT).for_element(Locator::Css("table.sessions")).await.expect("sessions page");
    assert_eq!(session_rows(&person).await, 2);

    // Tab through the page: the skip link comes first, and every control is reachable.
    let mut seen = Vec::new();
    for _ in 0..20 {
        press(&person, Key::Tab).await;
        seen.push(focused(&person).await);
        if seen.last().is_some_and(|(_, label)| label == "Revoke") {
            break;
        }
    }
    assert_eq!(seen.first().map(|(_, label)| label.as_str()), Some("Skip to content"), "{seen:?}");
    assert!(seen.iter().any(|(_, label)| label == "Your sessions"), "{seen:?}");
    assert_eq!(seen.last().map(|(tag, label)| (tag.as_str(), label.as_str())), Some(("BUTTON", "Revoke")), "{seen:?}");
    let outline =
        person.execute("return getComputedStyle(document.activeElement).outlineStyle;", vec![]).await.expect("style");
    assert_ne!(outline.as_str(), Some("none"), "the focused button shows no focus ring");
    screenshot(&person, "10-keyboard-focus-on-revoke").await;

    press(&person, Key::Enter).await;
    person.wait().at_most(WAIT).for_element(Locator::Css("table.sessions")).await.expect("reloaded");
    let deadline = tokio::time::Instant::now() + WAIT;
    while session_rows(&person).await != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the keyboard revoke did not take effect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    screenshot(&person, "11-keyboard-revoked").await;

    person.close().await.expect("close");
    other.close().await.expect("close");
}
