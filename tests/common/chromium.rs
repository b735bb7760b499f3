//! Debian's headless Chromium driven through chromedriver (WebDriver), one fresh
//! profile per simulated person.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// A chromedriver process of this test's own, stopped (by its PID) when dropped.
pub struct ChromeDriver {
    child: Child,
    port: u16,
    profiles: Vec<PathBuf>,
}

impl ChromeDriver {
    pub async fn start() -> ChromeDriver {
        let port = super::closed_port();
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (apt-get install chromium-driver)");
        let up = super::eventually(Duration::from_secs(20), || async {
            reqwest::get(format!("http://127.0.0.1:{port}/status")).await.is_ok()
        })
        .await;
        assert!(up, "chromedriver did not answer");
        ChromeDriver { child, port, profiles: Vec::new() }
    }

    /// A new browser window with an empty profile of its own.
    pub async fn browser(&mut self) -> Client {
        self.browser_with(&[]).await
    }

    /// A new browser that sends `user_agent` (another browser and system, as far as the
    /// app can tell).
    pub async fn browser_as(&mut self, user_agent: &str) -> Client {
        self.browser_with(&[format!("--user-agent={user_agent}")]).await
    }

    async fn browser_with(&mut self, extra: &[String]) -> Client {
        let profile = std::env::temp_dir().join(format!("latchkey-e2e-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--window-size=1280,900".to_string(),
            format!("--user-data-dir={}", profile.display()),
        ];
        args.extend(extra.iter().cloned());
        self.profiles.push(profile);
        let capabilities = json!({ "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args } });
        let capabilities = capabilities.as_object().cloned().expect("object");
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for ChromeDriver {
    /// Asks chromedriver to shut down, which closes every browser it started (and their
    /// helper processes) before it exits; killing it instead would leave those browsers
    /// running with no parent. Killed by its PID only if it has not exited in 10 s.
    fn drop(&mut self) {
        let asked = TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(2))
            .and_then(|mut stream| {
                stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                stream.write_all(b"GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
                // The answer comes once the browsers are closed.
                let _ = stream.read_to_end(&mut Vec::new());
                Ok(())
            })
            .is_ok();
        let deadline = Instant::now() + Duration::from_secs(10);
        while asked && Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        for profile in &self.profiles {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}

/// Where screenshots go: target/e2e/.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("e2e");
    std::fs::create_dir_all(&dir).expect("target/e2e");
    dir
}

pub async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

/// How long a page may take to arrive.
pub const WAIT: Duration = Duration::from_secs(20);

/// Waits until the browser's URL contains `fragment`.
pub async fn wait_for_url(browser: &Client, fragment: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let url = browser.current_url().await.expect("url").to_string();
        if url.contains(fragment) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never reached {fragment}; at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// On Keycloak's login page: type the credentials and submit.
pub async fn log_in_at_keycloak(browser: &Client, username: &str, password: &str) {
    wait_for_url(browser, &format!("{}/protocol/openid-connect/auth", super::keycloak_issuer())).await;
    let form = browser.wait().at_most(WAIT).for_element(Locator::Id("username")).await.expect("username field");
    form.send_keys(username).await.expect("type username");
    browser.find(Locator::Id("password")).await.expect("password field").send_keys(password).await.expect("type");
    browser.find(Locator::Id("kc-login")).await.expect("submit").click().await.expect("submit");
}

/// On Keycloak's login page when Keycloak already knows who it is (it asks only for the
/// password again): type the password and submit.
pub async fn reenter_password_at_keycloak(browser: &Client, password: &str) {
    let field = browser.wait().at_most(WAIT).for_element(Locator::Id("password")).await.expect("password field");
    field.send_keys(password).await.expect("type password");
    browser.find(Locator::Id("kc-login")).await.expect("submit").click().await.expect("submit");
}
