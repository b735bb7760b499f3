//! Configuration: the shipped profiles load, the environment wins over Rocket.toml, and
//! each bad setting is refused with a line naming its key.
// figment::Jail closures return figment::Error by value; its size is not ours to choose.
#![allow(clippy::result_large_err)]

mod common;

use std::time::Duration;

use figment::providers::Serialized;
use figment::{Figment, Jail};
use latchkey::{figment as app_figment, Config as AuthConfig};

const SHIPPED: &str = include_str!("../Rocket.toml");

/// What the release profile needs beyond the shipped file.
fn release_essentials(jail: &mut Jail) {
    jail.set_env("ROCKET_PROFILE", "release");
    jail.set_env("ROCKET_SECRET_KEY", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=");
    jail.set_env("KEYCLOAK_ISSUER", "https://id.example.com/realms/latchkey");
    jail.set_env("KEYCLOAK_CLIENT_SECRET", "s3cret-from-env");
    jail.set_env("ROCKET_AUTH", RELEASE_AUTH);
}

const RELEASE_AUTH: &str = r#"{base_url="https://app.example.com",encryption={current="k1",keys={k1="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}}"#;

fn refusal(figment: &Figment) -> String {
    AuthConfig::from_figment(figment).err().map(|error| error.to_string()).unwrap_or_default()
}

#[test]
fn each_shipped_profile_loads() {
    Jail::expect_with(|jail| {
        jail.create_file("Rocket.toml", SHIPPED)?;

        jail.set_env("ROCKET_PROFILE", "debug");
        let debug = AuthConfig::from_figment(&app_figment()).expect("debug profile");
        assert_eq!(debug.base_url.as_str(), "http://127.0.0.1:8000/");
        assert_eq!(debug.session.max_age, Duration::from_secs(30 * 86_400));
        assert_eq!(debug.session.update_age, Duration::from_secs(86_400));
        assert!(debug.providers["keycloak"].client_secret.is_some());
        assert!(!debug.secure_cookies());

        // Any profile but debug is checked as production: the shipped default alone lacks
        // the secrets.
        jail.set_env("ROCKET_PROFILE", "default");
        assert!(refusal(&app_figment()).starts_with("auth.providers.keycloak.client_secret: is required in production"));

        release_essentials(jail);
        let release = AuthConfig::from_figment(&app_figment()).expect("release profile with its essentials");
        assert!(release.secure_cookies());
        assert_eq!(release.providers["keycloak"].client_secret.as_ref().map(|s| s.expose()), Some("s3cret-from-env"));
        Ok(())
    });
}

#[test]
fn a_custom_profile_is_selected_with_rocket_profile() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "Rocket.toml",
            &format!("{SHIPPED}\n[staging.auth]\nbase_url = \"http://staging.internal:8000\"\ndevelopment = true\n[staging.auth.session]\nmax_age = \"2h\"\nupdate_age = \"15m\"\n"),
        )?;
        jail.set_env("ROCKET_PROFILE", "staging");

        let config = AuthConfig::from_figment(&app_figment()).expect("staging profile");

        assert_eq!(config.base_url.host_str(), Some("staging.internal"));
        assert_eq!(config.session.max_age, Duration::from_secs(7_200));
        assert_eq!(config.session.update_age, Duration::from_secs(900));
        Ok(())
    });
}

