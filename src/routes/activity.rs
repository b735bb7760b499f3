//! "Recent activity": a person's latest security events, as the sessions page, the JSON
//! API and the admin console show them. The person sees what they, an administrator or
//! their provider did; an administrator's device and address are not theirs to see.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::error::Error;
use crate::shared::Shared;
use crate::store::{EventKind, SecurityEvent};

/// How many events "Recent activity" shows.
pub(crate) const RECENT_ACTIVITY: u32 = 20;

/// Whose eyes the activity is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The person whose activity it is.
    Person,
    /// An administrator, in the admin console.
    Admin,
}

/// The user's latest events, newest first.
pub(crate) async fn recent(shared: &Shared, user_id: Uuid) -> Result<Vec<SecurityEvent>, Error> {
    Ok(shared.store.recent_events(user_id, RECENT_ACTIVITY).await?)
}

/// Who acted: the person, an administrator, or the provider.
fn actor(event: &SecurityEvent) -> &'static str {
    match (event.admin_id, event.kind) {
        (Some(_), _) => "admin",
        (None, EventKind::BackchannelLogout | EventKind::RefreshRefused) => "provider",
        (None, _) => "person",
    }
}

/// Whether `audience` may see where the action came from: an administrator's device and
/// address are the administrator's, not the person's.
fn shows_origin(event: &SecurityEvent, audience: Audience) -> bool {
    audience == Audience::Admin || event.admin_id.is_none()
}

/// An event as the JSON API lists it.
#[derive(Serialize)]
pub(crate) struct ApiEvent<'a> {
    id: Uuid,
    kind: &'static str,
    at: DateTime<Utc>,
    /// `person`, `admin` or `provider`.
    by: &'static str,
    /// Which administrator (only for administrators).
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_id: Option<Uuid>,
    session_id: Option<Uuid>,
    provider: Option<&'a str>,
    device: Option<&'a str>,
    ip: Option<&'a str>,
    /// How many sessions a revocation or back-channel logout ended.
    sessions: Option<i32>,
    new_device: bool,
}

impl<'a> ApiEvent<'a> {
    pub(crate) fn new(event: &'a SecurityEvent, audience: Audience) -> ApiEvent<'a> {
        let origin = shows_origin(event, audience);
        ApiEvent {
            id: event.id,
            kind: event.kind.as_str(),
            at: event.occurred_at,
            by: actor(event),
            admin_id: event.admin_id.filter(|_| audience == Audience::Admin),
            session_id: event.session_id,
            provider: event.provider.as_deref(),
            device: event.device.as_deref().filter(|_| origin),
            ip: event.ip.as_deref().filter(|_| origin),
            sessions: event.sessions,
            new_device: event.new_device,
        }
    }
}

/// An event as the pages show it: what happened, in words.
#[cfg(feature = "pages")]
#[derive(Serialize)]
pub(crate) struct PageEvent<'a> {
    kind: &'static str,
    what: String,
    at: crate::timefmt::Moment,
    who: String,
    device: Option<&'a str>,
    ip: Option<&'a str>,
    new_device: bool,
}

#[cfg(feature = "pages")]
impl<'a> PageEvent<'a> {
    pub(crate) fn new(event: &'a SecurityEvent, audience: Audience, now: DateTime<Utc>) -> PageEvent<'a> {
        let origin = shows_origin(event, audience);
        PageEvent {
            kind: event.kind.as_str(),
            what: what(event),
            at: crate::timefmt::moment(event.occurred_at, now),
            who: who(event, audience),
            device: event.device.as_deref().filter(|_| origin),
            ip: event.ip.as_deref().filter(|_| origin),
            new_device: event.new_device,
        }
    }
}

/// "Signed in with keycloak", "Revoked 2 other sessions".
#[cfg(feature = "pages")]
fn what(event: &SecurityEvent) -> String {
    let provider = event.provider.as_deref().unwrap_or("the provider");
    let count = event.sessions.unwrap_or_default();
    let sessions = |n: i32| if n == 1 { "1 session".to_string() } else { format!("{n} sessions") };
    match event.kind {
        EventKind::SignIn => format!("Signed in with {provider}"),
        EventKind::SignOut => "Signed out".into(),
        EventKind::RevokeOne => "Revoked a session".into(),
        EventKind::RevokeOthers => {
            let others = if count == 1 { "1 other session".to_string() } else { format!("{count} other sessions") };
            format!("Revoked {others}")
        }
        EventKind::RevokeEverywhere if event.admin_id.is_some() => {
            format!("Revoked every session ({})", sessions(count))
        }
        EventKind::RevokeEverywhere => format!("Signed out everywhere ({})", sessions(count)),
        EventKind::BackchannelLogout => format!("Signed out at {provider} ({})", sessions(count)),
        EventKind::RefreshRefused => format!("Session ended by {provider}"),
        EventKind::Replaced => "Session ended by a new sign-in in the same browser".into(),
        EventKind::Evicted => "Oldest session ended: too many sessions at once".into(),
    }
}

/// "You", "An administrator", or the provider.
#[cfg(feature = "pages")]
fn who(event: &SecurityEvent, audience: Audience) -> String {
    match (actor(event), audience) {
        ("admin", _) => "An administrator".into(),
        ("provider", _) => event.provider.clone().unwrap_or_else(|| "The provider".into()),
        (_, Audience::Person) => "You".into(),
        (_, Audience::Admin) => "The user".into(),
    }
}
