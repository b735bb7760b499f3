//! "Firefox on Linux": a device label for the sessions page, from the stored user agent
//! (with the `user-agents` feature; without it every device is unknown).

use std::collections::HashMap;

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Device {
    pub browser: String,
    pub os: String,
    pub label: String,
}

impl Device {
    /// The device of one user agent (for many, [`Devices`] parses each distinct one once).
    pub fn of(user_agent: Option<&str>) -> Device {
        from_user_agent(user_agent)
    }
}

/// Labels for the rows of one listing: a person's sessions mostly share a few user
/// agents, so each distinct one is parsed once.
#[derive(Default)]
pub(crate) struct Devices {
    seen: HashMap<String, Device>,
}

impl Devices {
    pub fn of(&mut self, user_agent: Option<&str>) -> Device {
        // No agent and an empty one are both an unknown device: one key serves both.
        let agent = user_agent.unwrap_or_default();
        if let Some(device) = self.seen.get(agent) {
            return device.clone();
        }
        let device = from_user_agent(user_agent);
        self.seen.insert(agent.to_owned(), device.clone());
        device
    }
}

fn from_user_agent(user_agent: Option<&str>) -> Device {
    let (browser, os) = browser_and_os(user_agent);
    let browser = browser.unwrap_or_else(|| "Unknown browser".into());
    let os = os.unwrap_or_else(|| "unknown system".into());
    Device { label: format!("{browser} on {os}"), browser, os }
}

#[cfg(feature = "user-agents")]
fn browser_and_os(user_agent: Option<&str>) -> (Option<String>, Option<String>) {
    let parsed = user_agent.and_then(|agent| woothee::parser::Parser::new().parse(agent));
    let known = |text: &str| (!text.is_empty() && text != "UNKNOWN").then(|| text.to_string());
    (parsed.as_ref().and_then(|p| known(p.name)), parsed.as_ref().and_then(|p| known(p.os)))
}

#[cfg(not(feature = "user-agents"))]
fn browser_and_os(_: Option<&str>) -> (Option<String>, Option<String>) {
    (None, None)
}

#[cfg(all(test, feature = "user-agents"))]
mod tests {
    use super::from_user_agent;

    #[test]
    fn common_browsers_get_readable_labels() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        let chrome_mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        let safari_iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(from_user_agent(Some(firefox)).label, "Firefox on Linux");
        assert_eq!(from_user_agent(Some(chrome_mac)).label, "Chrome on Mac OSX");
        assert_eq!(from_user_agent(Some(safari_iphone)).label, "Safari on iPhone");
        assert_eq!(from_user_agent(None).label, "Unknown browser on unknown system");
        assert_eq!(from_user_agent(Some("curl/8.5.0")).browser, "HTTP Library");
    }
}
