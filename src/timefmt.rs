//! Times as people read them on a page: "5 minutes ago", "in 29 days".

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// A moment for templates: machine-readable, exact (for hover), and relative.
#[derive(Debug, Clone, Serialize)]
pub struct Moment {
    pub iso: String,
    pub exact: String,
    pub relative: String,
}

pub fn moment(at: DateTime<Utc>, now: DateTime<Utc>) -> Moment {
    Moment {
        iso: at.to_rfc3339_opts(SecondsFormat::Secs, true),
        exact: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        relative: relative(at, now),
    }
}

pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (at - now).num_seconds();
    let future = seconds > 0;
    let span = seconds.unsigned_abs();
    if span < 45 {
        return if future { "in a moment".into() } else { "just now".into() };
    }
    let (amount, unit) = match span {
        s if s < 3_600 => ((s + 30) / 60, "minute"),
        s if s < 86_400 => ((s + 1_800) / 3_600, "hour"),
        s if s < 30 * 86_400 => ((s + 43_200) / 86_400, "day"),
        s if s < 365 * 86_400 => ((s + 15 * 86_400) / (30 * 86_400), "month"),
        s => ((s + 182 * 86_400) / (365 * 86_400), "year"),
    };
    let plural = if amount == 1 { "" } else { "s" };
    if future {
        format!("in {amount} {unit}{plural}")
    } else {
        format!("{amount} {unit}{plural} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::relative;
    use chrono::{Duration, Utc};

    #[test]
    fn reads_like_a_person_would_say_it() {
        let now = Utc::now();
        assert_eq!(relative(now - Duration::seconds(10), now), "just now");
        assert_eq!(relative(now - Duration::minutes(5), now), "5 minutes ago");
        assert_eq!(relative(now - Duration::minutes(61), now), "1 hour ago");
        assert_eq!(relative(now + Duration::days(29), now), "in 29 days");
        assert_eq!(relative(now - Duration::days(400), now), "1 year ago");
    }
}
