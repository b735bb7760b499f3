//! The revocation delay between two instances: A and B run on the same
//! database with the session cache on; a session is served from B's cache, revoked
//! through A (DELETE /api/sessions/<id>, the person's own API: the row is deleted and the
//! trigger announces it), and B is asked again and again until it answers 401. The delay
//! is from A's answer to B's first 401.

use std::fmt::Write;
use std::time::{Duration, Instant};

use crate::checks::Http;
use crate::database::{calls_between, total, Databases};
use crate::error::{bail, log, Result};

/// The path B is polled on: JSON, 401 without a session.
const POLL_PATH: &str = "/api/session";
/// How long B may go on accepting a revoked session before the run fails: the cache
/// stops serving by itself a second after its listener falls silent.
const GIVE_UP: Duration = Duration::from_secs(5);
/// The target for the p99.
pub const TARGET_P99_MS: f64 = 50.0;

/// What the revocations gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Revocation {
    /// From A's answer to the DELETE until B's first 401, ms, one per revocation.
    pub delays_ms: Vec<f64>,
    /// A's DELETE itself, ms.
    pub delete_ms: Vec<f64>,
    /// Requests to B after the DELETEs, in all (each 200 but the last of each revocation).
    pub polls: u64,
    /// Revocations whose session B answered from its cache just before (no statement ran):
    /// the others measured B reading the database.
    pub cached: usize,
}

/// The `p`th percentile (nearest rank) of `values`; NaN when there are none.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Revocation {
    pub fn p50_ms(&self) -> f64 {
        percentile(&self.delays_ms, 50.0)
    }

    pub fn p99_ms(&self) -> f64 {
        percentile(&self.delays_ms, 99.0)
    }

    pub fn max_ms(&self) -> f64 {
        percentile(&self.delays_ms, 100.0)
    }

    /// The report's section.
    pub fn render(&self, out: &mut String) {
        let n = self.delays_ms.len();
        let mut line = |text: String| {
            let _ = writeln!(out, "{text}");
        };
        line(format!(
            "Revocation delay between two instances (cache on, {n} sessions revoked through A's DELETE /api/sessions/<id>, B polled on {POLL_PATH} until 401):"
        ));
        line(format!(
            "  from A's answer to B's first 401: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.1} requests to B per revocation",
            self.p50_ms(),
            self.p99_ms(),
            self.max_ms(),
            self.polls as f64 / n.max(1) as f64
        ));
        line(format!(
            "  A's DELETE itself: p50 {:.2} ms, p99 {:.2} ms; B answered {} of the {n} sessions from its cache just before",
            percentile(&self.delete_ms, 50.0),
            percentile(&self.delete_ms, 99.0),
            self.cached
        ));
    }

    /// The target line.
    pub fn target(&self) -> String {
        let p99 = crate::report::shown(self.p99_ms(), 2);
        format!(
            "revocation delay between two instances, p99 ≤ {TARGET_P99_MS:.0} ms: {} ({p99:.2} ms)",
            crate::report::verdict(p99 <= TARGET_P99_MS)
        )
    }
}

/// Revokes each of `victims` (cookie, session id) through `a` with the cookie of
/// `revoker` (another session of the same person), after B has served it, and polls `b`
/// until it refuses it.
pub async fn measure(
    a: &Http,
    b: &Http,
    db: &Databases,
    revoker: &str,
    victims: &[(String, String)],
) -> Result<Revocation> {
    // B's cache serves once its listener's first heartbeat is back, a moment after start:
    // until then every request reads the row.
    let Some((first, _)) = victims.first() else {
        bail!("no sessions to revoke");
    };
    let deadline = Instant::now() + GIVE_UP;
    while !served_from_cache(b, db, first).await? {
        if Instant::now() > deadline {
            log!("WARNING instance B's session cache served nothing within {} s", GIVE_UP.as_secs());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Into B's cache: the first request reads the row and keeps it.
    for (token, _) in victims {
        expect_ok(b, token).await?;
    }
    let csrf_token = a.csrf_token(revoker).await?;
    let mut revocation = Revocation { delays_ms: Vec::new(), delete_ms: Vec::new(), polls: 0, cached: 0 };
    for (token, id) in victims {
        if served_from_cache(b, db, token).await? {
            revocation.cached += 1;
        }

        let sent = Instant::now();
        let status = a.delete(&format!("/api/sessions/{id}"), revoker, &csrf_token).await?;
        let revoked = Instant::now();
        if status != 204 {
            bail!("DELETE /api/sessions/{id} through instance A answered {status}, not 204");
        }
        loop {
            let (status, _) = b.get(POLL_PATH, token).await?;
            revocation.polls += 1;
            match status {
                401 => break,
                200 if revoked.elapsed() < GIVE_UP => {}
                200 => bail!("instance B still accepted session {id} {} s after A revoked it", GIVE_UP.as_secs()),
                status => bail!("GET {POLL_PATH} on instance B answered {status} for a revoked session, not 401"),
            }
        }
        revocation.delays_ms.push(revoked.elapsed().as_secs_f64() * 1000.0);
        revocation.delete_ms.push((revoked - sent).as_secs_f64() * 1000.0);
    }
    log!(
        "revocation delay: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} revocations ({} served from B's cache just before)",
        revocation.p50_ms(),
        revocation.p99_ms(),
        revocation.max_ms(),
        victims.len(),
        revocation.cached
    );
    if revocation.cached < victims.len() {
        log!(
            "WARNING B read {} of the {} sessions from the database just before their revocation: those delays are not the cache's",
            victims.len() - revocation.cached,
            victims.len()
        );
    }
    Ok(revocation)
}

/// A request of `token` to `http` answered 200 without running a statement.
async fn served_from_cache(http: &Http, db: &Databases, token: &str) -> Result<bool> {
    let before = db.statement_calls().await?;
    expect_ok(http, token).await?;
    let after = db.statement_calls().await?;
    Ok(total(&calls_between(&before, &after)) == 0)
}

async fn expect_ok(http: &Http, token: &str) -> Result<()> {
    let (status, _) = http.get(POLL_PATH, token).await?;
    if status != 200 {
        bail!("GET {POLL_PATH} with a seeded cookie answered {status} on {}, not 200", http.base());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 100.0);
        assert_eq!(percentile(&values, 99.0), 198.0);
        assert_eq!(percentile(&values, 100.0), 200.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), 2.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn target_on_the_p99_as_shown() {
        let mut revocation = Revocation { delays_ms: vec![1.0; 99], delete_ms: vec![2.0], polls: 150, cached: 100 };
        revocation.delays_ms.push(50.004);
        assert!(revocation.target().contains(": met (1.00 ms)"), "{}", revocation.target());
        revocation.delays_ms = vec![50.01; 10];
        assert!(revocation.target().contains(": MISSED (50.01 ms)"), "{}", revocation.target());
    }
}