#[test]
fn environment_variables_win_over_rocket_toml() {
    Jail::expect_with(|jail| {
        jail.create_file("Rocket.toml", SHIPPED)?;
        jail.set_env("ROCKET_PROFILE", "debug");
        jail.set_env("DATABASE_URL", "postgres://u:p@db.internal:5432/app");
        jail.set_env("KEYCLOAK_ISSUER", "https://id.example.com/realms/other");
        jail.set_env("KEYCLOAK_CLIENT_ID", "from-env");
        jail.set_env("ROCKET_AUTH", r#"{session={max_age="7d"}}"#);

        let figment = app_figment();
        let config = AuthConfig::from_figment(&figment).expect("loads");

        let url: String = figment.extract_inner("databases.auth.url")?;
        assert_eq!(url, "postgres://u:p@db.internal:5432/app");
        let keycloak = &config.providers["keycloak"];
        assert_eq!(keycloak.issuer.as_str(), "https://id.example.com/realms/other");
        assert_eq!(keycloak.client_id, "from-env");
        assert_eq!(config.session.max_age, Duration::from_secs(7 * 86_400));
        // Untouched keys still come from the file.
        assert_eq!(config.session.update_age, Duration::from_secs(86_400));
        Ok(())
    });
}

#[test]
fn rocket_variables_win_over_nextauth_variables() {
    Jail::expect_with(|jail| {
        jail.create_file("Rocket.toml", SHIPPED)?;
        jail.set_env("DATABASE_URL", "postgres://u:p@from-database-url/app");
        jail.set_env("ROCKET_DATABASES", r#"{auth={url="postgres://u:p@from-rocket/app"}}"#);

        let url: String = app_figment().extract_inner("databases.auth.url")?;

        assert_eq!(url, "postgres://u:p@from-rocket/app");
        Ok(())
    });
}

#[test]
fn a_dotenv_file_is_honoured_without_overriding_the_environment() {
    Jail::expect_with(|jail| {
        jail.create_file("Rocket.toml", SHIPPED)?;
        jail.create_file(
            ".env",
            "KEYCLOAK_CLIENT_ID=from-dotenv\nKEYCLOAK_ISSUER=https://dotenv.example.com/realms/x\n",
        )?;
        jail.set_env("KEYCLOAK_ISSUER", "https://env.example.com/realms/x");

        let config = AuthConfig::from_figment(&app_figment());
        // dotenvy writes into the process environment; take it back out for other tests.
        std::env::remove_var("KEYCLOAK_CLIENT_ID");

        let config = config.expect("loads");
        assert_eq!(config.providers["keycloak"].client_id, "from-dotenv");
        assert_eq!(config.providers["keycloak"].issuer.as_str(), "https://env.example.com/realms/x");
        Ok(())
    });
}

#[test]
fn bad_settings_are_refused_naming_the_key() {
    Jail::expect_with(|jail| {
        jail.create_file("Rocket.toml", SHIPPED)?;
        jail.set_env("ROCKET_PROFILE", "debug");
        let base = app_figment();
        let with = |key: &str, value: &str| base.clone().merge(Serialized::global(key, value));

        let cases = [
            (with("auth.session.max_age", "forever"), "max_age", "not a duration"),
            (
                with("auth.session.update_age", "40d"),
                "auth.session.update_age",
                "must not be larger than auth.session.max_age",
            ),
            (with("auth.session.absolute_max_age", "1d"), "auth.session.absolute_max_age", "must not be shorter"),
            (with("auth.session.sweep_interval", "0s"), "auth.session.sweep_interval", "longer than zero"),
            (base.clone().merge(Serialized::global("auth.cookie.secure", true)), "auth.cookie.secure", "http"),
            (with("auth.base_url", "not a url"), "base_url", ""),
            (with("auth.base_url", "ftp://example.com"), "auth.base_url", "http or https"),
            (with("auth.providers.keycloak.scopes", "profile"), "scopes", ""),
            (
                base.clone().merge(Serialized::global("auth.providers.keycloak.scopes", ["profile"])),
                "auth.providers.keycloak.scopes",
                "openid",
            ),
            (with("auth.trusted_proxies", "nonsense"), "trusted_proxies", ""),
            (with("auth.unknown_key", "x"), "unknown_key", ""),
        ];
        for (figment, key, problem) in cases {
            let message = refusal(&figment);
            assert!(
                message.contains(key) && message.contains(problem),
                "expected {key} / {problem:?}, got {message:?}"
            );
        }
        Ok(())
    });
}

#[test]
fn the_release_profile_refuses_missing_secrets_and_plain_http() {
    Jail::expect_with(|jail| {
        jail.create_file("Rocket.toml", SHIPPED)?;
        release_essentials(jail);
        let ok = app_figment();
        AuthConfig::from_figment(&ok).expect("complete release configuration");

        std::env::remove_var("ROCKET_SECRET_KEY");
        assert!(refusal(&app_figment()).starts_with("secret_key: is required in production"));
        jail.set_env("ROCKET_SECRET_KEY", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=");

        std::env::remove_var("KEYCLOAK_CLIENT_SECRET");
        assert!(refusal(&app_figment()).starts_with("auth.providers.keycloak.client_secret: is required in production"));
        jail.set_env("KEYCLOAK_CLIENT_SECRET", "s3cret-from-env");

        jail.set_env("ROCKET_AUTH", r#"{base_url="http://app.example.com"}"#);
        assert!(refusal(&app_figment()).starts_with("auth.base_url: must be https:// in production"));

        jail.set_env("ROCKET_AUTH", r#"{base_url="https://app.example.com"}"#);
        assert!(refusal(&app_figment()).starts_with("auth.encryption: keys are required in production"));

        jail.set_env(
            "ROCKET_AUTH",
            r#"{base_url="https://app.example.com",encryption={current="k1",keys={k1="c2hvcnQ="}}}"#,
        );
        assert_eq!(refusal(&app_figment()), "auth.encryption.keys.k1: must be 32 bytes, base64-encoded");

        jail.set_env("ROCKET_AUTH", r#"{base_url="https://app.example.com",encryption={current="k2",keys={k1="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}}"#);
        assert_eq!(refusal(&app_figment()), "auth.encryption.current: no key `k2` in auth.encryption.keys");
        Ok(())
    });
}

#[test]
fn a_production_profile_of_any_name_gets_the_checks_unless_it_says_it_is_for_development() {
    Jail::expect_with(|jail| {
        jail.create_file("Rocket.toml", &format!("{SHIPPED}\n[prod.auth]\nbase_url = \"http://app.internal\"\n"))?;
        jail.set_env("ROCKET_PROFILE", "prod");
        jail.set_env("KEYCLOAK_CLIENT_SECRET", "s3cret-from-env");
        jail.set_env("ROCKET_SECRET_KEY", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=");

        let refused = refusal(&app_figment());
        assert!(refused.contains("must be https:// in production"), "{refused}");

        jail.set_env("ROCKET_AUTH", "{development=true}");
        AuthConfig::from_figment(&app_figment()).expect("a profile that says it is for development");
        Ok(())
    });
}

#[test]
fn settings_that_weaken_https_or_tokens_are_refused() {
    Jail::expect_with(|jail| {
        jail.create_file("Rocket.toml", SHIPPED)?;
        jail.set_env("ROCKET_PROFILE", "debug");
        let base = app_figment();
        let cases = [
            (
                base.clone()
                    .merge(Serialized::global("auth.base_url", "https://app.example.com"))
                    .merge(Serialized::global("auth.cookie.secure", false)),
                "auth.cookie.secure: is false but auth.base_url is https://",
            ),
            (
                base.clone()
                    .merge(Serialized::global("auth.providers.keycloak.id_token_algorithms", ["RS256", "HS256"])),
                "auth.providers.keycloak.id_token_algorithms: \"HS256\" is not one of",
            ),
            (
                base.clone()
                    .merge(Serialized::global("auth.providers.keycloak.id_token_algorithms", Vec::<String>::new())),
                "auth.providers.keycloak.id_token_algorithms: must list at least one",
            ),
            (
                base.clone().merge(Serialized::global("auth.session.max_per_user", 0)),
                "auth.session.max_per_user: must be at least 1",
            ),
            (base.clone().merge(Serialized::global("auth.schema", "public")), "choose a schema of latchkey's own"),
        ];
        for (figment, expected) in cases {
            let message = refusal(&figment);
            assert!(
                message.starts_with(expected) || message.contains(expected),
                "expected {expected:?}, got {message:?}"
            );
        }
        Ok(())
    });
}

#[test]
fn an_issuer_is_kept_exactly_as_written() {
    Jail::expect_with(|jail| {
        jail.create_file("Rocket.toml", SHIPPED)?;
        jail.set_env("ROCKET_PROFILE", "debug");
        jail.set_env("KEYCLOAK_ISSUER", "https://accounts.google.com");

        let config = AuthConfig::from_figment(&app_figment()).expect("loads");

        assert_eq!(config.providers["keycloak"].issuer, "https://accounts.google.com");
        Ok(())
    });
}
