//! Fuzz targets for the three parsers that read text a stranger (or an operator's typo)
//! controls: the session cookie token, the return path after sign-in, and the duration
//! grammar of the configuration. Each is a proptest property run as an ordinary test:
//! random input, bounded cases (`LATCHKEY_FUZZ_CASES`, default 2048 each), shrunk to a
//! minimal example on failure, never a file written. A panic anywhere is a failure.
//!
//! (bolero's `check!()` was the first choice; its derive crate pins `toml_datetime
//! =0.6.3`, which would downgrade the app's own `toml` and `indexmap`, so these use
//! proptest, which the bad-input tests need anyway.)

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;

use crate::config::parse_duration;
use crate::oidc::return_to::sanitize;
use crate::session::SessionToken;
use proptest::test_runner::Config;

fn config() -> Config {
    Config { cases: cases(), failure_persistence: None, max_shrink_iters: 4096, ..Config::default() }
}

fn cases() -> u32 {
    std::env::var("LATCHKEY_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2048)
}

/// A generator that almost never reaches the interesting branch tests nothing: each
/// target counts how often its input was accepted and wants at least `percent` of cases.
/// (Judged only on runs of 512 cases or more, where chance cannot fail it.)
fn assert_reached(what: &str, hits: &AtomicU32, percent: u32) {
    let hits = hits.load(Ordering::Relaxed);
    eprintln!("{what}: {hits} of {}", cases());
    assert!(cases() < 512 || hits * 100 >= cases() * percent, "only {hits} of {} inputs {what}", cases());
}

const BASE64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// ---- SessionToken::parse --------------------------------------------------------------

/// Mostly near misses: the right alphabet at about the right length, with a stray
/// character, padding, the other base64 alphabet, or whitespace; and anything at all.
fn token_like() -> impl Strategy<Value = String> {
    let real = any::<[u8; 32]>().prop_map(|bytes| URL_SAFE_NO_PAD.encode(bytes));
    prop_oneof![
        2 => real.clone(),
        // A real token with one character replaced, dropped or added.
        3 => (real, 0usize..44, any::<char>(), 0u8..3).prop_map(|(text, at, c, how)| {
            let mut chars: Vec<char> = text.chars().collect();
            let at = at.min(chars.len() - 1);
            match how {
                0 => chars[at] = c,
                1 => { chars.remove(at); }
                _ => chars.insert(at, c),
            }
            chars.into_iter().collect()
        }),
        3 => "[A-Za-z0-9_-]{41,45}",
        2 => "[A-Za-z0-9_-]{42}[A-Za-z0-9_=+/. -]",
        1 => "[A-Za-z0-9+/=_-]{43,44}",
        1 => "[ \t]?[A-Za-z0-9_-]{43}[ \t=]?",
        2 => any::<String>(),
        1 => prop::collection::vec(any::<u8>(), 0..80).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        // Multi-byte characters whose UTF-8 length is 43 while the char count is not.
        1 => "[A-Za-z0-9_-]{0,41}[é€𝄞][A-Za-z0-9_-]{0,40}",
    ]
}

#[test]
fn session_token_parse_accepts_only_canonical_43_char_base64url() {
    let accepted = AtomicU32::new(0);
    proptest!(config(), |(text in token_like())| {
        if let Some(token) = SessionToken::parse(&text) {
            accepted.fetch_add(1, Ordering::Relaxed);
            prop_assert_eq!(token.as_str(), text.as_str(), "parse changed the text");
            prop_assert_eq!(text.len(), 43);
            prop_assert!(text.chars().all(|c| BASE64URL.contains(c)), "{:?} is not base64url", text);
            let bytes = URL_SAFE_NO_PAD
                .decode(&text)
                .map_err(|error| TestCaseError::fail(format!("{text:?} was accepted but does not decode: {error}")))?;
            prop_assert_eq!(bytes.len(), 32);
            prop_assert_eq!(URL_SAFE_NO_PAD.encode(&bytes), text.clone(), "not canonical");
            // The derived values are total on accepted tokens.
            prop_assert_eq!(token.hash().len(), 32);
            prop_assert_eq!(token.csrf_token().len(), 43);
        }
    });
    assert_reached("parsed as tokens", &accepted, 5);
}

#[test]
fn every_32_byte_token_round_trips_through_its_cookie_text() {
    proptest!(config(), |(bytes in any::<[u8; 32]>())| {
        let text = URL_SAFE_NO_PAD.encode(bytes);
        let Some(token) = SessionToken::parse(&text) else {
            return Err(TestCaseError::fail(format!("{text:?} refused")));
        };
        prop_assert_eq!(token.as_str(), text.as_str());
        prop_assert_eq!(SessionToken::parse(token.as_str()), Some(token.clone()));
    });
}

#[test]
fn generated_tokens_always_parse() {
    for _ in 0..256 {
        let token = SessionToken::generate();
        assert_eq!(SessionToken::parse(token.as_str()), Some(token.clone()));
    }
}

// ---- return_to::sanitize ---------------------------------------------------------------

/// Text built from the pieces that make a path point elsewhere: slashes, backslashes,
/// schemes, percent-encodings of them (once and twice), control characters, whitespace,
/// user-info and host-looking parts.
fn path_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_string()),
        Just("//".to_string()),
        Just("\\".to_string()),
        Just("%2F".to_string()),
        Just("%2f".to_string()),
        Just("%5C".to_string()),
        Just("%5c".to_string()),
        Just("%252F".to_string()),
        Just("%09".to_string()),
        Just("%0a".to_string()),
        Just("%00".to_string()),
        Just("%".to_string()),
        Just("%%".to_string()),
        Just("+".to_string()),
        Just("https:".to_string()),
        Just("javascript:".to_string()),
        Just("data:".to_string()),
        Just("evil.example".to_string()),
        Just("@".to_string()),
        Just("?".to_string()),
        Just("#".to_string()),
        Just("&".to_string()),
        Just("=".to_string()),
        Just(".".to_string()),
        Just("..".to_string()),
        Just(":".to_string()),
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{7f}".to_string()),
        Just("\u{85}".to_string()),
        Just("\u{2028}".to_string()),
        Just("\u{3000}".to_string()),
        Just("\u{ff0f}".to_string()),
        Just("é".to_string()),
        "[a-z0-9]{1,6}",
        "[ -~]{1,4}",
        any::<char>().prop_map(String::from),
    ];
    let built = prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat());
    prop_oneof![
        4 => built.clone(),
        3 => built.prop_map(|rest| format!("/{rest}")),
        1 => any::<String>(),
        1 => any::<String>().prop_map(|rest| format!("/{rest}")),
    ]
}

