//! The reference app's log output: latchkey's and the app's lines through `tracing`, and
//! Rocket's own `log` channel routed into it. Rocket prints whole request URIs ("No
//! matching routes for GET /path?query" at error level, each time a guard forwards), and
//! the sign-in callback's query carries the authorization code; so of Rocket's records
//! only errors pass, with every query string cut off.

use rocket::fairing::AdHoc;
use tracing_subscriber::EnvFilter;

/// What is logged unless `LATCHKEY_LOG` says otherwise (e.g. "latchkey=debug").
const DEFAULT_FILTER: &str = "info";

/// The filter of the app's `tracing` output.
pub fn filter() -> EnvFilter {
    EnvFilter::try_from_env("LATCHKEY_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// Rocket's records, into `tracing` (target `rocket`): installed before Rocket ignites,
/// it keeps Rocket's own logger (and its `log_level`) out.
struct RocketLog;

impl log::Log for RocketLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Error
    }

    fn log(&self, record: &log::Record<'_>) {
        // Without a subscriber `tracing` would hand the line back to `log`, and so to here.
        if self.enabled(record.metadata()) && tracing::dispatcher::has_been_set() {
            tracing::error!(target: "rocket", "{}", without_queries(&record.args().to_string()));
        }
    }

    fn flush(&self) {}
}

/// Routes Rocket's `log` channel through [`RocketLog`]; call once, before launch.
pub fn route_rocket_log() -> Result<(), log::SetLoggerError> {
    log::set_logger(&RocketLog)?;
    log::set_max_level(log::LevelFilter::Error);
    Ok(())
}

/// `text` with the query cut off every word that is a path or URL.
fn without_queries(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|word| match word.find('?') {
            Some(at) if word[..at].contains('/') => {
                let space = &word[word.trim_end().len()..];
                format!("{}{space}", &word[..at])
            }
            _ => word.to_string(),
        })
        .collect()
}

/// One line when the app is up, in place of Rocket's launch banner.
pub fn listening() -> AdHoc {
    AdHoc::on_liftoff("Listening", |rocket| {
        Box::pin(async move {
            let config = rocket.config();
            tracing::info!("listening on http://{}:{}", config.address, config.port);
        })
    })
}

#[cfg(test)]
mod tests {
    use super::without_queries;

    #[test]
    fn queries_are_cut_off_paths_and_urls_and_nothing_else() {
        assert_eq!(without_queries("No matching routes for GET /?page=2&secret=abc."), "No matching routes for GET /");
        assert_eq!(without_queries("GET /auth/callback?code=x&state=y done"), "GET /auth/callback done");
        assert_eq!(without_queries("to https://id.example/realms?x=1\nnext"), "to https://id.example/realms\nnext");
        assert_eq!(without_queries("Is this a question? Yes."), "Is this a question? Yes.");
    }
}