/// Paths that are plainly on this site and must be kept as given.
fn plain_path() -> impl Strategy<Value = String> {
    "(/[A-Za-z0-9._~-]{1,12}){0,4}/?(\\?[a-z]{1,6}=[A-Za-z0-9._~-]{0,8}(&[a-z]{1,6}=[A-Za-z0-9._~-]{0,8}){0,2})?"
        .prop_map(|path| if path.starts_with('/') { path } else { format!("/{path}") })
}

fn percent_decoded_once(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// What "a same-site path" means, judged independently of `sanitize`'s own code: a
/// browser resolving it against the site stays on the site, as given and decoded once.
fn assert_same_site_path(output: &str) -> Result<(), TestCaseError> {
    let base = url::Url::parse("https://app.example/some/page")
        .map_err(|error| TestCaseError::fail(format!("the base URL: {error}")))?;
    prop_assert!(output.starts_with('/'), "{:?} is not a path", output);
    prop_assert!(!output.chars().any(|c| c.is_control() || c.is_whitespace()), "{:?}", output);
    // Decoded once, the path part must still be a plain path; the query may carry
    // encoded spaces or slashes (`?q=a%20b`), which no browser reads as a location.
    let path_part = output.split(['?', '#']).next().unwrap_or_default();
    for candidate in [path_part.to_string(), percent_decoded_once(path_part)] {
        prop_assert!(!candidate.starts_with("//"), "{:?} is protocol-relative", output);
        prop_assert!(!candidate.contains('\\'), "{:?} has a backslash", output);
        prop_assert!(!candidate.chars().any(char::is_control), "{:?}", output);
        prop_assert!(url::Url::parse(&candidate).is_err(), "{:?} is an absolute URL", output);
        let resolved = base.join(&candidate);
        if let Ok(resolved) = resolved {
            prop_assert_eq!(resolved.origin(), base.origin(), "{:?} leaves the site", output);
        }
    }
    Ok(())
}

#[test]
fn sanitize_returns_the_input_or_root_and_always_a_same_site_path() {
    let kept = AtomicU32::new(0);
    proptest!(config(), |(input in path_like())| {
        let output = sanitize(Some(&input));
        if output == input && input != "/" {
            kept.fetch_add(1, Ordering::Relaxed);
        }
        prop_assert!(output == input || output == "/", "{:?} became {:?}", input, output);
        assert_same_site_path(&output)?;
    });
    assert_reached("kept as paths", &kept, 2);
}

#[test]
fn sanitize_keeps_plain_paths_on_this_site() {
    proptest!(config(), |(path in plain_path())| {
        prop_assert_eq!(sanitize(Some(&path)), path);
    });
}

#[test]
fn sanitize_of_nothing_or_of_very_long_text_is_root() {
    assert_eq!(sanitize(None), "/");
    assert_eq!(sanitize(Some("")), "/");
    for len in [2049, 8 * 1024, 64 * 1024] {
        assert_eq!(sanitize(Some(&format!("/{}", "a".repeat(len)))), "/");
    }
}

// ---- config::parse_duration ------------------------------------------------------------

/// humantime's grammar and its edges: numbers of any size, fractions, every unit and
/// spelling, odd spacing, signs, and junk.
fn duration_like() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        "[0-9]{1,3}",
        "[0-9]{1,25}",
        "[0-9]{1,4}\\.[0-9]{1,12}",
        Just("18446744073709551615".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        Just(".5".to_string()),
    ];
    let unit = prop_oneof![
        "(nsec|ns|usec|us|µs|msec|ms|seconds|second|sec|s|minutes|minute|min|m|hours|hour|hr|h)",
        "(days|day|d|weeks|week|w|months|month|M|years|year|y)",
        "[a-zA-Z]{0,3}",
    ];
    let part = (number, "[ ]{0,2}", unit).prop_map(|(n, gap, u)| format!("{n}{gap}{u}"));
    prop_oneof![
        4 => prop::collection::vec(part, 1..5).prop_map(|parts| parts.join(" ")),
        1 => "[ \t]{0,2}[0-9]{1,6}[dhms][ \t\n]{0,2}",
        1 => any::<String>(),
    ]
}

#[test]
fn parse_duration_never_panics_and_what_it_accepts_reparses_equal() {
    let parsed = AtomicU32::new(0);
    proptest!(config(), |(text in duration_like())| {
        if let Ok(duration) = parse_duration(&text) {
            parsed.fetch_add(1, Ordering::Relaxed);
            let formatted = humantime::format_duration(duration).to_string();
            prop_assert_eq!(parse_duration(&formatted), Ok(duration), "{:?} → {:?}", text, formatted);
        }
    });
    assert_reached("parsed as durations", &parsed, 10);
}

#[test]
fn every_duration_formatted_by_humantime_parses_back() {
    let duration = (any::<u64>(), 0u32..1_000_000_000).prop_map(|(secs, nanos)| Duration::new(secs, nanos));
    let small = (0u64..400 * 86_400, 0u32..1_000_000_000).prop_map(|(secs, nanos)| Duration::new(secs, nanos));
    proptest!(config(), |(duration in prop_oneof![duration, small])| {
        let formatted = humantime::format_duration(duration).to_string();
        prop_assert_eq!(parse_duration(&formatted), Ok(duration), "{:?}", formatted);
    });
}
